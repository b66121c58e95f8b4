/**
 * The Mongo-style query language of the task database (PROTOCOL.md §8.2), evaluated in memory.
 *
 * Deliberate differences from Python's DictDB:
 * - `$gt` is greater-than. DictDB implements it as `b > a`, i.e. less-than (PROTOCOL.md §10
 *   quirk #11); we fix it, since no client relies on the inverted meaning (the Python client's
 *   own queries use `$in`, `$ne`, `$lt`, `$gte`).
 * - Ordering operators (`$lt` `$lte` `$gt` `$gte`) and `$mod` are simply false when the two
 *   sides are not both numbers or both strings (a missing field is `null`); Python raises
 *   `TypeError` and fails the whole query.
 *
 * Dates are normalized ISO strings on both sides (see `../dates.ts`), so "compared as dates"
 * is string comparison.
 *
 * @module
 */

import { QueryError } from "../../errors.ts";
import { pyRepr } from "../error_content.ts";
import { normalizeDatesDeep } from "../dates.ts";
import { type Query, TASK_RECORD_KEYS, type TaskRecord } from "./types.ts";

/** The supported operators. */
export const OPERATORS = [
  "$eq",
  "$ne",
  "$lt",
  "$lte",
  "$gt",
  "$gte",
  "$in",
  "$nin",
  "$all",
  "$mod",
  "$exists",
] as const;

/** One supported operator name. */
export type Operator = typeof OPERATORS[number];

const OPERATOR_SET: ReadonlySet<string> = new Set(OPERATORS);
const KEY_SET: ReadonlySet<string> = new Set(TASK_RECORD_KEYS);

/** One condition on one field: a list of (operator, operand) tests, all of which must hold. */
export interface FieldCondition {
  /** The record field. */
  field: string;
  /** The tests; a plain value is compiled to a single `$eq`. */
  tests: { op: Operator; operand: unknown }[];
}

/** Whether `v` is an operator object rather than a plain value. */
function isOperatorObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v) && !(v instanceof Uint8Array);
}

/**
 * Parses and validates a query: normalizes date-looking strings, splits it into per-field
 * conditions, rejects unknown operators.
 *
 * @param query The query object.
 * @returns One condition per field.
 * @throws {QueryError} For an unknown operator (`KeyError: '$foo'`).
 * @example
 * ```ts
 * parseQuery({ completed: { $ne: null } });
 * ```
 */
export function parseQuery(query: Query): FieldCondition[] {
  if (!isOperatorObject(query)) {
    throw new QueryError(pyRepr(String(query)), "Query must be an object");
  }
  const normalized = normalizeDatesDeep(query) as Query;
  const out: FieldCondition[] = [];
  for (const [field, cond] of Object.entries(normalized)) {
    if (isOperatorObject(cond)) {
      const tests: FieldCondition["tests"] = [];
      for (const [op, operand] of Object.entries(cond)) {
        if (!OPERATOR_SET.has(op)) {
          throw new QueryError(pyRepr(op), `Unsupported query operator ${op} on field ${field}`);
        }
        tests.push({ op: op as Operator, operand });
      }
      out.push({ field, tests });
    } else {
      out.push({ field, tests: [{ op: "$eq", operand: cond }] });
    }
  }
  return out;
}

/**
 * Deep equality for JSON values and byte arrays (Python `==` on dicts and lists).
 *
 * @param a First value (`undefined` counts as `null`).
 * @param b Second value.
 * @returns Whether they are equal.
 */
export function deepEqual(a: unknown, b: unknown): boolean {
  a ??= null;
  b ??= null;
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    if (!(a instanceof Uint8Array && b instanceof Uint8Array) || a.length !== b.length) {
      return false;
    }
    return a.every((x, i) => x === b[i]);
  }
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((x, i) => deepEqual(x, bb[i]));
  }
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  const ob = b as Record<string, unknown>;
  return ka.every((k) =>
    Object.hasOwn(ob, k) && deepEqual((a as Record<string, unknown>)[k], ob[k])
  );
}

