/**
 * One ZMTP connection over a Deno stream: greeting and NULL handshake, one read loop that
 * parses many frames per read, and one writer that coalesces small frames into a reusable
 * staging buffer and writes large bodies directly. With the owner's `cutThrough` set, a message
 * is delivered as soon as a large frame starts, with a {@link MessageTail} the read loop keeps
 * filling; a writer that meets a tail streams it (`tail.ts`).
 *
 * @module
 */

import { ZmtpProtocolError } from "../errors.ts";
import {
  encodeCommand,
  FLAG_COMMAND,
  FLAG_MORE,
  FrameDecoder,
  parseCommand,
  parseErrorReason,
  parseProperties,
  readyCommand,
  text,
  writeFrameHeader,
} from "./frame_codec.ts";
import { encodeGreeting, parseGreeting } from "./greeting.ts";
import type { Pipe } from "./pipe.ts";
import { compatibleSocketTypes } from "./socket_type.ts";
import { MessageTail, type TailPiece } from "./tail.ts";
import type { FramePlacer, Frames, SocketType } from "./types.ts";

/** A stream's read that may be told more bytes are due. */
type HintedRead = (p: Uint8Array, more: boolean) => Promise<number | null>;

/** What a connection needs from the socket that owns it. */
export interface ConnectionOwner {
  /** Our socket type, announced in READY. */
  readonly type: SocketType;
  /** Our routing id for READY's `Identity` property (DEALER, ROUTER). */
  readonly readyIdentity: Uint8Array | undefined;
  /** Largest accepted frame body. */
  readonly maxMessageSize: number;
  /** Message frames at least this big are streamed (cut-through); 0 = never. */
  readonly cutThrough: number;
  /** Frames at least this big are received into shared memory; 0 = never. */
  readonly sharedFrames: number;
  /** Where large received message frames go, if the socket chooses. */
  readonly framePlacer?: FramePlacer;
  /** Milliseconds a peer has to complete the handshake. */
  readonly handshakeTimeout: number;
  /** `true` while the application's receive queue is at its high-water mark. */
  readonly readPaused: boolean;
  /** Resolves when reading may resume (or the socket closes). */
  whenReadable(): Promise<void>;
  /** The handshake completed. */
  onReady(conn: Connection, identity: Uint8Array): void;
  /** A complete message arrived (with the ROUTER prefix frame, if any). */
  onMessage(conn: Connection, frames: Frames): void;
  /** A SUBSCRIBE or CANCEL command arrived. */
  onSubscription(conn: Connection, topic: Uint8Array, subscribe: boolean): void;
  /** Queued messages were written; a blocked `send` may proceed. */
  onRoom(pipe: Pipe): void;
  /** The connection is gone; `reason` is set when it was dropped for bad input. */
  onClosed(conn: Connection, reason: string | null): void;
}

/** The write staging buffer starts small (idle connections stay cheap) and grows once busy. */
const STAGE_MIN = 8 * 1024;
const STAGE_MAX = 64 * 1024;
/** Queued PONGs (and other control frames) beyond this many are not answered. */
const MAX_CONTROL_QUEUE = 64;
/** Frames up to this size are copied into the staging buffer; larger ones are written as is. */
const COPY_LIMIT = 8 * 1024;

/** A ZMTP 3.x connection (NULL mechanism). */
export class Connection {
  /** The pipe this connection serves, once the handshake completed. */
  pipe: Pipe | null = null;
  /**
   * Set when this side closes the connection only because a message it was forwarding was cut
   * short by its sender: the peer is fine and will reconnect, so a ROUTER keeps the peer's
   * queue and route for it (`RouterSocket`, "Returning peers").
   */
  cutShort = false;
  /** ROUTER: the identity frame put before each received message. */
  prefix: Uint8Array | null = null;
  /** The peer's minor protocol version (0 = ZMTP 3.0 subscription messages). */
  peerMinor = 1;
  /** The peer's socket type from READY. */
  peerType = "";
  /** `true` after the peer's READY was accepted. */
  ready = false;
  /** Human-readable remote address, for log messages. */
  readonly peer: string;

