/**
 * The settled-results cache of {@link TaskRegistry} (task_registry.ts): settled task records by
 * msg_id, at most `max` of them. Records an AsyncResult already read are evicted first, then the
 * oldest unread ones (ipyparallel keeps every result forever, the most common memory complaint
 * of its users).
 *
 * @module
 */

import type { TaskRecord } from "./task_record.ts";

/**
 * Settled records by msg_id, oldest first. `Map` keeps insertion order, but finding its first
 * key after many deletions at the front walks over the deleted slots (it was a fifth of the
 * registry's time at 10 000 cached results), so the order lives in an array queue whose stale
 * entries (deleted or moved records) are skipped by identity and compacted away.
 */
class SettledRecords {
  readonly #byId = new Map<string, TaskRecord>();
  #order: (TaskRecord | undefined)[] = [];
  #head = 0;

  get size(): number {
    return this.#byId.size;
  }

  get(msgId: string): TaskRecord | undefined {
    return this.#byId.get(msgId);
  }

  add(rec: TaskRecord): void {
    this.#byId.set(rec.msgId, rec);
    this.#order.push(rec);
    // Stale entries are at most twice the live ones (amortised O(1) per add).
    if (this.#order.length - this.#head > 2 * this.#byId.size + 1024) this.#compact();
  }

  delete(msgId: string): boolean {
    return this.#byId.delete(msgId);
  }

  clear(): void {
    this.#byId.clear();
    this.#order = [];
    this.#head = 0;
  }

  dropOldest(): void {
    const order = this.#order;
    while (this.#head < order.length) {
      const rec = order[this.#head];
      order[this.#head++] = undefined;
      if (rec !== undefined && this.#byId.get(rec.msgId) === rec) {
        this.#byId.delete(rec.msgId);
        break;
      }
    }
    if (this.#head > 1024 && this.#head * 2 > order.length) this.#compact();
  }

  #compact(): void {
    const byId = this.#byId;
    const kept: TaskRecord[] = [];
    for (let i = this.#head; i < this.#order.length; i++) {
      const rec = this.#order[i];
      if (rec !== undefined && byId.get(rec.msgId) === rec) kept.push(rec);
    }
    this.#order = kept;
    this.#head = 0;
  }
}

/** Settled records, unread and read apart, bounded by `max` (module doc). */
export class SettledResults {
  readonly #unread = new SettledRecords();
  readonly #read = new SettledRecords();
  readonly #max: number;
  #evicted = 0;

  /**
   * Creates an empty cache.
   *
   * @param max How many records to keep (`Infinity` = all).
   * @throws {RangeError} `max` is negative or NaN.
   */
  constructor(max: number) {
    if (!(max >= 0)) throw new RangeError(`maxCachedResults must be >= 0, got ${max}`);
    this.#max = max;
  }

  /** How many records are cached. */
  get size(): number {
    return this.#unread.size + this.#read.size;
  }

  /** How many records were dropped to respect `max`. */
  get evicted(): number {
    return this.#evicted;
  }

  /** The cached record of a msg_id. */
  get(msgId: string): TaskRecord | undefined {
    return this.#unread.get(msgId) ?? this.#read.get(msgId);
  }

  /** A task just settled: cached as unread (the oldest records go past `max`). */
  add(rec: TaskRecord): void {
    this.#unread.add(rec);
    while (this.#unread.size + this.#read.size > this.#max) {
      (this.#read.size > 0 ? this.#read : this.#unread).dropOldest();
      this.#evicted++;
    }
  }

  /** Forgets one record (a purge, or the msg_id is tracked again). */
  delete(msgId: string): void {
    this.#unread.delete(msgId);
    this.#read.delete(msgId);
  }

  /** Forgets every record. */
  clear(): void {
    this.#unread.clear();
    this.#read.clear();
  }

  /** These records were read by an AsyncResult: they are evicted first from now on. */
  markRead(msgIds: readonly string[]): void {
    for (const id of msgIds) {
      const rec = this.#unread.get(id);
      if (rec === undefined) continue;
      this.#unread.delete(id);
      this.#read.add(rec);
    }
  }
}
