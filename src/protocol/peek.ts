/**
 * Reading a header's `msg_type` without parsing the header: relays that only need the type to
 * decide whether to look further (the controller's IOPub relay skips `status`, two per task)
 * save the UTF-8 decode and `JSON.parse` of the frame.
 *
 * @module
 */

const QUOTE = 0x22, BACKSLASH = 0x5c, COLON = 0x3a, COMMA = 0x2c;
const OPEN = 0x7b, CLOSE = 0x7d, OPEN_SQ = 0x5b, CLOSE_SQ = 0x5d;

const MSG_TYPE = [0x6d, 0x73, 0x67, 0x5f, 0x74, 0x79, 0x70, 0x65]; // msg_type
const MSG_ID = [0x6d, 0x73, 0x67, 0x5f, 0x69, 0x64]; // msg_id

function isSpace(b: number): boolean {
  return b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;
}

function skipSpace(f: Uint8Array, i: number): number {
  while (i < f.length && isSpace(f[i])) i++;
  return i;
}

/** Index just past the string starting at `f[i] === '"'`, or -1 if it does not end. */
function skipString(f: Uint8Array, i: number): number {
  for (i++; i < f.length; i++) {
    const b = f[i];
    if (b === QUOTE) return i + 1;
    if (b === BACKSLASH) i++;
  }
  return -1;
}

/** Index just past the value at `i` (any JSON value; not validated), or -1. */
function skipValue(f: Uint8Array, i: number): number {
  if (i >= f.length) return -1;
  if (f[i] === QUOTE) return skipString(f, i);
  let depth = 0;
  while (i < f.length) {
    const b = f[i];
    if (b === QUOTE) {
      i = skipString(f, i);
      if (i < 0) return -1;
      continue;
    }
    if (b === OPEN || b === OPEN_SQ) depth++;
    else if (b === CLOSE || b === CLOSE_SQ) {
      if (depth === 0) return i; // the enclosing object's end
      depth--;
      if (depth === 0) return i + 1;
    } else if (b === COMMA && depth === 0) return i;
    i++;
  }
  return depth === 0 ? i : -1;
}

function keyIs(f: Uint8Array, start: number, end: number, key: readonly number[]): boolean {
  if (end - start !== key.length) return false;
  for (let k = 0; k < key.length; k++) if (f[start + k] !== key[k]) return false;
  return true;
}

/**
 * The `msg_type` of a header frame, read by scanning its top-level keys. The frame's JSON is
 * not validated beyond its structure, and keys or a type with escapes or non-ASCII text are
 * left to the caller's full parse.
 *
 * @param frame The header frame (UTF-8 JSON object).
 * @returns The type when the header has string `msg_id` and `msg_type` (the last of duplicate
 * keys wins, as in `JSON.parse`); `null` when it clearly does not (not an object, or either key
 * missing or not a string); `undefined` when unsure: parse the frame instead.
 * @example
 * ```ts
 * import { peekMsgType } from "./peek.ts";
 * const f = new TextEncoder().encode('{"msg_id":"a_1_0","msg_type":"status","session":"a"}');
 * console.log(peekMsgType(f)); // "status"
 * ```
 */
export function peekMsgType(frame: Uint8Array): string | null | undefined {
  const f = frame;
  let i = skipSpace(f, 0);
  if (f[i] !== OPEN) return undefined;
  i = skipSpace(f, i + 1);
  let type: string | null = null;
  let hasId = false;
  if (f[i] === CLOSE) return null;
  for (;;) {
    if (f[i] !== QUOTE) return undefined;
    const keyStart = i + 1;
    const keyEnd = skipString(f, i) - 1;
    if (keyEnd < 0) return undefined;
    for (let k = keyStart; k < keyEnd; k++) if (f[k] === BACKSLASH) return undefined;
    i = skipSpace(f, keyEnd + 1);
    if (f[i] !== COLON) return undefined;
    i = skipSpace(f, i + 1);
    const valueStart = i;
    i = skipValue(f, i);
    if (i < 0) return undefined;
    if (keyIs(f, keyStart, keyEnd, MSG_TYPE)) {
      type = null;
      if (f[valueStart] === QUOTE) {
        let s = "";
        for (let k = valueStart + 1; k < i - 1; k++) {
          const b = f[k];
          if (b === BACKSLASH || b >= 0x80) return undefined;
          s += String.fromCharCode(b);
        }
        type = s;
      }
    } else if (keyIs(f, keyStart, keyEnd, MSG_ID)) hasId = f[valueStart] === QUOTE;
    i = skipSpace(f, i);
    if (f[i] === COMMA) {
      i = skipSpace(f, i + 1);
      continue;
    }
    if (f[i] !== CLOSE || skipSpace(f, i + 1) !== f.length) return undefined;
    return hasId ? type : null;
  }
}
