/**
 * Cut-through forwarding of large frames: {@link MessageTail}, the not-yet-received end of a
 * message that a socket with `cutThrough` delivered as soon as a large frame started, and the
 * way its bytes flow from the receiving connection to the forwarding one.
 *
 * A relay that receives such a message can send it on at once: the receiving connection keeps
 * reading the large frame in chunks from a small pool and the sending connection writes each
 * chunk as it arrives (bounded memory, no allocation of the whole frame, both hops overlapped).
 * The ZMTP frame header carries the body size, so the outgoing header is written first.
 *
 * Failure handling, since a ZMTP peer cannot be told "discard that frame":
 * - the sender dies (or sends bad input) mid-message: the tail is aborted; a connection that
 *   already wrote part of the message is closed (the peer drops the partial message and
 *   reconnects; a ROUTER keeps the messages queued behind it, and those routed to the peer
 *   meanwhile, for its return: `router.ts`, "Returning peers"), and one that had not started
 *   it skips it. Padding the frame instead would hand the peer silently corrupt data (buffers
 *   are not covered by the message signature);
 * - the destination goes away or drops the message (no route, high-water mark, socket closed):
 *   the rest of the tail is read and discarded, so the sender's connection goes on;
 * - a slow destination: the sender's connection stops reading once {@link TAIL_WINDOW} bytes
 *   are queued in the tail (backpressure instead of buffering).
 *
 * @module
 */

import { CHUNK_SIZE, releaseChunk } from "./chunk_pool.ts";
import { largeBytes } from "./large_bytes.ts";
import { FLAG_MORE, writeFrameHeader } from "./frame_codec.ts";
import type { Frames } from "./types.ts";

/** Bytes a tail may hold unwritten before its sender's connection stops reading. */
export const TAIL_WINDOW = 4 * CHUNK_SIZE;

/**
 * One piece of a tail's byte stream: either the header of a frame (`size` >= 0, `bytes` holds
 * the encoded ZMTP header) or part of a frame body (`size` = -1).
 */
export interface TailPiece {
  /** The bytes to write. */
  bytes: Uint8Array;
  /** Pool chunk to release once `bytes` are consumed (the last piece cut from it). */
  chunk: Uint8Array | null;
  /** Frame flags (headers only). */
  flags: number;
  /** Frame body size (headers), or -1 (body bytes). */
  size: number;
}

type Mode = "open" | "forward" | "collect" | "discard";

/**
 * The rest of a message still being received, standing as the last element of the frames a
 * socket with `cutThrough` delivered early (it is a zero-length `Uint8Array`, so the message
 * keeps the `Uint8Array[]` shape). Whoever receives such a message must consume the tail
 * exactly once, else the sender's connection stalls:
 *
 * - send the frames (tail last) on another socket with `send` (ROUTER, DEALER or PUSH): the
 *   destination connection writes the frames before the tail, then streams the tail;
 * - {@link MessageTail.collect} it into whole frames (store and forward);
 * - {@link MessageTail.discard} it.
 */
export class MessageTail extends Uint8Array {
  #mode: Mode = "open";
  readonly #pieces: TailPiece[] = [];
  #head = 0;
  #queued = 0;
  #ended = false;
  #abortReason: string | null = null;
  #wake: (() => void) | null = null;
  #room: (() => void) | null = null;
  #collected: Frames | null = null;
  #frame: Uint8Array | null = null;
  #fill = 0;
  #collectDone: ((frames: Frames) => void) | null = null;
  #collectFail: ((e: Error) => void) | null = null;

  /** @internal Created by the receiving connection only. */
  constructor() {
    super(0);
  }

  /** Typed-array methods that build a new array must not build a tail. */
  static get [Symbol.species](): Uint8ArrayConstructor {
    return Uint8Array;
  }

  /** `true` once the whole message was received. */
  get ended(): boolean {
    return this.#ended;
  }

  /** Why the sender stopped mid-message, or `null`. */
  get abortReason(): string | null {
    return this.#abortReason;
  }

  /** `true` once forwarded, collected or discarded. */
  get claimed(): boolean {
    return this.#mode !== "open";
  }

