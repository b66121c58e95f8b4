/**
 * {@link AsyncHubResult}: results this client did not receive itself — sent by another client,
 * evicted from the local cache, or resubmitted — fetched from the Hub by polling
 * (`result_request`, PROTOCOL.md §5.3; ipyparallel polls every 0.1 s).
 *
 * Polling only runs while someone waits (`wait`, `get`, `await`), and stops when they stop,
 * so an AsyncHubResult nobody awaits holds no timer.
 *
 * @module
 */

import { TaskAborted, UnknownTaskError } from "../errors.ts";
import type { FinalTaskState } from "./actors/task_machine.ts";
import { AsyncResult } from "./async_result.ts";
import type { AsyncResultOptions, WaitOptions } from "./async_result.ts";
import type { Clock } from "./clock.ts";
import { systemClock } from "./clock.ts";
import { Metadata } from "./metadata.ts";
import type { ResultSource, TaskResult } from "./result_source.ts";

/** One completed request as the Hub reports it, already decoded by the client. */
export interface HubOutcome {
  /** The value, when the request succeeded. */
  value?: unknown;
  /** The failure (`TaskAborted` for aborted requests). */
  error?: Error;
  /** The request's metadata, if the client rebuilt it from the Hub record. */
  metadata?: Metadata;
}

/** What one poll of the Hub returns (a decoded `result_reply`). */
export interface HubPoll {
  /** msg_ids the Hub still waits for. */
  pending: string[];
  /** Completed requests by msg_id. */
  completed: Record<string, HubOutcome>;
}

/** Asks the Hub about some msg_ids (the Client sends `result_request` and decodes the reply). */
export type HubFetch = (msgIds: string[]) => Promise<HubPoll>;

/** Options of {@link HubResultSource}. */
export interface HubResultSourceOptions {
  /** Time source for the polling timer (default: the system clock). */
  clock?: Clock;
  /** Milliseconds between polls (default 100, as in ipyparallel). */
  pollIntervalMs?: number;
  /** Where msg_ids this client still tracks settle (its task registry); asked first. */
  local?: ResultSource;
}

/**
 * A {@link ResultSource} that polls the Hub for msg_ids the local source does not know.
 *
 * @example
 * ```ts
 * import { HubResultSource } from "./async_hub_result.ts";
 * const source = new HubResultSource(async (ids) => ({
 *   pending: [],
 *   completed: Object.fromEntries(ids.map((id) => [id, { value: 7 }])),
 * }));
 * source.onSettled("m1", (r) => console.log(r.value)); // 7, after the first poll
 * source.acquire();
 * ```
 */
export class HubResultSource implements ResultSource {
  readonly #fetch: HubFetch;
  readonly #clock: Clock;
  readonly #interval: number;
  readonly #local: ResultSource | undefined;
  readonly #metadata = new Map<string, Metadata>();
  readonly #results = new Map<string, TaskResult>();
  readonly #watchers = new Map<string, ((r: TaskResult) => void)[]>();
  #demand = 0;
  #timer: unknown = undefined;
  #inFlight = false;

  /**
   * Creates a source that polls only while someone waits.
   *
   * @param fetch Asks the Hub about msg_ids.
   * @param options Clock, poll interval and local source.
   */
  constructor(fetch: HubFetch, options: HubResultSourceOptions = {}) {
    this.#fetch = fetch;
    this.#clock = options.clock ?? systemClock;
    this.#interval = options.pollIntervalMs ?? 100;
    this.#local = options.local;
  }

  /** {@inheritDoc ResultSource.metadataOf} */
  metadataOf(msgId: string): Metadata {
    const local = this.#localMetadata(msgId);
    if (local !== undefined) return local;
    let md = this.#metadata.get(msgId);
    if (md === undefined) this.#metadata.set(msgId, md = new Metadata(msgId));
    return md;
  }

