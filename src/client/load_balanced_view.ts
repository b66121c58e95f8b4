/**
 * {@link LoadBalancedView}: tasks sent to the controller's task scheduler, which picks an
 * engine for each (PROTOCOL.md §3.5.2, §7). Scheduler flags travel as request metadata
 * (§7.1): `after` and `follow` dependencies, `timeout` (in ms here, seconds on the wire),
 * `targets` (engine ids here, uuids on the wire) and `retries`.
 *
 * @module
 */

import { InvalidOptionError } from "../errors.ts";
import type { Dependency, DependencySpec } from "../protocol/messages.ts";
import type { AsyncMapResult } from "./async_map_result.ts";
import type { AsyncResult } from "./async_result.ts";
import type { Client } from "./client.ts";
import type { EngineQueue, QueueStatus } from "./hub_queries.ts";
import { resolveTargets } from "./targets.ts";
import type { Targets } from "./targets.ts";
import { View } from "./view_base.ts";
import type { ArgsOf, ExecuteOptions, Remote, RemoteValue } from "./view_base.ts";

/** A dependency: msg_ids, AsyncResults, or a full spec (`{dependencies, all, success, failure}`). */
export type DependencyLike =
  | string
  | { msgIds: readonly string[] }
  | readonly (string | { msgIds: readonly string[] })[]
  | (Omit<DependencySpec, "dependencies"> & {
    dependencies: readonly (string | { msgIds: readonly string[] })[];
  });

/** Scheduler flags of a load-balanced view (PROTOCOL.md §7.1). */
export interface SchedulerFlags {
  /** Run only after these tasks finished (time dependency). */
  after?: DependencyLike | null;
  /** Run only where these tasks ran (location dependency). */
  follow?: DependencyLike | null;
  /** Milliseconds a task may wait in the scheduler queue before failing with `TaskTimeout`. */
  timeout?: number | null;
  /** Engines the tasks may run on (default: any). */
  targets?: Targets | null;
  /** How many times a failed task is re-run elsewhere. */
  retries?: number;
}

/** Options of {@link LoadBalancedView.mapWith}. */
export interface MapOptions {
  /** Items per task (default 1). */
  chunksize?: number;
  /** Iteration yields results in submission order (default true) or as they finish. */
  ordered?: boolean;
}

/**
 * A view whose tasks the scheduler places.
 *
 * @example
 * ```ts ignore
 * const lview = client.loadBalancedView();
 * const first = lview.apply(() => 1);
 * lview.setFlags({ after: first, retries: 1 });
 * console.log(await lview.apply(() => 2)); // runs after `first`
 * ```
 */
export class LoadBalancedView extends View {
  /** Time dependency for following tasks. */
  after: DependencyLike | null = null;
  /** Location dependency for following tasks. */
  follow: DependencyLike | null = null;
  /** Queue time limit in ms (null = none). */
  timeout: number | null = null;
  /** Engines tasks may run on (null = any). */
  targets: Targets | null;
  /** Re-runs after a failure. */
  retries = 0;

  /**
   * Creates the object; see the class documentation.
   *
   * @param client The client.
   * @param targets Engines tasks may run on (default any).
   */
  constructor(client: Client, targets?: Targets) {
    super(client);
    this.targets = targets === undefined || targets === "all" ? null : targets;
  }

  /** {@inheritDoc View.flagNames} */
  protected override flagNames(): string[] {
    return [...super.flagNames(), "after", "follow", "timeout", "targets", "retries"];
  }

  /**
   * Submits one task `f(...args)`.
   *
   * @param f A function or a `Reference`.
   * @param args Its arguments.
   * @returns The pending value.
   */
  applyAsync<F extends Remote>(f: F, ...args: ArgsOf<F>): AsyncResult<RemoteValue> {
    return this.applyWith(f, args);
  }

