/**
 * Random ids and keys in Python's `jupyter_client.session.new_id` format (PROTOCOL.md §1.7).
 *
 * @module
 */

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/**
 * A new random id in Python's session-id format: 16 random bytes as hex, split 8+24 with a
 * dash (`df465556-660eee72044abd41f0d3737a`). Also the format of default keys.
 *
 * @returns The id.
 * @example
 * ```ts
 * import { newId } from "./ids.ts";
 * /^[0-9a-f]{8}-[0-9a-f]{24}$/.test(newId()); // true
 * ```
 */
export function newId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  let s = "";
  for (let i = 0; i < 16; i++) s += (i === 4 ? "-" : "") + HEX[bytes[i]];
  return s;
}

/** What a session id may contain: msg_ids are built from it (PROTOCOL.md §1.7). */
export const SESSION_ID_RE = /^[A-Za-z0-9_-]+$/;

/**
 * A new HMAC key in the default format of `jupyter_client.session.new_id`:
 * 8 hex digits, `-`, 24 hex digits (16 random bytes). Same format as {@link newId}.
 *
 * @returns e.g. `"1a2b3c4d-5e6f708192a3b4c5d6e7f809"`.
 */
export function newKey(): string {
  return newId();
}
