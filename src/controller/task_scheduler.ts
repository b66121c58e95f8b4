/**
 * The load-balancing task scheduler's logic, without sockets (PROTOCOL.md §7).
 *
 * Events in: {@link TaskScheduler.registerEngine}, {@link TaskScheduler.unregisterEngine},
 * {@link TaskScheduler.submit}, {@link TaskScheduler.reply}, and timers of an injected
 * {@link Clock}. Actions out, through `emit`, in the order they must be sent:
 *
 * - `dispatch`: send the unchanged request frames to `engine` (`[engine, client, …]`);
 * - `track`: tell the Hub where the task went (`tracktask`);
 * - `relay`: send the engine's reply to the client unchanged (`[client, engine, …]`), and
 *   report it to the Hub (`outtask`);
 * - `fail`: build an `apply_reply` with `content` and report it to the Hub. Without `engine`
 *   (ImpossibleDependency, InvalidDependency, TaskTimeout) the reply has metadata `{}` and goes
 *   to the client with no identity frame (§7.7); with `engine` (EngineError for a task
 *   stranded on a dead engine, §7.6) metadata is `{status: "error", engine, date}` and the
 *   dead engine's uuid is the identity frame.
 *
 * Decisions (see also the report of issue 4):
 * - Engine death: tasks pending on an unregistered engine get a fabricated EngineError after
 *   `strandedDelayMs` (default 5000 ms, as Python: a reply already in flight may still arrive
 *   and wins); `unregisterEngine(uuid, {delayMs: 0})` makes it immediate, for deaths that are
 *   final such as a heart failure. The fabricated failure goes through the retry logic.
 * - Quirk #26 is fixed: when a *failed* task with retries left has no target engine left
 *   to retry on, the task's own error is delivered instead of ImpossibleDependency. Unmet
 *   functional dependencies (`dependencies_met: false`) still end in ImpossibleDependency.
 *   Without `targets`, a task whose every engine is blacklisted waits (quirk #21, kept:
 *   ipyparallel's `test_retries` expects TaskTimeout then).
 * - Malformed scheduling metadata (bad dependency lists, `success=failure=false`, non-list
 *   `targets`) fails the task with InvalidDependency; Python drops it with a logged error.
 * - The EngineError text names the uuid plainly, not as Python bytes (`b'…'`, quirk #24).
 * - Queue order is submission order; a task re-queued for a retry goes to the back. The
 *   queue of dependency-free tasks is a heap on that order, so a million queued tasks do not
 *   make a dispatch O(n); only tasks with `follow`/`targets`/a blacklist are scanned.
 *
 * @module
 */

import { MalformedDependency } from "../errors.ts";
import { type Clock, systemClock, type TimerId } from "./clock.ts";
import { type Dependency, MET } from "./dependency.ts";
import { errorContent } from "./error_content.ts";
import { type EngineTiming, PrefetchPolicy } from "./prefetch.ts";
import type * as T from "./scheduler_types.ts";
import { type Scheme, schemeByName } from "./schemes.ts";
import { SeqHeap, SeqList } from "./task_queue.ts";
import { parseTaskMetadata, type TaskMetadata } from "./task_metadata.ts";
import { TaskOutcomes } from "./task_outcomes.ts";

export type { TaskMetadata };
export type {
  FailureReason,
  ReplyStatus,
  SchedulerAction,
  TaskSchedulerOptions,
  TaskState,
} from "./scheduler_types.ts";

interface Job<P> {
  msgId: string;
  payload: P;
  after: Dependency;
  follow: Dependency;
  targets: Set<string> | null;
  retries: number;
  timeoutMs: number;
  blacklist: Set<string>;
  state: T.TaskState;
  qseq: number;
  sentAt: number;
  timer?: TimerId;
}

interface Engine<P> {
  uuid: string;
  load: number;
  pending: Map<string, Job<P>>; // dispatch order: the first is the one running
  timing: EngineTiming;
  strandTimer?: TimerId;
}

/**
 * Load-balancing scheduler state machine.
 *
 * @example
 * ```ts
 * const actions: unknown[] = [];
 * const s = new TaskScheduler<string, string>({ emit: (a) => actions.push(a) });
 * s.registerEngine("e0");
 * s.submit("t1", {}, "frames"); // → dispatch t1 to e0, track
 * s.reply("e0", "t1", { status: "ok" }, "reply"); // → relay
 * s.close();
 * ```
 */