  /**
   * Submits one task with keyword arguments and per-call scheduler flags.
   *
   * @param f A function or a `Reference`.
   * @param args Positional arguments.
   * @param options `kwargs`, and flags overriding the view's for this task.
   * @returns The pending value.
   */
  applyWith(
    f: Remote,
    args: unknown[],
    options: SchedulerFlags & { kwargs?: Record<string, unknown> } = {},
  ): AsyncResult<RemoteValue> {
    const metadata = this.#metadata(options);
    const { msgId } = this.client.sendApplyRequest("task", f, {
      args,
      kwargs: options.kwargs,
      metadata,
      serializer: this.serializer,
    });
    return this.client.asyncResult(msgId, { fname: fnameOf(f) });
  }

  /**
   * Maps `f` over sequences, one task per item.
   *
   * @param f A function of one item from each sequence, or a `Reference`.
   * @param sequences The sequences.
   * @returns The pending flat list.
   */
  mapAsync<U = RemoteValue>(f: Remote, ...sequences: unknown[][]): AsyncMapResult<U> {
    return this.mapWith<U>(f, sequences);
  }

  /**
   * Maps with options: `chunksize` items per task, `ordered` iteration.
   *
   * @param f The function of one item.
   * @param sequences The sequences.
   * @param options `chunksize` (default 1), `ordered` (default true).
   * @returns The pending flat list.
   * @throws {InvalidOptionError} `chunksize` is not a positive integer.
   */
  mapWith<U = RemoteValue>(
    f: Remote,
    sequences: unknown[][],
    options: MapOptions = {},
  ): AsyncMapResult<U> {
    const chunksize = checkChunksize(options.chunksize);
    const n = Math.min(...sequences.map((s) => s.length));
    const metadata = this.#metadata({});
    const msgIds: string[] = [];
    for (let lo = 0; lo < n; lo += chunksize) {
      const hi = Math.min(n, lo + chunksize);
      const { fn, args } = this.mapCall(f, sequences.map((s) => s.slice(lo, hi)));
      msgIds.push(
        this.client.sendApplyRequest("task", fn, { args, metadata, serializer: this.serializer })
          .msgId,
      );
    }
    return this.client.asyncMapResult<U>(msgIds, { fname: fnameOf(f), ordered: options.ordered });
  }

  /**
   * Maps lazily over an (async) iterable, keeping at most `maxOutstanding` chunks in flight,
   * and yields results as they come (`ordered: false`) or in order.
   *
   * @param f The function of one item.
   * @param items The items (any iterable or async iterable; may be endless).
   * @param options `chunksize` (default 1), `maxOutstanding` chunks (default 2 × engines),
   *   `ordered` (default true).
   * @returns An async iterator of results.
   * @throws {CompositeError} A chunk failed (from the iterator).
   */
  async *imap<U = RemoteValue>(
    f: Remote,
    items: Iterable<unknown> | AsyncIterable<unknown>,
    options: MapOptions & { maxOutstanding?: number } = {},
  ): AsyncGenerator<U> {
    const chunksize = checkChunksize(options.chunksize);
    const max = options.maxOutstanding ?? Math.max(1, 2 * this.client.ids.length);
    const ordered = options.ordered ?? true;
    const metadata = this.#metadata({});
    const inflight: AsyncResult<RemoteValue>[] = [];
    const submit = (chunk: unknown[]) => {
      const { fn, args } = this.mapCall(f, [chunk]);
      const { msgId } = this.client.sendApplyRequest("task", fn, {
        args,
        metadata,
        serializer: this.serializer,
      });
      inflight.push(this.client.asyncResult(msgId, { fname: fnameOf(f) }));
    };
    const next = async (): Promise<unknown[]> => {
      let i = 0;
      if (!ordered) {
        i = inflight.findIndex((ar) => ar.ready());
        if (i < 0) {
          await Promise.race(inflight.map((ar) => ar.wait()));
          i = inflight.findIndex((ar) => ar.ready());
        }
      }
      const [ar] = inflight.splice(i, 1);
      return (await ar) as unknown[];
    };
    let chunk: unknown[] = [];
    for await (const item of items as AsyncIterable<unknown>) {
      chunk.push(item);
      if (chunk.length < chunksize) continue;
      submit(chunk);
      chunk = [];
      while (inflight.length >= max) yield* (await next()) as U[];
    }
    if (chunk.length) submit(chunk);
    while (inflight.length) yield* (await next()) as U[];
  }

