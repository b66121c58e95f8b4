/**
 * Error replies to errors (PROTOCOL.md §6.4): one place that turns an error content dict into
 * the error the user sees, shared by live replies, Hub query replies and Hub result records.
 *
 * @module
 */

import {
  EngineError,
  ImpossibleDependency,
  InvalidDependency,
  RemoteError,
  TaskTimeout,
} from "../errors.ts";
import type { EngineInfo } from "../errors.ts";

/** Looks an engine id up by uuid. */
export type EngineIdOf = (uuid: string) => number | undefined;

/**
 * Builds a `RemoteError` from an error content dict (`ename`, `evalue`, `traceback`,
 * `engine_info`). Python engines put `engine_id: -1` in `engine_info` (PROTOCOL.md §10 #4), so
 * the id is looked up from the uuid when `engineIdOf` knows it.
 *
 * @param content The error content.
 * @param engineIdOf Engine id look-up.
 * @returns The error.
 *
 * @example
 * ```ts
 * import { remoteErrorOf } from "./reply_errors.ts";
 * const e = remoteErrorOf({ ename: "ValueError", evalue: "bad", traceback: ["tb"], engine_info: {} });
 * console.log(e.message); // "ValueError: bad"
 * ```
 */
export function remoteErrorOf(
  content: Record<string, unknown>,
  engineIdOf?: EngineIdOf,
): RemoteError {
  const tb = content.traceback;
  const info = content.engine_info as Record<string, unknown> | undefined;
  const engineInfo: EngineInfo = {};
  if (info && !isEmpty(info)) {
    const uuid = typeof info.engine_uuid === "string" ? info.engine_uuid : undefined;
    engineInfo.engineUuid = uuid;
    const known = uuid === undefined ? undefined : engineIdOf?.(uuid);
    engineInfo.engineId = known ?? (typeof info.engine_id === "number" ? info.engine_id : -1);
    if (typeof info.method === "string") engineInfo.method = info.method;
  }
  return new RemoteError(
    String(content.ename ?? "UnknownError"),
    String(content.evalue ?? ""),
    Array.isArray(tb) ? tb.map(String) : [],
    engineInfo,
  );
}

/**
 * The error a failed request settles with. Failures the scheduler reports for the client's
 * own tasks (PROTOCOL.md §7.6, §7.7: `TaskTimeout`, `EngineError`, `ImpossibleDependency`,
 * `InvalidDependency`, with empty `engine_info`) get their local classes with the `RemoteError` as `cause`, so `instanceof TaskTimeout`
 * holds whichever side gave up; everything else is a `RemoteError`.
 *
 * @param content The error reply content.
 * @param engineIdOf Engine id look-up.
 * @returns The error.
 */
export function replyErrorOf(content: Record<string, unknown>, engineIdOf?: EngineIdOf): Error {
  const remote = remoteErrorOf(content, engineIdOf);
  if (isEmpty(content.engine_info)) {
    if (remote.ename === "TaskTimeout") {
      return new TaskTimeout(remote.evalue || "Task timed out in the scheduler queue", {
        cause: remote,
      });
    }
    if (remote.ename === "EngineError") return new EngineError(remote.evalue, { cause: remote });
    const Dependency = SCHEDULER_DEPENDENCY_ERRORS[remote.ename];
    if (Dependency) {
      return new Dependency(remote.evalue || `${remote.ename} (from the task scheduler)`, {
        cause: remote,
      });
    }
  }
  return remote;
}

/** Dependency failures the task scheduler fabricates (PROTOCOL.md §7.7). */
const SCHEDULER_DEPENDENCY_ERRORS: Record<string, typeof ImpossibleDependency | undefined> = {
  ImpossibleDependency,
  InvalidDependency,
};

/** Whether a JSON value is absent, or an object with no keys. */
export function isEmpty(value: unknown): boolean {
  if (value === null || value === undefined) return true;
  if (typeof value !== "object") return false;
  for (const _ in value) return false;
  return true;
}
