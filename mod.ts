/**
 * IPython parallel for Deno: interactive parallel and distributed computing in the model of
 * ipyparallel, speaking its wire protocol.
 *
 * This module is the public API. It loads no native addon, so it can be imported from a
 * Deno Deploy worker or run with `--deny-ffi`.
 *
 * @example Sign and read a Jupyter message
 * ```ts
 * import { Session } from "@ipp/parallel";
 * const session = new Session({ key: "secret" });
 * const frames = session.pack(session.msg("connection_request", { content: {} }));
 * const msg = session.unpack(frames);
 * console.log(msg.msgType); // "connection_request"
 * ```
 *
 * @module
 */

// Errors (src/errors.ts)
export {
  CompositeError,
  ConnectionFileError,
  ControllerLostError,
  EndpointError,
  EngineError,
  HostUnreachableError,
  ImpossibleDependency,
  InvalidDependency,
  IppError,
  MessageFormatError,
  NoEnginesRegistered,
  RemoteError,
  RequestLostError,
  SerializationError,
  SignatureError,
  SocketClosedError,
  TaskAborted,
  TaskTimeout,
  TimeoutError,
  UnmetDependency,
  UnsupportedSchemeError,
  UnsupportedSerialization,
  ZmtpProtocolError,
} from "./src/errors.ts";
export type { EngineInfo } from "./src/errors.ts";

// Transport (src/zmtp/)
export { createSocket } from "./src/zmtp/mod.ts";
export type { FramePlacer, Frames, Socket, SocketOptions, SocketType } from "./src/zmtp/mod.ts";

// Messages (src/protocol/)
export { formatDate, parseDate, Session } from "./src/protocol/session.ts";
export type {
  BufferLike,
  IdentityLike,
  MsgOptions,
  OutgoingMessage,
  ReplyOptions,
  SessionOptions,
  SplitFrames,
  UnpackOptions,
  VerifyOptions,
} from "./src/protocol/session.ts";
export type {
  AbortedContent,
  AbortReplyContent,
  AbortRequestContent,
  ApplyReplyContent,
  ApplyRequestContent,
  BecomeDaskReplyContent,
  BecomeDaskRequestContent,
  BroadcastRequestMetadata,
  ClearReplyContent,
  ClearRequestContent,
  ConnectionReplyContent,
  ConnectionRequestContent,
  ContentMap,
  ContentOf,
  DataMessageContent,
  DbOperators,
  DbQuery,
  DbReplyContent,
  DbRequestContent,
  Dependency,
  DependencySpec,
  DisplayDataContent,
  EmptyHeader,
  EmptyObject,
  EngineInfoContent,
  EngineMetadata,
  EngineNotificationContent,
  EngineQueueStatus,
  EngineTarget,
  ErrorContent,
  ExecuteInputContent,
  ExecuteReplyContent,
  ExecuteReplyFields,
  ExecuteRequestContent,
  ExecuteResultContent,
  HistoryReplyContent,
  HistoryRequestContent,
  HubErrorContent,
  IopubErrorContent,
  JsonObject,
  KernelInfoReplyContent,
  KernelInfoRequestContent,
  KnownMessage,
  KnownMsgType,
  LoadReplyContent,
  LoadRequestContent,
  Message,
  MessageHeader,
  MetadataMap,
  MetadataOf,
  MimeBundle,
  OkContent,
  ParentHeader,
  PurgeReplyContent,
  PurgeRequestContent,
  QueryTargets,
  QueueReplyContent,
  QueueRequestContent,
  RawParts,
  RegistrationConnectionInfo,
  RegistrationReplyContent,
  RegistrationRequestContent,
  ReplyMetadata,
  ResubmitReplyContent,
  ResubmitRequestContent,
  ResultIo,
  ResultReplyContent,
  ResultRequestContent,
  ShutdownNotificationContent,
  ShutdownReplyContent,
  ShutdownRequestContent,
  SignalReplyContent,
  SignalRequestContent,
  StatusContent,
  StopDistributedReplyContent,
  StopDistributedRequestContent,
  StoredResult,
  StrandedTaskMetadata,
  StreamContent,
  TaskRecord,
  TaskSubmitMetadata,
  UnregistrationRequestContent,
  UserExpressionResult,
} from "./src/protocol/messages.ts";
export {
  deserializeObject,
  deserializeResult,
  detectFormat,
  packApplyMessage,
  Reference,
  serializeObject,
  unpackApplyMessage,
} from "./src/protocol/serialize.ts";
export type {
  ApplyCall,
  DeserializeOptions,
  FunctionSource,
  WireFormat,
} from "./src/protocol/serialize.ts";
export {
  findConnectionFile,
  readConnectionFile,
  writeConnectionFile,
} from "./src/protocol/connection.ts";
export type {
  ClientConnectionInfo,
  ConnectionFileOptions,
  ConnectionInfoBase,
  ConnectionInfoOf,
  ConnectionKind,
  EngineConnectionInfo,
  FindConnectionFileOptions,
  ProfileOptions,
} from "./src/protocol/connection.ts";

