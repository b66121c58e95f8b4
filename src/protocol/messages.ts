/**
 * Typed shapes of every Jupyter/ipyparallel message this package sends or receives
 * (PROTOCOL.md Appendix A), plus a few tiny helpers.
 *
 * Wire names stay verbatim (`msg_id`, `engine_info`, `apply_request`), because these objects
 * are exactly what goes through `JSON.stringify`/`JSON.parse`. The unpacked message object
 * itself ({@link Message}) uses camelCase for its own fields (`parentHeader`, `msgType`).
 *
 * Content shapes are `type` aliases rather than interfaces on purpose: aliases are assignable
 * to {@link JsonObject}, which is what an unpacked message of unknown type carries, so a
 * type guard like {@link isMessageType} can narrow `Message` to `Message<"apply_reply">`.
 *
 * @example
 * ```ts
 * import { isErrorContent, isMessageType, type Message } from "./messages.ts";
 *
 * function describe(msg: Message): string {
 *   if (isMessageType(msg, "apply_reply") && isErrorContent(msg.content)) {
 *     return `${msg.content.ename}: ${msg.content.evalue}`;
 *   }
 *   return msg.msgType;
 * }
 * ```
 *
 * @module
 */

export { PROTOCOL_VERSION } from "./messages/common.ts";
export type {
  AbortedContent,
  EmptyHeader,
  EmptyObject,
  EngineInfoContent,
  ErrorContent,
  JsonObject,
  MessageHeader,
  MimeBundle,
  OkContent,
  ParentHeader,
  RawParts,
} from "./messages/common.ts";
export type {
  BecomeDaskReplyContent,
  BecomeDaskRequestContent,
  ConnectionReplyContent,
  ConnectionRequestContent,
  DbOperators,
  DbQuery,
  DbReplyContent,
  DbRequestContent,
  EngineNotificationContent,
  EngineQueueStatus,
  HistoryReplyContent,
  HistoryRequestContent,
  HubErrorContent,
  LoadReplyContent,
  LoadRequestContent,
  PurgeReplyContent,
  PurgeRequestContent,
  QueryTargets,
  QueueReplyContent,
  QueueRequestContent,
  RegistrationConnectionInfo,
  RegistrationReplyContent,
  RegistrationRequestContent,
  ResubmitReplyContent,
  ResubmitRequestContent,
  ResultIo,
  ResultReplyContent,
  ResultRequestContent,
  ShutdownNotificationContent,
  ShutdownReplyContent,
  ShutdownRequestContent,
  StopDistributedReplyContent,
  StopDistributedRequestContent,
  StoredResult,
  UnregistrationRequestContent,
} from "./messages/hub.ts";
export type {
  ApplyReplyContent,
  ApplyRequestContent,
  ExecuteReplyContent,
  ExecuteReplyFields,
  ExecuteRequestContent,
  UserExpressionResult,
} from "./messages/shell.ts";
export type {
  AbortReplyContent,
  AbortRequestContent,
  ClearReplyContent,
  ClearRequestContent,
  KernelInfoReplyContent,
  KernelInfoRequestContent,
  SignalReplyContent,
  SignalRequestContent,
} from "./messages/control.ts";
export type {
  DataMessageContent,
  DisplayDataContent,
  ExecuteInputContent,
  ExecuteResultContent,
  IopubErrorContent,
  StatusContent,
  StreamContent,
} from "./messages/iopub.ts";
export type {
  BroadcastRequestMetadata,
  Dependency,
  DependencySpec,
  EngineMetadata,
  EngineTarget,
  ReplyMetadata,
  StrandedTaskMetadata,
  TaskSubmitMetadata,
} from "./messages/metadata.ts";
export type { TaskRecord } from "./messages/records.ts";
export {
  isAbortedContent,
  isErrorContent,
  isHeader,
  isMessageType,
  replyTypeFor,
} from "./messages/message.ts";
export type {
  ContentMap,
  ContentOf,
  KnownMessage,
  KnownMsgType,
  Message,
  MetadataMap,
  MetadataOf,
} from "./messages/message.ts";
