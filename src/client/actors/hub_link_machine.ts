/**
 * The Hub link actor and its face, {@link HubLink}: the client's one conversation with the
 * Hub on the registration channel (PROTOCOL.md §5; DESIGN.md "The actors").
 *
 * ```
 *              CONNECTED                 LOST | SHUTDOWN_NOTIFICATION
 *  connecting ───────────► connected ─────────────────────────────────► lost
 *      │  connect limit passes                                   CONNECTED │
 *      └──────────────────────────────────────────────► lost ◄─────────────┘ (back to connected)
 *  any state ── CLOSE ──► closed (final)
 * ```
 *
 * The actor owns query correlation: each query's msg_id maps to its pending promise, and a
 * reply is matched by `parent_header.msg_id` (§5). A query fails with `TimeoutError` when its
 * limit passes (XState delayed events, so the actor's injected clock drives them), and every
 * pending or new query fails with `ControllerLostError` once the link is `lost` or `closed` —
 * on `shutdown_notification` (§5.8), when `connection_reply` never came (§4.7: 10 s), or
 * whenever the client says the controller is gone.
 *
 * @module
 */

import { assign, createActor, enqueueActions, setup } from "xstate";
import type { Actor } from "xstate";
import { ControllerLostError, TimeoutError } from "../../errors.ts";
import type { Clock } from "../clock.ts";
import { systemClock } from "../clock.ts";
import type { IncomingMessage } from "../messages.ts";
import { remoteErrorOf } from "../reply_errors.ts";
import { type TraceSink, traceTransitions } from "./trace.ts";

/** A query waiting for its reply. */
export interface PendingQuery {
  /** The request's msg_type, for error messages. */
  msgType: string;
  /** Settles the caller's promise with the reply. */
  resolve: (reply: IncomingMessage) => void;
  /** Fails the caller's promise. */
  reject: (error: Error) => void;
}

/** The Hub link actor's context. `pending` is mutated in place (it is private to the actor). */
export interface HubLinkContext {
  /** Queries sent and not yet answered, by request msg_id. */
  pending: Map<string, PendingQuery>;
  /** How long `connecting` may last, in milliseconds. */
  connectTimeoutMs: number;
  /** Why the link was lost or closed; empty while it is fine. */
  reason: string;
}

/** Every event the Hub link actor understands. */
export type HubLinkEvent =
  /** A query was sent; wait for its reply for at most `timeoutMs` (undefined: no limit). */
  | { type: "QUERY"; msgId: string; query: PendingQuery; timeoutMs?: number }
  /** A reply arrived on the registration channel. */
  | { type: "REPLY"; msgId: string; reply: IncomingMessage }
  /** A query's limit passed (raised by the actor itself). */
  | { type: "QUERY_TIMEOUT"; msgId: string; timeoutMs: number }
  /** `connection_reply` with status ok arrived. */
  | { type: "CONNECTED" }
  /** The controller is unreachable (heartbeat, socket error…). */
  | { type: "LOST"; reason: string }
  /** `shutdown_notification` arrived: the controller is going away. */
  | { type: "SHUTDOWN_NOTIFICATION" }
  /** The client closes; the link is done. */
  | { type: "CLOSE" };

/** Names of the Hub link's states. */
export type HubLinkState = "connecting" | "connected" | "lost" | "closed";

/** What the Hub link actor is created with. */
export interface HubLinkInput {
  /** How long `connecting` may last, in milliseconds (default 10 000, as in Python). */
  connectTimeoutMs?: number;
}

/**
 * The Hub link state machine. Most callers use {@link HubLink} instead.
 *
 * @example
 * ```ts
 * import { createActor } from "xstate";
 * import { hubLinkMachine } from "./hub_link_machine.ts";
 * const link = createActor(hubLinkMachine, { input: {} }).start();
 * link.send({ type: "CONNECTED" });
 * console.log(link.getSnapshot().value); // "connected"
 * link.stop();
 * ```
 */
