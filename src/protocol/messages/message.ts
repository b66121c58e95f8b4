/**
 * The unpacked message object and the per-type content and metadata maps (PROTOCOL.md §1.5,
 * Appendix A), with the type guards that narrow a message or its content.
 *
 * @module
 */

import type {
  AbortedContent,
  EmptyObject,
  ErrorContent,
  JsonObject,
  MessageHeader,
  ParentHeader,
  RawParts,
} from "./common.ts";
import type {
  AbortReplyContent,
  AbortRequestContent,
  ClearReplyContent,
  ClearRequestContent,
  KernelInfoReplyContent,
  KernelInfoRequestContent,
  SignalReplyContent,
  SignalRequestContent,
} from "./control.ts";
import type {
  BecomeDaskReplyContent,
  BecomeDaskRequestContent,
  ConnectionReplyContent,
  ConnectionRequestContent,
  DbReplyContent,
  DbRequestContent,
  EngineNotificationContent,
  HistoryReplyContent,
  HistoryRequestContent,
  HubErrorContent,
  LoadReplyContent,
  LoadRequestContent,
  PurgeReplyContent,
  PurgeRequestContent,
  QueueReplyContent,
  QueueRequestContent,
  RegistrationReplyContent,
  RegistrationRequestContent,
  ResubmitReplyContent,
  ResubmitRequestContent,
  ResultReplyContent,
  ResultRequestContent,
  ShutdownNotificationContent,
  ShutdownReplyContent,
  ShutdownRequestContent,
  StopDistributedReplyContent,
  StopDistributedRequestContent,
  UnregistrationRequestContent,
} from "./hub.ts";
import type {
  DataMessageContent,
  DisplayDataContent,
  ExecuteInputContent,
  ExecuteResultContent,
  IopubErrorContent,
  StatusContent,
  StreamContent,
} from "./iopub.ts";
import type {
  BroadcastRequestMetadata,
  EngineMetadata,
  ReplyMetadata,
  StrandedTaskMetadata,
  TaskSubmitMetadata,
} from "./metadata.ts";
import type {
  ApplyReplyContent,
  ApplyRequestContent,
  ExecuteReplyContent,
  ExecuteRequestContent,
} from "./shell.ts";

/**
 * An unpacked (or about to be packed) message: the parsed form of
 * `[...identities, "<IDS|MSG>", signature, header, parent_header, metadata, content, ...buffers]`.
 *
 * `msgType` and `msgId` repeat `header.msg_type` and `header.msg_id` at the top level (as
 * Python's message dict does) so that a union of messages can be narrowed with `switch
 * (msg.msgType)`; the header is what goes on the wire.
 *
 * @typeParam T The message type; `string` when unknown.
 */
export type Message<T extends string = string> = {
  /** Routing/topic frames that preceded the delimiter, as raw bytes (§1.2). */
  identities: Uint8Array[];
  /** Same as `header.msg_id`. */
  msgId: string;
  /** Same as `header.msg_type`. */
  msgType: T;
  /** The message header. */
  header: MessageHeader<T>;
  /** The request's header for replies and side effects, `{}` for requests. */
  parentHeader: ParentHeader;
  /** Message metadata (§1.5, §6.3, §7.1). */
  metadata: MetadataOf<T>;
  /** Message content, specific to the type. */
  content: ContentOf<T>;
  /** Binary frames after the content, passed through without copying (§1.10). */
  buffers: Uint8Array[];
  /** The received signature and JSON frames, only when asked for at unpack time. */
  raw?: RawParts;
};

// ---------------------------------------------------------------------------
// The type maps
// ---------------------------------------------------------------------------

/**
 * Content shape per message type (PROTOCOL.md Appendix A). Types used on two channels carry
 * the union of both shapes (`shutdown_request`, `shutdown_reply`). Replies whose handler can
 * fail include {@link ErrorContent}.
 */
