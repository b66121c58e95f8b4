/**
 * {@link ClientSockets}: the client's seven sockets (PROTOCOL.md §3.1, §11.3) and their reader
 * loops. Each received multipart message is verified and decoded once by the client's
 * `Session` and handed to one callback per channel (the Client wires them to its
 * `MessageRouter`). Anything wrong with a message — bad signature, replayed signature,
 * missing delimiter, a handler that throws — becomes one log line; a reader never stops on
 * bad input, only when its socket closes.
 *
 * Channels and socket types (all connect; the controller binds):
 *
 * | channel | socket | frames before DELIM |
 * | --- | --- | --- |
 * | `registration` | DEALER | none (Hub queries, §5) |
 * | `mux`, `control` | DEALER | `[engine_uuid]` on send and receive (§3.3) |
 * | `task`, `broadcast` | DEALER | none on send; `[engine_uuid]` or none on receive (§3.5.2) |
 * | `iopub`, `notification` | SUB, subscribed to everything | topic / none |
 *
 * With `direct`, MUX requests to same-host engines of ours go straight to them when
 * {@link DirectRoutes} can (a ROUTER connected to each engine; its replies are read as `mux`).
 *
 * @module
 */

import type { Session, UnpackOptions } from "../protocol/session.ts";
import { createSocket } from "../zmtp/mod.ts";
import type { Frames, Socket } from "../zmtp/mod.ts";
import type { ClientUrls } from "../protocol/connection.ts";
import type { IncomingMessage } from "./messages.ts";
import { keyBytes, type Peeked, peekStrings } from "../protocol/peek.ts";
import { DirectRoutes } from "./direct_routes.ts";

/** The client's channels. */
export type Channel =
  | "registration"
  | "mux"
  | "task"
  | "control"
  | "broadcast"
  | "iopub"
  | "notification";

/** The channels the client sends on. */
export type SendChannel = "registration" | "mux" | "task" | "control" | "broadcast";

/** A log sink: `level` is `"debug"`, `"warn"` or `"error"`. */
export type Logger = (level: "debug" | "warn" | "error", message: string) => void;

/** The default logger: warnings and errors to the console, debug lines dropped. */
export const consoleLogger: Logger = (level, message) => {
  if (level === "error") console.error(`[ipp client] ${message}`);
  else if (level === "warn") console.warn(`[ipp client] ${message}`);
};

/** Like {@link consoleLogger}, and debug lines to `console.debug` (the `debug` option). */
export const debugLogger: Logger = (level, message) => {
  if (level === "debug") console.debug(`[ipp client] ${message}`);
  else consoleLogger(level, message);
};

/** Options of {@link ClientSockets}. */
export interface ClientSocketsOptions {
  /** Verifies and decodes received messages. */
  session: Session;
  /** Channel URLs from the connection file. */
  urls: ClientUrls;
  /** Called with each decoded message of a channel. */
  onMessage: (channel: Channel, msg: IncomingMessage) => void;
  /**
   * Called instead of `onMessage` for an IOPub `status` (two per task) with the only fields the
   * client reads of it; each is `null` when absent or not a string. Without it, `status` goes
   * to `onMessage` like any message.
   */
  onStatus?: (
    parentMsgId: Peeked,
    parentSession: Peeked,
    engine: Peeked,
    executionState: Peeked,
  ) => void;
  /** Where bad input and (with `debug`) traffic are reported. */
  log: Logger;
  /** Log every message sent and received (at level `"debug"`). */
  debug?: boolean;
  /** Send MUX requests straight to same-host engines that offer it (default false here). */
  direct?: boolean;
  /**
   * A direct connection to an engine dropped with these requests sent on it unanswered (see
   * {@link DirectRoutes}).
   */
  onDirectLost?: (uuid: string, msgIds: string[]) => void;
  /** Ask the Hub for the engines' direct addresses again (see {@link DirectRoutes}). */
  onDirectLookAgain?: () => void;
}

const READ_ORDER: Channel[] = [
  "notification",
  "iopub",
  "registration",
  "mux",
  "task",
  "control",
  "broadcast",
];

/**
 * Owns the sockets. `open("registration")` first (for `connection_request`), then the rest.
 *
 * @example
 * ```ts ignore
 * const sockets = new ClientSockets({ session, urls, log: consoleLogger, onMessage });
 * sockets.openAll();
 * sockets.send("registration", frames);
 * await sockets.close();
 * ```
 */
export class ClientSockets {
  readonly #o: ClientSocketsOptions;
  readonly #sockets = new Map<Channel, Socket>();
  readonly #readers: Promise<void>[] = [];
  #closed = false;
  #dropped = 0;
  // Scratch for readStatus: parent msg_id and session, engine, state.
  readonly #peeked: Peeked[] = [null, null, null, null];
  /** The same-host direct path, when enabled. */
  readonly direct: DirectRoutes | undefined;

