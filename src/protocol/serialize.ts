/**
 * Serialization of `apply` calls and results between JavaScript clients and engines: the
 * **ipp-js** format. Python peers use pickles instead (PROTOCOL.md §9); {@linkcode detectFormat}
 * tells the two apart, and {@linkcode deserializeResult} and {@linkcode unpackApplyMessage}
 * read both (pickles through `./pickle.ts`, whose `packApplyPickle` and
 * `serializeObjectPickle` write for Python peers).
 *
 * ## Wire format `ipp-js`, version 1 (this is the spec)
 *
 * A serialized payload is one **head frame** followed by `b` **buffer frames**:
 *
 * ```
 * frame 0     : "IPPJS1\n" (7 ASCII bytes) + UTF-8 JSON head
 * frame 1..b  : raw bytes of buffer 0..b-1 (little-endian element data, no header)
 * ```
 *
 * Value head (a result, or any single object): `{"b": <buffer count>, "v": <value>}`.
 * Apply head (`apply_request` buffers): `{"b": <count>, "f": <function>, "a": [<arg>…],
 * "k": {<name>: <value>…}}`. `b` is omitted when 0; `k` when empty. Buffer indices are
 * global to the payload. A pickle starts with byte `0x80`, so the first byte (`I`, 0x49)
 * already tells the formats apart. Unknown head keys are ignored; a higher version digit
 * is refused with `UnsupportedSerialization`. Examples:
 *
 * ```
 * serializeObject({x: new Float64Array(2)})
 *   frame 0: IPPJS1\n{"b":1,"v":{"x":{"$ipp":"buf","i":0,"t":"Float64Array"}}}
 *   frame 1: 16 bytes (the array's own memory)
 * packApplyMessage((a, b) => a + b, [1, undefined], {k: 2n})
 *   frame 0: IPPJS1\n{"f":{"$ipp":"fn","src":"(a, b) => a + b","name":""},
 *            "a":[1,{"$ipp":"undef"}],"k":{"k":{"$ipp":"bigint","v":"2"}}}
 * ```
 *
 * A JavaScript engine that receives a pickle (a Python client) answers with
 * `UnsupportedSerialization` unless the function is an `ipyparallel.Reference` and the
 * arguments are JSON-like; then it should reply in pickle form (`ApplyCall.format`).
 *
 * `<value>` is JSON, where `null`, booleans, strings, finite numbers other than `-0`,
 * arrays and objects mean themselves, and an object with the key `"$ipp"` is a tag:
 *
 * | tag | JSON | JavaScript value |
 * | --- | --- | --- |
 * | `undef` | `{"$ipp":"undef"}` | `undefined` (also array holes) |
 * | `num` | `{"$ipp":"num","v":"NaN" \| "Infinity" \| "-Infinity" \| "-0"}` | the number |
 * | `bigint` | `{"$ipp":"bigint","v":"-123"}` | `bigint` (decimal text) |
 * | `date` | `{"$ipp":"date","v":<ms since epoch \| null>}` | `Date` (`null` = invalid date) |
 * | `re` | `{"$ipp":"re","src":…,"flags":…}` | `RegExp` |
 * | `map` | `{"$ipp":"map","v":[[k,v]…]}` | `Map` (keys and values are `<value>`s) |
 * | `set` | `{"$ipp":"set","v":[…]}` | `Set` |
 * | `buf` | `{"$ipp":"buf","i":<index>,"t":<type>}` | buffer `i` as `t`: `ArrayBuffer`, `DataView`, or a typed array name (`Uint8Array`, `Int8Array`, `Uint8ClampedArray`, `Int16Array`, `Uint16Array`, `Int32Array`, `Uint32Array`, `Float16Array`, `Float32Array`, `Float64Array`, `BigInt64Array`, `BigUint64Array`) |
 * | `err` | `{"$ipp":"err","name","message","stack"?,"cause"?,"errors"?,"props"?}` | an `Error` (standard subclass by name, else `Error` with that `name`) |
 * | `ref` | `{"$ipp":"ref","name":…}` | {@linkcode Reference} (the engine resolves it) |
 * | `fn` | `{"$ipp":"fn","src":…,"name":…}` | a function rebuilt from its source |
 * | `obj` | `{"$ipp":"obj","e":[[key,<value>]…]}` | a plain object that has an own `"$ipp"` key |
 *
 * Other objects (class instances) travel as their own enumerable properties (their
 * `toJSON()` result when they have one), like `structuredClone`; `Number`/`String`/
 * `Boolean` wrappers as their primitive. Symbols, `Promise`s, `Weak*` and cycles throw
 * `SerializationError`. Objects reachable twice are sent twice (no sharing).
 *
 * Binary data is never copied on the sending side: each typed array, `DataView` and
 * `ArrayBuffer` becomes a `Uint8Array` view over the same memory (so, as with Python's
 * zero-copy buffers, do not modify it until the message is sent). On the receiving side,
 * typed arrays are views over the received frame when it is aligned for the element
 * size, else copies. Little-endian hosts only (every platform Deno runs on).
 *
 * ## Functions
 *
 * Functions travel as source text (`fn.toString()`) and are rebuilt by
 * {@linkcode reviveFunction} with the `Function` constructor: function expressions and
 * declarations, arrow functions, `async` and generator functions, classes, and methods
 * written in shorthand (`foo(x) { … }`, also `async`/`*`/computed names). **Limits:** a
 * function's closure does not travel — free variables are looked up on the engine, in its
 * namespace (the `scope` option) and then the engine's globals; `this` is whatever the
 * engine calls it with; bound functions and native functions (`Math.max`) have no source
 * and throw `SerializationError` (send `new Reference("Math.max")` instead); TypeScript
 * sources are already JavaScript at run time, so that is what travels.
 *
 * @module
 */

