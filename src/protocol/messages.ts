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

// ---------------------------------------------------------------------------
// Generic JSON and envelope types (PROTOCOL.md §1.5)
// ---------------------------------------------------------------------------

/** Any JSON object, as `JSON.parse` returns it. */
export type JsonObject = { [key: string]: unknown };

/** An object with no keys (`{}` on the wire). */
export type EmptyObject = { [key: string]: never };

/** The protocol version every header carries (PROTOCOL.md §1.9). */
export const PROTOCOL_VERSION = "5.3";

/**
 * A message header (PROTOCOL.md §1.5), keys in the order Python emits them.
 *
 * @typeParam T The message type.
 */
export type MessageHeader<T extends string = string> = {
  /** Unique id, `<session>_<pid>_<counter>` when we make it (§1.7). */
  msg_id: string;
  /** The message type, e.g. `"apply_request"`. */
  msg_type: T;
  /** The sender's user name; not interpreted. */
  username: string;
  /** The sender's session id; for engines, the engine uuid. */
  session: string;
  /** ISO-8601 UTC timestamp, `YYYY-MM-DDTHH:MM:SS.ffffffZ` (§1.8). */
  date: string;
  /** Always `"5.3"`. */
  version: string;
};

/** A `parent_header` that is empty, as on requests and on registration replies/notifications. */
export type EmptyHeader = { [K in keyof MessageHeader]?: undefined };

/** A `parent_header`: a verbatim copy of the request's header, or `{}` (PROTOCOL.md §1.5). */
export type ParentHeader = MessageHeader | EmptyHeader;

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

/** The signature and the four JSON frames exactly as received (PROTOCOL.md §1.1). */
export type RawParts = {
  /** The signature frame (ASCII hex, or empty). */
  signature: Uint8Array;
  /** The packed header. */
  header: Uint8Array;
  /** The packed parent header. */
  parentHeader: Uint8Array;
  /** The packed metadata. */
  metadata: Uint8Array;
  /** The packed content. */
  content: Uint8Array;
};

// ---------------------------------------------------------------------------
// Shared content pieces (PROTOCOL.md §6.4)
// ---------------------------------------------------------------------------

/** Where an error happened, as engines put it in error content (PROTOCOL.md §6.4). */
export type EngineInfoContent = {
  /** The engine's uuid. */
  engine_uuid: string;
  /** The engine id; Python engines send -1 here (PROTOCOL.md §10 #4). */
  engine_id: number;
  /** `"execute"` or `"apply"`. */
  method?: "execute" | "apply" | string;
};

/**
 * The error content of every error reply (PROTOCOL.md §6.4). Controller-generated errors use
 * `engine_info: {}`; a non-empty `engine_info` must name an engine the client knows.
 */
export type ErrorContent = {
  /** Always `"error"`. */
  status: "error";
  /** Exception class name, e.g. `"ZeroDivisionError"`, `"EngineError"`, `"TaskTimeout"`. */
  ename: string;
  /** `str(exception)`. */
  evalue: string;
  /** Traceback lines. */
  traceback: string[];
  /** Where it happened; `{}` from the controller. */
  engine_info: EngineInfoContent | EmptyObject;
};

/** The content of a reply to an aborted request (PROTOCOL.md §6.5.2). */
export type AbortedContent = {
  /** Always `"aborted"`. */
  status: "aborted";
};

/** A successful reply that carries nothing but its status. */
export type OkContent = {
  /** Always `"ok"`. */
  status: "ok";
};

/** A MIME bundle: MIME type to representation (`{"text/plain": "3"}`). */
export type MimeBundle = { [mime: string]: unknown };

// ---------------------------------------------------------------------------
// Hub: registration channel (PROTOCOL.md §4.1, §4.5, §5)
// ---------------------------------------------------------------------------

/** `connection_request` content (§5.1): empty. */
export type ConnectionRequestContent = EmptyObject;

/** `connection_reply` content (§5.1): engine ids (as string keys) to uuids. */
export type ConnectionReplyContent = {
  /** Always `"ok"`. */
  status: "ok";
  /** Fully registered engines, `{"0": "<uuid>", …}`. */
  engines: { [engineId: string]: string };
};

/** `registration_request` content (§4.1). */
export type RegistrationRequestContent = {
  /** The engine uuid (its session id). Required: without it the Hub does not answer. */
  uuid: string;
  /** A requested engine id, honoured when free. */
  id?: number | null;
};

