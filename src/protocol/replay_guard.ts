/**
 * The replay guard (PROTOCOL.md §1.4): the bounded set of accepted signatures that makes a
 * replayed message fail verification.
 *
 * @module
 */

import { HEX_VALUE } from "./hmac.ts";

/**
 * Accepted signatures, bounded like jupyter_client's `digest_history`, but forgotten by age
 * instead of at random: signatures go into a current generation of ⌈limit / 2⌉; when it is
 * full it becomes the previous generation and the one before is dropped whole. So the guard
 * holds at most `limit` signatures and always the last ⌈limit / 2⌉ accepted (jupyter_client
 * drops a random 10 % at the limit, which can forget a signature accepted a moment ago).
 *
 * A signature is remembered by its first 64 bits (the first 16 hex digits of the HMAC, which
 * are uniformly distributed), in two flat open-addressed tables of integers: about 1 MiB at
 * the default limit of 65,536 (allocated by the first `admit`), with nothing for the garbage
 * collector to trace or move. A `Set` of the hex strings held ~6 MiB of strings that every
 * message's look-ups missed in the cache, and kept each message's signature string alive into
 * the old generation; measured at 0.8–2.7 µs per message against 0.4 µs. A fresh message is
 * wrongly taken for a replay only if its 64-bit prefix equals one of the ≤ 65,536 remembered:
 * probability ≤ 2⁻⁴⁸ per message.
 * Strings that are not hex (no HMAC produces them) are remembered by a 64-bit hash instead.
 */
export class DigestHistory {
  /** Current generation: `[hi, lo]` pairs, `[0, 0]` = empty slot. */
  #current: Int32Array;
  /** Previous generation, same layout. */
  #previous: Int32Array;
  readonly #mask: number;
  readonly #generation: number;
  #currentCount = 0;
  #previousCount = 0;
  #hi = 0;
  #lo = 0;

  /**
   * Creates an empty history.
   *
   * @param limit Most signatures remembered (0 = none).
   */
  constructor(limit: number) {
    this.#generation = Math.ceil(limit / 2);
    let slots = 16;
    while (slots < 2 * this.#generation) slots *= 2; // load factor ≤ 1/2
    this.#mask = slots - 1;
    // Allocated by the first admit: a session that only signs never pays for them.
    this.#current = this.#previous = new Int32Array(0);
  }

  /** Signatures remembered now. */
  get size(): number {
    return this.#currentCount + this.#previousCount;
  }

  /**
   * Accepts a signature once: remembers it and returns `true`, or returns `false` when it is
   * remembered already (a replay). One probe sequence per generation for a new signature.
   * @param signature As a string, or as ASCII bytes (as a signer writes it, so that no string
   * is made per message); both forms of one signature are the same key.
   */
  admit(signature: string | Uint8Array): boolean {
    if (this.#generation === 0) return true;
    if (this.#current.length === 0) {
      this.#current = new Int32Array(2 * (this.#mask + 1));
      this.#previous = new Int32Array(2 * (this.#mask + 1));
    }
    this.#key(signature);
    const hi = this.#hi, lo = this.#lo;
    if (this.#find(this.#previous, hi, lo) < 0) return false;
    const slot = this.#find(this.#current, hi, lo);
    if (slot < 0) return false;
    const current = this.#current;
    current[2 * slot] = hi;
    current[2 * slot + 1] = lo;
    if (++this.#currentCount >= this.#generation) {
      const dropped = this.#previous;
      dropped.fill(0);
      this.#previous = current;
      this.#previousCount = this.#currentCount;
      this.#current = dropped;
      this.#currentCount = 0;
    }
    return true;
  }

  /** Forgets everything. */
  clear(): void {
    this.#current.fill(0);
    this.#previous.fill(0);
    this.#currentCount = 0;
    this.#previousCount = 0;
  }

  /** The free slot for `[hi, lo]` in `table`, or `-1 - slot` when it is there already. */
  #find(table: Int32Array, hi: number, lo: number): number {
    const mask = this.#mask;
    let i = (lo ^ Math.imul(hi, 0x9e3779b1)) & mask;
    for (;;) {
      const a = table[2 * i], b = table[2 * i + 1];
      if (a === hi && b === lo) return -1 - i;
      if (a === 0 && b === 0) return i;
      i = (i + 1) & mask;
    }
  }

  /** Sets `#hi`/`#lo` to the signature's 64-bit key (never `[0, 0]`). */
  #key(signature: string | Uint8Array): void {
    const text = typeof signature === "string";
    let hi = 0, lo = 0;
    let hex = signature.length >= 16;
    for (let k = 0; hex && k < 16; k++) {
      const c = text ? signature.charCodeAt(k) : signature[k];
      const v = c < 128 ? HEX_VALUE[c] : -1;
      if (v < 0) hex = false;
      else if (k < 8) hi = (hi << 4) | v;
      else lo = (lo << 4) | v;
    }
    if (!hex) {
      // FNV-1a twice, with different offsets, over every UTF-16 unit (or byte).
      hi = 0x811c9dc5 | 0;
      lo = 0x050c5d1f;
      for (let k = 0; k < signature.length; k++) {
        const c = text ? signature.charCodeAt(k) : signature[k];
        hi = Math.imul(hi ^ c, 0x01000193);
        lo = Math.imul(lo ^ c, 0x01000193) ^ (hi >>> 15);
      }
    }
    if (hi === 0 && lo === 0) lo = 1;
    this.#hi = hi;
    this.#lo = lo;
  }
}