  /**
   * Runs code as one load-balanced task.
   *
   * @param code The code.
   * @param options `silent` (default true), `userExpressions`.
   * @returns The pending `ExecuteReply`.
   */
  executeAsync(code: string, options: ExecuteOptions = {}): AsyncResult<RemoteValue> {
    const { msgId } = this.client.sendExecuteRequest("task", code, {
      ...options,
      metadata: this.#metadata({}),
    });
    return this.client.asyncResult(msgId, { fname: "execute" });
  }

  /**
   * Aborts queued tasks (sent to every engine, which drop them when they reach them).
   *
   * @param jobs msg_ids or AsyncResults (default: everything outstanding).
   * @param options `block` waits for the replies.
   */
  abort(
    jobs?: string | AsyncResult<unknown> | (string | AsyncResult<unknown>)[],
    options: { block?: boolean } = {},
  ): Promise<void> {
    return this.client.abort(jobs, { block: options.block ?? this.block });
  }

  /**
   * Queue status of every engine, with `unassigned` tasks.
   *
   * @param options `verbose`.
   * @returns As `Client.queueStatus`.
   */
  queueStatus(options: { verbose?: boolean } = {}): Promise<QueueStatus | EngineQueue> {
    return this.client.queueStatus(this.targets ?? undefined, options);
  }

  #metadata(flags: SchedulerFlags): Record<string, unknown> {
    const pick = <K extends keyof SchedulerFlags>(k: K) =>
      (k in flags ? flags[k] : this[k]) as SchedulerFlags[K];
    const timeout = pick("timeout");
    if (timeout != null && !(timeout >= 0)) {
      throw new InvalidOptionError("timeout", `timeout must be >= 0 ms or null, got ${timeout}`);
    }
    const retries = pick("retries") ?? 0;
    if (!Number.isInteger(retries) || retries < 0) {
      throw new InvalidOptionError("retries", `retries must be an integer >= 0, got ${retries}`);
    }
    const targets = pick("targets");
    const uuids = targets == null
      ? []
      : resolveTargets(targets, this.client.ids).map((id) => this.client.uuidOf(id)!);
    return {
      after: dependencyOf(pick("after")),
      follow: dependencyOf(pick("follow")),
      timeout: timeout == null ? 0 : timeout / 1000,
      targets: uuids,
      retries,
    };
  }
}

function idsOf(deps: readonly (string | { msgIds: readonly string[] })[]): string[] {
  return deps.flatMap((d) => typeof d === "string" ? [d] : [...d.msgIds]);
}

/** A dependency in its wire form (PROTOCOL.md §7.1). */
function dependencyOf(dep: DependencyLike | null | undefined): Dependency {
  if (dep == null) return [];
  if (typeof dep === "string") return [dep];
  if (Array.isArray(dep)) return idsOf(dep);
  if ("msgIds" in dep) return [...(dep as { msgIds: readonly string[] }).msgIds];
  const spec = dep as Exclude<DependencyLike, string | readonly unknown[] | { msgIds: unknown }>;
  if (!spec.success && !spec.failure) {
    throw new InvalidOptionError("after", "A dependency needs success or failure (or both)");
  }
  return {
    dependencies: idsOf(spec.dependencies),
    all: spec.all,
    success: spec.success,
    failure: spec.failure,
  };
}

function checkChunksize(chunksize: number | undefined): number {
  const c = chunksize ?? 1;
  if (!Number.isInteger(c) || c < 1) {
    throw new InvalidOptionError("chunksize", `chunksize must be an integer >= 1, got ${c}`);
  }
  return c;
}

function fnameOf(f: Remote): string {
  return typeof f === "function" ? f.name || "<anonymous>" : String(f);
}