/** The port table a Hub sends in `registration_reply` (§4.1); ignored by Python engines. */
export type RegistrationConnectionInfo = {
  /** `tcp://<ip>` of the engine-side interface. */
  interface: string;
  /** Registration port. */
  registration: number;
  /** Engine-side control port. */
  control: number;
  /** Engine-side MUX port. */
  mux: number;
  /** Engine-side task port. */
  task: number;
  /** IOPub port (engine side). */
  iopub: number;
  /** Heartbeat ping port. */
  hb_ping: number;
  /** Heartbeat pong port. */
  hb_pong: number;
  /** One port per broadcast leaf. */
  broadcast: number[];
  /** Anything else the controller adds. */
  [key: string]: unknown;
};

/** `registration_reply` content on success (§4.1); the failure form is {@link ErrorContent}. */
export type RegistrationReplyContent = {
  /** The assigned engine id. */
  id: number;
  /** Always `"ok"`. */
  status: "ok";
  /** Heartbeat period in milliseconds. */
  hb_period: number;
  /** The controller's engine-side ports. */
  connection_info: RegistrationConnectionInfo;
};

/** `unregistration_request` content (§4.5); `null` when an engine aborts its registration. */
export type UnregistrationRequestContent = {
  /** The engine id, or `null`. */
  id: number | null;
};

/** A `targets` value in Hub queries: `null` = all, ids or uuids, or a list of them (§5.2). */
export type QueryTargets = null | number | string | Array<number | string>;

/** `queue_request` content (§5.2). */
export type QueueRequestContent = {
  /** Which engines; `null` = all. */
  targets: QueryTargets;
  /** Lists of msg_ids instead of counts. */
  verbose: boolean;
};

/**
 * One engine's entry in `queue_reply` (§5.2): counts, or msg_id lists when `verbose`.
 *
 * @typeParam N `number` (counts) or `string[]` (verbose).
 */
export type EngineQueueStatus<N extends number | string[] = number | string[]> = {
  /** Pending MUX requests. */
  queue: N;
  /** Finished requests (MUX and task), except aborted tasks. */
  completed: N;
  /** Load-balanced tasks dispatched to the engine and not finished. */
  tasks: N;
};

/**
 * `queue_reply` content (§5.2): `status`, `unassigned`, and one {@link EngineQueueStatus} per
 * engine under its id as a string key (`"0"`, `"1"`, …).
 */
export type QueueReplyContent =
  & {
    /** Always `"ok"`. */
    status: "ok";
    /** Load-balanced tasks not yet dispatched: a count, or msg_ids when verbose. */
    unassigned: number | string[];
  }
  & { [engineId: string]: EngineQueueStatus | number | string[] | string };

/** `result_request` content (§5.3). */
export type ResultRequestContent = {
  /** The msg_ids to look up. */
  msg_ids: string[];
  /** Only report pending/completed, no results. */
  status_only: boolean;
};

/** The IOPub output the Hub collected for one request (§5.3 `io`). */
export type ResultIo = {
  /** The executed code, for execute requests. */
  execute_input: string | null;
  /** The `execute_result` content. */
  execute_result: ExecuteResultContent | null;
  /** The last `error` content. */
  error: IopubErrorContent | null;
  /** Collected standard output. */
  stdout: string;
  /** Collected standard error. */
  stderr: string;
};

/** One completed entry of a `result_reply` (§5.3), under its msg_id. */
export type StoredResult = {
  /** The request header. */
  header: MessageHeader;
  /** The request metadata. */
  metadata: JsonObject;
  /** The reply metadata. */
  result_metadata: ReplyMetadata | JsonObject;
  /** The reply header. */
  result_header: MessageHeader | JsonObject;
  /** The reply content. */
  result_content: JsonObject;
  /** When the Hub saw the reply (ISO date). */
  received: string | null;
  /** Collected IOPub output. */
  io: ResultIo;
};

/**
 * `result_reply` content (§5.3): `pending`, `completed`, and (unless `status_only`) one
 * {@link StoredResult} per completed msg_id under that msg_id. Buffers: the `result_buffers` of
 * each completed record, in sorted msg_id order.
 */
export type ResultReplyContent =
  & {
    /** Always `"ok"`. */
    status: "ok";
    /** Requested ids still pending. */
    pending: string[];
    /** Requested ids completed. */
    completed: string[];
  }
  & { [msgId: string]: StoredResult | string[] | string };

