/**
 * Replies to client queries on the Hub's registration channel (PROTOCOL.md §5), computed from
 * a {@link HubState} and its database. Pure with respect to sockets: each handler returns the
 * reply's type, content and buffers, and the wiring signs and sends them (with the request
 * header as `parent_header`).
 *
 * Errors: handlers that Python lets raise produce `hub_error` (unknown message type, bad
 * `queue_request`/`load_request` targets); the others reply with their normal type and an
 * error content (§5 "General error behaviour"). Every error content is §6.4-shaped with
 * `engine_info: {}`.
 *
 * @module
 */

import { HubError, RecordCulled } from "../errors.ts";
import { type ErrorContent, errorContent, errorContentFrom, pyRepr } from "./error_content.ts";
import type { HubState } from "./hub_state.ts";
import type { HubMessage } from "./hub_types.ts";
import type { JsonObject, TaskRecord } from "./db/types.ts";

/** A request the Hub resubmits through the task scheduler (§5.7). */
export interface Resubmission {
  /** The original request's msg_id. */
  originalMsgId: string;
  /**
   * The message to send, as a load-balanced task from the Hub: the stored header with a new
   * `msg_id` and `date`; `parent_header` equal to that header and `metadata` `{}` (quirk #13,
   * kept as observed); the stored content and buffers.
   */
  message: HubMessage;
}

/** What a query handler produced. */
export interface QueryResult {
  /** Reply message type, e.g. `queue_reply` or `hub_error`. */
  msgType: string;
  /** Reply content. */
  content: JsonObject;
  /** Reply buffers (result_request, db_request). */
  buffers: Uint8Array[];
  /** `resubmit_request`: the messages to send. */
  resubmissions?: Resubmission[];
  /** `shutdown_request`: publish `shutdown_notification` with this content, then exit. */
  shutdownNotification?: JsonObject;
}

const ok = (msgType: string, content: JsonObject, buffers: Uint8Array[] = []): QueryResult => ({
  msgType,
  content: { status: "ok", ...content },
  buffers,
});

const fail = (msgType: string, content: ErrorContent): QueryResult => ({
  msgType,
  content: content as unknown as JsonObject,
  buffers: [],
});

/**
 * §5.1 `connection_request`: the registered engines, ids as string keys.
 *
 * @param hub The Hub state.
 * @returns `connection_reply`.
 */
export function connectionRequest(hub: HubState): QueryResult {
  const engines: Record<string, string> = {};
  for (const e of hub.engines()) engines[String(e.id)] = e.uuid;
  return ok("connection_reply", { engines });
}

/**
 * Python `_validate_targets`: null = every registered engine; ints are ids; strings are uuids.
 *
 * @throws {HubError} `IndexError: No Such Engine: [99]` or `IndexError: No Engines Registered`.
 */
function validateTargets(hub: HubState, targets: unknown): number[] {
  let list: unknown[];
  if (targets === null || targets === undefined) list = hub.engines().map((e) => e.id);
  else list = Array.isArray(targets) ? targets : [targets];
  const ids = list.map((t) => (typeof t === "string" ? hub.idOf(t) ?? t : t));
  const bad = ids.filter((t) => typeof t !== "number" || !hub.engineById(t));
  if (bad.length) throw new HubError("IndexError", `No Such Engine: ${pyRepr(bad)}`);
  if (!ids.length) throw new HubError("IndexError", "No Engines Registered");
  return ids as number[];
}

/**
 * §5.2 `queue_request`: per-engine `queue`/`completed`/`tasks` (counts, or msg_id lists when
 * `verbose`: the newest `finishedLimit` completed ones, the counts exact) and `unassigned`.
 *
 * @param hub The Hub state.
 * @param content `{targets, verbose}`.
 * @returns `queue_reply`, or `hub_error` with an IndexError.
 */
export function queueRequest(hub: HubState, content: JsonObject): QueryResult {
  let ids: number[];
  try {
    ids = validateTargets(hub, content.targets);
  } catch (err) {
    return fail("hub_error", errorContentFrom(err, "queue_status"));
  }
  const verbose = Boolean(content.verbose);
  const out: JsonObject = {};
  const lists = verbose ? hub.completedByEngine() : undefined;
  for (const id of ids) {
    const q = hub.queues.get(id)!;
    out[String(id)] = lists !== undefined
      ? { queue: [...q.queue], completed: lists.get(id) ?? [], tasks: [...q.tasks] }
      : { queue: q.queue.size, completed: q.completed, tasks: q.tasks.size };
  }
  out.unassigned = verbose ? [...hub.unassigned] : hub.unassigned.size;
  return ok("queue_reply", out);
}

