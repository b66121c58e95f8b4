/**
 * Hub messages: the registration and query channel (PROTOCOL.md §4.1, §4.5, §5) and the
 * Hub's notifications (PROTOCOL.md §4.4, §4.5, §5.8).
 *
 * @module
 */

import type { EmptyObject, ErrorContent, JsonObject, MessageHeader, OkContent } from "./common.ts";
import type { ExecuteResultContent, IopubErrorContent } from "./iopub.ts";
import type { ReplyMetadata } from "./metadata.ts";
import type { TaskRecord } from "./records.ts";

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