export type ContentMap = {
  /** §5.1 */
  connection_request: ConnectionRequestContent;
  /** §5.1 */
  connection_reply: ConnectionReplyContent | ErrorContent;
  /** §4.1 */
  registration_request: RegistrationRequestContent;
  /** §4.1 */
  registration_reply: RegistrationReplyContent | ErrorContent;
  /** §4.5 (never answered) */
  unregistration_request: UnregistrationRequestContent;
  /** §5.2 */
  queue_request: QueueRequestContent;
  /** §5.2 */
  queue_reply: QueueReplyContent | ErrorContent;
  /** §5.3 */
  result_request: ResultRequestContent;
  /** §5.3 */
  result_reply: ResultReplyContent | ErrorContent;
  /** §5.4 */
  history_request: HistoryRequestContent;
  /** §5.4 */
  history_reply: HistoryReplyContent | ErrorContent;
  /** §5.5 */
  db_request: DbRequestContent;
  /** §5.5 */
  db_reply: DbReplyContent | ErrorContent;
  /** §5.6 */
  purge_request: PurgeRequestContent;
  /** §5.6 */
  purge_reply: PurgeReplyContent | ErrorContent;
  /** §5.7 */
  resubmit_request: ResubmitRequestContent;
  /** §5.7 */
  resubmit_reply: ResubmitReplyContent | ErrorContent;
  /** §5.8 (Hub) and §6.5.3 (engine control) */
  shutdown_request: ShutdownRequestContent;
  /** §5.8, §6.5.3, and the IOPub copy of §6.6 */
  shutdown_reply: ShutdownReplyContent | ErrorContent;
  /** §5.9 */
  load_request: LoadRequestContent;
  /** §5.9 */
  load_reply: LoadReplyContent | ErrorContent;
  /** §5.10 */
  become_dask_request: BecomeDaskRequestContent;
  /** §5.10 */
  become_dask_reply: BecomeDaskReplyContent | ErrorContent;
  /** §5.10 */
  stop_distributed_request: StopDistributedRequestContent;
  /** §5.10 */
  stop_distributed_reply: StopDistributedReplyContent | ErrorContent;
  /** §5: reply to unknown types and failed handlers */
  hub_error: HubErrorContent;
  /** §4.4 */
  registration_notification: EngineNotificationContent;
  /** §4.5 */
  unregistration_notification: EngineNotificationContent;
  /** §5.8 */
  shutdown_notification: ShutdownNotificationContent;
  /** §6.1 */
  apply_request: ApplyRequestContent;
  /** §6.1 */
  apply_reply: ApplyReplyContent;
  /** §6.2 */
  execute_request: ExecuteRequestContent;
  /** §6.2 */
  execute_reply: ExecuteReplyContent;
  /** §6.5.1 */
  clear_request: ClearRequestContent;
  /** §6.5.1 */
  clear_reply: ClearReplyContent;
  /** §6.5.2 */
  abort_request: AbortRequestContent;
  /** §6.5.2 */
  abort_reply: AbortReplyContent;
  /** §6.5.4 */
  signal_request: SignalRequestContent;
  /** §6.5.4: our engines' reply */
  signal_reply: SignalReplyContent;
  /** §6.5.4: the Python nanny's reply type (sic, PROTOCOL.md §10 #5) */
  _request: SignalReplyContent;
  /** §6.5.5 */
  kernel_info_request: KernelInfoRequestContent;
  /** §6.5.5 */
  kernel_info_reply: KernelInfoReplyContent | ErrorContent;
  /** §6.6 */
  status: StatusContent;
  /** §6.6 */
  stream: StreamContent;
  /** §6.6 */
  execute_input: ExecuteInputContent;
  /** §6.6 */
  execute_result: ExecuteResultContent;
  /** §6.6 */
  display_data: DisplayDataContent;
  /** §6.6 */
  error: IopubErrorContent;
  /** §6.6 */
  data_message: DataMessageContent;
};

/** Every message type with a known content shape. */
export type KnownMsgType = keyof ContentMap;

/** The content type of message type `T`; any JSON object for unknown types. */
export type ContentOf<T extends string> = T extends KnownMsgType ? ContentMap[T] : JsonObject;

/**
 * Metadata shape per message type, where it is more specific than "any object". IOPub
 * `execute_result`, `display_data` and `shutdown_reply` carry `{}` (PROTOCOL.md §10 #17).
 */
