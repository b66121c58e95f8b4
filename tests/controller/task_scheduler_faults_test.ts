/**
 * Task scheduler: blacklisting, retries, time-outs, engine death, and queue bookkeeping.
 */

import assert from "node:assert/strict";
import { ManualClock } from "../../src/controller/clock.ts";
import { TaskScheduler } from "../../src/controller/task_scheduler.ts";
import { err, ok, setup } from "./scheduler_fixtures.ts";

Deno.test("dependencies_met=false blacklists the engine and re-runs elsewhere without using retries", () => {
  const { s, take } = setup();
  s.registerEngine("e0");
  s.registerEngine("e1");
  s.submit("t", {}, "p"); // e1
  s.reply("e1", "t", { status: "error", dependenciesMet: false }, "unmet");
  assert.deepEqual(take(), ["dispatch t→e1", "dispatch t→e0"]);
  s.reply("e0", "t", { status: "error", dependenciesMet: false }, "unmet");
  assert.deepEqual(take(), []); // every engine blacklisted, no targets: waits (quirk #21)
  assert.equal(s.taskState("t"), "waiting");
  s.close();
});

Deno.test("dependencies_met=false with every target blacklisted is ImpossibleDependency", () => {
  const { s, take } = setup();
  s.registerEngine("e0");
  s.registerEngine("e1");
  s.submit("t", { targets: ["e0"] }, "p");
  s.reply("e0", "t", { status: "error", dependenciesMet: false }, "unmet");
  assert.deepEqual(take(), ["dispatch t→e0", "fail t ImpossibleDependency"]);
  s.close();
});

Deno.test("retries re-run a failed task on another engine; only the last error is relayed", () => {
  const { s, take, actions } = setup();
  s.registerEngine("e0");
  s.registerEngine("e1");
  s.submit("t", { retries: 1 }, "p");
  s.reply("e1", "t", err, "first");
  assert.deepEqual(take(), ["dispatch t→e1", "dispatch t→e0"]);
  s.reply("e0", "t", err, "second");
  const relay = actions.find((a) => a.type === "relay");
  assert.equal(relay?.type === "relay" && relay.reply, "second");
  assert.deepEqual(take(), ["relay t (error)"]);
  s.close();
});

Deno.test("retries: a success on the retry is relayed", () => {
  const { s, take } = setup();
  s.registerEngine("e0");
  s.registerEngine("e1");
  s.submit("t", { retries: 3 }, "p");
  s.reply("e1", "t", err, "r");
  s.reply("e0", "t", ok, "r");
  assert.deepEqual(take(), ["dispatch t→e1", "dispatch t→e0", "relay t"]);
  s.close();
});

Deno.test("retries with targets deliver the task's own error when no target is left (quirk #26 fixed)", () => {
  const { s, take } = setup();
  s.registerEngine("e0");
  s.registerEngine("e1");
  s.submit("t", { targets: ["e0"], retries: 1 }, "p");
  s.reply("e0", "t", err, "ValueError");
  assert.deepEqual(take(), ["dispatch t→e0", "relay t (error)"]);
  s.close();
});

Deno.test("retries beyond the engine count wait, then TaskTimeout (ipyparallel test_retries)", () => {
  const { s, take, clock } = setup();
  s.registerEngine("e0");
  s.registerEngine("e1");
  s.submit("t", { retries: 2, timeout: 0.1 }, "p");
  s.reply("e1", "t", err, "r");
  clock.advance(50);
  s.reply("e0", "t", err, "r");
  assert.deepEqual(take(), ["dispatch t→e1", "dispatch t→e0"]);
  clock.advance(99);
  assert.deepEqual(take(), []);
  clock.advance(1); // 100 ms after it was re-queued
  assert.deepEqual(take(), ["fail t TaskTimeout"]);
  s.close();
});

Deno.test("timeout runs from queueing: a queued task fails with TaskTimeout", () => {
  const { s, take, clock } = setup();
  s.registerEngine("e0");
  s.submit("long", {}, "p");
  s.submit("t", { after: ["long"], timeout: 0.5 }, "p");
  clock.advance(499);
  assert.deepEqual(take(), ["dispatch long→e0"]);
  clock.advance(1);
  assert.deepEqual(take(), ["fail t TaskTimeout"]);
  s.reply("e0", "long", ok, "r");
  assert.deepEqual(take(), ["relay long"]);
  s.close();
});

