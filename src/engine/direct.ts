/**
 * The engine's end of the same-host direct path (`src/protocol/messages/direct.ts`): a second
 * shell ROUTER, bound on a loopback port, that a client of ours on this host sends its
 * direct-view requests to; and the copies of what it served, sent to the Hub in batches so the
 * Hub's task records stay whole.
 *
 * Requests read here join the same shell queue as those from the MUX, and are answered on this
 * socket. Each request is recorded as it arrives and each reply as it is sent; the records go
 * to the Hub on a DEALER of their own (to the registration endpoint) at most
 * {@linkcode RECORD_FLUSH_MS} later, in one message per batch, in order. A message with a
 * buffer of at least the Hub's `bufferLimit` is copied without its buffers, as the
 * controller's relays leave streamed frames out of its records.
 *
 * @module
 */

import { delimiterIndex } from "../protocol/frames.ts";
import {
  DIRECT_ADDRESS,
  DIRECT_RECORDS,
  type DirectRecordsContent,
} from "../protocol/messages/direct.ts";
import type { Session } from "../protocol/session.ts";
import { createSocket, type Socket } from "../zmtp/mod.ts";
import type { Logger } from "./log.ts";

/**
 * Milliseconds a record may wait for the rest of its batch. Each batch wakes the controller:
 * sending one per reply (or before each next request) made a direct call ~100 µs slower here
 * than batches of 5 ms (interleaved, 2 vCPUs shared by three processes).
 */
export const RECORD_FLUSH_MS = 5;

/** Options of {@linkcode DirectServer.start}. */
export interface DirectServerOptions {
  /** The engine's session (signs the batches; its id is the engine uuid). */
  session: Session;
  /** The Hub's registration endpoint. */
  registration: string;
  /** This host's identity (`hostIdentity()`). */
  host: string;
  /** Messages with a buffer of at least this many bytes are recorded without buffers (0: none). */
  bufferLimit: number;
  /** Where trouble is reported. */
  log: Logger;
}

type Kind = "request" | "reply";

/** The direct listener and the Hub's copies of what it served. */
export class DirectServer {
  /** The loopback shell ROUTER (replies to its requests go back on it). */
  readonly socket: Socket;
  /** Where it listens. */
  readonly url: string;
  readonly #o: DirectServerOptions;
  readonly #hub: Socket;
  #records: DirectRecordsContent["records"] = [];
  #parts: Uint8Array[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;

  private constructor(o: DirectServerOptions, socket: Socket, url: string, hub: Socket) {
    this.#o = o;
    this.socket = socket;
    this.url = url;
    this.#hub = hub;
  }

  /**
   * Bind the listener and tell the Hub where it is.
   * @param o Session, Hub endpoint, host identity, logger.
   * @returns The server.
   */
  static async start(o: DirectServerOptions): Promise<DirectServer> {
    const uuid = o.session.session;
    const socket = createSocket("ROUTER", {
      identity: uuid,
      sendHwm: 0,
      receiveHwm: 0,
      onProtocolError: (reason, peer) =>
        o.log.warn(`direct connection from ${peer} dropped: ${reason}`),
    });
    const url = await socket.bind("tcp://127.0.0.1:0");
    const hub = createSocket("DEALER", {
      sendHwm: 0,
      onProtocolError: (reason, peer) =>
        o.log.warn(`Hub connection (direct records) to ${peer} dropped: ${reason}`),
    });
    hub.connect(o.registration);
    const server = new DirectServer(o, socket, url, hub);
    const frames = server.#pack(DIRECT_ADDRESS, { uuid, url, host: o.host });
    if (frames !== undefined) server.#write(DIRECT_ADDRESS, frames);
    return server;
  }

  /**
   * Keep a copy of a request read on {@linkcode DirectServer.socket}.
   * @param frames The frames as received (routing id, delimiter, signature, parts).
   */
  recordRequest(frames: readonly Uint8Array[]): void {
    this.#record("request", frames);
  }

  /**
   * Keep a copy of a reply sent on {@linkcode DirectServer.socket}.
   * @param frames The frames as sent.
   */
  recordReply(frames: readonly Uint8Array[]): void {
    this.#record("reply", frames);
  }

  /**
   * Send what is recorded, stop listening and close both sockets.
   * @param lingerMs Milliseconds to flush queued messages.
   */
  async close(lingerMs: number): Promise<void> {
    this.#flush();
    await Promise.all([
      this.socket.close({ linger: lingerMs }),
      this.#hub.close({ linger: lingerMs }),
    ]);
  }

  #record(kind: Kind, frames: readonly Uint8Array[]): void {
    const d = delimiterIndex(frames); // verified or built here: it has one
    // Delimiter, signature, then header, parent header, metadata, content, buffers.
    const first = d + 2;
    if (frames.length < first + 4) return;
    const limit = this.#o.bufferLimit;
    let end = frames.length;
    for (let i = first + 4; i < frames.length; i++) {
      if (limit > 0 && frames[i].byteLength >= limit) {
        end = first + 4;
        break;
      }
    }
    for (let i = first; i < end; i++) this.#parts.push(frames[i]);
    this.#records.push([kind, end - first, end < frames.length]);
    this.#timer ??= setTimeout(() => this.#flush(), RECORD_FLUSH_MS);
  }

  /**
   * Hand what is recorded to `post` instead of waiting for this thread's next turn: user code
   * holds the thread (a long synchronous request), and the main thread sends it to the Hub.
   * @param post Takes the packed `direct_records` message.
   */
  handOff(post: (frames: Uint8Array[]) => void): void {
    if (this.#records.length === 0) return;
    const frames = this.#batch();
    if (frames !== undefined) post(frames);
  }

  #flush(): void {
    if (this.#records.length === 0) return;
    const frames = this.#batch();
    if (frames !== undefined) this.#write(DIRECT_RECORDS, frames);
  }

  /** The recorded batch, packed; the records are taken. */
  #batch(): Uint8Array[] | undefined {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    const content: DirectRecordsContent = { uuid: this.#o.session.session, records: this.#records };
    const buffers = this.#parts;
    this.#records = [];
    this.#parts = [];
    return this.#pack(DIRECT_RECORDS, content as unknown as Record<string, unknown>, buffers);
  }

  #pack(msgType: string, content: Record<string, unknown>, buffers?: Uint8Array[]) {
    const s = this.#o.session;
    try {
      return s.pack(s.msg(msgType, { content, buffers }));
    } catch (e) {
      this.#o.log.error(`cannot pack ${msgType}: ${e}`);
      return undefined;
    }
  }

  #write(msgType: string, frames: Uint8Array[]): void {
    this.#hub.send(frames).catch((e) => {
      if (!this.#hub.closed) this.#o.log.warn(`${msgType} not sent to the Hub: ${e}`);
    });
  }
}
