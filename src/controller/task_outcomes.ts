/**
 * What the load-balancing scheduler (`task_scheduler.ts`) knows of tasks beyond its queues:
 * which msg_ids were submitted, which finished (completed or failed) and on which engine, and
 * which queued tasks wait on each unfinished one (PROTOCOL.md §7.1, §7.3). Dependencies are
 * judged against it with the pure functions of `dependency.ts`.
 *
 * @module
 */

import {
  type Dependency,
  isMet,
  isMetOn,
  isUnreachable,
  reduceDependency,
  spansEngines,
} from "./dependency.ts";

/** Submitted and finished tasks, and who waits on whom. */
export class TaskOutcomes {
  /** Submitted and not finished (a finished one moves to `#completed` or `#failed`). */
  readonly #submitted = new Set<string>();
  readonly #completed = new Set<string>();
  readonly #failed = new Set<string>();
  /** The engine each finished task's reply came from (not for failures made here). */
  readonly #engines = new Map<string, string>();
  /** Unfinished msg_id → msg_ids of queued tasks that depend on it. */
  readonly #dependents = new Map<string, Set<string>>();

  /** A task was submitted (again): known from now on, and no longer finished. */
  submitted(msgId: string): void {
    this.#submitted.add(msgId);
    this.#completed.delete(msgId);
    this.#failed.delete(msgId);
  }

  /** Whether a task with this msg_id was ever submitted (and not forgotten). */
  known(msgId: string): boolean {
    return this.#submitted.has(msgId) || this.#completed.has(msgId) || this.#failed.has(msgId);
  }

  /** `"completed"`, `"failed"`, or undefined while unfinished or unknown. */
  stateOf(msgId: string): "completed" | "failed" | undefined {
    if (this.#completed.has(msgId)) return "completed";
    if (this.#failed.has(msgId)) return "failed";
    return undefined;
  }

  /**
   * A task finished.
   *
   * @param msgId The task.
   * @param success Whether it completed (else it failed).
   * @param engine The engine whose reply finished it (none for failures made by the scheduler).
   */
  finished(msgId: string, success: boolean, engine?: string): void {
    this.#submitted.delete(msgId);
    (success ? this.#completed : this.#failed).add(msgId);
    if (engine !== undefined) this.#engines.set(msgId, engine);
  }

  /** Forgets a finished task entirely (a later dependency on it is invalid). */
  forget(msgId: string): void {
    this.#submitted.delete(msgId);
    this.#completed.delete(msgId);
    this.#failed.delete(msgId);
    this.#engines.delete(msgId);
  }

  /** Records that task `msgId` waits on each unfinished msg_id of `ids`. */
  waitOn(msgId: string, ids: Iterable<string>): void {
    for (const id of ids) {
      if (this.#completed.has(id) || this.#failed.has(id)) continue;
      let set = this.#dependents.get(id);
      if (!set) this.#dependents.set(id, set = new Set());
      set.add(msgId);
    }
  }

  /** The tasks that waited on `msgId`, which just finished; they are no longer recorded. */
  takeDependents(msgId: string): Set<string> | undefined {
    const set = this.#dependents.get(msgId);
    if (set !== undefined) this.#dependents.delete(msgId);
    return set;
  }

  /** Whether `dep` is satisfied now. */
  isMet(dep: Dependency): boolean {
    return isMet(dep, this.#completed, this.#failed);
  }

  /** Whether `dep` can never be satisfied. */
  isUnreachable(dep: Dependency): boolean {
    return isUnreachable(dep, this.#completed, this.#failed);
  }

  /** `dep` without the ids already finished in a way that satisfies it. */
  reduce(dep: Dependency): Dependency {
    return reduceDependency(dep, this.#completed, this.#failed);
  }

  /** Whether a `follow` dependency is met on `engine` (§7.3). */
  isMetOn(dep: Dependency, engine: string): boolean {
    return isMetOn(dep, engine, this.#completed, this.#failed, this.#engines);
  }

  /** Whether an all-`follow` dependency's satisfying tasks ran on more than one engine (§7.4). */
  spansEngines(dep: Dependency): boolean {
    return spansEngines(dep, this.#completed, this.#failed, this.#engines);
  }
}
