import assert from "node:assert/strict";
import { createActor } from "xstate";
import { engineMachine } from "../../src/client/actors/engine_machine.ts";
import { EngineTable } from "../../src/client/engine_table.ts";
import { EngineError } from "../../src/errors.ts";

function engine(id = 2) {
  const failed: [string, EngineError][] = [];
  const actor = createActor(engineMachine, {
    input: { id, uuid: `u-${id}`, failTask: (m, e) => failed.push([m, e]) },
  }).start();
  return { actor, failed, state: () => actor.getSnapshot().value };
}

Deno.test("engine: registering → idle ⇄ busy on registration and status", () => {
  const e = engine();
  assert.equal(e.state(), "registering");
  e.actor.send({ type: "REGISTERED" });
  assert.equal(e.state(), "idle");
  e.actor.send({ type: "BUSY" });
  assert.equal(e.state(), "busy");
  e.actor.send({ type: "IDLE" });
  assert.equal(e.state(), "idle");
  e.actor.stop();
});

Deno.test("engine: unregistration fails outstanding direct tasks with EngineError", () => {
  const e = engine(2);
  e.actor.send({ type: "REGISTERED" });
  e.actor.send({ type: "TASK_ASSIGNED", msgId: "m1" });
  e.actor.send({ type: "TASK_ASSIGNED", msgId: "m2" });
  e.actor.send({ type: "TASK_FINISHED", msgId: "m1" });
  e.actor.send({ type: "BUSY" });
  e.actor.send({ type: "UNREGISTERED" });
  assert.equal(e.state(), "dead");
  assert.equal(e.actor.getSnapshot().status, "done");
  assert.equal(e.failed.length, 1);
  assert.equal(e.failed[0][0], "m2");
  assert.ok(e.failed[0][1] instanceof EngineError);
  assert.equal(e.failed[0][1].message, "Engine 2 died while running task 'm2'");
});

Deno.test("engine: shutdown request then reply ends stopped, failing what it held", () => {
  const e = engine(0);
  e.actor.send({ type: "REGISTERED" });
  e.actor.send({ type: "TASK_ASSIGNED", msgId: "q" });
  e.actor.send({ type: "SHUTDOWN_REQUESTED" });
  assert.equal(e.state(), "stopping");
  e.actor.send({ type: "SHUTDOWN_REPLY" });
  assert.equal(e.state(), "stopped");
  assert.deepEqual(e.failed.map(([m, err]) => [m, err.message]), [
    ["q", "Engine 0 was shut down while running task 'q'"],
  ]);
});

Deno.test("engine: stopping ends stopped on unregistration too", () => {
  const e = engine();
  e.actor.send({ type: "REGISTERED" });
  e.actor.send({ type: "SHUTDOWN_REQUESTED" });
  e.actor.send({ type: "UNREGISTERED" });
  assert.equal(e.state(), "stopped");
});

Deno.test("engine: a shutdown reply nobody here asked for still stops it", () => {
  const e = engine();
  e.actor.send({ type: "REGISTERED" });
  e.actor.send({ type: "SHUTDOWN_REPLY" });
  assert.equal(e.state(), "stopped");
});

Deno.test("engine: controller lost makes it dead without failing tasks itself", () => {
  const e = engine();
  e.actor.send({ type: "REGISTERED" });
  e.actor.send({ type: "TASK_ASSIGNED", msgId: "m" });
  e.actor.send({ type: "CONTROLLER_LOST" });
  assert.equal(e.state(), "dead");
  assert.equal(e.failed.length, 0);
});

Deno.test("engine: an engine unregistered while registering is dead", () => {
  const e = engine();
  e.actor.send({ type: "UNREGISTERED" });
  assert.equal(e.state(), "dead");
});

Deno.test("EngineTable: connection_reply engines are idle and looked up both ways", () => {
  const table = new EngineTable({ failTask: () => {} });
  table.update({ "1": "u1", "0": "u0" });
  assert.deepEqual(table.ids, [0, 1]);
  assert.equal(table.idOf("u1"), 1);
  assert.equal(table.uuidOf(0), "u0");
  assert.equal(table.stateOf(0), "idle");
  table.status("u0", "busy");
  assert.equal(table.stateOf(0), "busy");
  table.status("u0", "busy");
  assert.equal(table.stateOf(0), "busy");
  table.status("u0", "idle");
  assert.equal(table.stateOf(0), "idle");
  table.close();
});

Deno.test("EngineTable: a dead engine leaves the table and fails its direct tasks", () => {
  const failed: string[] = [];
  const events: string[] = [];
  const table = new EngineTable({
    failTask: (m, e) => failed.push(`${m}: ${e.message}`),
    onChange: (e) => events.push(`${e.event} ${e.id}`),
  });
  table.register(4, "u4");
  table.taskAssigned("u4", "a");
  table.taskAssigned("u4", "b");
  table.taskFinished("u4", "a");
  assert.deepEqual([...table.outstandingOf(4)], ["b"]);
  table.unregister(4);
  assert.deepEqual(failed, ["b: Engine 4 died while running task 'b'"]);
  assert.deepEqual(table.ids, []);
  assert.equal(table.idOf("u4"), undefined);
  assert.deepEqual(events, ["register 4", "unregister 4"]);
  table.close();
});

Deno.test("EngineTable: shutdown reply by uuid stops the engine", () => {
  const table = new EngineTable({ failTask: () => {} });
  table.register(0, "u0");
  table.shutdownRequested(0);
  assert.equal(table.stateOf(0), "stopping");
  table.shutdownReply("u0");
  assert.equal(table.stateOf(0), undefined);
  assert.deepEqual(table.ids, []);
  table.close();
});

Deno.test("EngineTable: a new uuid registered under a known id replaces the old engine", () => {
  const failed: string[] = [];
  const events: string[] = [];
  const table = new EngineTable({
    failTask: (m) => failed.push(m),
    onChange: (e) => events.push(`${e.event} ${e.id} ${e.uuid}`),
  });
  table.register(0, "old");
  table.taskAssigned("old", "a");
  table.shutdownRequested(0); // a restart: the new engine can register before the reply is read
  table.register(0, "old"); // the same engine again: nothing changes
  assert.equal(table.stateOf(0), "stopping");
  table.register(0, "new");
  assert.deepEqual(failed, ["a"]);
  assert.equal(table.idOf("old"), undefined);
  assert.equal(table.idOf("new"), 0);
  assert.equal(table.stateOf(0), "idle");
  table.shutdownReply("old"); // late: ignored
  assert.deepEqual(table.ids, [0]);
  assert.deepEqual(events, ["register 0 old", "unregister 0 old", "register 0 new"]);
  table.close();
});
