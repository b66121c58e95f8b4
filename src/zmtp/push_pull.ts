/**
 * PUSH (round-robin out, never receives) and PULL (fair-queued in, never sends).
 *
 * @module
 */

import type { Connection } from "./connection.ts";
import { LoadBalancingSocket } from "./dealer.ts";
import { SocketBase } from "./socket_base.ts";
import type { Frames, SocketOptions } from "./types.ts";

/** A PUSH socket. */
export class PushSocket extends LoadBalancingSocket {
  /** @param options Socket options. */
  constructor(options?: SocketOptions) {
    super("PUSH", options);
  }

  /** PUSH sockets cannot receive. */
  override receive(): Promise<Frames> {
    return Promise.reject(new TypeError("PUSH sockets cannot receive"));
  }

  protected override xmessage(_conn: Connection, _frames: Frames): void {
    // libzmq PUSH ignores anything a PULL peer might send.
  }
}

/** A PULL socket. */
export class PullSocket extends SocketBase {
  /** @param options Socket options. */
  constructor(options?: SocketOptions) {
    super("PULL", options);
  }

  protected override xsend(_frames: Frames): boolean {
    throw new TypeError("PULL sockets cannot send");
  }
}
