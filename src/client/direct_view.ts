/**
 * {@link DirectView}: requests addressed to chosen engines through the MUX relay (PROTOCOL.md
 * §3.5.1), and the namespace operations built on them — push, pull, scatter, gather,
 * importModules — plus clear, abort and queue status for its engines.
 *
 * Push and pull are `apply_request`s of built-in references, the encoding our engine kernel
 * defines (`src/engine/kernel/runtime.ts`): `Reference("__ipp_push__")` with the names as
 * keyword arguments, `Reference("__ipp_pull__")` with a name or a list of names. With the
 * `"pickle"` serializer the same operations use Python expressions instead
 * (`globals().update`, `eval`), so they work on Python engines too.
 *
 * @module
 */

import type { AsyncMapResult } from "./async_map_result.ts";
import type { AsyncResult } from "./async_result.ts";
import type { Client } from "./client.ts";
import type { EngineQueue, QueueStatus } from "./hub_queries.ts";
import { partition, resolveTargets } from "./targets.ts";
import type { Targets } from "./targets.ts";
import { View } from "./view_base.ts";
import type { ArgsOf, ExecuteOptions, Remote, RemoteValue } from "./view_base.ts";

/**
 * A view on engines by id. With `targets: "all"` the engines are looked up at each call, so
 * engines that join later are included; with an id or a list they are fixed. One id gives
 * single results; `"all"` or a list gives a list (one entry per engine, in target order).
 *
 * @example
 * ```ts ignore
 * const dv = client.directView();
 * await dv.push({ a: 5 });
 * console.log(await dv.apply(() => (globalThis as any).a * 2)); // [10, 10]
 * ```
 */
export class DirectView extends View {
  /** Which engines: `"all"`, one id, or a list. */
  targets: Targets;

  /**
   * Creates the object; see the class documentation.
   *
   * @param client The client.
   * @param targets `"all"`, one id, or a list of ids.
   */
  constructor(client: Client, targets: Targets) {
    super(client);
    this.targets = targets;
  }

  /** The engine ids this view addresses now. */
  get engineIds(): number[] {
    return resolveTargets(this.targets, this.client.ids);
  }

  /** Whether results are single values (one engine id) rather than lists. */
  get single(): boolean {
    return typeof this.targets === "number";
  }

  /** {@inheritDoc View.flagNames} */
  protected override flagNames(): string[] {
    return [...super.flagNames(), "targets"];
  }

  /**
   * Calls `f(...args)` on every engine of the view (one request each, through MUX).
   *
   * @param f A function or a `Reference`.
   * @param args Its arguments.
   * @returns The pending value (one engine) or list (several).
   */
  applyAsync<F extends Remote>(f: F, ...args: ArgsOf<F>): AsyncResult<RemoteValue> {
    return this.#apply(f, args, {}, this.#fname(f));
  }

  /**
   * Calls `f(...args, kwargs)` — keyword arguments as Python's `apply(f, *args, **kwargs)`.
   *
   * @param f A function or a `Reference`.
   * @param args Positional arguments.
   * @param kwargs Keyword arguments (a JavaScript engine passes them as one last object).
   * @returns The pending value or list.
   */
  applyKw(f: Remote, args: unknown[], kwargs: Record<string, unknown>): AsyncResult<RemoteValue> {
    return this.#apply(f, args, kwargs, this.#fname(f));
  }

