/**
 * {@link AsyncMapResult}: the pending result of a `map`, whose requests each computed a chunk
 * (ipyparallel's `AsyncMapResult`).
 *
 * @module
 */

import { AsyncResult } from "./async_result.ts";
import type { AsyncResultOptions } from "./async_result.ts";
import type { ResultSource } from "./result_source.ts";

/**
 * The pending result of a `map`: each request computed a chunk, and the result is the chunks'
 * items flattened in order. Iterating yields items as chunks arrive — in order, or with
 * `ordered: false` as soon as each chunk completes.
 *
 * @example
 * ```ts
 * import { AsyncMapResult } from "./async_map_result.ts";
 * import { TaskRegistry } from "./task_registry.ts";
 * const tasks = new TaskRegistry({ decode: (b) => ({ value: [b.length, b.length], rest: [] }) });
 * for (const id of ["c1", "c2"]) tasks.track(id, { expectOutput: false });
 * const ar = new AsyncMapResult<number>(tasks, ["c1", "c2"]);
 * for (const id of ["c1", "c2"]) {
 *   tasks.handleReply({
 *     header: { msg_id: `r-${id}`, msg_type: "apply_reply" },
 *     parent_header: { msg_id: id },
 *     metadata: {},
 *     content: { status: "ok" },
 *     buffers: [new Uint8Array(1)],
 *   });
 * }
 * console.log(await ar); // [1, 1, 1, 1]
 * ```
 */
export class AsyncMapResult<U = unknown> extends AsyncResult<U[]> {
  /** Iteration yields in submission order (otherwise as chunks complete). */
  readonly ordered: boolean;

  /**
   * Creates the result of a map over chunk requests.
   *
   * @param source Where the chunk tasks settle.
   * @param msgIds One msg_id per chunk, in order.
   * @param options As for {@link AsyncResult}, plus `ordered` (default true).
   */
  constructor(
    source: ResultSource,
    msgIds: readonly string[],
    options: AsyncResultOptions & { ordered?: boolean } = {},
  ) {
    super(source, msgIds, options);
    this.ordered = options.ordered ?? true;
  }

  /** Items as chunks arrive (see {@link AsyncMapResult.ordered}). */
  override async *[Symbol.asyncIterator](): AsyncIterator<U> {
    if (this.ordered) {
      yield* super[Symbol.asyncIterator]() as AsyncIterableIterator<U>;
      return;
    }
    for (let k = 0; k < this.results.length; k++) {
      while (this.settledOrder.length <= k) await this.settled();
      yield* this.childValues(this.settledOrder[k]) as U[];
    }
  }

  /** A chunk contributes its items (a failed chunk: its error, or a throw). */
  protected override childValues(i: number): unknown[] {
    const values = super.childValues(i);
    const r = this.results[i]!;
    return r.state === "done" && Array.isArray(r.value) ? r.value : values;
  }

  /** Joins the chunks into one flat list. */
  protected override reconstruct(returnExceptions: boolean): U[] {
    const chunks = super.reconstruct(returnExceptions) as unknown[];
    const flat: unknown[] = [];
    for (const chunk of chunks) {
      if (Array.isArray(chunk)) { for (const item of chunk) flat.push(item); }
      else flat.push(chunk);
    }
    return flat as U[];
  }
}
