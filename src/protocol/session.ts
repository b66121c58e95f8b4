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
  type Message,
  type MessageHeader,
  type MetadataOf,
  type ParentHeader,
  PROTOCOL_VERSION,
  type RawParts,
  replyTypeFor,
} from "./messages.ts";
import { formatDate, nowMs } from "./dates.ts";
import { newId, SESSION_ID_RE } from "./ids.ts";
import { HASHES, Hmac } from "./hmac.ts";
import { DigestHistory } from "./replay_guard.ts";
import {
  copyFrame,
  DELIMITER,
  delimiterIndex,
  describe,
  encodeFrame,
  identityFrame,
  type IdentityLike,
  isDelimiter,
  isPlainObject,
  parsePart,
  type SplitFrames,
  stringify,
  toFrame,
} from "./frames.ts";
import type {
  MsgOptions,
  OutgoingMessage,
  ReplyOptions,
  SessionOptions,
  UnpackOptions,
  VerifyOptions,
} from "./session_options.ts";

export { formatDate, nowMs, parseDate, parseDateMs } from "./dates.ts";
export { newId } from "./ids.ts";
export { DELIMITER, splitIdentities } from "./frames.ts";
export { peekMsgType } from "./peek.ts";
export type { BufferLike, IdentityLike, SplitFrames } from "./frames.ts";
export type {
  MsgOptions,
  OutgoingMessage,
  ReplyOptions,
  SessionOptions,
  UnpackOptions,
  VerifyOptions,
} from "./session_options.ts";

const encoder = new TextEncoder();
const EMPTY = new Uint8Array(0);

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
    this.#history = new DigestHistory(digestHistorySize);
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

  /** Bytes in this session's signature frames: the hex digest's length, or 0 without a key. */
  get signatureLength(): number {
    return this.#hmac === undefined ? 0 : this.#hmac.hexLength;
  }

  /**
   * {@linkcode Session.sign} into bytes: writes the signature frame's ASCII into `out` at `at`
   * ({@linkcode Session.signatureLength} bytes; nothing without a key), making no string.
   *
   * @param parts header, parent_header, metadata and content, as bytes (unchecked: for
   * callers that built them).
   * @param out Where the signature goes.
   * @param at Its offset in `out`.
   */
  signInto(parts: readonly Uint8Array[], out: Uint8Array, at = 0): void {
    const hmac = this.#hmac;
    if (hmac === undefined) return;
    hmac.compute(parts, 0);
    out.set(hmac.digestHex, at);
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
    const hmac = this.#hmac;
    if (hmac !== undefined) {
      hmac.compute(frames, sigAt + 1);
      frames[sigAt] = copyFrame(hmac.digestHex);
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
    try {
      hmac.compute(frames, at + 1);
    } catch (e) {
      // Not expected from node:crypto or OpenSSL on valid Uint8Arrays; keep the typed-error
      // promise.
      if (e instanceof IppError) throw e;
      throw new SignatureError("invalid", `Could not compute the signature: ${e}`);
    }
    if (!hmac.matches(signature)) {
      throw new SignatureError("invalid", "Invalid signature: the HMAC does not match");
    }
    if (!replayGuard) return;
    if (!this.#history.admit(hmac.digestHex)) {
      const expected = new TextDecoder().decode(hmac.digestHex);
      throw new SignatureError("duplicate", `Duplicate signature ${expected} (replayed message)`);
    }
  }
}
