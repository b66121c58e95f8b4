/**
 * Reading a few top-level string fields of a JSON object frame without decoding or parsing it,
 * for the per-message hot paths: the controller's IOPub relay needs only a header's `msg_type`
 * to skip `status` ({@link peekMsgType}), and the client's socket reader handles IOPub `status`
 * (two per task, PROTOCOL.md §6.6) from `parent_header.msg_id`/`session`, `metadata.engine` and
 * `content.execution_state` alone ({@link peekStrings}). Anything unusual (escapes, non-ASCII
 * text in a key or a wanted value, a frame that is not one JSON object) answers "unsure", and
 * the caller parses the frame in full instead.
 *
 * @module
 */

const QUOTE = 0x22, BACKSLASH = 0x5c, COLON = 0x3a, COMMA = 0x2c;
const OPEN = 0x7b, CLOSE = 0x7d, OPEN_SQ = 0x5b, CLOSE_SQ = 0x5d;

/** Result of {@link peekStrings} for one key: its value, `null` (absent or not a string). */
export type Peeked = string | null;

// JSON whitespace is space, tab, CR and LF; other control bytes cannot appear outside strings
// in valid JSON, so treating every byte <= 0x20 as space only accepts what JSON.parse refuses
// in frames it would refuse anyway (the fast path is for signed frames of known peers).
const SPACE_MAX = 0x20;

/** ASCII bytes of a key, for {@link peekStrings}. */
export function keyBytes(key: string): Uint8Array {
  const bytes = new Uint8Array(key.length);
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (c >= 0x80 || c === QUOTE || c === BACKSLASH) {
      throw new RangeError(`Not a plain key: ${key}`);
    }
    bytes[i] = c;
  }
  return bytes;
}

function keyIs(f: Uint8Array, start: number, end: number, key: Uint8Array | null): boolean {
  if (key === null || end - start !== key.length) return false;
  for (let k = 0; k < key.length; k++) if (f[start + k] !== key[k]) return false;
  return true;
}

/**
 * The string values of up to two top-level keys of a JSON object frame, written to `out[0]`
 * and `out[1]` (the last of duplicate keys wins, as in `JSON.parse`). Only the object's
 * structure is checked, not every token of the values it skips.
 *
 * @param frame The frame (UTF-8 JSON).
 * @param key0 The first key's bytes (see {@link keyBytes}).
 * @param key1 The second key's bytes, or `null`.
 * @param out Receives the values: a string, or `null` when the key is absent or its value is
 * not a string. Pass the same array for frames of the same kind: a value equal to the one it
 * held is reused, not built again.
 * @returns `false` when unsure (not an object, escapes or non-ASCII in a key or a wanted value):
 * parse the frame instead.
 * @example
 * ```ts
 * import { keyBytes, type Peeked, peekStrings } from "./peek.ts";
 * const out: Peeked[] = [null, null];
 * const f = new TextEncoder().encode('{"msg_id": "m1", "n": [1, {"a": 2}], "session": "s"}');
 * peekStrings(f, keyBytes("msg_id"), keyBytes("session"), out);
 * console.log(out); // ["m1", "s"]
 * ```
 */
