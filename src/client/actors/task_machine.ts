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
 * The machine has no context: the decoded reply, metadata and error live in the registry's plain
 * record, so creating, driving and stopping a task stays within the per-task budget
 * (DESIGN.md "Performance principles"). `bench/task_machine.ts` measures it.
 *
 * @module
 */

import { type Actor, createActor, setup } from "xstate";
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

// Reply routing, most specific first. Guards are plain functions of the event: no context.
const onReply = [
  { guard: "isAborted", target: "aborted" },
  { guard: "isOkComplete", target: "done" },
  { guard: "isOk", target: "repliedOk" },
  { guard: "isErrorComplete", target: "failed" },
  { target: "repliedError" },
] as const;

// A reply after the idle was seen completes the task whatever it says.
const onReplyAfterOutput = [
  { guard: "isAborted", target: "aborted" },
  { guard: "isOk", target: "done" },
  { target: "failed" },
] as const;

const whileWaiting = {
  IOPUB_IDLE: "outputDone",
  REPLY: onReply,
  ENGINE_DIED: "failed",
  TIMEOUT: "failed",
  RESUBMITTED: "resubmitted",
  CONTROLLER_LOST: "failed",
} as const;

/**
 * The task state machine. Create one actor per msg_id with {@link startTaskActor} (or
 * `createActor(taskMachine).start()`); it starts in `pending`: the request is sent.
 *
 * @example
 * ```ts
 * import { createActor } from "xstate";
 * import { taskMachine } from "./task_machine.ts";
 * const task = createActor(taskMachine).start();
 * task.send({ type: "IOPUB_IDLE" });
 * task.send({ type: "REPLY", status: "ok", outputComplete: false });
 * console.log(task.getSnapshot().value); // "done"
 * ```
 */
export const taskMachine = makeTaskMachine();

// The initial state, persisted once. Restoring it gives the actor `createActor(taskMachine)
// .start()` gives (the machine has no context and no actions to run on entry) without working
// the initial state out again: 6.4 against 10.5 µs for a task created, started and sent one
// event (measured on Deno 2.9, hot loop).
const PENDING = createActor(taskMachine).start().getPersistedSnapshot();

/**
 * A started task actor in the machine's initial state, `pending`.
 *
 * @param inspect Observes its transitions (the client's `debug`, `trace.ts`); none by default.
 * @returns The running actor.
 */
export function startTaskActor(inspect?: Inspector): Actor<typeof taskMachine> {
  return createActor(taskMachine, { snapshot: PENDING, inspect }).start();
}

function makeTaskMachine() {
  return setup({
    types: { events: {} as TaskEvent },
    guards: {
      isAborted: ({ event }) => event.type === "REPLY" && event.status === "aborted",
      isOk: ({ event }) => event.type === "REPLY" && event.status === "ok",
      isOkComplete: ({ event }) =>
        event.type === "REPLY" && event.status === "ok" && event.outputComplete,
      isErrorComplete: ({ event }) => event.type === "REPLY" && event.outputComplete,
    },
  }).createMachine({
    id: "task",
    initial: "pending",
    states: {
      pending: { on: { ...whileWaiting, STARTED: "running", ABORT: "aborting" } },
      // Abort requested: the engine answers the request with an aborted reply when it reaches
      // it, or runs it if it was already running (PROTOCOL.md §6.5.2).
      aborting: { on: { ...whileWaiting, STARTED: "running" } },
      // Too late to abort: ABORT is ignored here.
      running: { on: whileWaiting },
      outputDone: {
        on: {
          REPLY: onReplyAfterOutput,
          ENGINE_DIED: "failed",
          TIMEOUT: "failed",
          RESUBMITTED: "resubmitted",
          CONTROLLER_LOST: "failed",
        },
      },
      // The result is known; only its output is still due. Losing the engine or the
      // controller now ends the wait for output, not the result.
      repliedOk: {
        on: {
          IOPUB_IDLE: "done",
          OUTPUT_TIMEOUT: "done",
          ENGINE_DIED: "done",
          CONTROLLER_LOST: "done",
        },
      },
      repliedError: {
        on: {
          IOPUB_IDLE: "failed",
          OUTPUT_TIMEOUT: "failed",
          ENGINE_DIED: "failed",
          CONTROLLER_LOST: "failed",
        },
      },
      done: { type: "final" },
      failed: { type: "final" },
      aborted: { type: "final" },
      resubmitted: { type: "final" },
    },
  });
}
