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

export { NDArray, PyObject, Reference } from "./py_values.ts";
export { loads } from "./pickle_reader.ts";
export { dumps } from "./pickle_writer.ts";
export {
  deserializeObjectPickle,
  packApplyPickle,
  serializeObjectPickle,
  unpackApplyPickle,
} from "./canning.ts";
