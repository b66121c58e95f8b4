/**
 * The IOPub relay (PROTOCOL.md §3.5.5, §6.6): engines' PUB sockets connect to a SUB
 * (subscribed to everything); each verified message is republished verbatim — topic frame and
 * all — on the client-side PUB, including traffic from engines whose registration has not
 * completed. Once the relayed copy is written (`afterSends`), the Hub inspects a parsed copy
 * to fill TaskRecords (§8.1) and to unregister an engine that published `shutdown_reply`
 * (§4.5). Messages without a topic frame are relayed but not recorded (the Python Hub discards
 * them too).
 *
 * @module
 */

import type { Frames, Socket } from "../zmtp/mod.ts";
import type { Message } from "../protocol/messages.ts";
import type { InboundChannel } from "./inbound.ts";
import { afterSends, pump, sendQuiet } from "./pump.ts";

/** Options of {@link IopubRelay}. */
export interface IopubRelayOptions {
  /** Engine-side SUB (bound; subscribed to `""` here). */
  sub: Socket;
  /** Client-side PUB. */
  pub: Socket;
  /** Checks of engine IOPub traffic. */
  inbound: InboundChannel;
  /** Called with a parsed copy of every relayed message that has a topic frame. */
  onMessage: (msg: Message) => void;
  /**
   * Message types relayed but not parsed nor given to `onMessage` (the Hub ignores `status`);
   * only their header is parsed to tell. Default: none.
   */
  ignoredTypes?: ReadonlySet<string>;
}

/** The IOPub relay. */
export class IopubRelay {
  /** The receive loop; settles when the SUB closes. */
  readonly done: Promise<void>;

  /**
   * Subscribes to everything and starts relaying.
   * @param options Sockets, inbound checks and the Hub hook.
   */
  constructor(options: IopubRelayOptions) {
    const { sub, pub, inbound, onMessage } = options;
    const ignored = options.ignoredTypes !== undefined && options.ignoredTypes.size > 0
      ? options.ignoredTypes
      : null;
    sub.subscribe("");
    const handle = (frames: Frames) => {
      const split = inbound.verify(frames);
      if (split === null) return;
      sendQuiet(pub, frames);
      if (split.identities.length === 0) return; // §6.6: the Hub needs a topic frame
      if (ignored !== null) {
        const type = inbound.peekType(split);
        if (type !== null && ignored.has(type)) return;
      }
      // Parsed and recorded once the relayed copy is written (off its latency).
      afterSends(() => {
        const msg = inbound.inspect(frames);
        if (msg !== null) onMessage(msg);
      }, onRecordError);
    };
    const onRecordError = (err: unknown) => inbound.handlerError(err, "recording IOPub output");
    this.done = pump(sub, handle, (e) => inbound.handlerError(e, "relaying IOPub"));
  }
}
