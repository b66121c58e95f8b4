/**
 * PUB, XPUB, SUB and XSUB (libzmq `pub.cpp`, `xpub.cpp`, `sub.cpp`, `xsub.cpp`).
 *
 * Subscriptions travel as SUBSCRIBE/CANCEL commands to ZMTP 3.1 peers and as messages whose
 * first byte is 1/0 to ZMTP 3.0 peers (RFC 37 §"Publish-Subscribe"); both forms are accepted.
 * The publisher filters by prefix per peer and drops at the high-water mark or while a peer
 * is disconnected.
 *
 * @module
 */

import type { Connection } from "./connection.ts";
import { encodeCommand, encodeFrames, utf8 } from "./frame_codec.ts";
import { bytesKey, type Pipe } from "./pipe.ts";
import { SocketBase } from "./socket_base.ts";
import type { Frames, SocketOptions, SocketType } from "./types.ts";

function topicBytes(prefix: Uint8Array | string | undefined): Uint8Array {
  if (prefix === undefined) return new Uint8Array(0);
  return typeof prefix === "string" ? utf8(prefix) : prefix;
}

function startsWith(data: Uint8Array, prefix: Uint8Array): boolean {
  const n = prefix.length;
  if (n > data.length) return false;
  for (let i = 0; i < n; i++) if (data[i] !== prefix[i]) return false;
  return true;
}

/**
 * Encode a subscription the way a peer of the given minor version expects it.
 * @param minor The peer's ZMTP minor version.
 * @param topic The prefix.
 * @param subscribe SUBSCRIBE (true) or CANCEL (false).
 * @returns A complete frame.
 */
export function encodeSubscription(
  minor: number,
  topic: Uint8Array,
  subscribe: boolean,
): Uint8Array {
  if (minor >= 1) return encodeCommand(subscribe ? "SUBSCRIBE" : "CANCEL", topic);
  const body = new Uint8Array(topic.length + 1);
  body[0] = subscribe ? 1 : 0;
  body.set(topic, 1);
  return encodeFrames([body]);
}

/** Base of PUB and XPUB: per-peer prefix filtering, drop at HWM. */
abstract class Publisher extends SocketBase {
  constructor(type: SocketType, options?: SocketOptions) {
    super(type, options);
  }

  protected override xattach(pipe: Pipe): void {
    pipe.subscriptions = new Map();
  }

  protected override xdetach(pipe: Pipe): void {
    const subs = pipe.subscriptions;
    if (subs === null) return;
    for (const topic of subs.values()) this.subscriptionChanged(topic, false);
    subs.clear();
    pipe.subscribedAll = false;
  }

  /** A peer that will reconnect is away: forget its subscriptions (it resends them). */
  protected override xdisconnected(pipe: Pipe): void {
    this.xdetach(pipe);
  }

  /** A peer's subscription set changed; XPUB reports it to the application. */
  protected subscriptionChanged(_topic: Uint8Array, _subscribe: boolean): void {}

  #apply(pipe: Pipe | null, topic: Uint8Array, subscribe: boolean): void {
    if (pipe === null || pipe.subscriptions === null) return;
    const subs = pipe.subscriptions;
    const key = bytesKey(topic);
    if (subscribe) {
      if (subs.has(key)) return;
      subs.set(key, topic);
      if (topic.length === 0) pipe.subscribedAll = true;
    } else {
      if (!subs.delete(key)) return;
      if (topic.length === 0) pipe.subscribedAll = false;
    }
    this.subscriptionChanged(topic, subscribe);
  }

  protected override xsubscription(conn: Connection, topic: Uint8Array, on: boolean): void {
    this.#apply(conn.pipe, topic, on);
  }

  protected override xmessage(conn: Connection, frames: Frames): void {
    const f = frames[0];
    if (frames.length === 1 && f.length > 0 && (f[0] === 0 || f[0] === 1)) {
      this.#apply(conn.pipe, f.subarray(1), f[0] === 1);
    } else {
      this.otherMessage(frames);
    }
  }

  /** A message from a subscriber that is not a subscription. PUB drops it. */
  protected otherMessage(_frames: Frames): void {}

  protected override xsend(frames: Frames): boolean {
    const first = frames[0];
    const pipes = this.pipes;
    for (let i = 0; i < pipes.length; i++) {
      const pipe = pipes[i];
      if (pipe.conn === null || pipe.full) continue;
      if (pipe.subscribedAll) {
        pipe.push(frames);
        continue;
      }
      const subs = pipe.subscriptions;
      if (subs === null || subs.size === 0) continue;
      for (const topic of subs.values()) {
        if (startsWith(first, topic)) {
          pipe.push(frames);
          break;
        }
      }
    }
    return true;
  }
}

/** A PUB socket. */
export class PubSocket extends Publisher {
  /** @param options Socket options. */
  constructor(options?: SocketOptions) {
    super("PUB", options);
  }

  /** PUB sockets cannot receive. */
  override receive(): Promise<Frames> {
    return Promise.reject(new TypeError("PUB sockets cannot receive (use XPUB)"));
  }
}

