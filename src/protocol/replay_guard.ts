/**
 * The replay guard (PROTOCOL.md §1.4): the bounded set of accepted signatures that makes a
 * replayed message fail verification.
 *
 * @module
 */

/** Accepted signatures, bounded like jupyter_client's `digest_history`. */
export class DigestHistory {
  #seen = new Set<string>();
  readonly #limit: number;
  readonly #random: () => number;

  constructor(limit: number, random: () => number) {
    this.#limit = limit;
    this.#random = random;
  }

  get size(): number {
    return this.#seen.size;
  }

  has(signature: string): boolean {
    return this.#seen.has(signature);
  }

  add(signature: string): void {
    if (this.#limit === 0) return;
    this.#seen.add(signature);
    if (this.#seen.size > this.#limit) this.#cull();
  }

  clear(): void {
    this.#seen.clear();
  }

  /** Drops a random 10 % (or down to the limit, whichever is more), as jupyter_client does. */
  #cull(): void {
    const current = this.#seen.size;
    const n = Math.max(Math.floor(current / 10), current - this.#limit);
    if (n >= current) {
      this.#seen.clear();
      return;
    }
    const all = Array.from(this.#seen);
    for (let i = 0; i < n; i++) {
      const j = Math.min(current - 1, i + Math.floor(this.#random() * (current - i)));
      const pick = all[j];
      all[j] = all[i];
      this.#seen.delete(pick);
    }
  }
}
