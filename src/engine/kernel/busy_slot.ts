/**
 * The running request's deferred `busy`, shared by the kernel worker and the main thread, so
 * that the main thread can publish it for a request that holds the worker's thread (a long
 * synchronous loop), and exactly one of the two sends it.
 *
 * The worker offers each request's header bytes when it defers its `busy` (`../shell.ts`), and
 * takes the offer back when it sends that `busy` itself or the request ends. The main thread
 * claims an offer it finds still there one to two seconds into the request (`looks.ts`).
 * Offer, take and claim meet on one word: a token, `n` while request `n`'s offer stands, `-n`
 * once the main thread claimed it, 0 when there is none. Take and claim are compare-and-swaps
 * on it, so exactly one succeeds; the bytes are written before the token is set and read
 * before the claim, and the worker writes new bytes only after taking the last offer back.
 * Each offer's token is new (a counter, not reset by a take), so a claim that read a token,
 * then bytes the next offer was overwriting, fails its compare-and-swap.
 *
 * @module
 */

/** Header words (Int32 indexes). */
const TOKEN = 0;
const LENGTH = 1;
const HEADER_BYTES = 8;

/** Room for a request's header (a larger one is not offered: its `busy` waits for the worker). */
export const BUSY_SLOT_BYTES = 16 << 10;

/**
 * A new slot.
 * @returns A zeroed block (no offer).
 */
export function createBusySlot(): SharedArrayBuffer {
  return new SharedArrayBuffer(HEADER_BYTES + BUSY_SLOT_BYTES);
}

/** Either side's view of a slot. */
export class BusySlot {
  readonly #hdr: Int32Array;
  readonly #bytes: Uint8Array;
  /** The worker's standing offer's token (0: none). */
  #token = 0;
  /** The last token used: never reset, so a claim that read an older offer's bytes cannot win. */
  #last = 0;

  /** @param block A block from {@linkcode createBusySlot}. */
  constructor(block: SharedArrayBuffer) {
    this.#hdr = new Int32Array(block, 0, HEADER_BYTES / 4);
    this.#bytes = new Uint8Array(block, HEADER_BYTES);
  }

  /**
   * The worker defers a request's `busy`.
   * @param parent The request's header bytes.
   */
  offer(parent: Uint8Array): void {
    this.take(); // (each request's offer is taken back by its end; this is a safeguard)
    if (parent.length > BUSY_SLOT_BYTES) return;
    this.#bytes.set(parent);
    Atomics.store(this.#hdr, LENGTH, parent.length);
    this.#last = this.#last === 0x7fffffff ? 1 : this.#last + 1;
    this.#token = this.#last;
    Atomics.store(this.#hdr, TOKEN, this.#token);
  }

  /**
   * The worker takes its offer back (it sends the `busy` itself, or drops it).
   * @returns false when the main thread has claimed it (and sends it).
   */
  take(): boolean {
    const t = this.#token;
    if (t === 0) return true;
    this.#token = 0;
    return Atomics.compareExchange(this.#hdr, TOKEN, t, 0) !== -t;
  }

  /**
   * The main thread claims the standing offer, if any.
   * @returns The request's header bytes, or `undefined` when there is no offer (the worker
   *   sent the `busy`, or the request ended).
   */
  claim(): Uint8Array | undefined {
    const t = Atomics.load(this.#hdr, TOKEN);
    if (t <= 0) return undefined;
    const parent = this.#bytes.slice(0, Atomics.load(this.#hdr, LENGTH));
    return Atomics.compareExchange(this.#hdr, TOKEN, t, -t) === t ? parent : undefined;
  }

  /** A new worker starts on the slot: no offer stands. */
  reset(): void {
    Atomics.store(this.#hdr, TOKEN, 0);
  }
}
