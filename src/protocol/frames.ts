/**
 * Multipart frame encoding shared by {@linkcode Session} (PROTOCOL.md §1.1): the
 * `<IDS|MSG>` delimiter, splitting routing identities from the message, and turning JSON
 * parts, identities and buffers into frames.
 *
 * @module
 */

import { MessageFormatError, SerializationError } from "../errors.ts";
import type { JsonObject } from "./messages.ts";

/** The delimiter frame between routing identities and the message (PROTOCOL.md §1.1). */
export const DELIMITER = "<IDS|MSG>";

const encoder = new TextEncoder();
const DELIM_BYTES = encoder.encode(DELIMITER);
const strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const lenient = new TextDecoder("utf-8", { ignoreBOM: true });

/**
 * Decodes UTF-8, throwing on invalid bytes as a `fatal` decoder does, at a lenient decoder's
 * cost: Deno's fatal decoder takes a slower path (~540 against ~150 ns for a 200–300-byte
 * header). Invalid bytes always decode to U+FFFD, so only a text with one is decoded again,
 * strictly (a genuine U+FFFD then passes, and invalid bytes throw).
 */
function decodeStrict(frame: Uint8Array): string {
  const text = lenient.decode(frame);
  return text.indexOf("\uFFFD") === -1 ? text : strict.decode(frame);
}

// Small frames are carved out of a shared slab: allocating one ArrayBuffer per frame costs
// about 2 µs each on Deno 2.9, a subarray of a slab about 0.1 µs. Frames therefore may share
// an ArrayBuffer; they are never written again once returned.
const SLAB_SIZE = 16 * 1024;
let slab = new Uint8Array(SLAB_SIZE);
let slabOffset = 0;

/** Where `n` more bytes fit in the shared slab (a fresh slab when they do not). */
function reserve(n: number): number {
  if (slabOffset + n > SLAB_SIZE) {
    slab = new Uint8Array(SLAB_SIZE);
    slabOffset = 0;
  }
  return slabOffset;
}

/** UTF-8 bytes of `text`, small ones carved from the shared slab. */
export function encodeFrame(text: string): Uint8Array {
  const max = text.length * 3;
  if (max > SLAB_SIZE >>> 2) return encoder.encode(text);
  const start = reserve(max);
  const { written } = encoder.encodeInto(text, slab.subarray(start));
  slabOffset = start + written;
  return slab.subarray(start, slabOffset);
}

/** A copy of `bytes`, small ones carved from the shared slab as {@linkcode encodeFrame} does. */
export function copyFrame(bytes: Uint8Array): Uint8Array {
  const n = bytes.length;
  if (n > SLAB_SIZE >>> 2) return bytes.slice();
  const start = reserve(n);
  slabOffset = start + n;
  const out = slab.subarray(start, slabOffset);
  out.set(bytes);
  return out;
}

/** Whether a frame is exactly `<IDS|MSG>`. */
export function isDelimiter(frame: Uint8Array): boolean {
  if (frame.length !== 9) return false;
  for (let i = 0; i < 9; i++) if (frame[i] !== DELIM_BYTES[i]) return false;
  return true;
}

/** Whether a value is a non-null, non-array object (a JSON object once parsed). */
export function isPlainObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** One message part as JSON text; `part` names it in errors. */
export function stringify(value: unknown, part: string): string {
  if (!isPlainObject(value)) {
    throw new SerializationError(`Message ${part} must be a JSON object, got ${describe(value)}`);
  }
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (e) {
    throw new SerializationError(
      `Message ${part} cannot be written as JSON: ${e instanceof Error ? e.message : e}`,
      { cause: e },
    );
  }
  // JSON.stringify of an object is always a string, but a toJSON() may return anything.
  if (typeof text !== "string") {
    throw new SerializationError(`Message ${part} cannot be written as JSON`);
  }
  return text;
}

/** A short description of a value's type, for error messages. */
export function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value;
}

