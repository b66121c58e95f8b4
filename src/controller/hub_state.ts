/**
 * The Hub's bookkeeping without sockets: engine ids and registrations (PROTOCOL.md §4),
 * request/reply/IOPub traffic turned into TaskRecords (§8.1), and the sets the queries of §5
 * read (`hub_queries.ts` computes the replies).
 *
 * Decisions:
 * - Registration notifications of one beat are returned in ascending id order (§4.4, quirk
 *   #20 fixed).
 * - A pending registration whose heart never beats is purged after `registrationTimeoutMs`,
 *   freeing its uuid (quirk #7: Python's purge crashes and the uuid stays "in use").
 * - `queue_request`/`load_request` cover the *registered* engines; Python also lists engines
 *   that have left (its id set never shrinks).
 * - `purge_request` also forgets purged msg_ids in memory, and tells the scheduler to; past
 *   `finishedLimit` the oldest finished msg_ids are forgotten the same way (ipyparallel keeps
 *   them all until a purge), so a long-running controller's memory stays bounded.
 *
 * @module
 */

import { BoundedIds } from "./bounded_ids.ts";
import { type Clock, systemClock, type TimerId } from "./clock.ts";
import { dateOrNull, formatMs } from "./dates.ts";
import {
  createEngineRecord,
  type EngineRecordActor,
  type EngineRecordEvent,
} from "./engine_record.ts";
import { type ErrorContent, errorContent, pyRepr } from "./error_content.ts";
import type { JsonObject, TaskDb, TaskRecord, TaskRecordUpdate } from "./db/types.ts";
import type { EngineQueues, HubMessage, Notification, RegistrationReply } from "./hub_types.ts";

/** Options of {@link HubState}. */
export interface HubStateOptions {
  /** The task database. */
  db: TaskDb;
  /** Time source (default the system clock). */
  clock?: Clock;
  /** Heartbeat period sent as `hb_period` (default 3000 ms). */
  hbPeriodMs?: number;
  /** `connection_info` of registration replies (default `{}`). */
  connectionInfo?: JsonObject;
  /** Stalled-registration purge and dead-engine MUX failure delay (default max(30 s, 10 × period)). */
  registrationTimeoutMs?: number;
  /** Makes msg_ids for resubmitted requests (default `<session>_<pid>_<n>`). */
  newMsgId?: () => string;
  /**
   * Finished requests remembered by msg_id (default {@link DEFAULT_FINISHED_LIMIT};
   * `Infinity`: all, as ipyparallel's Hub until a purge). Past it the oldest is forgotten as a
   * purge forgets it, but still counted in `queue_status`.
   */
  finishedLimit?: number;
}

/**
 * Finished requests a Hub remembers by default. Remembering all grows the controller's heap by
 * ~200 bytes per task without end (180 MB after 870,000 tasks in a minute); with this limit it
 * levels off at ~240 MB (`bench/controller_memory.ts`; BENCHMARKS.md, twenty-third round).
 */
export const DEFAULT_FINISHED_LIMIT = 1_000_000;

interface Registered {
  id: number;
  uuid: string;
  record: EngineRecordActor;
}

