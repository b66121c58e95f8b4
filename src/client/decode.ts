/**
 * The client's result decoder (PROTOCOL.md §9.4): `apply_reply` and `data_message` buffers from
 * JavaScript engines (ipp-js) or Python engines (`serialize_object` pickles, read by the safe
 * unpickler of `src/protocol/pickle.ts`).
 *
 * @module
 */

import { deserializeObjectPickle } from "../protocol/pickle.ts";
import { deserializeObject, detectFormat } from "../protocol/serialize.ts";

/**
 * Reads one value from the front of `buffers`, in whichever format they are.
 *
 * @param buffers Result buffers.
 * @returns The value and the buffers after it; `undefined` and `[]` for no buffers.
 * @throws {UnsupportedSerialization} Unknown format or unsupported pickle.
 * @throws {SerializationError} Malformed buffers.
 * @example
 * ```ts
 * import { decodeResult } from "./decode.ts";
 * decodeResult([new Uint8Array([0x80, 4, 0x4b, 42, 0x2e])]).value; // 42
 * ```
 */
export function decodeResult(buffers: Uint8Array[]): { value: unknown; rest: Uint8Array[] } {
  if (buffers.length === 0) return { value: undefined, rest: [] };
  const [value, rest] = detectFormat(buffers[0]) === "pickle"
    ? deserializeObjectPickle(buffers)
    : deserializeObject(buffers);
  return { value, rest };
}