/**
 * §5.9 `load_request`, done as 7.1 intended: `{status: "ok", "<id>": queue + tasks}`.
 *
 * @param hub The Hub state.
 * @param content `{targets}`.
 * @returns `load_reply`, or `hub_error` with an IndexError.
 */
export function loadRequest(hub: HubState, content: JsonObject): QueryResult {
  let ids: number[];
  try {
    ids = validateTargets(hub, content.targets);
  } catch (err) {
    return fail("hub_error", errorContentFrom(err, "check_load"));
  }
  const out: JsonObject = {};
  for (const id of ids) {
    const q = hub.queues.get(id)!;
    out[String(id)] = q.queue.size + q.tasks.size;
  }
  return ok("load_reply", out);
}

function extractRecord(rec: Partial<TaskRecord>): JsonObject {
  return {
    header: rec.header ?? null,
    metadata: rec.metadata ?? null,
    result_metadata: rec.result_metadata ?? null,
    result_header: rec.result_header ?? null,
    result_content: rec.result_content ?? null,
    received: rec.received ?? null,
    io: {
      execute_input: rec.execute_input ?? null,
      execute_result: rec.execute_result ?? null,
      error: rec.error ?? null,
      stdout: rec.stdout ?? "",
      stderr: rec.stderr ?? "",
    },
  };
}

/**
 * Whether a record's request (`buffers`) or reply (`result_buffers`) buffers were streamed
 * through the controller and not kept (stored as `null` once the message itself was recorded).
 */
function buffersNotKept(
  hub: HubState,
  rec: Partial<TaskRecord>,
  field: "buffers" | "result_buffers",
): boolean {
  if (rec[field] !== null) return false;
  const headerField = field === "buffers" ? "header" : "result_header";
  let full: Partial<TaskRecord> = rec;
  if (!(headerField in rec) && rec.msg_id !== undefined) {
    try {
      full = hub.db.get(rec.msg_id);
    } catch {
      return false;
    }
  }
  return full[headerField] != null;
}

/** The error for a query that needs buffers the Hub did not keep. */
function notKeptError(msgId: string, field: "buffers" | "result_buffers", where: string) {
  const what = field === "buffers" ? "request" : "result";
  return errorContent(
    "BuffersNotKept",
    `the ${what} buffers of ${msgId} were streamed through the controller (frames of at least ` +
      `its cutThrough size, 1 MiB by default) and not kept; start the controller with ` +
      `--cut-through=0 to keep every buffer`,
    where,
  );
}

/**
 * §5.3 `result_request`: sorted unique msg_ids split into pending and completed; without
 * `status_only`, one entry per completed id and the `result_buffers` concatenated in sorted
 * msg_id order. Ids the Hub does not hold in memory are looked up in the database (a restarted
 * controller answers for finished tasks; quirk #12 fixed).
 *
 * @param hub The Hub state.
 * @param content `{msg_ids, status_only}`.
 * @returns `result_reply` (errors included).
 */
export function resultRequest(hub: HubState, content: JsonObject): QueryResult {
  const where = "get_results";
  const raw = Array.isArray(content.msg_ids) ? content.msg_ids.map(String) : [];
  const msgIds = [...new Set(raw)].sort();
  const statusOnly = Boolean(content.status_only);
  const records = new Map<string, Partial<TaskRecord>>();
  const unknown = msgIds.filter((m) => !hub.pending.has(m) && !hub.allCompleted.has(m));
  const wanted = statusOnly ? unknown : msgIds;
  if (wanted.length) {
    try {
      const keys = statusOnly ? ["completed"] : null;
      for (const r of hub.db.find({ msg_id: { $in: wanted } }, keys)) records.set(r.msg_id!, r);
    } catch (err) {
      if (!statusOnly) return fail("result_reply", errorContentFrom(err, where));
      // status only: without data (NoDb) unknown ids are simply not found
    }
  }
  const pending: string[] = [];
  const completed: string[] = [];
  const out: JsonObject = { pending, completed };
  const buffers: Uint8Array[] = [];
  let notKept: string | undefined;
  const take = (id: string, rec: Partial<TaskRecord>) => {
    if (!statusOnly && buffersNotKept(hub, rec, "result_buffers")) notKept ??= id;
    completed.push(id);
    if (statusOnly) return;
    out[id] = extractRecord(rec);
    buffers.push(...(rec.result_buffers ?? []));
  };
  for (const id of msgIds) {
    const rec = records.get(id);
    if (hub.pending.has(id)) pending.push(id);
    else if (hub.allCompleted.has(id)) {
      if (!statusOnly && !rec) {
        let err: unknown = new HubError("KeyError", pyRepr(`No such message: ${id}`));
        try {
          hub.db.get(id);
        } catch (e) {
          if (e instanceof RecordCulled) err = e;
        }
        return fail("result_reply", errorContentFrom(err, where));
      }
      take(id, rec ?? {});
    } else if (rec) {
      if (rec.completed) take(id, rec);
      else pending.push(id);
    } else {
      return fail(
        "result_reply",
        errorContent("KeyError", pyRepr(`No such message: ${id}`), where),
      );
    }
  }
  if (notKept !== undefined) {
    return fail("result_reply", notKeptError(notKept, "result_buffers", where));
  }
  return ok("result_reply", out, buffers);
}

