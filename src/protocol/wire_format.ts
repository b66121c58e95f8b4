/**
 * What a serialized payload is: the ipp-js head-frame prefix and tag key, the binary view
 * types ipp-js carries, and telling ipp-js from a Python pickle by its first frame
 * (PROTOCOL.md §9.2). The format itself is specified in the doc of `./serialize.ts`.
 *
 * @module
 */

/** The ASCII prefix of every ipp-js head frame. */
export const MAGIC = "IPPJS1\n";
/** {@linkcode MAGIC} as bytes. */
export const MAGIC_BYTES = new TextEncoder().encode(MAGIC);
/** The key that marks a tagged value in an ipp-js head. */
export const TAG = "$ipp";

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

/** The binary view types an ipp-js `buf` tag may name (besides `ArrayBuffer`). */
export const VIEW_TYPES = new Set([
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