  /**
   * Prepares the sockets; nothing connects until {@link ClientSockets.open}.
   *
   * @param options Session, URLs, callbacks and logging.
   */
  constructor(options: ClientSocketsOptions) {
    this.#o = options;
    if (options.direct) {
      this.direct = new DirectRoutes({
        read: (socket) => this.#readers.push(this.#read("mux", socket, true)),
        warn: (message) => options.log("warn", message),
        lost: options.onDirectLost,
        lookAgain: options.onDirectLookAgain,
      });
    }
  }

  /** Messages dropped because they failed verification or decoding, or a handler threw. */
  get droppedCount(): number {
    return this.#dropped;
  }

  /** Whether {@link ClientSockets.close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Creates, connects and starts reading one channel's socket (idempotent).
   *
   * @param channel The channel.
   */
  open(channel: Channel): void {
    if (this.#closed || this.#sockets.has(channel)) return;
    const sub = channel === "iopub" || channel === "notification";
    const socket = createSocket(sub ? "SUB" : "DEALER", {
      // Unbounded like the Python client's queues: a burst of submissions or results must not
      // make sends wait or replies drop.
      sendHwm: 0,
      receiveHwm: 0,
      onProtocolError: (reason, peer) =>
        this.#o.log("warn", `${channel} connection to ${peer} dropped: ${reason}`),
    });
    if (sub) socket.subscribe("");
    socket.connect(this.#o.urls[channel]);
    this.#sockets.set(channel, socket);
    this.#readers.push(this.#read(channel, socket));
  }

  /** Opens every channel (in an order that subscribes before anything is sent). */
  openAll(): void {
    for (const channel of READ_ORDER) this.open(channel);
  }

  /**
   * Queues frames on a channel. Does not wait for the transport: the returned promise settles
   * when the socket took the message (at once below the high-water mark).
   *
   * @param channel The channel.
   * @param frames Packed message frames.
   * @param msgId The message's msg_id (lets a MUX request go the direct path).
   * @returns Resolves when queued; rejects when the socket is closed.
   */
  send(channel: SendChannel, frames: Frames, msgId?: string): Promise<void> {
    const socket = this.#sockets.get(channel);
    if (socket === undefined || this.#closed) {
      return Promise.reject(new Error(`The client's ${channel} socket is closed`));
    }
    if (this.#o.debug) this.#o.log("debug", `send ${channel}: ${describe(frames)}`);
    if (channel === "mux" && this.direct !== undefined && msgId !== undefined) {
      return this.direct.send(frames, socket, msgId);
    }
    return socket.send(frames);
  }

  /**
   * Waits until the SUB sockets (IOPub, notifications) completed their handshakes, so their
   * subscriptions are on the wire: output of a request sent right after `connect` is not
   * lost. With a transport whose sockets cannot tell ({@link Socket.connected} left out) it
   * returns at once.
   *
   * @param timeoutMs How long to wait at most.
   * @param pollMs How often to look (default 5 ms).
   * @returns Whether both are connected (`true` when it cannot tell); `false` once closed.
   */
  async subscribed(timeoutMs: number, pollMs = 5): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    const ready = () =>
      (["iopub", "notification"] as const).every((ch) => this.#sockets.get(ch)?.connected ?? true);
    while (!ready()) {
      if (this.#closed || Date.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, pollMs));
    }
    return true;
  }

  /**
   * Closes every socket and waits for the reader loops to end. Idempotent.
   *
   * @param linger Milliseconds to flush queued messages (default 0).
   */
  async close(linger = 0): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([
      ...[...this.#sockets.values()].map((s) => s.close({ linger })),
      this.direct?.close(linger),
    ]);
    await Promise.allSettled(this.#readers);
  }

  async #read(channel: Channel, socket: Socket, direct = false): Promise<void> {
    // IOPub `status`: verified, then read without parsing (src/protocol/peek.ts).
    const peekStatus = channel === "iopub" && this.#o.onStatus !== undefined && !this.#o.debug;
    // Messages already received are handled in the same turn, without a promise each.
    const tryReceive = (socket as { tryReceive?: () => Frames | undefined }).tryReceive;
    while (!this.#closed) {
      let frames: Frames | undefined;
      try {
        frames = await socket.receive();
      } catch (error) {
        if (!this.#closed && !socket.closed) {
          this.#o.log("error", `${channel} reader stopped: ${(error as Error).message}`);
        }
        return;
      }
      do {
        this.#handle(channel, frames, peekStatus, direct);
        frames = this.#closed ? undefined : tryReceive?.call(socket);
      } while (frames !== undefined);
    }
  }

  /** Verifies, decodes and hands on one received message; never throws (module doc). */
  #handle(channel: Channel, frames: Frames, peekStatus: boolean, direct: boolean): void {
    const { session, onMessage, log, debug } = this.#o;
    let msg: IncomingMessage;
    try {
      let options: UnpackOptions | undefined;
      if (peekStatus) {
        const out = this.#peeked;
        if (readStatus(session.verify(frames).parts, out)) {
          try {
            this.#o.onStatus!(out[0], out[1], out[2], out[3]);
          } catch (error) {
            this.#dropped++;
            log("error", `Handling status on ${channel} failed: ${(error as Error).stack}`);
          }
          return;
        }
        options = VERIFIED;
      }
      const m = session.unpack(frames, options);
      msg = {
        header: m.header,
        parent_header: m.parentHeader as IncomingMessage["parent_header"],
        metadata: m.metadata as Record<string, unknown>,
        content: m.content as Record<string, unknown>,
        buffers: m.buffers,
      };
    } catch (error) {
      this.#dropped++;
      log("warn", `Dropped a message on ${channel}: ${(error as Error).message}`);
      return;
    }
    if (channel === "mux") this.direct?.replied(frames[0], direct, msg.parent_header.msg_id);
    if (debug) {
      const parent = msg.parent_header.msg_id;
      log("debug", `recv ${channel}: ${msg.header.msg_type}${parent ? ` parent=${parent}` : ""}`);
    }
    try {
      onMessage(channel, msg);
    } catch (error) {
      this.#dropped++;
      log(
        "error",
        `Handling ${msg.header.msg_type} on ${channel} failed: ${(error as Error).stack}`,
      );
    }
  }
}

const VERIFIED: UnpackOptions = { verify: false };
const MSG_TYPE = keyBytes("msg_type");
const MSG_ID = keyBytes("msg_id");
const SESSION = keyBytes("session");
const ENGINE = keyBytes("engine");
const EXECUTION_STATE = keyBytes("execution_state");
// One pair per part: values repeat from one status to the next, and are then reused.
const HEADER: Peeked[] = [null, null];
const PARENT: Peeked[] = [null, null];
const METADATA: Peeked[] = [null, null];
const CONTENT: Peeked[] = [null, null];

/**
 * Reads an IOPub `status` from its verified parts (signature, header, parent header, metadata,
 * content) into `out[0..3]`: parent msg_id and session, `metadata.engine`,
 * `content.execution_state`.
 *
 * @returns `false` for any other message, or when unsure: parse it in full.
 */
function readStatus(parts: readonly Uint8Array[], out: Peeked[]): boolean {
  if (
    !peekStrings(parts[1], MSG_TYPE, MSG_ID, HEADER) || HEADER[0] !== "status" ||
    HEADER[1] === null || !peekStrings(parts[2], MSG_ID, SESSION, PARENT) ||
    !peekStrings(parts[3], ENGINE, null, METADATA) ||
    !peekStrings(parts[4], EXECUTION_STATE, null, CONTENT)
  ) return false;
  out[0] = PARENT[0];
  out[1] = PARENT[1];
  out[2] = METADATA[0];
  out[3] = CONTENT[0];
  return true;
}

function describe(frames: Frames): string {
  const text = new TextDecoder();
  const d = frames.findIndex((f) => f.length === 9 && text.decode(f) === "<IDS|MSG>");
  const header = d >= 0 && frames[d + 2] ? text.decode(frames[d + 2]) : "?";
  return `${frames.length} frames, header ${header}`;
}

/**
 * Whether a TCP endpoint accepts connections: the client's liveness probe of the controller.
 * A dead controller's ports refuse at once, while a busy one still accepts (the kernel
 * completes the handshake), so this cannot mistake load for death.
 *
 * @param url `tcp://host:port`; other transports count as alive.
 * @param timeoutMs How long a connect attempt may take.
 * @returns `false` only when the connection was refused or failed.
 */
export async function endpointAlive(url: string, timeoutMs = 2000): Promise<boolean> {
  const m = /^tcp:\/\/(.+):(\d+)$/.exec(url);
  if (m === null) return true;
  const hostname = m[1].replace(/^\[(.*)\]$/, "$1");
  let timer: ReturnType<typeof setTimeout> | undefined;
  const connecting = Deno.connect({ hostname, port: Number(m[2]) });
  try {
    const conn = await Promise.race([
      connecting,
      new Promise<null>((resolve) => {
        timer = setTimeout(() => resolve(null), timeoutMs);
      }),
    ]);
    if (conn === null) {
      // Slow, not refused: do not call it dead; close the connection if it comes later.
      connecting.then((c) => c.close(), () => {});
      return true;
    }
    conn.close();
    return true;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}
