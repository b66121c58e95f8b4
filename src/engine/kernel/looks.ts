/**
 * The main thread's periodic looks at a serving kernel worker, and their parking: while no
 * request comes, the looks have nothing to find, so after a look interval with none they stop
 * and the main thread sleeps until the worker starts a request (an idle engine then wakes only
 * for heartbeats).
 *
 * The hand-over is Dekker's: the worker stores `RUNNING` then reads `PARKED`; the main thread
 * stores `PARKED` then reads `RUNNING` and `REQUESTS` (all sequentially consistent), so at
 * least one of them sees the other's store: either the main thread does not park, or the
 * worker clears `PARKED` and notifies ({@linkcode wakeLooks}).
 *
 * @module
 */

import { Shared } from "./protocol.ts";

/**
 * How often the main thread looks for a request that holds the worker: for one still running
 * at two looks in a row (1–2 s), the main thread sends its deferred `busy` (`busy_slot.ts`).
 * It is also the idle interval that parks the looks.
 */
export const ANNOUNCE_CHECK_MS = 1000;

/**
 * How often the main thread looks for direct-path records the worker cannot send: a request
 * running at two looks in a row (100–200 ms) holds the worker, which then cannot read the Hub's
 * `direct_flush` either, so a query of the Hub waiting for them would wait for the request.
 */
export const RECORDS_CHECK_MS = 100;

/**
 * The worker's side, at the start of every request (after storing `RUNNING`): wake the main
 * thread's looks if they are parked. One atomic read when they are not.
 * @param ctl The shared control block.
 */
export function wakeLooks(ctl: Int32Array): void {
  if (Atomics.load(ctl, Shared.PARKED) === 0) return;
  Atomics.store(ctl, Shared.PARKED, 0);
  Atomics.notify(ctl, Shared.PARKED);
}

/** One of the main thread's periodic looks at the worker: is a request holding it? */
class HeldLook {
  readonly #ctl: Int32Array;
  /** The request seen running at the last look; -1: none. */
  #seen = -1;

  constructor(ctl: Int32Array) {
    this.#ctl = ctl;
  }

  /** Looks now: whether the request running now was running at the last look too. */
  held(): boolean {
    if (Atomics.load(this.#ctl, Shared.RUNNING) === 0) {
      this.#seen = -1;
      return false;
    }
    const request = Atomics.load(this.#ctl, Shared.REQUESTS);
    if (request === this.#seen) return true;
    this.#seen = request;
    return false;
  }
}

/** What the looks do when they find a request holding the worker, and how often they look. */
export interface LooksOptions {
  /** A request has held the worker for one to two long-request looks. */
  onLongRequest: () => void;
  /** Milliseconds between long-request looks. Default {@linkcode ANNOUNCE_CHECK_MS}. */
  announceMs?: number;
  /** Milliseconds between records looks. Default {@linkcode RECORDS_CHECK_MS}. */
  recordsMs?: number;
}

/**
 * The looks of one kernel host: the long-request look from the start, the records look once
 * {@linkcode WorkerLooks.watchRecords} is called; both parked while no request comes.
 */
export class WorkerLooks {
  readonly #ctl: Int32Array;
  readonly #o: LooksOptions;
  readonly #announce: HeldLook;
  readonly #records: HeldLook;
  #onHeldRecords: (() => void) | undefined;
  #announceTimer: ReturnType<typeof setInterval> | undefined;
  #recordsTimer: ReturnType<typeof setInterval> | undefined;
  /** `REQUESTS` at the last long-request look while none ran; -1: a request ran. */
  #idleAt = -1;
  #parks = 0;
  #closed = false;

  /**
   * Start looking.
   * @param ctl The shared control block ({@linkcode Shared}).
   * @param options What to do on a long request.
   */
  constructor(ctl: Int32Array, options: LooksOptions) {
    this.#ctl = ctl;
    this.#o = options;
    this.#announce = new HeldLook(ctl);
    this.#records = new HeldLook(ctl);
    this.#start();
  }

  /**
   * Also look for a worker held past {@linkcode RECORDS_CHECK_MS} (direct-path records).
   * @param onHeld Called at each look that finds the same request running as the last one.
   */
  watchRecords(onHeld: () => void): void {
    this.#onHeldRecords = onHeld;
    if (this.#announceTimer !== undefined) this.#start();
  }

  /** Whether the looks are parked now (no request since a whole look interval). */
  get parked(): boolean {
    return this.#announceTimer === undefined && !this.#closed;
  }

  /** Times the looks have parked so far. */
  get parks(): number {
    return this.#parks;
  }

  /** Stop looking for good (a parked wait is woken and ends). */
  close(): void {
    this.#closed = true;
    this.#stop();
    Atomics.store(this.#ctl, Shared.PARKED, 0);
    Atomics.notify(this.#ctl, Shared.PARKED);
  }

  #start(): void {
    if (this.#closed) return;
    this.#idleAt = -1;
    this.#announceTimer ??= setInterval(
      () => this.#lookForLongRequest(),
      this.#o.announceMs ?? ANNOUNCE_CHECK_MS,
    );
    if (this.#onHeldRecords !== undefined) {
      this.#recordsTimer ??= setInterval(() => {
        if (this.#records.held()) this.#onHeldRecords?.();
      }, this.#o.recordsMs ?? RECORDS_CHECK_MS);
    }
  }

  #stop(): void {
    clearInterval(this.#announceTimer);
    clearInterval(this.#recordsTimer);
    this.#announceTimer = this.#recordsTimer = undefined;
  }

  #lookForLongRequest(): void {
    if (this.#announce.held()) this.#o.onLongRequest();
    this.#parkIfIdle();
  }

  /** Parks when no request ran between this look and the last one. */
  #parkIfIdle(): void {
    const ctl = this.#ctl;
    const requests = Atomics.load(ctl, Shared.REQUESTS);
    const running = Atomics.load(ctl, Shared.RUNNING) !== 0;
    const idle = !running && requests === this.#idleAt;
    this.#idleAt = running ? -1 : requests;
    if (!idle) return;
    Atomics.store(ctl, Shared.PARKED, 1);
    if (
      Atomics.load(ctl, Shared.RUNNING) !== 0 || Atomics.load(ctl, Shared.REQUESTS) !== requests
    ) {
      Atomics.store(ctl, Shared.PARKED, 0); // a request came as we parked
      return;
    }
    this.#stop();
    this.#parks++;
    const wait = Atomics.waitAsync(ctl, Shared.PARKED, 1);
    if (!wait.async) this.#start();
    else wait.value.then(() => this.#start());
  }
}
