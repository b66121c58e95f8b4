/**
 * DEALER and the load-balancing every round-robin sender shares (libzmq `lb.cpp`): each message
 * goes to the next pipe that is under its high-water mark, including pipes of `connect()`ed
 * endpoints that are not up yet, where it waits for the connection.
 *
 * @module
 */

import type { Pipe } from "./pipe.ts";
import { SocketBase } from "./socket_base.ts";
import type { Frames, SocketOptions, SocketType } from "./types.ts";

/** Base of DEALER and PUSH: round-robin out, blocking when every pipe is full. */
export abstract class LoadBalancingSocket extends SocketBase {
  #next = 0;

  /**
   * @param type DEALER or PUSH.
   * @param options Socket options.
   */
  constructor(type: SocketType, options?: SocketOptions) {
    super(type, options);
  }

  protected override xsend(frames: Frames): boolean {
    const pipes = this.pipes;
    const n = pipes.length;
    for (let k = 0; k < n; k++) {
      const i = (this.#next + k) % n;
      const pipe: Pipe = pipes[i];
      if (!pipe.full) {
        this.#next = (i + 1) % n;
        pipe.push(frames);
        return true;
      }
    }
    return false;
  }
}

/** A DEALER socket: round-robin out, fair-queued in. */
export class DealerSocket extends LoadBalancingSocket {
  /** @param options Socket options. */
  constructor(options?: SocketOptions) {
    super("DEALER", options);
  }
}
