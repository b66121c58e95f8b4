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

export { NDArray, PyObject, Reference } from "./py_values.ts";
export { detectFormat, MAGIC } from "./wire_format.ts";
export type { WireFormat } from "./wire_format.ts";
export { packApplyMessage, serializeObject } from "./ipp_js_encoder.ts";
export { deserializeObject, deserializeResult, unpackApplyMessage } from "./ipp_js_decoder.ts";
export type { ApplyCall, DeserializeOptions } from "./ipp_js_decoder.ts";
export {
  FunctionSource,
  functionSource,
  resolveReference,
  reviveFunction,
} from "./function_source.ts";