function randomHex(bytes: number): string {
  return [...crypto.getRandomValues(new Uint8Array(bytes))]
    .map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * The Hub's state.
 *
 * @example
 * ```ts
 * const hub = new HubState({ db: new MemoryDb() });
 * hub.register({ uuid: "u0" }); // → { id: 0, status: "ok", … }
 * hub.heartsStarted(["u0"]); // → [registration_notification {id: 0, uuid: "u0"}]
 * hub.close();
 * ```
 */
export class HubState {
  /** The task database. */
  readonly db: TaskDb;
  /** Heartbeat period in ms. */
  readonly hbPeriodMs: number;
  /** Stalled-registration and dead-engine delay in ms. */
  readonly registrationTimeoutMs: number;
  /** msg_ids of requests not yet answered (MUX and tasks). */
  readonly pending = new Set<string>();
  /** msg_ids whose reply the Hub saw (or that it failed): the newest `finishedLimit`. */
  readonly allCompleted: BoundedIds;
  /** Load-balanced tasks not yet dispatched to an engine. */
  readonly unassigned = new Set<string>();
  /** Request lists by engine id (kept after the engine leaves). */
  readonly queues = new Map<number, EngineQueues>();
  #clock: Clock;
  #connectionInfo: JsonObject;
  #newMsgId: () => string;
  #counter = 0;
  #engines = new Map<number, Registered>();
  #byUuid = new Map<string, Registered>();
  #incoming = new Map<string, Registered & { timer: TimerId }>();
  #taskEngine = new Map<string, number>(); // task msg_id → engine id it was dispatched to
  #timers = new Set<TimerId>();
  #onForget: ((msgId: string) => void) | undefined;

  /**
   * Creates an empty Hub state.
   * @param options See {@link HubStateOptions}.
   */
  constructor(options: HubStateOptions) {
    this.db = options.db;
    this.#clock = options.clock ?? systemClock;
    this.hbPeriodMs = options.hbPeriodMs ?? 3000;
    this.registrationTimeoutMs = options.registrationTimeoutMs ??
      Math.max(30_000, this.hbPeriodMs * 10);
    this.#connectionInfo = options.connectionInfo ?? {};
    const session = `${randomHex(4)}-${randomHex(12)}`;
    let n = 0;
    this.#newMsgId = options.newMsgId ?? (() => `${session}_${Deno.pid}_${n++}`);
    this.allCompleted = new BoundedIds(
      options.finishedLimit ?? DEFAULT_FINISHED_LIMIT,
      // Evicted: still counted on its engine, forgotten everywhere else.
      (id) => this.#forgot(id),
    );
  }

  /**
   * Calls `fn` with each finished msg_id the Hub forgets (purged, or past `finishedLimit`), so
   * the task scheduler forgets it too.
   * @param fn The listener (replaces any earlier one).
   */
  onForget(fn: (msgId: string) => void): void {
    this.#onForget = fn;
  }

  /**
   * Forgets finished requests (§5.6 `purge_request` with msg_ids): no longer completed here,
   * in any engine's list, or for the listeners. Their records are the caller's to drop.
   * @param msgIds The msg_ids (pending or unknown ones are skipped).
   */
  forgetFinished(msgIds: Iterable<string>): void {
    for (const id of msgIds) {
      const engineId = this.allCompleted.tagOf(id);
      if (engineId === undefined) continue;
      this.allCompleted.delete(id);
      const q = this.queues.get(engineId);
      if (q !== undefined) q.completed--;
      this.#forgot(id);
    }
  }

  /**
   * The finished msg_ids the Hub remembers, by the engine they count on (aborted tasks and
   * those without an engine are in none), oldest first: `queue_status`'s verbose lists.
   */
  completedByEngine(): Map<number, string[]> {
    const out = new Map<number, string[]>();
    for (const id of this.allCompleted) {
      const engineId = this.allCompleted.tagOf(id)!;
      if (engineId < 0) continue;
      let list = out.get(engineId);
      if (list === undefined) out.set(engineId, list = []);
      list.push(id);
    }
    return out;
  }

  /**
   * Forgets every finished request, or those finished on one engine (`purge_request` with
   * `"all"` or `engine_ids`): their lists and counts start again from zero.
   * @param engineId Only this engine's (default all).
   */
  forgetAllFinished(engineId?: number): void {
    if (engineId !== undefined) {
      const q = this.queues.get(engineId);
      if (!q) return;
      for (const id of this.allCompleted) {
        if (this.allCompleted.tagOf(id) !== engineId) continue;
        this.allCompleted.delete(id); // deleting the entry being visited is safe
        this.#forgot(id);
      }
      q.completed = 0;
      return;
    }
    for (const id of this.allCompleted) this.#forgot(id);
    this.allCompleted.clear();
    for (const q of this.queues.values()) q.completed = 0;
  }

  #forgot(id: string): void {
    this.#onForget?.(id);
  }

  /** The current time as a normalized ISO date. */
  now(): string {
    return formatMs(this.#clock.now());
  }

  /** A fresh msg_id for a message the Hub originates. */
  newMsgId(): string {
    return this.#newMsgId();
  }

  // ------------------------------------------------------------ engines (§4)

  /** Registered engines in ascending id order. */
  engines(): { id: number; uuid: string }[] {
    return [...this.#engines.values()].sort((a, b) => a.id - b.id).map(({ id, uuid }) => ({
      id,
      uuid,
    }));
  }

  /** The registered engine with this id. */
  engineById(id: number): { id: number; uuid: string } | undefined {
    const e = this.#engines.get(id);
    return e && { id: e.id, uuid: e.uuid };
  }

  /** The registered engine id of a uuid. */
  idOf(uuid: string): number | undefined {
    return this.#byUuid.get(uuid)?.id;
  }

  /** uuids with a registration pending (waiting for the first heartbeat). */
  pendingRegistrations(): string[] {
    return [...this.#incoming.keys()];
  }

  /** Whether `uuid`'s registration is pending, or without `uuid`, whether any is. */
  isPending(uuid?: string): boolean {
    return uuid === undefined ? this.#incoming.size > 0 : this.#incoming.has(uuid);
  }

  /** The id a pending registration was given, or `undefined`. */
  pendingId(uuid: string): number | undefined {
    return this.#incoming.get(uuid)?.id;
  }

  /** Python `new_engine_id`: a free requested id is honoured, else the counter (§4.1). */
  #newEngineId(requested: unknown): number {
    if (typeof requested === "number" && Number.isInteger(requested) && requested >= 0) {
      const pendingIds = new Set([...this.#incoming.values()].map((r) => r.id));
      if (!this.#engines.has(requested) && !pendingIds.has(requested)) {
        this.#counter = Math.max(this.#counter, requested + 1);
        return requested;
      }
    }
    return this.#counter++;
  }

  /**
   * `registration_request` (§4.1).
   *
   * @param content Request content `{uuid, id?}`.
   * @returns The reply content, or null when no reply must be sent (no `uuid`, quirk #27).
   *   A failed registration still consumes an id (quirk #10).
   */
  register(content: JsonObject): RegistrationReply | ErrorContent | null {
    const uuid = content.uuid;
    if (typeof uuid !== "string" || uuid === "") return null;
    const id = this.#newEngineId(content.id);
    if (this.#byUuid.has(uuid) || this.#incoming.has(uuid)) {
      return errorContent("KeyError", pyRepr(`uuid ${pyRepr(uuid)} in use`), "register_engine");
    }
    const at = this.#clock.now();
    const record = createEngineRecord({ id, uuid, at });
    const timer = this.#clock.setTimer(this.registrationTimeoutMs, () => {
      this.#timers.delete(timer);
      this.#purgeStalled(uuid);
    });
    this.#timers.add(timer);
    this.#incoming.set(uuid, { id, uuid, record, timer });
    return { id, status: "ok", hb_period: this.hbPeriodMs, connection_info: this.#connectionInfo };
  }

  #purgeStalled(uuid: string): void {
    const r = this.#incoming.get(uuid);
    if (!r) return;
    this.#incoming.delete(uuid);
    r.record.send({ type: "REGISTRATION_TIMEOUT", at: this.#clock.now() });
  }

  /**
   * New hearts from the heart monitor complete pending registrations (§4.4). Hearts with no
   * pending registration are ignored.
   *
   * @param uuids The new hearts.
   * @returns `registration_notification`s in ascending id order.
   */
  heartsStarted(uuids: readonly string[]): Notification[] {
    const done: Registered[] = [];
    for (const uuid of uuids) {
      const r = this.#incoming.get(uuid);
      if (!r) continue;
      this.#incoming.delete(uuid);
      this.#clock.clearTimer(r.timer);
      this.#timers.delete(r.timer);
      r.record.send({ type: "HEARTBEAT", at: this.#clock.now() });
      const reg = { id: r.id, uuid, record: r.record };
      this.#engines.set(r.id, reg);
      this.#byUuid.set(uuid, reg);
      this.queues.set(r.id, { queue: new Set(), tasks: new Set(), completed: 0 });
      done.push(reg);
    }
    return done.sort((a, b) => a.id - b.id).map(({ id, uuid }) => ({
      msgType: "registration_notification",
      content: { id, uuid },
    }));
  }

  /**
   * Unregisters engine `id` (§4.5): `unregistration_request` (`UNREGISTER`), IOPub
   * `shutdown_reply` (`SHUTDOWN_REPLY`) or a stopped heart (`HEART_FAILED`). MUX requests
   * still pending on it fail `registrationTimeoutMs` later (or after `options.delayMs`: the
   * wiring passes 0 when the death is final, e.g. a stopped heart).
   *
   * @param id Engine id (unknown or already unregistered ids are ignored).
   * @param why The engine-record event.
   * @param options `delayMs`: delay before stranded MUX requests fail (default
   *   `registrationTimeoutMs`).
   * @returns The `unregistration_notification`, or null.
   */
  unregister(
    id: unknown,
    why: EngineRecordEvent["type"] = "UNREGISTER",
    options: { delayMs?: number } = {},
  ): Notification | null {
    if (typeof id !== "number") return null;
    const e = this.#engines.get(id);
    if (!e) return null;
    this.#engines.delete(id);
    this.#byUuid.delete(e.uuid);
    e.record.send({ type: why, at: this.#clock.now() });
    const delay = options.delayMs ?? this.registrationTimeoutMs;
    if (delay <= 0) {
      this.#strandMux(id, e.uuid);
      return { msgType: "unregistration_notification", content: { id, uuid: e.uuid } };
    }
    const timer = this.#clock.setTimer(delay, () => {
      this.#timers.delete(timer);
      this.#strandMux(id, e.uuid);
    });
    this.#timers.add(timer);
    return { msgType: "unregistration_notification", content: { id, uuid: e.uuid } };
  }

  /**
   * Stopped hearts from the heart monitor (§4.3): each registered one is unregistered.
   *
   * @param uuids The stopped hearts.
   * @param options `delayMs` as in {@link HubState.unregister}.
   * @returns The notifications, ascending id.
   */
  heartsStopped(uuids: readonly string[], options: { delayMs?: number } = {}): Notification[] {
    const ids = uuids.map((u) => this.#byUuid.get(u)?.id).filter((i) => i !== undefined);
    return ids.sort((a, b) => a - b).map((id) => this.unregister(id, "HEART_FAILED", options)!);
  }

  /** §4.5: MUX requests stranded on a dead engine are completed with an EngineError record. */
  #strandMux(id: number, uuid: string): void {
    const q = this.queues.get(id);
    if (!q) return;
    for (const msgId of [...q.queue]) {
      q.queue.delete(msgId);
      q.completed++;
      this.pending.delete(msgId);
      this.allCompleted.add(msgId, id);
      const now = this.now();
      this.#update(msgId, {
        result_content: errorContent(
          "EngineError",
          `Engine ${id} died while running task ${pyRepr(msgId)}`,
          "_handle_stranded_msgs",
        ) as unknown as JsonObject,
        result_header: { engine: uuid, date: now },
        result_buffers: [],
        completed: now,
        engine_uuid: uuid,
      });
    }
  }

  // ------------------------------------------------------------ traffic (§8.1)

  #update(msgId: string, changes: TaskRecordUpdate): void {
    const db = this.db;
    try {
      // `tryUpdate` returns false for a culled or missing record instead of building an error.
      if (db.tryUpdate !== undefined) db.tryUpdate(msgId, changes);
      else db.update(msgId, changes);
    } catch {
      // Python logs "DB Error updating record" and carries on; so do we (culled, NoDb…).
    }
  }

  /** Stores a new request record, merging what IOPub stored first (Python `save_*_request`). */
  #saveRequest(msg: HubMessage, extra: Partial<TaskRecord>): string {
    const h = msg.header;
    const msgId = String(h.msg_id);
    const rec: Partial<TaskRecord> = {
      header: h,
      content: msg.content,
      metadata: msg.metadata,
      buffers: msg.buffers === null ? null : msg.buffers ?? [],
      submitted: dateOrNull(h.date) ?? this.now(),
      client_uuid: typeof h.session === "string" ? h.session : null,
      ...extra,
    };
    if (this.db.has(msgId)) {
      // IOPub output stored first stays: the update only sets request fields. A resubmitted
      // record keeps its submission time, client and buffers (Python `save_task_request`).
      let existing: TaskRecord | undefined;
      try {
        existing = this.db.get(msgId);
      } catch { /* culled meanwhile */ }
      if (existing?.resubmitted) {
        delete rec.submitted;
        delete rec.client_uuid;
        delete rec.buffers;
      }
      this.#update(msgId, rec);
    } else {
      try {
        this.db.add({ msg_id: msgId, ...rec });
      } catch { /* logged by Python; nothing to do */ }
    }
    return msgId;
  }

  #resultFields(msg: HubMessage, engineUuid?: string): TaskRecordUpdate {
    const received = this.now();
    const fields: TaskRecordUpdate = {
      result_header: msg.header,
      result_metadata: msg.metadata,
      result_content: msg.content,
      result_buffers: msg.buffers === null ? null : msg.buffers ?? [],
      started: dateOrNull(msg.metadata.started),
      completed: dateOrNull(msg.header.date) ?? received,
      received,
    };
    if (engineUuid !== undefined) fields.engine_uuid = engineUuid;
    return fields;
  }

  /** A client's request to engine `engineUuid` on the MUX queue (ignored if not registered). */
  muxRequest(engineUuid: string, msg: HubMessage): void {
    const e = this.#byUuid.get(engineUuid);
    if (!e) return;
    const msgId = this.#saveRequest(msg, { engine_uuid: engineUuid, queue: "mux" });
    this.pending.add(msgId);
    this.queues.get(e.id)!.queue.add(msgId);
  }

  /** An engine's reply on the MUX queue. */
  muxReply(engineUuid: string, msg: HubMessage): void {
    const e = this.#byUuid.get(engineUuid);
    const msgId = msg.parent_header.msg_id;
    if (!e || typeof msgId !== "string") return;
    if (this.pending.has(msgId)) {
      this.pending.delete(msgId);
      this.allCompleted.add(msgId, e.id);
      const q = this.queues.get(e.id)!;
      q.queue.delete(msgId);
      q.completed++;
    } else if (!this.allCompleted.has(msgId)) return;
    this.#update(msgId, this.#resultFields(msg)); // even if late: unregistration may be premature
  }

  /** A client's load-balanced request, as the scheduler received it. */
  taskRequest(msg: HubMessage): void {
    const msgId = this.#saveRequest(msg, { queue: "task" });
    this.pending.add(msgId);
    this.unassigned.add(msgId);
  }

  /** `tracktask`: the scheduler sent task `msgId` to `engineUuid`. */
  taskDestination(msgId: string, engineUuid: string): void {
    this.unassigned.delete(msgId);
    const e = this.#byUuid.get(engineUuid);
    if (e) {
      const previous = this.#taskEngine.get(msgId); // a retry moved it
      if (previous !== undefined) this.queues.get(previous)?.tasks.delete(msgId);
      this.queues.get(e.id)!.tasks.add(msgId);
      this.#taskEngine.set(msgId, e.id);
    }
    this.#update(msgId, { engine_uuid: engineUuid });
  }

  /**
   * The final reply of a task (relayed or scheduler-made); `metadata.engine` names the engine.
   * @param msg The reply.
   * @param msgId The task's msg_id (default the reply's parent's; the relay passes the request's
   *   own string, which the Hub then keeps instead of a copy).
   */
  taskReply(msg: HubMessage, msgId: unknown = msg.parent_header.msg_id): void {
    if (typeof msgId !== "string") return;
    this.unassigned.delete(msgId);
    if (!this.pending.has(msgId)) return;
    const engineUuid = typeof msg.metadata.engine === "string" ? msg.metadata.engine : "";
    const e = this.#byUuid.get(engineUuid);
    this.pending.delete(msgId);
    // Tagged with the engine it counts on (-1: none, e.g. an aborted task).
    const listed = e !== undefined && msg.metadata.status !== "aborted";
    this.allCompleted.add(msgId, listed ? e.id : -1);
    // Python only cleans up when the replying engine is still registered; a task failed for a
    // dead engine would stay in its `tasks` list forever, so we also use the tracked engine.
    const tracked = this.#taskEngine.get(msgId);
    this.#taskEngine.delete(msgId);
    if (tracked !== undefined) this.queues.get(tracked)?.tasks.delete(msgId);
    if (e) {
      const q = this.queues.get(e.id)!;
      if (listed) q.completed++;
      q.tasks.delete(msgId);
    }
    this.#update(msgId, this.#resultFields(msg, engineUuid));
  }

  /**
   * An IOPub message (§8.1): output is stored on the parent's record (created if the request is
   * not known yet); a `shutdown_reply` unregisters the engine whose uuid is `header.session`.
   *
   * @param msg The IOPub message.
   * @returns The unregistration notification for a `shutdown_reply`, else null.
   */
  iopubMessage(msg: HubMessage): Notification | null {
    const type = msg.header.msg_type;
    if (type === "shutdown_reply") {
      const id = this.idOf(String(msg.header.session));
      return id === undefined ? null : this.unregister(id, "SHUTDOWN_REPLY");
    }
    const msgId = msg.parent_header.msg_id;
    if (type === "status" || typeof msgId !== "string") return null;
    const c = msg.content;
    const d: Record<string, unknown> = {};
    const known = this.db.has(msgId);
    if (type === "stream") {
      const name = c.name === "stderr" ? "stderr" : "stdout";
      let before = "";
      if (known) {
        try {
          before = this.db.get(msgId)[name];
        } catch { /* culled */ }
      }
      d[name] = before + String(c.text ?? "");
    } else if (type === "error") d.error = c;
    else if (type === "execute_input") d.execute_input = c.code;
    else if (type === "execute_result" || type === "display_data") d[type] = c;
    else return null;
    if (known) this.#update(msgId, d);
    else {
      try {
        this.db.add({ msg_id: msgId, ...d });
      } catch { /* NoDb or race */ }
    }
    return null;
  }

  /** Cancels timers and stops engine records; idempotent. */
  close(): void {
    for (const t of this.#timers) this.#clock.clearTimer(t);
    this.#timers.clear();
    for (const r of [...this.#incoming.values(), ...this.#engines.values()]) r.record.stop();
  }
}