  /** {@inheritDoc ResultSource.resultOf} */
  resultOf(msgId: string): TaskResult | undefined {
    if (this.#localMetadata(msgId) !== undefined) return this.#local!.resultOf(msgId);
    return this.#results.get(msgId);
  }

  /** {@inheritDoc ResultSource.onSettled} */
  onSettled(msgId: string, callback: (result: TaskResult) => void): () => void {
    if (this.#localMetadata(msgId) !== undefined) return this.#local!.onSettled(msgId, callback);
    const done = this.#results.get(msgId);
    if (done !== undefined) {
      callback(done);
      return () => {};
    }
    this.metadataOf(msgId);
    const list = this.#watchers.get(msgId) ?? [];
    list.push(callback);
    this.#watchers.set(msgId, list);
    return () => {
      const now = this.#watchers.get(msgId);
      const i = now?.indexOf(callback) ?? -1;
      if (i >= 0) now!.splice(i, 1);
    };
  }

  /** {@inheritDoc ResultSource.markConsumed} */
  markConsumed(msgIds: readonly string[]): void {
    this.#local?.markConsumed?.(msgIds);
  }

  /** {@inheritDoc ResultSource.resubmissions} */
  get resubmissions(): number | undefined {
    return this.#local?.resubmissions;
  }

  /** Someone waits: poll now and every interval until {@link HubResultSource.release}. */
  acquire(): void {
    if (this.#demand++ === 0) this.#poll();
  }

  /** A waiter is done; polling stops when none is left. */
  release(): void {
    if (--this.#demand > 0) return;
    this.#demand = 0;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #localMetadata(msgId: string): Metadata | undefined {
    if (this.#local === undefined) return undefined;
    try {
      return this.#local.metadataOf(msgId);
    } catch (error) {
      if (error instanceof UnknownTaskError) return undefined;
      throw error;
    }
  }

  async #poll(): Promise<void> {
    this.#timer = undefined;
    const ids = [...this.#watchers.keys()];
    if (ids.length === 0 || this.#inFlight) return;
    this.#inFlight = true;
    let failure: Error | undefined;
    let poll: HubPoll | undefined;
    try {
      poll = await this.#fetch(ids);
    } catch (error) {
      failure = error as Error;
    } finally {
      this.#inFlight = false;
    }
    for (const id of ids) {
      const outcome = failure ? { error: failure } : poll!.completed[id];
      if (outcome !== undefined) this.#settle(id, outcome);
    }
    if (this.#demand > 0 && this.#watchers.size > 0 && this.#timer === undefined) {
      this.#timer = this.#clock.setTimeout(() => this.#poll(), this.#interval);
    }
  }

  #settle(msgId: string, outcome: HubOutcome): void {
    const metadata = outcome.metadata ?? this.metadataOf(msgId);
    const state: FinalTaskState = outcome.error === undefined
      ? "done"
      : outcome.error instanceof TaskAborted
      ? "aborted"
      : "failed";
    const result: TaskResult = {
      msgId,
      state,
      value: outcome.value,
      error: outcome.error,
      metadata,
      successor: undefined,
    };
    this.#results.set(msgId, result);
    const watchers = this.#watchers.get(msgId) ?? [];
    this.#watchers.delete(msgId);
    for (const w of watchers) w(result);
  }
}

/**
 * An AsyncResult whose requests settle at the Hub (ipyparallel's `AsyncHubResult`); msg_ids
 * the local registry still tracks settle locally.
 *
 * @example
 * ```ts
 * import { AsyncHubResult } from "./async_hub_result.ts";
 * const ar = new AsyncHubResult<number>(
 *   async () => ({ pending: [], completed: { m1: { value: 42 } } }),
 *   "m1",
 * );
 * console.log(await ar); // 42
 * ```
 */
export class AsyncHubResult<T = unknown> extends AsyncResult<T> {
  readonly #hub: HubResultSource;

  /**
   * Creates the result; polling starts when someone waits.
   *
   * @param fetch Asks the Hub about msg_ids.
   * @param msgIds One msg_id (a single result) or a list.
   * @param options As for AsyncResult, plus the poll interval and the local source.
   */
  constructor(
    fetch: HubFetch,
    msgIds: string | readonly string[],
    options: AsyncResultOptions & { pollIntervalMs?: number; local?: ResultSource } = {},
  ) {
    const hub = new HubResultSource(fetch, {
      clock: options.clock,
      pollIntervalMs: options.pollIntervalMs,
      local: options.local,
    });
    super(hub, msgIds, options);
    this.#hub = hub;
  }

  /** Like {@link AsyncResult.wait}; polls the Hub while waiting. */
  override async wait(timeoutMs?: number, options: WaitOptions = {}): Promise<boolean> {
    if (this.ready()) return true;
    this.#hub.acquire();
    try {
      return await super.wait(timeoutMs, options);
    } finally {
      this.#hub.release();
    }
  }
}
