import assert from "node:assert/strict";
import { createEngineRecord, engineState } from "../../src/controller/engine_record.ts";

Deno.test("an engine record starts registering and the first heartbeat registers it", () => {
  const rec = createEngineRecord({ id: 3, uuid: "u", at: 100 });
  assert.equal(engineState(rec), "registering");
  rec.send({ type: "HEARTBEAT", at: 150 });
  assert.equal(engineState(rec), "registered");
  const ctx = rec.getSnapshot().context;
  assert.deepEqual([ctx.id, ctx.uuid, ctx.requestedAt, ctx.registeredAt], [3, "u", 100, 150]);
  rec.stop();
});

Deno.test("a registered engine whose heart fails is dead", () => {
  const rec = createEngineRecord({ id: 0, uuid: "u", at: 0 });
  rec.send({ type: "HEARTBEAT", at: 1 });
  rec.send({ type: "HEART_FAILED", at: 9 });
  const snap = rec.getSnapshot();
  assert.equal(snap.value, "dead");
  assert.equal(snap.status, "done");
  assert.equal(snap.context.reason, "heart-failure");
  assert.equal(snap.context.endedAt, 9);
});

Deno.test("an unregistration request stops a registered engine", () => {
  const rec = createEngineRecord({ id: 0, uuid: "u", at: 0 });
  rec.send({ type: "HEARTBEAT", at: 1 });
  rec.send({ type: "UNREGISTER", at: 2 });
  assert.equal(engineState(rec), "stopped");
  assert.equal(rec.getSnapshot().context.reason, "unregistered");
});

Deno.test("an IOPub shutdown_reply stops a registered engine", () => {
  const rec = createEngineRecord({ id: 0, uuid: "u", at: 0 });
  rec.send({ type: "HEARTBEAT", at: 1 });
  rec.send({ type: "SHUTDOWN_REPLY", at: 2 });
  assert.equal(engineState(rec), "stopped");
  assert.equal(rec.getSnapshot().context.reason, "shutdown");
});

Deno.test("a registration whose heart never beats times out to dead", () => {
  const rec = createEngineRecord({ id: 0, uuid: "u", at: 0 });
  rec.send({ type: "REGISTRATION_TIMEOUT", at: 30_000 });
  assert.equal(engineState(rec), "dead");
  assert.equal(rec.getSnapshot().context.reason, "registration-timeout");
});

Deno.test("a heart failure or shutdown reply before registration completes is ignored", () => {
  const rec = createEngineRecord({ id: 0, uuid: "u", at: 0 });
  rec.send({ type: "HEART_FAILED", at: 1 });
  rec.send({ type: "SHUTDOWN_REPLY", at: 1 });
  assert.equal(engineState(rec), "registering");
  rec.stop();
});

Deno.test("final states ignore further events", () => {
  const rec = createEngineRecord({ id: 0, uuid: "u", at: 0 });
  rec.send({ type: "HEARTBEAT", at: 1 });
  rec.send({ type: "UNREGISTER", at: 2 });
  rec.send({ type: "HEARTBEAT", at: 3 });
  assert.equal(engineState(rec), "stopped");
  assert.equal(rec.getSnapshot().context.endedAt, 2);
});
