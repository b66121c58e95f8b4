/**
 * Reply building blocks shared by the shell and control handlers: reply metadata
 * (PROTOCOL.md §6.3), error content (§6.4), `kernel_info_reply` (§6.5.5), and sending a
 * reply back on the socket and routing frames its request came with (§6).
 *
 * @module
 */

import { type Message, PROTOCOL_VERSION } from "../protocol/messages.ts";
import { DELIMITER, encodeFrame, stringify } from "../protocol/frames.ts";
import { formatDate, nowMs } from "../protocol/session.ts";
import type { BufferLike, Session } from "../protocol/session.ts";
import type { Socket } from "../zmtp/mod.ts";
import type { Logger } from "./log.ts";

/** The engine's identity as it appears in replies. */
export interface EngineIdentity {
  /** The engine uuid (= session id). */
  uuid: string;
  /** The engine id the Hub assigned. */
  id: number;
}

/** What an engine handler needs to answer requests. */
export interface ReplyContext {
  /** The engine session. */
  session: Session;
  /** Who we are. */
  engine: EngineIdentity;
  /** Logger. */
  log: Logger;
  /** Told of each reply once queued on its socket (the direct path's records). */
  sent?: (socket: Socket, frames: Uint8Array[]) => void;
}

/** Reply `status` values. */
export type ReplyStatus = "ok" | "error" | "aborted";

/**
 * The current time as a header date (for `metadata.started`).
 * @returns e.g. `2026-11-29T12:06:23.967757Z`.
 */
export function now(): string {
  return formatDate(nowMs());
}

/**
 * Reply metadata of `execute_reply` / `apply_reply` (PROTOCOL.md §6.3): `started`,
 * `dependencies_met`, `engine`, the broadcast flags and `original_msg_id` copied from the
 * request metadata, `status` (mandatory: the Python task scheduler drops replies without
 * it), and `engine_info` on errors.
 *
 * @param request The request.
 * @param engine Who we are.
 * @param started When the request started (header date form).
 * @param status The reply status.
 * @returns The metadata object.
 */
export function replyMetadata(
  request: Message,
  engine: EngineIdentity,
  started: string,
  status: ReplyStatus,
): Record<string, unknown> {
  const m = (request.metadata ?? {}) as Record<string, unknown>;
  const md: Record<string, unknown> = {
    started,
    dependencies_met: true,
    engine: engine.uuid,
    is_broadcast: m.is_broadcast ?? false,
    is_coalescing: m.is_coalescing ?? false,
    original_msg_id: m.original_msg_id ?? "",
    status,
  };
  if (status === "error") md.engine_info = { engine_uuid: engine.uuid, engine_id: engine.id };
  return md;
}

/**
 * `engine_info` for error content (§6.4). Unlike Python engines (which send -1, §10 #4) we
 * send our real id.
 *
 * @param engine Who we are.
 * @param method `"execute"` or `"apply"`.
 * @returns The dict.
 */
export function engineInfo(engine: EngineIdentity, method: string): Record<string, unknown> {
  return { engine_uuid: engine.uuid, engine_id: engine.id, method };
}

/**
 * Error content for a failure of the engine itself (not of user code).
 *
 * @param ename Exception name.
 * @param evalue Message.
 * @returns `{status: "error", ename, evalue, traceback}`.
 */
export function errorContent(ename: string, evalue: string): Record<string, unknown> {
  return { status: "error", ename, evalue, traceback: [`${ename}: ${evalue}`] };
}

/**
 * The reply type of a request type: `x_request` → `x_reply` (anything else gets `_reply`
 * appended).
 *
 * @param msgType The request type.
 * @returns The reply type.
 */
export function replyType(msgType: string): string {
  return msgType.endsWith("_request") ? `${msgType.slice(0, -8)}_reply` : `${msgType}_reply`;
}

/**
 * Send a reply on the socket the request came from, with exactly its routing frames
 * (PROTOCOL.md §6), the request header as parent, a fresh header from our session.
 *
 * @param ctx Session and logger.
 * @param socket The socket the request arrived on.
 * @param request The request.
 * @param reply Content, metadata, buffers, and the reply type (default {@link replyType}).
 */
