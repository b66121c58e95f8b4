/**
 * {@link View}: what every view shares — flags (`block`, `serializer`), `apply` in its three
 * forms, `map`, `execute`, remote and parallel functions, the `px` tagged template, and the
 * encodings of built-in engine calls (push, pull, map) for JavaScript and Python engines.
 *
 * **Blocking.** JavaScript cannot block, so `apply()` always returns an {@link AsyncResult},
 * which is `PromiseLike`: `await view.apply(f, 1)` is ipyparallel's blocking `apply`, and
 * `view.apply(f, 1)` without `await` its non-blocking form. `applySync()` (a promise of the
 * value) and `applyAsync()` (the AsyncResult) name the two explicitly, and likewise
 * `mapSync`/`mapAsync`, `executeSync`/`executeAsync`. The `block` flag is kept for control
 * methods (`clear`, `abort`, `push`…): with it their promise settles when every engine
 * answered, without it once the requests are sent.
 *
 * **Serializer.** Which kind of engine answers cannot be known from the wire, so a view has a
 * `serializer` flag: `"js"` (default) sends ipp-js (functions as source, typed arrays as
 * frames) for our engines; `"pickle"` sends pickles for Python engines, where the function
 * must be a `Reference("name")` (evaluated in the engine namespace, e.g. `Reference("len")`)
 * and arguments JSON-like. `execute` works with either. Results of both kinds decode here.
 *
 * @module
 */

import { InvalidOptionError } from "../errors.ts";
import { Reference } from "../protocol/pickle.ts";
import { functionSource } from "../protocol/serialize.ts";
import type { AsyncMapResult } from "./async_map_result.ts";
import type { AsyncResult } from "./async_result.ts";
import type { Client, Serializer } from "./client.ts";
import { ParallelFunction, RemoteFunction } from "./remote_function.ts";
import type { RemoteFunctionOptions } from "./remote_function.ts";
import { PxRunner } from "./px.ts";
import type { ExecuteReply } from "./execute_reply.ts";

/** A function to run remotely: its source travels, or a `Reference` names one on the engine. */
// deno-lint-ignore no-explicit-any
export type Remote = ((...args: any[]) => unknown) | Reference;

/**
 * The value type of remote results: what the engine returns decides it, so it is `any` (assign
 * it to a typed variable, as with `JSON.parse`).
 */
// deno-lint-ignore no-explicit-any
export type RemoteValue = any;

/** The arguments a remote call takes; each may be a `Reference` resolved on the engine. */
export type ArgsOf<F> = F extends (...args: infer A) => unknown
  ? { [K in keyof A]: A[K] | Reference }
  // deno-lint-ignore no-explicit-any
  : any[];

/** Flags every view has. */
export interface ViewFlags {
  /** Control methods wait for every reply (default: the client's `block`). */
  block?: boolean;
  /** `"js"` for our engines (default), `"pickle"` for Python engines. */
  serializer?: Serializer;
}

/** Options of {@link View.execute}. */
export interface ExecuteOptions {
  /** No `execute_input`/`execute_result` (default true, as ipyparallel's `execute`). */
  silent?: boolean;
  /** Expressions evaluated after the code. */
  userExpressions?: Record<string, string>;
}

const mappers = new Map<string, (...args: never[]) => unknown>();

/** The base of DirectView, LoadBalancedView and BroadcastView. */
export abstract class View {
  /** The client this view sends through. */
  readonly client: Client;
  /** Control methods wait for every reply. */
  block: boolean;
  /** How apply arguments are encoded (see the module doc). */
  serializer: Serializer = "js";
  readonly #px: PxRunner;

  /**
   * Creates the object; see the class documentation.
   *
   * @param client The client.
   */
  constructor(client: Client) {
    this.client = client;
    this.block = client.block;
    this.#px = new PxRunner(this);
  }

  /**
   * Sets flags for the following calls.
   *
   * @param flags `block`, `serializer`, and the view's own flags.
   * @returns This view.
   * @throws {InvalidOptionError} An unknown flag or value.
   */
  setFlags(flags: ViewFlags & Record<string, unknown>): this {
    for (const [k, v] of Object.entries(flags)) {
      if (v === undefined) continue;
      if (k === "serializer" && v !== "js" && v !== "pickle") {
        throw new InvalidOptionError("serializer", `serializer must be "js" or "pickle", got ${v}`);
      }
      if (!this.flagNames().includes(k)) {
        throw new InvalidOptionError(
          k,
          `Unknown flag ${k} (known: ${this.flagNames().join(", ")})`,
        );
      }
      (this as unknown as Record<string, unknown>)[k] = v;
    }
    return this;
  }

  /**
   * Runs `fn` with flags set, restoring them afterwards (ipyparallel's `temp_flags`).
   *
   * @param flags Flags to set while `fn` runs.
   * @param fn The work; may be async.
   * @returns What `fn` returns.
   */
  async tempFlags<R>(
    flags: ViewFlags & Record<string, unknown>,
    fn: () => R | Promise<R>,
  ): Promise<Awaited<R>> {
    const self = this as unknown as Record<string, unknown>;
    const saved = Object.fromEntries(Object.keys(flags).map((k) => [k, self[k]]));
    this.setFlags(flags);
    try {
      return await fn();
    } finally {
      Object.assign(self, saved);
    }
  }

