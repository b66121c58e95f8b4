/**
 * ipyparallel's canning layer (`ipyparallel/serialize/serialize.py`, `canning.py`):
 * `serialize_object`, `pack_apply_message` and their inverses over the pickle codec, so a
 * TypeScript client can drive Python engines and read their results (PROTOCOL.md §9.3, §9.4).
 *
 * @module
 */

import { SerializationError, UnsupportedSerialization } from "../errors.ts";
import { bad, loads } from "./pickle_reader.ts";
import { dumps, isPlainObject } from "./pickle_writer.ts";
import { CANNING, NDArray, PyObject, PyTuple, Reference } from "./py_values.ts";

/** `jupyter_client.session.MAX_ITEMS`: containers at least this long are not canned. */
const MAX_ITEMS = 64;
/** `jupyter_client.session.MAX_BYTES`: canned buffers longer than this go in their own frame. */
const MAX_BYTES = 1024;

const DTYPES: Record<string, string> = {
  Int8Array: "|i1",
  Uint8Array: "|u1",
  Uint8ClampedArray: "|u1",
  Int16Array: "<i2",
  Uint16Array: "<u2",
  Int32Array: "<i4",
  Uint32Array: "<u4",
  Float16Array: "<f2",
  Float32Array: "<f4",
  Float64Array: "<f8",
  BigInt64Array: "<i8",
  BigUint64Array: "<u8",
};

type ViewCtor = new (b: ArrayBufferLike, o: number, n: number) => ArrayBufferView;

function typedArrayFor(dtype: string, bytes: Uint8Array): ArrayBufferView {
  const d = dtype.replace(/^=/, "<");
  const name = Object.keys(DTYPES).find((k) =>
    DTYPES[k] === d || (d === "|b1" && k === "Uint8Array")
  );
  const ctor = name
    ? (globalThis as unknown as Record<string, ViewCtor | undefined>)[name]
    : undefined;
  if (!ctor) return bytes;
  const size = (ctor as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT;
  if (bytes.byteLength % size) {
    bad(`CannedArray data length ${bytes.byteLength} is not a multiple of ${size}`);
  }
  const b = bytes.byteOffset % size ? bytes.slice() : bytes;
  return new ctor(b.buffer, b.byteOffset, b.byteLength / size);
}

function canOne(v: unknown, bufs: Uint8Array[]): unknown {
  if (v instanceof Uint8Array && !(v instanceof Uint8ClampedArray)) {
    return new PyObject(CANNING, "CannedBytes", [], { buffers: [extract(v, bufs)] });
  }
  if (v instanceof NDArray || (ArrayBuffer.isView(v) && !(v instanceof DataView))) {
    const arr = v instanceof NDArray ? v.data : v;
    const tag = Object.prototype.toString.call(arr).slice(8, -1);
    const dtype = v instanceof NDArray ? v.dtype : DTYPES[tag];
    if (!dtype) throw new SerializationError(`cannot pickle a ${tag} for Python`);
    const shape = v instanceof NDArray ? v.shape : [(arr as unknown as { length: number }).length];
    const raw = new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength);
    return new PyObject(CANNING, "CannedArray", [], {
      shape: new PyTuple(shape),
      dtype,
      pickled: false,
      buffers: [extract(raw, bufs)],
    });
  }
  return v;
}

function extract(b: Uint8Array, bufs: Uint8Array[]): Uint8Array | null {
  if (b.byteLength > MAX_BYTES) {
    bufs.push(b);
    return null;
  }
  return b;
}

/**
 * Serialize one value the way `ipyparallel.serialize.serialize_object` does, for a Python
 * peer: one pickle frame, then a raw frame for each canned buffer over 1024 bytes.
 * Top-level values and direct children of arrays (< 64 items) and of objects/Maps
 * (< 64 keys, re-ordered by sorted key like Python) are canned: `Uint8Array` becomes
 * `CannedBytes`, other typed arrays and {@linkcode NDArray} become `CannedArray` (needs
 * numpy on the engine), {@linkcode Reference} becomes `canning.Reference`. Typed arrays
 * deeper in the structure throw, as Python would not uncan them.
 *
 * @param value The value.
 * @returns `[pickle, ...rawBuffers]`; raw buffers are views, not copies.
 * @throws {SerializationError} for values outside the supported subset.
 */