import { SerializationError, UnsupportedSerialization } from "../errors.ts";
import {
  deserializeObjectPickle,
  NDArray,
  PyObject,
  Reference,
  unpackApplyPickle,
} from "./pickle.ts";

export { NDArray, PyObject, Reference };

/** The ASCII prefix of every ipp-js head frame. */
export const MAGIC = "IPPJS1\n";
const MAGIC_BYTES = new TextEncoder().encode(MAGIC);
const TAG = "$ipp";

/** What the first frame of a serialized payload looks like. */
export type WireFormat = "ipp-js" | "pickle" | "unknown";

/**
 * Tell an ipp-js payload from a Python pickle by its first frame (PROTOCOL.md §9.2).
 *
 * @param frame The first frame of a serialized object or apply request.
 * @returns `"ipp-js"` for `IPPJS<digit>\n…`, `"pickle"` for `0x80 <protocol 2..5>`, else `"unknown"`.
 * @example
 * ```ts
 * import { detectFormat, serializeObject } from "./serialize.ts";
 * detectFormat(serializeObject(42)[0]); // "ipp-js"
 * detectFormat(new Uint8Array([0x80, 4, 0x4b, 42, 0x2e])); // "pickle"
 * ```
 */
export function detectFormat(frame: Uint8Array | undefined): WireFormat {
  if (!frame || frame.length < 2) return "unknown";
  if (frame[0] === 0x80) return frame[1] >= 2 && frame[1] <= 5 ? "pickle" : "unknown";
  if (frame.length >= 7) {
    for (let i = 0; i < 5; i++) if (frame[i] !== MAGIC_BYTES[i]) return "unknown";
    if (frame[5] >= 0x30 && frame[5] <= 0x39 && frame[6] === 0x0a) return "ipp-js";
  }
  return "unknown";
}

// ---------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------

const tagOf = (v: object) => Object.prototype.toString.call(v).slice(8, -1);

const VIEW_TYPES = new Set([
  "Uint8Array",
  "Int8Array",
  "Uint8ClampedArray",
  "Int16Array",
  "Uint16Array",
  "Int32Array",
  "Uint32Array",
  "Float16Array",
  "Float32Array",
  "Float64Array",
  "BigInt64Array",
  "BigUint64Array",
  "DataView",
]);

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

// ---------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------

/** Options for decoding. */
export interface DeserializeOptions {
  /**
   * How to rebuild functions: `"revive"` (default) compiles the source;
   * `"source"` leaves a {@linkcode FunctionSource} (for clients that do not want to run
   * engine-sent code).
   */
  functions?: "revive" | "source";
  /** Namespace for free variables of revived functions (see {@linkcode reviveFunction}). */
  scope?: object;
  /** Resolve a {@linkcode Reference}; default leaves the Reference object in place. */
  resolveReference?: (ref: Reference) => unknown;
}

