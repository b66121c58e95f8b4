/**
 * The Jupyter message `Session` (PROTOCOL.md §1): builds headers and message ids, packs
 * messages into signed multipart frames, verifies and unpacks received frames, and guards
 * against replayed signatures. Wire-compatible with `jupyter_client.session.Session` 7.x.
 *
 * @example
 * ```ts
 * import { Session } from "./session.ts";
 *
 * const client = new Session({ key: "9f1a3c5e-7b2d4e6f8a0b1c2d3e4f5a6b" });
 * const hub = new Session({ key: "9f1a3c5e-7b2d4e6f8a0b1c2d3e4f5a6b" });
 * const frames = client.pack(client.msg("connection_request"));
 * const request = hub.unpack(frames);
 * const reply = hub.pack(hub.reply(request, { content: { status: "ok", engines: {} } }));
 * console.log(client.unpack(reply).parentHeader.msg_id === request.msgId); // true
 * ```
 *
 * @module
 */

import { createHash } from "node:crypto";
import {
  InvalidOptionError,
  IppError,
  MessageFormatError,
  SerializationError,
  SignatureError,
  UnsupportedSchemeError,
} from "../errors.ts";
import {
  type ContentOf,
  type JsonObject,
  type Message,
  type MessageHeader,
  type MetadataOf,
  type ParentHeader,
  PROTOCOL_VERSION,
  type RawParts,
  replyTypeFor,
} from "./messages.ts";

/** The delimiter frame between routing identities and the message (PROTOCOL.md §1.1). */
export const DELIMITER = "<IDS|MSG>";

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const DELIM_BYTES = encoder.encode(DELIMITER);
const EMPTY = new Uint8Array(0);

// ---------------------------------------------------------------------------
// Dates (PROTOCOL.md §1.8)
// ---------------------------------------------------------------------------

// Python's accepted form, with the parts captured.
const DATE_RE =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?(Z|[+-]\d{2}:?\d{2})?$/;

let cachedSecond = NaN;
let cachedPrefix = "";

/**
 * Formats a time as the header date form `YYYY-MM-DDTHH:MM:SS.ffffffZ` (UTC, always six
 * fraction digits; PROTOCOL.md §1.8).
 *
 * @param time A `Date`, or epoch milliseconds; a fractional part supplies the microseconds.
 * @returns The ISO-8601 string.
 * @throws {MessageFormatError} `reason: "bad-date"` when the time is not finite or its year is
 * outside 1..9999 (Python's `datetime` range).
 * @example
 * ```ts
 * import { formatDate } from "./session.ts";
 * formatDate(Date.UTC(2024, 0, 2, 3, 4, 5) + 123.456); // "2024-01-02T03:04:05.123456Z"
 * ```
 */
export function formatDate(time: Date | number): string {
  const ms = typeof time === "number" ? time : time instanceof Date ? time.getTime() : NaN;
  if (!Number.isFinite(ms)) {
    throw new MessageFormatError("bad-date", `Cannot format ${String(time)} as a date`);
  }
  // Split before scaling: ms * 1000 would lose microseconds for far-future dates.
  let whole = Math.floor(ms);
  let micros = Math.round((ms - whole) * 1000);
  if (micros === 1000) {
    whole += 1;
    micros = 0;
  }
  const second = Math.floor(whole / 1000);
  const fraction = (whole - second * 1000) * 1000 + micros;
  if (second !== cachedSecond) {
    const d = new Date(second * 1000);
    const year = d.getUTCFullYear();
    if (!(year >= 1 && year <= 9999)) {
      throw new MessageFormatError("bad-date", `Year ${year} is outside 1..9999`);
    }
    cachedPrefix = d.toISOString().slice(0, 19) + ".";
    cachedSecond = second;
  }
  return cachedPrefix + String(fraction).padStart(6, "0") + "Z";
}

/**
 * Parses a date in any form a Python peer accepts (PROTOCOL.md §1.8): with or without 1–6
 * fraction digits, with `Z`, a `±HH:MM`/`±HHMM` offset, or no zone. Like Python, a date without
 * a zone is taken as local time.
 *
 * @param text The date string.
 * @returns Epoch milliseconds, with the microseconds as the fractional part (a double holds
 * them exactly until about the year 2100, milliseconds far beyond).
 * @throws {MessageFormatError} `reason: "bad-date"` when the string is not such a date.
 * @example
 * ```ts
 * import { parseDateMs } from "./session.ts";
 * parseDateMs("2024-01-02T03:04:05.123456Z") - Date.UTC(2024, 0, 2, 3, 4, 5); // ≈ 123.456
 * ```
 */
