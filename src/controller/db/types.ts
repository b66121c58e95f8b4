/**
 * TaskRecords and the task-database seam (PROTOCOL.md §8).
 *
 * Dates in records are normalized ISO strings with microseconds (see `../dates.ts`); buffers
 * are `Uint8Array[]`, shared rather than copied (callers must not mutate them).
 *
 * @module
 */

import { normalizeDate } from "../dates.ts";

/** A JSON object as stored in a record (`header`, `content`, `result_metadata`…). */
export type JsonObject = Record<string, unknown>;

/** One request the Hub saw, with its reply and output (PROTOCOL.md §8.1). */
export interface TaskRecord {
  /** The request's msg_id (primary key). */
  msg_id: string;
  /** Request header. */
  header: JsonObject | null;
  /** Request metadata. */
  metadata: JsonObject | null;
  /** Request content. */
  content: JsonObject | null;
  /** Request buffers. */
  buffers: Uint8Array[] | null;
  /** Request `header.date`, normalized. */
  submitted: string | null;
  /** Request `header.session` (not the ZMQ routing id). */
  client_uuid: string | null;
  /** Engine uuid (`""` for scheduler-failed tasks). */
  engine_uuid: string | null;
  /** Reply `metadata.started`. */
  started: string | null;
  /** Reply `header.date`. */
  completed: string | null;
  /** msg_id of the resubmitted copy, if any. */
  resubmitted: string | null;
  /** Hub clock when the reply was seen. */
  received: string | null;
  /** Reply header. */
  result_header: JsonObject | null;
  /** Reply metadata. */
  result_metadata: JsonObject | null;
  /** Reply content. */
  result_content: JsonObject | null;
  /** Reply buffers. */
  result_buffers: Uint8Array[] | null;
  /** `"mux"` or `"task"`. */
  queue: string | null;
  /** IOPub `execute_input.content.code`. */
  execute_input: string | null;
  /** IOPub `execute_result.content`. */
  execute_result: JsonObject | null;
  /** IOPub `error.content` (last one wins). */
  error: JsonObject | null;
  /** IOPub `display_data.content` (last one wins). */
  display_data: JsonObject | null;
  /** Accumulated IOPub stdout. */
  stdout: string;
  /** Accumulated IOPub stderr. */
  stderr: string;
}

/** Every TaskRecord field name, in storage order. */
export const TASK_RECORD_KEYS: readonly (keyof TaskRecord)[] = [
  "msg_id",
  "header",
  "metadata",
  "content",
  "buffers",
  "submitted",
  "client_uuid",
  "engine_uuid",
  "started",
  "completed",
  "resubmitted",
  "received",
  "result_header",
  "result_metadata",
  "result_content",
  "result_buffers",
  "queue",
  "execute_input",
  "execute_result",
  "error",
  "display_data",
  "stdout",
  "stderr",
];

/** The date fields, stored normalized. */
export const DATE_KEYS: readonly DateField[] = [
  "submitted",
  "started",
  "completed",
  "received",
];

/** The buffer-list fields. */
export const BUFFER_KEYS: readonly (keyof TaskRecord)[] = ["buffers", "result_buffers"];

/** The date field names. */
export type DateField = "submitted" | "started" | "completed" | "received";

/** Record fields as accepted on input: dates may be `Date`s or any ISO form. */
export type TaskRecordInput =
  & Omit<Partial<TaskRecord>, DateField>
  & { [K in DateField]?: string | Date | null };

/** A record as passed to {@link TaskDb.add}: `msg_id` plus any fields (others default). */
export type NewTaskRecord = TaskRecordInput & { msg_id: string };

/** Changes passed to {@link TaskDb.update}. */
export type TaskRecordUpdate = Omit<TaskRecordInput, "msg_id">;

/**
 * A Mongo-style query (PROTOCOL.md §8.2): `{field: value | {$op: operand, …}, …}`.
 * All fields must match; a missing field counts as `null`.
 */
export type Query = Record<string, unknown>;

/**
 * The task database. Synchronous: both built-in backends are (SQLite through `node:sqlite`).
 * Every method that needs stored data throws {@link NoDataError} on `NoDb`.
 *
 * `add` and `update` take ownership of the objects they are given (no copy is made, as in
 * Python's DictDB); `get` and `find` return copies, sharing only buffer bytes.
 */