export type MetadataMap = {
  /** MUX `{}`, task §7.1, broadcast §7.9 */
  apply_request: TaskSubmitMetadata | BroadcastRequestMetadata | JsonObject;
  /** §6.2, like apply_request */
  execute_request: TaskSubmitMetadata | BroadcastRequestMetadata | JsonObject;
  /** §6.3 from engines, §7.6 for stranded tasks, `{}` for scheduler failures (§7.7) */
  apply_reply: ReplyMetadata | StrandedTaskMetadata | EmptyObject;
  /** §6.3 */
  execute_reply: ReplyMetadata | StrandedTaskMetadata | EmptyObject;
  /** §6.5.1 */
  clear_reply: EngineMetadata | JsonObject;
  /** §6.5.2 */
  abort_reply: EngineMetadata | JsonObject;
  /** §6.6 */
  status: EngineMetadata | JsonObject;
  /** §6.6 */
  stream: EngineMetadata | JsonObject;
  /** §6.6 */
  execute_input: EngineMetadata | JsonObject;
  /** §6.6 */
  error: EngineMetadata | JsonObject;
  /** §6.6 */
  data_message: EngineMetadata | JsonObject;
};

/** The metadata type of message type `T`; any JSON object when not more specific. */
export type MetadataOf<T extends string> = T extends keyof MetadataMap ? MetadataMap[T]
  : JsonObject;

/** A message of any known type, discriminated on `msgType` (`switch (msg.msgType)`). */
export type KnownMessage = { [T in KnownMsgType]: Message<T> }[KnownMsgType];

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/**
 * Narrows a message to a known type by its `msgType`.
 *
 * @param msg An unpacked message.
 * @param msgType The type to test for.
 * @returns `true` when `msg.msgType === msgType`.
 * @example
 * ```ts
 * import { isMessageType } from "../messages.ts";
 * import { Session } from "../session.ts";
 * const s = new Session();
 * const msg = s.unpack(s.pack(s.msg("stream", { content: { name: "stdout", text: "hi" } })));
 * if (isMessageType(msg, "stream")) console.log(msg.content.text); // "hi"
 * ```
 */
export function isMessageType<T extends KnownMsgType>(
  msg: Message,
  msgType: T,
): msg is Message<T> {
  return msg.msgType === msgType;
}

/**
 * Whether a content object is the error dict of PROTOCOL.md §6.4 (`status: "error"` with a
 * string `ename`).
 *
 * @param content Any reply content.
 * @returns `true` for error content.
 * @example
 * ```ts
 * import { isErrorContent } from "../messages.ts";
 * isErrorContent({ status: "error", ename: "KeyError", evalue: "'x'", traceback: [], engine_info: {} }); // true
 * isErrorContent({ status: "ok" }); // false
 * ```
 */
export function isErrorContent(content: unknown): content is ErrorContent {
  if (typeof content !== "object" || content === null) return false;
  const c = content as JsonObject;
  return c.status === "error" && typeof c.ename === "string";
}

/**
 * Whether a content object is an `aborted` reply (PROTOCOL.md §6.5.2).
 *
 * @param content Any reply content.
 * @returns `true` for `{"status": "aborted"}`.
 * @example
 * ```ts
 * import { isAbortedContent } from "../messages.ts";
 * isAbortedContent({ status: "aborted" }); // true
 * ```
 */
export function isAbortedContent(content: unknown): content is AbortedContent {
  return typeof content === "object" && content !== null &&
    (content as JsonObject).status === "aborted";
}

/**
 * Whether a parent header is a real header rather than `{}`.
 *
 * @param header A `parent_header`.
 * @returns `true` when it has a string `msg_id`.
 * @example
 * ```ts
 * import { isHeader } from "../messages.ts";
 * isHeader({}); // false
 * ```
 */
export function isHeader(header: unknown): header is MessageHeader {
  return typeof header === "object" && header !== null &&
    typeof (header as JsonObject).msg_id === "string";
}

/**
 * The reply type for a request type: `<name>_request` → `<name>_reply`, as Python engines
 * derive it (PROTOCOL.md §6.5.2); any other type gets `_reply` appended.
 *
 * @param requestType e.g. `"apply_request"`.
 * @returns e.g. `"apply_reply"`.
 * @example
 * ```ts
 * import { replyTypeFor } from "../messages.ts";
 * replyTypeFor("execute_request"); // "execute_reply"
 * ```
 */
export function replyTypeFor(requestType: string): string {
  return requestType.endsWith("_request")
    ? requestType.slice(0, -"_request".length) + "_reply"
    : requestType + "_reply";
}