/** A function that was not compiled (`functions: "source"`). */
export class FunctionSource {
  /**
   * Keep a function's source without compiling it.
   *
   * @param source Its source text.
   * @param name Its `name`.
   */
  constructor(readonly source: string, readonly name: string) {}
}

const ERROR_TYPES: Record<string, ErrorConstructor> = {
  Error,
  TypeError,
  RangeError,
  SyntaxError,
  ReferenceError,
  EvalError,
  URIError,
};

// Not `fatal`: the fatal decoder is several times slower, and bad UTF-8 fails JSON.parse anyway.
const textDecoder = new TextDecoder();

function corrupt(message: string, cause?: unknown): never {
  throw new SerializationError(
    `Malformed ipp-js payload: ${message}`,
    cause ? { cause } : undefined,
  );
}

class Decoder {
  constructor(readonly bufs: Uint8Array[], readonly opts: DeserializeOptions) {}

  dec(v: unknown): unknown {
    if (v === null || typeof v !== "object") return v;
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const x = v[i];
        if (x !== null && typeof x === "object") v[i] = this.dec(x);
      }
      return v;
    }
    const o = v as Record<string, unknown>;
    const tag = o[TAG];
    if (tag === undefined) {
      for (const k in o) {
        const x = o[k];
        if (x !== null && typeof x === "object") o[k] = this.dec(x);
      }
      return o;
    }
    return this.tagged(String(tag), o);
  }

  tagged(tag: string, o: Record<string, unknown>): unknown {
    switch (tag) {
      case "undef":
        return undefined;
      case "num":
        switch (o.v) {
          case "NaN":
            return NaN;
          case "Infinity":
            return Infinity;
          case "-Infinity":
            return -Infinity;
          case "-0":
            return -0;
        }
        return corrupt(`bad number ${JSON.stringify(o.v)}`);
      case "bigint":
        if (typeof o.v !== "string" || !/^-?\d+$/.test(o.v)) return corrupt("bad bigint");
        return BigInt(o.v);
      case "date":
        if (o.v !== null && typeof o.v !== "number") return corrupt("bad date");
        return new Date(o.v === null ? NaN : o.v);
      case "re":
        try {
          return new RegExp(String(o.src), String(o.flags ?? ""));
        } catch (e) {
          return corrupt("bad RegExp", e);
        }
      case "map":
        return new Map(
          this.list(o.v).map((p) => {
            if (!Array.isArray(p) || p.length !== 2) corrupt("bad Map entry");
            return [this.dec(p[0]), this.dec(p[1])] as [unknown, unknown];
          }),
        );
      case "set":
        return new Set(this.list(o.v).map((x) => this.dec(x)));
      case "buf":
        return this.buffer(o.i, o.t);
      case "err":
        return this.error(o);
      case "ref": {
        if (typeof o.name !== "string") return corrupt("Reference without a name");
        const ref = new Reference(o.name);
        if (!this.opts.resolveReference) return ref;
        try {
          return this.opts.resolveReference(ref);
        } catch (e) {
          throw new Passthrough(e);
        }
      }
      case "fn": {
        if (typeof o.src !== "string") return corrupt("function without source");
        const name = typeof o.name === "string" ? o.name : "";
        if (this.opts.functions === "source") return new FunctionSource(o.src, name);
        return reviveFunction(o.src, { scope: this.opts.scope });
      }
      case "obj": {
        const out: Record<string, unknown> = {};
        for (const p of this.list(o.e)) {
          if (!Array.isArray(p) || p.length !== 2 || typeof p[0] !== "string") {
            corrupt("bad object entry");
          }
          Object.defineProperty(out, p[0], {
            value: this.dec(p[1]),
            enumerable: true,
            writable: true,
            configurable: true,
          });
        }
        return out;
      }
    }
    throw new UnsupportedSerialization(
      "ipp-js",
      `unknown ipp-js tag ${JSON.stringify(tag)} (newer sender?)`,
    );
  }

  list(v: unknown): unknown[] {
    return Array.isArray(v) ? v : corrupt("expected a list");
  }

  buffer(i: unknown, t: unknown): unknown {
    if (typeof i !== "number" || !Number.isInteger(i) || i < 0 || i >= this.bufs.length) {
      return corrupt(
        `buffer index ${JSON.stringify(i)} out of range (${this.bufs.length} buffers)`,
      );
    }
    const frame = this.bufs[i];
    if (t === "Uint8Array") return frame;
    if (t === "ArrayBuffer") {
      return frame.byteOffset === 0 && frame.byteLength === frame.buffer.byteLength
        ? frame.buffer
        : frame.slice().buffer;
    }
    if (t === "DataView") return new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
    if (typeof t !== "string" || !VIEW_TYPES.has(t)) {
      return corrupt(`unknown buffer type ${JSON.stringify(t)}`);
    }
    const ctor = (globalThis as unknown as Record<string, unknown>)[t] as
      | (new (b: ArrayBufferLike, o: number, n: number) => ArrayBufferView) & {
        BYTES_PER_ELEMENT: number;
      }
      | undefined;
    if (!ctor) {
      throw new UnsupportedSerialization("ipp-js", `${t} is not available in this runtime`);
    }
    const size = ctor.BYTES_PER_ELEMENT;
    if (frame.byteLength % size) return corrupt(`${t} buffer of ${frame.byteLength} bytes`);
    const f = frame.byteOffset % size ? frame.slice() : frame;
    return new ctor(f.buffer, f.byteOffset, f.byteLength / size);
  }

  error(o: Record<string, unknown>): Error {
    const name = typeof o.name === "string" ? o.name : "Error";
    const message = typeof o.message === "string" ? o.message : "";
    const options = "cause" in o ? { cause: this.dec(o.cause) } : undefined;
    let e: Error;
    if (name === "AggregateError" || o.errors !== undefined) {
      const errors = o.errors === undefined ? [] : this.dec(o.errors);
      e = new AggregateError(Array.isArray(errors) ? errors : [], message, options);
    } else e = new (ERROR_TYPES[name] ?? Error)(message, options);
    if (e.name !== name) {
      Object.defineProperty(e, "name", {
        value: name,
        writable: true,
        configurable: true,
        enumerable: false,
      });
    }
    Object.defineProperty(e, "stack", {
      value: typeof o.stack === "string" ? o.stack : `${name}: ${message}`,
      writable: true,
      configurable: true,
      enumerable: false,
    });
    if (o.props && typeof o.props === "object") {
      for (const [k, x] of Object.entries(o.props)) {
        if (k !== "__proto__") (e as unknown as Record<string, unknown>)[k] = this.dec(x);
      }
    }
    return e;
  }
}

