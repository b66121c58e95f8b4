/**
 * The Hub's sockets (PROTOCOL.md §3.5.6, §3.5.7, §4, §5): the query ROUTER (engine
 * registration and client queries, one ROUTER for both) and the notification PUB.
 *
 * - `registration_request` → `registration_reply` with an empty parent (quirk #2); an error
 *   content when the uuid is in use; no reply without a uuid (quirk #27). The engine becomes
 *   routable only after its first heartbeat (§4.4), which the heartbeat wiring reports.
 * - `unregistration_request` → no reply (quirk #9); the engine leaves at once.
 * - every other type → `handleQuery` (§5), reply with the request header as parent.
 * - `resubmit_request` → the new messages go to the task scheduler (§5.7).
 * - `shutdown_request` → reply, `shutdown_notification` (parent = the request), then the
 *   controller stops about a second later (§5.8).
 * - `direct_address`, `direct_records` (our engines only) and `direct_sync` in a query (our
 *   clients only): the same-host direct path, `direct_hub.ts`.
 *
 * Messages without a routing frame, unsigned or badly signed ones get no reply (§1.11).
 *
 * @module
 */

import type { Frames, Socket } from "../zmtp/mod.ts";
import { bytesKey } from "../zmtp/pipe.ts";
import type { Message } from "../protocol/messages.ts";
import type { Session } from "../protocol/session.ts";
import type { JsonObject } from "./db/types.ts";
import {
  DIRECT_ADDRESS,
  DIRECT_FLUSH,
  DIRECT_OFFER,
  DIRECT_RECORDS,
} from "../protocol/messages/direct.ts";
import { DirectHub } from "./direct_hub.ts";
import { handleQuery, type Resubmission } from "./hub_queries.ts";
import type { HubState } from "./hub_state.ts";
import type { Notification } from "./hub_types.ts";
import type { InboundChannel } from "./inbound.ts";
import type { Logger } from "./logger.ts";
import { pump, sendQuiet } from "./pump.ts";

/** Options of {@link HubServer}. */
export interface HubServerOptions {
  /** The query/registration ROUTER. */
  query: Socket;
  /** The notification PUB. */
  notification: Socket;
  /** Hub state. */
  hub: HubState;
  /** The Hub's own session (signs replies and notifications). */
  session: Session;
  /** Checks of query traffic. */
  inbound: InboundChannel;
  /** Logger. */
  logger: Logger;
  /** A registration was accepted (its reply is sent); it now waits for the engine's heart. */
  onRegistering?: (uuid: string) => void;
  /** An engine left through `unregistration_request` (a final death: its process is gone). */
  onUnregistered: (notification: Notification) => void;
  /** The Hub built new messages for a `resubmit_request`. */
  onResubmit: (resubmissions: Resubmission[]) => void;
  /** A client asked the controller to shut down (the reply and notification are sent). */
  onShutdown: () => void;
  /**
   * Buffers of at least this many bytes are left out of direct-path records, as the relays
   * leave out streamed ones (their `cutThrough`; 0 = keep every buffer).
   */
  recordBufferLimit: number;
}

/** The Hub's query and notification sockets. */
export class HubServer {
  /** The query receive loop; settles when the ROUTER closes. */
  readonly done: Promise<void>;
  /** The direct path's addresses, records and held queries. */
  readonly direct: DirectHub;
  #o: HubServerOptions;

  /**
   * Starts serving queries.
   * @param options Sockets, state, session and callbacks.
   */
  constructor(options: HubServerOptions) {
    this.#o = options;
    const { session, query } = options;
    this.direct = new DirectHub(options.hub, (engineSocket) => {
      const m = session.msg(DIRECT_FLUSH as string, { content: {}, identities: [engineSocket] });
      sendQuiet(query, session.pack(m));
    });
    this.done = pump(
      options.query,
      (f) => this.#handle(f),
      (e) => options.inbound.handlerError(e, "answering a query"),
    ).finally(() => this.direct.close());
  }

