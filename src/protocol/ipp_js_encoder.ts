/**
 * Writing ipp-js payloads: one value ({@linkcode serializeObject}) or an `apply` call
 * ({@linkcode packApplyMessage}). The format is specified in the doc of `./serialize.ts`.
 *
 * @module
 */

import { SerializationError } from "../errors.ts";
import { functionSource } from "./function_source.ts";
import { Reference } from "./py_values.ts";
import { MAGIC_BYTES, TAG, VIEW_TYPES } from "./wire_format.ts";

const tagOf = (v: object) => Object.prototype.toString.call(v).slice(8, -1);

function hasOwnTag(o: object): boolean {
  return Object.hasOwn(o, TAG);
}

class Encoder {
  bufs: Uint8Array[] = [];
  path = new Set<object>();

  /** Returns `v` itself when it is already plain JSON (no copy), else an encoded copy. */
  enc(v: unknown): unknown {
    switch (typeof v) {
      case "string":
      case "boolean":
        return v;
      case "number":
        if (Number.isFinite(v) && !Object.is(v, -0)) return v;
        return { [TAG]: "num", v: Object.is(v, -0) ? "-0" : String(v) };
      case "undefined":
        return { [TAG]: "undef" };
      case "bigint":
        return { [TAG]: "bigint", v: v.toString() };
      case "function":
        return {
          [TAG]: "fn",
          src: functionSource(v as (...args: never[]) => unknown),
          name: v.name,
        };
      case "symbol":
        throw new SerializationError(`cannot serialize a symbol (${String(v)})`);
    }
    if (v === null) return null;
    const o = v as object;
    if (Array.isArray(o)) return this.within(o, 0);
    const proto = Object.getPrototypeOf(o);
    if (proto === Object.prototype || proto === null) return this.within(o, 1);
    return this.special(o);
  }

  depth = 0;
  /** Cycle check only below depth 64: cheap for ordinary data, still catches every cycle. */
  within(o: object, kind: 0 | 1 | 2, f?: () => unknown): unknown {
    const deep = ++this.depth > 64;
    if (deep) {
      if (this.path.has(o)) throw new SerializationError("cannot serialize a cyclic structure");
      this.path.add(o);
    }
    try {
      return kind === 0
        ? this.array(o as unknown[])
        : kind === 1
        ? this.object(o as Record<string, unknown>)
        : f!();
    } finally {
      this.depth--;
      if (deep) this.path.delete(o);
    }
  }

  array(a: unknown[]): unknown[] {
    let out: unknown[] | undefined;
    for (let i = 0; i < a.length; i++) {
      const x = a[i];
      const e = this.enc(x);
      if (e !== x) out ??= a.slice(0, i);
      if (out) out[i] = e;
    }
    return out ?? a;
  }

  object(o: Record<string, unknown>): unknown {
    if (hasOwnTag(o)) {
      return { [TAG]: "obj", e: Object.keys(o).map((k) => [k, this.enc(o[k])]) };
    }
    let out: Record<string, unknown> | undefined;
    const keys = Object.keys(o);
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i];
      const x = o[k];
      const e = this.enc(x);
      if (e !== x && !out) {
        out = {};
        for (let j = 0; j < i; j++) out[keys[j]] = o[keys[j]];
      }
      if (out) {
        if (k === "__proto__") {
          Object.defineProperty(out, k, {
            value: e,
            enumerable: true,
            writable: true,
            configurable: true,
          });
        } else out[k] = e;
      }
    }
    return out ?? o;
  }

  buf(bytes: Uint8Array, t: string): unknown {
    this.bufs.push(bytes);
    return { [TAG]: "buf", i: this.bufs.length - 1, t };
  }

  special(o: object): unknown {
    if (ArrayBuffer.isView(o)) {
      const t = tagOf(o);
      if (!VIEW_TYPES.has(t)) throw new SerializationError(`cannot serialize a ${t}`);
      return this.buf(new Uint8Array(o.buffer, o.byteOffset, o.byteLength), t);
    }
    if (o instanceof ArrayBuffer || tagOf(o) === "SharedArrayBuffer") {
      return this.buf(new Uint8Array(o as ArrayBuffer), "ArrayBuffer");
    }
    if (o instanceof Date) {
      const t = o.getTime();
      return { [TAG]: "date", v: Number.isNaN(t) ? null : t };
    }
    if (o instanceof Reference) return { [TAG]: "ref", name: o.name };
    if (o instanceof Map) {
      return this.within(
        o,
        2,
        () => ({ [TAG]: "map", v: [...o].map(([k, x]) => [this.enc(k), this.enc(x)]) }),
      );
    }
    if (o instanceof Set) {
      return this.within(o, 2, () => ({
        [TAG]: "set",
        v: [...o].map((x) => this.enc(x)),
      }));
    }
    if (o instanceof RegExp) return { [TAG]: "re", src: o.source, flags: o.flags };
    if (o instanceof Error) return this.within(o, 2, () => this.error(o));
    if (o instanceof Number || o instanceof String || o instanceof Boolean) {
      return this.enc(o.valueOf());
    }
    if (o instanceof BigInt) return this.enc(o.valueOf());
    if (
      o instanceof Promise || o instanceof WeakMap || o instanceof WeakSet ||
      o instanceof WeakRef ||
      typeof (o as { then?: unknown }).then === "function"
    ) {
      throw new SerializationError(
        `cannot serialize a ${tagOf(o)}${tagOf(o) === "Promise" ? " (await it first)" : ""}`,
      );
    }
    const toJSON = (o as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === "function") return this.within(o, 2, () => this.enc(toJSON.call(o)));
    return this.within(o, 2, () => {
      const copy: Record<string, unknown> = {};
      for (const k of Object.keys(o)) copy[k] = (o as Record<string, unknown>)[k];
      return this.object(copy);
    });
  }

  error(e: Error): unknown {
    const out: Record<string, unknown> = { [TAG]: "err", name: e.name, message: e.message };
    if (typeof e.stack === "string") out.stack = e.stack;
    if ("cause" in e) out.cause = this.enc(e.cause);
    if (e instanceof AggregateError && Array.isArray(e.errors)) out.errors = this.enc(e.errors);
    const props: Record<string, unknown> = {};
    let any = false;
    for (const k of Object.keys(e)) {
      if (k === "name" || k === "message" || k === "stack" || k === "cause" || k === "errors") {
        continue;
      }
      props[k] = this.enc((e as unknown as Record<string, unknown>)[k]);
      any = true;
    }
    if (any) out.props = props;
    return out;
  }
}

