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
 * without a second pass through any replay cache (§1.4), once the message has been written
 * (`afterSends`). Like Python's `MonitoredQueue`, the relays forward to any connected engine
 * identity without consulting the Hub (§3.5.5).
 *
 * Large frames are forwarded cut-through (`src/zmtp/tail.ts`): both ROUTERs deliver a message
 * as soon as a frame of at least `cutThrough` bytes starts, the relay verifies it (the
 * signature covers header, parent, metadata and content, which come before the buffers) and
 * sends it on at once, and the big frame is streamed from one connection to the other in 1 MiB
 * chunks (no allocation of its size, the two hops overlapped). A message whose large frame
 * comes before its content is collected first (store and forward). The inspection hooks are
 * told when a message was streamed: its parsed copy lacks the streamed buffers (Python's Hub
 * keeps every buffer in its records).
 *
 * @module
 */

import { type Frames, type MessageTail, type Socket, tailOf } from "../zmtp/mod.ts";
import { isDelimiter } from "../protocol/frames.ts";
import type { Message } from "../protocol/messages.ts";
import type { InboundChannel } from "./inbound.ts";
import { afterSends, pump, sendQuiet } from "./pump.ts";

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
  /**
   * Called with a parsed copy of each request relayed to engine `engineUuid` (MUX: the Hub).
   * `streamed` is true when the message was forwarded cut-through: `msg.buffers` then holds
   * only the buffers before the first streamed one (the rest was never held in memory).
   */
  onRequest?: RelayHook;
  /** Called with a parsed copy of each reply relayed from engine `engineUuid`; as `onRequest`. */
  onReply?: RelayHook;
  /** Frames of at least this many bytes are forwarded cut-through (default 1 MiB; 0 = off). */
  cutThrough?: number;
}

/** An inspection hook of {@link SwapRelay}: see {@link SwapRelayOptions.onRequest}. */
export type RelayHook = (engineUuid: Uint8Array, msg: Message, streamed: boolean) => void;

/** Default {@link SwapRelayOptions.cutThrough}. */
export const CUT_THROUGH_DEFAULT = 1 << 20;

/** Frames after the delimiter that the signature covers: HMAC, header, parent, metadata, content. */
const SIGNED_PARTS = 5;

/** Whether every signed part of a message is among the frames before its tail. */
function signedPartsComplete(frames: Frames): boolean {
  const tailAt = frames.length - 1;
  for (let i = 0; i < tailAt; i++) {
    if (isDelimiter(frames[i])) return i + SIGNED_PARTS < tailAt;
  }
  return false;
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
    const cutThrough = o.cutThrough ?? CUT_THROUGH_DEFAULT;
    o.clientSide.setCutThrough?.(cutThrough);
    o.engineSide.setCutThrough?.(cutThrough);
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
    hook: RelayHook | undefined,
  ): void {
    const tail = tailOf(frames);
    if (tail !== undefined && !signedPartsComplete(frames)) {
      this.#collect(frames, tail, inbound, out, hook);
      return;
    }
    // Two routing frames are needed: the sender's (added by our ROUTER) and the destination.
    if (inbound.verify(frames, 2) === null) {
      tail?.discard();
      return;
    }
    const swapped = frames.slice();
    swapped[0] = frames[1];
    swapped[1] = frames[0];
    sendQuiet(out, swapped);
    if (hook === undefined) return;
    // The Hub's copy is parsed and recorded after the message is written (off its latency).
    const engine = frames[inbound === this.#o.fromClients ? 1 : 0];
    const signed = tail === undefined ? frames : frames.slice(0, -1);
    afterSends(() => {
      const msg = inbound.inspect(signed);
      if (msg !== null) hook(engine, msg, tail !== undefined);
    }, (err) => inbound.handlerError(err, "recording a relayed message"));
  }

  /**
   * A large frame before the signed parts are complete: receive the whole message, then relay
   * it. Nothing else can come from its sender meanwhile (the tail ends first), so order holds.
   */
  #collect(
    frames: Frames,
    tail: MessageTail,
    inbound: InboundChannel,
    out: Socket,
    hook: RelayHook | undefined,
  ): void {
    tail.collect().then(
      (rest) => {
        const whole = frames.slice(0, -1);
        for (const f of rest) whole.push(f);
        try {
          this.#forward(whole, inbound, out, hook);
        } catch (err) {
          inbound.handlerError(err, "relaying a collected message");
        }
      },
      () => {}, // the sender left mid-message: nothing to relay
    );
  }
}
