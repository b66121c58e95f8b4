/**
 * The black-hole task database (`--nodb`, PROTOCOL.md §8.3): writes are ignored, and every
 * read that needs data throws {@link NoDataError} (Python's `NoData`, a `KeyError`), which the
 * Hub turns into error replies for `result_request` (full), `db_request`, `history_request`
 * and `resubmit_request`.
 *
 * @module
 */

import { NoDataError } from "../../errors.ts";
import type { NewTaskRecord, Query, TaskDb, TaskRecord, TaskRecordUpdate } from "./types.ts";

/**
 * A database that stores nothing.
 *
 * @example
 * ```ts
 * const db = new NoDb();
 * db.add({ msg_id: "a" }); // ignored
 * db.has("a"); // false
 * ```
 */
export class NoDb implements TaskDb {
  /** Ignored. */
  add(_record: NewTaskRecord): void {}
  /** Ignored. */
  update(_msgId: string, _changes: TaskRecordUpdate): void {}
  /**
   * Has no data.
   * @throws {NoDataError} Always.
   */
  get(_msgId: string): TaskRecord {
    throw new NoDataError();
  }
  /** Always false. */
  has(_msgId: string): boolean {
    return false;
  }
  /**
   * Has no data.
   * @throws {NoDataError} Always.
   */
  find(_query: Query, _keys?: readonly string[] | null): Partial<TaskRecord>[] {
    throw new NoDataError();
  }
  /** Ignored. */
  drop(_msgId: string): void {}
  /** Ignored; returns 0. */
  dropMatching(_query: Query): number {
    return 0;
  }
  /**
   * Has no data.
   * @throws {NoDataError} Always.
   */
  history(): string[] {
    throw new NoDataError();
  }
  /** Always 0. */
  size(): number {
    return 0;
  }
  /** Nothing to release. */
  close(): void {}
}