export function sendReply(
  ctx: ReplyContext,
  socket: Socket,
  request: Message,
  reply: {
    msgType?: string;
    content: Record<string, unknown>;
    metadata?: Record<string, unknown>;
    buffers?: readonly BufferLike[];
  },
): void {
  const s = ctx.session;
  let frames: Uint8Array[];
  try {
    frames = s.pack(s.msg(reply.msgType ?? replyType(request.msgType), {
      identities: request.identities,
      parent: request.header,
      content: reply.content,
      metadata: reply.metadata ?? { engine: ctx.engine.uuid },
      buffers: reply.buffers,
    }));
  } catch (e) {
    ctx.log.error(`cannot pack the reply to ${request.msgType} ${request.msgId}: ${e}`);
    return;
  }
  socket.send(frames).catch((e) => {
    if (!socket.closed) ctx.log.warn(`reply to ${request.msgId} not sent: ${e}`);
  });
  ctx.sent?.(socket, frames);
}

/**
 * A lean packer for the engine's hot path (busy, idle and reply of every request): the same
 * frames as `Session.pack(Session.msg(...))` — header keys in Python's order, HMAC over the
 * four JSON parts — but parts that are already bytes are used as they are. The parent header
 * is the request's own header frame, reused verbatim (no parse/stringify round trip), and
 * constant parts (status contents, `{"engine": uuid}`, topics) are encoded once.
 */
export class FastPacker {
  readonly #session: Session;
  readonly #tail: string;
  readonly #typeBytes = new Map<string, Uint8Array>();
  /** Small frames are carved from this slab (frames are never written after they are built). */
  #slab = new Uint8Array(SLAB_SIZE);
  #slabAt = 0;
  /** The delimiter frame (frames are never written after they are built: safe to share). */
  static readonly DELIMITER: Uint8Array = new TextEncoder().encode(DELIMITER);

  /**
   * A packer writing headers from `session` (same msg_id counter, username and session id).
   * @param session The engine session.
   */
  constructor(session: Session) {
    this.#session = session;
    this.#tail = `,"username":${JSON.stringify(session.username)},"session":${
      JSON.stringify(session.session)
    },"date":"`;
  }

  /**
   * A fresh header as UTF-8 JSON bytes, byte for byte what `JSON.stringify(session.header(t))`
   * gives: the constant middle part (type, username, session) is encoded once per message
   * type; the msg_id (`[A-Za-z0-9_-]`) and the date (digits and punctuation) are ASCII and
   * copied in char by char, with no string concatenation or `TextEncoder` call per message.
   * @param msgType The message type.
   * @returns The header frame.
   */
  headerBytes(msgType: string): Uint8Array {
    let mid = this.#typeBytes.get(msgType);
    if (mid === undefined) {
      mid = new TextEncoder().encode(`","msg_type":${JSON.stringify(msgType)}${this.#tail}`);
      this.#typeBytes.set(msgType, mid);
    }
    const id = this.#session.nextMsgId();
    const date = formatDate(nowMs());
    const n = HEAD.length + id.length + mid.length + date.length + TAIL.length;
    const out = this.#take(n);
    out.set(HEAD, 0);
    let at = ascii(out, HEAD.length, id);
    out.set(mid, at);
    at = ascii(out, at + mid.length, date);
    out.set(TAIL, at);
    return out;
  }

  /**
   * Signed frames of a new message.
   * @param identities Routing or topic frames.
   * @param msgType The message type.
   * @param parent The parent header's JSON bytes (e.g. the request's raw header frame).
   * @param metadata Metadata JSON bytes, or an object to stringify.
   * @param content Content JSON bytes, or an object to stringify.
   * @param buffers Binary frames, appended as they are.
   * @returns The frames, ready for `Socket.send`.
   */
  pack(
    identities: readonly Uint8Array[],
    msgType: string,
    parent: Uint8Array,
    metadata: Uint8Array | Record<string, unknown>,
    content: Uint8Array | Record<string, unknown>,
    buffers?: readonly Uint8Array[],
  ): Uint8Array[] {
    const h = this.headerBytes(msgType);
    const m = metadata instanceof Uint8Array
      ? metadata
      : encodeFrame(stringify(metadata, "metadata"));
    const c = content instanceof Uint8Array ? content : encodeFrame(stringify(content, "content"));
    const s = this.#session;
    let sig: Uint8Array = EMPTY;
    if (s.signed) {
      sig = this.#take(s.signatureLength);
      s.signInto([h, parent, m, c], sig);
    }
    const frames = identities.slice() as Uint8Array[];
    frames.push(FastPacker.DELIMITER, sig, h, parent, m, c);
    if (buffers !== undefined) { for (let i = 0; i < buffers.length; i++) frames.push(buffers[i]); }
    return frames;
  }

  /** `n` fresh bytes carved from the slab (a new slab when it is full). */
  #take(n: number): Uint8Array {
    if (n > SLAB_SIZE >>> 3) return new Uint8Array(n);
    if (this.#slabAt + n > SLAB_SIZE) {
      this.#slab = new Uint8Array(SLAB_SIZE);
      this.#slabAt = 0;
    }
    const at = this.#slabAt;
    this.#slabAt = at + n;
    return this.#slab.subarray(at, at + n);
  }
}

