/**
 * Engine selection shared by the Client and the views: `"all"`, one id, a list of ids, or a
 * slice (ipyparallel's `Client._build_targets`), resolved against the engines registered now.
 *
 * @module
 */

import { InvalidOptionError, NoEnginesRegistered } from "../errors.ts";

/** Which engines: `"all"` (follows engines that join later), one id, or a list of ids. */
export type Targets = "all" | number | readonly number[];

/** A slice of the engine list, like Python's `rc[start:stop:step]`. */
export interface EngineSlice {
  /** First index (negative counts from the end). Default 0. */
  start?: number;
  /** End index, exclusive (negative counts from the end). Default: the end. */
  stop?: number;
  /** Step (positive). Default 1. */
  step?: number;
}

/**
 * The engine ids a selection names now.
 *
 * @param targets The selection; `undefined` means `"all"`.
 * @param ids The registered engine ids, ascending.
 * @returns The ids, in the order given (ascending for `"all"`).
 * @throws {NoEnginesRegistered} No engine is registered (for `"all"`).
 * @throws {InvalidOptionError} An id is not registered, or the selection is malformed.
 * @example
 * ```ts
 * import { resolveTargets } from "./targets.ts";
 * resolveTargets([1, 0], [0, 1, 2]); // [1, 0]
 * ```
 */
export function resolveTargets(targets: Targets | undefined, ids: readonly number[]): number[] {
  if (targets === undefined || targets === "all") {
    if (ids.length === 0) {
      throw new NoEnginesRegistered(
        "No engines are registered (start some with `ipp engine` or `ipcluster engines`)",
      );
    }
    return [...ids];
  }
  const list = typeof targets === "number" ? [targets] : targets;
  if (!Array.isArray(list)) {
    throw new InvalidOptionError(
      "targets",
      `targets must be "all", an engine id or a list of ids, got ${JSON.stringify(targets)}`,
    );
  }
  for (const id of list) {
    if (!Number.isInteger(id)) {
      throw new InvalidOptionError("targets", `engine ids are integers, got ${JSON.stringify(id)}`);
    }
    if (!ids.includes(id)) {
      throw new InvalidOptionError(
        "targets",
        `Engine ${id} is not registered (registered: [${ids.join(", ")}])`,
      );
    }
  }
  return [...list];
}

/**
 * Engine ids selected by index into the registered list, Python-style.
 *
 * @param ids Registered ids, ascending.
 * @param slice Start, stop, step.
 * @returns The selected ids.
 * @throws {InvalidOptionError} `step` is not a positive integer.
 * @example
 * ```ts
 * import { sliceIds } from "./targets.ts";
 * sliceIds([0, 1, 2, 3], { start: 1, step: 2 }); // [1, 3]
 * ```
 */
export function sliceIds(ids: readonly number[], slice: EngineSlice): number[] {
  const step = slice.step ?? 1;
  if (!Number.isInteger(step) || step <= 0) {
    throw new InvalidOptionError("step", `step must be a positive integer, got ${step}`);
  }
  const n = ids.length;
  const norm = (i: number | undefined, dflt: number) =>
    i === undefined ? dflt : Math.min(n, Math.max(0, i < 0 ? n + i : i));
  const out: number[] = [];
  for (let i = norm(slice.start, 0); i < norm(slice.stop, n); i += step) out.push(ids[i]);
  return out;
}

/**
 * Splits `length` items into `parts` contiguous partitions as evenly as possible (the first
 * `length % parts` get one more), like ipyparallel's `Map._partition`.
 *
 * @param length Number of items.
 * @param parts Number of partitions (> 0).
 * @param index Which partition.
 * @returns `[low, high)` bounds of partition `index`.
 * @example
 * ```ts
 * import { partition } from "./targets.ts";
 * partition(10, 3, 0); // [0, 4]
 * ```
 */
export function partition(length: number, parts: number, index: number): [number, number] {
  const base = Math.floor(length / parts);
  const remainder = length % parts;
  const low = index * base + Math.min(index, remainder);
  return [low, low + base + (index < remainder ? 1 : 0)];
}
