/**
 * msg_id dependencies of load-balanced tasks (PROTOCOL.md §7.1, §7.3), as plain data and pure
 * functions over the scheduler's `completed`/`failed` sets.
 *
 * @module
 */

import { MalformedDependency } from "../errors.ts";

/** A parsed `after` or `follow` value. */
export interface Dependency {
  /** The msg_ids depended on. */
  readonly ids: ReadonlySet<string>;
  /** All of them (true) or any one of them (false). */
  readonly all: boolean;
  /** Successes satisfy it. */
  readonly success: boolean;
  /** Failures satisfy it. */
  readonly failure: boolean;
}

/** The empty dependency: always met, never unreachable. */
export const MET: Dependency = Object.freeze({
  ids: new Set<string>(),
  all: true,
  success: true,
  failure: false,
});

/**
 * Parses the wire forms of a dependency (PROTOCOL.md §7.1): `null`/missing, one msg_id, a list
 * of msg_ids (`all=true, success=true, failure=false`) or
 * `{"dependencies": [...], "all": bool, "success": bool, "failure": bool}`.
 *
 * @param raw The metadata value.
 * @returns The dependency.
 * @throws {MalformedDependency} For non-string ids or `success=false, failure=false`.
 * @example
 * ```ts
 * parseDependency({ dependencies: ["a"], all: false }).all; // false
 * ```
 */
export function parseDependency(raw: unknown): Dependency {
  if (raw === null || raw === undefined || raw === "") return MET;
  let list: unknown = raw;
  let all = true;
  let success = true;
  let failure = false;
  if (typeof raw === "object" && !Array.isArray(raw)) {
    const d = raw as Record<string, unknown>;
    list = d.dependencies ?? [];
    all = d.all === undefined ? true : Boolean(d.all);
    success = d.success === undefined ? true : Boolean(d.success);
    failure = d.failure === undefined ? false : Boolean(d.failure);
  }
  if (typeof list === "string") list = [list];
  if (!Array.isArray(list) || !list.every((x) => typeof x === "string")) {
    throw new MalformedDependency(`Dependencies must be msg_id strings: ${JSON.stringify(raw)}`);
  }
  if (!success && !failure) {
    throw new MalformedDependency("Must depend on at least one of successes or failures");
  }
  if (list.length === 0) return MET;
  return { ids: new Set(list as string[]), all, success, failure };
}

/**
 * **met**: empty, or (all ? D ⊆ S : D ∩ S ≠ ∅) with S = (success ? completed : ∅) ∪
 * (failure ? failed : ∅) (PROTOCOL.md §7.3).
 *
 * @param dep The dependency.
 * @param completed msg_ids finished with status ok.
 * @param failed msg_ids finished otherwise.
 * @returns Whether it is met.
 */
export function isMet(
  dep: Dependency,
  completed: ReadonlySet<string>,
  failed: ReadonlySet<string>,
): boolean {
  if (dep.ids.size === 0) return true;
  const inS = (id: string) => (dep.success && completed.has(id)) || (dep.failure && failed.has(id));
  for (const id of dep.ids) {
    if (dep.all && !inS(id)) return false;
    if (!dep.all && inS(id)) return true;
  }
  return dep.all;
}

/**
 * **unreachable**: non-empty and (all ? D ∩ U ≠ ∅ : D ⊆ U) with U = (success ? ∅ : completed)
 * ∪ (failure ? ∅ : failed) (PROTOCOL.md §7.3).
 *
 * @param dep The dependency.
 * @param completed msg_ids finished with status ok.
 * @param failed msg_ids finished otherwise.
 * @returns Whether it can never be met.
 */
export function isUnreachable(
  dep: Dependency,
  completed: ReadonlySet<string>,
  failed: ReadonlySet<string>,
): boolean {
  if (dep.ids.size === 0) return false;
  const inU = (id: string) =>
    (!dep.success && completed.has(id)) || (!dep.failure && failed.has(id));
  for (const id of dep.ids) {
    if (dep.all && inU(id)) return true;
    if (!dep.all && !inU(id)) return false;
  }
  return !dep.all;
}

/**
 * Drops ids that already satisfy an `all` dependency (PROTOCOL.md §7.3 step 1); returns
 * {@link MET} when nothing is left to wait for.
 *
 * @param dep The dependency.
 * @param completed msg_ids finished with status ok.
 * @param failed msg_ids finished otherwise.
 * @returns The reduced dependency.
 */
export function reduceDependency(
  dep: Dependency,
  completed: ReadonlySet<string>,
  failed: ReadonlySet<string>,
): Dependency {
  if (dep.ids.size === 0) return MET;
  if (dep.all) {
    const left = [...dep.ids].filter((id) =>
      !((dep.success && completed.has(id)) || (dep.failure && failed.has(id)))
    );
    if (left.length !== dep.ids.size) dep = { ...dep, ids: new Set(left) };
  }
  return isMet(dep, completed, failed) ? MET : dep;
}

/**
 * A `follow` dependency checked on one engine (PROTOCOL.md §7.3): met against only the tasks
 * that finished on `engine`.
 *
 * @param dep The follow dependency.
 * @param engine The candidate engine's uuid.
 * @param completed msg_ids finished with status ok.
 * @param failed msg_ids finished otherwise.
 * @param destinations Engine uuid each finished task ran on.
 * @returns Whether the task may run on `engine`.
 */
export function isMetOn(
  dep: Dependency,
  engine: string,
  completed: ReadonlySet<string>,
  failed: ReadonlySet<string>,
  destinations: ReadonlyMap<string, string>,
): boolean {
  if (dep.ids.size === 0) return true;
  const ok = (id: string) =>
    destinations.get(id) === engine &&
    ((dep.success && completed.has(id)) || (dep.failure && failed.has(id)));
  return dep.all ? [...dep.ids].every(ok) : [...dep.ids].some(ok);
}

/**
 * Whether an all-`follow` dependency is impossible because the tasks that satisfy it ran on
 * more than one engine (PROTOCOL.md §7.4). Tasks the scheduler failed itself ran nowhere.
 *
 * @param dep The follow dependency.
 * @param completed msg_ids finished with status ok.
 * @param failed msg_ids finished otherwise.
 * @param destinations Engine uuid each finished task ran on.
 * @returns True when no single engine can satisfy it.
 */
export function spansEngines(
  dep: Dependency,
  completed: ReadonlySet<string>,
  failed: ReadonlySet<string>,
  destinations: ReadonlyMap<string, string>,
): boolean {
  if (!dep.all || dep.ids.size === 0) return false;
  const engines = new Set<string>();
  for (const id of dep.ids) {
    const relevant = (dep.success && completed.has(id)) || (dep.failure && failed.has(id));
    const d = destinations.get(id);
    if (relevant && d !== undefined) engines.add(d);
  }
  return engines.size > 1;
}
