/**
 * The task actor: one per request this client sent (apply or execute), kept in the
 * {@link TaskRegistry}'s `Map` and stopped when it reaches a final state (DESIGN.md "The actors").
 *
 * ```
 *              STARTED
 *   pending ──────────► running ───┐
 *      │ ABORT             │       │ IOPUB_IDLE (idle before reply, §6.6)
 *      ▼                   │       ▼
 *   aborting ─── REPLY ────┴──► outputDone ── REPLY ──► done|failed|aborted
 *                                   │
 *                                   └─ REPLY (output still due) ─► repliedOk|repliedError
 *                                                                      │ IOPUB_IDLE | OUTPUT_TIMEOUT
 *                                                                      ▼
 *                                                                 done | failed
 * any non-final: ENGINE_DIED, TIMEOUT, CONTROLLER_LOST → failed; RESUBMITTED → resubmitted
 * ```
 *
 * A result is complete when its reply arrived **and** its output is complete: the IOPub `idle`
 * was seen, or the reply says no output will follow (`aborted`, an error without `engine_info`,
 * or a coalesced broadcast reply). The `idle` can arrive before the reply (PROTOCOL.md §6.6,
 * §10 #1), hence `outputDone`.
 *
 * The machine is the explicit table {@link TASK_TRANSITIONS} (state × event → state), run by a
 * small XState `ActorLogic` ({@link taskLogic}): each task is an XState v5 actor, created with
 * `createActor`, driven by `send`, observable with `inspect`, and `done` (stopped) in a final
 * state. A flat ten-state machine without context, actions or timers needs nothing of the
 * statechart algorithm `createMachine` runs for every event (transition domains, entry and exit
 * sets, microsteps), and a client creates one per request. Creating one and settling it with a
 * reply costs 1.9 µs in a hot loop, against 12.6 µs for the same table as a `createMachine`
 * actor (6.4 µs when restored from a persisted snapshot, as the client used to); in situ, among
 * the socket work, the difference is larger: the client's CPU per load-balanced task fell by
 * about a fifth and a direct round trip by about 100 µs (BENCHMARKS.md, eighth round). The
 * decoded reply, metadata and error live in the registry's plain record.
 * `bench/task_machine.ts` measures it.
 *
 * @module
 */

import { type Actor, type ActorLogic, createActor } from "xstate";
import type { Inspector } from "./trace.ts";

/** Reply status as carried by `apply_reply`/`execute_reply` content (PROTOCOL.md §6.1). */
export type ReplyStatus = "ok" | "error" | "aborted";

/** Every event a task actor understands. */
export type TaskEvent =
  /** IOPub `status: busy` for this request: an engine started it. */
  | { type: "STARTED" }
  /**
   * The reply arrived. `outputComplete` is true when no IOPub `idle` is to be awaited
   * (aborted, an error without `engine_info`, a coalesced broadcast).
   */
  | { type: "REPLY"; status: ReplyStatus; outputComplete: boolean }
  /** IOPub `status: idle` for this request: its output is complete. */
  | { type: "IOPUB_IDLE" }
  /**
   * The reply came but its `idle` did not follow in time (IOPub is a PUB/SUB stream, which drops
   * at its high-water mark): settle with the output captured so far.
   */
  | { type: "OUTPUT_TIMEOUT" }
  /** Abort requested: the engine's aborted reply decides (a running task ignores it). */
  | { type: "ABORT" }
  /** The engine holding the task died or was shut down. */
  | { type: "ENGINE_DIED" }
  /** The task timed out (a scheduler `TaskTimeout`, or a client-side limit). */
  | { type: "TIMEOUT" }
  /** The Hub resubmitted the task under a new msg_id (kept in the registry record). */
  | { type: "RESUBMITTED" }
  /** The controller is gone: no reply will ever come. */
  | { type: "CONTROLLER_LOST" };

/** Names of the task actor's states. */
export type TaskState =
  | "pending"
  | "aborting"
  | "running"
  | "outputDone"
  | "repliedOk"
  | "repliedError"
  | "done"
  | "failed"
  | "aborted"
  | "resubmitted";

/** The final states: a task in one of these is no longer outstanding. */
export type FinalTaskState = "done" | "failed" | "aborted" | "resubmitted";

/** Whether `state` is final. */
export function isFinalTaskState(state: string): state is FinalTaskState {
  return state === "done" || state === "failed" || state === "aborted" || state === "resubmitted";
}

/** Where a `REPLY` leads, by its status and whether the task's output is complete. */
export interface ReplyRoute {
  /** `status: "aborted"`. */
  aborted: TaskState;
  /** `status: "ok"`, output complete. */
  okComplete: TaskState;
  /** `status: "ok"`, output still due. */
  ok: TaskState;
  /** `status: "error"`, output complete. */
  errorComplete: TaskState;
  /** `status: "error"`, output still due. */
  error: TaskState;
}

/** Per state: the state each event leads to; an event not listed leaves the state as it is. */
export type TaskTransitions = {
  readonly [S in TaskState]: {
    readonly [E in TaskEvent["type"]]?: E extends "REPLY" ? ReplyRoute : TaskState;
  };
};

// A reply before the idle: done or failed at once if no output is due, else wait for it.
const ON_REPLY: ReplyRoute = {
  aborted: "aborted",
  okComplete: "done",
  ok: "repliedOk",
  errorComplete: "failed",
  error: "repliedError",
};

