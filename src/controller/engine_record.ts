/**
 * The Hub's record of one engine as an XState v5 machine (PROTOCOL.md §4):
 *
 * ```text
 * registering ──HEARTBEAT──▶ registered ──HEART_FAILED──▶ dead
 *      │                         ├──UNREGISTER────▶ stopped
 *      │                         └──SHUTDOWN_REPLY─▶ stopped
 *      ├──REGISTRATION_TIMEOUT──▶ dead
 *      └──UNREGISTER───────────▶ stopped
 * ```
 *
 * `registering` lasts from `registration_reply` until the first pong (§4.4); a registered
 * engine leaves on a heart failure (§4.3), an `unregistration_request` or an IOPub
 * `shutdown_reply` (§4.5). Times come in the events (`at`, epoch ms), so the machine is pure.
 *
 * @module
 */

import { assign, createActor, setup } from "xstate";

/** Why an engine ended. */
export type EngineEndReason =
  | "heart-failure"
  | "unregistered"
  | "shutdown"
  | "registration-timeout";

/** What the record holds. */
export interface EngineRecordContext {
  /** Integer engine id (never reused). */
  id: number;
  /** Engine uuid (its session id and ZMQ identity). */
  uuid: string;
  /** When `registration_request` was accepted. */
  requestedAt: number;
  /** When the first heartbeat completed registration. */
  registeredAt: number | null;
  /** When it became dead or stopped. */
  endedAt: number | null;
  /** Why it ended. */
  reason: EngineEndReason | null;
}

/** Events the record accepts; `at` is the event time in epoch ms. */
export type EngineRecordEvent =
  | { type: "HEARTBEAT"; at: number }
  | { type: "HEART_FAILED"; at: number }
  | { type: "UNREGISTER"; at: number }
  | { type: "SHUTDOWN_REPLY"; at: number }
  | { type: "REGISTRATION_TIMEOUT"; at: number };

/** Input to start a record. */
export interface EngineRecordInput {
  /** Integer engine id. */
  id: number;
  /** Engine uuid. */
  uuid: string;
  /** When the registration was accepted (epoch ms). */
  at: number;
}

const end = (reason: EngineEndReason) =>
  assign<EngineRecordContext, EngineRecordEvent, undefined, EngineRecordEvent, never>({
    endedAt: ({ event }) => event.at,
    reason: () => reason,
  });

/** The engine-record machine. */
export const engineRecordMachine = setup({
  types: {
    context: {} as EngineRecordContext,
    events: {} as EngineRecordEvent,
    input: {} as EngineRecordInput,
  },
}).createMachine({
  id: "engineRecord",
  initial: "registering",
  context: ({ input }) => ({
    id: input.id,
    uuid: input.uuid,
    requestedAt: input.at,
    registeredAt: null,
    endedAt: null,
    reason: null,
  }),
  states: {
    registering: {
      on: {
        HEARTBEAT: {
          target: "registered",
          actions: assign({ registeredAt: ({ event }) => event.at }),
        },
        REGISTRATION_TIMEOUT: { target: "dead", actions: end("registration-timeout") },
        UNREGISTER: { target: "stopped", actions: end("unregistered") },
      },
    },
    registered: {
      on: {
        HEART_FAILED: { target: "dead", actions: end("heart-failure") },
        UNREGISTER: { target: "stopped", actions: end("unregistered") },
        SHUTDOWN_REPLY: { target: "stopped", actions: end("shutdown") },
      },
    },
    dead: { type: "final" },
    stopped: { type: "final" },
  },
});

/** The record's state names. */
export type EngineRecordState = "registering" | "registered" | "dead" | "stopped";

/** What a record's snapshot exposes. */
export interface EngineRecordSnapshot {
  /** Current state. */
  value: EngineRecordState;
  /** `"done"` once dead or stopped. */
  status: "active" | "done" | "error" | "stopped";
  /** The record's data. */
  context: EngineRecordContext;
}

/** A running engine record (the XState actor, seen through the methods the Hub uses). */
export interface EngineRecordActor {
  /** Delivers an event. */
  send(event: EngineRecordEvent): void;
  /** The current snapshot. */
  getSnapshot(): EngineRecordSnapshot;
  /** Stops the actor. */
  stop(): void;
}

/**
 * Creates and starts an engine record.
 *
 * @param input Id, uuid and registration time.
 * @returns The started actor (it stops itself on reaching `dead` or `stopped`).
 * @example
 * ```ts
 * const rec = createEngineRecord({ id: 0, uuid: "u", at: 0 });
 * rec.send({ type: "HEARTBEAT", at: 5 });
 * rec.getSnapshot().value; // "registered"
 * ```
 */
export function createEngineRecord(input: EngineRecordInput): EngineRecordActor {
  const actor: EngineRecordActor = createActor(engineRecordMachine, { input }).start();
  return actor;
}

/**
 * The state name of a record.
 *
 * @param actor The record.
 * @returns Its current state.
 */
export function engineState(actor: EngineRecordActor): EngineRecordState {
  return actor.getSnapshot().value;
}
