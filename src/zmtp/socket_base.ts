/**
 * What every socket type shares: endpoints (bind, connect with reconnect back-off), connections
 * and pipes, the receive queue with its high-water mark, blocked senders, and close with linger.
 * The types (`router.ts`, `dealer.ts`, `pub_sub.ts`, `push_pull.ts`) override the `x*` hooks,
 * as libzmq's `socket_base_t` subclasses do.
 *
 * @module
 */

import { SocketClosedError } from "../errors.ts";
import { Connection, type ConnectionOwner } from "./connection.ts";
import {
  type Bound,
  describeAddr,
  dial,
  type Endpoint,
  listen,
  parseEndpoint,
} from "./endpoint.ts";
import { Fifo } from "./fifo.ts";
import { largeFrameSize, type ResolvedOptions, resolveOptions } from "./options.ts";
import { Pipe } from "./pipe.ts";
import { discardTail, tailOf } from "./tail.ts";
import type { FramePlacer, Frames, Socket, SocketOptions, SocketType } from "./types.ts";

/** The socket types whose `send` takes a message tail (one destination per message). */
const TAIL_SENDERS = new Set<SocketType>(["ROUTER", "DEALER", "PUSH"]);
/** The socket types that stream received frames with `cutThrough` (they deliver everything). */
const TAIL_RECEIVERS = new Set<SocketType>(["ROUTER", "DEALER", "PULL"]);

interface Waiter<T> {
  resolve(value: T): void;
  reject(error: unknown): void;
}

interface BlockedSend extends Waiter<void> {
  frames: Frames;
}

/** A `connect()`ed endpoint: its persistent pipe and reconnect state. */
class Connector {
  conn: Connection | null = null;
  timer: ReturnType<typeof setTimeout> | undefined;
  attempt: Promise<void> | null = null;
  stopped = false;
  constructor(
    readonly endpoint: string,
    readonly ep: Endpoint,
    readonly pipe: Pipe,
    public interval: number,
  ) {}
}

const DONE: Promise<void> = Promise.resolve();

/** Base class of every socket type; see the module doc. */
export abstract class SocketBase implements Socket, ConnectionOwner {
  /** The resolved options. */
  readonly options: ResolvedOptions;
  /** Pipes that can carry messages now or after a reconnect, in attach order. */
  protected readonly pipes: Pipe[] = [];

  #closed = false;
  /** Set when connections and reconnects really stop (after any linger). */
  #halted = false;
  #closing: Promise<void> | null = null;
  readonly #bound: Bound[] = [];
  readonly #acceptLoops: Promise<void>[] = [];
  readonly #connectors = new Map<string, Connector>();
  readonly #connectorOf = new Map<Connection, Connector>();
  /** Connect attempts of endpoints given to `disconnect()`, awaited by `close()`. */
  readonly #orphans: Promise<void>[] = [];
  readonly #conns = new Set<Connection>();
  readonly #inbound = new Fifo<Frames>();
  readonly #receivers = new Fifo<Waiter<Frames>>();
  readonly #senders = new Fifo<BlockedSend>();
  #paused = false;
  #resume: (() => void) | null = null;
  #resumed: Promise<void> = DONE;

  /**
   * @param type The socket type.
   * @param options Socket options.
   */
  constructor(readonly type: SocketType, options?: SocketOptions) {
    this.options = resolveOptions(options);
  }

  // ---- ConnectionOwner ----------------------------------------------------

  /** @internal */
  get readyIdentity(): Uint8Array | undefined {
    return this.type === "DEALER" || this.type === "ROUTER"
      ? (this.options.identity ?? new Uint8Array(0))
      : undefined;
  }
  /** @internal */
  get maxMessageSize(): number {
    return this.options.maxMessageSize;
  }
  /** @internal Only types that deliver every message they read stream (others may drop). */
  get cutThrough(): number {
    return TAIL_RECEIVERS.has(this.type) ? this.options.cutThrough : 0;
  }
  /** @internal */
  get sharedFrames(): number {
    return this.options.sharedFrames;
  }
  /** @internal */
  get framePlacer(): FramePlacer | undefined {
    return this.options.placeFrames;
  }
  /** @internal */
  get handshakeTimeout(): number {
    return this.options.handshakeTimeout;
  }
  /** @internal */
  get readPaused(): boolean {
    return this.#paused;
  }
  /** @internal */
  whenReadable(): Promise<void> {
    return this.#resumed;
  }

