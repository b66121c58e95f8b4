/**
 * {@link AsyncMapResult}: the pending result of a `map`, whose requests each computed a chunk
 * (ipyparallel's `AsyncMapResult`).
 *
 * @module
 */

import { AsyncResult } from "./async_result.ts";
import type { AsyncResultOptions } from "./async_result.ts";
import type { ResultSource } from "./result_source.ts";
import { largeTyped } from "../zmtp/large_bytes.ts";

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
  readonly #joinTypedArrays: boolean;

  /**
   * Creates the result of a map over chunk requests.
   *
   * @param source Where the chunk tasks settle.
   * @param msgIds One msg_id per chunk, in order.
   * @param options As for {@link AsyncResult}, plus `ordered` (default true) and
   *   `joinTypedArrays` (default false): parts that are typed arrays join into one typed
   *   array, as `DirectView.gather` wants (see {@link joinParts}).
   */
  constructor(
    source: ResultSource,
    msgIds: readonly string[],
    options: AsyncResultOptions & { ordered?: boolean; joinTypedArrays?: boolean } = {},
  ) {
    super(source, msgIds, options);
    this.ordered = options.ordered ?? true;
    this.#joinTypedArrays = options.joinTypedArrays ?? false;
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

  /** Joins the chunks into one flat list (or typed array, with `joinTypedArrays`). */
  protected override reconstruct(returnExceptions: boolean): U[] {
    const chunks = super.reconstruct(returnExceptions) as unknown[];
    if (this.#joinTypedArrays && chunks.some(isTypedArray)) return joinParts(chunks) as U[];
    const flat: unknown[] = [];
    for (const chunk of chunks) {
      if (Array.isArray(chunk)) { for (const item of chunk) flat.push(item); }
      else flat.push(chunk);
    }
    return flat as U[];
  }
}

/** Any typed array (`Float64Array`, `BigInt64Array`, …), not a `DataView`. */
export type TypedArray = Exclude<ArrayBufferView, DataView> & ArrayLike<number | bigint>;

function isTypedArray(x: unknown): x is TypedArray {
  return ArrayBuffer.isView(x) && !(x instanceof DataView);
}

/**
 * The parts as one typed array without a copy, when they are views of one kind that fill one
 * buffer exactly, in order, side by side; else `undefined`.
 */
function sideBySide(
  parts: readonly unknown[],
  Kind: new (buffer: ArrayBuffer) => TypedArray,
): TypedArray | undefined {
  if (parts.length < 2) return undefined;
  const buffer = (parts[0] as TypedArray).buffer;
  let at = 0;
  for (const p of parts) {
    if (!isTypedArray(p) || p.constructor !== Kind || p.buffer !== buffer || p.byteOffset !== at) {
      return undefined;
    }
    at += p.byteLength;
  }
  return at === buffer.byteLength && buffer instanceof ArrayBuffer ? new Kind(buffer) : undefined;
}

/**
 * Joins gathered parts into one sequence, as numpy's `concatenate` does for `gather`: typed
 * arrays of one kind (with single numbers from one-item parts, and plain lists) give one
 * typed array of that kind; parts of several kinds give one plain list of all their items.
 * Parts received side by side into one array (`gather_placement.ts`) are joined without a
 * copy: the joined array is then that array, and shares its memory with the parts.
 *
 * @param parts One part per engine, in order.
 * @returns The joined sequence.
 *
 * @example
 * ```ts
 * import { joinParts } from "./async_map_result.ts";
 * console.log(joinParts([new Int32Array([1, 2]), 3, new Int32Array([4])])); // Int32Array [1, 2, 3, 4]
 * ```
 */
export function joinParts(parts: readonly unknown[]): TypedArray | unknown[] {
  const kinds = new Set(parts.filter(isTypedArray).map((p) => p.constructor));
  const items = (p: unknown): ArrayLike<unknown> =>
    isTypedArray(p) || Array.isArray(p) ? p as ArrayLike<unknown> : [p];
  if (kinds.size !== 1) return parts.flatMap((p) => Array.from(items(p)));
  const Kind = [...kinds][0] as unknown as {
    new (buffer: ArrayBuffer): TypedArray & { set(a: ArrayLike<unknown>, at: number): void };
    readonly BYTES_PER_ELEMENT: number;
  };
  const inPlace = sideBySide(parts, Kind);
  if (inPlace !== undefined) return inPlace;
  const out = largeTyped(Kind, parts.reduce<number>((n, p) => n + items(p).length, 0));
  let at = 0;
  for (const p of parts) {
    const part = items(p);
    out.set(part, at);
    at += part.length;
  }
  return out;
}
