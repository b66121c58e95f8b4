/**
 * When a reader should poll its socket for a moment before it sleeps.
 *
 * A thread that sleeps until its peer's next message is woken by the kernel when the message
 * lands, and on a virtual machine whose idle CPUs halt at once (no halt polling in the guest,
 * as on the Firecracker VMs of BENCHMARKS.md) that wake-up is a trip through the host: measured
 * there, a message between two processes took 25 µs to be read when its reader had slept
 * 10 µs, and 46–74 µs when it had slept 30–200 µs; in the host's slow phases a direct call
 * whose two sides both slept took 400–900 µs, against 100–150 with both polling. Polling with
 * non-blocking reads instead (a few µs per try), a hop took 4–8 µs.
 *
 * So a reader that finds nothing polls for up to {@link spinBudgetMicros} µs first, and
 * learns whether that pays: each poll that got a message in time raises its score, each that
 * did not lowers it twice as much, and a reader whose score is spent goes straight to sleep.
 * It starts polling again after a sleep that ended within the budget, or after a probe: a
 * reader that is not polling still polls one wait in 2, then one in 4, 8, … 64 while probes
 * keep missing.
 *
 * The budget must cover the peer's turn plus the peer's own wake-up, because polling pays only
 * once both sides of a request/reply loop do it: while one sleeps, the other waits for that
 * wake-up too. With 200 µs, a burst of misses (a collection, a preempted thread) left both
 * sides of a loop of direct calls asleep for thousands of calls (400–700 µs per call) where
 * wake-ups took longer than the budget; with 1 ms they polled again at once (bench pairs:
 * direct 99–218 µs against 212–296, execute 95–155 against 155–353). A reader that waits on
 * slow work (user code that runs for milliseconds, an idle client) soon stops polling but for
 * the probes; one in a request/reply loop keeps going. Polling is off on a machine with one
 * CPU, where it would hold back the very peer it waits for, and with `IPP_SPIN_US=0`.
 *
 * @module
 */

import { envValue } from "../permissions.ts";

/** The polling budget when `IPP_SPIN_US` does not set one, in µs. */
export const DEFAULT_SPIN_MICROS = 1000;
/** The largest budget `IPP_SPIN_US` may set, in µs. */
const MAX_SPIN_MICROS = 10_000;
/** The score a reader starts with, and the most it keeps. */
const START_SCORE = 4;
const MAX_SCORE = 8;
/** The most waits a reader that is not polling lets pass between two probes. */
const MAX_PROBE_GAP = 64;

/**
 * The polling budget here, in µs: `IPP_SPIN_US` (0 turns polling off) or
 * {@link DEFAULT_SPIN_MICROS}; 0 with a single CPU.
 *
 * @returns µs a reader may poll before it sleeps.
 *
 * @example
 * ```ts
 * import { spinBudgetMicros } from "./spin_wait.ts";
 * console.log(spinBudgetMicros()); // 1000 on a machine with two or more CPUs
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
  /** While the score is spent: waits between probes, and waits left until the next one. */
  #gap = 1;
  #skip = 0;

  /** @param budgetMicros How long one poll may last, in µs; 0 never polls. */
  constructor(budgetMicros: number) {
    this.budgetMs = budgetMicros / 1000;
  }

  /** Whether the reader is polling (its score is not spent); probes aside. */
  get polling(): boolean {
    return this.budgetMs > 0 && this.#score > 0;
  }

  /**
   * Whether this wait should start with a poll: while polling, or as a probe when one is due.
   * Call it once per wait that may poll, and report the poll with {@link polled}.
   */
  poll(): boolean {
    if (this.budgetMs <= 0) return false;
    if (this.#score > 0) return true;
    if (this.#skip > 0) {
      this.#skip--;
      return false;
    }
    return true;
  }

  /**
   * The outcome of a poll.
   * @param got Whether a message came in within the budget.
   */
  polled(got: boolean): void {
    if (got) {
      this.#score = Math.min(this.#score + 1, MAX_SCORE);
      this.#gap = 1;
      return;
    }
    this.#score = Math.max(this.#score - 2, 0);
    if (this.#score > 0) return;
    // Spent (or a probe missed): the next probe comes after twice as many waits as the last.
    this.#gap = Math.min(this.#gap * 2, MAX_PROBE_GAP);
    this.#skip = this.#gap - 1;
  }

  /**
   * A wait that slept: one that ended within the budget counts for polling again.
   * @param ms How long it slept.
   */
  slept(ms: number): void {
    if (ms <= this.budgetMs) this.#score = Math.min(this.#score + 1, MAX_SCORE);
  }
}
