/**
 * The pickler: writes JSON-like values as protocol 4, byte-identical to CPython's C pickler
 * for the same values (see the doc of `./pickle.ts` for the mapping).
 *
 * @module
 */

import { SerializationError } from "../errors.ts";
import { CANNING, PyObject, PyTuple, Reference } from "./py_values.ts";

const enc = new TextEncoder();

class Writer {
  buf = new Uint8Array(256);
  len = 0;
  dv = new DataView(this.buf.buffer);
  ensure(n: number) {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const b = new Uint8Array(size);
    b.set(this.buf.subarray(0, this.len));
    this.buf = b;
    this.dv = new DataView(b.buffer);
  }
  byte(b: number) {
    this.ensure(1);
    this.buf[this.len++] = b;
  }
  bytes(b: Uint8Array) {
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
  u32(v: number) {
    this.ensure(4);
    this.dv.setUint32(this.len, v, true);
    this.len += 4;
  }
  u64(v: number) {
    this.ensure(8);
    this.dv.setBigUint64(this.len, BigInt(v), true);
    this.len += 8;
  }
}

/** Whether an object is a plain object (pickled as a dict). */
export function isPlainObject(v: object): v is Record<string, unknown> {
  const p = Object.getPrototypeOf(v);
  return p === Object.prototype || p === null;
}

class Pickler {
  constructor(readonly w: Writer) {}
  memo = new Map<unknown, number>();
  globals = new Map<string, number>();
  nextMemo = 0;