/** A buffer or identity as a frame, without copying; `what` names it in errors. */
export function toFrame(value: unknown, what: string): Uint8Array {
  if (value instanceof Uint8Array) return value;
  if (ArrayBuffer.isView(value)) {
    return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  }
  if (
    value instanceof ArrayBuffer ||
    (typeof SharedArrayBuffer === "function" && value instanceof SharedArrayBuffer)
  ) {
    return new Uint8Array(value);
  }
  throw new SerializationError(
    `${what} must be a Uint8Array, an ArrayBuffer view or an ArrayBuffer, got ${describe(value)}`,
  );
}

/** Parses one JSON frame, which must hold an object; `part` names it in errors. */
export function parsePart(frame: Uint8Array, part: string): JsonObject {
  // `{}` is most parent headers, metadata and contents: skip the decoder and the parser.
  if (frame.length === 2 && frame[0] === 0x7b && frame[1] === 0x7d) return {};
  let value: unknown;
  try {
    value = JSON.parse(decodeStrict(frame));
  } catch (e) {
    throw new MessageFormatError("bad-json", `The ${part} frame is not UTF-8 JSON`, { cause: e });
  }
  if (!isPlainObject(value)) {
    throw new MessageFormatError(
      "not-object",
      `The ${part} frame must hold a JSON object, got ${describe(value)}`,
    );
  }
  return value;
}

/** Something that can be a routing-identity frame: bytes, or a string sent as UTF-8. */
export type IdentityLike = Uint8Array | string;

/** Something that can be a buffer frame; views are sent without copying. */
export type BufferLike = ArrayBufferView | ArrayBufferLike;

/** A multipart message split at the delimiter (PROTOCOL.md §1.1). */
export interface SplitFrames {
  /** The frames before the first delimiter. */
  identities: Uint8Array[];
  /** The frames after it: signature, four JSON frames, buffers. */
  parts: Uint8Array[];
}

/** Index of the first `<IDS|MSG>` frame, after checking every frame is a `Uint8Array`. */
export function delimiterIndex(frames: readonly Uint8Array[]): number {
  if (!Array.isArray(frames)) {
    throw new MessageFormatError("bad-frames", `Frames must be an array, got ${typeof frames}`);
  }
  let index = -1;
  for (let i = 0; i < frames.length; i++) {
    const frame = frames[i];
    if (!(frame instanceof Uint8Array)) {
      throw new MessageFormatError(
        "bad-frames",
        `Frame ${i} must be a Uint8Array, got ${describe(frame)}`,
      );
    }
    if (index < 0 && isDelimiter(frame)) index = i;
  }
  if (index < 0) {
    throw new MessageFormatError("no-delimiter", `No "${DELIMITER}" frame in the message`);
  }
  return index;
}

/**
 * Splits a multipart message at the **first** `<IDS|MSG>` frame (PROTOCOL.md §1.1), without
 * parsing or verifying anything. Relays use it to read or swap routing frames.
 *
 * @param frames The received frames.
 * @returns The identities and the frames after the delimiter (both new arrays of the same
 * frame objects).
 * @throws {MessageFormatError} `"bad-frames"` if `frames` is not an array of `Uint8Array`,
 * `"no-delimiter"` if there is no delimiter.
 * @example
 * ```ts
 * import { splitIdentities } from "./frames.ts";
 * const enc = new TextEncoder();
 * const { identities, parts } = splitIdentities([enc.encode("engine"), enc.encode("<IDS|MSG>"), enc.encode("")]);
 * console.log(identities.length, parts.length); // 1 1
 * ```
 */
export function splitIdentities(frames: readonly Uint8Array[]): SplitFrames {
  const d = delimiterIndex(frames);
  return { identities: frames.slice(0, d), parts: frames.slice(d + 1) };
}

/** An identity as a frame: strings as UTF-8, bytes as given. */
export function identityFrame(id: unknown): Uint8Array {
  if (typeof id === "string") return encodeFrame(id);
  return toFrame(id, "An identity");
}
