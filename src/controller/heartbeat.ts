/**
 * The heartbeat wiring (PROTOCOL.md §4.3): every period the {@link HeartMonitor} judges the
 * period that ended (new and stopped hearts go to `onBeat`, which completes registrations and
 * unregisters dead engines), then one ping frame is published on `hb_ping`; engines echo it
 * through their uuid-identified DEALERs to the `hb_pong` ROUTER, which arrives here as
 * `[uuid, ping]`. Pings are not Jupyter messages and are not signed.
 *
 * Registration is faster than ipyparallel's: there, an engine's registration completes at the
 * first beat after its heart answered, 1–2 periods (3–6 s by default) after it asked. Here,
 * while a registration waits ({@link Heartbeat.probe}), the current ping is published again every
 * {@link PROBE_MS} ms, and the awaited heart's first pong completes it at once, provided the
 * engine's queues are connected too (`reachable`: its heart may answer before its shell has
 * finished connecting, and work routed to it then would be lost). Every heart echoes the extra
 * pings with the current payload, which counts for the current period only.
 *
 * Miss limit: see {@link defaultMaxMisses}.
 *
 * @module
 */

import type { Frames, Socket } from "../zmtp/mod.ts";
import { type BeatResult, HeartMonitor } from "./heart_monitor.ts";
import type { Logger } from "./logger.ts";
import { pump, sendQuiet, text } from "./pump.ts";

/**
 * Default consecutive missed beats before a heart counts as stopped: `floor(500 / periodMs)`,
 * at least 1 and at most 10 (Python's default is always 10, i.e. ~33 s at 3 s).
 *
 * With a miss limit `m` a dead engine is detected between `(m + 1)` and `(m + 2)` periods after
 * it died; the wiring fails or retries its tasks at once, so everything an engine death causes
 * is settled within two periods plus about half a second for short periods (`--ping=250` → 2
 * misses → 0.75–1 s), and within 2–3 periods for long ones (3000 ms → 1 miss → 6–9 s).
 * `--HeartMonitor.max_heartmonitor_misses=N` (or `--max-misses=N`) overrides it. A beat whose
 * timer fired more than half a period late counts no misses (the controller was too busy to
 * read pongs), and so does a beat in which none of several known engines answered (a stalled
 * machine, far likelier than all engines dying together) until that silence has lasted 10
 * beats; so a stalled controller or machine does not declare healthy engines dead, while one
 * dead engine among live ones is still found in `(m + 1)`–`(m + 2)` periods.
 *
 * @param periodMs The heartbeat period.
 * @returns The miss limit.
 * @example
 * ```ts
 * defaultMaxMisses(250); // 2
 * ```
 */
export function defaultMaxMisses(periodMs: number): number {
  return Math.min(10, Math.max(1, Math.floor(500 / periodMs)));
}

/** Beats of silence from every known engine tolerated before misses count again. */
const GLOBAL_SILENCE_BEATS = 10;

/** How often the current ping is published again while a registration waits (at most). */
export const PROBE_MS = 100;

/** Options of {@link Heartbeat}. */
export interface HeartbeatOptions {
  /** `hb_ping` PUB. */
  ping: Socket;
  /** `hb_pong` ROUTER. */
  pong: Socket;
  /** Beat period in ms. */
  periodMs: number;
  /** Miss limit (default {@link defaultMaxMisses}). */
  maxMisses?: number;
  /**
   * New and stopped hearts of each beat, before its ping goes out; and an awaited heart, alone,
   * as soon as it first answers.
   */
  onBeat: (result: Pick<BeatResult, "newHearts" | "stoppedHearts">) => void;
  /**
   * Whether `uuid`'s registration waits for its first pong, or without `uuid`, whether any
   * does (default: none; new hearts then wait for the next beat).
   */
  awaiting?: (uuid?: string) => boolean;
  /**
   * Whether an awaited engine can be sent work: its queues' connections are up (a message to
   * an engine that has not connected yet would be dropped). Its registration then waits for
   * a later pong (default: always reachable).
   */
  reachable?: (uuid: string) => boolean;
  /** Logger. */
  logger: Logger;
}