function readHead(frames: Uint8Array[]): Record<string, unknown> {
  const first = frames[0];
  const format = detectFormat(first);
  if (format === "pickle") {
    throw new UnsupportedSerialization(
      "pickle",
      "this engine cannot unpickle pickle apply buffers (a Python pickle reached a JavaScript peer)",
    );
  }
  if (format !== "ipp-js") {
    throw new UnsupportedSerialization("unknown", "payload is neither ipp-js nor a pickle");
  }
  if (first[5] !== MAGIC_BYTES[5]) {
    throw new UnsupportedSerialization(
      "ipp-js",
      `ipp-js version ${String.fromCharCode(first[5])} not supported (this is 1)`,
    );
  }
  let head: unknown;
  try {
    head = JSON.parse(textDecoder.decode(first.subarray(MAGIC_BYTES.length)));
  } catch (e) {
    return corrupt("head is not UTF-8 JSON", e);
  }
  if (head === null || typeof head !== "object" || Array.isArray(head)) {
    return corrupt("head is not an object");
  }
  const h = head as Record<string, unknown>;
  const b = h.b ?? 0;
  if (typeof b !== "number" || !Number.isInteger(b) || b < 0 || b > frames.length - 1) {
    return corrupt(
      `head announces ${JSON.stringify(h.b)} buffers, ${frames.length - 1} frames follow`,
    );
  }
  return h;
}

/** Carries an error from a caller's callback through {@linkcode guard} untouched. */
class Passthrough {
  constructor(readonly error: unknown) {}
}