export function parseDateMs(text: string): number {
  const m = typeof text === "string" ? DATE_RE.exec(text) : null;
  if (m === null) {
    throw new MessageFormatError("bad-date", `Not an ISO-8601 date: ${JSON.stringify(text)}`);
  }
  const year = +m[1], month = +m[2], day = +m[3];
  const hour = +m[4], minute = +m[5], second = +m[6];
  const micros = m[7] === undefined ? 0 : +m[7].padEnd(6, "0");
  const zone = m[8];
  if (
    year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month) ||
    hour > 23 || minute > 59 || second > 59
  ) {
    throw new MessageFormatError("bad-date", `Date out of range: ${JSON.stringify(text)}`);
  }
  const d = new Date(0);
  let offsetMinutes = 0;
  if (zone === undefined) {
    d.setFullYear(year, month - 1, day);
    d.setHours(hour, minute, second, 0);
  } else {
    if (zone !== "Z") {
      const digits = zone.replace(":", "");
      const oh = +digits.slice(1, 3), om = +digits.slice(3, 5);
      if (oh > 23 || om > 59) {
        throw new MessageFormatError("bad-date", `Bad UTC offset: ${JSON.stringify(text)}`);
      }
      offsetMinutes = (zone[0] === "-" ? -1 : 1) * (oh * 60 + om);
    }
    d.setUTCFullYear(year, month - 1, day);
    d.setUTCHours(hour, minute, second, 0);
  }
  return d.getTime() - offsetMinutes * 60_000 + micros / 1000;
}

/**
 * Parses a date like {@link parseDateMs}, into a `Date` (millisecond precision).
 *
 * @param text The date string.
 * @returns The date.
 * @throws {MessageFormatError} `reason: "bad-date"` when the string is not such a date.
 * @example
 * ```ts
 * import { parseDate } from "./session.ts";
 * parseDate("2026-11-29T12:06:23Z").toISOString(); // "2026-11-29T12:06:23.000Z"
 * ```
 */
export function parseDate(text: string): Date {
  return new Date(Math.floor(parseDateMs(text)));
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function daysInMonth(year: number, month: number): number {
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  return month === 2 && leap ? 29 : DAYS_IN_MONTH[month - 1];
}

// A wall clock with sub-millisecond digits: the monotonic clock, re-anchored to Date.now()
// whenever the two drift apart (NTP steps, suspend), so dates stay on wall time.
let clockOffset = Date.now() - (performance.timeOrigin + performance.now());

/**
 * The current time in epoch milliseconds with microsecond digits (`performance.now()` anchored
 * to the wall clock).
 *
 * @returns Epoch milliseconds, fractional.
 * @example
 * ```ts
 * import { formatDate, nowMs } from "./session.ts";
 * formatDate(nowMs()); // e.g. "2026-11-29T12:06:23.964492Z"
 * ```
 */
export function nowMs(): number {
  const wall = Date.now();
  let t = performance.timeOrigin + performance.now() + clockOffset;
  if (t < wall - 2 || t > wall + 3) {
    clockOffset = wall - (performance.timeOrigin + performance.now());
    t = wall;
  }
  return t;
}

// ---------------------------------------------------------------------------
// Ids (PROTOCOL.md §1.7)
// ---------------------------------------------------------------------------

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/**
 * A new random id in Python's session-id format: 16 random bytes as hex, split 8+24 with a
 * dash (`df465556-660eee72044abd41f0d3737a`). Also the format of default keys.
 *
 * @returns The id.
 * @example
 * ```ts
 * import { newId } from "./session.ts";
 * /^[0-9a-f]{8}-[0-9a-f]{24}$/.test(newId()); // true
 * ```
 */
export function newId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  let s = "";
  for (let i = 0; i < 16; i++) s += (i === 4 ? "-" : "") + HEX[bytes[i]];
  return s;
}

const SESSION_ID_RE = /^[A-Za-z0-9_-]+$/;

// ---------------------------------------------------------------------------
// HMAC (PROTOCOL.md §1.3)
// ---------------------------------------------------------------------------

/** The hash names `signatureScheme` accepts after `hmac-`, with block and digest sizes. */
const HASHES: Record<string, { block: number; size: number }> = {
  md5: { block: 64, size: 16 },
  sha1: { block: 64, size: 20 },
  sha224: { block: 64, size: 28 },
  sha256: { block: 64, size: 32 },
  sha384: { block: 128, size: 48 },
  sha512: { block: 128, size: 64 },
};

const HEX_VALUE = new Int8Array(128).fill(0);
for (let i = 0; i < 16; i++) HEX_VALUE["0123456789abcdef".charCodeAt(i)] = i;

