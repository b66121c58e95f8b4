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

  /** Whether `signature` was accepted and is still remembered. */
  has(signature: string): boolean {
    return this.#current.has(signature) || this.#previous.has(signature);
  }

  /** Remembers an accepted signature. */
  add(signature: string): void {
    if (this.#generation === 0 || this.has(signature)) return;
    this.#current.add(signature);
    if (this.#current.size >= this.#generation) {
      this.#previous = this.#current;
      this.#current = new Set();
    }
  }

  /** Forgets everything. */
  clear(): void {
    this.#current.clear();
    this.#previous.clear();
  }
}
