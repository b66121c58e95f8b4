/**
 * The time seam of the client core: every wait, poll and time-out in `src/client/` reads the
 * time and schedules timers through a {@link Clock}, so tests drive time by hand instead of
 * sleeping (STYLE.md item 14). The shape of `setTimeout`/`clearTimeout` matches XState's
 * `Clock`, so the same object can be passed to `createActor(machine, { clock })`.
 *
 * @module
 */

/** A source of time and timers. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /**
   * Call `fn` once after `ms` milliseconds.
   * @returns A handle for {@link Clock.clearTimeout}.
   */
  // deno-lint-ignore no-explicit-any
  setTimeout(fn: (...args: any[]) => void, ms: number): any;
  /** Cancel a timer made by {@link Clock.setTimeout}; unknown handles are ignored. */
  // deno-lint-ignore no-explicit-any
  clearTimeout(handle: any): void;
}

/**
 * The real clock: `Date.now()` and the global timers.
 *
 * @example
 * ```ts
 * import { systemClock } from "./clock.ts";
 * const t = systemClock.setTimeout(() => {}, 10);
 * systemClock.clearTimeout(t);
 * ```
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle),
};