const textEncoder = new TextEncoder();

function headFrame(head: Record<string, unknown>): Uint8Array {
  let json: string;
  try {
    json = JSON.stringify(head);
  } catch (e) {
    throw new SerializationError(`cannot serialize: ${(e as Error).message}`, { cause: e });
  }
  const n = json.length;
  if (n <= SMALL_HEAD) {
    // Small heads are carved from a shared slab: allocating an ArrayBuffer per message costs
    // more than the whole encoding (Node's Buffer pool does the same).
    if (slabUsed + 7 + 3 * n > slab.length) {
      slab = new Uint8Array(SLAB_SIZE);
      slabUsed = 0;
    }
    const start = slabUsed;
    slab.set(MAGIC_BYTES, start);
    let at = start + 7;
    for (let i = 0; i < n; i++) {
      const c = json.charCodeAt(i);
      if (c > 0x7f) {
        at += textEncoder.encodeInto(json.slice(i), slab.subarray(at, start + 7 + 3 * n)).written;
        break;
      }
      slab[at++] = c;
    }
    slabUsed = (at + 7) & ~7;
    return slab.subarray(start, at);
  }
  const body = textEncoder.encode(json);
  const out = new Uint8Array(MAGIC_BYTES.length + body.length);
  out.set(MAGIC_BYTES);
  out.set(body, MAGIC_BYTES.length);
  return out;
}

const SMALL_HEAD = 1024;
const SLAB_SIZE = 64 * 1024;
let slab = new Uint8Array(SLAB_SIZE);
let slabUsed = 0;

/**
 * Serialize one value (an apply result, a pushed value…) to ipp-js frames: a head frame,
 * then one frame per binary buffer, each a view over the caller's memory (no copy).
 *
 * @param value Any supported value (see the module doc).
 * @returns `[head, ...buffers]`. A small head is a view into a shared pool (like Node's
 *   `Buffer` pool): send or copy it, but do not transfer or detach its `.buffer`.
 * @throws {SerializationError} for symbols, promises, weak collections, cycles, native functions.
 * @example
 * ```ts
 * import { serializeObject } from "./serialize.ts";
 * const frames = serializeObject({ x: new Float64Array(4), when: new Date() });
 * frames.length; // 2: the head and the Float64Array's bytes
 * ```
 */
export function serializeObject(value: unknown): Uint8Array[] {
  const e = new Encoder();
  const v = e.enc(value);
  const head: Record<string, unknown> = e.bufs.length ? { b: e.bufs.length, v } : { v };
  return [headFrame(head), ...e.bufs];
}

/**
 * Pack a call for a JavaScript engine (ipp-js apply layout, see the module doc):
 * `[head {b, f, a, k}, ...buffers]`. The counterpart of ipyparallel's
 * `pack_apply_message`; for a Python engine use `packApplyPickle` from `./pickle.ts`.
 *
 * @param f The function (its source travels) or a {@linkcode Reference} to one on the engine.
 * @param args Positional arguments.
 * @param kwargs Keyword arguments, by name (JavaScript has no keyword arguments: how a
 *   function receives them is the engine's convention).
 * @returns The `apply_request` buffers.
 * @throws {SerializationError} when `f` is not a function or Reference, or a value cannot travel.
 * @example
 * ```ts
 * import { packApplyMessage, unpackApplyMessage } from "./serialize.ts";
 * const bufs = packApplyMessage((a: number, b: number) => a + b, [1, 2]);
 * const { f, args } = unpackApplyMessage(bufs);
 * (f as (a: number, b: number) => number)(...(args as [number, number])); // 3
 * ```
 */
export function packApplyMessage(
  f: ((...args: never[]) => unknown) | Reference,
  args: unknown[] = [],
  kwargs: Record<string, unknown> = {},
): Uint8Array[] {
  if (typeof f !== "function" && !(f instanceof Reference)) {
    throw new SerializationError("apply needs a function or a Reference");
  }
  const e = new Encoder();
  const head: Record<string, unknown> = { f: e.enc(f), a: e.array(args) };
  const keys = Object.keys(kwargs);
  if (keys.length) head.k = e.object(kwargs);
  if (e.bufs.length) head.b = e.bufs.length;
  return [headFrame(head), ...e.bufs];
}
