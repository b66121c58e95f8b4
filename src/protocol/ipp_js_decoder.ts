/**
 * Reading ipp-js payloads, and results and `apply` calls in either format (ipp-js, or a
 * pickle from a Python peer). The format is specified in the doc of `./serialize.ts`.
 *
 * @module
 */

import { SerializationError, UnsupportedSerialization } from "../errors.ts";
import { deserializeObjectPickle, unpackApplyPickle } from "./canning.ts";
import { FunctionSource, reviveFunction } from "./function_source.ts";
import { Reference } from "./py_values.ts";
import { detectFormat, MAGIC_BYTES, TAG, VIEW_TYPES } from "./wire_format.ts";

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