export interface TaskDb {
  /**
   * Adds a record; missing fields get their defaults (`null`, `""` for stdout/stderr).
   * @throws {DuplicateRecord} If the msg_id exists.
   */
  add(record: NewTaskRecord): void;
  /**
   * Merges `changes` into an existing record.
   * @throws {NoSuchRecord} If missing ({@link RecordCulled} if culled).
   */
  update(msgId: string, changes: TaskRecordUpdate): void;
  /**
   * Like {@link TaskDb.update}, but returns `false` instead of throwing for a missing or culled
   * record (optional: a fast path for backends where throwing is the costly part).
   */
  tryUpdate?(msgId: string, changes: TaskRecordUpdate): boolean;
  /**
   * Returns a copy of one record.
   * @throws {NoSuchRecord} If missing ({@link RecordCulled} if culled).
   */
  get(msgId: string): TaskRecord;
  /** Whether a record exists (false on `NoDb`). */
  has(msgId: string): boolean;
  /**
   * Records matching `query`, in insertion order. With `keys`, each result holds `msg_id` plus
   * those keys only.
   * @throws {QueryError} For an unknown operator or key.
   */
  find(query: Query, keys?: readonly string[] | null): Partial<TaskRecord>[];
  /** Removes one record (no error if missing). */
  drop(msgId: string): void;
  /** Removes every matching record; returns how many. */
  dropMatching(query: Query): number;
  /** msg_ids of records with a `submitted` date, oldest first (order of ties unspecified). */
  history(): string[];
  /** Number of stored records. */
  size(): number;
  /** Flushes and releases resources; idempotent. */
  close(): void;
}

/**
 * A record with every field at its default.
 *
 * @param msgId The msg_id.
 * @returns A fresh record.
 * @example
 * ```ts
 * emptyRecord("abc").stdout; // ""
 * ```
 */
export function emptyRecord(msgId: string): TaskRecord {
  return {
    msg_id: msgId,
    header: null,
    metadata: null,
    content: null,
    buffers: null,
    submitted: null,
    client_uuid: null,
    engine_uuid: null,
    started: null,
    completed: null,
    resubmitted: null,
    received: null,
    result_header: null,
    result_metadata: null,
    result_content: null,
    result_buffers: null,
    queue: null,
    execute_input: null,
    execute_result: null,
    error: null,
    display_data: null,
    stdout: "",
    stderr: "",
  };
}

/**
 * Returns a copy of `changes` with its date fields normalized (`Date`s and any ISO form become
 * `YYYY-MM-DDTHH:MM:SS.ffffffZ`).
 *
 * @param changes Record fields.
 * @returns The normalized copy.
 * @throws {TypeError} When a date field holds something that is not a date.
 */
export function normalizeRecordDates(changes: TaskRecordInput): Partial<TaskRecord> {
  const out = { ...changes } as Record<string, unknown>;
  for (const k of DATE_KEYS) {
    const v = out[k] as unknown;
    if (v === undefined || v === null) continue;
    if (v instanceof Date || typeof v === "string") out[k] = normalizeDate(v);
    else throw new TypeError(`${k} must be null, a Date or an ISO string, not ${typeof v}`);
  }
  return out as Partial<TaskRecord>;
}

/**
 * Like {@link normalizeRecordDates}, but returns `changes` itself when every date in it is
 * already normalized (the Hub's own records): for callers that only read the result.
 *
 * @param changes Record fields.
 * @returns `changes`, or a normalized copy.
 * @throws {TypeError} When a date field holds something that is not a date.
 */
export function withNormalDates(changes: TaskRecordInput): Partial<TaskRecord> {
  for (const k of DATE_KEYS) {
    const v = (changes as Record<string, unknown>)[k];
    if (v === undefined || v === null) continue;
    if (typeof v !== "string" || normalizeDate(v) !== v) return normalizeRecordDates(changes);
  }
  return changes as Partial<TaskRecord>;
}

/**
 * Total byte length of a record's buffers and result buffers.
 *
 * @param rec A record or partial record.
 * @returns The sum of buffer lengths.
 */
export function bufferBytes(rec: TaskRecordInput): number {
  let n = 0;
  for (const b of rec.buffers ?? []) n += b.byteLength;
  for (const b of rec.result_buffers ?? []) n += b.byteLength;
  return n;
}