  /**
   * Publishes a (un)registration notification (§3.5.6: no topic frame, empty parent).
   *
   * @param n The notification.
   */
  notify(n: Notification): void {
    const s = this.#o.session;
    let content = n.content;
    const registered = n.msgType === "registration_notification";
    if (!registered) this.direct.forget(n.content.uuid);
    const address = registered ? this.direct.addressOf(n.content.uuid) : undefined;
    if (address !== undefined) {
      content = { ...content, [DIRECT_OFFER]: { ...address } } as typeof content;
    }
    sendQuiet(this.#o.notification, s.pack(s.msg(n.msgType, { content })));
  }

  #handle(frames: Frames): void {
    const { inbound, hub, session, logger } = this.#o;
    const msg = inbound.unpack(frames, 1); // §1.11: empty identity list → dropped
    if (msg === null) return;
    const content = msg.content as JsonObject;
    const idents = msg.identities;
    switch (msg.msgType) {
      case "registration_request": {
        const reply = hub.register(content);
        if (reply === null) {
          logger.error(`registration_request without a usable uuid: ${JSON.stringify(content)}`);
          return;
        }
        if (reply.status === "ok") {
          logger.info(`client::client ${JSON.stringify(content.uuid)} requested registration`);
          logger.debug(`registration pending for engine ${reply.id} (${content.uuid})`);
        } else logger.warn(`registration refused: ${reply.evalue}`);
        // §4.1, quirk #2: the reply's parent header is empty.
        // Our engines may serve the direct path (Python's ignore the key).
        const offer = reply.status === "ok"
          ? { ...reply, [DIRECT_OFFER]: this.#o.recordBufferLimit }
          : reply;
        const out = session.msg("registration_reply" as string, {
          content: offer as unknown as JsonObject,
          identities: idents,
        });
        sendQuiet(this.#o.query, session.pack(out));
        if (reply.status === "ok") this.#o.onRegistering?.(content.uuid as string);
        return;
      }
      case "unregistration_request": {
        const n = hub.unregister(content.id, "UNREGISTER", { delayMs: 0 });
        if (n !== null) {
          logger.info(`unregistration_request: engine ${n.content.id} (${n.content.uuid}) left`);
          this.notify(n);
          this.#o.onUnregistered(n);
        }
        return; // quirk #9: never answered
      }
      case DIRECT_ADDRESS: {
        const uuid = this.direct.address(content, idents[0]);
        if (uuid === null) logger.warn(`direct_address without uuid, url and host`);
        else logger.debug(`engine ${uuid} serves the direct path at ${content.url}`);
        return; // never answered
      }
      case DIRECT_RECORDS:
        try {
          this.direct.records(content, msg.buffers);
        } catch (e) {
          inbound.handlerError(e, "recording direct_records");
        }
        return; // never answered
    }
    // The peer (its routing identity) whose queries keep their order.
    this.direct.query(bytesKey(idents[0]), content, () => {
      try {
        this.#answer(msg, content);
      } catch (e) {
        inbound.handlerError(e, "answering a query");
      }
    });
  }

  #answer(msg: Message, content: JsonObject): void {
    const { hub, session, logger } = this.#o;
    const result = handleQuery(hub, msg.msgType, content);
    if (result.msgType === "connection_reply") {
      const addresses = this.direct.addresses();
      if (Object.keys(addresses).length > 0) {
        result.content = { ...result.content, [DIRECT_OFFER]: addresses as unknown as JsonObject };
      }
    }
    const reply = session.msg(result.msgType, {
      content: result.content,
      parent: msg.header,
      buffers: result.buffers,
      identities: msg.identities,
    });
    sendQuiet(this.#o.query, session.pack(reply));
    if (result.resubmissions?.length) this.#o.onResubmit(result.resubmissions);
    if (result.shutdownNotification) {
      logger.info("shutdown_request: notifying clients, exiting in 1 s");
      const note = session.msg("shutdown_notification" as string, {
        content: result.shutdownNotification,
        parent: msg.header,
      });
      sendQuiet(this.#o.notification, session.pack(note));
      this.#o.onShutdown();
    }
    if (result.msgType === "hub_error") {
      logger.debug(`${msg.msgType}: ${result.content.ename}: ${result.content.evalue}`);
    }
  }
}
