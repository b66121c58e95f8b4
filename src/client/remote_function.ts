/**
 * {@link RemoteFunction} and {@link ParallelFunction}: functions bound to a view, the
 * counterparts of ipyparallel's `@view.remote()` and `@view.parallel()` decorators.
 *
 * @module
 */

import type { AsyncMapResult } from "./async_map_result.ts";
import type { AsyncResult } from "./async_result.ts";
import type { ArgsOf, Remote, RemoteValue, View } from "./view_base.ts";

/** Options of {@link RemoteFunction}. */
export interface RemoteFunctionOptions {
  /** Calls wait and return the value (default false: they return the AsyncResult). */
  block?: boolean;
}

/**
 * A function that runs through a view when called.
 *
 * @example
 * ```ts ignore
 * const square = view.remote((x: number) => x * x);
 * await square.call(4); // 16 on each engine of the view
 * ```
 */
export class RemoteFunction<F extends Remote> {
  /** The view calls go through. */
  readonly view: View;
  /** The wrapped function. */
  readonly func: F;
  /** Calls wait for the value. */
  readonly block: boolean;

  /**
   * Creates the object; see the class documentation.
   *
   * @param view The view.
   * @param func The function or Reference.
   * @param options `block`.
   */
  constructor(view: View, func: F, options: RemoteFunctionOptions = {}) {
    this.view = view;
    this.func = func;
    this.block = options.block ?? false;
  }

  /**
   * Runs the function through the view.
   *
   * @param args Its arguments.
   * @returns The AsyncResult, or (with `block`) a promise of the value.
   */
  call(...args: ArgsOf<F>): AsyncResult<RemoteValue> | Promise<RemoteValue> {
    const ar = this.view.applyAsync(this.func, ...args);
    return this.block ? ar.get() : ar;
  }
}

/**
 * A function mapped over sequences through a view.
 *
 * @example
 * ```ts ignore
 * const double = view.parallel((x: number) => 2 * x);
 * await double.map([1, 2, 3]); // [2, 4, 6]
 * ```
 */
export class ParallelFunction<F extends Remote> extends RemoteFunction<F> {
  /** Items per task (load-balanced views). */
  readonly chunksize: number | undefined;
  /** Whether results keep submission order when iterated. */
  readonly ordered: boolean;

  /**
   * Creates the object; see the class documentation.
   *
   * @param view The view.
   * @param func The function of one item.
   * @param options `block`, `chunksize`, `ordered`.
   */
  constructor(
    view: View,
    func: F,
    options: RemoteFunctionOptions & { chunksize?: number; ordered?: boolean } = {},
  ) {
    super(view, func, options);
    this.chunksize = options.chunksize;
    this.ordered = options.ordered ?? true;
  }

  /**
   * Maps the function over sequences through the view.
   *
   * @param sequences The sequences.
   * @returns The AsyncMapResult, or (with `block`) a promise of the list.
   */
  map(...sequences: unknown[][]): AsyncMapResult<RemoteValue> | Promise<RemoteValue[]> {
    const view = this.view as View & {
      mapWith?: (
        f: Remote,
        sequences: unknown[][],
        o: { chunksize?: number; ordered?: boolean },
      ) => AsyncMapResult<RemoteValue>;
    };
    const ar = view.mapWith
      ? view.mapWith(this.func, sequences, { chunksize: this.chunksize, ordered: this.ordered })
      : view.mapAsync(this.func, ...sequences);
    return this.block ? ar.get() : ar;
  }

  /**
   * Calling a parallel function maps it over its arguments, as in ipyparallel.
   *
   * @param sequences The sequences.
   * @returns As {@link ParallelFunction.map}.
   */
  override call(...sequences: ArgsOf<F>): AsyncResult<RemoteValue> | Promise<RemoteValue> {
    return this.map(...(sequences as unknown[][]));
  }
}
