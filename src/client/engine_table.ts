/**
 * {@link EngineTable}: the engines this client knows, one engine actor each, by id and uuid.
 *
 * It follows `connection_reply` (PROTOCOL.md §5.1), `registration_notification` (§4.4),
 * `unregistration_notification` (§4.5), IOPub `status` and `shutdown_reply` (§6.5.3, §6.6).
 * An engine that reaches `stopped` or `dead` leaves the table; its direct tasks were failed
 * with `EngineError` by its actor on the way out.
 *
 * Busy and idle are the one part of an engine's state that changes on every request (IOPub
 * `status` around each one, PROTOCOL.md §6.6), and no decision depends on them: every event has
 * the same target from `idle` as from `busy`. So the table records them in a plain field and
 * the engine actor stays in `idle` while its engine runs; {@link EngineTable.stateOf} reports
 * `busy` from that field. Registration, unregistration, shutdown and controller loss — the
 * transitions that fail tasks or remove the engine — are all driven through the actor
 * (DESIGN.md "The actors", "Performance principles").
 *
 * @module
 */

import { createActor } from "xstate";
import type { Actor } from "xstate";
import type { EngineError } from "../errors.ts";
import type { EngineEvent, EngineState } from "./actors/engine_machine.ts";
import { engineMachine } from "./actors/engine_machine.ts";
import type { EngineTracker } from "./task_registry.ts";
import { type TraceSink, traceTransitions } from "./actors/trace.ts";

/** What the per-message paths need of one engine, without asking its actor for a snapshot. */
interface EngineEntry {
  /** The last IOPub status said `busy`. */
  busy: boolean;
  /** The actor's own set of direct tasks (its context's, mutated in place). */
  outstanding: Set<string>;
}

/** Options of {@link EngineTable}. */
export interface EngineTableOptions {
  /** Fails one task whose engine was lost (wire to `TaskRegistry.engineDied`). */
  failTask: (msgId: string, error: EngineError) => void;
  /** Called after an engine registered or left, with its id, uuid and why. */
  onChange?: (event: { event: "register" | "unregister"; id: number; uuid: string }) => void;
  /** Logs each engine actor's state transitions (the client's `debug`); none by default. */
  trace?: TraceSink;
}

/**
 * The client's engines.
 *
 * @example
 * ```ts
 * import { EngineTable } from "./engine_table.ts";
 * const engines = new EngineTable({ failTask: () => {} });
 * engines.update({ "0": "uuid-0", "1": "uuid-1" });
 * console.log(engines.ids, engines.idOf("uuid-1")); // [0, 1] 1
 * engines.close();
 * ```
 */
export class EngineTable implements EngineTracker, Disposable {
  readonly #byId = new Map<number, Actor<typeof engineMachine>>();
  readonly #idByUuid = new Map<string, number>();
  // uuid -> the engine's entry, for the per-message paths (status, direct tasks).
  readonly #byUuid = new Map<string, EngineEntry>();
  readonly #options: EngineTableOptions;

  /**
   * Creates an empty table.
   *
   * @param options How to fail the tasks of a lost engine.
   */
  constructor(options: EngineTableOptions) {
    this.#options = options;
  }

