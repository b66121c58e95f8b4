/**
 * ZMTP 3.x framing (RFC 37 §"Framing" and §"Commands"): frame headers, the incremental
 * decoder every connection reads through, and command bodies (READY properties, ERROR,
 * PING/PONG, SUBSCRIBE/CANCEL).
 *
 * @module
 */

import { ZmtpProtocolError } from "../errors.ts";
import { GREETING_SIZE } from "./greeting.ts";
import { takeChunk } from "./chunk_pool.ts";
import { largeBytes } from "./large_bytes.ts";
import { prefault } from "./prefault.ts";

/** Frame flag: more frames of this message follow. */
export const FLAG_MORE = 0x01;
/** Frame flag: the size field is 8 bytes (a long frame). */
export const FLAG_LONG = 0x02;
/** Frame flag: this frame is a command, not a message part. */
export const FLAG_COMMAND = 0x04;

const TWO_32 = 0x1_0000_0000;
const enc = new TextEncoder();
const dec = new TextDecoder();

/** Encode ASCII/UTF-8 text to bytes. */
export function utf8(s: string): Uint8Array {
  return enc.encode(s);
}

/**
 * Write a frame header at `offset` of `target`.
 *
 * Layout: flags (1 byte: bit 0 MORE, bit 1 LONG, bit 2 COMMAND) then the body size, 1 byte when
 * it is at most 255, else 8 bytes big-endian with the LONG flag set.
 *
 * @param target Buffer with at least 9 bytes free at `offset`.
 * @param offset Where to write.
 * @param flags `FLAG_MORE` and/or `FLAG_COMMAND` (LONG is added as needed).
 * @param size Body size in bytes.
 * @returns The offset just past the header.
 */
export function writeFrameHeader(
  target: Uint8Array,
  offset: number,
  flags: number,
  size: number,
): number {
  if (size <= 255) {
    target[offset] = flags;
    target[offset + 1] = size;
    return offset + 2;
  }
  target[offset] = flags | FLAG_LONG;
  const hi = Math.floor(size / TWO_32);
  const lo = size >>> 0;
  target[offset + 1] = hi >>> 24;
  target[offset + 2] = (hi >>> 16) & 0xff;
  target[offset + 3] = (hi >>> 8) & 0xff;
  target[offset + 4] = hi & 0xff;
  target[offset + 5] = lo >>> 24;
  target[offset + 6] = (lo >>> 16) & 0xff;
  target[offset + 7] = (lo >>> 8) & 0xff;
  target[offset + 8] = lo & 0xff;
  return offset + 9;
}

/**
 * Encode a whole multipart message (or one command) into a fresh buffer.
 *
 * @param frames The message parts.
 * @param command Mark the (single) frame as a command.
 * @returns Header and body of every frame, concatenated.
 */
export function encodeFrames(frames: readonly Uint8Array[], command = false): Uint8Array {
  let total = 0;
  for (const f of frames) total += f.length + (f.length <= 255 ? 2 : 9);
  const out = new Uint8Array(total);
  let p = 0;
  for (let i = 0; i < frames.length; i++) {
    const f = frames[i];
    const flags = (command ? FLAG_COMMAND : 0) | (i < frames.length - 1 ? FLAG_MORE : 0);
    p = writeFrameHeader(out, p, flags, f.length);
    out.set(f, p);
    p += f.length;
  }
  return out;
}

/** Receives what a {@link FrameDecoder} parses. */
export interface FrameSink {
  /** The peer's 64-byte greeting; the view is valid only during the call. */
  onGreeting(greeting: Uint8Array): void;
  /** One complete frame; `body` is a fresh buffer the sink may keep. */
  onFrame(flags: number, body: Uint8Array): void;
  /**
   * Message frames at least this big (and not complete in the read buffer) are streamed to
   * the three `onFrame*` hooks below instead of {@link FrameSink.onFrame}; 0 or absent = never.
   */
  readonly streamThreshold?: number;
  /** A streamed frame starts (`flags` without LONG). */
  onFrameStart?(flags: number, size: number): void;
  /**
   * Body bytes of the streamed frame, in a pool chunk (`chunk_pool.ts`); `chunk` is set on the last
   * piece cut from it, for the sink to release once every piece of it was consumed.
   */
  onFrameData?(bytes: Uint8Array, chunk: Uint8Array | null): void;
  /** The streamed frame's body is complete. */
  onFrameEnd?(): void;
  /**
   * Frames at least this big (and not complete in the read buffer) are received into a
   * `SharedArrayBuffer`; 0 or absent = never.
   */
  readonly sharedThreshold?: number;
  /**
   * Where a large message frame goes: an array of exactly `size` bytes, `undefined` (a new one),
   * or a promise of either, during which the decoder parses and reads nothing
   * ({@link FrameDecoder.placing}).
   */
  placeFrame?(size: number): Uint8Array | undefined | Promise<Uint8Array | undefined>;
}

