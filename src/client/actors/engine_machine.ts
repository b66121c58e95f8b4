/**
 * The engine actor: one per engine the client knows (DESIGN.md "The actors").
 *
 * ```
 *                REGISTERED          BUSY
 *  registering ─────────────► idle ◄──────► busy
 *        │                      │   IDLE      │
 *        │                      └──────┬──────┘
 *        │                             │ SHUTDOWN_REQUESTED
 *        │                             ▼
 *        │                         stopping ── SHUTDOWN_REPLY | UNREGISTERED ──► stopped
 *        │                             │
 *        └──── UNREGISTERED | CONTROLLER_LOST (from any live state) ──────────► dead
 * ```
 *
 * Registration and unregistration notifications (PROTOCOL.md §4.4, §4.5), IOPub `status`
 * (§6.6) and shutdown replies (§6.5.3) drive it. The client's `EngineTable` records busy/idle in
 * a plain field instead of sending `BUSY`/`IDLE` for every request (no transition depends on
 * them), so its actors stay in `idle` while their engines run. The actor keeps the msg_ids sent *directly* to
 * its engine (MUX and broadcast sub-ids). The controller never answers those when the engine
 * dies (§4.5), so on `dead` or `stopped` the actor fails each one with an `EngineError`
 * through the injected `failTask`, as the Python client does in `_handle_stranded_msgs`.
 * Load-balanced tasks are not tracked here: the task scheduler fails them itself (§7.6).
 *
 * @module
 */

import { setup } from "xstate";
import { EngineError } from "../../errors.ts";

/** What an engine actor is created with. */
export interface EngineInput {
  /** The engine's integer id. */
  id: number;
  /** The engine's uuid (its routing identity). */
  uuid: string;
  /** Fails one outstanding task; called for each direct task when the engine is lost. */
  failTask: (msgId: string, error: EngineError) => void;
}

/** The engine actor's context. `outstanding` is mutated in place (it is private to the actor). */
export interface EngineContext {
  /** The engine's integer id. */
  id: number;
  /** The engine's uuid. */
  uuid: string;
  /** msg_ids sent directly to this engine and not yet answered. */
  outstanding: Set<string>;
  /** See {@link EngineInput.failTask}. */
  failTask: (msgId: string, error: EngineError) => void;
}

/** Every event an engine actor understands. */
export type EngineEvent =
  /** The engine is fully registered (`registration_notification` or `connection_reply`). */
  | { type: "REGISTERED" }
  /** IOPub `status: busy` from this engine. */
  | { type: "BUSY" }
  /** IOPub `status: idle` from this engine. */
  | { type: "IDLE" }
  /** A request was sent directly to this engine. */
  | { type: "TASK_ASSIGNED"; msgId: string }
  /** A directly sent request was answered (or otherwise settled). */
  | { type: "TASK_FINISHED"; msgId: string }
  /** This client asked the engine to shut down. */
  | { type: "SHUTDOWN_REQUESTED" }
  /** A `shutdown_reply` from the engine (control, or its IOPub copy). */
  | { type: "SHUTDOWN_REPLY" }
  /** `unregistration_notification` for this engine. */
  | { type: "UNREGISTERED" }
  /** The controller is gone; the client's other machinery fails the tasks. */
  | { type: "CONTROLLER_LOST" };

/** Names of the engine actor's states. */
export type EngineState = "registering" | "idle" | "busy" | "stopping" | "stopped" | "dead";

const trackTasks = {
  TASK_ASSIGNED: { actions: "assign" },
  TASK_FINISHED: { actions: "finish" },
} as const;

/**
 * The engine state machine.
 *
 * @example
 * ```ts
 * import { createActor } from "xstate";
 * import { engineMachine } from "./engine_machine.ts";
 * const failed: string[] = [];
 * const engine = createActor(engineMachine, {
 *   input: { id: 2, uuid: "u-2", failTask: (_msgId, e) => failed.push(e.message) },
 * }).start();
 * engine.send({ type: "REGISTERED" });
 * engine.send({ type: "TASK_ASSIGNED", msgId: "m1" });
 * engine.send({ type: "UNREGISTERED" });
 * console.log(failed); // ["Engine 2 died while running task 'm1'"]
 * ```
 */
export const engineMachine = setup({
  types: {
    input: {} as EngineInput,
    context: {} as EngineContext,
    events: {} as EngineEvent,
  },
  actions: {
    assign: ({ context, event }) => {
      if (event.type === "TASK_ASSIGNED") context.outstanding.add(event.msgId);
    },
    finish: ({ context, event }) => {
      if (event.type === "TASK_FINISHED") context.outstanding.delete(event.msgId);
    },
    failDied: ({ context }) => failAll(context, "died while running task"),
    failStopped: ({ context }) => failAll(context, "was shut down while running task"),
    forget: ({ context }) => context.outstanding.clear(),
  },
}).createMachine({
  id: "engine",
  context: ({ input }) => ({
    id: input.id,
    uuid: input.uuid,
    outstanding: new Set<string>(),
    failTask: input.failTask,
  }),
  initial: "registering",
  on: {
    UNREGISTERED: ".dead",
    // The tasks get ControllerLostError from the registry; failing them here too would
    // give them the wrong cause.
    CONTROLLER_LOST: { target: ".dead", actions: "forget" },
    SHUTDOWN_REPLY: ".stopped",
  },
  states: {
    registering: { on: { ...trackTasks, REGISTERED: "idle" } },
    idle: { on: { ...trackTasks, BUSY: "busy", SHUTDOWN_REQUESTED: "stopping" } },
    busy: { on: { ...trackTasks, IDLE: "idle", SHUTDOWN_REQUESTED: "stopping" } },
    stopping: { on: { ...trackTasks, UNREGISTERED: "stopped" } },
    stopped: { type: "final", entry: "failStopped" },
    dead: { type: "final", entry: "failDied" },
  },
});

function failAll(context: EngineContext, what: string): void {
  const ids = [...context.outstanding];
  context.outstanding.clear();
  for (const msgId of ids) {
    context.failTask(msgId, new EngineError(`Engine ${context.id} ${what} '${msgId}'`));
  }
}