function guard<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof Passthrough) throw e.error;
    if (e instanceof SerializationError) throw e;
    throw new SerializationError(`Malformed ipp-js payload: ${(e as Error)?.message ?? e}`, {
      cause: e,
    });
  }
}

/**
 * Read one ipp-js value from `frames` (the inverse of {@linkcode serializeObject}).
 *
 * @param frames `[head, ...buffers, ...more]`.
 * @param options Function and Reference handling.
 * @returns The value and the frames after it (`rest`), like Python's `deserialize_object`.
 * @throws {UnsupportedSerialization} when the frames are a pickle or not ipp-js.
 * @throws {SerializationError} when they are malformed.
 */
export function deserializeObject(
  frames: Uint8Array[],
  options: DeserializeOptions = {},
): [unknown, Uint8Array[]] {
  return guard(() => {
    const h = readHead(frames);
    if (!("v" in h)) corrupt('value head without "v"');
    const b = (h.b ?? 0) as number;
    const value = new Decoder(frames.slice(1, 1 + b), options).dec(h.v);
    return [value, frames.slice(1 + b)];
  });
}

/** A decoded `apply_request`. */
export interface ApplyCall {
  /** Which format the request came in (a reply should use the same). */
  format: "ipp-js" | "pickle";
  /** The function, or a Reference the engine must resolve. */
  f: ((...args: unknown[]) => unknown) | Reference | FunctionSource;
  /** Positional arguments. */
  args: unknown[];
  /** Keyword arguments. */
  kwargs: Record<string, unknown>;
}

/**
 * Read `apply_request` buffers: ipp-js (from a JavaScript client), or a pickle from a Python
 * client whose function is an `ipyparallel.Reference` and whose arguments are JSON-like.
 * A pickled Python function gets `UnsupportedSerialization` (PROTOCOL.md §9.2).
 *
 * @param frames The request's buffers.
 * @param options Function and Reference handling (`resolveReference` is applied to `f`
 *   only by the caller: `f` is returned as a Reference so the engine can report the name).
 * @returns The call.
 * @throws {UnsupportedSerialization} for Python callables or unknown formats.
 * @throws {SerializationError} for malformed buffers.
 */
export function unpackApplyMessage(
  frames: Uint8Array[],
  options: DeserializeOptions = {},
): ApplyCall {
  if (detectFormat(frames[0]) === "pickle") {
    return guard(() => ({ format: "pickle" as const, ...unpackApplyPickle(frames) }));
  }
  return guard(() => {
    const h = readHead(frames);
    const b = (h.b ?? 0) as number;
    if (frames.length !== 1 + b) corrupt(`${frames.length - 1 - b} unexpected extra frames`);
    if (!("f" in h) || !Array.isArray(h.a)) corrupt('apply head without "f" and "a"');
    const d = new Decoder(frames.slice(1), { ...options, resolveReference: undefined });
    const f = d.dec(h.f);
    if (typeof f !== "function" && !(f instanceof Reference) && !(f instanceof FunctionSource)) {
      corrupt('apply "f" is not a function or Reference');
    }
    const withRefs = new Decoder(frames.slice(1), options);
    const args = withRefs.dec(h.a) as unknown[];
    const k = h.k ?? {};
    if (k === null || typeof k !== "object" || Array.isArray(k)) {
      corrupt('apply "k" is not an object');
    }
    const kwargs = withRefs.dec(k) as Record<string, unknown>;
    return { format: "ipp-js" as const, f: f as ApplyCall["f"], args, kwargs };
  });
}

/**
 * Read a result from any engine: ipp-js from a JavaScript engine, or `serialize_object`
 * pickle frames from a Python engine (JSON-like values, bytes, numpy arrays as `NDArray`;
 * anything else as an inert `PyObject`).
 *
 * @param frames The `apply_reply` buffers.
 * @param options Function and Reference handling (ipp-js only).
 * @returns The value.
 * @throws {UnsupportedSerialization} when the format is unknown or the pickle uses
 *   unsupported opcodes.
 * @throws {SerializationError} when malformed.
 */
export function deserializeResult(frames: Uint8Array[], options: DeserializeOptions = {}): unknown {
  if (detectFormat(frames[0]) === "pickle") return guard(() => deserializeObjectPickle(frames)[0]);
  return deserializeObject(frames, options)[0];
}