/**
 * §5.4 `history_request`: every record with a `submitted` date, oldest first.
 *
 * @param hub The Hub state.
 * @returns `history_reply` (NoData error with `NoDb`).
 */
export function historyRequest(hub: HubState): QueryResult {
  try {
    return ok("history_reply", { history: hub.db.history() });
  } catch (err) {
    return fail("history_reply", errorContentFrom(err, "get_history"));
  }
}

/**
 * §5.5 `db_request`: a raw query. `keys: null` → every field except the buffer lists, both
 * `*_lens` null; with `buffers`/`result_buffers` among the keys they move out of the JSON into
 * message buffers (per record: its buffers, then its result buffers) with their counts in
 * `buffer_lens`/`result_buffer_lens`.
 *
 * @param hub The Hub state.
 * @param content `{query, keys}`.
 * @returns `db_reply` (bad operator or NoDb → error content).
 */
export function dbRequest(hub: HubState, content: JsonObject): QueryResult {
  const keys = Array.isArray(content.keys) ? content.keys.map(String) : null;
  let records: Partial<TaskRecord>[];
  try {
    records = hub.db.find((content.query ?? {}) as JsonObject, keys);
  } catch (err) {
    return fail("db_reply", errorContentFrom(err, "db_query"));
  }
  const bufferLens: number[] | null = keys?.includes("buffers") ? [] : null;
  const resultBufferLens: number[] | null = keys?.includes("result_buffers") ? [] : null;
  const buffers: Uint8Array[] = [];
  for (const rec of records) {
    for (const field of ["buffers", "result_buffers"] as const) {
      const wanted = field === "buffers" ? bufferLens : resultBufferLens;
      if (wanted && buffersNotKept(hub, rec, field)) {
        return fail("db_reply", notKeptError(String(rec.msg_id), field, "db_query"));
      }
    }
    const b = rec.buffers ?? [];
    const rb = rec.result_buffers ?? [];
    delete rec.buffers;
    delete rec.result_buffers;
    if (bufferLens) {
      bufferLens.push(b.length);
      buffers.push(...b);
    }
    if (resultBufferLens) {
      resultBufferLens.push(rb.length);
      buffers.push(...rb);
    }
  }
  return ok("db_reply", {
    records: records as unknown as JsonObject[],
    buffer_lens: bufferLens,
    result_buffer_lens: resultBufferLens,
  }, buffers);
}

/**
 * §5.6 `purge_request`: `"all"` drops every completed record; a list drops those records
 * (IndexError if one is pending); `engine_ids` drop each engine's completed records (IndexError
 * for an unknown engine). Purged ids are also forgotten in memory.
 *
 * @param hub The Hub state.
 * @param content `{msg_ids, engine_ids}`.
 * @returns `purge_reply`.
 */
export function purgeRequest(hub: HubState, content: JsonObject): QueryResult {
  const where = "purge_results";
  const msgIds = content.msg_ids ?? [];
  try {
    if (msgIds === "all") {
      hub.db.dropMatching({ completed: { $ne: null } });
      hub.forgetAllFinished();
      return ok("purge_reply", {});
    }
    const ids = Array.isArray(msgIds) ? msgIds.map(String) : [];
    const pendingId = ids.find((m) => hub.pending.has(m));
    if (pendingId !== undefined) {
      return fail(
        "purge_reply",
        errorContent("IndexError", `msg pending: ${pyRepr(pendingId)}`, where),
      );
    }
    if (ids.length) hub.db.dropMatching({ msg_id: { $in: ids } });
    hub.forgetFinished(ids);
    const engineIds = Array.isArray(content.engine_ids) ? content.engine_ids : [];
    for (const eid of engineIds) {
      const e = typeof eid === "number" ? hub.engineById(eid) : undefined;
      if (!e) {
        return fail(
          "purge_reply",
          errorContent("IndexError", `No such engine: ${pyRepr(eid)}`, where),
        );
      }
      hub.db.dropMatching({ engine_uuid: e.uuid, completed: { $ne: null } });
      hub.forgetAllFinished(e.id);
    }
    return ok("purge_reply", {});
  } catch (err) {
    return fail("purge_reply", errorContentFrom(err, where));
  }
}

