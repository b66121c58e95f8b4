/**
 * Measures what the client-core actors cost (a measurement, not a test: it prints figures and
 * asserts nothing). Run it on a quiet machine:
 *
 * ```sh
 * deno run --v8-flags=--expose-gc bench/task_machine.ts
 * ```
 *
 * @module
 */
import { createActor } from "xstate";
import { taskLogic } from "../src/client/actors/task_machine.ts";
import { engineMachine } from "../src/client/actors/engine_machine.ts";
import { EngineTable } from "../src/client/engine_table.ts";
import type { IncomingMessage } from "../src/client/messages.ts";
import { MessageRouter } from "../src/client/router.ts";
import { TaskRegistry } from "../src/client/task_registry.ts";
import { AsyncResult } from "../src/client/async_result.ts";
import { HubLink } from "../src/client/actors/hub_link_machine.ts";

type Case = () => void;

const cases: Record<string, Case> = {
  "task create+start+stop, no event": () => {
    createActor(taskLogic).start().stop();
  },
  "task, 1 event (reply, output complete)": () => {
    const a = createActor(taskLogic).start();
    a.send({ type: "REPLY", status: "ok", outputComplete: true });
  },
  "task, 2 events (idle, reply)": () => {
    const a = createActor(taskLogic).start();
    a.send({ type: "IOPUB_IDLE" });
    a.send({ type: "REPLY", status: "ok", outputComplete: false });
  },
  "task, 3 events (busy, reply, idle): normal path": () => {
    const a = createActor(taskLogic).start();
    a.send({ type: "STARTED" });
    a.send({ type: "REPLY", status: "ok", outputComplete: false });
    a.send({ type: "IOPUB_IDLE" });
  },
};

// The whole client-side life of one load-balanced task after decode, through the router as the
// socket readers call it: track (submit), IOPub busy, reply, IOPub idle.
const registry = new TaskRegistry({ decode: () => ({ value: 1, rest: [] }) });
const table = new EngineTable({ failTask: (id, e) => registry.engineDied(id, e) });
const hub = new HubLink({ send: () => "q" });
const router = new MessageRouter({ session: "me", tasks: registry, engines: table, hub });
table.register(0, "e0");
let seq = 0;
const status = (msgId: string, state: string): IncomingMessage => ({
  header: { msg_id: "s", msg_type: "status", session: "e0" } as IncomingMessage["header"],
  parent_header: { msg_id: msgId, session: "me" },
  metadata: { engine: "e0" },
  content: { execution_state: state },
  buffers: [],
});
cases["registry: track + busy + reply + idle (router)"] = () => {
  const id = `m${seq++}`;
  registry.track(id);
  router.iopub(status(id, "busy"));
  router.reply({
    header: {
      msg_id: "r",
      msg_type: "apply_reply",
      date: "2026-01-01T00:00:00Z",
    } as IncomingMessage["header"],
    parent_header: { msg_id: id, session: "me" },
    metadata: {
      status: "ok",
      engine: "e0",
      started: "2026-01-01T00:00:00Z",
      follow: [],
      after: [],
    },
    content: { status: "ok" },
    buffers: [],
  });
  router.iopub(status(id, "idle"));
};

const reply = (id: string): IncomingMessage => ({
  header: {
    msg_id: "r",
    msg_type: "apply_reply",
    date: "2026-01-01T00:00:00Z",
  } as IncomingMessage["header"],
  parent_header: { msg_id: id, session: "me" },
  metadata: { status: "ok", engine: "e0", started: "2026-01-01T00:00:00Z", follow: [], after: [] },
  content: { status: "ok" },
  buffers: [],
});
cases["registry + AsyncResult: track, busy, reply, idle, settled"] = () => {
  const id = `m${seq++}`;
  registry.track(id);
  const ar = new AsyncResult(registry, id);
  router.iopubStatus(id, "me", "e0", "busy");
  router.reply(reply(id));
  router.iopubStatus(id, "me", "e0", "idle");
  if (!ar.ready()) throw new Error("not settled");
};

function measure(f: Case, n: number): number {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) f();
  return (performance.now() - t0) / n * 1000;
}

// One case per process gives steadier figures: `... bench/task_machine.ts "task, 1 event"`.
const only = Deno.args[0];
for (const [name, f] of Object.entries(cases)) {
  if (only && !name.startsWith(only)) continue;
  measure(f, 20_000);
  const rounds = Array.from({ length: 7 }, () => measure(f, 20_000)).sort((a, b) => a - b);
  console.log(
    `${name}: min ${rounds[0].toFixed(1)} µs, median ${rounds[3].toFixed(1)} µs`,
  );
}

const engine = createActor(engineMachine, {
  input: { id: 0, uuid: "u", failTask: () => {} },
}).start();
engine.send({ type: "REGISTERED" });
const flip = () => {
  engine.send({ type: "BUSY" });
  engine.send({ type: "IDLE" });
};
measure(flip, 20_000);
const engineRounds = Array.from({ length: 7 }, () => measure(flip, 20_000) / 2).sort((a, b) =>
  a - b
);
console.log(
  `engine busy/idle event: min ${engineRounds[0].toFixed(1)} µs, median ${
    engineRounds[3].toFixed(1)
  } µs`,
);
engine.stop();

const gc = (globalThis as { gc?: () => void }).gc;
if (gc) {
  gc();
  const before = Deno.memoryUsage().heapUsed;
  const alive = [];
  for (let i = 0; i < 10_000; i++) alive.push(createActor(taskLogic).start());
  gc();
  const after = Deno.memoryUsage().heapUsed;
  console.log(`task actor alive: ${((after - before) / 10_000).toFixed(0)} bytes each`);
  for (const a of alive) a.stop();
}