/**
 * HMAC (RFC 2104) over node:crypto's synchronous `createHash`, with the key's pads computed
 * once. Equal to `createHmac` (tests check every scheme), but Deno's `createHmac` builds a
 * stream object and re-derives the key pads on every call: measured on Deno 2.9, 10–14 µs per
 * message against 3–5 µs here.
 * Hex digests are used throughout because they are the cheapest output of Deno's `Hash`.
 */
class Hmac {
  readonly #algorithm: string;
  readonly #innerPad: Uint8Array;
  /** Outer pad followed by room for the inner digest. */
  readonly #outer: Uint8Array;
  readonly #block: number;
  readonly #size: number;

  constructor(algorithm: string, key: Uint8Array) {
    const { block, size } = HASHES[algorithm];
    this.#algorithm = algorithm;
    this.#block = block;
    this.#size = size;
    const k = key.length > block ? createHash(algorithm).update(key).digest() : key;
    this.#innerPad = new Uint8Array(block);
    this.#outer = new Uint8Array(block + size);
    for (let i = 0; i < block; i++) {
      const b = i < k.length ? k[i] : 0;
      this.#innerPad[i] = b ^ 0x36;
      this.#outer[i] = b ^ 0x5c;
    }
  }

  /** Lowercase hex HMAC of `frames[from]..frames[from + 3]`, hashed as one byte stream. */
  hex(frames: readonly Uint8Array[], from: number): string {
    const inner = createHash(this.#algorithm).update(this.#innerPad)
      .update(frames[from]).update(frames[from + 1])
      .update(frames[from + 2]).update(frames[from + 3])
      .digest("hex");
    const outer = this.#outer;
    for (let i = 0, o = this.#block; i < this.#size; i++, o++) {
      outer[o] = (HEX_VALUE[inner.charCodeAt(2 * i)] << 4) | HEX_VALUE[inner.charCodeAt(2 * i + 1)];
    }
    return createHash(this.#algorithm).update(outer).digest("hex");
  }

  /**
   * Constant-time comparison of a received signature frame with the expected hex digest: no
   * branch depends on the bytes. (Deno's `crypto.timingSafeEqual` is this same JavaScript loop
   * behind two DataView conversions and an encode; calling it cost about 1.5 µs per message.)
   */
  matches(expectedHex: string, received: Uint8Array): boolean {
    const n = expectedHex.length;
    if (received.length !== n) return false;
    let diff = 0;
    for (let i = 0; i < n; i++) diff |= expectedHex.charCodeAt(i) ^ received[i];
    return diff === 0;
  }
}

// ---------------------------------------------------------------------------
// Replay guard (PROTOCOL.md §1.4)
// ---------------------------------------------------------------------------

/** Accepted signatures, bounded like jupyter_client's `digest_history`. */
class DigestHistory {
  #seen = new Set<string>();
  readonly #limit: number;
  readonly #random: () => number;

  constructor(limit: number, random: () => number) {
    this.#limit = limit;
    this.#random = random;
  }

  get size(): number {
    return this.#seen.size;
  }

  has(signature: string): boolean {
    return this.#seen.has(signature);
  }

  add(signature: string): void {
    if (this.#limit === 0) return;
    this.#seen.add(signature);
    if (this.#seen.size > this.#limit) this.#cull();
  }

  clear(): void {
    this.#seen.clear();
  }

  /** Drops a random 10 % (or down to the limit, whichever is more), as jupyter_client does. */
  #cull(): void {
    const current = this.#seen.size;
    const n = Math.max(Math.floor(current / 10), current - this.#limit);
    if (n >= current) {
      this.#seen.clear();
      return;
    }
    const all = Array.from(this.#seen);
    for (let i = 0; i < n; i++) {
      const j = Math.min(current - 1, i + Math.floor(this.#random() * (current - i)));
      const pick = all[j];
      all[j] = all[i];
      this.#seen.delete(pick);
    }
  }
}

// ---------------------------------------------------------------------------
// Frame encoding
// ---------------------------------------------------------------------------

// Small frames are carved out of a shared slab: allocating one ArrayBuffer per frame costs
// about 2 µs each on Deno 2.9, a subarray of a slab about 0.1 µs. Frames therefore may share
// an ArrayBuffer; they are never written again once returned.
const SLAB_SIZE = 16 * 1024;
let slab = new Uint8Array(SLAB_SIZE);
let slabOffset = 0;

function encodeFrame(text: string): Uint8Array {
  const max = text.length * 3;
  if (max > SLAB_SIZE >>> 2) return encoder.encode(text);
  if (slabOffset + max > SLAB_SIZE) {
    slab = new Uint8Array(SLAB_SIZE);
    slabOffset = 0;
  }
  const start = slabOffset;
  const { written } = encoder.encodeInto(text, slab.subarray(start));
  slabOffset = start + written;
  return slab.subarray(start, slabOffset);
}

function isDelimiter(frame: Uint8Array): boolean {
  if (frame.length !== 9) return false;
  for (let i = 0; i < 9; i++) if (frame[i] !== DELIM_BYTES[i]) return false;
  return true;
}

function isPlainObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function stringify(value: unknown, part: string): string {
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

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value;
}

function toFrame(value: unknown, what: string): Uint8Array {
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

function parsePart(frame: Uint8Array, part: string): JsonObject {
  // `{}` is most parent headers, metadata and contents: skip the decoder and the parser.
  if (frame.length === 2 && frame[0] === 0x7b && frame[1] === 0x7d) return {};
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(frame));
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

// ---------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------

/** Options of {@link Session}. */
export interface SessionOptions {
  /**
   * The HMAC key: the connection file's `key` string, used as its UTF-8 bytes (not
   * hex-decoded), or raw bytes. Empty (the default) = unsigned messages and no verification.
   */
  key?: string | Uint8Array;
  /** `"hmac-<hash>"` with hash one of md5, sha1, sha224, sha256, sha384, sha512. Default `"hmac-sha256"`. */
  signatureScheme?: string;
  /** Header `username`. Default `"username"`, as ipyparallel processes send. */
  username?: string;
  /**
   * Session id (header `session`, and an engine's uuid). Default: a new
   * `8hex-24hex` id. Only `[A-Za-z0-9_-]` is allowed, because msg_ids are built from it and
   * Python engines make variable names out of msg_ids (PROTOCOL.md §1.7).
   */
  session?: string;
  /** The connection file's `pack`; only `"json"` is supported (PROTOCOL.md §1.6). */
  packer?: string;
  /** The connection file's `unpack`; only `"json"` is supported. */
  unpacker?: string;
  /**
   * How many accepted signatures the replay guard remembers (PROTOCOL.md §1.4). Default 65,536;
   * beyond it a random 10 % is forgotten. `0` = remember none.
   */
  digestHistorySize?: number;
  /** The pid in msg_ids. Default `Deno.pid`. */
  pid?: number;
  /** Clock for header dates, in epoch milliseconds (fractional = microseconds). Default {@link nowMs}. */
  clock?: () => number;
  /** Random source in [0, 1) for culling the replay guard. Default `Math.random`. */
  random?: () => number;
}

/** Something that can be a routing-identity frame: bytes, or a string sent as UTF-8. */
export type IdentityLike = Uint8Array | string;

/** Something that can be a buffer frame; views are sent without copying. */
export type BufferLike = ArrayBufferView | ArrayBufferLike;

/**
 * A message ready to be packed. {@link Session.msg} and {@link Session.reply} build one; an
 * unpacked {@link Message} is one too.
 *
 * @typeParam T The message type.
 */
export type OutgoingMessage<T extends string = string> = {
  /** Routing/topic frames to put before the delimiter. */
  identities?: readonly IdentityLike[];
  /** The header, sent as given. */
  header: MessageHeader<T>;
  /** Default `{}`. */
  parentHeader?: ParentHeader;
  /** Default `{}`. */
  metadata?: MetadataOf<T>;
  /** Default `{}`. */
  content?: ContentOf<T>;
  /** Binary frames after the content. */
  buffers?: readonly BufferLike[];
};

/** Options of {@link Session.msg}. */
export interface MsgOptions<T extends string> {
  /** Message content. Default `{}`. */
  content?: ContentOf<T>;
  /** The request this answers: its header, or the message itself. Default `{}`. */
  parent?: ParentHeader | { header: MessageHeader };
  /** Message metadata. Default `{}`. */
  metadata?: MetadataOf<T>;
  /** Binary frames after the content. */
  buffers?: readonly BufferLike[];
  /** Routing/topic frames. */
  identities?: readonly IdentityLike[];
  /** Use this header instead of a fresh one. */
  header?: MessageHeader<T>;
}

/** Options of {@link Session.reply}. */
export interface ReplyOptions<T extends string> {
  /** Reply type. Default: the request's type with `_request` replaced by `_reply`. */
  msgType?: T;
  /** Reply content. Default `{}`. */
  content?: ContentOf<T>;
  /** Reply metadata. Default `{}`. */
  metadata?: MetadataOf<T>;
  /** Binary frames after the content. */
  buffers?: readonly BufferLike[];
  /** Routing frames. Default: exactly those the request arrived with (PROTOCOL.md §6). */
  identities?: readonly IdentityLike[];
}

/** Options of {@link Session.unpack}. */
export interface UnpackOptions {
  /**
   * Check the signature (default `true`). `false` only for frames already checked with
   * {@link Session.verify}, or on a session without a key where nothing is checked anyway.
   */
  verify?: boolean;
  /**
   * Reject and remember signatures seen before (default `true`). Pass `false` for an inspected
   * copy of a message that is (or was) also checked on its real path, PROTOCOL.md §1.4.
   */
  replayGuard?: boolean;
  /** Attach the received signature and JSON frames as `raw` (default `false`). */
  raw?: boolean;
}

/** Options of {@link Session.verify}. */
export interface VerifyOptions {
  /** Reject and remember signatures seen before (default `true`); see {@link UnpackOptions}. */
  replayGuard?: boolean;
}

/** A multipart message split at the delimiter (PROTOCOL.md §1.1). */
export interface SplitFrames {
  /** The frames before the first delimiter. */
  identities: Uint8Array[];
  /** The frames after it: signature, four JSON frames, buffers. */
  parts: Uint8Array[];
}

// ---------------------------------------------------------------------------
// splitIdentities
// ---------------------------------------------------------------------------

function delimiterIndex(frames: readonly Uint8Array[]): number {
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
 * import { splitIdentities } from "./session.ts";
 * const enc = new TextEncoder();
 * const { identities, parts } = splitIdentities([enc.encode("engine"), enc.encode("<IDS|MSG>"), enc.encode("")]);
 * console.log(identities.length, parts.length); // 1 1
 * ```
 */
export function splitIdentities(frames: readonly Uint8Array[]): SplitFrames {
  const d = delimiterIndex(frames);
  return { identities: frames.slice(0, d), parts: frames.slice(d + 1) };
}

// ---------------------------------------------------------------------------
// Session
// ---------------------------------------------------------------------------

/**
 * A Jupyter message session (PROTOCOL.md §1): one per component, like
 * `jupyter_client.session.Session`.
 *
 * It builds headers (`msg_id` = `<session>_<pid>_<counter>`, microsecond UTC dates, version
 * 5.3), packs messages into signed frames, and verifies and unpacks received ones with a
 * bounded replay guard. Everything wrong with received frames surfaces as
 * {@link MessageFormatError} or {@link SignatureError}; nothing else is thrown.
 *
 * @example
 * ```ts
 * import { Session } from "./session.ts";
 * const s = new Session({ key: "secret", session: "abc" });
 * const frames = s.pack(s.msg("execute_request", { content: { code: "1+1", silent: false } }));
 * const peer = new Session({ key: "secret" });
 * console.log(peer.unpack(frames).content); // { code: "1+1", silent: false }
 * ```
 */
export class Session {
  /** The session id: header `session`, and for engines their uuid. */
  readonly session: string;
  /** Header `username`. */
  readonly username: string;
  /** The signature scheme, e.g. `"hmac-sha256"`. */
  readonly signatureScheme: string;
  /** The pid written into msg_ids. */
  readonly pid: number;
  /** Maximum number of remembered signatures. */
  readonly digestHistorySize: number;

  readonly #hmac: Hmac | undefined;
  readonly #history: DigestHistory;
  readonly #clock: () => number;
  readonly #idPrefix: string;
  #counter = 0;

  /**
   * Creates a session, validating every option up front.
   *
   * @param options Key, scheme and identity of this session; all optional.
   * @throws {UnsupportedSchemeError} for a scheme other than `hmac-<md5|sha1|sha224|sha256|sha384|sha512>`,
   * or a packer/unpacker other than `"json"`.
   * @throws {InvalidOptionError} for an option of the wrong type or range.
   */
  constructor(options: SessionOptions = {}) {
    if (typeof options !== "object" || options === null) {
      throw new InvalidOptionError("options", "Session options must be an object");
    }
    const {
      key = "",
      signatureScheme = "hmac-sha256",
      username = "username",
      session = newId(),
      packer = "json",
      unpacker = "json",
      digestHistorySize = 65536,
      pid = (globalThis as { Deno?: { pid?: number } }).Deno?.pid ?? 0,
      clock = nowMs,
      random = Math.random,
    } = options;

    for (const [name, value] of [["packer", packer], ["unpacker", unpacker]] as const) {
      if (value !== "json") {
        throw new UnsupportedSchemeError(
          String(value),
          `Unsupported ${name} ${JSON.stringify(value)}: only "json" is supported ` +
            `(set "pack"/"unpack" to "json" in the connection file)`,
        );
      }
    }
    const match = typeof signatureScheme === "string"
      ? /^hmac-([a-z0-9]+)$/.exec(signatureScheme)
      : null;
    if (match === null || !Object.hasOwn(HASHES, match[1])) {
      throw new UnsupportedSchemeError(
        String(signatureScheme),
        `Unsupported signature scheme ${JSON.stringify(signatureScheme)}: use one of ` +
          Object.keys(HASHES).map((h) => `hmac-${h}`).join(", "),
      );
    }
    if (typeof key !== "string" && !(key instanceof Uint8Array)) {
      throw new InvalidOptionError("key", "key must be a string or a Uint8Array");
    }
    if (typeof session !== "string" || !SESSION_ID_RE.test(session)) {
      throw new InvalidOptionError(
        "session",
        `session must be a non-empty string of [A-Za-z0-9_-], got ${JSON.stringify(session)} ` +
          "(msg_ids are built from it; PROTOCOL.md §1.7)",
      );
    }
    if (typeof username !== "string") {
      throw new InvalidOptionError("username", "username must be a string");
    }
    if (!Number.isSafeInteger(digestHistorySize) || digestHistorySize < 0) {
      throw new InvalidOptionError(
        "digestHistorySize",
        `digestHistorySize must be a non-negative integer, got ${digestHistorySize}`,
      );
    }
    if (!Number.isSafeInteger(pid) || pid < 0) {
      throw new InvalidOptionError("pid", `pid must be a non-negative integer, got ${pid}`);
    }
    if (typeof clock !== "function" || typeof random !== "function") {
      throw new InvalidOptionError(
        typeof clock !== "function" ? "clock" : "random",
        "clock and random must be functions",
      );
    }

    const keyBytes = typeof key === "string" ? encoder.encode(key) : key.slice();
    this.session = session;
    this.username = username;
    this.signatureScheme = signatureScheme;
    this.pid = pid;
    this.digestHistorySize = digestHistorySize;
    this.#hmac = keyBytes.length > 0 ? new Hmac(match[1], keyBytes) : undefined;
    this.#history = new DigestHistory(digestHistorySize, random);
    this.#clock = clock;
    this.#idPrefix = `${session}_${pid}_`;
  }

  /** Whether this session signs and verifies (it has a non-empty key). */
  get signed(): boolean {
    return this.#hmac !== undefined;
  }

  /** How many signatures the replay guard currently remembers. */
  get historySize(): number {
    return this.#history.size;
  }

  /** Forgets every remembered signature. */
  clearHistory(): void {
    this.#history.clear();
  }

  /**
   * The next msg_id: `<session>_<pid>_<counter>`, counter from 0 (PROTOCOL.md §1.7).
   *
   * @returns A msg_id made of `[A-Za-z0-9_-]` only.
   */
  nextMsgId(): string {
    return this.#idPrefix + this.#counter++;
  }

  /**
   * A fresh header from this session (PROTOCOL.md §1.5), keys in Python's order.
   *
   * @param msgType The message type.
   * @returns The header.
   * @throws {MessageFormatError} `"bad-date"` if the clock returns an unusable time.
   */
  header<T extends string>(msgType: T): MessageHeader<T> {
    return {
      msg_id: this.#idPrefix + this.#counter++,
      msg_type: msgType,
      username: this.username,
      session: this.session,
      date: formatDate(this.#clock()),
      version: PROTOCOL_VERSION,
    };
  }

  /**
   * Builds a new message from this session (`Session.msg` in Python).
   *
   * @param msgType The message type.
   * @param options Content, parent, metadata, buffers, identities.
   * @returns The message, ready for {@link Session.pack}.
   * @throws {SerializationError} if a buffer or identity has an unusable type.
   * @example
   * ```ts
   * import { Session } from "./session.ts";
   * const s = new Session();
   * const m = s.msg("abort_request", { content: { msg_ids: [] } });
   * console.log(m.header.msg_type, m.parentHeader); // "abort_request" {}
   * ```
   */
  msg<T extends string>(msgType: T, options: MsgOptions<T> = {}): Message<T> {
    if (typeof options !== "object" || options === null) options = {};
    const header = options.header ?? this.header(msgType);
    const parent = options.parent;
    let parentHeader: ParentHeader = {};
    if (parent !== undefined && parent !== null) {
      const h = "header" in parent && isPlainObject(parent.header) ? parent.header : parent;
      parentHeader = { ...(h as ParentHeader) };
    }
    return {
      identities: (options.identities ?? []).map((id) => identityFrame(id)),
      msgId: header.msg_id,
      msgType: header.msg_type,
      header,
      parentHeader,
      metadata: options.metadata ?? ({} as MetadataOf<T>),
      content: options.content ?? ({} as ContentOf<T>),
      buffers: (options.buffers ?? []).map((b) => toFrame(b, "A buffer")),
    };
  }

  /**
   * Builds a reply to a request: parent = a copy of the request header, routing frames = the
   * request's (PROTOCOL.md §1.5, §6), header fresh from this session.
   *
   * @param request The request (an unpacked message, or anything with its header and identities).
   * @param options Reply type, content, metadata, buffers, identities.
   * @returns The reply, ready for {@link Session.pack}.
   * @throws {SerializationError} if a buffer or identity has an unusable type.
   * @example
   * ```ts
   * import { Session } from "./session.ts";
   * const s = new Session();
   * const request = s.msg("clear_request");
   * const reply = s.reply(request, { content: { status: "ok" } });
   * console.log(reply.msgType, reply.parentHeader.msg_id === request.msgId); // "clear_reply" true
   * ```
   */
  reply<T extends string = string>(
    request: { header: MessageHeader; identities?: readonly IdentityLike[] },
    options: ReplyOptions<T> = {},
  ): Message<T> {
    if (!isPlainObject(request) || !isPlainObject(request.header)) {
      throw new SerializationError(
        "reply() needs the request message (or an object with its header)",
      );
    }
    if (typeof options !== "object" || options === null) options = {};
    const msgType = options.msgType ?? (replyTypeFor(request.header.msg_type) as T);
    return this.msg(msgType, {
      content: options.content,
      metadata: options.metadata,
      buffers: options.buffers,
      parent: request.header,
      identities: options.identities ?? request.identities ?? [],
    });
  }

  /**
   * Signs the four JSON frames (PROTOCOL.md §1.3).
   *
   * @param parts header, parent_header, metadata and content, as bytes.
   * @returns The lowercase hex digest, or `""` for a session without a key.
   * @throws {MessageFormatError} `"too-few-frames"` unless `parts` holds four `Uint8Array`s.
   */
  sign(parts: readonly Uint8Array[]): string {
    if (
      !Array.isArray(parts) || parts.length !== 4 || !parts.every((p) => p instanceof Uint8Array)
    ) {
      throw new MessageFormatError("too-few-frames", "sign() takes exactly four Uint8Array frames");
    }
    return this.#hmac === undefined ? "" : this.#hmac.hex(parts, 0);
  }

  /**
   * Packs a message into multipart frames (PROTOCOL.md §1.1):
   *
   * ```text
   * [ ...identities,        routing or topic frames, as given
   *   "<IDS|MSG>",          the delimiter
   *   signature,            lowercase hex HMAC of the next four frames, or empty without a key
   *   header,               the four parts as compact UTF-8 JSON
   *   parent_header,
   *   metadata,
   *   content,
   *   ...buffers ]          binary frames, not signed, not copied
   * ```
   *
   * JSON is written by `JSON.stringify`: compact, non-ASCII literal, keys in insertion order.
   * Peers verify the bytes, so the spacing Python uses is not needed (PROTOCOL.md §1.3). NaN
   * and Infinity become `null`, never the invalid `NaN` token.
   *
   * Small frames may be views into a shared slab; send them, or `slice()` what you keep long.
   *
   * @param msg The message; `parentHeader`, `metadata` and `content` default to `{}`.
   * @returns The frames.
   * @throws {SerializationError} if a part is not a JSON-serializable object, or an identity
   * or buffer has an unusable type (or an identity equals the delimiter).
   * @example
   * ```ts
   * import { Session } from "./session.ts";
   * const s = new Session({ key: "k" });
   * const frames = s.pack(s.msg("status", { content: { execution_state: "idle" }, identities: ["engine.0.status"] }));
   * console.log(frames.length); // 7
   * ```
   */
  pack(msg: OutgoingMessage): Uint8Array[] {
    if (!isPlainObject(msg)) {
      throw new SerializationError(`A message must be an object, got ${describe(msg)}`);
    }
    const header = msg.header;
    if (
      !isPlainObject(header) || typeof header.msg_id !== "string" ||
      typeof header.msg_type !== "string"
    ) {
      throw new SerializationError("A message header must be an object with msg_id and msg_type");
    }
    const h = stringify(header, "header");
    const p = stringify(msg.parentHeader ?? {}, "parent header");
    const m = stringify(msg.metadata ?? {}, "metadata");
    const c = stringify(msg.content ?? {}, "content");

    const identities = msg.identities ?? [];
    const buffers = msg.buffers ?? [];
    if (!Array.isArray(identities) || !Array.isArray(buffers)) {
      throw new SerializationError("identities and buffers must be arrays");
    }
    const frames: Uint8Array[] = [];
    for (let i = 0; i < identities.length; i++) {
      const id = identityFrame(identities[i]);
      if (isDelimiter(id)) {
        throw new SerializationError(`An identity must not equal ${DELIMITER}`);
      }
      frames.push(id);
    }
    const sigAt = frames.length + 1;
    frames.push(encodeFrame(DELIMITER), EMPTY, encodeFrame(h), encodeFrame(p));
    frames.push(encodeFrame(m), encodeFrame(c));
    if (this.#hmac !== undefined) {
      frames[sigAt] = encodeFrame(this.#hmac.hex(frames, sigAt + 1));
    }
    for (let i = 0; i < buffers.length; i++) frames.push(toFrame(buffers[i], "A buffer"));
    return frames;
  }

  /**
   * Checks a message's signature without parsing any JSON, for relays that forward frames
   * verbatim (PROTOCOL.md §1.3, §1.4). A session without a key checks only the frame layout.
   *
   * @param frames The received frames.
   * @param options `replayGuard: false` to neither check nor remember the signature.
   * @returns The frames split at the delimiter.
   * @throws {MessageFormatError} `"bad-frames"`, `"no-delimiter"` or `"too-few-frames"`.
   * @throws {SignatureError} `"unsigned"`, `"invalid"` or `"duplicate"`.
   */
  verify(frames: readonly Uint8Array[], options: VerifyOptions = {}): SplitFrames {
    if (typeof options !== "object" || options === null) options = {};
    const d = this.#split(frames);
    this.#check(frames, d + 1, options.replayGuard !== false);
    return { identities: frames.slice(0, d), parts: frames.slice(d + 1) };
  }

  /**
   * Verifies and parses received frames (`Session.deserialize` in Python, PROTOCOL.md §1.11):
   * identities up to the first delimiter, then at least five frames; the signature checked
   * over the received bytes in constant time; header, parent header, metadata and content
   * parsed as JSON objects; the rest returned as buffers without copying.
   *
   * @param frames The received frames.
   * @param options `verify`, `replayGuard`, `raw`; see {@link UnpackOptions}.
   * @returns The message.
   * @throws {MessageFormatError} with `reason` `"bad-frames"`, `"no-delimiter"`,
   * `"too-few-frames"`, `"bad-json"`, `"not-object"` or `"bad-header"`.
   * @throws {SignatureError} with `reason` `"unsigned"`, `"invalid"` or `"duplicate"`.
   */
  unpack(frames: readonly Uint8Array[], options: UnpackOptions = {}): Message {
    if (typeof options !== "object" || options === null) options = {};
    const d = this.#split(frames);
    const at = d + 1;
    if (options.verify !== false) this.#check(frames, at, options.replayGuard !== false);
    const header = parsePart(frames[at + 1], "header");
    if (typeof header.msg_id !== "string" || typeof header.msg_type !== "string") {
      throw new MessageFormatError(
        "bad-header",
        "The header must have string msg_id and msg_type",
      );
    }
    const message: Message = {
      identities: frames.slice(0, d),
      msgId: header.msg_id,
      msgType: header.msg_type,
      header: header as MessageHeader,
      parentHeader: parsePart(frames[at + 2], "parent header") as ParentHeader,
      metadata: parsePart(frames[at + 3], "metadata"),
      content: parsePart(frames[at + 4], "content"),
      buffers: frames.slice(at + 5),
    };
    if (options.raw === true) {
      const raw: RawParts = {
        signature: frames[at],
        header: frames[at + 1],
        parentHeader: frames[at + 2],
        metadata: frames[at + 3],
        content: frames[at + 4],
      };
      message.raw = raw;
    }
    return message;
  }

  /** Index of the delimiter, after checking there are at least five frames after it. */
  #split(frames: readonly Uint8Array[]): number {
    const d = delimiterIndex(frames);
    if (frames.length - d - 1 < 5) {
      throw new MessageFormatError(
        "too-few-frames",
        `A message needs at least 5 frames after ${DELIMITER}, got ${frames.length - d - 1}`,
      );
    }
    return d;
  }

  /** Signature checks of PROTOCOL.md §1.3/§1.4; `at` is the index of the signature frame. */
  #check(frames: readonly Uint8Array[], at: number, replayGuard: boolean): void {
    const hmac = this.#hmac;
    if (hmac === undefined) return;
    const signature = frames[at];
    if (signature.length === 0) {
      throw new SignatureError("unsigned", "Unsigned message: the signature frame is empty");
    }
    let expected: string;
    try {
      expected = hmac.hex(frames, at + 1);
    } catch (e) {
      // Not expected from node:crypto on valid Uint8Arrays; keep the typed-error promise.
      if (e instanceof IppError) throw e;
      throw new SignatureError("invalid", `Could not compute the signature: ${e}`);
    }
    if (!hmac.matches(expected, signature)) {
      throw new SignatureError("invalid", "Invalid signature: the HMAC does not match");
    }
    if (!replayGuard) return;
    if (this.#history.has(expected)) {
      throw new SignatureError("duplicate", `Duplicate signature ${expected} (replayed message)`);
    }
    this.#history.add(expected);
  }
}

function identityFrame(id: unknown): Uint8Array {
  if (typeof id === "string") return encodeFrame(id);
  return toFrame(id, "An identity");
}