  /** Ids of the engines that are registered and not stopped, ascending. */
  get ids(): number[] {
    return [...this.#byId.keys()].sort((a, b) => a - b);
  }

  /** The id of the engine with this uuid. */
  idOf(uuid: string): number | undefined {
    return this.#idByUuid.get(uuid);
  }

  /** The uuid of the engine with this id. */
  uuidOf(id: number): string | undefined {
    return this.#byId.get(id)?.getSnapshot().context.uuid;
  }

  /** The engine's state, or `undefined` once it left the table. */
  stateOf(id: number): EngineState | undefined {
    const actor = this.#byId.get(id);
    if (actor === undefined) return undefined;
    const snapshot = actor.getSnapshot();
    const state = snapshot.value as EngineState;
    return state === "idle" && this.#byUuid.get(snapshot.context.uuid)?.busy ? "busy" : state;
  }

  /** msg_ids sent directly to the engine and not yet settled. */
  outstandingOf(id: number): ReadonlySet<string> {
    return this.#byId.get(id)?.getSnapshot().context.outstanding ?? new Set();
  }

  /** Adds the engines of a `connection_reply` (`{"<id>": "<uuid>"}`), registered at once. */
  update(engines: Record<string, string>): void {
    for (const [id, uuid] of Object.entries(engines)) this.register(Number(id), uuid);
  }

  /** An engine registered (`registration_notification` content `{id, uuid}`). */
  register(id: number, uuid: string): void {
    const known = this.#byId.get(id);
    if (known !== undefined) {
      if (known.getSnapshot().context.uuid === uuid) return;
      // The Hub gave the id to a new engine (a restart), so the old one has left, even if its
      // unregistration or shutdown reply has not been handled here yet.
      this.#drive(id, { type: "UNREGISTERED" });
    }
    const trace = this.#options.trace;
    const actor = createActor(engineMachine, {
      input: { id, uuid, failTask: this.#options.failTask },
      inspect: trace && traceTransitions(`engine ${id}`, trace),
    });
    actor.start();
    this.#byId.set(id, actor);
    this.#idByUuid.set(uuid, id);
    this.#byUuid.set(uuid, {
      busy: false,
      outstanding: actor.getSnapshot().context.outstanding,
    });
    this.#drive(id, { type: "REGISTERED" });
    this.#options.onChange?.({ event: "register", id, uuid });
  }

  /** An engine left (`unregistration_notification` content `{id, uuid}`). */
  unregister(id: number): void {
    this.#drive(id, { type: "UNREGISTERED" });
  }

  /**
   * IOPub `status` from an engine (`metadata.engine` is its uuid): recorded, not sent to the
   * actor (module doc).
   */
  status(uuid: string, executionState: unknown): void {
    const entry = this.#byUuid.get(uuid);
    if (entry === undefined) return;
    if (executionState === "busy") entry.busy = true;
    else if (executionState === "idle") entry.busy = false;
  }

  /** This client sent `shutdown_request` to the engine. */
  shutdownRequested(id: number): void {
    this.#drive(id, { type: "SHUTDOWN_REQUESTED" });
  }

  /** A `shutdown_reply` came from the engine with this uuid (control, or IOPub copy). */
  shutdownReply(uuid: string): void {
    const id = this.#idByUuid.get(uuid);
    if (id !== undefined) this.#drive(id, { type: "SHUTDOWN_REPLY" });
  }

  /** The controller is gone: every engine is `dead` (the registry fails the tasks). */
  controllerLost(): void {
    for (const id of [...this.#byId.keys()]) this.#drive(id, { type: "CONTROLLER_LOST" });
  }

  /** {@inheritDoc EngineTracker.engineIdOf} */
  engineIdOf(uuid: string): number | undefined {
    return this.#idByUuid.get(uuid);
  }

  /**
   * {@inheritDoc EngineTracker.taskAssigned}
   *
   * Equivalent to sending `TASK_ASSIGNED`, done on the actor's private set directly: this is on
   * every direct request's path, and an event costs several microseconds.
   */
  taskAssigned(uuid: string, msgId: string): void {
    this.#byUuid.get(uuid)?.outstanding.add(msgId);
  }

  /** {@inheritDoc EngineTracker.taskFinished} (equivalent to `TASK_FINISHED`, see above) */
  taskFinished(uuid: string, msgId: string): void {
    this.#byUuid.get(uuid)?.outstanding.delete(msgId);
  }

  /** Stops every engine actor without failing tasks. Idempotent. */
  close(): void {
    for (const actor of this.#byId.values()) actor.stop();
    this.#byId.clear();
    this.#idByUuid.clear();
    this.#byUuid.clear();
  }

  /** Same as {@link EngineTable.close}. */
  [Symbol.dispose](): void {
    this.close();
  }

  #drive(id: number, event: EngineEvent): void {
    const actor = this.#byId.get(id);
    if (actor === undefined) return;
    actor.send(event);
    if (actor.getSnapshot().status === "done") {
      const uuid = actor.getSnapshot().context.uuid;
      this.#byId.delete(id);
      this.#idByUuid.delete(uuid);
      this.#byUuid.delete(uuid);
      this.#options.onChange?.({ event: "unregister", id, uuid });
    }
  }
}