Deno.test("a task dispatched before its timeout never times out, however long it runs", () => {
  const { s, take, clock } = setup();
  s.registerEngine("e0");
  s.submit("a", {}, "p");
  s.submit("b", { timeout: 1 }, "p");
  clock.advance(500);
  s.reply("e0", "a", ok, "r");
  clock.advance(10_000);
  assert.deepEqual(take(), ["dispatch a→e0", "relay a", "dispatch b→e0"]);
  assert.equal(clock.pendingTimers, 0);
  s.close();
});

Deno.test("a timed-out task counts as failed for its dependents", () => {
  const { s, take, clock } = setup();
  s.submit("t", { timeout: 1 }, "p");
  s.submit("d", { after: ["t"] }, "p");
  clock.advance(1000);
  assert.deepEqual(take(), ["fail t TaskTimeout", "fail d ImpossibleDependency"]);
  s.close();
});

Deno.test("engine death: pending tasks get EngineError after the stranded delay (5000 ms default)", () => {
  const { s, take, clock, actions } = setup();
  assert.equal(s.strandedDelayMs, 5000);
  s.registerEngine("e0");
  s.submit("t", {}, "p");
  s.unregisterEngine("e0");
  clock.advance(4999);
  assert.deepEqual(take(), ["dispatch t→e0"]);
  clock.advance(1);
  const fail = actions.find((a) => a.type === "fail");
  assert.deepEqual(take(), ["fail t EngineError"]);
  assert.ok(fail?.type === "fail");
  assert.equal(fail.engine, "e0");
  assert.equal(fail.content.evalue, "Engine 'e0' died while running task 't'");
  assert.deepEqual(fail.content.engine_info, {});
  s.close();
});

Deno.test("engine death: the dead engine receives no more tasks", () => {
  const { s, take } = setup();
  s.registerEngine("e0");
  s.registerEngine("e1");
  s.unregisterEngine("e1");
  s.submit("t", {}, "p");
  assert.deepEqual(take(), ["dispatch t→e0"]);
  assert.deepEqual(s.engines().map((e) => e.uuid), ["e0"]);
  s.close();
});

Deno.test("engine death: a reply arriving within the delay wins over the fabricated failure", () => {
  const { s, take, clock } = setup();
  s.registerEngine("e0");
  s.submit("t", {}, "p");
  s.unregisterEngine("e0");
  clock.advance(1000);
  assert.equal(s.reply("e0", "t", ok, "late"), true);
  clock.advance(10_000);
  assert.deepEqual(take(), ["dispatch t→e0", "relay t"]);
  assert.equal(clock.pendingTimers, 0);
  s.close();
});

Deno.test("engine death: retries apply to the fabricated failure and the task re-runs elsewhere", () => {
  const { s, take, clock } = setup();
  s.registerEngine("e0");
  s.submit("t", { retries: 1 }, "p");
  s.unregisterEngine("e0");
  s.registerEngine("e1");
  clock.advance(5000);
  assert.deepEqual(take(), ["dispatch t→e0", "dispatch t→e1"]);
  s.reply("e1", "t", ok, "r");
  assert.deepEqual(take(), ["relay t"]);
  s.close();
});

Deno.test("engine death with delayMs 0 fails pending tasks at once", () => {
  const { s, take } = setup();
  s.registerEngine("e0");
  s.submit("t", {}, "p");
  s.unregisterEngine("e0", { delayMs: 0 });
  assert.deepEqual(take(), ["dispatch t→e0", "fail t EngineError"]);
  s.close();
});

Deno.test("a reply for an unknown task or from the wrong engine is ignored", () => {
  const { s, take } = setup();
  s.registerEngine("e0");
  s.submit("t", {}, "p");
  assert.equal(s.reply("e0", "nope", ok, "r"), false);
  assert.equal(s.reply("e9", "t", ok, "r"), false);
  assert.deepEqual(take(), ["dispatch t→e0"]);
  s.close();
});

Deno.test("a second submission of an active msg_id is ignored", () => {
  const { s } = setup();
  assert.equal(s.submit("t", {}, "p"), true);
  assert.equal(s.submit("t", {}, "p"), false);
  s.close();
});