  /**
   * Maps `f` over sequences: each engine gets one contiguous chunk of every sequence.
   *
   * @param f A function of one item from each sequence, or a `Reference`.
   * @param sequences The sequences.
   * @returns The pending flat list of results.
   */
  mapAsync<U = RemoteValue>(f: Remote, ...sequences: unknown[][]): AsyncMapResult<U> {
    const ids = this.engineIds;
    const n = Math.min(...sequences.map((s) => s.length));
    const msgIds: string[] = [];
    ids.forEach((id, i) => {
      const [lo, hi] = partition(n, ids.length, i);
      if (lo === hi && n > 0) return;
      const { fn, args } = this.mapCall(f, sequences.map((s) => s.slice(lo, hi)));
      msgIds.push(
        this.client.sendApplyRequest("mux", fn, { args, target: id, serializer: this.serializer })
          .msgId,
      );
    });
    return this.client.asyncMapResult<U>(msgIds, { fname: this.#fname(f) });
  }

  /**
   * Runs code on every engine of the view.
   *
   * @param code The code.
   * @param options `silent` (default true), `userExpressions`.
   * @returns The pending `ExecuteReply` (or list).
   */
  executeAsync(code: string, options: ExecuteOptions = {}): AsyncResult<RemoteValue> {
    const ids = this.engineIds;
    const msgIds = ids.map((id) =>
      this.client.sendExecuteRequest("mux", code, { ...options, target: id }).msgId
    );
    return this.client.asyncResult(this.single ? msgIds[0] : msgIds, { fname: "execute" });
  }

  /**
   * Assigns names in the engines' namespaces (`view.push({a: 1})`, Python's `push(dict)`).
   *
   * @param namespace Names and values.
   * @param options `targets` overrides the view's.
   * @returns The pending result (of `undefined`s); `await` it to wait for every engine.
   */
  push(
    namespace: Record<string, unknown>,
    options: { targets?: Targets } = {},
  ): AsyncResult<RemoteValue> {
    return this.#apply(this.pushCall(), [], namespace, "push", options.targets);
  }

  /**
   * Reads names (or expressions) from the engines' namespaces.
   *
   * @param names One name, or a list of names.
   * @param options `targets` overrides the view's.
   * @returns The pending value per engine (a list of values per engine for a list of names).
   */
  pull(names: string | string[], options: { targets?: Targets } = {}): AsyncResult<RemoteValue> {
    return this.#apply(this.pullCall(), [names], {}, "pull", options.targets);
  }

  /**
   * Splits a sequence into contiguous parts and pushes one part to each engine under `name`.
   *
   * @param name The name on each engine.
   * @param sequence The items.
   * @param options `targets`, `flatten` (a one-item part is pushed as the item).
   * @returns The pending pushes; `await` it to wait for every engine.
   */
  scatter(
    name: string,
    sequence: ArrayLike<unknown>,
    options: { targets?: Targets; flatten?: boolean } = {},
  ): AsyncResult<RemoteValue> {
    const ids = resolveTargets(options.targets ?? this.targets, this.client.ids);
    const typed = ArrayBuffer.isView(sequence) && !(sequence instanceof DataView);
    // A typed array is split into views (no copy); other array-likes become a list once.
    const items: ArrayLike<unknown> = typed || Array.isArray(sequence)
      ? sequence
      : Array.from(sequence);
    const msgIds = ids.map((id, i) => {
      const [lo, hi] = partition(items.length, ids.length, i);
      let part: unknown = typed
        ? (sequence as unknown as { subarray(a: number, b: number): unknown }).subarray(lo, hi)
        : (items as unknown[]).slice(lo, hi);
      if (options.flatten && hi - lo === 1) part = items[lo];
      return this.client.sendApplyRequest("mux", this.pushCall(), {
        kwargs: { [name]: part },
        target: id,
        serializer: this.serializer,
      }).msgId;
    });
    return this.client.asyncResult(msgIds, { fname: "scatter" });
  }

  /**
   * Pulls `name` from each engine and concatenates the parts (the inverse of `scatter`), as
   * numpy's gather does: typed-array parts join into one typed array of their kind (parts of
   * several kinds give one list of their items); list parts join into one list. Large parts
   * that come straight from engines on this host are received side by side into the joined
   * array, which then shares its memory with the parts (no copy to join them).
   *
   * @param name The name on each engine.
   * @param options `targets` overrides the view's.
   * @returns The pending concatenated list or typed array.
   */
  gather(name: string, options: { targets?: Targets } = {}): AsyncMapResult<RemoteValue> {
    const ids = resolveTargets(options.targets ?? this.targets, this.client.ids);
    const msgIds = ids.map((id) =>
      this.client.sendApplyRequest("mux", this.pullCall(), {
        args: [name],
        target: id,
        serializer: this.serializer,
      }).msgId
    );
    // Large parts are received side by side into one array, when they can be: no join copy.
    this.client.placeGather(ids.map((id, i) => [id, msgIds[i]]));
    return this.client.asyncMapResult(msgIds, { fname: "gather", joinTypedArrays: true });
  }

  /**
   * Imports modules on the engines under global names (ipyparallel's `sync_imports`), e.g.
   * `importModules({ lodash: "npm:lodash@4" })`. With the pickle serializer the specifiers
   * are Python module names (`import <spec> as <name>`).
   *
   * @param modules Global name → module specifier.
   * @returns The pending `ExecuteReply`s.
   */
  importModules(modules: Record<string, string>): AsyncResult<RemoteValue> {
    const lines = Object.entries(modules).map(([name, spec]) =>
      this.serializer === "pickle"
        ? `import ${spec} as ${name}`
        : `globalThis[${JSON.stringify(name)}] = await import(${JSON.stringify(spec)});`
    );
    return this.executeAsync(lines.join("\n"));
  }

  /**
   * Clears the engines' namespaces.
   *
   * @param options `targets` overrides the view's; `block` waits for the replies.
   */
  clear(options: { targets?: Targets; block?: boolean } = {}): Promise<void> {
    return this.client.clear(options.targets ?? this.targets, {
      block: options.block ?? this.block,
    });
  }

  /**
   * Aborts queued requests on the view's engines.
   *
   * @param jobs msg_ids or AsyncResults (default: everything outstanding).
   * @param options `block` waits for the replies.
   */
  abort(
    jobs?: string | AsyncResult<unknown> | (string | AsyncResult<unknown>)[],
    options: { block?: boolean } = {},
  ): Promise<void> {
    return this.client.abort(jobs, { targets: this.targets, block: options.block ?? this.block });
  }

  /**
   * Queue status of the view's engines.
   *
   * @param options `verbose`: msg_id lists instead of counts.
   * @returns As `Client.queueStatus`.
   */
  queueStatus(options: { verbose?: boolean } = {}): Promise<QueueStatus | EngineQueue> {
    return this.client.queueStatus(this.targets, options);
  }

  /**
   * Stops the view's engines.
   *
   * @param options `block` waits for the replies.
   */
  shutdown(options: { block?: boolean } = {}): Promise<void> {
    return this.client.shutdown({ targets: this.targets, block: options.block ?? this.block });
  }

  #apply(
    f: Remote,
    args: unknown[],
    kwargs: Record<string, unknown>,
    fname: string,
    targets: Targets = this.targets,
  ): AsyncResult<RemoteValue> {
    const ids = resolveTargets(targets, this.client.ids);
    const msgIds = ids.map((id) =>
      this.client.sendApplyRequest("mux", f, {
        args,
        kwargs,
        target: id,
        serializer: this.serializer,
      }).msgId
    );
    return this.client.asyncResult(typeof targets === "number" ? msgIds[0] : msgIds, { fname });
  }

  #fname(f: Remote): string {
    return typeof f === "function" ? f.name || "<anonymous>" : String(f);
  }

  /** How `console.log` shows it. */
  [Symbol.for("Deno.customInspect")](): string {
    return `<DirectView ${JSON.stringify(this.targets)}>`;
  }
}
