/**
 * Time as the controller's logic sees it: injected, so tests drive it without sleeping
 * (STYLE.md item 14).
 *
 * @module
 */

/** Opaque handle of a timer set through a {@link Clock}. */
export type TimerId = number | ReturnType<typeof setTimeout>;

/** A source of time and timers. */
export interface Clock {
  /** Milliseconds since the epoch (may be fractional). */
  now(): number;
  /** Calls `fn` once after `ms` milliseconds; returns a handle for {@link Clock.clearTimer}. */
  setTimer(ms: number, fn: () => void): TimerId;
  /** Cancels a timer; unknown or fired handles are ignored. */
  clearTimer(id: TimerId): void;
}

/** The real clock: `Date.now()` and `setTimeout`. */
export const systemClock: Clock = {
  now: () => Date.now(),
  // Timers longer than setTimeout's 2^31-1 ms would fire at once: cap them (~24.8 days).
  setTimer: (ms, fn) => setTimeout(fn, Math.min(ms, 2 ** 31 - 1)),
  clearTimer: (id) => clearTimeout(id as number),
};

/**
 * A clock that only moves when told to; timers fire in deadline order during
 * {@link ManualClock.advance}.
 *
 * @example
 * ```ts
 * const clock = new ManualClock(0);
 * let fired = false;
 * clock.setTimer(100, () => (fired = true));
 * clock.advance(100); // fired === true
 * ```
 */
export class ManualClock implements Clock {
  #now: number;
  #next = 1;
  #timers = new Map<number, { at: number; fn: () => void }>();

  /**
   * Creates a clock stopped at `start`.
   * @param start Initial time in epoch milliseconds (default 0).
   */
  constructor(start = 0) {
    this.#now = start;
  }

  /** Current time in milliseconds. */
  now(): number {
    return this.#now;
  }

  /** Registers a timer due at `now() + ms`. */
  setTimer(ms: number, fn: () => void): number {
    const id = this.#next++;
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), fn });
    return id;
  }

  /** Cancels a timer. */
  clearTimer(id: TimerId): void {
    this.#timers.delete(id as number);
  }

  /** Number of timers not yet fired or cleared. */
  get pendingTimers(): number {
    return this.#timers.size;
  }

  /**
   * Moves time forward by `ms`, firing due timers in deadline order (ties in creation order);
   * timers set by a firing timer fire too if due within the window.
   *
   * @param ms Milliseconds to advance (≥ 0).
   */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      let bestId: number | undefined;
      let bestAt = Infinity;
      for (const [id, t] of this.#timers) {
        if (t.at <= end && t.at < bestAt) {
          bestAt = t.at;
          bestId = id;
        }
      }
      if (bestId === undefined) break;
      const t = this.#timers.get(bestId)!;
      this.#timers.delete(bestId);
      this.#now = Math.max(this.#now, t.at);
      t.fn();
    }
    this.#now = end;
  }
}