/** `history_request` content (§5.4): empty. */
export type HistoryRequestContent = EmptyObject;

/** `history_reply` content (§5.4). */
export type HistoryReplyContent = {
  /** Always `"ok"`. */
  status: "ok";
  /** Every recorded msg_id with a submission time, sorted by it. */
  history: string[];
};

/** A DictDB operator object (§8.2); `$gt` behaves like `$lt` on the Python Hub (§10 #11). */
export type DbOperators = {
  /** Equal. */
  $eq?: unknown;
  /** Not equal. */
  $ne?: unknown;
  /** Less than. */
  $lt?: unknown;
  /** Less than or equal. */
  $lte?: unknown;
  /** Greater than or equal. */
  $gte?: unknown;
  /** Greater than (buggy on the Python Hub). */
  $gt?: unknown;
  /** Member of. */
  $in?: unknown[];
  /** Not a member of. */
  $nin?: unknown[];
  /** Member of every list. */
  $all?: unknown[][];
  /** `[divisor, remainder]`. */
  $mod?: [number, number];
  /** Present (non-null) or absent. */
  $exists?: boolean;
};

/** A `db_request` query: field to a plain value (equality) or to operators (§8.2). */
export type DbQuery = { [field: string]: unknown };

/** `db_request` content (§5.5). */
export type DbRequestContent = {
  /** Mongo-style query; date strings inside are parsed to dates by the Hub. */
  query: DbQuery;
  /** Which record fields to return; `null` = all but the buffers. */
  keys: string[] | null;
};

/**
 * `db_reply` content (§5.5). Requested `buffers`/`result_buffers` travel as message buffers,
 * per record in order, with the counts in `buffer_lens`/`result_buffer_lens`.
 */
export type DbReplyContent = {
  /** Always `"ok"`. */
  status: "ok";
  /** The matching records, in their JSON form. */
  records: Array<Partial<TaskRecord>>;
  /** Number of request buffers per record, or `null` if not requested. */
  buffer_lens: number[] | null;
  /** Number of result buffers per record, or `null` if not requested. */
  result_buffer_lens: number[] | null;
};

/** `purge_request` content (§5.6). */
export type PurgeRequestContent = {
  /** Completed records to drop, or `"all"`. */
  msg_ids: string[] | "all";
  /** Drop every completed record of these engines. */
  engine_ids: number[];
};

/** `purge_reply` content (§5.6). */
export type PurgeReplyContent = OkContent;

/** `resubmit_request` content (§5.7). */
export type ResubmitRequestContent = {
  /** The requests to run again. */
  msg_ids: string[];
};

/** `resubmit_reply` content (§5.7). */
export type ResubmitReplyContent = {
  /** Always `"ok"`. */
  status: "ok";
  /** Old msg_id to new msg_id. */
  resubmitted: { [oldMsgId: string]: string };
};

/**
 * `shutdown_request` content: `{}` to the Hub (§5.8), `{"restart": false}` to an engine on
 * control (§6.5.3).
 */
export type ShutdownRequestContent = {
  /** Engines only; `true` is rejected by the Python client. */
  restart?: boolean;
};

/**
 * `shutdown_reply` content: `{"status": "ok"}` from the Hub (§5.8), plus `restart` from an
 * engine on control and in its IOPub copy (§6.5.3, §6.6).
 */
export type ShutdownReplyContent = {
  /** Always `"ok"`. */
  status: "ok";
  /** Engines echo the request's `restart`. */
  restart?: boolean;
};

/** `load_request` content (§5.9). */
export type LoadRequestContent = {
  /** Which engines. */
  targets: QueryTargets;
};

/** `load_reply` content (§5.9); broken in Python 7.1 (`{"b''": 2}`), ours maps engine ids to loads. */
export type LoadReplyContent =
  & {
    /** Always `"ok"`. */
    status: "ok";
  }
  & { [engineId: string]: number | string };

/** `become_dask_request` content (§5.10). */
export type BecomeDaskRequestContent = {
  /** Arguments for the dask scheduler. */
  scheduler_args: JsonObject;
};

/** `become_dask_reply` content (§5.10). */
export type BecomeDaskReplyContent = {
  /** Always `"ok"`. */
  status: "ok";
  /** Scheduler IP. */
  ip: string;
  /** Scheduler address. */
  address: string;
  /** Scheduler port. */
  port: number;
};