  /** @internal */
  onReady(conn: Connection, identity: Uint8Array): void {
    const connector = this.#connectorOf.get(conn);
    let pipe: Pipe;
    if (connector !== undefined) {
      pipe = connector.pipe;
      connector.interval = this.options.reconnectInterval;
    } else {
      pipe = new Pipe(this.options.sendHwm, false);
      this.pipes.push(pipe);
      this.xattach(pipe);
    }
    conn.pipe = pipe;
    pipe.conn = conn;
    this.xready(conn, pipe, identity);
    if (this.#senders.length > 0) this.#drainSenders();
  }

  /** @internal */
  onMessage(conn: Connection, frames: Frames): void {
    this.xmessage(conn, frames);
  }

  /** @internal */
  onSubscription(conn: Connection, topic: Uint8Array, subscribe: boolean): void {
    this.xsubscription(conn, topic, subscribe);
  }

  /** @internal */
  onRoom(_pipe: Pipe): void {
    if (this.#senders.length > 0) this.#drainSenders();
  }

  /** @internal */
  onClosed(conn: Connection, reason: string | null): void {
    this.#conns.delete(conn);
    if (reason !== null) {
      try {
        this.options.onProtocolError(reason, conn.peer);
      } catch {
        // a logger must not break the socket
      }
    }
    const pipe = conn.pipe;
    if (pipe !== null && pipe.conn === conn) {
      pipe.conn = null;
      try {
        this.options.onPeerGone?.(pipe.identity);
      } catch {
        // a listener must not break the socket
      }
      if (pipe.persistent) this.xdisconnected(pipe);
      else if (!(conn.cutShort && this.xhold(pipe))) this.dropPipe(pipe);
    }
    const connector = this.#connectorOf.get(conn);
    if (connector !== undefined) {
      this.#connectorOf.delete(conn);
      if (connector.conn === conn) connector.conn = null;
      if (!connector.stopped && !this.#halted) this.#scheduleReconnect(connector);
    }
  }

  // ---- hooks for socket types ---------------------------------------------

  /** Route one outgoing message; `false` means "no room now, retry when there is". */
  protected abstract xsend(frames: Frames): boolean;
  /** A new pipe joined {@link SocketBase.pipes}. */
  protected xattach(_pipe: Pipe): void {}
  /** A pipe left {@link SocketBase.pipes}; its queue is dropped. */
  protected xdetach(_pipe: Pipe): void {}
  /** A persistent pipe lost its connection (it will reconnect). */
  protected xdisconnected(_pipe: Pipe): void {}
  /**
   * The connection of an accepted pipe was closed by this side because a forwarded message
   * was cut short (`Connection.cutShort`); return `true` to keep the pipe for the peer's
   * return (then end it with {@link SocketBase.dropPipe} or {@link SocketBase.retirePipe}).
   * The default, `false`, ends the pipe and drops its queue.
   */
  protected xhold(_pipe: Pipe): boolean {
    return false;
  }
  /** A connection completed its handshake and now serves `pipe`. */
  protected xready(_conn: Connection, _pipe: Pipe, _identity: Uint8Array): void {}
  /** A message arrived. The default hands it to the application. */
  protected xmessage(_conn: Connection, frames: Frames): void {
    this.deliver(frames);
  }
  /** A SUBSCRIBE/CANCEL command arrived. The default ignores it. */
  protected xsubscription(_conn: Connection, _topic: Uint8Array, _subscribe: boolean): void {}

  /** Hand a message to `receive()`, pausing readers at the receive high-water mark. */
  protected deliver(frames: Frames): void {
    if (this.#receivers.length > 0) {
      this.#receivers.shift()!.resolve(frames);
      return;
    }
    this.#inbound.push(frames);
    const hwm = this.options.receiveHwm;
    if (hwm > 0 && !this.#paused && this.#inbound.length >= hwm) {
      this.#paused = true;
      this.#resumed = new Promise((resolve) => (this.#resume = resolve));
    }
  }

  #unpause(): void {
    this.#paused = false;
    const r = this.#resume;
    this.#resume = null;
    this.#resumed = DONE;
    if (r !== null) r();
  }

  /** Ends a pipe and drops its queue (also a held pipe whose peer did not come back). */
  protected dropPipe(pipe: Pipe): void {
    if (pipe.terminated) return;
    pipe.terminated = true;
    for (const frames of pipe.out.drain()) discardTail(frames);
    this.retirePipe(pipe);
  }

  /**
   * Ends a pipe without touching its queue (the caller moved what it held to another pipe, or
   * it is being dropped): removes it from {@link SocketBase.pipes} and detaches it.
   */
  protected retirePipe(pipe: Pipe): void {
    pipe.terminated = true;
    if (pipe.holdTimer !== undefined) clearTimeout(pipe.holdTimer);
    pipe.holdTimer = undefined;
    const i = this.pipes.indexOf(pipe);
    if (i >= 0) this.pipes.splice(i, 1);
    this.xdetach(pipe);
  }

  #drainSenders(): void {
    const senders = this.#senders;
    while (senders.length > 0) {
      const s = senders.peek()!;
      let ok: boolean;
      try {
        ok = this.xsend(s.frames);
      } catch (e) {
        senders.shift();
        discardTail(s.frames);
        s.reject(e);
        continue;
      }
      if (!ok) return;
      senders.shift();
      s.resolve();
    }
  }

  /** Throw a `SocketClosedError` if the socket is closed. */
  protected assertOpen(): void {
    if (this.#closed) throw new SocketClosedError(`${this.type} socket is closed`);
  }

  // ---- Socket -------------------------------------------------------------

  /** Resolved endpoints this socket is bound to. */
  get endpoints(): readonly string[] {
    return this.#bound.map((b) => b.endpoint);
  }

  /** `true` once `close()` has been called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** See {@link Socket.connected}. */
  get connected(): boolean {
    return this.pipes.length > 0 && this.pipes.every((p) => p.conn !== null);
  }

  /** Listen on an endpoint; see {@link Socket.bind}. */
  bind(endpoint: string): Promise<string> {
    try {
      this.assertOpen();
      const b = listen(parseEndpoint(endpoint, true), endpoint);
      this.#bound.push(b);
      this.#acceptLoops.push(this.#acceptLoop(b));
      return Promise.resolve(b.endpoint);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  async #acceptLoop(b: Bound): Promise<void> {
    for (;;) {
      let raw: Deno.Conn;
      try {
        raw = await b.listener.accept();
      } catch (e) {
        if (this.#closed || e instanceof Deno.errors.BadResource) return;
        await new Promise((r) => setTimeout(r, 10)); // e.g. out of file descriptors
        continue;
      }
      if (this.#closed) {
        raw.close();
        return;
      }
      this.#start(raw, null, b.endpoint);
    }
  }

  #start(raw: Deno.Conn, connector: Connector | null, fallback: string): void {
    let peer = fallback;
    try {
      peer = describeAddr(raw.remoteAddr, fallback);
    } catch {
      // keep the fallback
    }
    const conn = new Connection(raw, this, peer);
    this.#conns.add(conn);
    if (connector !== null) {
      connector.conn = conn;
      this.#connectorOf.set(conn, connector);
    }
    conn.start();
  }

  /** Connect to an endpoint, reconnecting with back-off; see {@link Socket.connect}. */
  connect(endpoint: string): void {
    this.assertOpen();
    const ep = parseEndpoint(endpoint, false);
    if (this.#connectors.has(endpoint)) return;
    const pipe = new Pipe(this.options.sendHwm, true);
    const c = new Connector(endpoint, ep, pipe, this.options.reconnectInterval);
    this.#connectors.set(endpoint, c);
    this.pipes.push(pipe);
    this.xattach(pipe);
    this.#dial(c);
    if (this.#senders.length > 0) this.#drainSenders();
  }

  #dial(c: Connector): void {
    c.attempt = this.#dialOnce(c);
  }

  async #dialOnce(c: Connector): Promise<void> {
    let raw: Deno.Conn;
    try {
      raw = await dial(c.ep);
    } catch {
      c.attempt = null;
      if (!c.stopped && !this.#halted) this.#scheduleReconnect(c);
      return;
    }
    c.attempt = null;
    if (c.stopped || this.#halted) {
      raw.close();
      return;
    }
    this.#start(raw, c, c.endpoint);
  }

  #scheduleReconnect(c: Connector): void {
    if (c.timer !== undefined) return;
    const delay = c.interval;
    const max = this.options.reconnectIntervalMax;
    if (max > 0) c.interval = Math.min(Math.max(c.interval * 2, 1), Math.max(max, delay));
    c.timer = setTimeout(() => {
      c.timer = undefined;
      if (!c.stopped && !this.#halted) this.#dial(c);
    }, delay);
  }

  /** Stop connecting to an endpoint given to `connect()`; queued messages for it are dropped. */
  disconnect(endpoint: string): void {
    const c = this.#connectors.get(endpoint);
    if (c === undefined) return;
    this.#connectors.delete(endpoint);
    c.stopped = true;
    if (c.timer !== undefined) clearTimeout(c.timer);
    c.timer = undefined;
    if (c.attempt !== null) this.#orphans.push(c.attempt);
    const conn = c.conn;
    this.dropPipe(c.pipe);
    if (conn !== null) conn.close(null);
  }

  /** Queue a message; see {@link Socket.send}. */
  send(frames: Frames): Promise<void> {
    const tail = Array.isArray(frames) && frames.length > 0 ? tailOf(frames) : undefined;
    if (tail !== undefined) {
      try {
        tail.claimForward(); // from here on this send owns the tail: every failure discards it
      } catch (e) {
        return Promise.reject(e);
      }
    }
    if (this.#closed) {
      tail?.discard();
      return Promise.reject(new SocketClosedError(`${this.type} socket is closed`));
    }
    if (!Array.isArray(frames) || frames.length === 0) {
      return Promise.reject(new TypeError("send() needs a non-empty array of Uint8Array frames"));
    }
    for (let i = 0; i < frames.length; i++) {
      if (!(frames[i] instanceof Uint8Array)) {
        tail?.discard();
        return Promise.reject(new TypeError(`frame ${i} is not a Uint8Array`));
      }
    }
    if (tail !== undefined && !TAIL_SENDERS.has(this.type)) {
      tail.discard();
      return Promise.reject(
        new TypeError(`${this.type} sockets cannot send a message tail (collect() it first)`),
      );
    }
    try {
      if (this.#senders.length === 0 && this.xsend(frames)) return DONE;
    } catch (e) {
      discardTail(frames);
      return Promise.reject(e);
    }
    return new Promise((resolve, reject) => this.#senders.push({ frames, resolve, reject }));
  }

  /**
   * Stream message frames of at least `minFrameSize` bytes (0 = never); see
   * {@link SocketOptions.cutThrough}. Applies to frames that start from now on.
   * @throws {RangeError} When `minFrameSize` is neither 0 nor at least 64 KiB.
   */
  setCutThrough(minFrameSize: number): void {
    this.options.cutThrough = largeFrameSize(minFrameSize, "cutThrough");
  }

  /** Receive the next message; see {@link Socket.receive}. */
  receive(): Promise<Frames> {
    if (this.#closed) {
      return Promise.reject(new SocketClosedError(`${this.type} socket is closed`));
    }
    const inbound = this.#inbound;
    if (inbound.length > 0) {
      const frames = inbound.shift()!;
      if (this.#paused && inbound.length <= this.options.receiveHwm >> 1) this.#unpause();
      return Promise.resolve(frames);
    }
    return new Promise((resolve, reject) => this.#receivers.push({ resolve, reject }));
  }

  /** Take the next already-received message without waiting; see {@link Socket.tryReceive}. */
  tryReceive(): Frames | undefined {
    const inbound = this.#inbound;
    if (this.#closed || inbound.length === 0) return undefined;
    const frames = inbound.shift()!;
    if (this.#paused && inbound.length <= this.options.receiveHwm >> 1) this.#unpause();
    return frames;
  }

  /** SUB/XSUB only; see {@link Socket.subscribe}. */
  subscribe(_prefix?: Uint8Array | string): void {
    throw new TypeError(`${this.type} sockets cannot subscribe (only SUB and XSUB can)`);
  }

  /** SUB/XSUB only; see {@link Socket.unsubscribe}. */
  unsubscribe(_prefix?: Uint8Array | string): void {
    throw new TypeError(`${this.type} sockets cannot unsubscribe (only SUB and XSUB can)`);
  }

  /** Close the socket; see {@link Socket.close}. */
  close(options?: { linger?: number }): Promise<void> {
    if (this.#closing === null) this.#closing = this.#close(options?.linger ?? this.options.linger);
    return this.#closing;
  }

  async #close(linger: number): Promise<void> {
    this.#closed = true;
    const err = () => new SocketClosedError(`${this.type} socket is closed`);
    for (const r of this.#receivers.drain()) r.reject(err());
    for (const s of this.#senders.drain()) {
      discardTail(s.frames);
      s.reject(err());
    }
    for (const frames of this.#inbound.drain()) discardTail(frames);
    this.#unpause();
    for (const b of this.#bound) {
      try {
        b.listener.close();
      } catch {
        // already closed
      }
    }
    if (linger > 0 && !this.#drained()) {
      // Keep connecting and writing until every queue is empty or the linger time is up.
      const end = Date.now() + linger;
      while (!this.#drained() && Date.now() < end) {
        await new Promise((r) => setTimeout(r, Math.min(5, Math.max(0, end - Date.now()))));
      }
    }
    this.#halted = true;
    const attempts: Promise<void>[] = this.#orphans.splice(0);
    for (const c of this.#connectors.values()) {
      c.stopped = true;
      if (c.timer !== undefined) clearTimeout(c.timer);
      c.timer = undefined;
      if (c.attempt !== null) attempts.push(c.attempt);
    }
    const conns = [...this.#conns];
    for (const c of conns) c.close(null);
    await Promise.all([...conns.map((c) => c.finished()), ...this.#acceptLoops, ...attempts]);
    for (const pipe of [...this.pipes]) this.dropPipe(pipe);
    for (const b of this.#bound) {
      for (const path of b.paths ?? []) {
        try {
          Deno.removeSync(path);
        } catch {
          // already gone
        }
      }
    }
  }

  /** See {@link Socket.sendTrackable}. */
  get sendTrackable(): boolean {
    return this.pipes.every((p) => p.conn !== null || p.out.length === 0);
  }

  /** See {@link Socket.whenSent}. */
  async whenSent(): Promise<void> {
    while (!this.closed) {
      const busy = this.pipes.find((p) => p.out.length > 0 || (p.conn !== null && !p.conn.idle));
      if (busy === undefined) return;
      if (busy.conn !== null) await busy.conn.whenDrained();
      // A pipe whose peer is away keeps its messages until it reconnects, and a closing
      // connection resolves at once: poll those.
      if (busy.conn === null || !busy.conn.idle) await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** `true` when no pipe has queued messages and no connection has bytes left to write. */
  #drained(): boolean {
    for (const pipe of this.pipes) if (pipe.out.length > 0) return false;
    for (const conn of this.#conns) if (!conn.idle) return false;
    return true;
  }

  /** Same as `close()`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Iterate over received messages until the socket is closed. */
  async *[Symbol.asyncIterator](): AsyncIterator<Frames> {
    for (;;) {
      let frames: Frames;
      try {
        frames = await this.receive();
      } catch (e) {
        if (e instanceof SocketClosedError) return;
        throw e;
      }
      yield frames;
    }
  }
}
