/**
 * The MUX and control relays (PROTOCOL.md §3.3, §3.5.1, §3.5.4): a ROUTER on each side, and
 * for every message the first two frames swapped, the rest forwarded verbatim (no
 * re-serialization, the sender's signature kept).
 *
 * ```text
 * client side receives  [client_id, engine_uuid, DELIM, ...]  → engine side sends [engine_uuid, client_id, DELIM, ...]
 * engine side receives  [engine_uuid, client_id, DELIM, ...]  → client side sends [client_id, engine_uuid, DELIM, ...]
 * ```
 *
 * Each direction is verified once by its own {@link InboundChannel} (own replay cache); the MUX
 * relay then lets the Hub inspect a parsed copy (`in`/`out` of the Python monitor, §3.6)
 * without a second pass through any replay cache (§1.4). Like Python's `MonitoredQueue`, the
 * relays forward to any connected engine identity without consulting the Hub (§3.5.5).
 *
 * @module
 */

import type { Frames, Socket } from "../zmtp/mod.ts";
import type { Message } from "../protocol/messages.ts";
import type { InboundChannel } from "./inbound.ts";
import { pump, sendQuiet } from "./pump.ts";

/** Options of {@link SwapRelay}. */
export interface SwapRelayOptions {
  /** Client-side ROUTER (`mux_in` / `control_in`). */
  clientSide: Socket;
  /** Engine-side ROUTER (`mux_out` / `control_out`). */
  engineSide: Socket;
  /** Checks of client → engine traffic. */
  fromClients: InboundChannel;
  /** Checks of engine → client traffic. */
  fromEngines: InboundChannel;
  /** Called with a parsed copy of each request relayed to engine `engineUuid` (MUX: the Hub). */
  onRequest?: (engineUuid: Uint8Array, msg: Message) => void;
  /** Called with a parsed copy of each reply relayed from engine `engineUuid`. */
  onReply?: (engineUuid: Uint8Array, msg: Message) => void;
}

/** One swap relay (MUX or control). */
export class SwapRelay {
  /** Receive loops; settle when the sockets close. */
  readonly done: Promise<void>;
  #o: SwapRelayOptions;

  /**
   * Starts relaying.
   * @param options Sockets, inbound checks and inspection hooks.
   */
  constructor(options: SwapRelayOptions) {
    this.#o = options;
    const o = options;
    this.done = Promise.all([
      pump(
        o.clientSide,
        (f) => this.#forward(f, o.fromClients, o.engineSide, o.onRequest),
        (e) => o.fromClients.handlerError(e, "relaying a request"),
      ),
      pump(
        o.engineSide,
        (f) => this.#forward(f, o.fromEngines, o.clientSide, o.onReply),
        (e) => o.fromEngines.handlerError(e, "relaying a reply"),
      ),
    ]).then(() => {});
  }

  /** Verify, swap the first two frames, forward; then let the hook inspect a copy. */
  #forward(
    frames: Frames,
    inbound: InboundChannel,
    out: Socket,
    hook: ((peer: Uint8Array, msg: Message) => void) | undefined,
  ): void {
    // Two routing frames are needed: the sender's (added by our ROUTER) and the destination.
    if (inbound.verify(frames, 2) === null) return;
    const swapped = frames.slice();
    swapped[0] = frames[1];
    swapped[1] = frames[0];
    sendQuiet(out, swapped);
    if (hook === undefined) return;
    const msg = inbound.inspect(frames);
    if (msg === null) return;
    try {
      hook(frames[inbound === this.#o.fromClients ? 1 : 0], msg);
    } catch (err) {
      inbound.handlerError(err, "recording a relayed message");
    }
  }
}
