/**
 * ROUTER: prepends the sending peer's routing id to each received message and routes each sent
 * message by its first frame (libzmq `router.cpp`).
 *
 * **Returning peers** (not in libzmq, which store-and-forwards and never cuts a connection for
 * a forwarded message): when this socket closes a peer's connection only because a message
 * it was forwarding to that peer was cut short by its sender (`tail.ts`), the peer is healthy
 * and reconnects with the same identity. Its pipe, the messages queued behind the cut one, and
 * its route are kept for `peerReturnHold` ms; messages routed to it meanwhile queue there, and
 * all of them go out on its new connection, in order. Without this, a request sent to an
 * engine in that window would be dropped without a trace. A peer with a generated identity
 * cannot be recognised again and is not waited for.
 *
 * @module
 */

import { HostUnreachableError } from "../errors.ts";
import type { Connection } from "./connection.ts";
import { bytesKey, type Pipe } from "./pipe.ts";
import { SocketBase } from "./socket_base.ts";
import { discardTail } from "./tail.ts";
import type { Frames, SocketOptions } from "./types.ts";

const encoder = new TextEncoder();

/** A ROUTER socket. */
export class RouterSocket extends SocketBase {
  readonly #routes = new Map<string, Pipe>();
  #nextId = (Math.random() * 0x1_0000_0000) >>> 0;

  /** See {@link Socket.hasPeer}. */
  hasPeer(routingId: Uint8Array | string): boolean {
    const id = typeof routingId === "string" ? encoder.encode(routingId) : routingId;
    return this.#routes.has(bytesKey(id));
  }

  /** @param options Socket options (`mandatory` applies here). */
  constructor(options?: SocketOptions) {
    super("ROUTER", options);
  }

  /** A peer's identity: its READY `Identity`, else a generated 5-byte id starting with 0x00. */
  protected override xready(conn: Connection, pipe: Pipe, identity: Uint8Array): void {
    if (pipe.key !== null && this.#routes.get(pipe.key) === pipe) this.#routes.delete(pipe.key);
    let id = identity;
    if (id.length === 0) {
      id = new Uint8Array(5);
      const n = this.#nextId;
      this.#nextId = (n + 1) >>> 0;
      id[1] = n >>> 24;
      id[2] = (n >>> 16) & 0xff;
      id[3] = (n >>> 8) & 0xff;
      id[4] = n & 0xff;
    }
    const key = bytesKey(id);
    let holder = this.#routes.get(key);
    conn.prefix = id;
    if (holder !== undefined && holder !== pipe && holder.holdTimer !== undefined) {
      // A returning peer (module doc): what waited for it goes out first on the new pipe.
      for (let m = holder.out.shift(); m !== undefined; m = holder.out.shift()) pipe.out.push(m);
      this.retirePipe(holder);
      holder = undefined;
    }
    if (holder !== undefined && holder !== pipe) {
      // libzmq (without ROUTER_HANDOVER) ignores a second peer that claims an identity in use.
      pipe.ignored = true;
      pipe.key = null;
      pipe.identity = null;
      return;
    }
    pipe.ignored = false;
    pipe.identity = id;
    pipe.key = key;
    this.#routes.set(key, pipe);
  }

  protected override xhold(pipe: Pipe): boolean {
    const wait = this.options.peerReturnHold;
    // A generated identity (first byte 0) is not the peer's own: it gets a new one next time.
    if (wait === 0 || pipe.identity === null || pipe.identity[0] === 0) return false;
    const peer = JSON.stringify(bytesKey(pipe.identity));
    pipe.holdTimer = setTimeout(() => {
      const lost = pipe.out.length;
      this.dropPipe(pipe);
      if (lost === 0) return;
      try {
        this.options.onProtocolError(
          `peer ${peer} did not reconnect within ${wait} ms: ${lost} message(s) for it dropped`,
          peer,
        );
      } catch {
        // a logger must not break the socket
      }
    }, wait);
    Deno.unrefTimer(pipe.holdTimer);
    return true;
  }

  protected override xdetach(pipe: Pipe): void {
    if (pipe.key !== null && this.#routes.get(pipe.key) === pipe) this.#routes.delete(pipe.key);
  }

  protected override xmessage(conn: Connection, frames: Frames): void {
    if (conn.pipe !== null && conn.pipe.ignored) {
      discardTail(frames);
      return;
    }
    this.deliver(frames);
  }

  protected override xsend(frames: Frames): boolean {
    const pipe = this.#routes.get(bytesKey(frames[0]));
    if (pipe === undefined) {
      if (this.options.mandatory) {
        throw new HostUnreachableError(
          `No peer with routing id ${JSON.stringify(bytesKey(frames[0]))} is connected`,
        );
      }
      discardTail(frames);
      return true;
    }
    if (pipe.full) {
      if (this.options.mandatory) return false;
      discardTail(frames);
      return true;
    }
    if (frames.length > 1) pipe.push(frames.slice(1));
    return true;
  }
}
