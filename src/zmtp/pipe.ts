/**
 * A pipe: one peer's outgoing message queue, as in libzmq. A pipe made by `connect()` outlives
 * its TCP connections (messages wait in it while the peer is away); a pipe of an accepted
 * connection lives and dies with that connection.
 *
 * @module
 */

import type { Frames } from "./types.ts";
import { Fifo } from "./fifo.ts";
import type { Connection } from "./connection.ts";

/** One peer's outgoing queue and per-peer state used by the socket types. */
export class Pipe {
  /** Messages waiting to be written, oldest first. */
  readonly out: Fifo<Frames> = new Fifo<Frames>();
  /** The live, handshaken connection, or `null` while the peer is away. */
  conn: Connection | null = null;
  /** ROUTER: the peer's routing id once known. */
  identity: Uint8Array | null = null;
  /** ROUTER: the routing-map key of {@link Pipe.identity}. */
  key: string | null = null;
  /** ROUTER: a second peer with an identity already in use; libzmq ignores it. */
  ignored = false;
  /** PUB/XPUB: the prefixes this peer subscribed to, keyed by {@link bytesKey}. */
  subscriptions: Map<string, Uint8Array> | null = null;
  /** PUB/XPUB: the peer subscribed to `""` (everything). */
  subscribedAll = false;
  /** `true` once the pipe is terminated (its queue is dropped). */
  terminated = false;
  /** ROUTER: while the peer is expected back (`RouterSocket`), the time limit of the wait. */
  holdTimer: ReturnType<typeof setTimeout> | undefined = undefined;

  /**
   * @param hwm Outgoing high-water mark in messages (0 = unlimited).
   * @param persistent Made by `connect()`: survives reconnects.
   */
  constructor(readonly hwm: number, readonly persistent: boolean) {}

  /** Whether the queue is at its high-water mark. */
  get full(): boolean {
    return this.hwm > 0 && this.out.length >= this.hwm;
  }

  /** Queue a message and wake the writer. */
  push(frames: Frames): void {
    this.out.push(frames);
    const c = this.conn;
    if (c !== null) c.kick();
  }
}

/** A string key for a byte string (each byte one UTF-16 code unit), for `Map` lookups. */
export function bytesKey(b: Uint8Array): string {
  if (b.length < 64) return String.fromCharCode.apply(null, b as unknown as number[]);
  let s = "";
  for (let i = 0; i < b.length; i += 4096) {
    s += String.fromCharCode.apply(null, b.subarray(i, i + 4096) as unknown as number[]);
  }
  return s;
}
