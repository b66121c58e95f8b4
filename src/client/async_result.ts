/**
 * The AsyncResult family: what `apply`, `execute` and `map` return before their results
 * arrive. An {@link AsyncResult} is `PromiseLike`, so `await view.apply(f)` gives the value;
 * its other members report progress, timing, captured output and metadata. The family are
 * thin faces over a {@link ResultSource} — the client's task registry, or the Hub.
 *
 * ipyparallel names and ours (time is in milliseconds here, seconds there):
 *
 * | ipyparallel 7.1 | here |
 * | --- | --- |
 * | `AsyncResult.get(timeout=None)` | `get(timeoutMs?)` (rejects with `TimeoutError`); `await ar` |
 * | `AsyncResult.get(return_exceptions=True)` | `get(timeoutMs, { returnExceptions: true })` |
 * | `AsyncResult.wait(timeout=-1)` | `wait(timeoutMs?)` → `Promise<boolean>` |
 * | `AsyncResult.wait_for_output()` | `wait()` (a task is ready only once its output is complete) |
 * | `ready()`, `successful()` | same names (`successful()` throws `NotReadyError` early) |
 * | `msg_ids`, `metadata`, `progress`, `len(ar)` | `msgIds`, `metadata`, `progress`, `length` |
 * | `elapsed`, `wall_time`, `serial_time` (s) | `elapsed`, `wallTime`, `serialTime` (ms) |
 * | `stdout`, `stderr`, `outputs`, `data`, `engine_id`, `execute_result` | `stdout`, `stderr`, `outputs`, `data`, `engineId`, `executeResult` |
 * | `display_outputs(groupby)` | `displayOutputs({ groupby })` |
 * | `abort()` | `abort()` |
 * | `wait_interactive(interval, timeout)` | `waitInteractive({ intervalMs, timeoutMs })` |
 * | `get_dict()` | `getDict()` |
 * | `for r in ar` | `for await (const r of ar)` |
 * | `AsyncMapResult(ordered=False)` | `new AsyncMapResult(source, ids, { ordered: false })` (`async_map_result.ts`) |
 * | `AsyncHubResult` | `AsyncHubResult` (`async_hub_result.ts`; polls through an injected `fetch`) |
 * | `Client.outstanding`, `Client.results` | `TaskRegistry.outstanding`, `TaskRegistry.resultOf()` |
 * | `Client.metadata[msg_id]` (`Metadata`) | `TaskRegistry.metadataOf()` (`Metadata`, camelCase keys) |
 * | `Client.result_status(ids, status_only=False)` | `parseResultReply(reply)` (`hub_results.ts`) feeding `AsyncHubResult` |
 * | `Client.purge_local_results(jobs)` | `TaskRegistry.purge(msgIds \| "all")` |
 * | *(unbounded results cache)* | `TaskRegistry` option `maxCachedResults` (default 10 000) |
 * | `ExecuteReply` | `ExecuteReply` (`String(reply)` gives `Out[0:3]: 42`) |
 * | `error.RemoteError`, `CompositeError`, `TaskAborted`, `EngineError`, `TaskTimeout` | same names in `src/errors.ts` |
 *
 * @module
 */

import {
  CompositeError,
  IppError,
  NotReadyError,
  RemoteError,
  TimeoutError,
  UnknownTaskError,
} from "../errors.ts";
import type { Clock } from "./clock.ts";
import { systemClock } from "./clock.ts";
import type { TextOutput } from "./display.ts";
import { printOutputs, processOutput, showProgress } from "./display.ts";
import type { DisplayContent, Metadata } from "./metadata.ts";
import type { ClientSide, ResultSource, TaskResult } from "./result_source.ts";

/** Options of {@link AsyncResult}. */
export interface AsyncResultOptions {
  /** Name of the function or operation, for messages and progress (default `"unknown"`). */
  fname?: string;
  /** How to abort (`abort()` throws without one). */
  client?: ClientSide;
  /** Time source for `get`/`wait` limits and `elapsed` (default: the system clock). */
  clock?: Clock;
  /** Return failures in place of results instead of throwing (default false). */
  returnExceptions?: boolean;
  /** Where `displayOutputs` and `waitInteractive` write (default: the process's stdout). */
  output?: TextOutput;
  /** Owns the results: reading them (`get`, `await`) drops them from the client's caches. */
  owner?: boolean;
}

