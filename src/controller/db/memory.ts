/**
 * In-memory task database, like Python's DictDB (PROTOCOL.md §8.3): at most `recordLimit`
 * records and `sizeLimit` bytes of buffers; past either limit the oldest records (by
 * `submitted`) are culled, and a culled msg_id raises {@link RecordCulled} afterwards (for the
 * newest `culledIdCache` culled ids; older ones are missing, {@link NoSuchRecord}, as a
 * controller that runs for days must not remember every id it ever culled).
 *
 * @module
 */

import { DuplicateRecord, NoSuchRecord, RecordCulled } from "../../errors.ts";
import { BoundedIds } from "../bounded_ids.ts";
import { checkKeys, matches, parseQuery, project } from "./query.ts";
import {
  bufferBytes,
  emptyRecord,
  type NewTaskRecord,
  type Query,
  type TaskDb,
  type TaskRecord,
  type TaskRecordUpdate,
  withNormalDates,
} from "./types.ts";

/** Options of {@link MemoryDb}; defaults are DictDB's. */
export interface MemoryDbOptions {
  /** Maximum number of records (default 1024). */
  recordLimit?: number;
  /** Maximum total bytes of `buffers` + `result_buffers` (default 1 GiB). */
  sizeLimit?: number;
  /** Fraction culled when a limit is exceeded (default 0.1). */
  cullFraction?: number;
  /** How many culled msg_ids to remember as culled (default 100 000; `Infinity`: all). */
  culledIdCache?: number;
}

/**
 * The default task database.
 *
 * @example
 * ```ts
 * const db = new MemoryDb({ recordLimit: 100 });
 * db.add({ msg_id: "a", submitted: new Date() });
 * db.get("a").stdout; // ""
 * ```
 */
export class MemoryDb implements TaskDb {
  /** Maximum number of records. */
  readonly recordLimit: number;
  /** Maximum bytes of buffers. */
  readonly sizeLimit: number;
  /** Fraction culled at a time. */
  readonly cullFraction: number;
  #records = new Map<string, TaskRecord>();
  #culled: BoundedIds;
  #bytes = 0;

  /**
   * Creates an empty database.
   * @param options Limits; see {@link MemoryDbOptions}.
   */
  constructor(options: MemoryDbOptions = {}) {
    this.recordLimit = options.recordLimit ?? 1024;
    this.sizeLimit = options.sizeLimit ?? 1024 ** 3;
    this.cullFraction = options.cullFraction ?? 0.1;
    this.#culled = new BoundedIds(options.culledIdCache ?? 100_000);
  }

  /** Total bytes of stored buffers. */
  get bufferBytes(): number {
    return this.#bytes;
  }

  #live(msgId: string): TaskRecord {
    const rec = this.#records.get(msgId);
    if (rec) return rec;
    if (this.#culled.has(msgId)) throw new RecordCulled(msgId);
    throw new NoSuchRecord(msgId);
  }

  /** Adds a record. @throws {DuplicateRecord} If the msg_id exists. */
  add(record: NewTaskRecord): void {
    if (this.#records.has(record.msg_id)) throw new DuplicateRecord(record.msg_id);
    const rec = Object.assign(emptyRecord(record.msg_id), withNormalDates(record));
    this.#records.set(rec.msg_id, rec);
    this.#culled.delete(rec.msg_id);
    this.#bytes += bufferBytes(rec);
    this.#maybeCull();
  }

  /** Merges changes. @throws {NoSuchRecord} If missing or culled. */
  update(msgId: string, changes: TaskRecordUpdate): void {
    this.#merge(this.#live(msgId), msgId, changes);
  }

  /**
   * Merges changes if the record is live; the Hub's hot path (no exception for culled records).
   * @returns `false` (and nothing changed) when the record is missing or culled.
   */
  tryUpdate(msgId: string, changes: TaskRecordUpdate): boolean {
    const rec = this.#records.get(msgId);
    if (rec === undefined) return false;
    this.#merge(rec, msgId, changes);
    return true;
  }

  #merge(rec: TaskRecord, msgId: string, changes: TaskRecordUpdate): void {
    this.#bytes -= bufferBytes(rec);
    Object.assign(rec, withNormalDates(changes));
    rec.msg_id = msgId;
    this.#bytes += bufferBytes(rec);
    this.#maybeCull();
  }

  /** A copy of one record. @throws {NoSuchRecord} If missing or culled. */
  get(msgId: string): TaskRecord {
    return project(this.#live(msgId), null) as TaskRecord;
  }

  /** Whether the record exists. */
  has(msgId: string): boolean {
    return this.#records.has(msgId);
  }

  /** Matching records (copies), in insertion order. */
  find(query: Query, keys?: readonly string[] | null): Partial<TaskRecord>[] {
    const conditions = parseQuery(query);
    const projection = checkKeys(keys);
    const out: Partial<TaskRecord>[] = [];
    for (const rec of this.#records.values()) {
      if (matches(rec, conditions)) out.push(project(rec, projection));
    }
    return out;
  }

  /** Removes a record if present. */
  drop(msgId: string): void {
    const rec = this.#records.get(msgId);
    if (!rec) return;
    this.#bytes -= bufferBytes(rec);
    this.#records.delete(msgId);
  }

  /** Removes all matching records. */
  dropMatching(query: Query): number {
    const conditions = parseQuery(query);
    const doomed: string[] = [];
    for (const rec of this.#records.values()) if (matches(rec, conditions)) doomed.push(rec.msg_id);
    for (const id of doomed) this.drop(id);
    return doomed.length;
  }

  /** msg_ids with a `submitted` date, oldest first. */
  history(): string[] {
    const recs = [...this.#records.values()].filter((r) => r.submitted !== null);
    // Array.prototype.sort is stable: ties keep insertion order.
    recs.sort((a, b) => (a.submitted! < b.submitted! ? -1 : a.submitted! > b.submitted! ? 1 : 0));
    return recs.map((r) => r.msg_id);
  }

  /** Number of records. */
  size(): number {
    return this.#records.size;
  }

  /** Nothing to release. */
  close(): void {}

  #cullOldest(n: number): number {
    const victims = this.history().slice(0, n);
    for (const id of victims) {
      this.drop(id);
      this.#culled.add(id);
    }
    return victims.length;
  }

  #maybeCull(): void {
    if (this.#records.size > this.recordLimit) {
      // Python culls int(fraction * limit), which is 0 for tiny limits; cull at least one.
      this.#cullOldest(Math.max(1, Math.floor(this.cullFraction * this.recordLimit)));
    }
    if (this.#bytes > this.sizeLimit) {
      const target = this.sizeLimit * (1 - this.cullFraction);
      while (this.#bytes > target) {
        if (this.#cullOldest(1) === 0) break; // only undated records left
      }
    }
  }
}