  /** Names accepted by {@link View.setFlags}. */
  protected flagNames(): string[] {
    return ["block", "serializer"];
  }

  // -- apply ----------------------------------------------------------------------------------

  /**
   * Calls `f(...args)` remotely; see the subclass for where it runs.
   *
   * @param f A function or a `Reference`.
   * @param args Its arguments (`Reference`s are resolved on the engine).
   * @returns The pending result; `await` it for the value.
   */
  abstract applyAsync<F extends Remote>(f: F, ...args: ArgsOf<F>): AsyncResult<RemoteValue>;

  /**
   * Same as {@link View.applyAsync}: an AsyncResult, `await` it to block.
   *
   * @param f A function or a `Reference`.
   * @param args Its arguments.
   * @returns The pending result.
   */
  apply<F extends Remote>(f: F, ...args: ArgsOf<F>): AsyncResult<RemoteValue> {
    return this.applyAsync(f, ...args);
  }

  /**
   * Calls `f(...args)` remotely and waits for the value.
   *
   * @param f A function or a `Reference`.
   * @param args Its arguments.
   * @returns The value (a list for several engines).
   * @throws {RemoteError} The call raised (`CompositeError` for several engines).
   */
  async applySync<F extends Remote>(f: F, ...args: ArgsOf<F>): Promise<RemoteValue> {
    return await this.applyAsync(f, ...args);
  }

  // -- map ------------------------------------------------------------------------------------

  /**
   * Maps `f` over sequences remotely (items taken in parallel, like Python's `map`).
   *
   * @param f A function of one item from each sequence, or a `Reference`.
   * @param sequences The sequences (the shortest decides the length).
   * @returns The pending list of results.
   */
  abstract mapAsync<U = RemoteValue>(f: Remote, ...sequences: unknown[][]): AsyncMapResult<U>;

  /**
   * Same as {@link View.mapAsync}.
   *
   * @param f The function.
   * @param sequences The sequences.
   * @returns The pending list of results.
   */
  map<U = RemoteValue>(f: Remote, ...sequences: unknown[][]): AsyncMapResult<U> {
    return this.mapAsync<U>(f, ...sequences);
  }

  /**
   * Maps and waits for the list.
   *
   * @param f The function.
   * @param sequences The sequences.
   * @returns The results, in order.
   */
  async mapSync<U = RemoteValue>(f: Remote, ...sequences: unknown[][]): Promise<U[]> {
    return await this.mapAsync<U>(f, ...sequences);
  }

  // -- execute --------------------------------------------------------------------------------

  /**
   * Runs code remotely (JavaScript/TypeScript on our engines, Python on Python engines).
   *
   * @param code The code.
   * @param options `silent` (default true), `userExpressions`.
   * @returns The pending `ExecuteReply` (a list for several engines).
   */
  abstract executeAsync(code: string, options?: ExecuteOptions): AsyncResult<RemoteValue>;

  /**
   * Same as {@link View.executeAsync}.
   *
   * @param code The code.
   * @param options `silent`, `userExpressions`.
   * @returns The pending reply.
   */
  execute(code: string, options?: ExecuteOptions): AsyncResult<RemoteValue> {
    return this.executeAsync(code, options);
  }

  /**
   * Runs code and waits.
   *
   * @param code The code.
   * @param options `silent`, `userExpressions`.
   * @returns The `ExecuteReply` (a list for several engines).
   */
  async executeSync(code: string, options?: ExecuteOptions): Promise<RemoteValue> {
    return await this.executeAsync(code, options);
  }

  /**
   * Runs a local file's contents remotely (ipyparallel's `run`) and waits.
   *
   * @param path The file.
   * @param options As for {@link View.execute}.
   * @returns The `ExecuteReply` (or list).
   * @throws {RemoteError} The code raised.
   */
  async run(path: string, options?: ExecuteOptions): Promise<RemoteValue> {
    return await this.executeAsync(await Deno.readTextFile(path), options);
  }

  // -- remote functions and px ----------------------------------------------------------------

  /**
   * Wraps `f` so that calling it runs it through this view (`@view.remote()`).
   *
   * @param f The function.
   * @param options `block`: calls return the value instead of the AsyncResult.
   * @returns The remote function.
   */
  remote<F extends Remote>(f: F, options: RemoteFunctionOptions = {}): RemoteFunction<F> {
    return new RemoteFunction(this, f, options);
  }

  /**
   * Wraps `f` so that `.map(seq)` runs it over a sequence in parallel through this view
   * (`@view.parallel()`); calling it directly is `map` over its arguments.
   *
   * @param f The function of one item.
   * @param options `block`; `chunksize`, `ordered` for load-balanced views.
   * @returns The parallel function.
   */
  parallel<F extends Remote>(
    f: F,
    options: RemoteFunctionOptions & { chunksize?: number; ordered?: boolean } = {},
  ): ParallelFunction<F> {
    return new ParallelFunction(this, f, options);
  }

