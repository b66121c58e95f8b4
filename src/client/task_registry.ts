/**
 * {@link TaskRegistry}: every request this client sent, as task actors while outstanding and
 * as plain records once settled (DESIGN.md "The actors").
 *
 * Replies (MUX, task, broadcast) and IOPub messages addressed to a task become one event for
 * that task's actor here, after the message was decoded once. `outstanding` is the set of
 * tasks that are not final. Settled results are cached for look-up by msg_id, at most
 * `maxCachedResults` of them: ipyparallel keeps every result forever, the most common memory
 * complaint of its users. Results that an AsyncResult already read go first, then the oldest
 * unread. An AsyncResult keeps its own results when they settle, so eviction never takes a
 * value from an AsyncResult; it only ends look-ups by msg_id (the Hub still has them).
 *
 * ## Hot path (DESIGN.md "Performance principles")
 *
 * Every event that can change a task's outcome goes to the task's actor, and a task leaves
 * `outstanding` only when its actor reaches a final state. An actor costs ~2 µs to create and
 * settle in a hot loop and several times that among the socket work (`task_machine.ts`), so the
 * common path is kept short without bypassing the machine:
 *
 * - **Lazy actor**, created at the first delivered event in the machine's initial state
 *   (`pending`), which the record reports until then.
 * - **Deferred `STARTED`**: IOPub `busy` is noted in the record (`running`) and delivered at
 *   once while an abort is pending, otherwise just before any later event (an `ABORT` must find
 *   the task `running`; a `REPLY` has the same targets from `pending` and `running`).
 * - **Reply and idle combined**: a reply whose output is still due is held in the record; the
 *   IOPub `idle` then delivers one `REPLY` with `outputComplete: true`, which reaches the state
 *   `REPLY` then `IOPUB_IDLE` would. An `idle` that comes first (§6.6) is held the same way
 *   (the record reports `outputDone`) and the reply delivers that same single `REPLY`:
 *   `outputDone` and `pending`/`running`/`aborting` send a complete reply to the same state.
 *
 * Deferred events are delivered in order before the next event, so the actor goes through the
 * transitions of the undeferred sequence; `stateOf` reports the state it is about to be in.
 * Replies waiting for their `idle` share one output timer (a queue in deadline order).
 *
 * @module
 */

import {
  ControllerLostError,
  EngineError,
  IppError,
  OutstandingTasksError,
  TaskAborted,
  TaskTimeout,
  UnknownTaskError,
} from "../errors.ts";
import type { FinalTaskState, TaskEvent, TaskState } from "./actors/task_machine.ts";
import { startTaskActor } from "./actors/task_machine.ts";
import type { Clock } from "./clock.ts";
import { systemClock } from "./clock.ts";
import type { IncomingMessage, ResultDecoder } from "./messages.ts";
import { Metadata } from "./metadata.ts";
import type { ResultSource, TaskResult } from "./result_source.ts";
import { fillReplyMetadata, recordOutput, replyOutcome } from "./reply_values.ts";
import {
  ABORT,
  CONTROLLER_LOST,
  ENGINE_DIED,
  IOPUB_IDLE,
  OUTPUT_TIMEOUT,
  OutputWaits,
  REPLY_ERROR,
  REPLY_ERROR_COMPLETE,
  REPLY_OK,
  REPLY_OK_COMPLETE,
  RESUBMITTED,
  STARTED,
  TaskRecord,
  TIMEOUT,
  type TrackOptions,
} from "./task_record.ts";
import { type TraceSink, traceTransitions } from "./actors/trace.ts";
import { SettledResults } from "./settled_results.ts";

/** How the registry learns engine ids and tells engines about their direct tasks. */
export interface EngineTracker {
  /** The engine id for a uuid, if the engine is known. */
  engineIdOf(uuid: string): number | undefined;
  /** A request was sent directly to this engine. */
  taskAssigned(uuid: string, msgId: string): void;
  /** A request sent directly to this engine settled. */
  taskFinished(uuid: string, msgId: string): void;
}