  readonly #raw: Deno.Conn;
  readonly #owner: ConnectionOwner;
  readonly #decoder: FrameDecoder;
  #parts: Frames | null = null;
  #partsBytes = 0;
  #greeted = false;
  #closing = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  readonly #ctrl: Uint8Array[] = [];
  #stage = new Uint8Array(STAGE_MIN);
  #stageFull = false;
  #frameIdx = 0;
  #big: Uint8Array | null = null;
  /** The message being received after a streamed frame started; `#inMore`: frames follow. */
  #inTail: MessageTail | null = null;
  #inMore = false;
  /** The tail being written. */
  #outTail: MessageTail | null = null;
  #scheduled = false;
  #writing = false;
  #writeDone: Promise<void> = Promise.resolve();
  #readDone: Promise<void> = Promise.resolve();
  #drainWaiters: (() => void)[] = [];
  readonly #flushTask = () => {
    this.#scheduled = false;
    if (!this.#writing && !this.#closing) this.#writeDone = this.#flush();
  };

  /**
   * @param raw The connected stream.
   * @param owner The socket.
   * @param peer Remote address for logs.
   */
  constructor(raw: Deno.Conn, owner: ConnectionOwner, peer: string) {
    this.#raw = raw;
    this.#owner = owner;
    this.peer = peer;
    this.#decoder = new FrameDecoder(this, owner.maxMessageSize);
  }

  /** Send greeting and READY, start the handshake timer and the read loop. */
  start(): void {
    const raw = this.#raw as Deno.TcpConn;
    if (typeof raw.setNoDelay === "function") {
      try {
        raw.setNoDelay(true);
      } catch {
        // not a TCP stream
      }
    }
    const greeting = encodeGreeting();
    const ready = readyCommand(this.#owner.type, this.#owner.readyIdentity);
    const first = new Uint8Array(greeting.length + ready.length);
    first.set(greeting);
    first.set(ready, greeting.length);
    this.#ctrl.push(first);
    if (this.#owner.handshakeTimeout > 0) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.close(`handshake not completed within ${this.#owner.handshakeTimeout} ms`);
      }, this.#owner.handshakeTimeout);
    }
    this.kick();
    this.#readDone = this.#readLoop();
  }