/** `stop_distributed_request` content (§5.10): empty. */
export type StopDistributedRequestContent = EmptyObject;

/** `stop_distributed_reply` content (§5.10). */
export type StopDistributedReplyContent = OkContent;

/** `hub_error` content (§5): an error dict with `engine_info: {}`. */
export type HubErrorContent = ErrorContent;

// ---------------------------------------------------------------------------
// Notifications (PROTOCOL.md §4.4, §4.5, §5.8)
// ---------------------------------------------------------------------------

/** `registration_notification` / `unregistration_notification` content. */
export type EngineNotificationContent = {
  /** Engine id. */
  id: number;
  /** Engine uuid. */
  uuid: string;
};

/** `shutdown_notification` content (§5.8). */
export type ShutdownNotificationContent = OkContent;

// ---------------------------------------------------------------------------
// Execution (PROTOCOL.md §6.1, §6.2)
// ---------------------------------------------------------------------------

/** `apply_request` content: always `{}`; the function and arguments travel in buffers (§6.1). */
export type ApplyRequestContent = EmptyObject;

/** `apply_reply` content (§6.1): ok (result in buffers), error, or aborted. */
export type ApplyReplyContent = OkContent | ErrorContent | AbortedContent;

/** `execute_request` content (§6.2); `code` and `silent` are mandatory for Python engines. */
export type ExecuteRequestContent = {
  /** Source to run. */
  code: string;
  /** Suppress output and do not count the execution. */
  silent: boolean;
  /** Expressions to evaluate after the code, by name. */
  user_expressions?: { [name: string]: string };
  /** Default `!silent`. */
  store_history?: boolean;
  /** Default `false`. */
  allow_stdin?: boolean;
  /** Default `true`: abort queued execute requests after an error. */
  stop_on_error?: boolean;
};

/** One evaluated user expression in an `execute_reply` (§6.2). */
export type UserExpressionResult =
  | {
    /** Evaluation succeeded. */
    status: "ok";
    /** The value's representations. */
    data: MimeBundle;
    /** Representation metadata. */
    metadata: JsonObject;
  }
  | {
    /** Evaluation failed. */
    status: "error";
    /** Exception class name. */
    ename: string;
    /** Exception message. */
    evalue: string;
    /** Traceback lines. */
    traceback: string[];
  };

/** The fields an `execute_reply` has besides its status (§6.2). */
export type ExecuteReplyFields = {
  /** The engine's execution counter after this request. */
  execution_count: number;
  /** Results of the requested user expressions. */
  user_expressions: { [name: string]: UserExpressionResult };
  /** Payloads (unused by ipyparallel). */
  payload: unknown[];
};

/** `execute_reply` content (§6.2): ok or error (both with the execute fields), or aborted. */
export type ExecuteReplyContent =
  | (OkContent & ExecuteReplyFields)
  | (ErrorContent & ExecuteReplyFields)
  | AbortedContent;

// ---------------------------------------------------------------------------
// Control (PROTOCOL.md §6.5)
// ---------------------------------------------------------------------------

/** `clear_request` content: empty (§6.5.1). */
export type ClearRequestContent = EmptyObject;

/** `clear_reply` content (§6.5.1). */
export type ClearReplyContent = OkContent | ErrorContent;

/** `abort_request` content (§6.5.2): always a list; empty = abort queued execute requests. */
export type AbortRequestContent = {
  /** The msg_ids to abort. */
  msg_ids: string[];
};

/** `abort_reply` content (§6.5.2). */
export type AbortReplyContent = OkContent | ErrorContent;

/** `signal_request` content (§6.5.4). */
export type SignalRequestContent = {
  /** Signal number or name, e.g. `2` or `"SIGINT"`. */
  sig: number | string;
};

/**
 * The reply to `signal_request` (§6.5.4). The Python nanny sends it with msg_type
 * `"_request"` (PROTOCOL.md §10 #5); ours use `"signal_reply"`. Clients look only at
 * `parent_header.msg_id` and `status`.
 */
export type SignalReplyContent = OkContent | ErrorContent;

/** `kernel_info_request` content: empty (Jupyter spec, §6.5.5). */
export type KernelInfoRequestContent = EmptyObject;