/** Element type of a list result. */
export type ElementOf<T> = T extends readonly (infer U)[] ? U : unknown;

/** Options of {@link AsyncResult.wait}. */
export interface WaitOptions {
  /** Cancels the wait: the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** Options of {@link AsyncResult.get}. */
export interface GetOptions extends WaitOptions {
  /** Put failures in the list instead of throwing (default: the result's own setting). */
  returnExceptions?: boolean;
}

/**
 * The pending result of one request (`single`, from a msg_id string) or of several (from a list).
 *
 * @example
 * ```ts
 * import { AsyncResult } from "./async_result.ts";
 * import { TaskRegistry } from "./task_registry.ts";
 * const tasks = new TaskRegistry({ decode: (b) => ({ value: b.length, rest: [] }) });
 * tasks.track("m1", { expectOutput: false });
 * const ar = new AsyncResult<number>(tasks, "m1");
 * tasks.handleReply({
 *   header: { msg_id: "r1", msg_type: "apply_reply" },
 *   parent_header: { msg_id: "m1" },
 *   metadata: {},
 *   content: { status: "ok" },
 *   buffers: [new Uint8Array(1)],
 * });
 * console.log(await ar); // 1
 * ```
 */
export class AsyncResult<T = unknown> implements PromiseLike<T>, AsyncIterable<ElementOf<T>> {
  /** The msg_ids of the requests, in submission order. */
  readonly msgIds: readonly string[];
  /** The result is one value, not a list. */
  readonly single: boolean;
  /** Name of the function or operation. */
  readonly fname: string;
  /** Where the tasks settle. */
  protected readonly source: ResultSource;
  /** Time source for limits and `elapsed`. */
  protected readonly clock: Clock;
  /** The options given to the constructor. */
  protected readonly options: AsyncResultOptions;
  /** Settled results by request index; `undefined` while outstanding. */
  protected readonly results: (TaskResult | undefined)[];
  /** Indices of the results in the order they settled. */
  protected readonly settledOrder: number[] = [];
  readonly #metadata: Metadata[];
  readonly #waiters = new Set<(ready: boolean) => void>();
  #pulse: PromiseWithResolvers<void> | null = null;
  #resubmissions: number | undefined;