  /**
   * The `%px` magic as a tagged template: runs the code (not silent) on the view's engines,
   * waits, and prints their output (`[stdout:0] …`, `Out[0:1]: …`); errors are printed and
   * rethrown. Interpolated values are inserted with `String(value)`. The promise gives the
   * `ExecuteReply` (or list); {@link View.pxResult} prints the output again.
   *
   * @example
   * ```ts ignore
   * await view.px`x = 1 + 1`;
   * await view.px`x`; // prints Out[0:2]: 2
   * ```
   */
  get px(): (strings: TemplateStringsArray, ...values: unknown[]) => Promise<RemoteValue> {
    return (strings, ...values) => this.#px.run(String.raw({ raw: strings }, ...values));
  }

  /**
   * Re-prints the output of the last `px` (ipyparallel's `%pxresult`).
   *
   * @throws {IppError} No `px` ran yet on this view.
   */
  pxResult(): void {
    this.#px.printLast();
  }

  /**
   * Installs this view's `px` as a global function (ipyparallel's `activate`), for notebooks.
   *
   * @param name The global's name (default `"px"`).
   */
  activate(name = "px"): void {
    (globalThis as Record<string, unknown>)[name] = this.px;
  }

  // -- misc -----------------------------------------------------------------------------------

  /**
   * Waits for results of this client (default: everything outstanding).
   *
   * @param jobs msg_ids or AsyncResults.
   * @param timeoutMs Limit.
   * @returns Whether they settled in time.
   */
  wait(
    jobs?: string | AsyncResult<RemoteValue> | (string | AsyncResult<RemoteValue>)[],
    timeoutMs?: number,
  ): Promise<boolean> {
    return this.client.wait(jobs, timeoutMs);
  }

  /** Does nothing (see `Client.spin`). */
  spin(): void {}

  // -- encodings of built-in calls ------------------------------------------------------------

  /** The function and arguments that map `f` over one chunk of each sequence on an engine. */
  protected mapCall(f: Remote, chunks: unknown[][]): { fn: Remote; args: unknown[] } {
    if (this.serializer === "pickle") {
      if (!(f instanceof Reference)) {
        throw new InvalidOptionError(
          "serializer",
          'A Python engine (serializer "pickle") can only map a Reference("name")',
        );
      }
      return { fn: new Reference("lambda __f, *__s: list(map(__f, *__s))"), args: [f, ...chunks] };
    }
    if (f instanceof Reference) return { fn: mapperOf(null), args: [f, ...chunks] };
    return { fn: mapperOf(functionSource(f)), args: chunks };
  }

  /** `push`: the function and keyword arguments that assign names on an engine. */
  protected pushCall(): Reference {
    return new Reference(this.serializer === "pickle" ? "globals().update" : "__ipp_push__");
  }

  /** `pull`: the function that reads names (one name, or a list) on an engine. */
  protected pullCall(): Reference {
    return new Reference(
      this.serializer === "pickle"
        ? "lambda k: [eval(n, globals()) for n in k] if isinstance(k, (list, tuple)) else eval(k, globals())"
        : "__ipp_pull__",
    );
  }
}

/** Results of `execute` are {@link ExecuteReply}s. */
export type { ExecuteReply };

/**
 * The mapper for a JavaScript engine: `f` inlined by source (so the engine compiles it like
 * any applied function), or taken as a first argument when it is a Reference.
 */
function mapperOf(source: string | null): (...args: never[]) => unknown {
  const key = source ?? "";
  let fn = mappers.get(key);
  if (fn === undefined) {
    const head = source === null
      ? "(__ipp_f, ...__ipp_s) => {"
      : `(...__ipp_s) => { const __ipp_f = ${expressionOf(source)};`;
    // One sequence (the common case) is read directly: no argument array per item.
    const text = head +
      " const m = __ipp_s.length, s0 = __ipp_s[0];" +
      " const n = m === 1 ? s0.length : Math.min(...__ipp_s.map((s) => s.length));" +
      " const out = new Array(n); let p = false;" +
      " for (let i = 0; i < n; i++) {" +
      " const v = m === 1 ? __ipp_f(s0[i]) : __ipp_f(...__ipp_s.map((s) => s[i]));" +
      " if (v instanceof Promise) p = true; out[i] = v; }" +
      " return p ? Promise.all(out) : out; }";
    fn = (0, eval)(text) as (...args: never[]) => unknown;
    if (mappers.size > 256) mappers.delete(mappers.keys().next().value!);
    mappers.set(key, fn);
  }
  return fn;
}

/** A function source as an expression (method shorthand `f(x) {…}` is not one by itself). */
function expressionOf(source: string): string {
  try {
    new Function(`return (${source});`);
    return `(${source})`;
  } catch {
    return `Object.values({${source}})[0]`;
  }
}