  /** Schedule a flush of queued output for the end of this turn. */
  kick(): void {
    if (this.#scheduled || this.#writing || this.#closing) return;
    this.#scheduled = true;
    queueMicrotask(this.#flushTask);
  }

  /** Queue pre-encoded bytes (commands, subscriptions) ahead of the pipe's messages. */
  sendControl(bytes: Uint8Array): void {
    this.#ctrl.push(bytes);
    this.kick();
  }

  /** Queue a command frame. */
  sendCommand(name: string, data?: Uint8Array): void {
    this.sendControl(encodeCommand(name, data));
  }

  /** `true` when nothing is left to write. */
  get idle(): boolean {
    return !this.#writing && this.#ctrl.length === 0 && this.#big === null &&
      this.#outTail === null &&
      (!this.ready || this.pipe === null || this.pipe.out.length === 0);
  }

  /** Resolves when everything queued has been written (or the connection closed). */
  whenDrained(): Promise<void> {
    if (this.idle || this.#closing) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  /**
   * Close the connection; `reason` is logged by the owner when given. Idempotent.
   * @param reason Why the connection was dropped for bad input, or nothing for a normal close.
   */
  close(reason: string | null = null): void {
    if (this.#closing) return;
    this.#closing = true;
    this.#decoder.halt();
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    try {
      this.#raw.close();
    } catch {
      // already closed
    }
    for (const w of this.#drainWaiters.splice(0)) w();
    const inTail = this.#inTail;
    this.#inTail = null;
    inTail?.abort(reason ?? "the sender's connection closed");
    this.#outTail?.discard();
    this.#owner.onClosed(this, reason);
  }

  /** Resolves once the read loop and the writer have stopped. */
  async finished(): Promise<void> {
    await this.#readDone;
    await this.#writeDone;
  }

  // -------------------------------------------------------------------------
  // Reading
  // -------------------------------------------------------------------------

  async #readLoop(): Promise<void> {
    // A split IPC connection takes a hint (more bytes are due: a frame or a message is half
    // read, so it polls rather than sleeps); a `Deno.Conn` ignores it.
    const read = this.#raw.read.bind(this.#raw) as HintedRead;
    const dec = this.#decoder;
    const owner = this.#owner;
    try {
      while (!this.#closing) {
        // Not while a tail is open: it has its own window, and its consumer may be waiting
        // for its end before it receives again.
        if (owner.readPaused && this.ready && this.#inTail === null) {
          await owner.whenReadable();
          if (this.#closing) return;
        }
        const tail = this.#inTail;
        if (tail !== null && tail.full) {
          await tail.whenRoom();
          if (this.#closing) return;
        }
        const placing = dec.placing;
        if (placing !== null) {
          // A frame waits for its place (`placeFrames`): read nothing until it has one.
          await placing;
          if (this.#closing) return;
          dec.resume();
          continue;
        }
        const n = await read(dec.writable(), dec.midFrame || this.#parts !== null);
        if (n === null) {
          let reason: string | null = null;
          // A connect-and-close without a byte (port probe, health check) is not bad input.
          if (!this.ready) {
            reason = dec.receivedAny ? "peer closed the connection during the handshake" : null;
          } else if (dec.midFrame || this.#parts !== null || this.#inTail !== null) {
            reason = "peer closed the connection in the middle of a frame";
          }
          this.close(reason);
          return;
        }
        dec.commit(n);
      }
    } catch (e) {
      if (this.#closing) return;
      if (e instanceof ZmtpProtocolError) this.close(e.message);
      else this.close(null);
    }
  }

  /** @internal FrameSink: the peer's greeting. */
  onGreeting(g: Uint8Array): void {
    const greeting = parseGreeting(g);
    if (greeting.mechanism !== "NULL") {
      throw new ZmtpProtocolError(`unsupported security mechanism ${greeting.mechanism}`);
    }
    this.peerMinor = greeting.major > 3 ? 1 : greeting.minor;
    this.#greeted = true;
  }

  /** @internal FrameSink: message frames this big are streamed. */
  get streamThreshold(): number {
    return this.#owner.cutThrough;
  }

  /** @internal FrameSink: frames this big are received into a `SharedArrayBuffer`. */
  get sharedThreshold(): number {
    return this.#owner.sharedFrames;
  }

  /** @internal FrameSink: where a large frame of the message being read goes (after its first). */
  placeFrame(size: number): Uint8Array | undefined | Promise<Uint8Array | undefined> {
    const place = this.#owner.framePlacer;
    const parts = this.#parts;
    return place === undefined || parts === null || this.#inTail !== null
      ? undefined
      : place(parts, size);
  }

  /** @internal FrameSink: a streamed frame starts; the message so far is delivered now. */
  onFrameStart(flags: number, size: number): void {
    if (!this.ready) throw new ZmtpProtocolError("message frame before the handshake completed");
    let tail = this.#inTail;
    if (tail === null) {
      tail = new MessageTail();
      let parts = this.#parts;
      if (parts === null) {
        parts = this.prefix === null ? [tail] : [this.prefix, tail];
        this.#partsBytes = 0;
      } else {
        parts.push(tail);
      }
      this.#parts = null;
      this.#inTail = tail;
      this.#count(size);
      tail.startFrame(flags, size);
      this.#inMore = (flags & FLAG_MORE) !== 0;
      this.#owner.onMessage(this, parts);
      return;
    }
    this.#count(size);
    tail.startFrame(flags, size);
    this.#inMore = (flags & FLAG_MORE) !== 0;
  }

  /** @internal FrameSink: body bytes of the streamed frame. */
  onFrameData(bytes: Uint8Array, chunk: Uint8Array | null): void {
    this.#inTail!.data(bytes, chunk);
  }

  /** @internal FrameSink: the streamed frame is complete. */
  onFrameEnd(): void {
    if (this.#inMore) return;
    const tail = this.#inTail!;
    this.#inTail = null;
    tail.end();
  }

  #count(size: number): void {
    this.#partsBytes += size;
    if (this.#partsBytes > this.#owner.maxMessageSize) {
      throw new ZmtpProtocolError(
        `multipart message exceeds maxMessageSize ${this.#owner.maxMessageSize}`,
      );
    }
  }

  /** @internal FrameSink: one frame. */
  onFrame(flags: number, body: Uint8Array): void {
    const tail = this.#inTail;
    if (tail !== null) {
      // A frame after a streamed one: it joins the tail.
      if (flags & FLAG_COMMAND) throw new ZmtpProtocolError("command frame inside a message");
      this.#count(body.length);
      tail.startFrame(flags, body.length);
      if (body.length > 0) tail.data(body, null);
      if (!(flags & FLAG_MORE)) {
        this.#inTail = null;
        tail.end();
      }
      return;
    }
    if (flags & FLAG_COMMAND) {
      if (this.#parts !== null) throw new ZmtpProtocolError("command frame inside a message");
      if (flags & FLAG_MORE) throw new ZmtpProtocolError("command frame with MORE flag");
      this.#onCommand(body);
      return;
    }
    if (!this.ready) throw new ZmtpProtocolError("message frame before the handshake completed");
    let parts = this.#parts;
    if (parts === null) {
      const prefix = this.prefix;
      parts = prefix === null ? [body] : [prefix, body];
      this.#partsBytes = body.length;
    } else {
      parts.push(body);
      this.#partsBytes += body.length;
      if (this.#partsBytes > this.#owner.maxMessageSize) {
        throw new ZmtpProtocolError(
          `multipart message exceeds maxMessageSize ${this.#owner.maxMessageSize}`,
        );
      }
    }
    if (flags & FLAG_MORE) {
      this.#parts = parts;
    } else {
      this.#parts = null;
      this.#owner.onMessage(this, parts);
    }
  }

  #onCommand(body: Uint8Array): void {
    const { name, data } = parseCommand(body);
    if (!this.ready) {
      if (!this.#greeted) throw new ZmtpProtocolError("command before greeting");
      if (name === "READY") return this.#onReady(data);
      if (name === "ERROR") {
        throw new ZmtpProtocolError(`peer sent ERROR: ${parseErrorReason(data)}`);
      }
      throw new ZmtpProtocolError(`expected READY, got ${name}`);
    }
    switch (name) {
      case "PING": {
        if (data.length < 2 || data.length > 18) throw new ZmtpProtocolError("malformed PING");
        // A peer that pings without reading must not make the control queue grow.
        if (this.#ctrl.length < MAX_CONTROL_QUEUE) this.sendCommand("PONG", data.slice(2));
        return;
      }
      case "SUBSCRIBE":
      case "CANCEL":
        this.#owner.onSubscription(this, data.slice(), name === "SUBSCRIBE");
        return;
      case "ERROR":
        throw new ZmtpProtocolError(`peer sent ERROR: ${parseErrorReason(data)}`);
      case "READY":
        throw new ZmtpProtocolError("second READY command");
      default:
        return; // PONG and unknown commands are ignored
    }
  }

  #onReady(data: Uint8Array): void {
    const props = parseProperties(data);
    const typeBytes = props.get("socket-type");
    if (typeBytes === undefined) throw new ZmtpProtocolError("READY without Socket-Type");
    const peerType = text(typeBytes);
    if (!compatibleSocketTypes(this.#owner.type, peerType)) {
      throw new ZmtpProtocolError(
        `incompatible socket type: ${peerType} cannot talk to ${this.#owner.type}`,
      );
    }
    this.peerType = peerType;
    this.ready = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    const identity = props.get("identity");
    this.#owner.onReady(this, identity === undefined ? new Uint8Array(0) : identity.slice());
    this.kick();
  }

  // -------------------------------------------------------------------------
  // Writing
  // -------------------------------------------------------------------------

  async #flush(): Promise<void> {
    this.#writing = true;
    const raw = this.#raw;
    try {
      while (!this.#closing) {
        const len = this.#fill();
        const big = this.#big;
        const tail = this.#outTail;
        if (len === 0 && big === null && tail === null) break;
        let off = 0;
        while (off < len) off += await raw.write(this.#stage.subarray(off, len));
        if (big !== null) {
          this.#big = null;
          off = 0;
          while (off < big.length) off += await raw.write(off === 0 ? big : big.subarray(off));
        }
        if (tail !== null) {
          await this.#stream(tail);
          this.#outTail = null;
        }
        const pipe = this.pipe;
        if (pipe !== null) this.#owner.onRoom(pipe);
      }
    } catch {
      this.#writing = false;
      this.close(null);
      return;
    }
    this.#writing = false;
    if (this.#drainWaiters.length > 0 && this.idle) {
      for (const w of this.#drainWaiters.splice(0)) w();
    }
  }

  /**
   * Write a message tail as it arrives. If its sender stops mid-message, part of the message
   * is already on the wire and ZMTP cannot retract it: the connection is closed (the peer
   * drops the partial message), rather than padded into a well-formed message with garbage.
   */
  async #stream(tail: MessageTail): Promise<void> {
    const raw = this.#raw;
    for (;;) {
      let piece: TailPiece | null | undefined;
      try {
        piece = tail.poll();
        if (piece === undefined) piece = await tail.next();
      } catch (e) {
        this.cutShort = true;
        this.close(`forwarded message cut short: ${(e as Error).message}`);
        return;
      }
      if (piece === null || this.#closing) return;
      const b = piece.bytes;
      let off = 0;
      while (off < b.length) off += await raw.write(off === 0 ? b : b.subarray(off));
      tail.consumed(piece);
    }
  }

  /**
   * Encode queued control bytes and messages into the staging buffer; a large frame body is
   * left in `#big` to be written after the stage, a message tail in `#outTail`.
   * @returns Bytes staged.
   */
  #fill(): number {
    if (this.#stageFull) {
      this.#stageFull = false;
      if (this.#stage.length < STAGE_MAX) this.#stage = new Uint8Array(STAGE_MAX);
    }
    const stage = this.#stage;
    const cap = stage.length;
    let len = 0;
    const ctrl = this.#ctrl;
    if (this.#frameIdx === 0) {
      while (ctrl.length > 0) {
        const c = ctrl[0];
        if (len + c.length > cap) {
          if (len === 0) {
            this.#big = c;
            ctrl.shift();
          }
          this.#stageFull = true;
          return len;
        }
        stage.set(c, len);
        len += c.length;
        ctrl.shift();
      }
    }
    const pipe = this.pipe;
    if (!this.ready || pipe === null) return len;
    const out = pipe.out;
    while (out.length > 0) {
      const msg = out.peek()!;
      const n = msg.length;
      const last = msg[n - 1];
      if (
        last.length === 0 && this.#frameIdx === 0 && last instanceof MessageTail &&
        last.abortReason !== null
      ) {
        // A tail whose sender already gave up: nothing of it was written, skip the message.
        out.shift();
        continue;
      }
      for (let i = this.#frameIdx; i < n; i++) {
        const f = msg[i];
        const size = f.length;
        if (size === 0 && i === n - 1 && f instanceof MessageTail) {
          this.#outTail = f;
          out.shift();
          this.#frameIdx = 0;
          return len;
        }
        if (len + 9 > cap) {
          this.#frameIdx = i;
          this.#stageFull = true;
          return len;
        }
        const flags = i < n - 1 ? FLAG_MORE : 0;
        if (size > COPY_LIMIT || size + 9 > cap) {
          len = writeFrameHeader(stage, len, flags, size);
          this.#big = f;
          if (i + 1 === n) {
            out.shift();
            this.#frameIdx = 0;
          } else {
            this.#frameIdx = i + 1;
          }
          return len;
        }
        if (len + 9 + size > cap) {
          this.#frameIdx = i;
          this.#stageFull = true;
          return len;
        }
        len = writeFrameHeader(stage, len, flags, size);
        stage.set(f, len);
        len += size;
      }
      out.shift();
      this.#frameIdx = 0;
    }
    return len;
  }
}