  memoize(key: unknown) {
    this.w.byte(0x94);
    if (key !== undefined) this.memo.set(key, this.nextMemo);
    this.nextMemo++;
  }
  get(idx: number) {
    if (idx < 256) {
      this.w.byte(0x68);
      this.w.byte(idx);
    } else {
      this.w.byte(0x6a);
      this.w.u32(idx);
    }
  }
  str(s: string) {
    const n = s.length;
    if (n < 256) {
      // ASCII fast path: TextEncoder costs about a microsecond per call
      this.w.ensure(2 + n);
      const { buf } = this.w;
      let at = this.w.len + 2;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c > 0x7f) break;
        buf[at++] = c;
      }
      if (i === n) {
        buf[this.w.len] = 0x8c;
        buf[this.w.len + 1] = n;
        this.w.len = at;
        return this.memoize(undefined);
      }
    }
    const b = enc.encode(s);
    if (b.length < 256) {
      this.w.byte(0x8c);
      this.w.byte(b.length);
    } else if (b.length < 2 ** 32) {
      this.w.byte(0x58);
      this.w.u32(b.length);
    } else {
      this.w.byte(0x8d);
      this.w.u64(b.length);
    }
    this.w.bytes(b);
    this.memoize(undefined);
  }
  int(v: number | bigint) {
    if (typeof v === "number" && v >= 0 && v < 256) {
      this.w.byte(0x4b);
      this.w.byte(v);
    } else if (typeof v === "number" && v >= 0 && v < 65536) {
      this.w.byte(0x4d);
      this.w.byte(v & 0xff);
      this.w.byte(v >> 8);
    } else if (typeof v === "number" && v >= -(2 ** 31) && v < 2 ** 31) {
      this.w.byte(0x4a);
      this.w.ensure(4);
      this.w.dv.setInt32(this.w.len, v, true);
      this.w.len += 4;
    } else {
      let b = BigInt(v);
      const out: number[] = [];
      if (b !== 0n) {
        // minimal two's complement, little-endian (Python's encode_long)
        while (true) {
          out.push(Number(b & 0xffn));
          b >>= 8n;
          const sign = out[out.length - 1] & 0x80;
          if ((b === 0n && !sign) || (b === -1n && sign)) break;
        }
      }
      if (out.length < 256) {
        this.w.byte(0x8a);
        this.w.byte(out.length);
      } else {
        this.w.byte(0x8b);
        this.w.u32(out.length);
      }
      this.w.bytes(Uint8Array.from(out));
    }
  }
  float(v: number) {
    this.w.byte(0x47);
    this.w.ensure(8);
    this.w.dv.setFloat64(this.w.len, v, false);
    this.w.len += 8;
  }
  bytesObj(b: Uint8Array) {
    if (b.length < 256) {
      this.w.byte(0x43);
      this.w.byte(b.length);
    } else if (b.length < 2 ** 32) {
      this.w.byte(0x42);
      this.w.u32(b.length);
    } else {
      this.w.byte(0x8e);
      this.w.u64(b.length);
    }
    this.w.bytes(b);
    this.memoize(undefined);
  }
  items(items: unknown[], single: number, many: number) {
    for (let i = 0; i < items.length; i += 1000) {
      const batch = items.slice(i, i + 1000);
      if (batch.length === 1) {
        this.save(batch[0]);
        this.w.byte(single);
      } else {
        this.w.byte(0x28);
        for (const x of batch) this.save(x);
        this.w.byte(many);
      }
    }
  }
  dictPairs(pairs: [unknown, unknown][]) {
    for (let i = 0; i < pairs.length; i += 1000) {
      const batch = pairs.slice(i, i + 1000);
      if (batch.length === 1) {
        this.save(batch[0][0]);
        this.save(batch[0][1]);
        this.w.byte(0x73);
      } else {
        this.w.byte(0x28);
        for (const [k, v] of batch) {
          this.save(k);
          this.save(v);
        }
        this.w.byte(0x75);
      }
    }
  }
  global(module: string, name: string) {
    const key = `${module}\n${name}`;
    const seen = this.globals.get(key);
    if (seen !== undefined) return this.get(seen);
    this.str(module);
    this.str(name);
    this.w.byte(0x93);
    this.globals.set(key, this.nextMemo);
    this.memoize(undefined);
  }

  save(v: unknown): void {
    switch (typeof v) {
      case "undefined":
        return this.w.byte(0x4e);
      case "boolean":
        return this.w.byte(v ? 0x88 : 0x89);
      case "number":
        return Number.isSafeInteger(v) && !Object.is(v, -0) ? this.int(v) : this.float(v);
      case "bigint":
        return this.int(v);
      case "string":
        return this.str(v);
      case "object":
        break;
      default:
        throw new SerializationError(
          `cannot pickle a ${typeof v}` +
            (typeof v === "function"
              ? " (JavaScript functions cannot run on Python engines; use Reference(name))"
              : ""),
        );
    }
    if (v === null) return this.w.byte(0x4e);
    const seen = this.memo.get(v);
    if (seen !== undefined) return this.get(seen);
    if (v instanceof PyTuple) {
      const n = v.items.length;
      if (n === 0) return this.w.byte(0x29);
      if (n > 3) this.w.byte(0x28);
      for (const x of v.items) this.save(x);
      this.w.byte(n === 1 ? 0x85 : n === 2 ? 0x86 : n === 3 ? 0x87 : 0x74);
      return this.memoize(v);
    }
    if (Array.isArray(v)) {
      this.w.byte(0x5d);
      this.memoize(v);
      return this.items(v, 0x61, 0x65);
    }
    if (v instanceof Uint8Array) return this.bytesObj(v);
    if (v instanceof Map) {
      this.w.byte(0x7d);
      this.memoize(v);
      return this.dictPairs([...v]);
    }
    if (v instanceof Set) {
      this.w.byte(0x8f);
      this.memoize(v);
      const items = [...v];
      for (let i = 0; i < items.length; i += 1000) {
        this.w.byte(0x28);
        for (const x of items.slice(i, i + 1000)) this.save(x);
        this.w.byte(0x90);
      }
      return;
    }
    if (v instanceof Reference) {
      return this.save(new PyObject(CANNING, "Reference", [], { name: v.name, buffers: [] }));
    }
    if (v instanceof PyObject) {
      this.global(v.module, v.qualname);
      if (v.args === undefined) return;
      this.save(new PyTuple(v.args));
      this.w.byte(0x81);
      this.memoize(v);
      if (v.state !== undefined) {
        this.save(v.state);
        this.w.byte(0x62);
      }
      return;
    }
    if (isPlainObject(v)) {
      this.w.byte(0x7d);
      this.memoize(v);
      return this.dictPairs(Object.entries(v));
    }
    throw new SerializationError(
      `cannot pickle ${
        Object.prototype.toString.call(v)
      } (only JSON-like values, Uint8Array, Map, Set, Reference)`,
    );
  }
}

/**
 * Pickle a JSON-like value with protocol 4, byte-identical to CPython's `pickle.dumps` for
 * the same values (see the module doc for the type mapping).
 *
 * @param value The value to pickle.
 * @returns The pickle bytes.
 * @throws {SerializationError} for functions, symbols and objects outside the subset.
 * @example
 * ```ts
 * import { dumps } from "./pickle_writer.ts";
 * dumps(42); // Uint8Array [0x80, 0x04, 0x4b, 0x2a, 0x2e]
 * ```
 */
export function dumps(value: unknown): Uint8Array {
  // one scratch writer for all calls (dumps never re-enters itself); the result is one
  // exact-size allocation
  const w = scratch;
  w.len = 0;
  const p = new Pickler(w);
  try {
    p.save(value);
  } finally {
    if (w.buf.length > 1 << 20) scratch = new Writer();
  }
  w.byte(0x2e);
  const body = w.buf.subarray(0, w.len);
  if (body.length < 4) return Uint8Array.of(0x80, 4, ...body);
  const out = new Uint8Array(11 + body.length);
  out[0] = 0x80;
  out[1] = 4;
  out[2] = 0x95;
  new DataView(out.buffer).setBigUint64(3, BigInt(body.length), true);
  out.set(body, 11);
  return out;
}

let scratch = new Writer();
