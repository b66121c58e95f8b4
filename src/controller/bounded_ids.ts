/**
 * A set of msg_ids that keeps at most the newest `limit` of them: adding one past the limit
 * evicts the oldest (and tells `onEvict`). The controller remembers every finished task this
 * way (`HubState.allCompleted`), so a controller that runs tasks for days holds a bounded
 * number of ids, and the databases remember recently seen ids the same way. Each id may carry
 * a small integer tag (the Hub's: the engine it finished on), handed back when it is evicted.
 *
 * Eviction goes round a ring of the ids in the order they were added: evicting from the head
 * of a `Set` would get slower as deleted entries piled up there. An id deleted and added again
 * holds two places on the ring and is evicted at the first: at most early, never late.
 *
 * @module
 */

/**
 * Insertion-bounded set of strings.
 *
 * @example
 * ```ts
 * const ids = new BoundedIds(2);
 * ids.add("a").add("b").add("c", 7);
 * ids.has("a"); // false: the oldest went
 * ids.tagOf("c"); // 7
 * ids.size; // 2
 * ```
 */
export class BoundedIds implements Iterable<string> {
  /** Most ids held (`Infinity`: no limit; 0: none). */
  readonly limit: number;
  readonly #ids = new Map<string, number>();
  readonly #ring: (string | undefined)[];
  #pos = 0;
  readonly #onEvict: ((id: string, tag: number) => void) | undefined;

  /**
   * An empty set.
   * @param limit Most ids held (`Infinity` for no limit, 0 to hold none).
   * @param onEvict Called with each id (and its tag) evicted to make room (not for `delete` or
   *   `clear`).
   * @throws {RangeError} If `limit` is negative or a fraction.
   */
  constructor(limit: number, onEvict?: (id: string, tag: number) => void) {
    if (limit !== Infinity && !(Number.isInteger(limit) && limit >= 0)) {
      throw new RangeError(`BoundedIds limit must be a whole number ≥ 0 or Infinity: ${limit}`);
    }
    this.limit = limit;
    this.#ring = limit === Infinity ? [] : new Array(limit);
    this.#onEvict = onEvict;
  }

  /** Number of ids held. */
  get size(): number {
    return this.#ids.size;
  }

  /** Whether `id` is held. */
  has(id: string): boolean {
    return this.#ids.has(id);
  }

  /** The tag `id` was added with, or undefined when it is not held. */
  tagOf(id: string): number | undefined {
    return this.#ids.get(id);
  }

  /**
   * Adds `id` (a no-op if held), evicting the oldest id when the set is full.
   * @param id The id.
   * @param tag A small integer kept with it (default 0).
   * @returns This set.
   */
  add(id: string, tag = 0): this {
    if (this.#ids.has(id) || this.limit === 0) return this;
    if (this.limit !== Infinity) {
      const old = this.#ring[this.#pos];
      if (old !== undefined) {
        const oldTag = this.#ids.get(old);
        if (oldTag !== undefined) {
          this.#ids.delete(old);
          this.#onEvict?.(old, oldTag);
        }
      }
      this.#ring[this.#pos] = id;
      this.#pos = this.#pos + 1 === this.limit ? 0 : this.#pos + 1;
    }
    this.#ids.set(id, tag);
    return this;
  }

  /**
   * Removes `id`.
   * @returns Whether it was held.
   */
  delete(id: string): boolean {
    return this.#ids.delete(id);
  }

  /** Removes every id. */
  clear(): void {
    this.#ids.clear();
    this.#ring.fill(undefined);
    this.#pos = 0;
  }

  /** The ids held, oldest first. */
  [Symbol.iterator](): IterableIterator<string> {
    return this.#ids.keys();
  }
}