/** `kernel_info_reply` content (Jupyter spec, §6.5.5). */
export type KernelInfoReplyContent = {
  /** Always `"ok"`. */
  status: "ok";
  /** `"5.3"`. */
  protocol_version: string;
  /** e.g. `"ipython"`, or ours. */
  implementation: string;
  /** Version of the implementation. */
  implementation_version: string;
  /** The language the engine runs. */
  language_info: {
    /** Language name. */
    name: string;
    /** Language version. */
    version: string;
    /** Anything else (mimetype, file_extension, …). */
    [key: string]: unknown;
  };
  /** Banner text. */
  banner: string;
  /** Help links. */
  help_links?: Array<{ text: string; url: string }>;
};

// ---------------------------------------------------------------------------
// IOPub (PROTOCOL.md §6.6)
// ---------------------------------------------------------------------------

/** IOPub `status` content. */
export type StatusContent = {
  /** Engine state; `idle` with the request as parent marks its output complete. */
  execution_state: "starting" | "busy" | "idle";
};

/** IOPub `stream` content. */
export type StreamContent = {
  /** Which stream. */
  name: "stdout" | "stderr";
  /** The text written. */
  text: string;
};

/** IOPub `execute_input` content. */
export type ExecuteInputContent = {
  /** The code being run. */
  code: string;
  /** Its execution count. */
  execution_count: number;
};

/** IOPub `execute_result` content. */
export type ExecuteResultContent = {
  /** The result's representations. */
  data: MimeBundle;
  /** Representation metadata. */
  metadata: JsonObject;
  /** Its execution count. */
  execution_count: number;
};

/** IOPub `display_data` content. */
export type DisplayDataContent = {
  /** The displayed representations. */
  data: MimeBundle;
  /** Representation metadata. */
  metadata: JsonObject;
  /** Transient data (display ids). */
  transient?: JsonObject;
};

/**
 * IOPub `error` content: no `status`; `engine_info` only on the second of the two error
 * messages a Python engine publishes for an apply error (PROTOCOL.md §10 #15).
 */
export type IopubErrorContent = {
  /** Traceback lines. */
  traceback: string[];
  /** Exception class name. */
  ename: string;
  /** Exception message. */
  evalue: string;
  /** Where it happened. */
  engine_info?: EngineInfoContent | EmptyObject;
};

/** IOPub `data_message` content: the keys of the published dict, serialized in buffers (§6.6). */
export type DataMessageContent = {
  /** Names of the published values. */
  keys: string[];
};

// ---------------------------------------------------------------------------
// Metadata (PROTOCOL.md §6.3, §7.1, §7.7, §7.9)
// ---------------------------------------------------------------------------

/** `[engine_uuid, engine_id]`, as broadcast targets are written (§7.9). */
export type EngineTarget = [uuid: string, id: number];

/**
 * Metadata of `execute_reply` and `apply_reply` from an engine (PROTOCOL.md §6.3). `status`
 * must be present: the Python task scheduler drops replies without it.
 */
export type ReplyMetadata = {
  /** When the engine started the request (ISO date). */
  started: string;
  /** `false` when the request raised `UnmetDependency`. */
  dependencies_met: boolean;
  /** The engine uuid. */
  engine: string;
  /** Copied from the request metadata (default `false`). */
  is_broadcast: boolean;
  /** Copied from the request metadata (default `false`). */
  is_coalescing: boolean;
  /** Copied from the request metadata (default `""`). */
  original_msg_id: string;
  /** The reply's outcome. */
  status: "ok" | "error" | "aborted";
  /** Only on errors: the engine's real id. */
  engine_info?: {
    /** Engine uuid. */
    engine_uuid: string;
    /** Engine id. */
    engine_id: number;
  };
  /** Added by broadcast schedulers on coalesced replies (§7.9). */
  broadcast_targets?: EngineTarget[] | string[];
};

/**
 * Metadata of a reply the task scheduler fabricates for a task stranded on a dead engine
 * (PROTOCOL.md §7.6). Other scheduler-generated failures (§7.7) carry `{}`.
 */
export type StrandedTaskMetadata = {
  /** Always `"error"`. */
  status: "error";
  /** The dead engine's uuid. */
  engine: string;
  /** When the reply was fabricated (ISO date). */
  date: string;
};

