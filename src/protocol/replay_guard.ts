/**
 * The replay guard (PROTOCOL.md §1.4): the bounded set of accepted signatures that makes a
 * replayed message fail verification.
 *
 * @module
 */

/**
 * Accepted signatures, bounded like jupyter_client's `digest_history`, but forgotten by age
 * instead of at random: signatures go into a current generation of ⌈limit / 2⌉; when it is
 * full it becomes the previous generation and the one before is dropped whole. So the guard
 * holds at most `limit` signatures and always the last ⌈limit / 2⌉ accepted (jupyter_client
 * drops a random 10 % at the limit, which can forget a signature accepted a moment ago).
 * Dropping a generation is one allocation; the random cull copied the whole set into an
 * array and deleted entries one by one, about 1 µs per message on average at the default size.
 */
export class DigestHistory {
  #current = new Set<string>();
  #previous = new Set<string>();
  readonly #generation: number;

  /**
   * Creates an empty history.
   *
   * @param limit Most signatures remembered (0 = none).
   */
  constructor(limit: number) {
    this.#generation = Math.ceil(limit / 2);
  }

  /** Signatures remembered now. */
  get size(): number {
    return this.#current.size + this.#previous.size;
  }

  /**
   * Accepts a signature once: remembers it and returns `true`, or returns `false` when it is
   * remembered already (a replay). One look-up per generation for a new signature.
   */
  admit(signature: string): boolean {
    const current = this.#current;
    if (current.has(signature) || this.#previous.has(signature)) return false;
    if (this.#generation === 0) return true;
    current.add(signature);
    if (current.size >= this.#generation) {
      this.#previous = current;
      this.#current = new Set();
    }
    return true;
  }

  /** Forgets everything. */
  clear(): void {
    this.#current.clear();
    this.#previous.clear();
  }
}
