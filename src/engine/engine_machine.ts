/**
 * The engine process's lifecycle as an XState v5 machine (DESIGN.md "The actors").
 *
 * ```
 *            FOUND           REGISTERED          CONNECTED
 *  starting ───────► registering ──────► connecting ──────► running
 *     │                   │                   │                │
 *     │                   │                   │ STOP           │ STOP
 *     │                   │                   └──────────► stopping
 *     │                   │                                       │ STOPPED
 *     └──── FAIL ─────────┴──── FAIL (from any live state) ───► failed      ▼
 *                                                                        stopped
 * ```
 *
 * - `starting`: looking for (and waiting for) the engine connection file (PROTOCOL.md §2.1).
 * - `registering`: `registration_request` sent, waiting for the reply (§4.1).
 * - `connecting`: shell, control, IOPub and heart sockets being set up (§4.2).
 * - `running`: serving. Whether a shell request is running (busy/idle) is not a machine
 *   state: it changes twice per request, and an XState transition per change cost ~12 % of
 *   the engine's main thread; the {@link Engine} keeps it as a flag.
 * - `stopping`: shutting down (shutdown request, signal, controller lost): replies flushed,
 *   `unregistration_request` sent, sockets closed.
 * - `stopped` / `failed`: final; the context holds the process exit code and the reason.
 *
 * The machine holds no sockets: the {@link Engine} drives it with events and reads its state.
 *
 * @module
 */

import { assign, setup } from "xstate";

/** The machine's context. */
export interface EngineLifecycleContext {
  /** The engine id, once registered (`null` before). */
  id: number | null;
  /** The heartbeat period the controller announced, in ms (`null` before registration). */
  hbPeriod: number | null;
  /** Process exit code, once stopping or final. */
  exitCode: number | null;
  /** Why the engine stopped or failed. */
  reason: string | null;
}

/** Every event the lifecycle machine understands. */
export type EngineLifecycleEvent =
  /** The connection file was found and read. */
  | { type: "FOUND" }
  /** `registration_reply` with `status: ok`. */
  | { type: "REGISTERED"; id: number; hbPeriod: number }
  /** All sockets connected, heart beating. */
  | { type: "CONNECTED" }
  /** Begin a clean shutdown with this exit code. */
  | { type: "STOP"; reason: string; exitCode: number }
  /** The shutdown finished. */
  | { type: "STOPPED" }
  /** A fatal error; the process should exit with this code. */
  | { type: "FAIL"; reason: string; exitCode: number };

/** Names of the states (nested `running` states as `running.idle` / `running.busy`). */
export type EngineLifecycleState =
  | "starting"
  | "registering"
  | "connecting"
  | "running"
  | "stopping"
  | "stopped"
  | "failed";

/**
 * The engine lifecycle machine.
 *
 * @example
 * ```ts
 * import { createActor } from "xstate";
 * import { engineLifecycleMachine } from "./engine_machine.ts";
 * const actor = createActor(engineLifecycleMachine).start();
 * actor.send({ type: "FOUND" });
 * actor.send({ type: "REGISTERED", id: 0, hbPeriod: 3000 });
 * actor.send({ type: "CONNECTED" });
 * actor.send({ type: "STOP", reason: "shutdown_request", exitCode: 0 });
 * actor.send({ type: "STOPPED" });
 * console.log(actor.getSnapshot().value, actor.getSnapshot().context.exitCode); // "stopped" 0
 * ```
 */
export const engineLifecycleMachine = setup({
  types: {
    context: {} as EngineLifecycleContext,
    events: {} as EngineLifecycleEvent,
  },
  actions: {
    registered: assign(({ event }) =>
      event.type === "REGISTERED" ? { id: event.id, hbPeriod: event.hbPeriod } : {}
    ),
    // The first reason wins: a later one (a FAIL after STOP) is a consequence of it.
    ending: assign(({ context, event }) =>
      (event.type === "STOP" || event.type === "FAIL") && context.reason === null
        ? { reason: event.reason, exitCode: event.exitCode }
        : {}
    ),
  },
}).createMachine({
  id: "engine-lifecycle",
  context: () => ({ id: null, hbPeriod: null, exitCode: null, reason: null }),
  initial: "starting",
  on: {
    FAIL: { target: ".failed", actions: "ending" },
  },
  states: {
    starting: { on: { FOUND: "registering", STOP: { target: "stopping", actions: "ending" } } },
    registering: {
      on: {
        REGISTERED: { target: "connecting", actions: "registered" },
        STOP: { target: "stopping", actions: "ending" },
      },
    },
    connecting: {
      on: { CONNECTED: "running", STOP: { target: "stopping", actions: "ending" } },
    },
    running: {
      on: { STOP: { target: "stopping", actions: "ending" } },
    },
    stopping: {
      on: {
        STOPPED: "stopped",
        // A second STOP (e.g. SIGINT during shutdown) does not restart the shutdown.
        STOP: {},
      },
    },
    stopped: { type: "final" },
    failed: { type: "final" },
  },
});
