/**
 * Socket options with their defaults filled in and their values checked.
 *
 * @module
 */

import { utf8 } from "./frame_codec.ts";
import type { FramePlacer, SocketOptions } from "./types.ts";

/** Options with every default filled in. */
export interface ResolvedOptions {
  /** Our routing id, if set. */
  identity: Uint8Array | undefined;
  /** Outgoing high-water mark per peer (0 = unlimited). */
  sendHwm: number;
  /** Incoming high-water mark (0 = unlimited). */
  receiveHwm: number;
  /** Default linger of `close()`, in milliseconds. */
  linger: number;
  /** First reconnect delay. */
  reconnectInterval: number;
  /** Largest reconnect delay. */
  reconnectIntervalMax: number;
  /** ROUTER: wait for a peer cut off by a cut-short forward, in milliseconds. */
  peerReturnHold: number;
  /** ROUTER_MANDATORY. */
  mandatory: boolean;
  /** Largest accepted frame. */
  maxMessageSize: number;
  /** Message frames at least this big are streamed (0 = never). */
  cutThrough: number;
  /** Frames at least this big are received into shared memory (0 = never). */
  sharedFrames: number;
  /** Where large received frames go, if chosen. */
  placeFrames: FramePlacer | undefined;
  /** Handshake deadline in milliseconds (0 = none). */
  handshakeTimeout: number;
  /** Logger of dropped connections. */
  onProtocolError: (reason: string, peer: string) => void;
  /** Told of each handshaken connection that closes. */
  onPeerGone: ((routingId: Uint8Array | null) => void) | undefined;
}

function count(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value < 0) {
    throw new RangeError(`${name} must be a finite number >= 0, got ${value}`);
  }
  return value;
}

/**
 * Fill in defaults and check values.
 * @throws {RangeError} On a negative or non-finite number.
 */
export function resolveOptions(o: SocketOptions = {}): ResolvedOptions {
  const identity = typeof o.identity === "string" ? utf8(o.identity) : o.identity;
  if (identity !== undefined && (identity.length > 255 || identity[0] === 0)) {
    throw new RangeError("identity must be 1 to 255 bytes and must not start with a zero byte");
  }
  return {
    identity: identity !== undefined && identity.length > 0 ? identity : undefined,
    sendHwm: count(o.sendHwm, 1000, "sendHwm"),
    receiveHwm: count(o.receiveHwm, 1000, "receiveHwm"),
    linger: count(o.linger, 0, "linger"),
    reconnectInterval: count(o.reconnectInterval, 100, "reconnectInterval"),
    reconnectIntervalMax: count(o.reconnectIntervalMax, 5000, "reconnectIntervalMax"),
    peerReturnHold: count(o.peerReturnHold, 10_000, "peerReturnHold"),
    mandatory: o.mandatory ?? false,
    maxMessageSize: count(o.maxMessageSize, 2 ** 31, "maxMessageSize"),
    cutThrough: largeFrameSize(o.cutThrough, "cutThrough"),
    sharedFrames: largeFrameSize(o.sharedFrames, "sharedFrames"),
    placeFrames: placer(o.placeFrames),
    handshakeTimeout: count(o.handshakeTimeout, 30_000, "handshakeTimeout"),
    onProtocolError: o.onProtocolError ??
      ((reason, peer) => console.warn(`zmtp: dropped connection ${peer}: ${reason}`)),
    onPeerGone: o.onPeerGone,
  };
}

function placer(value: unknown): FramePlacer | undefined {
  if (value === undefined || typeof value === "function") return value as FramePlacer | undefined;
  throw new TypeError(`placeFrames must be a function, got ${typeof value}`);
}

/** Smallest `cutThrough` or `sharedFrames` (such a frame never fits the 64 KiB read buffer). */
export const MIN_LARGE_FRAME = 64 * 1024;

/**
 * Check a `cutThrough` or `sharedFrames` value.
 * @param value The option's value.
 * @param name The option's name, for the error.
 * @returns The value, 0 when absent.
 * @throws {RangeError} When it is neither 0 nor at least {@link MIN_LARGE_FRAME}.
 */
export function largeFrameSize(value: number | undefined, name: string): number {
  const n = count(value, 0, name);
  if (n !== 0 && n < MIN_LARGE_FRAME) {
    throw new RangeError(`${name} must be 0 or at least ${MIN_LARGE_FRAME}, got ${n}`);
  }
  return n;
}