export function serializeObjectPickle(value: unknown): Uint8Array[] {
  const bufs: Uint8Array[] = [];
  let canned: unknown;
  if (Array.isArray(value) && value.length < MAX_ITEMS) {
    canned = value.map((x) => canOne(x, bufs));
  } else if (value instanceof Set && value.size < MAX_ITEMS) {
    canned = new Set([...value].map((x) => canOne(x, bufs)));
  } else if (value instanceof Map && value.size < MAX_ITEMS) {
    canned = new Map(sortedKeys([...value.keys()]).map((k) => [k, canOne(value.get(k), bufs)]));
  } else if (
    value !== null && typeof value === "object" && isPlainObject(value) &&
    Object.keys(value).length < MAX_ITEMS
  ) {
    const m = new Map<string, unknown>();
    for (const k of sortedKeys(Object.keys(value))) {
      m.set(k, canOne((value as Record<string, unknown>)[k], bufs));
    }
    canned = m;
  } else {
    canned = canOne(value, bufs);
  }
  return [dumps(canned), ...bufs];
}

function restoreBuffers(v: unknown, frames: Uint8Array[]): void {
  if (!(v instanceof PyObject) || v.module !== CANNING) return;
  const st = v.state as { buffers?: unknown } | undefined;
  if (!st || !Array.isArray(st.buffers)) return;
  for (let i = 0; i < st.buffers.length; i++) {
    if (st.buffers[i] === null) {
      const f = frames.shift();
      if (!f) {
        throw new SerializationError("pickled object refers to a raw buffer frame that is missing");
      }
      st.buffers[i] = f;
    }
  }
}

function uncan(v: unknown): unknown {
  if (!(v instanceof PyObject) || v.module !== CANNING) return v;
  const st = (v.state ?? {}) as Record<string, unknown>;
  const bufs = Array.isArray(st.buffers) ? st.buffers : [];
  switch (v.qualname) {
    case "Reference":
      if (typeof st.name !== "string") bad("Reference without a name");
      return new Reference(st.name as string);
    case "CannedBytes":
    case "CannedMemoryView":
    case "CannedBuffer":
      if (!(bufs[0] instanceof Uint8Array)) bad(`${v.qualname} without a buffer`);
      return bufs[0];
    case "CannedArray": {
      if (st.pickled) {
        return bufs[0] instanceof Uint8Array
          ? loads(bufs[0])
          : bad("pickled CannedArray without data");
      }
      if (!(bufs[0] instanceof Uint8Array) || !Array.isArray(st.shape)) {
        bad("CannedArray without data or shape");
      }
      const dtype = typeof st.dtype === "string" ? st.dtype : JSON.stringify(st.dtype);
      return new NDArray(st.shape as number[], dtype, typedArrayFor(dtype, bufs[0] as Uint8Array));
    }
  }
  return v;
}

/**
 * Inverse of `serialize_object`: read one object from `frames` (a pickle frame, then the
 * raw frames its canned buffers were extracted to) and uncan it: `CannedBytes` →
 * `Uint8Array`, `CannedArray` → {@linkcode NDArray}, `Reference` → {@linkcode Reference}.
 * Functions and classes stay {@linkcode PyObject} (they cannot run here).
 *
 * @param frames The frames, starting with the pickle.
 * @returns The value and the frames left after it.
 * @throws {SerializationError} on malformed input.
 * @throws {UnsupportedSerialization} on pickles outside the supported subset.
 */
export function deserializeObjectPickle(frames: Uint8Array[]): [unknown, Uint8Array[]] {
  if (frames.length === 0) throw new SerializationError("no frames to deserialize");
  const rest = frames.slice(1);
  let canned = loads(frames[0]);
  if (Array.isArray(canned) && canned.length < MAX_ITEMS) {
    for (const c of canned) restoreBuffers(c, rest);
    canned = canned.map(uncan);
  } else if (canned instanceof Set && canned.size < MAX_ITEMS) {
    for (const c of canned) restoreBuffers(c, rest);
    canned = new Set([...canned].map(uncan));
  } else if (canned instanceof Map && canned.size < MAX_ITEMS) {
    for (const k of sortedKeys([...canned.keys()])) restoreBuffers(canned.get(k), rest);
    for (const [k, c] of canned) canned.set(k, uncan(c));
  } else if (
    canned !== null && typeof canned === "object" && isPlainObject(canned) &&
    Object.keys(canned).length < MAX_ITEMS
  ) {
    const o = canned as Record<string, unknown>;
    for (const k of sortedKeys(Object.keys(o))) restoreBuffers(o[k], rest);
    for (const k of Object.keys(o)) o[k] = uncan(o[k]);
  } else {
    restoreBuffers(canned, rest);
    canned = uncan(canned);
  }
  return [canned, rest];
}