export function peekStrings(
  frame: Uint8Array,
  key0: Uint8Array,
  key1: Uint8Array | null,
  out: Peeked[],
): boolean {
  // One pass, no helper calls per byte: this runs on every IOPub status (two per task).
  const f = frame;
  const n = f.length;
  // The previous values: a value equal to one is reused instead of built (session ids, engine
  // uuids and states repeat from one message to the next).
  const was0 = out[0], was1 = out[1];
  out[0] = null;
  out[1] = null;
  let i = 0;
  while (i < n && f[i] <= SPACE_MAX) i++;
  if (f[i] !== OPEN) return false;
  i++;
  while (i < n && f[i] <= SPACE_MAX) i++;
  if (f[i] === CLOSE) {
    for (i++; i < n; i++) if (f[i] > SPACE_MAX) return false;
    return true;
  }
  for (;;) {
    // A key: plain ASCII without escapes, or unsure.
    if (f[i] !== QUOTE) return false;
    const keyStart = ++i;
    while (i < n && f[i] !== QUOTE) {
      if (f[i] === BACKSLASH || f[i] >= 0x80) return false;
      i++;
    }
    if (i >= n) return false;
    const keyEnd = i++;
    while (i < n && f[i] <= SPACE_MAX) i++;
    if (f[i] !== COLON) return false;
    i++;
    while (i < n && f[i] <= SPACE_MAX) i++;
    const slot = keyIs(f, keyStart, keyEnd, key0) ? 0 : keyIs(f, keyStart, keyEnd, key1) ? 1 : -1;
    if (f[i] === QUOTE) {
      // A string value: read if wanted (plain ASCII only), else skipped.
      const valueStart = ++i;
      let plain = true;
      while (i < n) {
        const b = f[i];
        if (b === QUOTE) break;
        if (b === BACKSLASH) {
          plain = false;
          i += 2;
          continue;
        }
        if (b >= 0x80) plain = false;
        i++;
      }
      if (i >= n) return false;
      if (slot >= 0) {
        if (!plain) return false;
        out[slot] = ascii(f, valueStart, i, slot === 0 ? was0 : was1);
      }
      i++;
    } else {
      // Any other value: skipped by its structure (strings inside it may hold brackets).
      let depth = 0;
      while (i < n) {
        const b = f[i];
        if (b === QUOTE) {
          for (i++; i < n && f[i] !== QUOTE; i++) if (f[i] === BACKSLASH) i++;
          if (i >= n) return false;
        } else if (b === OPEN || b === OPEN_SQ) depth++;
        else if (b === CLOSE || b === CLOSE_SQ) {
          if (depth === 0) break;
          depth--;
        } else if (b === COMMA && depth === 0) break;
        i++;
      }
      if (depth !== 0 || i >= n) return false;
      if (slot >= 0) out[slot] = null;
    }
    while (i < n && f[i] <= SPACE_MAX) i++;
    if (f[i] === COMMA) {
      i++;
      while (i < n && f[i] <= SPACE_MAX) i++;
      continue;
    }
    if (f[i] !== CLOSE) return false;
    for (i++; i < n; i++) if (f[i] > SPACE_MAX) return false;
    return true;
  }
}

/** `f[start..end)` as a string (every byte is ASCII): `was` itself when equal. */
function ascii(f: Uint8Array, start: number, end: number, was: Peeked): string {
  if (was !== null && was.length === end - start) {
    let k = end - start - 1;
    while (k >= 0 && was.charCodeAt(k) === f[start + k]) k--;
    if (k < 0) return was;
  }
  return String.fromCharCode.apply(null, f.subarray(start, end) as unknown as number[]);
}

const MSG_ID = keyBytes("msg_id");
const MSG_TYPE = keyBytes("msg_type");
const typeScratch: Peeked[] = [null, null];

/**
 * The `msg_type` of a header frame, read with {@link peekStrings}.
 *
 * @param frame The header frame (UTF-8 JSON object).
 * @returns The type when the header has string `msg_id` and `msg_type` (the last of duplicate
 * keys wins, as in `JSON.parse`); `null` when it clearly does not (either key missing or not a
 * string); `undefined` when unsure: parse the frame instead.
 * @example
 * ```ts
 * import { peekMsgType } from "./peek.ts";
 * const f = new TextEncoder().encode('{"msg_id":"a_1_0","msg_type":"status","session":"a"}');
 * console.log(peekMsgType(f)); // "status"
 * ```
 */
export function peekMsgType(frame: Uint8Array): string | null | undefined {
  if (!peekStrings(frame, MSG_TYPE, MSG_ID, typeScratch)) return undefined;
  return typeScratch[1] === null ? null : typeScratch[0];
}
