/**
 * The controller's heart monitor without sockets (PROTOCOL.md §4.3).
 *
 * Every `periodMs` the wiring calls {@link HeartMonitor.beat}, publishes the returned ping on
 * `hb_ping`, and feeds each `[uuid, payload]` that comes back on `hb_pong` to
 * {@link HeartMonitor.pong}. `beat()` first judges the period that just ended — hearts that
 * answered for the first time are *new* (the Hub completes their registration, §4.4), known
 * hearts that missed more than `maxMisses` consecutive beats are *stopped* (the Hub
 * unregisters them, §4.5) — and then makes the next ping. A heart whose registration is waiting
 * can be taken in at its first pong instead ({@link HeartMonitor.adopt}).
 *
 * @module
 */

import { type Clock, systemClock } from "./clock.ts";

/** Options of {@link HeartMonitor}. */
export interface HeartMonitorOptions {
  /** Beat period in ms (`HeartMonitor.period`, `--ping`; default 3000). Sent as `hb_period`. */
  periodMs?: number;
  /** Consecutive misses tolerated (`max_heartmonitor_misses`, default 10); one more stops. */
  maxMisses?: number;
  /** Time source for the ping payload (default the system clock). */
  clock?: Clock;
}

/** What one beat produced. */
export interface BeatResult {
  /** The one-frame ping to publish: the monitor's lifetime in seconds, ASCII. */
  ping: Uint8Array;
  /** Hearts that answered for the first time, sorted. */
  newHearts: string[];
  /** Known hearts that exceeded the miss limit, sorted; they are forgotten. */
  stoppedHearts: string[];
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Python `str(float)` for the values we produce: always a decimal point. */
function pyFloat(x: number): string {
  const s = String(x);
  return /[.e]/.test(s) ? s : `${s}.0`;
}

/**
 * Tracks hearts by engine uuid.
 *
 * @example
 * ```ts
 * const hm = new HeartMonitor({ periodMs: 200 });
 * const { ping } = hm.beat();
 * hm.pong("engine-uuid", ping);
 * hm.beat().newHearts; // ["engine-uuid"]
 * ```
 */
export class HeartMonitor {
  /** Beat period in ms. */
  readonly periodMs: number;
  /** Consecutive misses tolerated before a heart counts as stopped. */
  readonly maxMisses: number;
  #clock: Clock;
  #start: number;
  #hearts = new Set<string>();
  #responses = new Set<string>();
  #misses = new Map<string, number>();
  #current = "0.0";
  #currentBytes = encoder.encode("0.0");
  #previous = "0.0";
  #lifetime = 0;

  /**
   * Creates a monitor; its lifetime (the ping payload) starts now.
   * @param options See {@link HeartMonitorOptions}.
   */
  constructor(options: HeartMonitorOptions = {}) {
    this.periodMs = options.periodMs ?? 3000;
    this.maxMisses = options.maxMisses ?? 10;
    if (!(this.periodMs > 0)) throw new RangeError(`periodMs must be > 0, got ${this.periodMs}`);
    if (!Number.isInteger(this.maxMisses) || this.maxMisses < 0) {
      throw new RangeError(`maxMisses must be an integer ≥ 0, got ${this.maxMisses}`);
    }
    this.#clock = options.clock ?? systemClock;
    this.#start = this.#clock.now();
  }

  /** Hearts currently considered beating. */
  get hearts(): ReadonlySet<string> {
    return this.#hearts;
  }

  /** The latest ping (what {@link HeartMonitor.beat} last returned), to publish again. */
  get ping(): Uint8Array {
    return this.#currentBytes;
  }

  /** Consecutive misses of a known heart (0 if it answered last time or is unknown). */
  misses(uuid: string): number {
    return this.#misses.get(uuid) ?? 0;
  }

  /**
   * Judges the period that ended and makes the next ping.
   *
   * @param options `countMisses: false` judges new hearts only: silent hearts get no miss for
   *   this period (the wiring passes it when its own beat came late, i.e. the controller was
   *   too busy to read pongs, so silence proves nothing).
   * @returns The ping to publish and the new and stopped hearts.
   */
  beat(options: { countMisses?: boolean } = {}): BeatResult {
    const countMisses = options.countMisses !== false;
    const newHearts: string[] = [];
    const stoppedHearts: string[] = [];
    for (const h of this.#responses) {
      if (!this.#hearts.has(h)) {
        this.#hearts.add(h);
        newHearts.push(h);
      }
    }
    for (const h of this.#hearts) {
      if (this.#responses.has(h)) {
        this.#misses.delete(h);
        continue;
      }
      if (!countMisses) continue;
      const n = (this.#misses.get(h) ?? 0) + 1;
      if (n > this.maxMisses) {
        stoppedHearts.push(h);
        this.#misses.delete(h);
      } else this.#misses.set(h, n);
    }
    for (const h of stoppedHearts) this.#hearts.delete(h);
    this.#responses.clear();
    // Each ping must differ from the previous one, even if the clock did not move.
    this.#lifetime = Math.max((this.#clock.now() - this.#start) / 1000, this.#lifetime + 1e-6);
    this.#previous = this.#current;
    this.#current = pyFloat(this.#lifetime);
    this.#currentBytes = encoder.encode(this.#current);
    newHearts.sort();
    stoppedHearts.sort();
    return { ping: this.#currentBytes, newHearts, stoppedHearts };
  }

  /**
   * A pong from `uuid`: counts if the payload equals the current ping or the previous one
   * (late by one beat).
   *
   * @param uuid The heart's identity (the engine uuid).
   * @param payload The echoed frame.
   * @returns Whether it counted.
   */
  pong(uuid: string, payload: Uint8Array | string): boolean {
    const text = typeof payload === "string" ? payload : decoder.decode(payload);
    if (text !== this.#current && text !== this.#previous) return false;
    this.#responses.add(uuid);
    return true;
  }

  /**
   * Takes a heart that answered this period into the known hearts now, rather than reporting
   * it as new at the next beat (up to a period away). The next beat judges it like any other.
   *
   * @param uuid A heart whose pong counted this period.
   * @returns Whether it was taken in (false if already known, or if it has not answered).
   */
  adopt(uuid: string): boolean {
    if (this.#hearts.has(uuid) || !this.#responses.has(uuid)) return false;
    this.#hearts.add(uuid);
    return true;
  }

  /** Stops tracking a heart (its engine was unregistered another way), so it is not reported. */
  forget(uuid: string): void {
    this.#hearts.delete(uuid);
    this.#misses.delete(uuid);
    this.#responses.delete(uuid);
  }
}
