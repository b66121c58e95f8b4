/**
 * A small, safe Python pickle codec for the JSON-like subset, plus ipyparallel's "canning"
 * layer, so a TypeScript client can drive Python engines and read their results
 * (PROTOCOL.md §9.3, §9.4). Nothing here ever runs or imports Python code: classes named
 * in a pickle become inert {@linkcode PyObject} placeholders.
 *
 * Decoding (`loads`) understands protocols 2 to 5: PROTO, FRAME, STOP, MARK, POP, POP_MARK,
 * DUP, MEMOIZE, BINPUT/LONG_BINPUT, BINGET/LONG_BINGET, NONE, NEWTRUE/NEWFALSE,
 * BININT/BININT1/BININT2, LONG1/LONG4, BINFLOAT, SHORT_BINUNICODE/BINUNICODE/BINUNICODE8,
 * SHORT_BINBYTES/BINBYTES/BINBYTES8, BYTEARRAY8, EMPTY_LIST/APPEND/APPENDS,
 * EMPTY_TUPLE/TUPLE1-3/TUPLE, EMPTY_DICT/SETITEM/SETITEMS, EMPTY_SET/ADDITEMS/FROZENSET,
 * GLOBAL/STACK_GLOBAL, NEWOBJ/NEWOBJ_EX, REDUCE, BUILD. Mapping to JavaScript:
 *
 * | Python | JavaScript |
 * | --- | --- |
 * | `None` | `null` |
 * | `bool`, `float` | `boolean`, `number` |
 * | `int` | `number` when safe (±2^53), else `bigint` |
 * | `str` | `string` |
 * | `bytes`, `bytearray` | `Uint8Array` |
 * | `list`, `tuple` | `Array` |
 * | `dict` | plain object when every key is a `str`, else `Map` |
 * | `set`, `frozenset` | `Set` |
 * | `_codecs.encode(s, "latin1")` (protocol 2 bytes) | `Uint8Array` |
 * | `builtins.set/frozenset/bytearray(...)` | `Set` / `Uint8Array` |
 * | any other class or reduce call | {@linkcode PyObject} |
 *
 * Other opcodes (protocol 0/1 text opcodes, PERSID, EXT*, out-of-band buffers) raise
 * {@linkcode UnsupportedSerialization}; truncated or malformed input raises
 * {@linkcode SerializationError}.
 *
 * Encoding (`dumps`) writes protocol 4 exactly as CPython's C pickler does for the same
 * JSON-like values (PROTO 4; one FRAME when the body is at least 4 bytes; MEMOIZE after
 * str, bytes, list, dict, set, tuple, class and object; APPEND/SETITEM for one item,
 * MARK…APPENDS/SETITEMS in batches of 1000 otherwise). JavaScript numbers that are safe
 * integers become `int`, others `float` (so `2.0` arrives as `2`); `bigint` → `int`;
 * `null`/`undefined` → `None`; `Uint8Array` → `bytes`; `Array` → `list`; `Map` and plain
 * objects → `dict`; `Set` → `set`; {@linkcode PyObject} → `cls.__new__` + `BUILD(state)`.
 *
 * The canning layer mirrors `ipyparallel.serialize` (`serialize_object`,
 * `pack_apply_message` and their inverses): see {@linkcode serializeObjectPickle} and
 * {@linkcode packApplyPickle}.
 *
 * @module
 */

import { SerializationError, UnsupportedSerialization } from "../errors.ts";

/** A value that stands for "the value of this name in the engine namespace". */
export class Reference {
  /** The name (Python engines evaluate it as an expression in the user namespace). */
  readonly name: string;
  /**
   * Name a value in the engine namespace.
   *
   * @param name A name or dotted path resolvable in the engine namespace.
   * @throws {TypeError} when `name` is not a string.
   */
  constructor(name: string) {
    if (typeof name !== "string") throw new TypeError(`illegal name: ${String(name)}`);
    this.name = name;
  }
  /**
   * Readable form.
   *
   * @returns `Reference("name")`.
   */
  toString(): string {
    return `Reference(${JSON.stringify(this.name)})`;
  }
}

/**
 * An inert stand-in for a Python object the codec cannot map to a JavaScript value: a class
 * instance (`NEWOBJ` + `BUILD`), a reduce call (`REDUCE`) or a bare class (`GLOBAL`).
 */
export class PyObject {
  /** Module of the class or callable, e.g. `"numpy.core.multiarray"`. */
  readonly module: string;
  /** Qualified name of the class or callable. */
  readonly qualname: string;
  /** Constructor / reduce arguments; `undefined` for a bare class reference. */
  args: unknown[] | undefined;
  /** State given by `BUILD` (usually the instance `__dict__`), if any. */
  state: unknown;
  /**
   * Describe a Python object by its class and state.
   *
   * @param module Module name.
   * @param qualname Qualified class name.
   * @param args Constructor arguments.
   * @param state Instance state.
   */
  constructor(module: string, qualname: string, args?: unknown[], state?: unknown) {
    this.module = module;
    this.qualname = qualname;
    this.args = args;
    this.state = state;
  }
}