/** Options of {@link TaskRegistry}. */
export interface TaskRegistryOptions {
  /** Turns `apply_reply` buffers (and `data_message` buffers) into values (PROTOCOL.md §9.4). */
  decode: ResultDecoder;
  /** How many settled results to keep for look-up by msg_id (default 10 000; `Infinity` = all). */
  maxCachedResults?: number;
  /** Time source for `received` and local `submitted` stamps (default: the system clock). */
  clock?: Clock;
  /** Engine ids and direct-task bookkeeping (the client's engine table). */
  engines?: EngineTracker;
  /**
   * How long a task that has its reply waits for its IOPub `idle` before it settles with the
   * output captured so far, in milliseconds (default 10 000; `Infinity` waits for ever). IOPub
   * is PUB/SUB and drops messages at its high-water mark, so the idle can be lost.
   */
  outputTimeoutMs?: number;
  /** Called for a reply nobody waits for (unknown, or already settled). */
  onStray?: (msgId: string, message: IncomingMessage) => void;
  /** Logs each task actor's state transitions (the client's `debug`); none by default. */
  trace?: TraceSink;
}

/**
 * Tasks of one client, by msg_id.
 *
 * @example
 * ```ts
 * import { TaskRegistry } from "./task_registry.ts";
 * const decode = (b: Uint8Array[]) => ({
 *   value: JSON.parse(new TextDecoder().decode(b[0])),
 *   rest: b.slice(1),
 * });
 * const tasks = new TaskRegistry({ decode });
 * tasks.track("m1");
 * tasks.handleReply({
 *   header: { msg_id: "r1", msg_type: "apply_reply" },
 *   parent_header: { msg_id: "m1" },
 *   metadata: { status: "ok" },
 *   content: { status: "ok" },
 *   buffers: [new TextEncoder().encode("42")],
 * });
 * tasks.handleIopub({
 *   header: { msg_id: "s1", msg_type: "status" },
 *   parent_header: { msg_id: "m1" },
 *   metadata: {},
 *   content: { execution_state: "idle" },
 *   buffers: [],
 * });
 * console.log(tasks.resultOf("m1")?.value); // 42
 * ```
 */
export class TaskRegistry implements ResultSource {
  readonly #live = new Map<string, TaskRecord>();
  readonly #outstanding = new Set<string>();
  readonly #settled: SettledResults;
  readonly #decode: ResultDecoder;
  readonly #clock: Clock;
  readonly #engines: EngineTracker | undefined;
  readonly #onStray: TaskRegistryOptions["onStray"];
  readonly #trace: TraceSink | undefined;
  // Tasks with their reply and waiting for their idle (module doc, "Hot path").
  readonly #outputWaits: OutputWaits | undefined;
  #resubmissions = 0;
  readonly #engineIdOf = (uuid: string) => this.#engines?.engineIdOf(uuid);