/** An incomplete frame at least this big is read straight into its own buffer. */
const DIRECT_READ_THRESHOLD = 16 * 1024;
/** Frames up to this size are copied into a shared slab instead of getting their own buffer. */
const SLAB_FRAME_LIMIT = 4 * 1024;
const SLAB_SIZE = 64 * 1024;
/** The read buffer starts small (idle connections stay cheap) and grows when a read fills it. */
const READ_MIN = 8 * 1024;
const READ_MAX = 64 * 1024;

// One slab shared by every decoder: carving is synchronous, so no two decoders interleave.
let slab = new Uint8Array(SLAB_SIZE);
let slabOff = 0;

/**
 * Incremental ZMTP decoder over one reusable read buffer.
 *
 * The owner reads into {@link FrameDecoder.writable} and reports the byte count to
 * {@link FrameDecoder.commit}, which parses every complete frame. A frame body larger than what
 * is buffered is given its own buffer of the announced size (after the size is checked against
 * `maxFrameSize`) and later reads land in it directly, so big frames are never re-assembled
 * from chunks. A message frame at least as big as the sink's `streamThreshold` is instead read
 * piece by piece into reusable pool chunks and handed to the sink as it arrives (cut-through).
 */
export class FrameDecoder {
  #buf: Uint8Array;
  #start = 0;
  #end = 0;
  #big: Uint8Array | null = null;
  #bigFill = 0;
  #bigFlags = 0;
  /** Streamed frame: body bytes still to read, the chunk being filled and its fill level. */
  #streamLeft = 0;
  #chunk: Uint8Array | null = null;
  #chunkFill = 0;
  /** Settles once the frame at the read position has its place; `null` when none waits. */
  #placing: Promise<void> | null = null;
  /** The array that came for the waiting frame (its place, or a new one). */
  #placed: Uint8Array | null = null;
  #greeted = false;
  #halted = false;
  #grow = false;
  readonly #sink: FrameSink;
  readonly #max: number;

  /**
   * @param sink Receives the greeting and each frame.
   * @param maxFrameSize Largest accepted frame body; a bigger size field throws.
   * @param bufferSize Initial size of the reusable read buffer (it grows to 64 KB when busy).
   */
  constructor(sink: FrameSink, maxFrameSize: number, bufferSize = READ_MIN) {
    this.#sink = sink;
    this.#max = maxFrameSize;
    this.#buf = new Uint8Array(bufferSize);
  }

  /** Stop delivering frames (the connection is going away). */
  halt(): void {
    this.#halted = true;
  }

  /**
   * Set while a frame waits for the sink to place it: the owner must not read until it settles,
   * then call {@link FrameDecoder.resume}.
   */
  get placing(): Promise<void> | null {
    return this.#placing;
  }

  /**
   * Parse what is buffered, once a frame's place has come.
   * @throws {ZmtpProtocolError} As {@link FrameDecoder.commit}.
   */
  resume(): void {
    this.#parse();
  }

  /** `true` once any byte has been read. */
  get receivedAny(): boolean {
    return this.#greeted || this.#end > 0;
  }

  /** `true` while part of a frame (or greeting) has been read but not delivered. */
  get midFrame(): boolean {
    return this.#big !== null || this.#streamLeft > 0 || this.#end > this.#start;
  }

