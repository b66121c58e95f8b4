/**
 * The layout of an engine's direct-path records (`direct.ts`): how the engine keeps them in
 * shared memory until they are sent, and the first buffer of a `direct_records` message that
 * carries a batch of them to the Hub.
 *
 * Each record is `[kind u8][streamed u8][parts u16][length u32 × parts][parts' bytes…]`, little
 * endian, and a batch is records back to back. One buffer per batch, rather than one frame per
 * part: the engine copies a batch out of shared memory once, and the Hub reads ~10 parts per
 * direct call as views of one frame instead of as ~10 frames. A record too large for the shared
 * block is sent on its own, and its parts of at least {@linkcode EXTERNAL_MIN} bytes are not
 * copied into the batch: their length reads {@linkcode EXTERNAL}, and each is the message's next
 * buffer after the batch.
 *
 * @module
 */

import { MessageFormatError } from "../../errors.ts";

/** One record: a request as read or a reply as sent, its parts (header … buffers). */
export interface DirectRecord {
  /** `"request"` or `"reply"`. */
  kind: "request" | "reply";
  /** Whether its buffers were left out (a buffer of at least the Hub's limit). */
  streamed: boolean;
  /** Header, parent header, metadata, content, then buffers. */
  parts: readonly Uint8Array[];
}

/** Most parts one record can have (the count is 16 bits). */
export const MAX_RECORD_PARTS = 0xffff;

/** The length of a part carried as a buffer of its own, after the batch. */
export const EXTERNAL = 0xffffffff;

/** Parts from this size up are carried on their own by {@linkcode encodeRecords}. */
export const EXTERNAL_MIN = 64 * 1024;

const REQUEST = 0, REPLY = 1;

/**
 * Bytes a record takes in the layout.
 * @param parts Its parts.
 * @param external Whether parts of at least {@linkcode EXTERNAL_MIN} bytes are left out.
 * @returns The size.
 */
export function recordSize(parts: readonly Uint8Array[], external = false): number {
  let size = 4 + 4 * parts.length;
  for (const p of parts) if (!external || p.byteLength < EXTERNAL_MIN) size += p.byteLength;
  return size;
}

/**
 * Write a record at `at` (the caller checked that {@linkcode recordSize} bytes fit).
 * @param bytes Where to write.
 * @param view A DataView of the same memory as `bytes`, at the same offset.
 * @param at Offset in `bytes`.
 * @param record The record (at most {@linkcode MAX_RECORD_PARTS} parts).
 * @param external When given, receives the parts of at least {@linkcode EXTERNAL_MIN} bytes
 *   instead of the batch.
 * @returns The offset after it.
 */
export function writeRecord(
  bytes: Uint8Array,
  view: DataView,
  at: number,
  record: DirectRecord,
  external?: Uint8Array[],
): number {
  const { parts } = record;
  const apart = (p: Uint8Array) => external !== undefined && p.byteLength >= EXTERNAL_MIN;
  view.setUint8(at, record.kind === "request" ? REQUEST : REPLY);
  view.setUint8(at + 1, record.streamed ? 1 : 0);
  view.setUint16(at + 2, parts.length, true);
  at += 4;
  for (const p of parts) {
    view.setUint32(at, apart(p) ? EXTERNAL : p.byteLength, true);
    at += 4;
  }
  for (const p of parts) {
    if (apart(p)) external!.push(p);
    else {
      bytes.set(p, at);
      at += p.byteLength;
    }
  }
  return at;
}

/**
 * A batch of records in the layout; parts of at least {@linkcode EXTERNAL_MIN} bytes are left
 * out of it, for the message to carry as buffers of their own.
 * @param records The records, in order.
 * @param external Receives the parts left out, in order.
 * @returns The batch.
 *
 * @example
 * ```ts
 * import { encodeRecords, readRecords } from "./direct_records.ts";
 * const part = new TextEncoder().encode("{}");
 * const external: Uint8Array[] = [];
 * const reply = { kind: "reply" as const, streamed: false, parts: [part, part, part, part] };
 * const batch = encodeRecords([reply], external);
 * console.log(readRecords(batch, external)[0].kind); // "reply"
 * ```
 */
export function encodeRecords(
  records: readonly DirectRecord[],
  external: Uint8Array[],
): Uint8Array {
  let size = 0;
  for (const r of records) size += recordSize(r.parts, true);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let at = 0;
  for (const r of records) at = writeRecord(out, view, at, r, external);
  return out;
}

/**
 * The records of a batch, their parts as views of `batch` (no copy) or from `external`.
 * @param batch A buffer in the layout.
 * @param external The buffers after it, for parts carried on their own.
 * @returns The records, in order.
 * @throws {MessageFormatError} `bad-direct-records` when a kind is unknown, a length runs past
 *   the end, or the external buffers are too few or too many: nothing of the batch is returned.
 */
export function readRecords(
  batch: Uint8Array,
  external: readonly Uint8Array[] = [],
): DirectRecord[] {
  const view = new DataView(batch.buffer, batch.byteOffset, batch.byteLength);
  const end = batch.byteLength;
  const out: DirectRecord[] = [];
  let at = 0;
  let next = 0;
  const bad = (what: string) =>
    new MessageFormatError(
      "bad-direct-records",
      `direct_records: ${what} at byte ${at} of ${end} (record ${out.length})`,
    );
  while (at < end) {
    if (end - at < 4) throw bad("a truncated record head");
    const kind = view.getUint8(at);
    if (kind !== REQUEST && kind !== REPLY) throw bad(`unknown record kind ${kind}`);
    const streamed = view.getUint8(at + 1) === 1;
    const n = view.getUint16(at + 2, true);
    let body = at + 4 + 4 * n;
    if (body > end) throw bad(`${n} part lengths past the end`);
    const parts: Uint8Array[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const len = view.getUint32(at + 4 + 4 * i, true);
      if (len === EXTERNAL) {
        if (next === external.length) throw bad(`a part beyond the ${external.length} buffers`);
        parts[i] = external[next++];
        continue;
      }
      if (body + len > end) throw bad(`a part of ${len} bytes past the end`);
      parts[i] = batch.subarray(body, body + len);
      body += len;
    }
    out.push({ kind: kind === REQUEST ? "request" : "reply", streamed, parts });
    at = body;
  }
  if (next !== external.length) {
    throw bad(`${external.length - next} buffers after the batch that no part names`);
  }
  return out;
}
