/**
 * The options and input shapes of {@linkcode Session} (PROTOCOL.md §1).
 *
 * @module
 */

import type { ContentOf, MessageHeader, MetadataOf, ParentHeader } from "./messages.ts";
import type { BufferLike, IdentityLike } from "./frames.ts";

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
   * How many accepted signatures the replay guard remembers at most (PROTOCOL.md §1.4).
   * Default 65,536. The most recent half is always remembered; older ones are forgotten a half
   * at a time. `0` = remember none.
   */
  digestHistorySize?: number;
  /** The pid in msg_ids. Default `Deno.pid`. */
  pid?: number;
  /** Clock for header dates, in epoch milliseconds (fractional = microseconds). Default {@link nowMs}. */
  clock?: () => number;
  /**
   * A random source in [0, 1). Accepted (and checked to be a function) for compatibility; the
   * replay guard no longer culls at random, so nothing uses it.
   */
  random?: () => number;
}

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