/**
 * §5.7 `resubmit_request`: for each stored request, a new message under a new msg_id (the
 * Hub sends it as a load-balanced task), a fresh record for it, and `resubmitted` set on the
 * old record. In-flight tasks may be resubmitted.
 *
 * @param hub The Hub state.
 * @param content `{msg_ids}`.
 * @returns `resubmit_reply` with `resubmissions` to send.
 */
export function resubmitRequest(hub: HubState, content: JsonObject): QueryResult {
  const where = "resubmit_task";
  const msgIds = Array.isArray(content.msg_ids) ? content.msg_ids.map(String) : [];
  let records: Partial<TaskRecord>[];
  try {
    records = hub.db.find({ msg_id: { $in: msgIds } }, ["header", "content", "buffers"]);
  } catch (err) {
    return fail("resubmit_reply", errorContentFrom(err, where));
  }
  const found = new Set(records.map((r) => r.msg_id!));
  const missing = msgIds.filter((m) => !found.has(m));
  if (missing.length) {
    return fail(
      "resubmit_reply",
      errorContent("KeyError", pyRepr(`No such msg(s): ${pyRepr(missing)}`), where),
    );
  }
  const lost = records.find((r) => buffersNotKept(hub, r, "buffers"));
  if (lost !== undefined) {
    return fail("resubmit_reply", notKeptError(String(lost.msg_id), "buffers", where));
  }
  const resubmitted: Record<string, string> = {};
  const resubmissions: Resubmission[] = [];
  for (const rec of records) {
    const msgId = hub.newMsgId();
    const date = hub.now();
    const header: JsonObject = { ...(rec.header ?? {}), msg_id: msgId, date };
    const message: HubMessage = {
      header,
      parent_header: { ...header },
      metadata: {},
      content: rec.content ?? {},
      buffers: rec.buffers ?? [],
    };
    try {
      hub.db.add({
        msg_id: msgId,
        header,
        content: message.content,
        metadata: {},
        buffers: message.buffers,
        submitted: date,
        client_uuid: typeof header.session === "string" ? header.session : null,
      });
    } catch (err) {
      return fail("resubmit_reply", errorContentFrom(err, where));
    }
    hub.pending.add(msgId);
    resubmitted[rec.msg_id!] = msgId;
    resubmissions.push({ originalMsgId: rec.msg_id!, message });
  }
  for (const [old, fresh] of Object.entries(resubmitted)) {
    try {
      hub.db.update(old, { resubmitted: fresh });
    } catch { /* Python logs and continues */ }
  }
  return { ...ok("resubmit_reply", { resubmitted }), resubmissions };
}

/**
 * §5.8 `shutdown_request`: reply ok and publish `shutdown_notification`; the wiring exits
 * about a second later.
 *
 * @returns `shutdown_reply` with `shutdownNotification`.
 */
export function shutdownRequest(): QueryResult {
  return { ...ok("shutdown_reply", {}), shutdownNotification: { status: "ok" } };
}

/**
 * Dispatches a query by `msg_type`. Unknown types and handler exceptions become `hub_error`
 * (§5). `registration_request`/`unregistration_request` are not queries: see `HubState`.
 *
 * @param hub The Hub state.
 * @param msgType The request's `header.msg_type`.
 * @param content The request content.
 * @returns The reply to send.
 * @example
 * ```ts
 * handleQuery(hub, "foo_request", {}).content.evalue; // "\"Bad Message Type: 'foo_request'\""
 * ```
 */
export function handleQuery(hub: HubState, msgType: string, content: JsonObject): QueryResult {
  try {
    switch (msgType) {
      case "connection_request":
        return connectionRequest(hub);
      case "queue_request":
        return queueRequest(hub, content);
      case "result_request":
        return resultRequest(hub, content);
      case "history_request":
        return historyRequest(hub);
      case "db_request":
        return dbRequest(hub, content);
      case "purge_request":
        return purgeRequest(hub, content);
      case "resubmit_request":
        return resubmitRequest(hub, content);
      case "load_request":
        return loadRequest(hub, content);
      case "shutdown_request":
        return shutdownRequest();
      default:
        return fail(
          "hub_error",
          errorContent(
            "KeyError",
            pyRepr(`Bad Message Type: ${pyRepr(msgType)}`),
            "dispatch_query",
          ),
        );
    }
  } catch (err) {
    return fail("hub_error", errorContentFrom(err, "dispatch_query"));
  }
}
