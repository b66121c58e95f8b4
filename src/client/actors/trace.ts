/**
 * Transition logging for the client's actors (the `debug` connect option, issue #6): an XState
 * `inspect` observer that reports each change of one actor's state as one line.
 *
 * An actor gets an observer only when the client was connected with `debug`; without one,
 * XState's inspection is a check of an empty set, so tracing costs nothing when off.
 *
 * @module
 */

import type { InspectionEvent } from "xstate";

/** Where transition lines go: the client wires it to its logger at level `"debug"`. */
export type TraceSink = (message: string) => void;

/** An XState inspection observer (the `inspect` option of `createActor`). */
export type Inspector = (event: InspectionEvent) => void;

/**
 * An inspector that logs `actor <name>: <from> -> <to> (<event>)` each time the inspected
 * actor's state changes, starting with `actor <name>: start -> <initial> (xstate.init)`.
 * Events that leave the state as it was (a query noted by the Hub link, say) are not logged.
 *
 * @example
 * ```ts
 * import { createActor, createMachine } from "xstate";
 * import { traceTransitions } from "./trace.ts";
 * const machine = createMachine({ initial: "a", states: { a: { on: { GO: "b" } }, b: {} } });
 * const lines: string[] = [];
 * const actor = createActor(machine, { inspect: traceTransitions("demo", (l) => lines.push(l)) });
 * actor.start();
 * actor.send({ type: "GO" });
 * console.log(lines); // ["actor demo: start -> a (xstate.init)", "actor demo: a -> b (GO)"]
 * ```
 *
 * @param name How lines name the actor (`task <msg_id>`, `engine 0`, `hub`).
 * @param sink Receives each line.
 * @returns The observer, for `createActor(machine, { inspect })`.
 */
export function traceTransitions(name: string, sink: TraceSink): Inspector {
  let last = "start";
  let root: unknown = undefined;
  return (event) => {
    if (event.type !== "@xstate.snapshot") return;
    // The observer sees the whole actor system: keep to the actor it was made for.
    root ??= event.actorRef;
    if (event.actorRef !== root) return;
    const value = (event.snapshot as { value?: unknown }).value;
    const state = typeof value === "string" ? value : JSON.stringify(value);
    if (state === last) return;
    sink(`actor ${name}: ${last} -> ${state} (${event.event.type})`);
    last = state;
  };
}