  /**
   * Creates an empty registry.
   *
   * @param options Decoder, cache limit, clock and engine table.
   */
  constructor(options: TaskRegistryOptions) {
    this.#settled = new SettledResults(options.maxCachedResults ?? 10_000);
    this.#decode = options.decode;
    this.#clock = options.clock ?? systemClock;
    this.#engines = options.engines;
    this.#onStray = options.onStray;
    this.#trace = options.trace;
    const outputTimeoutMs = options.outputTimeoutMs ?? 10_000;
    if (!(outputTimeoutMs >= 0)) {
      throw new RangeError(`outputTimeoutMs must be >= 0, got ${outputTimeoutMs}`);
    }
    this.#outputWaits = outputTimeoutMs === Infinity
      ? undefined
      : new OutputWaits(this.#clock, outputTimeoutMs, (rec) => {
        if (rec.actor !== null) this.#send(rec, OUTPUT_TIMEOUT);
      });
  }

  /** msg_ids of the tasks that are not final. */
  get outstanding(): ReadonlySet<string> {
    return this.#outstanding;
  }

  /** How many settled results are cached now. */
  get cachedCount(): number {
    return this.#settled.size;
  }

  /** How many settled results were dropped to respect `maxCachedResults`. */
  get evictedCount(): number {
    return this.#settled.evicted;
  }

  /** The task's state (a {@link TaskState}), or `undefined` if unknown or evicted. */
  stateOf(msgId: string): TaskState | undefined {
    return this.#find(msgId)?.state;
  }

  /**
   * Starts tracking a request: it is outstanding, in its task actor's initial state.
   *
   * @param msgId The request's msg_id.
   * @param options Whether it is sent yet, its direct engine, whether output follows.
   * @returns The request's metadata record.
   * @throws {IppError} The msg_id is already outstanding.
   */
  track(msgId: string, options: TrackOptions = {}): Metadata {
    if (this.#live.has(msgId)) throw new IppError(`Task ${msgId} is already outstanding`);
    this.#settled.delete(msgId);
    const md = new Metadata(msgId, new Date(options.submitted ?? this.#clock.now()));
    const rec = new TaskRecord(
      msgId,
      md,
      options.engineUuid,
      options.expectOutput ?? true,
    );
    this.#live.set(msgId, rec);
    this.#outstanding.add(msgId);
    if (options.engineUuid !== undefined) this.#engines?.taskAssigned(options.engineUuid, msgId);
    return md;
  }

  /**
   * Feeds one `apply_reply` or `execute_reply` (from MUX, task or broadcast; PROTOCOL.md §9.5).
   * A coalesced broadcast reply is keyed by `metadata.original_msg_id` and yields a list.
   */
  handleReply(msg: IncomingMessage): void {
    const meta = msg.metadata;
    const coalesced = meta.is_broadcast === true && meta.is_coalescing === true;
    const msgId = coalesced ? String(meta.original_msg_id) : msg.parent_header.msg_id ?? "";
    const rec = this.#live.get(msgId);
    if (rec === undefined || rec.hasReply) {
      // A task failed when its engine stopped can still get that engine's own reply (a
      // shutdown answers queued requests after its shutdown reply): expected, not a stray.
      if (rec === undefined && this.#find(msgId)?.error instanceof EngineError) return;
      this.#onStray?.(msgId, msg);
      return;
    }
    if (msg.content.status === "resubmitted") return; // ipyparallel ignores these too
    fillReplyMetadata(rec.metadata, msg, {
      coalesced,
      receivedMs: this.#clock.now(),
      engineIdOf: this.#engineIdOf,
    });
    rec.hasReply = true;
    const outcome = replyOutcome(msgId, msg, rec.metadata, {
      coalesced,
      expectOutput: rec.expectOutput,
      outputsSeen: rec.outputsSeen,
      decode: this.#decode,
      engineIdOf: this.#engineIdOf,
    });
    if (outcome.error === undefined) rec.value = outcome.value;
    else rec.error = outcome.error;
    const replyStatus = outcome.status;
    let outputComplete = outcome.outputComplete;
    const state = rec.state;
    if (
      replyStatus !== "aborted" && !outputComplete &&
      (state === "pending" || state === "running" || state === "aborting")
    ) {
      // Output still due: hold the REPLY until the idle (module doc, "Hot path").
      rec.replyDeferred = replyStatus;
      rec.state = replyStatus === "ok" ? "repliedOk" : "repliedError";
      this.#outputWaits?.add(rec);
      return;
    }
    if (rec.idleDeferred) {
      // The idle came first: one complete REPLY (module doc, "Hot path"); `#idle` already
      // dropped any deferred STARTED.
      rec.idleDeferred = false;
      outputComplete = true;
    }
    this.#send(rec, { type: "REPLY", status: replyStatus, outputComplete });
  }

  /**
   * Feeds one IOPub message whose parent is a request of this client (the caller filters
   * by `parent_header.session`, PROTOCOL.md §6.6). Output lands in the task's metadata;
   * `status` busy and idle drive its actor.
   */
  handleIopub(msg: IncomingMessage): void {
    const rec = this.#live.get(msg.parent_header.msg_id ?? "");
    if (rec === undefined) return;
    if (msg.header.msg_type === "status") this.#status(rec, msg.content.execution_state);
    else {
      rec.outputsSeen++;
      recordOutput(rec.metadata, msg, this.#decode, this.#engineIdOf);
    }
  }

  /**
   * IOPub `status` of a request of this client, not decoded (the reader's header-only path).
   * @param parentMsgId The request's msg_id (`parent_header.msg_id`).
   * @param executionState `content.execution_state`.
   */
  handleStatus(parentMsgId: string, executionState: unknown): void {
    const rec = this.#live.get(parentMsgId);
    if (rec === undefined) return;
    this.#status(rec, executionState);
  }

  /** IOPub `status` busy or idle for the task. */
  #status(rec: TaskRecord, executionState: unknown): void {
    if (executionState === "idle") this.#idle(rec);
    else if (executionState === "busy") {
      if (rec.state === "pending") {
        // Deferred: only an ABORT tells `pending` from `running` (module doc).
        rec.startedDeferred = true;
        rec.state = "running";
      } else if (rec.state === "aborting") this.#send(rec, STARTED);
    }
  }

  /**
   * Requests abort of these tasks. Unsent tasks are aborted at once; the others wait for the
   * engine's aborted reply (a running task cannot be aborted and ignores this).
   *
   * @returns The msg_ids an `abort_request` must still be sent for.
   */
  abort(msgIds: Iterable<string>): string[] {
    const onWire: string[] = [];
    for (const msgId of msgIds) {
      const rec = this.#live.get(msgId);
      if (rec === undefined) continue;
      this.#send(rec, ABORT);
      if (rec.state === "aborting") onWire.push(msgId);
    }
    return onWire;
  }

  /** The task's engine died or was shut down while it held the task. */
  engineDied(msgId: string, error: EngineError): void {
    const rec = this.#live.get(msgId);
    if (rec !== undefined) this.#send(rec, ENGINE_DIED, error);
  }

  /**
   * The request never left: its socket refused it (closed client, transport failure). The task
   * fails with `error`.
   */
  sendFailed(msgId: string, error: Error): void {
    const rec = this.#live.get(msgId);
    if (rec !== undefined) this.#send(rec, CONTROLLER_LOST, error);
  }

  /** The task ran out of time on the client's side. */
  timedOut(msgId: string, error: TaskTimeout = new TaskTimeout(`Task ${msgId} timed out`)): void {
    const rec = this.#live.get(msgId);
    if (rec !== undefined) this.#send(rec, TIMEOUT, error);
  }

  /**
   * The Hub resubmitted tasks (`resubmit_reply.resubmitted`, PROTOCOL.md §5.7). Each old task
   * settles as `resubmitted` (a settled one is relabelled, and {@link resubmissions} counts
   * up so AsyncResults holding it follow too), and its successor is tracked in its place; the
   * successor's reply goes to the Hub, so feed its outcome with {@link settleFromHub}; no
   * IOPub `idle` is awaited for it. Anyone waiting on the old msg_id waits on the successor.
   */
  resubmitted(pairs: Record<string, string>): void {
    for (const [oldId, newId] of Object.entries(pairs)) {
      if (!this.#live.has(newId)) this.track(newId, { expectOutput: false });
      const old = this.#find(oldId);
      if (old === undefined) continue;
      old.successor = newId;
      if (old.actor !== null) this.#send(old, RESUBMITTED);
      else {
        old.state = "resubmitted";
        this.#resubmissions++;
      }
    }
  }

  /**
   * How many settled tasks were relabelled `resubmitted` so far: an AsyncResult that holds
   * settled results checks it to know when to follow successors.
   */
  get resubmissions(): number {
    return this.#resubmissions;
  }

  /**
   * Settles a tracked task with its outcome as the Hub recorded it (`result_reply`, §5.3): the
   * successor of a resubmitted task, whose reply goes to the Hub and not to this client.
   * Metadata the Hub knows fills what IOPub did not bring here. Unknown or settled msg_ids
   * are ignored.
   *
   * @param msgId The task.
   * @param outcome Its value or error, and the Hub's metadata for it.
   */
  settleFromHub(
    msgId: string,
    outcome: { value?: unknown; error?: Error; metadata?: Metadata },
  ): void {
    const rec = this.#live.get(msgId);
    if (rec === undefined || rec.hasReply) return;
    if (outcome.metadata !== undefined) rec.metadata.fillFrom(outcome.metadata);
    rec.hasReply = true;
    let status: "ok" | "error" | "aborted" = "ok";
    if (outcome.error === undefined) rec.value = outcome.value;
    else {
      rec.error = outcome.error;
      status = outcome.error instanceof TaskAborted ? "aborted" : "error";
    }
    this.#send(rec, { type: "REPLY", status, outputComplete: true });
  }

  /**
   * The client closes: every outstanding task fails (with `ControllerLostError` unless another
   * error is given), so nothing awaits a result that cannot arrive. Idempotent.
   */
  close(
    error: Error = new ControllerLostError(
      "The client was closed while the task was outstanding (its result is still at the Hub)",
    ),
  ): void {
    this.controllerLost(error);
  }

  /** The controller is gone: every outstanding task fails with `error`. */
  controllerLost(error: Error): void {
    for (const rec of [...this.#live.values()]) {
      this.#send(rec, CONTROLLER_LOST, error);
    }
    this.#outputWaits?.stop();
  }

  /**
   * Forgets settled results.
   *
   * @param msgIds The msg_ids to forget, or `"all"`.
   * @throws {OutstandingTasksError} Any of them (with `"all"`: any task) is outstanding.
   */
  purge(msgIds: readonly string[] | "all"): void {
    if (msgIds === "all") {
      if (this.#outstanding.size > 0) throw new OutstandingTasksError([...this.#outstanding]);
      this.#settled.clear();
      return;
    }
    const busy = msgIds.filter((id) => this.#outstanding.has(id));
    if (busy.length > 0) throw new OutstandingTasksError(busy);
    for (const id of msgIds) this.#settled.delete(id);
  }

  // -- ResultSource ---------------------------------------------------------------------------

  /** {@inheritDoc ResultSource.metadataOf} */
  metadataOf(msgId: string): Metadata {
    return this.#get(msgId).metadata;
  }

  /** {@inheritDoc ResultSource.resultOf} */
  resultOf(msgId: string): TaskResult | undefined {
    let rec = this.#get(msgId);
    while (rec.state === "resubmitted" && rec.successor !== undefined) {
      const next = this.#find(rec.successor);
      if (next === undefined) return rec as TaskResult;
      rec = next;
    }
    return rec.final ? rec as TaskResult : undefined;
  }

  /** {@inheritDoc ResultSource.onSettled} */
  onSettled(msgId: string, callback: (result: TaskResult) => void): () => void {
    const settled = this.resultOf(msgId);
    if (settled !== undefined) {
      callback(settled);
      return () => {};
    }
    let rec = this.#get(msgId);
    while (rec.final && rec.successor !== undefined) rec = this.#get(rec.successor);
    const watchers = rec.watchers ??= [];
    watchers.push(callback);
    return () => {
      const list = rec.watchers;
      const i = list === null ? -1 : list.indexOf(callback);
      if (i >= 0) list!.splice(i, 1);
    };
  }

  /** {@inheritDoc ResultSource.markConsumed} */
  markConsumed(msgIds: readonly string[]): void {
    this.#settled.markRead(msgIds);
  }

  // -- internals -------------------------------------------------------------------------------

  #find(msgId: string): TaskRecord | undefined {
    return this.#live.get(msgId) ?? this.#settled.get(msgId);
  }

  #get(msgId: string): TaskRecord {
    const rec = this.#find(msgId);
    if (rec === undefined) throw new UnknownTaskError(msgId);
    return rec;
  }

  /**
   * Sends one event, after the deferred ones (module doc); settles the record if the actor
   * reached a final state.
   */
  #send(rec: TaskRecord, event: TaskEvent, cause?: Error): void {
    // Created at its first delivered event, in its initial state (module doc); traced if asked.
    const actor = rec.actor ??= startTaskActor(
      this.#trace && traceTransitions(`task ${rec.msgId}`, this.#trace),
    );
    if (rec.startedDeferred) {
      rec.startedDeferred = false;
      actor.send(STARTED);
    }
    if (rec.idleDeferred) {
      rec.idleDeferred = false;
      actor.send(IOPUB_IDLE);
    }
    const held = rec.replyDeferred;
    if (held !== null) {
      rec.replyDeferred = null;
      actor.send(held === "ok" ? REPLY_OK : REPLY_ERROR);
    }
    actor.send(event);
    const snapshot = actor.getSnapshot();
    rec.state = snapshot.value as TaskState;
    if (snapshot.status === "done") this.#settle(rec, cause);
  }

  /** IOPub `idle` for the task: its output is complete. */
  #idle(rec: TaskRecord): void {
    const held = rec.replyDeferred;
    if (held === null) {
      const state = rec.state;
      if (!rec.hasReply && (state === "pending" || state === "running" || state === "aborting")) {
        // Before the reply: held until it comes (module doc); STARTED is not needed for it.
        rec.idleDeferred = true;
        rec.startedDeferred = false;
        rec.state = "outputDone";
        return;
      }
      this.#send(rec, IOPUB_IDLE);
      return;
    }
    // REPLY(outputComplete) from pending/running/aborting reaches the state REPLY + IOPUB_IDLE
    // reach; STARTED is not needed for it (same targets from pending and running).
    rec.replyDeferred = null;
    rec.startedDeferred = false;
    this.#send(rec, held === "ok" ? REPLY_OK_COMPLETE : REPLY_ERROR_COMPLETE);
  }

  #settle(rec: TaskRecord, cause: Error | undefined): void {
    const msgId = rec.msgId;
    const state = rec.state as FinalTaskState;
    rec.actor = null; // a final actor has stopped itself
    this.#outputWaits?.delete(msgId);
    this.#live.delete(msgId);
    this.#outstanding.delete(msgId);
    if (rec.engineUuid !== undefined) this.#engines?.taskFinished(rec.engineUuid, msgId);
    if ((state === "failed" || state === "aborted") && rec.error === undefined) {
      rec.error = cause ?? (state === "aborted" ? new TaskAborted(msgId) : new IppError(
        `Task ${msgId} failed`,
      ));
      const md = rec.metadata;
      if (!rec.hasReply) {
        md.status = state === "aborted" ? "aborted" : "error";
        md.received = new Date(this.#clock.now());
        if (rec.engineUuid !== undefined && md.engineUuid === null) md.engineUuid = rec.engineUuid;
      }
    }
    this.#settled.add(rec);
    const watchers = rec.watchers;
    rec.watchers = null;
    if (watchers === null) return;
    if (state === "resubmitted" && rec.successor !== undefined) {
      // Whoever waited for this task now waits for its successor.
      for (const w of watchers) this.onSettled(rec.successor, w);
      return;
    }
    for (const w of watchers) w(rec as TaskResult);
  }
}
