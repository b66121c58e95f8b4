/**
 * The engine's end of the same-host direct path (`src/protocol/messages/direct.ts`): a second
 * shell ROUTER, bound on a loopback port and (where it can) a Unix socket, that a client of
 * ours on this host sends its direct-view requests to; and the copies of what it served, sent
 * to the Hub in batches so the Hub's task records stay whole.
 *
 * Requests read here join the same shell queue as those from the MUX, and are answered on this
 * socket. Each request is recorded as it arrives and each reply as it is sent, into a block of
 * shared memory (`kernel/record_block.ts`); the records go to the Hub on a DEALER of their own
 * (to the registration endpoint) in one message per batch, in order: when the Hub asks for them
 * (`direct_flush`: a query waits for them), or else at most {@linkcode RECORD_FLUSH_MS} after
 * the first. While user code holds the worker, the engine's main thread takes them from the
 * block and sends them instead ({@linkcode packRecords}). A message with a buffer of at
 * least the Hub's `bufferLimit` is copied without its buffers, as the controller's relays leave
 * streamed frames out of its records.
 *
 * @module
 */

import { delimiterIndex } from "../protocol/frames.ts";
import {
  DIRECT_ADDRESS,
  DIRECT_FLUSH,
  DIRECT_RECORDS,
  directIpcPath,
  type DirectRecordsContent,
} from "../protocol/messages/direct.ts";
import { type DirectRecord, encodeRecords } from "../protocol/messages/direct_records.ts";
import type { Session } from "../protocol/session.ts";
import { createSocket, type Socket } from "../zmtp/mod.ts";
import { splitIpcAvailable, splitWritePath } from "../zmtp/split_ipc.ts";
import type { RecordBatch, RecordBlock } from "./kernel/record_block.ts";
import type { Logger } from "./log.ts";
import { sweepStaleSockets } from "./stale_sockets.ts";

/**
 * Milliseconds a record may wait for the rest of its batch when the Hub does not ask for it.
 * Each batch wakes the controller, and the two vCPUs here are shared by three processes: a
 * batch per reply made a direct call ~100 µs slower than batches of 5 ms, and batches of 100 ms
 * took another ~8 % off it (medians of 500-call blocks, interleaved). A query waiting for the
 * records asks for them (`direct_flush`), so only another client's read can be this late.
 */
export const RECORD_FLUSH_MS = 100;

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
  /** Where records wait (shared with the engine's main thread). */
  block: RecordBlock;
  /** Where trouble is reported. */
  log: Logger;
  /** Milliseconds records wait unasked (default {@linkcode RECORD_FLUSH_MS}). */
  flushMs?: number;
}

/**
 * A `direct_records` message of an engine.
 * @param session The engine's session (either thread's: same key, same uuid).
 * @param batch The records, in order, in the batch layout.
 * @returns The packed message.
 */
export function packRecords(session: Session, batch: RecordBatch): Uint8Array[] {
  const content: DirectRecordsContent = { uuid: session.session, records: batch.count };
  const buffers = [batch.bytes, ...batch.external ?? []];
  return session.pack(session.msg(DIRECT_RECORDS, { content: { ...content }, buffers }));
}

/**
 * Binds the listener to a Unix socket too, readable and writable by this user only; a client
 * that can reach it uses it instead of the loopback port (the kernel's path is shorter: ~5–15
 * µs less CPU per message on each side here). With the FFI permission, also to a split Unix
 * socket pair (`ipcs`, `split_ipc.ts`), which a client with that permission prefers.
 * @returns Its endpoints (none when there are none: the loopback port still serves).
 */