export const hubLinkMachine = setup({
  types: {
    input: {} as HubLinkInput,
    context: {} as HubLinkContext,
    events: {} as HubLinkEvent,
  },
  actions: {
    track: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "QUERY") return;
      context.pending.set(event.msgId, event.query);
      if (event.timeoutMs !== undefined) {
        enqueue.raise(
          { type: "QUERY_TIMEOUT", msgId: event.msgId, timeoutMs: event.timeoutMs },
          { id: event.msgId, delay: event.timeoutMs },
        );
      }
    }),
    refuse: ({ context, event }) => {
      if (event.type === "QUERY") event.query.reject(lostError(context.reason));
    },
    answer: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "REPLY") return;
      const query = context.pending.get(event.msgId);
      if (!query) return; // late reply to a query that already timed out
      context.pending.delete(event.msgId);
      enqueue.cancel(event.msgId);
      const content = event.reply.content;
      if (content.status === "error") query.reject(remoteErrorOf(content));
      else query.resolve(event.reply);
    }),
    expire: ({ context, event }) => {
      if (event.type !== "QUERY_TIMEOUT") return;
      const query = context.pending.get(event.msgId);
      if (!query) return;
      context.pending.delete(event.msgId);
      query.reject(
        new TimeoutError(
          `Hub ${query.msgType} timed out after ${event.timeoutMs} ms (is the controller running?)`,
          event.timeoutMs,
        ),
      );
    },
    failAll: ({ context }) => {
      const queries = [...context.pending.values()];
      context.pending.clear();
      const error = lostError(context.reason);
      for (const q of queries) q.reject(error);
    },
    lostReason: assign({
      reason: ({ event }) => event.type === "LOST" ? event.reason : "the controller is unreachable",
    }),
    shutdownReason: assign({
      reason: "the controller shut down (shutdown_notification)",
    }),
    connectTimeoutReason: assign({
      reason: ({ context }) =>
        `no connection_reply from the Hub within ${context.connectTimeoutMs} ms ` +
        `(is the controller running? start one with \`ipp controller\`)`,
    }),
    closedReason: assign({ reason: "the client was closed" }),
    clearReason: assign({ reason: "" }),
  },
  delays: {
    connectTimeout: ({ context }) => context.connectTimeoutMs,
  },
}).createMachine({
  id: "hubLink",
  context: ({ input }) => ({
    pending: new Map(),
    connectTimeoutMs: input.connectTimeoutMs ?? 10_000,
    reason: "",
  }),
  initial: "connecting",
  on: {
    CLOSE: { target: ".closed", actions: "closedReason" },
  },
  states: {
    connecting: {
      after: { connectTimeout: { target: "lost", actions: "connectTimeoutReason" } },
      on: {
        QUERY: { actions: "track" },
        REPLY: { actions: "answer" },
        QUERY_TIMEOUT: { actions: "expire" },
        CONNECTED: "connected",
        LOST: { target: "lost", actions: "lostReason" },
        SHUTDOWN_NOTIFICATION: { target: "lost", actions: "shutdownReason" },
      },
    },
    connected: {
      on: {
        QUERY: { actions: "track" },
        REPLY: { actions: "answer" },
        QUERY_TIMEOUT: { actions: "expire" },
        LOST: { target: "lost", actions: "lostReason" },
        SHUTDOWN_NOTIFICATION: { target: "lost", actions: "shutdownReason" },
      },
    },
    lost: {
      entry: "failAll",
      on: {
        QUERY: { actions: "refuse" },
        CONNECTED: { target: "connected", actions: "clearReason" },
      },
    },
    closed: { type: "final", entry: "failAll" },
  },
});

function lostError(reason: string): ControllerLostError {
  return new ControllerLostError(`Lost the controller: ${reason || "unknown reason"}`);
}

/** Options of {@link HubLink}. */
export interface HubLinkOptions {
  /**
   * Signs and sends one request on the registration channel and returns its msg_id.
   * The Client wires this to its Session and registration socket.
   */
  send: (msgType: string, content: Record<string, unknown>) => string;
  /** Time source for query and connect limits (default: the system clock). */
  clock?: Clock;
  /** How long `connecting` may last, in milliseconds (default 10 000). */
  connectTimeoutMs?: number;
  /** Limit of a query that names none, in milliseconds (default: no limit). */
  defaultTimeoutMs?: number;
  /** Logs the link's state transitions (the client's `debug`); none by default. */
  trace?: TraceSink;
}

