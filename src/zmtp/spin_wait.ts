/**
 * When a reader should poll its socket for a moment before it sleeps.
 *
 * A thread that sleeps until its peer's next message is woken by the kernel when the message
 * lands, and on a virtual machine whose idle CPUs halt at once (no halt polling in the guest,
 * as on the Firecracker VMs of BENCHMARKS.md) that wake-up is a trip through the host: measured
 * there, a message between two processes took 25 µs to be read when its reader had slept
 * 10 µs, and 46–74 µs when it had slept 30–200 µs. Polling with non-blocking reads instead
 * (a few µs per try), the same hop took 4–8 µs.
 *
 * So a reader that finds nothing polls for up to {@link spinBudgetMicros} µs first, and
 * learns whether that pays: each poll that got a message in time raises its score, each that
 * did not lowers it twice as much, and a reader whose score is spent goes straight to sleep
 * until a sleep ends within the budget again. A reader that waits on slow work (user code that
 * runs for milliseconds, an idle client) soon stops polling; one in a request/reply loop keeps
 * going. Polling is off on a machine with one CPU, where it would hold back the very peer it
 * waits for, and with `IPP_SPIN_US=0`.
 *
 * @module
 */

import { envValue } from "../permissions.ts";

/** The polling budget when `IPP_SPIN_US` does not set one, in µs. */
export const DEFAULT_SPIN_MICROS = 200;
/** The largest budget `IPP_SPIN_US` may set, in µs. */
const MAX_SPIN_MICROS = 10_000;
/** The score a reader starts with, and the most it keeps. */
const START_SCORE = 4;
const MAX_SCORE = 8;

/**
 * The polling budget here, in µs: `IPP_SPIN_US` (0 turns polling off) or
 * {@link DEFAULT_SPIN_MICROS}; 0 with a single CPU.
 *
 * @returns µs a reader may poll before it sleeps.
 *
 * @example
 * ```ts
 * import { spinBudgetMicros } from "./spin_wait.ts";
 * console.log(spinBudgetMicros()); // 200 on a machine with two or more CPUs
 * ```
 */
export function spinBudgetMicros(): number {
  if ((navigator.hardwareConcurrency ?? 1) < 2) return 0;
  const set = envValue("IPP_SPIN_US");
  if (set === undefined || set === "") return DEFAULT_SPIN_MICROS;
  const us = Number(set);
  return Number.isFinite(us) && us >= 0 ? Math.min(us, MAX_SPIN_MICROS) : DEFAULT_SPIN_MICROS;
}

/** One reader's polling: whether to poll now, and what it learned from the last wait. */
export class SpinWait {
  /** The budget in ms (`performance.now()`'s unit). */
  readonly budgetMs: number;
  #score = START_SCORE;

  /** @param budgetMicros How long one poll may last, in µs; 0 never polls. */
  constructor(budgetMicros: number) {
    this.budgetMs = budgetMicros / 1000;
  }

  /** Whether the next wait should start with a poll. */
  get polling(): boolean {
    return this.budgetMs > 0 && this.#score > 0;
  }

  /**
   * The outcome of a poll.
   * @param got Whether a message came in within the budget.
   */
  polled(got: boolean): void {
    this.#score = got ? Math.min(this.#score + 1, MAX_SCORE) : Math.max(this.#score - 2, 0);
  }

  /**
   * A wait that slept: one that ended within the budget counts for polling again.
   * @param ms How long it slept.
   */
  slept(ms: number): void {
    if (ms <= this.budgetMs) this.#score = Math.min(this.#score + 1, MAX_SCORE);
  }
}