async function bindIpc(
  socket: Socket,
  uuid: string,
  log: Logger,
): Promise<{ ipc?: string; ipcs?: string }> {
  const path = directIpcPath(uuid);
  if (path === null) return {};
  const out: { ipc?: string; ipcs?: string } = {};
  try {
    out.ipc = await socket.bind(`ipc://${path}`);
    Deno.chmodSync(path, 0o600);
    // Not waited for: a slow look elsewhere must not hold up the engine.
    void sweepStaleSockets(path.slice(0, path.lastIndexOf("/")), log);
  } catch (e) {
    log.debug(`direct path: no Unix socket at ${path} (${(e as Error).message})`);
    return out;
  }
  if (!splitIpcAvailable()) return out;
  const split = `${path.slice(0, -".sock".length)}.s.sock`;
  try {
    out.ipcs = await socket.bind(`ipcs://${split}`);
    for (const p of [split, splitWritePath(split)]) Deno.chmodSync(p, 0o600);
  } catch (e) {
    log.debug(`direct path: no split Unix socket at ${split} (${(e as Error).message})`);
  }
  return out;
}

/** The direct listener and the Hub's copies of what it served. */
export class DirectServer {
  /** The shell ROUTER on the loopback port and Unix socket (replies go back on it). */
  readonly socket: Socket;
  readonly #o: DirectServerOptions;
  readonly #hub: Socket;
  #timer: ReturnType<typeof setTimeout> | undefined;

  private constructor(o: DirectServerOptions, socket: Socket, hub: Socket) {
    this.#o = o;
    this.socket = socket;
    this.#hub = hub;
  }

  /**
   * Bind the listener and tell the Hub where it is.
   * @param o Session, Hub endpoint, host identity, record block, logger.
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
    const { ipc, ipcs } = await bindIpc(socket, uuid, o.log);
    const hub = createSocket("DEALER", {
      sendHwm: 0,
      onProtocolError: (reason, peer) =>
        o.log.warn(`Hub connection (direct records) to ${peer} dropped: ${reason}`),
    });
    hub.connect(o.registration);
    const server = new DirectServer(o, socket, hub);
    const s = o.session;
    server.#write(
      DIRECT_ADDRESS,
      () => s.pack(s.msg(DIRECT_ADDRESS, { content: { uuid, url, host: o.host, ipc, ipcs } })),
    );
    // Records left by a worker that stopped before sending them.
    if (o.block.count > 0) server.#schedule();
    void server.#listen();
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

  #record(kind: DirectRecord["kind"], frames: readonly Uint8Array[]): void {
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
    // Copied into the block: a reply buffer that is the user's own memory may change later.
    const record: DirectRecord = {
      kind,
      streamed: end < frames.length,
      parts: frames.slice(first, end),
    };
    const block = this.#o.block;
    if (!block.append(record)) {
      this.#flush();
      if (!block.append(record)) {
        // Larger than the whole block: on its own, now (this thread is free: it is recording),
        // its large parts not copied.
        const external: Uint8Array[] = [];
        const batch = { bytes: encodeRecords([record], external), count: 1, external };
        this.#write(DIRECT_RECORDS, () => packRecords(this.#o.session, batch));
        return;
      }
    }
    this.#schedule();
  }

  /** Reads the Hub's requests: `direct_flush` sends the records now. */
  async #listen(): Promise<void> {
    const hub = this.#hub;
    try {
      for await (const frames of hub) {
        let msgType: string;
        try {
          msgType = this.#o.session.unpack(frames).msgType;
        } catch (e) {
          this.#o.log.warn(`dropped a bad message from the Hub (direct records): ${e}`);
          continue;
        }
        if (msgType === DIRECT_FLUSH) this.#flush();
      }
    } catch (e) {
      if (!hub.closed) this.#o.log.warn(`Hub connection (direct records) failed: ${e}`);
    }
  }

  #schedule(): void {
    this.#timer ??= setTimeout(() => this.#flush(), this.#o.flushMs ?? RECORD_FLUSH_MS);
  }

  #flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const batch = this.#o.block.take(true);
    if (batch !== undefined) {
      this.#write(DIRECT_RECORDS, () => packRecords(this.#o.session, batch));
    }
  }

  #write(msgType: string, pack: () => Uint8Array[]): void {
    let frames: Uint8Array[];
    try {
      frames = pack();
    } catch (e) {
      this.#o.log.error(`cannot pack ${msgType}: ${e}`);
      return;
    }
    this.#hub.send(frames).catch((e) => {
      if (!this.#hub.closed) this.#o.log.warn(`${msgType} not sent to the Hub: ${e}`);
    });
  }
}
