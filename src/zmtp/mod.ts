/**
 * A ZeroMQ-compatible transport in TypeScript: ZMTP 3.1 (interoperating with 3.0 peers) over
 * `Deno.connect`/`Deno.listen`, on TCP and Unix sockets, with libzmq's socket-type semantics.
 *
 * @example
 * ```ts
 * import { createSocket } from "./mod.ts";
 *
 * const router = createSocket("ROUTER");
 * const endpoint = await router.bind("tcp://127.0.0.1:0");
 * const dealer = createSocket("DEALER");
 * dealer.connect(endpoint);
 * await dealer.send([new TextEncoder().encode("hello")]);
 * const [identity, body] = await router.receive();
 * await router.send([identity, body]);
 * await dealer.receive();
 * await dealer.close();
 * await router.close();
 * ```
 *
 * @module
 */

import { DealerSocket } from "./dealer.ts";
import { PubSocket, SubSocket, XPubSocket, XSubSocket } from "./pub_sub.ts";
import { PullSocket, PushSocket } from "./push_pull.ts";
import { RouterSocket } from "./router.ts";
import type { Socket, SocketOptions, SocketType } from "./types.ts";

export type { FramePlacer, Frames, Socket, SocketOptions, SocketType } from "./types.ts";
export { parseEndpoint } from "./endpoint.ts";
export { MessageTail, tailOf } from "./tail.ts";
export type { Endpoint } from "./endpoint.ts";

/**
 * Create a socket of the given type.
 *
 * @param type One of ROUTER, DEALER, PUB, SUB, XPUB, XSUB, PUSH, PULL.
 * @param options Socket options (high-water marks, identity, reconnect, limits, logging).
 * @returns A new, unconnected socket; `bind()` and/or `connect()` it, and `close()` it when done.
 * @throws {TypeError} On an unknown socket type.
 * @throws {RangeError} On an invalid option value.
 */
export function createSocket(type: SocketType, options?: SocketOptions): Socket {
  switch (type) {
    case "ROUTER":
      return new RouterSocket(options);
    case "DEALER":
      return new DealerSocket(options);
    case "PUB":
      return new PubSocket(options);
    case "SUB":
      return new SubSocket(options);
    case "XPUB":
      return new XPubSocket(options);
    case "XSUB":
      return new XSubSocket(options);
    case "PUSH":
      return new PushSocket(options);
    case "PULL":
      return new PullSocket(options);
    default:
      throw new TypeError(`Unknown socket type ${JSON.stringify(type)}`);
  }
}