/**
 * An XPUB socket: like PUB, and `receive()` yields subscription messages (`[1, ...prefix]` or
 * `[0, ...prefix]`) when a prefix gains its first subscriber or loses its last one.
 */
export class XPubSocket extends Publisher {
  readonly #counts = new Map<string, number>();

  /** @param options Socket options. */
  constructor(options?: SocketOptions) {
    super("XPUB", options);
  }

  protected override subscriptionChanged(topic: Uint8Array, subscribe: boolean): void {
    const key = bytesKey(topic);
    const n = this.#counts.get(key) ?? 0;
    if (subscribe) {
      this.#counts.set(key, n + 1);
      if (n > 0) return;
    } else {
      if (n <= 1) this.#counts.delete(key);
      else this.#counts.set(key, n - 1);
      if (n !== 1) return;
    }
    const msg = new Uint8Array(topic.length + 1);
    msg[0] = subscribe ? 1 : 0;
    msg.set(topic, 1);
    if (!this.closed) this.deliver([msg]);
  }

  protected override otherMessage(frames: Frames): void {
    this.deliver(frames);
  }
}

/** Base of SUB and XSUB: keeps the subscription set, sends it to every peer, filters input. */
abstract class Subscriber extends SocketBase {
  readonly #subs = new Map<string, { topic: Uint8Array; count: number }>();
  #all = 0;

  constructor(type: SocketType, options?: SocketOptions) {
    super(type, options);
  }

  /** Send a subscription change to every connected peer. */
  protected broadcastSubscription(topic: Uint8Array, subscribe: boolean): void {
    for (const pipe of this.pipes) {
      const conn = pipe.conn;
      if (conn !== null) conn.sendControl(encodeSubscription(conn.peerMinor, topic, subscribe));
    }
  }

  /** Count a subscription; `true` when the prefix is new. */
  protected addSubscription(topic: Uint8Array): boolean {
    const key = bytesKey(topic);
    const entry = this.#subs.get(key);
    if (topic.length === 0) this.#all++;
    if (entry !== undefined) {
      entry.count++;
      return false;
    }
    this.#subs.set(key, { topic: topic.slice(), count: 1 });
    return true;
  }

  /** Uncount a subscription; `true` when the prefix is gone. */
  protected removeSubscription(topic: Uint8Array): boolean {
    const key = bytesKey(topic);
    const entry = this.#subs.get(key);
    if (entry === undefined) return false;
    if (topic.length === 0) this.#all--;
    if (--entry.count > 0) return false;
    this.#subs.delete(key);
    return true;
  }

  /** Resend every subscription on a new connection (after a reconnect too). */
  protected override xready(conn: Connection): void {
    for (const { topic } of this.#subs.values()) {
      conn.sendControl(encodeSubscription(conn.peerMinor, topic, true));
    }
  }

  protected override xmessage(_conn: Connection, frames: Frames): void {
    if (this.#all > 0) {
      this.deliver(frames);
      return;
    }
    const first = frames[0];
    for (const { topic } of this.#subs.values()) {
      if (startsWith(first, topic)) {
        this.deliver(frames);
        return;
      }
    }
  }

  /** Subscribe to a prefix (`""` = everything). */
  override subscribe(prefix?: Uint8Array | string): void {
    this.assertOpen();
    const topic = topicBytes(prefix);
    if (this.addSubscription(topic)) this.broadcastSubscription(topic, true);
  }

  /** Drop one subscription to a prefix. */
  override unsubscribe(prefix?: Uint8Array | string): void {
    this.assertOpen();
    const topic = topicBytes(prefix);
    if (this.removeSubscription(topic)) this.broadcastSubscription(topic, false);
  }
}

/** A SUB socket. */
export class SubSocket extends Subscriber {
  /** @param options Socket options. */
  constructor(options?: SocketOptions) {
    super("SUB", options);
  }

  protected override xsend(_frames: Frames): boolean {
    throw new TypeError("SUB sockets cannot send (use XSUB, or subscribe())");
  }
}

/**
 * An XSUB socket: the application may also send subscription messages (`[1, ...prefix]`,
 * `[0, ...prefix]`); any other message is sent to every publisher.
 */
export class XSubSocket extends Subscriber {
  /** @param options Socket options. */
  constructor(options?: SocketOptions) {
    super("XSUB", options);
  }

  protected override xsend(frames: Frames): boolean {
    const f = frames[0];
    if (frames.length === 1 && f.length > 0 && (f[0] === 0 || f[0] === 1)) {
      const topic = f.subarray(1);
      if (f[0] === 1) {
        this.addSubscription(topic);
        this.broadcastSubscription(topic, true);
      } else if (this.removeSubscription(topic)) {
        this.broadcastSubscription(topic, false);
      }
      return true;
    }
    for (const pipe of this.pipes) if (pipe.conn !== null && !pipe.full) pipe.push(frames);
    return true;
  }
}
