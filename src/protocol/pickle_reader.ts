/**
 * The unpickler: decodes pickle protocols 2–5 into JavaScript values without ever running
 * or importing Python code. The supported opcodes and the type mapping are in the doc of
 * `./pickle.ts`.
 *
 * @module
 */

import { SerializationError, UnsupportedSerialization } from "../errors.ts";
import { PyObject } from "./py_values.ts";

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const utf8 = new TextDecoder("utf-8", { fatal: true });
const latin1 = new TextDecoder("latin1");

/** Throws a `SerializationError` for malformed pickle input. */
export function bad(message: string): never {
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
 * import { loads } from "./pickle_reader.ts";
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