  /**
   * Subscribes to every msg_id at once, so results are kept as they settle.
   *
   * @param source Where the tasks settle.
   * @param msgIds One msg_id (a single result) or a list of them.
   * @param options Name, client, clock, output and `returnExceptions`.
   * @throws {UnknownTaskError} A msg_id is unknown to `source`.
   */
  constructor(
    source: ResultSource,
    msgIds: string | readonly string[],
    options: AsyncResultOptions = {},
  ) {
    this.single = typeof msgIds === "string";
    this.msgIds = typeof msgIds === "string" ? [msgIds] : [...msgIds];
    this.fname = options.fname ?? "unknown";
    this.source = source;
    this.clock = options.clock ?? systemClock;
    this.options = options;
    this.results = new Array(this.msgIds.length).fill(undefined);
    this.#metadata = this.msgIds.map((id) => source.metadataOf(id));
    this.#resubmissions = source.resubmissions;
    this.msgIds.forEach((id, i) => source.onSettled(id, (r) => this.#settle(i, r)));
  }

  /** Number of requests. */
  get length(): number {
    return this.msgIds.length;
  }

  /** Number of requests that have settled. */
  get progress(): number {
    return this.settledOrder.length;
  }

  /** Whether every request settled (result and output). */
  ready(): boolean {
    this.options.client?.spin?.();
    if (this.source.resubmissions !== this.#resubmissions) this.#followResubmitted();
    return this.settledOrder.length === this.msgIds.length;
  }

  /**
   * Whether every request succeeded.
   * @throws {NotReadyError} Not every request settled yet.
   */
  successful(): boolean {
    this.#checkReady("successful()");
    return this.results.every((r) => r!.state === "done");
  }

  /**
   * Waits until every request settled, or the limit passes.
   *
   * @param timeoutMs Limit in milliseconds; `undefined` waits as long as it takes.
   * @param options `signal` cancels the wait.
   * @returns Whether everything settled.
   * @throws {RangeError} `timeoutMs` is negative or not a number.
   * @throws The signal's reason, when it aborts the wait.
   */
  wait(timeoutMs?: number, options: WaitOptions = {}): Promise<boolean> {
    const signal = options.signal;
    try {
      checkTimeout(timeoutMs);
      signal?.throwIfAborted();
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.ready()) return Promise.resolve(true);
    if (timeoutMs === 0) return Promise.resolve(false);
    return new Promise((resolve, reject) => {
      let timer: unknown = undefined;
      const cleanup = () => {
        this.#waiters.delete(finish);
        if (timer !== undefined) this.clock.clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
      };
      const finish = (ready: boolean) => {
        cleanup();
        resolve(ready);
      };
      const onAbort = () => {
        cleanup();
        reject(signal!.reason);
      };
      if (timeoutMs !== undefined) timer = this.clock.setTimeout(() => finish(false), timeoutMs);
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiters.add(finish);
    });
  }

  /**
   * The result: one value, or a list in submission order.
   *
   * @param timeoutMs Limit in milliseconds; `undefined` waits as long as it takes.
   * @param options `returnExceptions` puts failures in the list instead of throwing;
   *   `signal` cancels the wait.
   * @returns The value(s).
   * @throws {TimeoutError} Not ready within `timeoutMs`.
   * @throws {RemoteError} A single request raised on its engine.
   * @throws {CompositeError} Requests of a list failed (each as a `RemoteError`).
   * @throws {TaskAborted} A single request was aborted.
   * @throws {EngineError} A single request's engine died.
   * @throws The signal's reason, when it aborts the wait.
   */
  async get(timeoutMs?: number, options: GetOptions = {}): Promise<T> {
    if (!(await this.wait(timeoutMs, options))) {
      throw new TimeoutError(
        `Result of ${this.fname} not ready after ${timeoutMs} ms ` +
          `(${this.progress}/${this.length} done)`,
        timeoutMs!,
      );
    }
    this.source.markConsumed?.(this.msgIds);
    if (this.options.owner) this.options.client?.forget?.(this.msgIds);
    return this.reconstruct(options.returnExceptions ?? this.options.returnExceptions ?? false);
  }

  /** `PromiseLike`: `await ar` is `await ar.get()`. */
  then<R1 = T, R2 = never>(
    onFulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onRejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    return this.get().then(onFulfilled, onRejected);
  }

  /**
   * Results keyed by engine id.
   * @throws {IppError} Two requests ran on the same engine.
   */
  async getDict(timeoutMs?: number): Promise<Record<number, ElementOf<T> | T>> {
    const value = await this.get(timeoutMs);
    const values = (this.single ? [value] : value) as unknown[];
    const out: Record<number, unknown> = {};
    this.#metadata.forEach((md, i) => {
      const id = md.engineId as number;
      if (id in out) throw new IppError(`Cannot build dict: several results from engine ${id}`);
      out[id] = values[i];
    });
    return out as Record<number, ElementOf<T> | T>;
  }

  /** Metadata: one record for a single result, else one per request. */
  get metadata(): Metadata | Metadata[] {
    return this.single ? this.#metadata[0] : [...this.#metadata];
  }

  /** Captured standard output (one string, or one per request). */
  get stdout(): string | string[] {
    return this.#pick((md) => md.stdout);
  }

  /** Captured standard error (one string, or one per request). */
  get stderr(): string | string[] {
    return this.#pick((md) => md.stderr);
  }

  /** Captured `display_data` outputs. */
  get outputs(): DisplayContent[] | DisplayContent[][] {
    return this.#pick((md) => md.outputs) as DisplayContent[] | DisplayContent[][];
  }

  /** Values published with `data_message`. */
  get data(): Record<string, unknown> | Record<string, unknown>[] {
    return this.#pick((md) => md.data) as Record<string, unknown> | Record<string, unknown>[];
  }

  /** Engine ids the requests ran on (`null` while unknown). */
  get engineId(): unknown {
    return this.#pick((md) => md.engineId);
  }

  /** `execute_result` contents (`null` where there is none). */
  get executeResult(): unknown {
    return this.#pick((md) => md.executeResult);
  }

  /** Milliseconds since the earliest submission; the wall time once ready. */
  get elapsed(): number {
    if (this.ready()) return this.wallTime;
    return this.clock.now() - this.#earliestSubmitted();
  }

  /**
   * Milliseconds from the earliest submission to the latest reply.
   * @throws {NotReadyError} Not ready yet.
   */
  get wallTime(): number {
    this.#checkReady("wallTime");
    let received = -Infinity;
    for (const md of this.#metadata) {
      if (md.received) received = Math.max(received, md.received.getTime());
    }
    return received === -Infinity ? 0 : received - this.#earliestSubmitted();
  }

  /**
   * Sum over requests of engine compute time (`completed - started`), in milliseconds.
   * @throws {NotReadyError} Not ready yet.
   */
  get serialTime(): number {
    this.#checkReady("serialTime");
    let total = 0;
    for (const md of this.#metadata) {
      if (md.started && md.completed) total += md.completed.getTime() - md.started.getTime();
    }
    return total;
  }

  /**
   * Asks the engines to abort the requests that have not settled. Requests already running
   * finish normally; aborted ones settle with `TaskAborted`. Does nothing when all settled.
   *
   * @throws {IppError} The result has no client to send the abort through.
   */
  async abort(): Promise<void> {
    const pending = this.msgIds.filter((_, i) => this.results[i] === undefined);
    if (pending.length === 0) return;
    const client = this.options.client;
    if (!client) throw new IppError(`Cannot abort ${this.fname}: this result has no client`);
    await client.abort(pending);
  }

  /**
   * Waits while reporting progress: a bar redrawn in place on a terminal, otherwise one line
   * each time the count changes.
   *
   * @param options `intervalMs` between reports (default 1000), `timeoutMs` limit.
   * @returns Whether everything settled.
   */
  async waitInteractive(options: { intervalMs?: number; timeoutMs?: number } = {}): Promise<
    boolean
  > {
    checkTimeout(options.timeoutMs);
    return await showProgress(this, this.clock, this.options.output ?? processOutput, options);
  }

  /**
   * Re-prints captured output: stdout and stderr with `[stdout:<engine>]` prefixes, then the
   * text of display outputs and execute results.
   *
   * @param options `groupby`: `"type"` (all stdout, then all stderr…) or `"engine"`.
   * @throws {NotReadyError} Not ready yet.
   */
  displayOutputs(options: { groupby?: "type" | "engine" } = {}): void {
    this.#checkReady("displayOutputs()");
    printOutputs(
      this.#metadata,
      this.results as TaskResult[],
      this.single,
      this.options.output ?? processOutput,
      options.groupby,
    );
  }

  /**
   * Results as they arrive, in submission order.
   * @throws {TypeError} The result is single (not a list).
   * @throws {CompositeError} A request failed (unless `returnExceptions`).
   */
  async *[Symbol.asyncIterator](): AsyncIterator<ElementOf<T>> {
    if (this.single) throw new TypeError("An AsyncResult with a single result is not iterable");
    for (let i = 0; i < this.results.length; i++) {
      while (this.results[i] === undefined) await this.settled();
      yield* this.childValues(i) as Iterable<ElementOf<T>>;
    }
  }

  /** How `console.log` shows it. */
  [Symbol.for("Deno.customInspect")](): string {
    const state = this.progress === this.length ? "finished" : `${this.progress}/${this.length}`;
    return `<${this.constructor.name}: ${this.fname}: ${state}>`;
  }

  // -- for subclasses --------------------------------------------------------------------------

  /** Resolves at the next settlement of any request. */
  protected settled(): Promise<void> {
    this.#pulse ??= Promise.withResolvers<void>();
    return this.#pulse.promise;
  }

  /** The values one request contributes to iteration (a map chunk contributes its items). */
  protected childValues(i: number): unknown[] {
    const r = this.results[i]!;
    const returnExceptions = this.options.returnExceptions ?? false;
    if (r.state !== "done") {
      const error = errorOf(r);
      if (returnExceptions) return [error];
      throw this.composite([this.#asRemote(error, i)]);
    }
    return [r.value];
  }

  /** Builds the final value from settled results (override to join map chunks). */
  protected reconstruct(returnExceptions: boolean): T {
    if (this.single) {
      const r = this.results[0]!;
      if (r.state === "done") return r.value as T;
      const error = errorOf(r);
      if (returnExceptions) return error as T;
      throw error;
    }
    const values: unknown[] = [];
    const errors: RemoteError[] = [];
    this.results.forEach((r, i) => {
      if (r!.state === "done") values.push(r!.value);
      else {
        const error = errorOf(r!);
        values.push(error);
        errors.push(this.#asRemote(error, i));
      }
    });
    if (errors.length > 0 && !returnExceptions) throw this.composite(errors);
    return values as T;
  }

  /** A `CompositeError` in ipyparallel's wording, naming the first four failures. */
  protected composite(errors: RemoteError[]): CompositeError {
    let message = `one or more exceptions from call to method: ${this.fname}`;
    for (const e of errors.slice(0, 4)) {
      const info = e.engineInfo;
      const where = info.engineId === undefined && info.method === undefined
        ? "[Engine Exception] "
        : `[${info.engineId ?? " "}:${info.method ?? "apply"}]: `;
      message += `\n${where}${e.ename}: ${e.evalue}`;
    }
    if (errors.length > 4) message += `\n.... ${errors.length - 4} more exceptions ...`;
    return new CompositeError(message, errors);
  }

  // -- internals -------------------------------------------------------------------------------

  #settle(i: number, result: TaskResult): void {
    if (this.results[i] !== undefined) return;
    this.results[i] = result;
    this.#metadata[i] = result.metadata;
    this.settledOrder.push(i);
    const pulse = this.#pulse;
    this.#pulse = null;
    pulse?.resolve();
    if (this.source.resubmissions !== this.#resubmissions) this.#followResubmitted();
    if (this.settledOrder.length < this.results.length) return;
    for (const finish of [...this.#waiters]) finish(true);
  }

  /**
   * Settled results that were resubmitted since (`Client.resubmit`) stand for their successor:
   * forget them and wait for the successor's result instead.
   */
  #followResubmitted(): void {
    this.#resubmissions = this.source.resubmissions;
    this.results.forEach((r, i) => {
      if (r?.state !== "resubmitted" || r.successor === undefined) return;
      this.results[i] = undefined;
      this.settledOrder.splice(this.settledOrder.indexOf(i), 1);
      this.source.onSettled(this.msgIds[i], (next) => this.#settle(i, next));
    });
  }

  #pick<V>(f: (md: Metadata) => V): V | V[] {
    return this.single ? f(this.#metadata[0]) : this.#metadata.map(f);
  }

  #earliestSubmitted(): number {
    let earliest = Infinity;
    for (const md of this.#metadata) {
      if (md.submitted) earliest = Math.min(earliest, md.submitted.getTime());
    }
    return earliest === Infinity ? this.clock.now() : earliest;
  }

  #checkReady(what: string): void {
    if (!this.ready()) {
      throw new NotReadyError(
        `${what} of ${this.fname} needs every result (${this.progress}/${this.length} done; ` +
          `await ar.wait() first)`,
      );
    }
  }

  /** Local failures join a `CompositeError` as `RemoteError`s named after their class. */
  #asRemote(error: Error, i: number): RemoteError {
    if (error instanceof RemoteError) return error;
    const md = this.#metadata[i];
    const remote = new RemoteError(error.name, error.message, [], {
      engineUuid: typeof md.engineUuid === "string" ? md.engineUuid : undefined,
      engineId: typeof md.engineId === "number" ? md.engineId : undefined,
    });
    Object.defineProperty(remote, "cause", { value: error, configurable: true, writable: true });
    return remote;
  }
}

function errorOf(r: TaskResult): Error {
  if (r.error !== undefined) return r.error;
  if (r.state === "resubmitted") {
    return new UnknownTaskError(
      r.successor ?? r.msgId,
      `Task ${r.msgId} was resubmitted as ${r.successor}; fetch that result from the Hub`,
    );
  }
  return new IppError(`Task ${r.msgId} ended as ${r.state} without a value`);
}

function checkTimeout(timeoutMs: number | undefined): void {
  if (timeoutMs !== undefined && !(timeoutMs >= 0)) {
    throw new RangeError(`timeoutMs must be a number >= 0 or undefined, got ${timeoutMs}`);
  }
}
