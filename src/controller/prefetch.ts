/**
 * Adaptive prefetch for the task scheduler: how many tasks an engine may hold at once.
 *
 * With ipyparallel's `hwm = 1` every task costs a full scheduler → engine → scheduler cycle
 * before the engine gets the next one, so short tasks are bound by latency, not by work, and
 * every message travels alone (one write, one wake-up each). Prefetch lets an engine hold
 * more than `hwm` tasks while it is proven fast, and falls back to `hwm` as soon as it is not:
 *
 * - an engine is *fast* after {@link FAST_STREAK} consecutive tasks each served in at most
 *   `fastMs` (served = from the later of its dispatch and the engine's previous reply, to its
 *   reply: the engine's own time on it, queueing at the engine excluded);
 * - a fast engine holds at most `fastMs` of expected work: `fastMs / average served time`
 *   tasks (a moving average), never more than `prefetch` — so 0.3 ms tasks prefetch up to
 *   `prefetch` deep, 3 ms tasks 3 deep, 6 ms tasks 1 (no prefetch);
 * - one slower task resets the streak, and while the task at the head of the engine's queue
 *   has been running longer than `fastMs` the engine gets nothing beyond `hwm` either.
 *
 * The trade-off: a long task that starts on a fast engine can hold the tasks dispatched behind
 * it in its first `fastMs` — at most `prefetch − 1` of them, about `fastMs` of expected work —
 * until it ends (ipyparallel's `hwm = 0` holds any number). The makespan of a batch grows by
 * at most about `fastMs`; those few tasks' latency grows by the long task's duration.
 * Dependencies, retries, time-outs and `targets` are unaffected: they are decided before
 * dispatch, and a queue time-out only covers the scheduler's queue, as in Python.
 *
 * @module
 */

/** Consecutive fast tasks before an engine may hold more than `hwm`. */
export const FAST_STREAK = 4;

/** Weight of the latest served time in the moving average. */
const AVERAGE_WEIGHT = 0.25;

/** Per-engine timing the policy keeps (lives on the scheduler's engine record). */
export interface EngineTiming {
  /** When the engine last replied (or joined), in clock ms. */
  lastDone: number;
  /** Consecutive tasks served within `fastMs` (capped). */
  streak: number;
  /** Moving average of the served time of its tasks, in ms (-1 before the first). */
  avgMs: number;
}

/** Options of {@link PrefetchPolicy}. */
export interface PrefetchOptions {
  /** Max outstanding tasks per engine when it is not fast (0 = unlimited). */
  hwm: number;
  /** Max outstanding tasks per engine while it is fast (≤ `hwm` disables prefetch). */
  prefetch: number;
  /** A task served within this many ms counts as fast. */
  fastMs: number;
}

/**
 * Decides whether an engine has room for one more task.
 *
 * @example
 * ```ts
 * const p = new PrefetchPolicy({ hwm: 1, prefetch: 8, fastMs: 10 });
 * const t = p.timing(0);
 * p.hasCapacity(1, t, 0, 1); // false: not proven fast yet
 * ```
 */
export class PrefetchPolicy {
  /** Hard limit when not fast (0 = unlimited). */
  readonly hwm: number;
  /** Limit while fast. */
  readonly prefetch: number;
  /** Fast-task threshold in ms. */
  readonly fastMs: number;
  readonly #adaptive: boolean;

  /**
   * Creates the policy.
   *
   * @param options Limits and threshold.
   * @throws {RangeError} For a negative or fractional limit, or a threshold that is not ≥ 0.
   */
  constructor(options: PrefetchOptions) {
    const { hwm, prefetch, fastMs } = options;
    for (const [name, v] of [["hwm", hwm], ["prefetch", prefetch]] as const) {
      if (!Number.isInteger(v) || v < 0) {
        throw new RangeError(`${name} must be an integer ≥ 0, got ${v}`);
      }
    }
    if (!(typeof fastMs === "number" && fastMs >= 0 && Number.isFinite(fastMs))) {
      throw new RangeError(`prefetchFastMs must be a finite number ≥ 0, got ${fastMs}`);
    }
    this.hwm = hwm;
    this.prefetch = prefetch;
    this.fastMs = fastMs;
    this.#adaptive = hwm !== 0 && prefetch > hwm;
  }

  /** Whether the limit ever depends on timing (else {@link PrefetchPolicy.completed} is moot). */
  get adaptive(): boolean {
    return this.#adaptive;
  }

  /**
   * Fresh timing for an engine that joins at `now`.
   * @param now Clock ms.
   * @returns The timing record.
   */
  timing(now: number): EngineTiming {
    return { lastDone: now, streak: 0, avgMs: -1 };
  }

  /**
   * Whether an engine holding `load` tasks may take one more.
   *
   * @param load Tasks outstanding on the engine.
   * @param t Its timing.
   * @param headSentAt When the oldest outstanding task was dispatched (ignored if `load` is 0).
   * @param now Clock ms.
   * @returns True if a task may be dispatched to it.
   */
  hasCapacity(load: number, t: EngineTiming, headSentAt: number, now: number): boolean {
    if (this.hwm === 0 || load < this.hwm) return true;
    if (!this.#adaptive || load >= this.prefetch || t.streak < FAST_STREAK) return false;
    if ((load + 1) * t.avgMs > this.fastMs) return false; // at most `fastMs` of expected work
    // The head task's own running time: it started when sent, or when its predecessor ended.
    const started = headSentAt > t.lastDone ? headSentAt : t.lastDone;
    return now - started <= this.fastMs;
  }

  /**
   * Records a reply from the engine.
   *
   * @param t Its timing.
   * @param sentAt When the answered task was dispatched.
   * @param now Clock ms.
   */
  completed(t: EngineTiming, sentAt: number, now: number): void {
    const started = sentAt > t.lastDone ? sentAt : t.lastDone;
    const served = now - started;
    t.lastDone = now;
    t.avgMs = t.avgMs < 0 ? served : t.avgMs + (served - t.avgMs) * AVERAGE_WEIGHT;
    if (served <= this.fastMs) {
      if (t.streak < FAST_STREAK) t.streak++;
    } else t.streak = 0;
  }
}