// Results (src/client/)
export { AsyncResult } from "./src/client/async_result.ts";
export type {
  AsyncResultOptions,
  ElementOf,
  GetOptions,
  WaitOptions,
} from "./src/client/async_result.ts";
export type { Clock } from "./src/client/clock.ts";
export type { ClientSide, ResultSource, TaskResult } from "./src/client/result_source.ts";
export type { FinalTaskState } from "./src/client/actors/task_machine.ts";
export type { TextOutput } from "./src/client/display.ts";
export { AsyncMapResult } from "./src/client/async_map_result.ts";
export { AsyncHubResult } from "./src/client/async_hub_result.ts";
export type { HubOutcome } from "./src/client/async_hub_result.ts";
export { Metadata } from "./src/client/metadata.ts";
export type { DisplayContent } from "./src/client/metadata.ts";
export { ExecuteReply } from "./src/client/execute_reply.ts";

// Client and views (src/client/)
export { Client } from "./src/client/client.ts";
export type {
  ApplyRequestOptions,
  ClientOptions,
  ExecuteRequestOptions,
  Job,
  Serializer,
  Submitted,
  Targets,
} from "./src/client/client.ts";
export { ClientCore } from "./src/client/client_core.ts";
export type { Logger } from "./src/client/client_sockets.ts";
export { HubQueries } from "./src/client/hub_queries.ts";
export type { DbRecord, EngineQueue, QueueStatus, ResultStatus } from "./src/client/hub_queries.ts";
export { View } from "./src/client/view_base.ts";
export type {
  ArgsOf,
  ExecuteOptions,
  Remote,
  RemoteValue,
  ViewFlags,
} from "./src/client/view_base.ts";
export { DirectView } from "./src/client/direct_view.ts";
export { LoadBalancedView } from "./src/client/load_balanced_view.ts";
export type {
  DependencyLike,
  MapOptions,
  SchedulerFlags,
} from "./src/client/load_balanced_view.ts";
export { BroadcastView } from "./src/client/broadcast_view.ts";
export { ParallelFunction, RemoteFunction } from "./src/client/remote_function.ts";
export type { RemoteFunctionOptions } from "./src/client/remote_function.ts";
export { PxRunner } from "./src/client/px.ts";

// Cluster (src/cluster/)
export { Cluster } from "./src/cluster/cluster.ts";
export type { ClusterFromFileOptions } from "./src/cluster/cluster.ts";
export type {
  ClusterEvent,
  ClusterOptions,
  MpiEnginesOptions,
  SlurmControllerOptions,
  SlurmEnginesOptions,
  SlurmSettings,
  SshControllerOptions,
  SshEnginesOptions,
  SshSettings,
} from "./src/cluster/options.ts";