// ---------------------------------------------------------------------------
// Functions by source
// ---------------------------------------------------------------------------

/**
 * The source text of a function, checked to be rebuildable elsewhere.
 *
 * @param fn The function.
 * @returns `fn.toString()`.
 * @throws {SerializationError} for native and bound functions (no source).
 */
export function functionSource(fn: (...args: never[]) => unknown): string {
  const src = Function.prototype.toString.call(fn);
  if (/\{\s*\[native code\]\s*\}\s*$/.test(src)) {
    throw new SerializationError(
      `function ${fn.name || "(anonymous)"} has no source (native or bound); ` +
        `send new Reference(${JSON.stringify(fn.name || "name")}) to use the engine's own`,
    );
  }
  return src;
}

const factories = new Map<string, (scope: object) => unknown>();
const MAX_CACHED = 512;
const EMPTY_SCOPE = Object.freeze(Object.create(null));

/**
 * Rebuild a function from its source text (as sent by {@linkcode functionSource}).
 * Compiled factories are cached by source, so a function sent with every task of a `map`
 * is compiled once. Runs as sloppy-mode code inside `with (scope)`, so free variables of
 * the function resolve in `scope` first (the engine namespace, like Python's globals),
 * then in the global scope. Write `"use strict"` in the body to opt into strict mode.
 *
 * @param source Function source: expression, declaration, arrow, class, or method shorthand.
 * @param options `scope`: the namespace object for free variables.
 * @returns The function.
 * @throws {SerializationError} when the source is not a function in any accepted form.
 * @example
 * ```ts
 * import { reviveFunction } from "./serialize.ts";
 * const f = reviveFunction("double(x) { return x * k; }", { scope: { k: 2 } }) as (x: number) => number;
 * f(21); // 42
 * ```
 */
export function reviveFunction(
  source: string,
  options: { scope?: object } = {},
): (...args: unknown[]) => unknown {
  let factory = factories.get(source);
  if (!factory) {
    factory = compile(source);
    if (factories.size >= MAX_CACHED) factories.delete(factories.keys().next().value!);
    factories.set(source, factory);
  }
  const fn = factory(options.scope ?? EMPTY_SCOPE);
  if (typeof fn !== "function") {
    throw new SerializationError("source does not evaluate to a function");
  }
  return fn as (...args: unknown[]) => unknown;
}

function compile(source: string): (scope: object) => unknown {
  const attempts = [
    // expressions, declarations (as named expressions), arrows, classes
    `with (__ipp_scope__) { return (${source}\n); }`,
    // method shorthand: `foo(x) {}`, `async foo() {}`, `*gen() {}`, `[computed]() {}`
    `with (__ipp_scope__) { const __o = {${source}\n}; return __o[Reflect.ownKeys(__o)[0]]; }`,
  ];
  let first: unknown;
  for (const body of attempts) {
    try {
      return new Function("__ipp_scope__", body) as (scope: object) => unknown;
    } catch (e) {
      first ??= e;
    }
  }
  throw new SerializationError(
    `cannot rebuild function from source: ${(first as Error).message}: ${source.slice(0, 80)}`,
    { cause: first },
  );
}

/**
 * Resolve a {@linkcode Reference} in a namespace: the first dotted segment in `namespace`
 * (then `globalThis`), the rest as properties (`"Math.max"`, `"ns.helpers.f"`).
 *
 * @param ref The reference.
 * @param namespace The engine namespace.
 * @returns The value.
 * @throws {ReferenceError} when a segment is missing (reported to the client as a remote error).
 */
export function resolveReference(ref: Reference, namespace: object = {}): unknown {
  const [head, ...rest] = ref.name.split(".");
  const ns = namespace as Record<string, unknown>;
  let v: unknown;
  if (head in ns) v = ns[head];
  else if (head in globalThis) v = (globalThis as Record<string, unknown>)[head];
  else throw new ReferenceError(`${head} is not defined`);
  for (const k of rest) {
    if (v === null || v === undefined || !(k in Object(v))) {
      throw new ReferenceError(`${ref.name} is not defined`);
    }
    v = (v as Record<string, unknown>)[k];
  }
  return v;
}