  /** @returns The region the next read should fill. */
  writable(): Uint8Array {
    if (this.#big !== null) return this.#big.subarray(this.#bigFill);
    if (this.#streamLeft > 0) {
      let c = this.#chunk;
      if (c === null) {
        c = this.#chunk = takeChunk();
        this.#chunkFill = 0;
      }
      const f = this.#chunkFill;
      return c.subarray(f, f + Math.min(c.length - f, this.#streamLeft));
    }
    let buf = this.#buf;
    if (this.#grow) {
      this.#grow = false;
      if (buf.length < READ_MAX) {
        const bigger = new Uint8Array(READ_MAX);
        bigger.set(buf.subarray(this.#start, this.#end));
        this.#end -= this.#start;
        this.#start = 0;
        this.#buf = buf = bigger;
      }
    }
    if (this.#start > 0 && buf.length - this.#end < DIRECT_READ_THRESHOLD) {
      buf.copyWithin(0, this.#start, this.#end);
      this.#end -= this.#start;
      this.#start = 0;
    }
    return buf.subarray(this.#end);
  }

  /**
   * Account for `n` bytes read into {@link FrameDecoder.writable} and deliver what completed.
   * @throws {ZmtpProtocolError} On invalid flags or a size over the limit.
   */
  commit(n: number): void {
    if (this.#streamLeft > 0) {
      this.#piece(n);
      return;
    }
    if (this.#big !== null) {
      this.#bigFill += n;
      if (this.#bigFill < this.#big.length) return;
      const body = this.#big;
      this.#big = null;
      if (!this.#halted) this.#sink.onFrame(this.#bigFlags, body);
      return;
    }
    if (this.#end + n === this.#buf.length) this.#grow = true;
    this.#end += n;
    this.#parse();
  }

  #parse(): void {
    const buf = this.#buf;
    const e = this.#end;
    let p = this.#start;
    if (!this.#greeted) {
      // Check the first byte early so garbage is rejected without waiting for 64 bytes.
      if (e > p && buf[p] !== 0xff) {
        throw new ZmtpProtocolError("bad greeting signature (not a ZMTP 3.x peer)");
      }
      if (e - p < GREETING_SIZE) return;
      this.#greeted = true;
      this.#sink.onGreeting(buf.subarray(p, p + GREETING_SIZE));
      p += GREETING_SIZE;
    }
    const sink = this.#sink;
    while (p < e && !this.#halted) {
      const flags = buf[p];
      if (flags & 0xf8) {
        throw new ZmtpProtocolError(`invalid frame flags 0x${flags.toString(16)}`);
      }
      let size: number;
      let hl: number;
      if (flags & FLAG_LONG) {
        if (e - p < 9) break;
        const hi = ((buf[p + 1] << 24) | (buf[p + 2] << 16) | (buf[p + 3] << 8) | buf[p + 4]) >>> 0;
        const lo = ((buf[p + 5] << 24) | (buf[p + 6] << 16) | (buf[p + 7] << 8) | buf[p + 8]) >>>
          0;
        if (hi >= 0x8000_0000) {
          throw new ZmtpProtocolError("frame length has the top bit set (>= 2^63)");
        }
        size = hi * TWO_32 + lo;
        hl = 9;
      } else {
        if (e - p < 2) break;
        size = buf[p + 1];
        hl = 2;
      }
      if (size > this.#max) {
        throw new ZmtpProtocolError(
          `frame of ${size} bytes exceeds maxMessageSize ${this.#max}`,
        );
      }
      const avail = e - p - hl;
      if (avail >= size) {
        const from = p + hl;
        p = from + size;
        sink.onFrame(flags & ~FLAG_LONG, this.#copyOut(from, size));
        continue;
      }
      const stream = sink.streamThreshold;
      if (stream !== undefined && stream > 0 && size >= stream && !(flags & FLAG_COMMAND)) {
        sink.onFrameStart!(flags & ~FLAG_LONG, size);
        this.#streamLeft = size;
        if (avail > 0) {
          // The buffered start of the body goes into the first chunk (the read buffer is reused).
          this.#chunk = takeChunk();
          this.#chunkFill = 0;
          this.#chunk.set(buf.subarray(p + hl, e));
          this.#piece(avail);
        }
        p = e;
        break;
      }
      if (size >= DIRECT_READ_THRESHOLD || size > buf.length - hl) {
        const threshold = sink.sharedThreshold;
        const shared = threshold !== undefined && threshold > 0 && size >= threshold;
        const own = (place: Uint8Array | undefined) =>
          place?.length === size ? place : largeBytes(size, shared);
        let big = this.#placed;
        this.#placed = null;
        if (big === null && sink.placeFrame !== undefined && !(flags & FLAG_COMMAND)) {
          const place = sink.placeFrame(size);
          if (place instanceof Promise) {
            // Parsing stops at this frame's header until its place comes.
            const settle = (bytes: Uint8Array | undefined) => {
              this.#placed = own(bytes);
              this.#placing = null;
            };
            this.#placing = place.then(settle, () => settle(undefined));
            break;
          }
          big = own(place);
        }
        big ??= largeBytes(size, shared);
        big.set(buf.subarray(p + hl, e));
        this.#big = big;
        this.#bigFill = avail;
        this.#bigFlags = flags & ~FLAG_LONG;
        const body = big;
        prefault(body, () => this.#big === body && !this.#halted ? this.#bigFill : body.length);
        p = e;
      }
      break;
    }
    if (p >= e) {
      this.#start = 0;
      this.#end = 0;
    } else {
      this.#start = p;
    }
  }

  /** Hand `n` bytes just read into the current chunk to the sink. */
  #piece(n: number): void {
    const c = this.#chunk!;
    const from = this.#chunkFill;
    const to = from + n;
    this.#streamLeft -= n;
    const last = to === c.length || this.#streamLeft === 0;
    if (last) this.#chunk = null;
    else this.#chunkFill = to;
    if (this.#halted) return;
    const sink = this.#sink;
    sink.onFrameData!(c.subarray(from, to), last ? c : null);
    if (this.#streamLeft === 0) sink.onFrameEnd!();
  }

  /**
   * Copy a complete frame out of the read buffer. Small frames share 64 KB slabs (one
   * `ArrayBuffer` per slab, not per frame: allocating a backing store per frame costs more
   * than the copy); offsets are 8-byte aligned so typed-array views over frames work.
   */
  #copyOut(from: number, size: number): Uint8Array {
    const buf = this.#buf;
    if (size > SLAB_FRAME_LIMIT) return buf.slice(from, from + size);
    let off = slabOff;
    if (off + size > SLAB_SIZE) {
      slab = new Uint8Array(SLAB_SIZE);
      off = 0;
    }
    const out = new Uint8Array(slab.buffer, off, size);
    if (size <= 64) {
      for (let i = 0; i < size; i++) out[i] = buf[from + i];
    } else {
      out.set(buf.subarray(from, from + size));
    }
    slabOff = (off + size + 7) & ~7;
    return out;
  }
}

// ---------------------------------------------------------------------------
// Commands (RFC 37 §"Commands", RFC 37 §"The NULL Security Mechanism")
// ---------------------------------------------------------------------------

/** A parsed command frame. */
export interface Command {
  /** Command name, e.g. `"READY"`. */
  name: string;
  /** The bytes after the name. */
  data: Uint8Array;
}

/**
 * Build a complete command frame.
 *
 * Body layout: name size (1 byte), name (ASCII), command data.
 *
 * @param name Command name (at most 255 bytes).
 * @param data Command data.
 * @returns Header and body.
 */
export function encodeCommand(name: string, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const body = new Uint8Array(1 + name.length + data.length);
  body[0] = name.length;
  for (let i = 0; i < name.length; i++) body[1 + i] = name.charCodeAt(i);
  body.set(data, 1 + name.length);
  return encodeFrames([body], true);
}

/**
 * Split a command body into name and data.
 * @throws {ZmtpProtocolError} When the name size runs past the body.
 */
export function parseCommand(body: Uint8Array): Command {
  if (body.length < 1 || body[0] === 0 || body[0] + 1 > body.length) {
    throw new ZmtpProtocolError("malformed command frame");
  }
  const n = body[0];
  let name = "";
  for (let i = 1; i <= n; i++) name += String.fromCharCode(body[i]);
  return { name, data: body.subarray(1 + n) };
}

/**
 * Encode metadata properties (READY).
 *
 * Each property: name size (1 byte), name, value size (4 bytes big-endian), value.
 */
export function encodeProperties(props: ReadonlyArray<[string, Uint8Array]>): Uint8Array {
  let total = 0;
  for (const [k, v] of props) total += 1 + k.length + 4 + v.length;
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  let p = 0;
  for (const [k, v] of props) {
    out[p++] = k.length;
    for (let i = 0; i < k.length; i++) out[p++] = k.charCodeAt(i);
    dv.setUint32(p, v.length);
    p += 4;
    out.set(v, p);
    p += v.length;
  }
  return out;
}

/**
 * Decode metadata properties; names are lower-cased (they are case-insensitive).
 * @throws {ZmtpProtocolError} When a size runs past the data.
 */
export function parseProperties(data: Uint8Array): Map<string, Uint8Array> {
  const props = new Map<string, Uint8Array>();
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let p = 0;
  while (p < data.length) {
    const n = data[p++];
    if (n === 0 || p + n + 4 > data.length) throw new ZmtpProtocolError("malformed metadata");
    const name = dec.decode(data.subarray(p, p + n)).toLowerCase();
    p += n;
    const vlen = dv.getUint32(p);
    p += 4;
    if (p + vlen > data.length) throw new ZmtpProtocolError("malformed metadata value");
    props.set(name, data.subarray(p, p + vlen));
    p += vlen;
  }
  return props;
}

/** Build the NULL mechanism READY command with `Socket-Type` and, if given, `Identity`. */
export function readyCommand(socketType: string, identity?: Uint8Array): Uint8Array {
  const props: [string, Uint8Array][] = [["Socket-Type", utf8(socketType)]];
  if (identity) props.push(["Identity", identity]);
  return encodeCommand("READY", encodeProperties(props));
}

/** Build an ERROR command; the reason is cut to 255 bytes. */
export function errorCommand(reason: string): Uint8Array {
  const r = utf8(reason).subarray(0, 255);
  const data = new Uint8Array(1 + r.length);
  data[0] = r.length;
  data.set(r, 1);
  return encodeCommand("ERROR", data);
}

/** Decode an ERROR command's reason text. */
export function parseErrorReason(data: Uint8Array): string {
  const n = Math.min(data[0] ?? 0, data.length - 1);
  return dec.decode(data.subarray(1, 1 + n));
}

/** Decode bytes as UTF-8 text. */
export function text(bytes: Uint8Array): string {
  return dec.decode(bytes);
}