/** Pings engines and collects their pongs. */
export class Heartbeat {
  /** The monitor (misses, known hearts). */
  readonly monitor: HeartMonitor;
  /** The pong receive loop; settles when the ROUTER closes. */
  readonly done: Promise<void>;
  #timer: ReturnType<typeof setInterval> | undefined;
  #probe: ReturnType<typeof setInterval> | undefined;
  #last = 0;
  #stopped = false;
  #knownAnswered = false;
  #silentBeats = 0;
  #o: HeartbeatOptions;

  /**
   * Starts pinging at once and every period after.
   * @param options Sockets, period, miss limit and the beat callback.
   */
  constructor(options: HeartbeatOptions) {
    this.#o = options;
    this.monitor = new HeartMonitor({
      periodMs: options.periodMs,
      maxMisses: options.maxMisses ?? defaultMaxMisses(options.periodMs),
    });
    const handle = (frames: Frames) => {
      if (frames.length < 2) return;
      const uuid = text(frames[0]);
      if (!this.monitor.pong(uuid, frames[1])) return;
      if (this.monitor.hearts.has(uuid)) {
        this.#knownAnswered = true;
      } else if (
        options.awaiting?.(uuid) && (options.reachable?.(uuid) ?? true) &&
        this.monitor.adopt(uuid)
      ) {
        this.#knownAnswered = true;
        this.#report({ newHearts: [uuid], stoppedHearts: [] });
      }
    };
    this.done = pump(options.pong, handle, (e) => options.logger.warn(`heartbeat: ${e}`));
    this.#last = performance.now();
    this.#beat(true);
    this.#timer = setInterval(() => {
      // Let pongs already received be read before judging (a macrotask after the timer), and
      // count no misses for a beat that comes late: the controller itself was busy.
      const now = performance.now();
      const onTime = now - this.#last < options.periodMs * 1.5;
      this.#last = now;
      setTimeout(() => this.#beat(onTime), 0);
    }, options.periodMs);
  }

  #beat(onTime: boolean): void {
    if (this.#stopped) return;
    // Global silence: several engines known and none answered. That is the machine or this
    // process stalling far more often than all engines dying at once, so such beats count no
    // misses until it lasts GLOBAL_SILENCE_BEATS beats (then every heart is judged as usual).
    const global = this.monitor.hearts.size >= 2 && !this.#knownAnswered;
    this.#silentBeats = global ? this.#silentBeats + 1 : 0;
    this.#knownAnswered = false;
    const countMisses = onTime && (!global || this.#silentBeats > GLOBAL_SILENCE_BEATS);
    let result: BeatResult;
    try {
      result = this.monitor.beat({ countMisses });
    } catch (err) {
      this.#o.logger.error(`heartbeat failed: ${err}`);
      return;
    }
    if (result.newHearts.length || result.stoppedHearts.length) this.#report(result);
    sendQuiet(this.#o.ping, [result.ping]);
  }

  #report(result: Pick<BeatResult, "newHearts" | "stoppedHearts">): void {
    try {
      this.#o.onBeat(result);
    } catch (err) {
      this.#o.logger.error(`heartbeat handler failed: ${err instanceof Error ? err.stack : err}`);
    }
  }

  /**
   * A registration now waits for its heart: publish the current ping again every
   * {@link PROBE_MS} ms (or half a period, if shorter) for as long as `awaiting()` says any
   * does. Its engine connects its heart after reading the registration reply, so it misses
   * the pings published before; each probe is one more chance to answer. Idempotent.
   */
  probe(): void {
    if (this.#stopped || this.#probe !== undefined || this.#o.awaiting === undefined) return;
    const awaiting = this.#o.awaiting;
    this.#probe = setInterval(() => {
      if (this.#stopped || !awaiting()) {
        clearInterval(this.#probe);
        this.#probe = undefined;
        return;
      }
      sendQuiet(this.#o.ping, [this.monitor.ping]);
    }, Math.min(PROBE_MS, this.#o.periodMs / 2));
  }

  /** Stops pinging (the sockets are closed by the controller). Idempotent. */
  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    if (this.#probe !== undefined) clearInterval(this.#probe);
    this.#timer = undefined;
    this.#probe = undefined;
  }
}