// A reply after the idle was seen completes the task whatever it says.
const ON_REPLY_AFTER_OUTPUT: ReplyRoute = {
  aborted: "aborted",
  okComplete: "done",
  ok: "done",
  errorComplete: "failed",
  error: "failed",
};

const WHILE_WAITING = {
  IOPUB_IDLE: "outputDone",
  REPLY: ON_REPLY,
  ENGINE_DIED: "failed",
  TIMEOUT: "failed",
  RESUBMITTED: "resubmitted",
  CONTROLLER_LOST: "failed",
} as const;

/** The task state machine, as the table the diagram in the module doc draws. */
export const TASK_TRANSITIONS: TaskTransitions = {
  pending: { ...WHILE_WAITING, STARTED: "running", ABORT: "aborting" },
  // Abort requested: the engine answers the request with an aborted reply when it reaches
  // it, or runs it if it was already running (PROTOCOL.md §6.5.2).
  aborting: { ...WHILE_WAITING, STARTED: "running" },
  // Too late to abort: ABORT is ignored here.
  running: WHILE_WAITING,
  outputDone: {
    REPLY: ON_REPLY_AFTER_OUTPUT,
    ENGINE_DIED: "failed",
    TIMEOUT: "failed",
    RESUBMITTED: "resubmitted",
    CONTROLLER_LOST: "failed",
  },
  // The result is known; only its output is still due. Losing the engine or the controller
  // now ends the wait for output, not the result.
  repliedOk: {
    IOPUB_IDLE: "done",
    OUTPUT_TIMEOUT: "done",
    ENGINE_DIED: "done",
    CONTROLLER_LOST: "done",
  },
  repliedError: {
    IOPUB_IDLE: "failed",
    OUTPUT_TIMEOUT: "failed",
    ENGINE_DIED: "failed",
    CONTROLLER_LOST: "failed",
  },
  done: {},
  failed: {},
  aborted: {},
  resubmitted: {},
};

/**
 * The state `event` leads to from `state` ({@link TASK_TRANSITIONS}); `state` itself if the
 * event does not apply there (every event is ignored in a final state).
 */
export function nextTaskState(state: TaskState, event: TaskEvent): TaskState {
  if (event.type !== "REPLY") return TASK_TRANSITIONS[state][event.type] ?? state;
  const route = TASK_TRANSITIONS[state].REPLY;
  if (route === undefined) return state;
  if (event.status === "aborted") return route.aborted;
  if (event.status === "ok") return event.outputComplete ? route.okComplete : route.ok;
  return event.outputComplete ? route.errorComplete : route.error;
}

/**
 * A task actor's snapshot: XState's `status` (`done` in a final state) and the machine's
 * state as `value`, as a `createMachine` actor reports it.
 */
export type TaskSnapshot =
  | { status: "active"; value: TaskState; output: undefined; error: undefined }
  | { status: "done"; value: FinalTaskState; output: undefined; error: undefined }
  | { status: "error"; value: TaskState; output: undefined; error: unknown }
  | { status: "stopped"; value: TaskState; output: undefined; error: undefined };

/** The actor of one task ({@link startTaskActor}). */
export type TaskActor = Actor<ActorLogic<TaskSnapshot, TaskEvent>>;

// One snapshot per state, shared by every actor: XState treats snapshots as immutable (it
// spreads a new object to stop an actor), so a transition allocates nothing.
const SNAPSHOTS = Object.fromEntries(
  (Object.keys(TASK_TRANSITIONS) as TaskState[]).map((value) => [
    value,
    Object.freeze({
      status: isFinalTaskState(value) ? "done" : "active",
      value,
      output: undefined,
      error: undefined,
    }),
  ]),
) as Readonly<Record<TaskState, TaskSnapshot>>;

/**
 * The task actor's logic: {@link TASK_TRANSITIONS} as XState `ActorLogic`. Starts in
 * `pending` (the request is sent); XState stops the actor when it reaches a final state.
 *
 * @example
 * ```ts
 * import { createActor } from "xstate";
 * import { taskLogic } from "./task_machine.ts";
 * const task = createActor(taskLogic).start();
 * task.send({ type: "IOPUB_IDLE" });
 * task.send({ type: "REPLY", status: "ok", outputComplete: false });
 * console.log(task.getSnapshot().value, task.getSnapshot().status); // "done" "done"
 * ```
 */
export const taskLogic: ActorLogic<TaskSnapshot, TaskEvent> = {
  config: TASK_TRANSITIONS,
  // XState sends no event to a done or stopped actor, and a final state's row is empty anyway.
  transition: (snapshot, event) => {
    const value = nextTaskState(snapshot.value, event);
    return value === snapshot.value ? snapshot : SNAPSHOTS[value];
  },
  getInitialSnapshot: () => SNAPSHOTS.pending,
  getPersistedSnapshot: (snapshot) => snapshot,
};

/**
 * A started task actor in the machine's initial state, `pending`.
 *
 * @param inspect Observes its transitions (the client's `debug`, `trace.ts`); none by default.
 * @returns The running actor.
 */
export function startTaskActor(inspect?: Inspector): TaskActor {
  return createActor(taskLogic, { inspect }).start();
}