/**
 * Build `apply_request` buffers for a Python engine, as `pack_apply_message` does
 * (PROTOCOL.md §9.1): `[...serialize(f), info, ...serialize(arg_i), ...serialize(kwargs[k])
 * for sorted k]`, `info = {"nargs", "narg_bufs", "kw_keys"}`.
 *
 * @param f A {@linkcode Reference} to a callable in the engine namespace (`Reference("len")`).
 * @param args Positional arguments (JSON-like, `Uint8Array`, typed arrays, `Reference`).
 * @param kwargs Keyword arguments.
 * @returns The buffers.
 * @throws {SerializationError} when `f` is not a Reference or an argument cannot be pickled.
 * @example
 * ```ts
 * import { packApplyPickle, Reference } from "./pickle.ts";
 * const buffers = packApplyPickle(new Reference("len"), [[1, 2, 3]]);
 * ```
 */
export function packApplyPickle(
  f: Reference,
  args: unknown[] = [],
  kwargs: Record<string, unknown> = {},
): Uint8Array[] {
  if (!(f instanceof Reference)) {
    throw new SerializationError(
      "a Python engine can only call a Reference(name); JavaScript functions cannot run there",
    );
  }
  const argBufs = args.flatMap((a) => serializeObjectPickle(a));
  const kwKeys = sortedKeys(Object.keys(kwargs));
  const kwBufs = kwKeys.flatMap((k) => serializeObjectPickle(kwargs[k]));
  const info = dumps({ nargs: args.length, narg_bufs: argBufs.length, kw_keys: kwKeys });
  return [...serializeObjectPickle(f), info, ...argBufs, ...kwBufs];
}

/**
 * Read `apply_request` buffers made by Python's `pack_apply_message` (or
 * {@linkcode packApplyPickle}). Only a `Reference` function can be honoured by a
 * non-Python engine; a pickled Python function raises `UnsupportedSerialization`
 * (PROTOCOL.md §9.2).
 *
 * @param frames The request buffers.
 * @returns The function reference, positional and keyword arguments.
 * @throws {UnsupportedSerialization} when `f` is Python code or outside the subset.
 * @throws {SerializationError} on malformed buffers.
 */
export function unpackApplyPickle(
  frames: Uint8Array[],
): { f: Reference; args: unknown[]; kwargs: Record<string, unknown> } {
  if (frames.length < 2) {
    throw new SerializationError(`apply buffers: need at least 2 frames, got ${frames.length}`);
  }
  const [f, rest] = deserializeObjectPickle(frames);
  if (!(f instanceof Reference)) {
    throw new UnsupportedSerialization(
      "pickle",
      "this engine cannot unpickle pickle apply buffers (only Reference(name) can be called; " +
        `got ${f instanceof PyObject ? `${f.module}.${f.qualname}` : typeof f})`,
    );
  }
  const info = loads(rest[0]) as { nargs?: unknown; narg_bufs?: unknown; kw_keys?: unknown };
  if (
    info === null || typeof info !== "object" || typeof info.nargs !== "number" ||
    typeof info.narg_bufs !== "number" || !Array.isArray(info.kw_keys)
  ) throw new SerializationError("apply info frame lacks nargs/narg_bufs/kw_keys");
  let argBufs = rest.slice(1, 1 + info.narg_bufs);
  let kwBufs = rest.slice(1 + info.narg_bufs);
  const args: unknown[] = [];
  for (let i = 0; i < info.nargs; i++) {
    let v: unknown;
    [v, argBufs] = deserializeObjectPickle(argBufs);
    args.push(v);
  }
  if (argBufs.length) throw new SerializationError("apply buffers: arg frames left over");
  const kwargs: Record<string, unknown> = {};
  for (const k of info.kw_keys) {
    let v: unknown;
    [v, kwBufs] = deserializeObjectPickle(kwBufs);
    kwargs[String(k)] = v;
  }
  if (kwBufs.length) throw new SerializationError("apply buffers: kwarg frames left over");
  return { f, args, kwargs };
}

/** Compare strings by Unicode code point, as Python's `sorted` does. */
function cmpCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.codePointAt(i)!;
    const y = b.codePointAt(i)!;
    if (x !== y) return x - y;
    if (x > 0xffff) i++;
  }
  return a.length - b.length;
}

/** Keys of a JS mapping in Python `sorted()` order (strings by code point, numbers numerically). */
function sortedKeys<K>(keys: K[]): K[] {
  if (keys.every((k) => typeof k === "string")) {
    return [...keys].sort((a, b) => cmpCodePoints(a as string, b as string));
  }
  if (keys.every((k) => typeof k === "number" || typeof k === "bigint")) {
    return [...keys].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }
  return keys;
}
