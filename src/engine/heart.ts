/**
 * The engine's heart (PROTOCOL.md §4.3, §4.6): a SUB socket on the controller's `hb_ping`
 * and a DEALER (identity = engine uuid) on `hb_pong`; every ping is echoed back verbatim.
 * It runs on the engine's main thread, which never runs user code (the kernel's worker
 * does), so a long synchronous computation never delays a pong.
 *
 * It also watches the controller: every `hbPeriod + 500` ms it checks whether a ping arrived
 * since the last check; after `maxMisses` consecutive misses it calls `onLost` (the engine
 * then unregisters and exits). `maxMisses = 0` disables the watchdog, as in ipengine.
 *
 * @example
 * ```ts ignore
 * import { Heart } from "./heart.ts";
 * const heart = new Heart({
 *   uuid, pingUrl, pongUrl, hbPeriod: 3000, maxMisses: 50,
 *   onLost: (misses) => console.error(`controller went away after ${misses} misses`),
 * });
 * heart.start();
 * // ...
 * await heart.close();
 * ```
 *
 * @module
 */

import { createSocket, type Socket } from "../zmtp/mod.ts";
import type { Logger } from "./log.ts";

/** Options of {@link Heart}. */
export interface HeartOptions {
  /** The engine uuid: the pong DEALER's routing identity, how the heart monitor knows us. */
  uuid: string;
  /** `hb_ping` URL (the controller's PUB). */
  pingUrl: string;
  /** `hb_pong` URL (the controller's ROUTER). */
  pongUrl: string;
  /** Heartbeat period announced in `registration_reply`, in ms. */
  hbPeriod: number;
  /** Consecutive missed checks before `onLost` (0 = never). */
  maxMisses: number;
  /** Called once when the controller is judged gone, with the number of misses. */
  onLost: (misses: number, checkPeriodMs: number) => void;
  /** Logger for missed-beat warnings. */
  log?: Logger;
}

/** Echoes heartbeat pings and watches for the controller going away. */
export class Heart {
  readonly #options: HeartOptions;
  readonly #ping: Socket;
  readonly #pong: Socket;
  #pinged = false;
  #misses = 0;
  #timer: ReturnType<typeof setInterval> | undefined;
  #loop: Promise<void> | undefined;
  #beats = 0;

  /**
   * Create the heart's sockets (nothing connects before {@link Heart.start}).
   * @param options Identity, URLs, period and watchdog settings.
   */
  constructor(options: HeartOptions) {
    this.#options = options;
    this.#ping = createSocket("SUB", { receiveHwm: 0, onProtocolError: this.#protocolError });
    this.#pong = createSocket("DEALER", {
      identity: options.uuid,
      sendHwm: 0,
      onProtocolError: this.#protocolError,
    });
  }

  /** The watchdog's check period: `hbPeriod + 500` ms (ipengine's `hb_check_period`). */
  get checkPeriodMs(): number {
    return this.#options.hbPeriod + 500;
  }

  /** Pings echoed so far. */
  get beats(): number {
    return this.#beats;
  }

  /** Connect both sockets and start echoing and watching. */
  start(): void {
    const o = this.#options;
    this.#ping.subscribe("");
    this.#ping.connect(o.pingUrl);
    this.#pong.connect(o.pongUrl);
    this.#loop = this.#echo();
    if (o.maxMisses > 0) {
      this.#timer = setInterval(() => this.#check(), this.checkPeriodMs);
    }
  }

  /** Stop watching (the echo goes on until {@link Heart.close}). */
  stopWatching(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Stop watching and echoing, and close both sockets. Idempotent. */
  async close(): Promise<void> {
    this.stopWatching();
    await Promise.all([this.#ping.close(), this.#pong.close()]);
    await this.#loop;
  }

  #protocolError = (reason: string, peer: string): void => {
    this.#options.log?.warn(`heartbeat connection to ${peer} dropped: ${reason}`);
  };

  async #echo(): Promise<void> {
    try {
      for await (const frames of this.#ping) {
        this.#pinged = true;
        this.#beats++;
        // PROTOCOL.md §4.3: the payload is opaque; send it back unchanged.
        await this.#pong.send(frames);
      }
    } catch (e) {
      if (!this.#ping.closed) this.#options.log?.error(`heartbeat echo stopped: ${e}`);
    }
  }

  #check(): void {
    const o = this.#options;
    if (this.#pinged) {
      if (this.#misses > 0) o.log?.info("heartbeat from the controller is back");
      this.#misses = 0;
      this.#pinged = false;
      return;
    }
    this.#misses++;
    o.log?.warn(
      `no heartbeat from the controller in the last ${this.checkPeriodMs} ms ` +
        `(${this.#misses} of ${o.maxMisses} misses)`,
    );
    if (this.#misses >= o.maxMisses) {
      this.stopWatching();
      o.onLost(this.#misses, this.checkPeriodMs);
    }
  }
}
