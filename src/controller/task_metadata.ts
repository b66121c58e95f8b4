/**
 * Scheduling metadata of load-balanced requests (PROTOCOL.md §7.1): the wire shape and its
 * parsing with every default applied.
 *
 * @module
 */

import { MalformedDependency } from "../errors.ts";
import { type Dependency, parseDependency } from "./dependency.ts";

/** Scheduling metadata as a client sends it; every key optional (`{}` is valid). */
export interface TaskMetadata {
  /** Time dependency: list of msg_ids or the dict form. */
  after?: unknown;
  /** Location dependency, same forms. */
  follow?: unknown;
  /** Seconds the task may wait queued; 0/null = forever. */
  timeout?: number | string | null;
  /** Engine uuids the task may run on; empty = any. */
  targets?: string[] | null;
  /** Times to re-run elsewhere after a failure. */
  retries?: number;
  /** Other keys are ignored. */
  [key: string]: unknown;
}

/** {@link TaskMetadata} with defaults applied. */
export interface ParsedTaskMetadata {
  /** Time dependency (the empty `MET` if none). */
  after: Dependency;
  /** Location dependency (the empty `MET` if none). */
  follow: Dependency;
  /** Allowed engine uuids, or null for any. */
  targets: Set<string> | null;
  /** Retries (integer ≥ 0). */
  retries: number;
  /** Queue timeout in ms; 0 = none (negative: already expired, as in Python). */
  timeoutMs: number;
}

/**
 * Parses scheduling metadata with the defaults of §7.1: `after`/`follow` `[]`, `timeout` 0
 * (none), `targets` `[]` (any), `retries` 0. Numeric strings are accepted for numbers, as
 * Python's `float()`/comparisons do.
 *
 * @param md The request metadata (null means `{}`).
 * @returns The parsed metadata.
 * @throws {MalformedDependency} For malformed dependencies or a `targets` that is not a list
 *   of strings.
 * @example
 * ```ts
 * parseTaskMetadata({ timeout: 0.5 }).timeoutMs; // 500
 * ```
 */
export function parseTaskMetadata(md: TaskMetadata | null | undefined): ParsedTaskMetadata {
  md ??= {};
  const targets = md.targets ?? [];
  if (!Array.isArray(targets) || !targets.every((t) => typeof t === "string")) {
    throw new MalformedDependency("targets must be a list of engine uuids");
  }
  const timeout = Number(md.timeout ?? 0);
  return {
    after: parseDependency(md.after),
    follow: parseDependency(md.follow),
    targets: targets.length ? new Set(targets) : null,
    retries: Math.max(0, Math.floor(Number(md.retries ?? 0)) || 0),
    timeoutMs: Number.isFinite(timeout) && timeout !== 0 ? timeout * 1000 : 0,
  };
}