  /**
   * Read the rest of the message into whole frames.
   * @returns The remaining frames (the large one first).
   * @throws {TypeError} When the tail was already consumed.
   * @throws {Error} (rejection) When the sender stopped mid-message.
   */
  collect(): Promise<Frames> {
    this.#claim("collect");
    if (this.#abortReason !== null) {
      return Promise.reject(new Error(`message not received in full: ${this.#abortReason}`));
    }
    const out: Frames = [];
    this.#collected = out;
    const p = new Promise<Frames>((resolve, reject) => {
      this.#collectDone = resolve;
      this.#collectFail = reject;
    });
    const pieces = this.#pieces;
    for (let i = this.#head; i < pieces.length; i++) this.#absorb(pieces[i]);
    pieces.length = 0;
    this.#head = 0;
    this.#queued = 0;
    this.#wakeProducer();
    this.#settleCollect();
    return p;
  }

  /** Drop the rest of the message (it is still read from the sender, then thrown away). */
  discard(): void {
    if (this.#mode === "discard") return;
    this.#mode = "discard";
    this.#releaseQueued();
    this.#wakeConsumer();
    this.#wakeProducer();
    if (this.#collectFail !== null) {
      this.#collectFail(new Error("the message was discarded"));
      this.#collectDone = this.#collectFail = null;
    }
  }

  /**
   * @internal Mark the tail as forwarded (a socket's `send` took it).
   * @throws {TypeError} When it was already consumed.
   */
  claimForward(): void {
    this.#claim("forward");
  }

  // ---- producer side (the receiving connection) ------------------------------------------

  /** @internal `true` while the unwritten bytes exceed the window: stop reading. */
  get full(): boolean {
    return this.#queued >= TAIL_WINDOW;
  }

  /** @internal Resolves when the window has room again (or the tail was consumed). */
  whenRoom(): Promise<void> {
    if (!this.full) return Promise.resolve();
    return new Promise((resolve) => (this.#room = resolve));
  }

  /** @internal A frame of the tail starts. */
  startFrame(flags: number, size: number): void {
    const head = new Uint8Array(size <= 255 ? 2 : 9);
    writeFrameHeader(head, 0, flags & FLAG_MORE, size);
    this.#push({ bytes: head, chunk: null, flags: flags & FLAG_MORE, size });
  }

  /** @internal Body bytes of the current frame; `chunk` is released after the last of it. */
  data(bytes: Uint8Array, chunk: Uint8Array | null): void {
    this.#push({ bytes, chunk, flags: 0, size: -1 });
  }

  /** @internal The last frame is complete. */
  end(): void {
    this.#ended = true;
    this.#wakeConsumer();
    this.#settleCollect();
  }

  /** @internal The sender stopped mid-message. */
  abort(reason: string): void {
    if (this.#ended || this.#abortReason !== null) return;
    this.#abortReason = reason;
    this.#releaseQueued();
    this.#wakeConsumer();
    this.#wakeProducer();
    if (this.#collectFail !== null) {
      this.#collectFail(new Error(`message not received in full: ${reason}`));
      this.#collectDone = this.#collectFail = null;
    }
  }

  // ---- consumer side (the forwarding connection) -----------------------------------------

  /**
   * @internal The next piece if one is queued (`undefined`: wait with {@link next}).
   * @throws {Error} When the sender stopped mid-message or the tail was discarded.
   */
  poll(): TailPiece | null | undefined {
    if (this.#abortReason !== null) throw new Error(this.#abortReason);
    if (this.#mode === "discard") throw new Error("the message was discarded while being written");
    if (this.#head < this.#pieces.length) {
      const p = this.#pieces[this.#head++];
      if (this.#head === this.#pieces.length) {
        this.#pieces.length = 0;
        this.#head = 0;
      }
      return p;
    }
    return this.#ended ? null : undefined;
  }

  /**
   * @internal The next piece, waiting for it; `null` at the end of the message.
   * @throws {Error} When the sender stopped mid-message.
   */
  async next(): Promise<TailPiece | null> {
    for (;;) {
      const p = this.poll();
      if (p !== undefined) return p;
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }

  /** @internal A piece from {@link next} was written: release its chunk, open the window. */
  consumed(piece: TailPiece): void {
    if (piece.chunk !== null) releaseChunk(piece.chunk);
    this.#queued -= piece.bytes.length;
    if (!this.full) this.#wakeProducer();
  }

  // ---- internals --------------------------------------------------------------------------

  #claim(mode: Mode): void {
    if (this.#mode !== "open") {
      throw new TypeError(`this message tail was already ${this.#mode}ed`);
    }
    this.#mode = mode;
  }

  #push(piece: TailPiece): void {
    switch (this.#mode) {
      case "discard":
        if (piece.chunk !== null) releaseChunk(piece.chunk);
        return;
      case "collect":
        this.#absorb(piece);
        return;
      default:
        this.#pieces.push(piece);
        this.#queued += piece.bytes.length;
        this.#wakeConsumer();
    }
  }

  /** Collect mode: copy a piece into its frame. */
  #absorb(piece: TailPiece): void {
    if (piece.size >= 0) {
      this.#frame = largeBytes(piece.size);
      this.#fill = 0;
      this.#collected!.push(this.#frame);
    } else {
      this.#frame!.set(piece.bytes, this.#fill);
      this.#fill += piece.bytes.length;
    }
    if (piece.chunk !== null) releaseChunk(piece.chunk);
  }

  #settleCollect(): void {
    if (this.#ended && this.#collectDone !== null) {
      this.#collectDone(this.#collected!);
      this.#collectDone = this.#collectFail = null;
    }
  }

  #releaseQueued(): void {
    const pieces = this.#pieces;
    for (let i = this.#head; i < pieces.length; i++) {
      const c = pieces[i].chunk;
      if (c !== null) releaseChunk(c);
    }
    pieces.length = 0;
    this.#head = 0;
    this.#queued = 0;
  }

  #wakeConsumer(): void {
    const w = this.#wake;
    if (w !== null) {
      this.#wake = null;
      w();
    }
  }

  #wakeProducer(): void {
    const r = this.#room;
    if (r !== null) {
      this.#room = null;
      r();
    }
  }
}

/**
 * The tail of a message, if it was delivered early by a socket with `cutThrough`.
 *
 * @param frames A received message.
 * @returns Its last element when that is a {@link MessageTail}, else `undefined`.
 */
export function tailOf(frames: Frames): MessageTail | undefined {
  const last = frames[frames.length - 1];
  return last instanceof MessageTail ? last : undefined;
}

/**
 * Consume the tail of a message that is being dropped, so its sender's connection goes on.
 *
 * @param frames A message (with or without a tail).
 */
export function discardTail(frames: Frames): void {
  const last = frames[frames.length - 1];
  if (last instanceof MessageTail) last.discard();
}