/** A dependency set in its dict form (PROTOCOL.md §7.1, §7.3). */
export type DependencySpec = {
  /** msg_ids depended on. */
  dependencies: string[];
  /** All (`true`) or any (`false`) of them. */
  all: boolean;
  /** Successful completion satisfies the dependency. */
  success: boolean;
  /** Failed completion satisfies the dependency. */
  failure: boolean;
};

/** A dependency: a msg_id list (= all, success, not failure) or a {@link DependencySpec}. */
export type Dependency = string[] | DependencySpec;

/**
 * Metadata of a load-balanced submission (PROTOCOL.md §7.1). Python sends every key; the
 * scheduler reads each with a default, so `{}` is valid too.
 */
export type TaskSubmitMetadata = {
  /** Time dependency. */
  after: Dependency;
  /** Location dependency. */
  follow: Dependency;
  /** Seconds a task may wait in the scheduler queue; `0`/`null` = no limit. */
  timeout: number | null;
  /** Engine uuids the task may run on; `[]` = any. */
  targets: string[];
  /** How many times to re-run elsewhere after a failure. */
  retries: number;
};

/** Metadata of a broadcast submission, as the client sends it and schedulers rewrite it (§7.9). */
export type BroadcastRequestMetadata = {
  /** The engines to run on. */
  targets: EngineTarget[];
  /** Always `true`. */
  is_broadcast: true;
  /** One combined reply instead of one per engine. */
  is_coalescing: boolean;
  /** Set by the schedulers: the client's msg_id. */
  original_msg_id?: string;
};

/** Metadata that names the sending engine (IOPub, control replies; PROTOCOL.md §6.5, §6.6). */
export type EngineMetadata = {
  /** The engine uuid. */
  engine: string;
};

// ---------------------------------------------------------------------------
// TaskRecord (PROTOCOL.md §8.1)
// ---------------------------------------------------------------------------

/**
 * One Hub record per MUX or load-balanced request (PROTOCOL.md §8.1), in its wire form: dates
 * are ISO strings, and `buffers`/`result_buffers` are binary (sent as message buffers by
 * `db_reply`, never inside the JSON).
 */
export type TaskRecord = {
  /** The request's msg_id. */
  msg_id: string;
  /** The request header. */
  header: MessageHeader;
  /** The request metadata. */
  metadata: JsonObject;
  /** The request content. */
  content: JsonObject;
  /** The request buffers. */
  buffers: Uint8Array[];
  /** `header.date` of the request. */
  submitted: string | null;
  /** `header.session` of the request. */
  client_uuid: string;
  /** The engine that ran it; `""` for scheduler-failed tasks. */
  engine_uuid: string | null;
  /** Which scheduler queue it went through. */
  queue: "mux" | "task";
  /** Reply `metadata.started`. */
  started: string | null;
  /** Reply `header.date`. */
  completed: string | null;
  /** Hub clock when the reply was seen. */
  received: string | null;
  /** New msg_id after a resubmit. */
  resubmitted: string | null;
  /**
   * The reply header; for MUX requests failed by the Hub after an engine died,
   * `{"engine": uuid, "date": …}`.
   */
  result_header: MessageHeader | JsonObject | null;
  /** The reply metadata. */
  result_metadata: ReplyMetadata | JsonObject | null;
  /** The reply content. */
  result_content: JsonObject | null;
  /** The reply buffers. */
  result_buffers: Uint8Array[] | null;
  /** IOPub `execute_input` code. */
  execute_input: string | null;
  /** IOPub `execute_result` content. */
  execute_result: ExecuteResultContent | null;
  /** Last IOPub `error` content. */
  error: IopubErrorContent | null;
  /** Last IOPub `display_data` content (only visible through `db_request`). */
  display_data?: DisplayDataContent | null;
  /** Collected standard output. */
  stdout: string;
  /** Collected standard error. */
  stderr: string;
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
 * import { isMessageType } from "./messages.ts";
 * import { Session } from "./session.ts";
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
 * import { isErrorContent } from "./messages.ts";
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
 * import { isAbortedContent } from "./messages.ts";
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
 * import { isHeader } from "./messages.ts";
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
 * import { replyTypeFor } from "./messages.ts";
 * replyTypeFor("execute_request"); // "execute_reply"
 * ```
 */
export function replyTypeFor(requestType: string): string {
  return requestType.endsWith("_request")
    ? requestType.slice(0, -"_request".length) + "_reply"
    : requestType + "_reply";
}