Deno.test("queue order is submission order across free and constrained tasks", () => {
  const { s, take } = setup();
  s.registerEngine("e0");
  s.submit("busy", {}, "p");
  s.submit("c1", { targets: ["e0"] }, "p");
  s.submit("f1", {}, "p");
  s.submit("c2", { targets: ["e0"] }, "p");
  s.submit("f2", {}, "p");
  const order: string[] = [];
  let current = "busy";
  for (let i = 0; i < 5; i++) {
    take();
    s.reply("e0", current, ok, "r");
    const d = take().find((x) => x.startsWith("dispatch"));
    if (!d) break;
    current = d.slice(9, d.indexOf("→"));
    order.push(current);
  }
  assert.deepEqual(order, ["c1", "f1", "c2", "f2"]);
  s.close();
});

Deno.test("close cancels every timer", () => {
  const { s, clock } = setup();
  s.registerEngine("e0");
  s.submit("a", {}, "p");
  s.submit("b", { timeout: 5 }, "p");
  s.unregisterEngine("e0");
  assert.equal(clock.pendingTimers, 2);
  s.close();
  assert.equal(clock.pendingTimers, 0);
});

Deno.test("an action handler may call back into the scheduler; actions keep their order", () => {
  const clock = new ManualClock();
  const log: string[] = [];
  const s: TaskScheduler<string, string> = new TaskScheduler<string, string>({
    clock,
    emit: (a) => {
      log.push(`${a.type} ${a.msgId}`);
      if (a.type === "dispatch") s.reply(a.engine, a.msgId, ok, "instant");
    },
  });
  s.registerEngine("e0");
  s.submit("a", {}, "p");
  s.submit("b", {}, "p");
  assert.deepEqual(log, ["dispatch a", "track a", "relay a", "dispatch b", "track b", "relay b"]);
  s.close();
});

Deno.test("200k queued dependency-free tasks drain one by one without rescanning the queue", () => {
  let dispatched = 0;
  const s = new TaskScheduler<number, null>({
    clock: new ManualClock(),
    emit: (a) => {
      if (a.type === "dispatch") dispatched++;
    },
  });
  s.registerEngine("e0");
  const n = 200_000;
  for (let i = 0; i < n; i++) s.submit(`t${i}`, {}, i);
  assert.equal(s.queued, n - 1);
  for (let i = 0; i < n; i++) s.reply("e0", `t${i}`, ok, null);
  assert.equal(dispatched, n);
  assert.equal(s.queued, 0);
  s.close();
});

Deno.test("a task unblocked by its dependency keeps its place ahead of later submissions", () => {
  const { s, take } = setup();
  s.registerEngine("e0");
  s.submit("x", {}, "p");
  s.submit("a", { after: ["x"] }, "p");
  s.submit("b", {}, "p");
  s.reply("e0", "x", ok, "r");
  assert.deepEqual(take(), ["dispatch x→e0", "relay x", "dispatch a→e0"]);
  s.close();
});

Deno.test("a registration releases 100k queued tasks at once with hwm=0", () => {
  let dispatched = 0;
  const s = new TaskScheduler<number, null>({
    clock: new ManualClock(),
    hwm: 0,
    emit: (a) => {
      if (a.type === "dispatch") dispatched++;
    },
  });
  for (let i = 0; i < 100_000; i++) s.submit(`t${i}`, {}, i);
  assert.equal(dispatched, 0);
  s.registerEngine("e0");
  assert.equal(dispatched, 100_000);
  s.close();
});

Deno.test("forget drops finished tasks; a later dependency on them is InvalidDependency", () => {
  const { s, take } = setup();
  s.registerEngine("e0");
  s.submit("a", {}, "p");
  s.submit("b", {}, "p");
  s.reply("e0", "a", ok, "r");
  s.forget(["a", "b"]); // b is still active: kept
  assert.equal(s.taskState("a"), undefined);
  assert.equal(s.taskState("b"), "running");
  s.submit("c", { after: ["a"] }, "p");
  assert.deepEqual(take(), [
    "dispatch a→e0",
    "relay a",
    "dispatch b→e0",
    "fail c InvalidDependency",
  ]);
  s.close();
});
