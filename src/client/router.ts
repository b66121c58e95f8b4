/**
 * {@link MessageRouter}: where each decoded incoming message becomes an event for the actor
 * that owns it — a task, an engine, or the Hub link (DESIGN.md "The actors": one event loop,
 * one decode per message). The Client's socket readers call one method per channel.
 *
 * An IOPub `status` is the one message that feeds two owners: the task it belongs to (started,
 * output complete) and the engine that sent it (busy, idle, recorded by the engine table).
 *
 * @module
 */

import { ControllerLostError } from "../errors.ts";
import type { HubLink } from "./actors/hub_link_machine.ts";
import type { EngineTable } from "./engine_table.ts";
import type { IncomingMessage } from "./messages.ts";
import type { TaskRegistry } from "./task_registry.ts";

/** Options of {@link MessageRouter}. */
export interface MessageRouterOptions {
  /** This client's Session id: IOPub messages of other sessions are dropped (§6.6). */
  session: string;
  /** The client's tasks. */
  tasks: TaskRegistry;
  /** The client's engines. */
  engines: EngineTable;
  /** The client's Hub link. */
  hub: HubLink;
  /** Called with each control reply (abort, clear, shutdown, signal…) after routing. */
  onControlReply?: (msg: IncomingMessage) => void;
  /** Called after `shutdown_notification` was handled (the Client closes its sockets). */
  onShutdown?: () => void;
}

/**
 * Routes decoded messages by channel.
 *
 * @example
 * ```ts
 * import { EngineTable } from "./engine_table.ts";
 * import { HubLink } from "./actors/hub_link_machine.ts";
 * import { MessageRouter } from "./router.ts";
 * import { TaskRegistry } from "./task_registry.ts";
 * const tasks = new TaskRegistry({ decode: (b) => ({ value: b, rest: [] }) });
 * const engines = new EngineTable({ failTask: (id, e) => tasks.engineDied(id, e) });
 * const hub = new HubLink({ send: () => "q1" });
 * const router = new MessageRouter({ session: "s", tasks, engines, hub });
 * router.notification({
 *   header: { msg_id: "n1", msg_type: "registration_notification" },
 *   parent_header: {},
 *   metadata: {},
 *   content: { id: 0, uuid: "u0" },
 *   buffers: [],
 * });
 * console.log(engines.ids); // [0]
 * hub.close();
 * engines.close();
 * ```
 */
export class MessageRouter {
  readonly #o: MessageRouterOptions;
  #unhandled = 0;

  /**
   * Creates a router over the given actors' owners.
   *
   * @param options The session id and the actors' owners.
   */
  constructor(options: MessageRouterOptions) {
    this.#o = options;
  }

  /** Messages that no handler accepted (wrong type on a channel, foreign session…). */
  get unhandledCount(): number {
    return this.#unhandled;
  }

  /** A message from the MUX, task or broadcast socket (PROTOCOL.md §9.5). */
  reply(msg: IncomingMessage): void {
    const type = msg.header.msg_type;
    // Only these two are accepted on execution sockets (§9.5).
    if (type === "apply_reply" || type === "execute_reply") this.#o.tasks.handleReply(msg);
    else this.#unhandled++;
  }

  /** A message from the IOPub SUB socket (PROTOCOL.md §6.6). */
  iopub(msg: IncomingMessage): void {
    const type = msg.header.msg_type;
    if (type === "shutdown_reply") {
      // The engine's own session id is its uuid (§4.5 item 2).
      const uuid = msg.header.session ?? String(msg.metadata.engine ?? "");
      this.#o.engines.shutdownReply(uuid);
      return;
    }
    if (type === "status" && typeof msg.metadata.engine === "string") {
      this.#o.engines.status(msg.metadata.engine, msg.content.execution_state);
    }
    if (msg.parent_header.session !== this.#o.session) {
      if (type !== "status") this.#unhandled++;
      return;
    }
    this.#o.tasks.handleIopub(msg);
  }

  /**
   * An IOPub `status` read without a full decode (the socket reader's fast path, two per
   * task): the same routing as {@link MessageRouter.iopub} gives a decoded `status`. Each
   * argument is `null` when absent or not a string.
   */
  iopubStatus(
    parentMsgId: string | null,
    parentSession: string | null,
    engine: string | null,
    executionState: string | null,
  ): void {
    if (engine !== null) this.#o.engines.status(engine, executionState);
    if (parentSession !== this.#o.session) return;
    this.#o.tasks.handleStatus(parentMsgId ?? "", executionState);
  }

  /** A message from the notification SUB socket (PROTOCOL.md §4.4, §4.5, §5.8). */
  notification(msg: IncomingMessage): void {
    const content = msg.content;
    switch (msg.header.msg_type) {
      case "registration_notification":
        this.#o.engines.register(Number(content.id), String(content.uuid));
        return;
      case "unregistration_notification":
        this.#o.engines.unregister(Number(content.id));
        return;
      case "shutdown_notification": {
        this.#o.hub.shutdownNotification();
        const error = new ControllerLostError(
          "The controller shut down (shutdown_notification) while tasks were outstanding",
        );
        this.#o.tasks.controllerLost(error);
        this.#o.engines.controllerLost();
        this.#o.onShutdown?.();
        return;
      }
      default:
        this.#unhandled++;
    }
  }

  /** A message from the registration (query) socket (PROTOCOL.md §5). */
  query(msg: IncomingMessage): void {
    this.#o.hub.handleReply(msg);
  }

  /** A message from the control socket (PROTOCOL.md §6.5). */
  control(msg: IncomingMessage): void {
    if (msg.header.msg_type === "shutdown_reply") {
      const uuid = typeof msg.metadata.engine === "string"
        ? msg.metadata.engine
        : msg.header.session ?? "";
      this.#o.engines.shutdownReply(uuid);
    }
    this.#o.onControlReply?.(msg);
  }

  /**
   * The controller is unreachable (missed heartbeats, socket closed): the Hub link is `lost`,
   * every outstanding task fails with `ControllerLostError`, every engine is `dead`.
   *
   * @param reason What was observed, for the error messages.
   */
  controllerLost(reason: string): void {
    this.#o.hub.lost(reason);
    this.#o.tasks.controllerLost(new ControllerLostError(`Lost the controller: ${reason}`));
    this.#o.engines.controllerLost();
  }
}