const SLAB_SIZE = 64 * 1024;
const HEAD = new TextEncoder().encode('{"msg_id":"');
const TAIL = new TextEncoder().encode(`","version":"${PROTOCOL_VERSION}"}`);

/** Write an ASCII string's chars at `at`; returns the offset after them. */
function ascii(out: Uint8Array, at: number, text: string): number {
  for (let i = 0; i < text.length; i++) out[at++] = text.charCodeAt(i);
  return at;
}

const EMPTY = new Uint8Array(0);

/**
 * The request's header as JSON bytes for a parent header: its raw frame when the message was
 * unpacked with `raw: true`, else the header stringified.
 * @param request The request.
 * @returns JSON bytes of the request header.
 */
export function parentBytes(request: Message): Uint8Array {
  return request.raw?.header ?? encodeFrame(JSON.stringify(request.header));
}

/**
 * Send a reply with {@link FastPacker}: same frames as {@link sendReply}, with the request's
 * header bytes as parent.
 *
 * @param ctx Session and logger.
 * @param packer The engine's packer.
 * @param socket The socket the request arrived on.
 * @param request The request.
 * @param parent The request header's JSON bytes ({@link parentBytes}).
 * @param metadata Reply metadata (object or JSON bytes).
 * @param content Reply content (object or JSON bytes).
 * @param buffers Reply buffers.
 */
export function sendReplyFast(
  ctx: ReplyContext,
  packer: FastPacker,
  socket: Socket,
  request: Message,
  parent: Uint8Array,
  metadata: Uint8Array | Record<string, unknown>,
  content: Uint8Array | Record<string, unknown>,
  buffers?: readonly Uint8Array[],
): void {
  let frames: Uint8Array[];
  try {
    frames = packer.pack(
      request.identities,
      replyType(request.msgType),
      parent,
      metadata,
      content,
      buffers,
    );
  } catch (e) {
    ctx.log.error(`cannot pack the reply to ${request.msgType} ${request.msgId}: ${e}`);
    return;
  }
  socket.send(frames).catch((e) => {
    if (!socket.closed) ctx.log.warn(`reply to ${request.msgId} not sent: ${e}`);
  });
  ctx.sent?.(socket, frames);
}

/** The engine's implementation version, reported in `kernel_info_reply`. */
export const IMPLEMENTATION_VERSION = "0.1.0";

/**
 * `kernel_info_reply` content (PROTOCOL.md §6.5.5): a JavaScript/TypeScript kernel,
 * implementation `ipp-deno`.
 *
 * @param typescript Whether cells are treated as TypeScript.
 * @returns The content.
 */
export function kernelInfoContent(typescript: boolean): Record<string, unknown> {
  const language_info = typescript
    ? {
      name: "typescript",
      version: Deno.version.typescript,
      mimetype: "text/typescript",
      file_extension: ".ts",
    }
    : {
      name: "javascript",
      version: Deno.version.v8,
      mimetype: "text/javascript",
      file_extension: ".js",
    };
  return {
    status: "ok",
    protocol_version: "5.3",
    implementation: "ipp-deno",
    implementation_version: IMPLEMENTATION_VERSION,
    language_info,
    banner: `ipp-deno engine ${IMPLEMENTATION_VERSION} (Deno ${Deno.version.deno}, ` +
      `V8 ${Deno.version.v8}, TypeScript ${Deno.version.typescript})`,
    help_links: [],
  };
}
