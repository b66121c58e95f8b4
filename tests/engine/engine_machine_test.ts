import assert from "node:assert/strict";
import { createActor } from "xstate";
import { engineLifecycleMachine } from "../../src/engine/engine_machine.ts";

Deno.test("engine lifecycle: starting → registering → connecting → running → stopped", () => {
  const actor = createActor(engineLifecycleMachine).start();
  const seen: unknown[] = [];
  actor.subscribe((s) => seen.push(s.value));
  actor.send({ type: "FOUND" });
  actor.send({ type: "REGISTERED", id: 7, hbPeriod: 1000 });
  actor.send({ type: "CONNECTED" });
  actor.send({ type: "STOP", reason: "shutdown requested by a client", exitCode: 0 });
  actor.send({ type: "STOP", reason: "received SIGINT", exitCode: 0 }); // ignored while stopping
  actor.send({ type: "STOPPED" });
  assert.deepEqual(seen, [
    "registering",
    "connecting",
    "running",
    "stopping",
    "stopping",
    "stopped",
  ]);
  const { context, status } = actor.getSnapshot();
  assert.equal(status, "done");
  assert.deepEqual(context, {
    id: 7,
    hbPeriod: 1000,
    exitCode: 0,
    reason: "shutdown requested by a client",
  });
});

Deno.test("engine lifecycle: a failure while registering is final with its exit code", () => {
  const actor = createActor(engineLifecycleMachine).start();
  actor.send({ type: "FOUND" });
  actor.send({ type: "FAIL", reason: "Registration timed out", exitCode: 255 });
  const s = actor.getSnapshot();
  assert.equal(s.value, "failed");
  assert.equal(s.context.exitCode, 255);
  assert.equal(s.context.reason, "Registration timed out");
});

Deno.test("engine lifecycle: controller loss stops, then fails, keeping the first reason", () => {
  const actor = createActor(engineLifecycleMachine).start();
  actor.send({ type: "FOUND" });
  actor.send({ type: "REGISTERED", id: 0, hbPeriod: 200 });
  actor.send({ type: "CONNECTED" });
  actor.send({ type: "STOP", reason: "controller went away", exitCode: 1 });
  actor.send({ type: "FAIL", reason: "controller went away", exitCode: 1 });
  const s = actor.getSnapshot();
  assert.equal(s.value, "failed");
  assert.equal(s.context.exitCode, 1);
  // a STOP after the end changes nothing
  actor.send({ type: "STOP", reason: "late", exitCode: 0 });
  assert.equal(actor.getSnapshot().value, "failed");
});