/**
 * The face of the Hub link actor: send queries, feed replies and lifecycle news.
 *
 * @example
 * ```ts
 * import { HubLink } from "./hub_link_machine.ts";
 * const sent: string[] = [];
 * const hub = new HubLink({ send: (type) => (sent.push(type), `q${sent.length}`) });
 * const reply = hub.query("queue_request", { targets: null, verbose: false });
 * hub.handleReply({
 *   header: { msg_id: "r1", msg_type: "queue_reply" },
 *   parent_header: { msg_id: "q1" },
 *   metadata: {},
 *   content: { status: "ok", unassigned: 0 },
 *   buffers: [],
 * });
 * console.log((await reply).content.unassigned); // 0
 * hub.close();
 * ```
 */
export class HubLink implements Disposable {
  readonly #actor: Actor<typeof hubLinkMachine>;
  readonly #send: HubLinkOptions["send"];
  readonly #defaultTimeoutMs: number | undefined;

  /**
   * Starts the Hub link actor in `connecting`.
   *
   * @param options How to send, and which clock and limits to use.
   */
  constructor(options: HubLinkOptions) {
    this.#send = options.send;
    this.#defaultTimeoutMs = options.defaultTimeoutMs;
    this.#actor = createActor(hubLinkMachine, {
      input: { connectTimeoutMs: options.connectTimeoutMs },
      clock: options.clock ?? systemClock,
      inspect: options.trace && traceTransitions("hub", options.trace),
    }).start();
  }

  /** The link's state. */
  get state(): HubLinkState {
    return this.#actor.getSnapshot().value as HubLinkState;
  }

  /** Why the link is `lost` or `closed`; empty while it is fine. */
  get reason(): string {
    return this.#actor.getSnapshot().context.reason;
  }

  /** Number of queries waiting for a reply. */
  get pendingCount(): number {
    return this.#actor.getSnapshot().context.pending.size;
  }

  /**
   * Sends a query and waits for its reply.
   *
   * @param msgType The request type, e.g. `"queue_request"`.
   * @param content The request content.
   * @param options `timeoutMs`: limit in milliseconds (default: the link's default, or none).
   * @returns The reply message.
   * @throws {RemoteError} The Hub answered with `status: "error"` (or `hub_error`).
   * @throws {TimeoutError} No reply within the limit.
   * @throws {ControllerLostError} The link is, or becomes, `lost` or `closed`.
   */
  query(
    msgType: string,
    content: Record<string, unknown>,
    options: { timeoutMs?: number } = {},
  ): Promise<IncomingMessage> {
    const timeoutMs = options.timeoutMs ?? this.#defaultTimeoutMs;
    if (timeoutMs !== undefined && !(timeoutMs >= 0)) {
      return Promise.reject(new RangeError(`timeoutMs must be >= 0, got ${timeoutMs}`));
    }
    const { promise, resolve, reject } = Promise.withResolvers<IncomingMessage>();
    const query: PendingQuery = { msgType, resolve, reject };
    const state = this.state;
    if (state === "lost" || state === "closed") {
      reject(lostError(this.reason));
      return promise;
    }
    let msgId: string;
    try {
      msgId = this.#send(msgType, content);
    } catch (error) {
      reject(error as Error);
      return promise;
    }
    this.#actor.send({ type: "QUERY", msgId, query, timeoutMs });
    return promise;
  }

  /** Feeds one message received on the registration channel. */
  handleReply(reply: IncomingMessage): void {
    const msgId = reply.parent_header.msg_id;
    if (msgId === undefined) return;
    this.#actor.send({ type: "REPLY", msgId, reply });
  }

  /** The Hub answered `connection_request`: the link is up. */
  connected(): void {
    this.#actor.send({ type: "CONNECTED" });
  }

  /** The controller is unreachable; every pending query fails with `ControllerLostError`. */
  lost(reason: string): void {
    this.#actor.send({ type: "LOST", reason });
  }

  /** `shutdown_notification` arrived; every pending query fails with `ControllerLostError`. */
  shutdownNotification(): void {
    this.#actor.send({ type: "SHUTDOWN_NOTIFICATION" });
  }

  /** Ends the link: pending queries fail with `ControllerLostError`, timers are cleared. */
  close(): void {
    if (this.state !== "closed") this.#actor.send({ type: "CLOSE" });
    this.#actor.stop();
  }

  /** Same as {@link HubLink.close}; idempotent. */
  [Symbol.dispose](): void {
    this.close();
  }
}