/** A numpy array decoded from an ipyparallel `CannedArray`. */
export class NDArray {
  /** Array shape, e.g. `[2, 3]`. */
  readonly shape: number[];
  /** numpy dtype string, e.g. `"<f8"`. */
  readonly dtype: string;
  /** The elements in C order: a typed array matching `dtype`, else the raw bytes. */
  readonly data: ArrayBufferView;
  /**
   * Wrap decoded array data.
   *
   * @param shape Array shape.
   * @param dtype numpy dtype string (`"<f8"`, `"<i4"`, `"|u1"`, …).
   * @param data The elements.
   */
  constructor(shape: number[], dtype: string, data: ArrayBufferView) {
    this.shape = shape;
    this.dtype = dtype;
    this.data = data;
  }
}

// ---------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const utf8 = new TextDecoder("utf-8", { fatal: true });
const latin1 = new TextDecoder("latin1");

function bad(message: string): never {
  throw new SerializationError(`Malformed pickle: ${message}`);
}

function intFromBig(v: bigint): number | bigint {
  return v <= MAX_SAFE && v >= -MAX_SAFE ? Number(v) : v;
}

function decodeLong(b: Uint8Array): number | bigint {
  if (b.length === 0) return 0;
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
  if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
  return intFromBig(v);
}

function makeDict(pairs: [unknown, unknown][]): unknown {
  if (pairs.every(([k]) => typeof k === "string")) {
    const o: Record<string, unknown> = {};
    for (const [k, v] of pairs) {
      if (k === "__proto__") {
        Object.defineProperty(o, k, {
          value: v,
          enumerable: true,
          writable: true,
          configurable: true,
        });
      } else o[k as string] = v;
    }
    return o;
  }
  return new Map(pairs);
}

/** A dict under construction: keeps pairs until it is finished (keys may not be strings). */
class DictBuilder {
  pairs: [unknown, unknown][] = [];
  done: unknown;
  doneAt = -1;
}

function finish(v: unknown): unknown {
  if (!(v instanceof DictBuilder)) return v;
  // cached so a memoized dict read twice stays one object
  if (v.doneAt !== v.pairs.length) {
    v.done = makeDict(v.pairs);
    v.doneAt = v.pairs.length;
  }
  return v.done;
}

const BUILTIN_TYPES = new Set(["builtins", "__builtin__", "_codecs", "copy_reg", "copyreg"]);

/**
 * Decode one pickle (protocols 2–5) into JavaScript values. See the module doc for the
 * supported opcodes and the type mapping.
 *
 * @param data The pickle bytes.
 * @returns The decoded value.
 * @throws {SerializationError} on truncated or malformed input.
 * @throws {UnsupportedSerialization} on opcodes outside the supported subset.
 * @example
 * ```ts
 * import { loads } from "./pickle.ts";
 * loads(new Uint8Array([0x80, 0x04, 0x4b, 0x2a, 0x2e])); // 42
 * ```
 */
export function loads(data: Uint8Array): unknown {
  if (!(data instanceof Uint8Array)) {
    throw new SerializationError("pickle data must be a Uint8Array");
  }
  try {
    return load(data);
  } catch (e) {
    if (e instanceof SerializationError) throw e;
    throw new SerializationError(`Malformed pickle: ${(e as Error)?.message ?? e}`, { cause: e });
  }
}