function comparable(a: unknown, b: unknown): boolean {
  return (typeof a === "number" && typeof b === "number") ||
    (typeof a === "string" && typeof b === "string");
}

function contains(container: unknown, a: unknown): boolean {
  if (Array.isArray(container)) return container.some((x) => deepEqual(x, a));
  if (typeof container === "string" && typeof a === "string") return container.includes(a);
  return false;
}

/**
 * Evaluates one operator (PROTOCOL.md §8.2 table, with `$gt` fixed).
 *
 * @param op The operator.
 * @param a The record's value (`undefined`/missing counts as `null`).
 * @param b The operand.
 * @returns Whether the test holds.
 */
export function testOperator(op: Operator, a: unknown, b: unknown): boolean {
  a ??= null;
  switch (op) {
    case "$eq":
      return deepEqual(a, b);
    case "$ne":
      return !deepEqual(a, b);
    case "$lt":
      return comparable(a, b) && (a as number) < (b as number);
    case "$lte":
      return comparable(a, b) && (a as number) <= (b as number);
    case "$gt":
      return comparable(a, b) && (a as number) > (b as number);
    case "$gte":
      return comparable(a, b) && (a as number) >= (b as number);
    case "$in":
      return contains(b, a);
    case "$nin":
      return !contains(b, a);
    case "$all":
      return Array.isArray(b) && b.every((c) => contains(c, a));
    case "$mod": {
      if (typeof a !== "number" || !Array.isArray(b) || typeof b[0] !== "number" || b[0] === 0) {
        return false;
      }
      const d = b[0];
      return (((a % d) + d) % d) === b[1]; // Python's floored modulo
    }
    case "$exists":
      return b ? a !== null : a === null;
  }
}

/**
 * Whether a record satisfies every condition.
 *
 * @param rec The record (or a partial one holding at least the tested fields).
 * @param conditions From {@link parseQuery}.
 * @returns True when all hold.
 */
export function matches(rec: Partial<TaskRecord>, conditions: readonly FieldCondition[]): boolean {
  const r = rec as Record<string, unknown>;
  for (const { field, tests } of conditions) {
    const a = r[field];
    for (const { op, operand } of tests) if (!testOperator(op, a, operand)) return false;
  }
  return true;
}

/**
 * Validates a key projection (PROTOCOL.md §5.5).
 *
 * @param keys Requested keys, or null/undefined for all.
 * @returns The keys with `msg_id` first and no duplicates, or null for all.
 * @throws {QueryError} For a key that is not a TaskRecord field.
 */
export function checkKeys(keys: readonly string[] | null | undefined): string[] | null {
  if (keys === null || keys === undefined || keys.length === 0) return null;
  const bad = keys.filter((k) => !KEY_SET.has(k));
  if (bad.length) {
    throw new QueryError(
      pyRepr(`Bad record key(s): ${pyRepr(bad)}`),
      `Unknown record key(s): ${bad.join(", ")}`,
    );
  }
  return ["msg_id", ...new Set(keys.filter((k) => k !== "msg_id"))];
}

/**
 * Copies the projected keys of a record (buffer lists are copied, their bytes shared).
 *
 * @param rec The full record.
 * @param keys From {@link checkKeys}; null copies everything.
 * @returns The projection.
 */
export function project(rec: TaskRecord, keys: readonly string[] | null): Partial<TaskRecord> {
  const src = rec as unknown as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const k of keys ?? TASK_RECORD_KEYS) out[k] = copyValue(src[k]);
  return out as Partial<TaskRecord>;
}

/**
 * Copies a stored value so callers cannot mutate the store: JSON is cloned, a buffer list is
 * a new array over the same bytes.
 *
 * @param v A record field value.
 * @returns The copy.
 */
export function copyValue(v: unknown): unknown {
  if (v === null || typeof v !== "object") return v;
  if (Array.isArray(v) && v.every((x) => x instanceof Uint8Array)) return v.slice();
  return structuredClone(v);
}
