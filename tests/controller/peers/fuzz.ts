/**
 * Message mutators for the controller fuzz test: from a valid signed message, produce broken
 * ones (bad or missing signatures, missing delimiter, truncated or extra frames, flipped bytes)
 * and — a small share — validly signed messages with nonsense JSON values, which reach the
 * handlers. Deterministic for a seed.
 *
 * Not a test file.
 *
 * @module
 */

import type { Session } from "../../../src/protocol/session.ts";

/** mulberry32: a small seeded PRNG in [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const enc = new TextEncoder();
const DELIM = enc.encode("<IDS|MSG>");

/** A random JSON value of bounded depth (strings, numbers, lists, objects, null, booleans). */
export function randomJson(r: () => number, depth = 2): unknown {
  const k = Math.floor(r() * (depth > 0 ? 9 : 6));
  switch (k) {
    case 0:
      return null;
    case 1:
      return r() < 0.5;
    case 2:
      return Math.floor(r() * 2 ** 31) - 2 ** 30;
    case 3:
      return r() * 1e6 - 5e5;
    case 4:
      return ["", "x", "0", "$gt", "all", "apply_request", "2026-11-29T12:00:00Z", "\u0000", "é"][
        Math.floor(r() * 9)
      ];
    case 5:
      return Math.floor(r() * 4);
    case 6:
    case 7:
      return Array.from({ length: Math.floor(r() * 4) }, () => randomJson(r, depth - 1));
    default: {
      const o: Record<string, unknown> = {};
      const keys = ["msg_ids", "targets", "after", "follow", "uuid", "id", "$in", "query", "keys"];
      for (let i = Math.floor(r() * 4); i > 0; i--) {
        o[keys[Math.floor(r() * keys.length)]] = randomJson(r, depth - 1);
      }
      return o;
    }
  }
}

/** Message types used for signed nonsense (no shutdown/unregistration: those are trusted). */
const TYPES = [
  "registration_request",
  "connection_request",
  "queue_request",
  "result_request",
  "history_request",
  "db_request",
  "purge_request",
  "resubmit_request",
  "load_request",
  "apply_request",
  "apply_reply",
  "stream",
  "error",
  "execute_input",
  "status",
  "foo_request",
];

/** Keys Hub handlers read from content and metadata. */
const FIELDS = [
  "uuid",
  "id",
  "targets",
  "verbose",
  "msg_ids",
  "status_only",
  "query",
  "keys",
  "engine_ids",
  "after",
  "follow",
  "timeout",
  "retries",
  "is_coalescing",
  "is_broadcast",
  "original_msg_id",
  "status",
  "dependencies_met",
  "engine",
  "name",
  "text",
  "code",
];

function randomObject(r: () => number): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (let i = Math.floor(r() * 5); i > 0; i--) {
    o[FIELDS[Math.floor(r() * FIELDS.length)]] = randomJson(r);
  }
  return o;
}

/**
 * A validly signed message with nonsense values (reaches the handlers).
 *
 * @param s The signing session (the controller's key).
 * @param r Random source.
 * @param prefix Routing frames to put first.
 * @param runnable Make it an `execute_request` an engine can answer (nonsense metadata only):
 *   on the task channel every message is dispatched, and a signed request a Python engine
 *   cannot answer would hold it forever, as with Python's own controller.
 */
export function signedNonsense(
  s: Session,
  r: () => number,
  prefix: Uint8Array[],
  runnable = false,
): Uint8Array[] {
  const type = runnable ? "execute_request" : TYPES[Math.floor(r() * TYPES.length)];
  const parent = r() < 0.5 ? {} : { msg_id: String(randomJson(r, 0)), session: "fuzz" };
  return s.pack({
    identities: prefix,
    header: { ...s.header(type), ...(r() < 0.2 ? { date: randomJson(r, 0) } : {}) } as never,
    parentHeader: parent as never,
    metadata: randomObject(r),
    content: runnable ? { code: "0", silent: true } : randomObject(r),
    buffers: r() < 0.5 ? [] : [crypto.getRandomValues(new Uint8Array(Math.floor(r() * 32)))],
  });
}

/**
 * One broken message derived from `valid` (which starts with `prefix.length` routing frames).
 *
 * @param valid A valid signed message.
 * @param r Random source.
 * @returns Frames that must be dropped (bad signature or layout).
 */
export function broken(valid: Uint8Array[], r: () => number): Uint8Array[] {
  const f = valid.map((x) => x.slice());
  const d = f.findIndex((x) => x.length === DELIM.length && x.every((b, i) => b === DELIM[i]));
  switch (Math.floor(r() * 8)) {
    case 0: // unsigned
      f[d + 1] = new Uint8Array(0);
      return f;
    case 1: { // wrong signature (same length)
      const sig = f[d + 1];
      sig[Math.floor(r() * sig.length)] ^= 1 + Math.floor(r() * 6);
      return f;
    }
    case 2: { // a signed byte flipped
      const at = d + 2 + Math.floor(r() * 4);
      if (f[at].length) f[at][Math.floor(r() * f[at].length)] ^= 0x20;
      else f[at] = enc.encode("{}x");
      return f;
    }
    case 3: // no delimiter
      return f.filter((_, i) => i !== d);
    case 4: // truncated after the delimiter
      return f.slice(0, d + 1 + Math.floor(r() * 5));
    case 5: // garbage frames only
      return Array.from(
        { length: 1 + Math.floor(r() * 6) },
        () => crypto.getRandomValues(new Uint8Array(Math.floor(r() * 40))),
      );
    case 6: // extra delimiters and empty frames before the real one
      return [DELIM, new Uint8Array(0), ...f];
    default: // huge signature frame
      f[d + 1] = new Uint8Array(10_000).fill(0x61);
      return f;
  }
}