function load(data: Uint8Array): unknown {
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let pos = 0;
  const stack: unknown[] = [];
  const marks: number[] = [];
  const memo: unknown[] = [];
  const objectItems = new WeakMap<PyObject, DictBuilder>();
  // Containers are built in place; dicts finish into objects/Maps when popped at STOP or
  // read by another opcode, so every memo entry shares identity with the stack item.
  const need = (n: number) => {
    if (pos + n > data.length) bad(`truncated at byte ${pos}`);
  };
  const u8 = () => (need(1), data[pos++]);
  const u16 = () => (need(2), pos += 2, dv.getUint16(pos - 2, true));
  const u32 = () => (need(4), pos += 4, dv.getUint32(pos - 4, true));
  const u64 = () => {
    need(8);
    const v = dv.getBigUint64(pos, true);
    pos += 8;
    if (v > BigInt(data.length)) bad("length beyond end of data");
    return Number(v);
  };
  const bytes = (n: number) => {
    need(n);
    pos += n;
    return data.subarray(pos - n, pos);
  };
  const pop = () => {
    if (stack.length === 0 || (marks.length && stack.length <= marks[marks.length - 1])) {
      bad("stack underflow");
    }
    return stack.pop();
  };
  const top = () => {
    if (stack.length === 0) bad("stack underflow");
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const m = marks.pop();
    if (m === undefined) bad("no MARK");
    return stack.splice(m).map(finish);
  };
  const str = (n: number) => {
    try {
      return utf8.decode(bytes(n));
    } catch (e) {
      if (e instanceof SerializationError) throw e;
      bad("invalid UTF-8 in string");
    }
  };
  const memoGet = (i: number) => {
    if (i >= memo.length || !(i in memo)) bad(`memo key ${i} missing`);
    return memo[i];
  };
  const setItems = (target: unknown, items: unknown[]) => {
    if (items.length % 2) bad("odd number of SETITEMS items");
    if (target instanceof DictBuilder) {
      for (let i = 0; i < items.length; i += 2) target.pairs.push([items[i], items[i + 1]]);
    } else if (target instanceof PyObject) {
      // e.g. OrderedDict/defaultdict built by REDUCE then SETITEMS: the items become its state
      let st = objectItems.get(target);
      if (!st) objectItems.set(target, st = new DictBuilder());
      for (let i = 0; i < items.length; i += 2) st.pairs.push([items[i], items[i + 1]]);
      target.state = finish(st);
    } else bad("SETITEM(S) target is not a dict");
  };
  const appendItems = (target: unknown, items: unknown[]) => {
    if (Array.isArray(target)) target.push(...items);
    else if (target instanceof PyObject) {
      target.state = [...(Array.isArray(target.state) ? target.state : []), ...items];
    } else bad("APPEND(S) target is not a list");
  };
  const global = (module: string, name: string): unknown => new PyObject(module, name);
  const call = (fn: unknown, args: unknown[]): unknown => {
    if (!(fn instanceof PyObject) || fn.args !== undefined) bad("REDUCE/NEWOBJ on a non-class");
    const f = fn as PyObject;
    if (BUILTIN_TYPES.has(f.module)) {
      if ((f.qualname === "set" || f.qualname === "frozenset") && args.length <= 1) {
        return new Set(args.length ? (args[0] as Iterable<unknown>) : []);
      }
      if (f.qualname === "bytearray" || f.qualname === "bytes") {
        if (args.length === 0) return new Uint8Array(0);
        if (args[0] instanceof Uint8Array) return args[0].slice();
        if (Array.isArray(args[0])) return Uint8Array.from(args[0] as number[]);
        if (typeof args[0] === "string" && args[1] === "latin1") {
          return Uint8Array.from(args[0] as string, (c) => c.charCodeAt(0));
        }
      }
      if (f.qualname === "encode" && typeof args[0] === "string" && args[1] === "latin1") {
        return latin1Bytes(args[0]);
      }
    }
    return new PyObject(f.module, f.qualname, args.map(finish));
  };

  while (true) {
    const op = u8();
    switch (op) {
      case 0x80: { // PROTO
        const p = u8();
        if (p < 2 || p > 5) {
          throw new UnsupportedSerialization("pickle", `pickle protocol ${p} not supported`);
        }
        break;
      }
      case 0x95: // FRAME: frames are only a read-ahead hint
        u64();
        break;
      case 0x2e: { // STOP
        if (stack.length !== 1 || marks.length) bad("STOP with a stack that is not one item");
        return finish(stack.pop());
      }
      case 0x28: // MARK
        marks.push(stack.length);
        break;
      case 0x30: // POP
        pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      case 0x94: // MEMOIZE
        memo.push(top());
        break;
      case 0x71: // BINPUT
        memo[u8()] = top();
        break;
      case 0x72: // LONG_BINPUT
        memo[u32()] = top();
        break;
      case 0x68: // BINGET
        stack.push(memoGet(u8()));
        break;
      case 0x6a: // LONG_BINGET
        stack.push(memoGet(u32()));
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4a: // BININT
        need(4);
        stack.push(dv.getInt32(pos, true));
        pos += 4;
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x8a: // LONG1
        stack.push(decodeLong(bytes(u8())));
        break;
      case 0x8b: // LONG4
        stack.push(decodeLong(bytes(u32())));
        break;
      case 0x47: // BINFLOAT (big-endian)
        need(8);
        stack.push(dv.getFloat64(pos, false));
        pos += 8;
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(str(u8()));
        break;
      case 0x58: // BINUNICODE
        stack.push(str(u32()));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(str(u64()));
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(bytes(u8()).slice());
        break;
      case 0x42: // BINBYTES
        stack.push(bytes(u32()).slice());
        break;
      case 0x8e: // BINBYTES8
      case 0x96: // BYTEARRAY8
        stack.push(bytes(u64()).slice());
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x61: { // APPEND
        const v = finish(pop());
        appendItems(top(), [v]);
        break;
      }
      case 0x65: { // APPENDS
        const items = popMark();
        appendItems(top(), items);
        break;
      }
      case 0x29: // EMPTY_TUPLE
        stack.push([]);
        break;
      case 0x85: // TUPLE1
        stack.push([finish(pop())]);
        break;
      case 0x86: { // TUPLE2
        const b = finish(pop());
        stack.push([finish(pop()), b]);
        break;
      }
      case 0x87: { // TUPLE3
        const c = finish(pop());
        const b = finish(pop());
        stack.push([finish(pop()), b, c]);
        break;
      }
      case 0x74: // TUPLE
        stack.push(popMark());
        break;
      case 0x7d: // EMPTY_DICT
        stack.push(new DictBuilder());
        break;
      case 0x73: { // SETITEM
        const v = finish(pop());
        const k = finish(pop());
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: { // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x8f: // EMPTY_SET
        stack.push(new Set());
        break;
      case 0x90: { // ADDITEMS
        const items = popMark();
        const s = top();
        if (!(s instanceof Set)) bad("ADDITEMS target is not a set");
        for (const i of items) (s as Set<unknown>).add(i);
        break;
      }
      case 0x91: // FROZENSET
        stack.push(new Set(popMark()));
        break;
      case 0x63: { // GLOBAL "module\nname\n"
        const readLine = () => {
          const end = data.indexOf(0x0a, pos);
          if (end < 0) bad("unterminated GLOBAL");
          const s = latin1.decode(data.subarray(pos, end));
          pos = end + 1;
          return s;
        };
        const module = readLine();
        stack.push(global(module, readLine()));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof name !== "string" || typeof module !== "string") {
          bad("STACK_GLOBAL needs two str");
        }
        stack.push(global(module as string, name as string));
        break;
      }
      case 0x81: { // NEWOBJ
        const args = finish(pop());
        const cls = pop();
        if (!Array.isArray(args)) bad("NEWOBJ args are not a tuple");
        stack.push(call(cls, args as unknown[]));
        break;
      }
      case 0x92: { // NEWOBJ_EX
        pop(); // kwargs
        const args = finish(pop());
        const cls = pop();
        if (!Array.isArray(args)) bad("NEWOBJ_EX args are not a tuple");
        stack.push(call(cls, args as unknown[]));
        break;
      }
      case 0x52: { // REDUCE
        const args = finish(pop());
        const fn = pop();
        if (!Array.isArray(args)) bad("REDUCE args are not a tuple");
        stack.push(call(fn, args as unknown[]));
        break;
      }
      case 0x62: { // BUILD
        const state = finish(pop());
        const obj = top();
        if (!(obj instanceof PyObject)) bad("BUILD target is not an object");
        (obj as PyObject).state = state;
        break;
      }
      default: {
        const known = UNSUPPORTED.get(op);
        if (known) {
          throw new UnsupportedSerialization(
            "pickle",
            `pickle opcode ${known} (0x${op.toString(16)}) is outside the supported subset`,
          );
        }
        bad(`unknown opcode 0x${op.toString(16).padStart(2, "0")} at byte ${pos - 1}`);
      }
    }
  }
}

const UNSUPPORTED = new Map<number, string>([
  [0x50, "PERSID"],
  [0x51, "BINPERSID"],
  [0x82, "EXT1"],
  [0x83, "EXT2"],
  [0x84, "EXT4"],
  [0x97, "NEXT_BUFFER"],
  [0x98, "READONLY_BUFFER"],
  [0x49, "INT"],
  [0x4c, "LONG"],
  [0x46, "FLOAT"],
  [0x53, "STRING"],
  [0x54, "BINSTRING"],
  [0x55, "SHORT_BINSTRING"],
  [0x56, "UNICODE"],
  [0x6c, "LIST"],
  [0x64, "DICT"],
  [0x69, "INST"],
  [0x6f, "OBJ"],
  [0x70, "PUT"],
  [0x67, "GET"],
]);

function latin1Bytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 255) bad("latin1 bytes string has a code point above 255");
    out[i] = c;
  }
  return out;
}

// ---------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------

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

function isPlainObject(v: object): v is Record<string, unknown> {
  const p = Object.getPrototypeOf(v);
  return p === Object.prototype || p === null;
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

/** A Python tuple for the pickler (JS arrays pickle as lists). */
class PyTuple {
  constructor(readonly items: unknown[]) {}
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
 * import { dumps } from "./pickle.ts";
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

// ---------------------------------------------------------------------------
// ipyparallel canning (ipyparallel/serialize/serialize.py, canning.py)
// ---------------------------------------------------------------------------

const CANNING = "ipyparallel.serialize.canning";
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