export class TaskScheduler<P = unknown, R = unknown> {
  /** Max outstanding tasks per engine (0 = unlimited). */
  readonly hwm: number;
  /** Max outstanding tasks per engine while it is fast (≤ `hwm`: no prefetch). */
  readonly prefetch: number;
  /** Delay before stranded tasks fail, in ms. */
  readonly strandedDelayMs: number;
  #emit: (action: T.SchedulerAction<P, R>) => void;
  #scheme: Scheme;
  #rng: () => number;
  #clock: Clock;
  #policy: PrefetchPolicy;
  #now = 0; // clock time of the event being handled
  #engines: Engine<P>[] = []; // LRU order: least recently used first
  #byUuid = new Map<string, Engine<P>>();
  #dead = new Map<string, Engine<P>>();
  #jobs = new Map<string, Job<P>>(); // tasks not yet finished
  #ready: SeqHeap<Job<P>>;
  #waiting: SeqList<Job<P>>;
  #outcomes = new TaskOutcomes();
  #qseq = 0;
  #running = 0;
  #out: T.SchedulerAction<P, R>[] = [];
  #flushing = false;
  #finished: string[] = [];
  #propagating = false;
  #closed = false;

  /**
   * Creates a scheduler with no engines.
   * @param options See {@link TaskSchedulerOptions}.
   * @throws {RangeError} For an invalid `hwm`, `prefetch` or `prefetchFastMs`, or an unknown
   * scheme name.
   */
  constructor(options: T.TaskSchedulerOptions<P, R>) {
    this.#policy = new PrefetchPolicy({ // validates the three
      hwm: options.hwm ?? 1,
      prefetch: options.prefetch ?? 1,
      fastMs: options.prefetchFastMs ?? 10,
    });
    this.hwm = this.#policy.hwm;
    this.prefetch = this.#policy.prefetch;
    this.strandedDelayMs = options.strandedDelayMs ?? 5000;
    this.#emit = options.emit;
    this.#scheme = typeof options.scheme === "function"
      ? options.scheme
      : schemeByName(options.scheme ?? "leastload");
    this.#rng = options.rng ?? Math.random;
    this.#clock = options.clock ?? systemClock;
    this.#ready = new SeqHeap((j, q) => j.state === "ready" && j.qseq === q);
    this.#waiting = new SeqList((j, q) => j.state === "waiting" && j.qseq === q);
  }

  // ---------------------------------------------------------------- inspection

  /** Registered engines and their loads, least recently used first. */
  engines(): { uuid: string; load: number }[] {
    return this.#engines.map((e) => ({ uuid: e.uuid, load: e.load }));
  }

  /** Number of tasks queued (blocked, waiting or ready). */
  get queued(): number {
    return this.#jobs.size - this.#running;
  }

  /** msg_ids dispatched to `uuid` and not answered (dead engines included until stranded). */
  pendingOn(uuid: string): string[] {
    const e = this.#byUuid.get(uuid) ?? this.#dead.get(uuid);
    return e ? [...e.pending.keys()] : [];
  }

  /** Where a task is, or undefined if never submitted. */
  taskState(msgId: string): T.TaskState | undefined {
    const j = this.#jobs.get(msgId);
    if (j) return j.state;
    return this.#outcomes.stateOf(msgId);
  }

  // ---------------------------------------------------------------- events

  /** A registration notification: the engine joins at the front of the LRU order (§4.4). */
  registerEngine(uuid: string): void {
    this.#run(() => {
      if (this.#byUuid.has(uuid)) return;
      const old = this.#dead.get(uuid);
      if (old) this.#strand(old); // a new incarnation: settle the old one's tasks first
      const e: Engine<P> = {
        uuid,
        load: 0,
        pending: new Map(),
        timing: this.#policy.timing(this.#now),
      };
      this.#engines.unshift(e);
      this.#byUuid.set(uuid, e);
      this.#drain();
    });
  }

  /**
   * An unregistration notification: the engine gets no more tasks; its pending tasks fail
   * with EngineError after `delayMs` (default `strandedDelayMs`) unless answered first (§7.6).
   */
  unregisterEngine(uuid: string, options: { delayMs?: number } = {}): void {
    this.#run(() => {
      const e = this.#byUuid.get(uuid);
      if (!e) return;
      this.#byUuid.delete(uuid);
      this.#engines.splice(this.#engines.indexOf(e), 1);
      if (!e.pending.size) return;
      this.#dead.set(uuid, e);
      const delay = options.delayMs ?? this.strandedDelayMs;
      if (delay <= 0) this.#strand(e);
      else e.strandTimer = this.#clock.setTimer(delay, () => this.#run(() => this.#strand(e)));
    });
  }

  /**
   * A load-balanced request from a client (§7.3 "On submission").
   *
   * @param msgId The request's `header.msg_id`.
   * @param metadata The request's metadata (defaults per §7.1).
   * @param payload Opaque; handed back in `dispatch`/`fail` actions.
   * @returns False if a task with this msg_id is still active (the request is ignored).
   */
  submit(msgId: string, metadata: TaskMetadata | null | undefined, payload: P): boolean {
    if (this.#jobs.has(msgId)) return false;
    this.#run(() => this.#submit(msgId, metadata ?? {}, payload));
    return true;
  }

  /**
   * An engine's reply to a task (§7.5), identified by `parent_header.msg_id`.
   *
   * @param engine The replying engine's uuid.
   * @param msgId The task's msg_id.
   * @param status The reply's `metadata.status` and `dependencies_met`.
   * @param reply Opaque; handed back in the `relay` action.
   * @returns False if the task was not pending on that engine (stale reply, ignored).
   */
  reply(engine: string, msgId: string, status: T.ReplyStatus, reply: R): boolean {
    const e = this.#byUuid.get(engine) ?? this.#dead.get(engine);
    const job = e?.pending.get(msgId);
    if (!e || !job) return false;
    this.#run(() => {
      e.pending.delete(msgId);
      this.#running--;
      this.#policy.completed(e.timing, job.sentAt, this.#now);
      if (this.#byUuid.has(engine)) e.load--;
      else if (!e.pending.size) {
        // the dead engine answered everything after all: nothing left to strand
        if (e.strandTimer !== undefined) this.#clock.clearTimer(e.strandTimer);
        this.#dead.delete(engine);
      }
      if (status.dependenciesMet === false) {
        this.#retryElsewhere(job, engine, null);
      } else if (status.status !== "ok" && job.retries > 0) {
        job.retries--;
        this.#retryElsewhere(job, engine, { reply });
      } else {
        // The engine's own uuid string: the reply's is a fresh copy, and outcomes keep it.
        this.#finish(job, e.uuid, status.status === "ok", reply);
      }
      this.#drain();
    });
    return true;
  }

  /**
   * Forgets finished tasks (their outcome and engine), bounding memory after a Hub purge.
   * Active tasks are untouched. A later dependency on a forgotten id is InvalidDependency.
   *
   * @param msgIds msg_ids to forget.
   */
  forget(msgIds: Iterable<string>): void {
    for (const id of msgIds) {
      if (!this.#jobs.has(id)) this.#outcomes.forget(id);
    }
  }

  /** Cancels every timer; the scheduler must not be used afterwards. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const j of this.#jobs.values()) this.#clearTimer(j);
    for (const e of this.#dead.values()) {
      if (e.strandTimer !== undefined) this.#clock.clearTimer(e.strandTimer);
    }
  }

  // ---------------------------------------------------------------- internals

  /** Runs one event and emits its actions in order (nested events append to the same batch). */
  #run(fn: () => void): void {
    this.#now = this.#clock.now();
    fn();
    if (this.#flushing) return;
    this.#flushing = true;
    const out = this.#out;
    let i = 0;
    try {
      // index walk, not shift(): a registration can release a million actions at once
      while (i < out.length) this.#emit(out[i++]);
    } finally {
      out.splice(0, i);
      this.#flushing = false;
    }
  }

  #submit(msgId: string, md: TaskMetadata, payload: P): void {
    this.#outcomes.submitted(msgId);
    const job: Job<P> = {
      msgId,
      payload,
      after: MET,
      follow: MET,
      targets: null,
      retries: 0,
      timeoutMs: 0,
      blacklist: new Set(),
      state: "blocked",
      qseq: 0,
      sentAt: 0,
    };
    this.#jobs.set(msgId, job);
    try {
      Object.assign(job, parseTaskMetadata(md));
    } catch (err) {
      if (!(err instanceof MalformedDependency)) throw err;
      return this.#fail(job, "InvalidDependency");
    }
    const outcomes = this.#outcomes;
    job.after = outcomes.reduce(job.after);
    for (const dep of [job.after, job.follow]) {
      if (!dep.ids.size) continue;
      for (const id of dep.ids) {
        if (id === msgId || !outcomes.known(id)) return this.#fail(job, "InvalidDependency");
      }
      if (outcomes.isUnreachable(dep)) {
        return this.#fail(job, "ImpossibleDependency");
      }
    }
    this.#enqueue(job, true);
    this.#drain();
    this.#arm(job);
  }

  /** Puts a job in the queue matching its constraints, with a fresh or kept sequence number. */
  #enqueue(job: Job<P>, fresh: boolean): void {
    if (fresh) {
      job.qseq = ++this.#qseq;
      this.#outcomes.waitOn(job.msgId, job.after.ids);
      this.#outcomes.waitOn(job.msgId, job.follow.ids);
    }
    if (!this.#outcomes.isMet(job.after)) {
      job.state = "blocked";
    } else if (job.follow.ids.size || job.targets || job.blacklist.size) {
      job.state = "waiting";
      this.#waiting.insert(job, job.qseq);
    } else {
      job.state = "ready";
      this.#ready.push(job, job.qseq);
    }
  }

  /** Starts the queue timeout of a job that is still queued (§7.6: measured from queueing). */
  #arm(job: Job<P>): void {
    if (!job.timeoutMs || !this.#isQueued(job)) return;
    this.#clearTimer(job);
    job.timer = this.#clock.setTimer(Math.max(0, job.timeoutMs), () => {
      job.timer = undefined;
      this.#run(() => {
        if (this.#jobs.get(job.msgId) !== job || !this.#isQueued(job)) return;
        this.#fail(job, "TaskTimeout");
        this.#drain();
      });
    });
  }

  #isQueued(job: Job<P>): boolean {
    return job.state === "blocked" || job.state === "waiting" || job.state === "ready";
  }

  #clearTimer(job: Job<P>): void {
    if (job.timer !== undefined) {
      this.#clock.clearTimer(job.timer);
      job.timer = undefined;
    }
  }

  #hasCapacity(e: Engine<P>): boolean {
    if (this.hwm === 0 || e.load < this.hwm) return true;
    if (!this.#policy.adaptive) return false;
    const head = e.pending.values().next().value;
    return this.#policy.hasCapacity(e.load, e.timing, head?.sentAt ?? 0, this.#now);
  }

  /**
   * §7.4: dispatches the job if an eligible engine exists; fails it if that can never happen;
   * otherwise leaves it. Returns whether the job left the queue.
   */
  #tryRun(job: Job<P>): boolean {
    const available = this.#engines.filter((e) => this.#hasCapacity(e));
    if (!available.length) return false;
    const constrained = job.follow.ids.size || job.targets || job.blacklist.size;
    const eligible = !constrained
      ? available
      : available.filter((e) =>
        !job.blacklist.has(e.uuid) &&
        (!job.targets || job.targets.has(e.uuid)) &&
        this.#outcomes.isMetOn(job.follow, e.uuid)
      );
    if (!eligible.length) {
      if (this.#outcomes.spansEngines(job.follow)) {
        this.#fail(job, "ImpossibleDependency");
        return true;
      }
      if (job.targets) {
        const left = [...job.targets].filter((t) => !job.blacklist.has(t));
        if (!left.length || !left.some((t) => this.#byUuid.has(t))) {
          this.#fail(job, "ImpossibleDependency");
          return true;
        }
      }
      return false;
    }
    const chosen = eligible[this.#scheme(eligible.map((e) => e.load), this.#rng)];
    this.#dispatch(job, chosen);
    return true;
  }

  #dispatch(job: Job<P>, e: Engine<P>): void {
    this.#clearTimer(job);
    job.state = "running";
    job.sentAt = this.#now;
    this.#running++;
    e.load++;
    e.pending.set(job.msgId, job);
    const i = this.#engines.indexOf(e);
    this.#engines.splice(i, 1);
    this.#engines.push(e); // most recently used goes to the back
    this.#out.push({ type: "dispatch", msgId: job.msgId, engine: e.uuid, payload: job.payload });
    this.#out.push({ type: "track", msgId: job.msgId, engine: e.uuid });
  }

  /**
   * Runs queued tasks in queue order while engines have room: merges the heap of free tasks
   * with the ordered list of constrained ones.
   */
  #drain(): void {
    // A pass can move blocked tasks into the waiting list (a failure unblocks dependents);
    // those are picked up by another pass.
    let inserts: number;
    do {
      inserts = this.#waiting.inserts;
      this.#drainPass();
    } while (inserts !== this.#waiting.inserts);
  }

  #drainPass(): void {
    if (!this.#engines.some((e) => this.#hasCapacity(e))) return;
    const waiting = this.#waiting.live();
    let wi = 0;
    for (;;) {
      if (!this.#engines.some((e) => this.#hasCapacity(e))) return;
      while (wi < waiting.length && !this.#waiting.isLive(waiting[wi].item, waiting[wi].qseq)) wi++;
      const top = this.#ready.peek();
      const w = wi < waiting.length ? waiting[wi] : undefined;
      if (!top && !w) return;
      if (top && (!w || top.qseq < w.qseq)) {
        this.#ready.pop();
        const available = this.#engines.filter((e) => this.#hasCapacity(e));
        const chosen = available[this.#scheme(available.map((e) => e.load), this.#rng)];
        this.#dispatch(top.item, chosen);
      } else {
        wi++;
        this.#tryRun(w!.item);
      }
    }
  }

  /** §7.5 retry and unmet-dependency path: blacklist the engine and run elsewhere or wait. */
  #retryElsewhere(job: Job<P>, engine: string, failure: { reply?: R; dead?: true } | null): void {
    job.blacklist.add(engine);
    if (job.targets && [...job.targets].every((t) => job.blacklist.has(t))) {
      if (!failure) return this.#fail(job, "ImpossibleDependency");
      // Quirk #26 fixed: nowhere left to retry, so the task's own failure is final.
      if (failure.dead) return this.#fail(job, "EngineError", engine);
      return this.#finish(job, engine, false, failure.reply as R);
    }
    job.state = "waiting";
    job.qseq = ++this.#qseq; // a retry goes to the back of the queue, as in Python
    if (this.#tryRun(job)) return;
    this.#enqueue(job, false);
    this.#arm(job);
  }

  /** §7.6: fabricated failure for every task still pending on a dead engine. */
  #strand(e: Engine<P>): void {
    if (this.#dead.get(e.uuid) !== e) return;
    this.#dead.delete(e.uuid);
    if (e.strandTimer !== undefined) this.#clock.clearTimer(e.strandTimer);
    for (const job of [...e.pending.values()]) {
      e.pending.delete(job.msgId);
      this.#running--;
      if (job.retries > 0) {
        job.retries--;
        this.#retryElsewhere(job, e.uuid, { dead: true });
      } else {
        this.#fail(job, "EngineError", e.uuid);
      }
    }
    this.#drain();
  }

  #finish(job: Job<P>, engine: string, success: boolean, reply: R): void {
    job.state = success ? "completed" : "failed";
    this.#jobs.delete(job.msgId);
    this.#outcomes.finished(job.msgId, success, engine);
    this.#out.push({ type: "relay", msgId: job.msgId, engine, success, reply });
    this.#propagate(job.msgId);
  }

  #fail(job: Job<P>, reason: T.FailureReason, engine?: string): void {
    this.#clearTimer(job);
    job.state = "failed";
    this.#jobs.delete(job.msgId);
    this.#outcomes.finished(job.msgId, false);
    const content = reason === "EngineError"
      ? errorContent(
        reason,
        `Engine '${engine}' died while running task '${job.msgId}'`,
        "handle_stranded_tasks",
      )
      : errorContent(reason, "", reason === "TaskTimeout" ? "job_timeout" : "fail_unreachable");
    const action: T.SchedulerAction<P, R> = {
      type: "fail",
      msgId: job.msgId,
      reason,
      content,
      payload: job.payload,
    };
    if (engine !== undefined) action.engine = engine;
    this.#out.push(action);
    this.#propagate(job.msgId);
  }

  /** Re-examines tasks that depend on finished ones (iteratively: chains can be long). */
  #propagate(doneId: string): void {
    this.#finished.push(doneId);
    if (this.#propagating) return;
    this.#propagating = true;
    try {
      for (let id = this.#finished.shift(); id !== undefined; id = this.#finished.shift()) {
        const dependents = this.#outcomes.takeDependents(id);
        if (!dependents) continue;
        const jobs = [...dependents].map((m) => this.#jobs.get(m))
          .filter((j): j is Job<P> => j !== undefined && this.#isQueued(j))
          .sort((a, b) => a.qseq - b.qseq);
        for (const job of jobs) {
          if (this.#outcomes.isUnreachable(job.after) || this.#outcomes.isUnreachable(job.follow)) {
            this.#fail(job, "ImpossibleDependency");
          } else if (job.state === "blocked" && this.#outcomes.isMet(job.after)) {
            this.#enqueue(job, false);
          }
        }
      }
    } finally {
      this.#propagating = false;
    }
  }
}
