import assert from "node:assert/strict";
import { err, ok, setup } from "./scheduler_fixtures.ts";

Deno.test("a task goes to a registered engine: dispatch, then track for the Hub", () => {
  const { s, actions } = setup();
  s.registerEngine("e0");
  s.submit("t1", {}, "payload-1");
  assert.deepEqual(actions, [
    { type: "dispatch", msgId: "t1", engine: "e0", payload: "payload-1" },
    { type: "track", msgId: "t1", engine: "e0" },
  ]);
  s.close();
});

Deno.test("empty or null metadata uses the defaults of §7.1", () => {
  const { s, take } = setup();
  s.registerEngine("e0");
  s.submit("t1", null, "p");
  s.reply("e0", "t1", ok, "r");
  s.submit("t2", { after: [], follow: [], timeout: 0.0, targets: [], retries: 0 }, "p");
  assert.deepEqual(take(), ["dispatch t1→e0", "relay t1", "dispatch t2→e0"]);
  s.close();
});

Deno.test("the engine's reply is relayed unchanged with its success flag", () => {
  const { s, actions } = setup();
  s.registerEngine("e0");
  s.submit("t1", {}, "p");
  actions.length = 0;
  assert.equal(s.reply("e0", "t1", err, "the-reply"), true);
  assert.deepEqual(actions, [
    { type: "relay", msgId: "t1", engine: "e0", success: false, reply: "the-reply" },
  ]);
  assert.equal(s.taskState("t1"), "failed");
  s.close();
});

Deno.test("with hwm=1 (default) each engine runs one task and the rest wait in order", () => {
  const { s, take } = setup();
  s.registerEngine("e0");
  for (const t of ["t1", "t2", "t3"]) s.submit(t, {}, t);
  assert.deepEqual(take(), ["dispatch t1→e0"]);
  assert.equal(s.queued, 2);
  s.reply("e0", "t1", ok, "r");
  assert.deepEqual(take(), ["relay t1", "dispatch t2→e0"]);
  s.close();
});

Deno.test("hwm=0 means unlimited: every task is dispatched at once, spread by leastload", () => {
  const { s, take } = setup({ hwm: 0 });
  s.registerEngine("e0");
  s.registerEngine("e1");
  for (const t of ["t1", "t2", "t3", "t4"]) s.submit(t, {}, t);
  assert.deepEqual(take(), [
    "dispatch t1→e1",
    "dispatch t2→e0",
    "dispatch t3→e1",
    "dispatch t4→e0",
  ]);
  assert.deepEqual(s.engines(), [{ uuid: "e1", load: 2 }, { uuid: "e0", load: 2 }]);
  s.close();
});

Deno.test("hwm=2 allows two outstanding tasks per engine", () => {
  const { s, take } = setup({ hwm: 2 });
  s.registerEngine("e0");
  for (const t of ["t1", "t2", "t3"]) s.submit(t, {}, t);
  assert.deepEqual(take(), ["dispatch t1→e0", "dispatch t2→e0"]);
  s.close();
});

Deno.test("a negative or fractional hwm is rejected", () => {
  assert.throws(() => setup({ hwm: -1 }), RangeError);
  assert.throws(() => setup({ hwm: 1.5 }), RangeError);
});

Deno.test("new engines join the front of the LRU order; a used engine moves to the back", () => {
  const { s, take } = setup({ scheme: "lru", hwm: 0 });
  s.registerEngine("e0");
  s.registerEngine("e1");
  assert.deepEqual(s.engines().map((e) => e.uuid), ["e1", "e0"]);
  s.submit("t1", {}, "p");
  s.submit("t2", {}, "p");
  s.submit("t3", {}, "p");
  assert.deepEqual(take(), ["dispatch t1→e1", "dispatch t2→e0", "dispatch t3→e1"]);
  s.close();
});

Deno.test("leastload breaks ties by least recently used", () => {
  const { s, take } = setup({ hwm: 0 });
  s.registerEngine("e0");
  s.registerEngine("e1");
  s.registerEngine("e2");
  s.submit("t1", {}, "p"); // e2 (front)
  s.submit("t2", {}, "p"); // e1
  s.reply("e2", "t1", ok, "r");
  s.submit("t3", {}, "p"); // loads e0=0,e2=0,e1=1 → e0 is LRU
  s.submit("t4", {}, "p"); // e2
  assert.deepEqual(take(), [
    "dispatch t1→e2",
    "dispatch t2→e1",
    "relay t1",
    "dispatch t3→e0",
    "dispatch t4→e2",
  ]);
  s.close();
});

Deno.test("a custom scheme function receives eligible loads in LRU order", () => {
  const seen: number[][] = [];
  const { s } = setup({ hwm: 0, scheme: (loads) => (seen.push([...loads]), loads.length - 1) });
  s.registerEngine("e0");
  s.registerEngine("e1");
  s.submit("t1", {}, "p");
  s.submit("t2", {}, "p");
  assert.deepEqual(seen, [[0, 0], [0, 1]]);
  s.close();
});

Deno.test("tasks wait with no engines and run in submission order when one registers", () => {
  const { s, take } = setup({ hwm: 0 });
  s.submit("t1", {}, "p");
  s.submit("t2", {}, "p");
  assert.deepEqual(take(), []);
  s.registerEngine("e0");
  assert.deepEqual(take(), ["dispatch t1→e0", "dispatch t2→e0"]);
  s.close();
});

Deno.test("after (list form) waits for success of all, then runs", () => {
  const { s, take } = setup({ hwm: 0 });
  s.registerEngine("e0");
  s.submit("a", {}, "p");
  s.submit("b", {}, "p");
  s.submit("c", { after: ["a", "b"] }, "p");
  assert.deepEqual(take(), ["dispatch a→e0", "dispatch b→e0"]);
  assert.equal(s.taskState("c"), "blocked");
  s.reply("e0", "a", ok, "r");
  assert.deepEqual(take(), ["relay a"]);
  s.reply("e0", "b", ok, "r");
  assert.deepEqual(take(), ["relay b", "dispatch c→e0"]);
  s.close();
});

Deno.test("after (list form) becomes ImpossibleDependency when a dependency fails", () => {
  const { s, take, actions } = setup({ hwm: 0 });
  s.registerEngine("e0");
  s.submit("a", {}, "p");
  s.submit("c", { after: ["a"] }, "c-payload");
  take();
  s.reply("e0", "a", err, "r");
  const fail = actions.find((a) => a.type === "fail")!;
  assert.deepEqual(take(), ["relay a (error)", "fail c ImpossibleDependency"]);
  assert.equal(fail.type === "fail" && fail.payload, "c-payload");
  assert.equal(fail.type === "fail" && fail.engine, undefined);
  s.close();
});

Deno.test("after (dict form) with failure=true, success=false runs after a failure", () => {
  const { s, take } = setup({ hwm: 0 });
  s.registerEngine("e0");
  s.submit("a", {}, "p");
  s.submit("b", {}, "p");
  const dep = (id: string) => ({ dependencies: [id], all: true, success: false, failure: true });
  s.submit("onfail", { after: dep("a") }, "p");
  s.submit("never", { after: dep("b") }, "p");
  take();
  s.reply("e0", "a", err, "r");
  s.reply("e0", "b", ok, "r");
  assert.deepEqual(take(), [
    "relay a (error)",
    "dispatch onfail→e0",
    "relay b",
    "fail never ImpossibleDependency",
  ]);
  s.close();
});

Deno.test("after with all=false runs when any dependency succeeds", () => {
  const { s, take } = setup({ hwm: 0 });
  s.registerEngine("e0");
  s.submit("a", {}, "p");
  s.submit("b", {}, "p");
  s.submit("c", { after: { dependencies: ["a", "b"], all: false } }, "p");
  take();
  s.reply("e0", "b", ok, "r");
  assert.deepEqual(take(), ["relay b", "dispatch c→e0"]);
  s.close();
});

Deno.test("after with all=false is impossible only once every dependency failed", () => {
  const { s, take } = setup({ hwm: 0 });
  s.registerEngine("e0");
  s.submit("a", {}, "p");
  s.submit("b", {}, "p");
  s.submit("c", { after: { dependencies: ["a", "b"], all: false } }, "p");
  take();
  s.reply("e0", "a", err, "r");
  assert.deepEqual(take(), ["relay a (error)"]);
  s.reply("e0", "b", err, "r");
  assert.deepEqual(take(), ["relay b (error)", "fail c ImpossibleDependency"]);
  s.close();
});

Deno.test("an after dependency already met runs immediately", () => {
  const { s, take } = setup();
  s.registerEngine("e0");
  s.submit("a", {}, "p");
  s.reply("e0", "a", ok, "r");
  take();
  s.submit("c", { after: ["a"] }, "p");
  assert.deepEqual(take(), ["dispatch c→e0"]);
  s.close();
});

Deno.test("InvalidDependency for the task's own id or an id never submitted", () => {
  const { s, take, actions } = setup();
  s.registerEngine("e0");
  s.submit("self", { after: ["self"] }, "p");
  s.submit("typo", { follow: ["12345"] }, "p");
  const content = actions.find((a) => a.type === "fail")!;
  assert.deepEqual(take(), ["fail self InvalidDependency", "fail typo InvalidDependency"]);
  assert.ok(content.type === "fail");
  assert.equal(content.content.ename, "InvalidDependency");
  assert.equal(content.content.evalue, "");
  assert.deepEqual(content.content.engine_info, {});
  assert.ok(content.content.traceback.every((l) => l.endsWith("\n")));
  assert.equal(content.content.traceback.at(-1), "ipyparallel.error.InvalidDependency\n");
  s.close();
});

Deno.test("malformed scheduling metadata fails the task with InvalidDependency", () => {
  const { s, take } = setup();
  s.registerEngine("e0");
  s.submit("a", { after: [42] }, "p");
  s.submit("b", { after: { dependencies: [], success: false, failure: false } }, "p");
  s.submit("c", { targets: "e0" as unknown as string[] }, "p");
  assert.deepEqual(take(), [
    "fail a InvalidDependency",
    "fail b InvalidDependency",
    "fail c InvalidDependency",
  ]);
  s.close();
});

Deno.test("ImpossibleDependency at submission when a dependency already failed", () => {
  const { s, take } = setup();
  s.registerEngine("e0");
  s.submit("a", {}, "p");
  s.reply("e0", "a", err, "r");
  take();
  s.submit("b", { after: ["a"] }, "p");
  assert.deepEqual(take(), ["fail b ImpossibleDependency"]);
  s.close();
});

Deno.test("an impossible task cascades ImpossibleDependency down a dependency chain", () => {
  const { s, take } = setup();
  s.registerEngine("e0");
  s.submit("a", {}, "p");
  s.submit("b", { after: ["a"] }, "p");
  s.submit("c", { after: ["b"] }, "p");
  s.submit("d", { after: ["c"] }, "p");
  take();
  s.reply("e0", "a", err, "r");
  assert.deepEqual(take(), [
    "relay a (error)",
    "fail b ImpossibleDependency",
    "fail c ImpossibleDependency",
    "fail d ImpossibleDependency",
  ]);
  s.close();
});

Deno.test("follow runs the task on the engine where the followed task ran", () => {
  const { s, take } = setup({ hwm: 0 });
  s.registerEngine("e0");
  s.registerEngine("e1");
  s.submit("a", {}, "p"); // → e1
  s.reply("e1", "a", ok, "r");
  s.submit("x", {}, "p"); // → e0 (LRU)
  for (const t of ["f1", "f2"]) s.submit(t, { follow: ["a"] }, "p");
  assert.deepEqual(take(), [
    "dispatch a→e1",
    "relay a",
    "dispatch x→e0",
    "dispatch f1→e1",
    "dispatch f2→e1",
  ]);
  s.close();
});

Deno.test("follow waits while its engine is full, other tasks pass", () => {
  const { s, take } = setup();
  s.registerEngine("e0");
  s.registerEngine("e1");
  s.submit("a", {}, "p"); // e1
  s.reply("e1", "a", ok, "r");
  s.submit("busy", {}, "p"); // e0 (LRU)
  s.submit("busy2", {}, "p"); // e1
  s.submit("f", { follow: ["a"] }, "p");
  s.submit("free", {}, "p");
  assert.deepEqual(take(), ["dispatch a→e1", "relay a", "dispatch busy→e0", "dispatch busy2→e1"]);
  s.reply("e0", "busy", ok, "r");
  assert.deepEqual(take(), ["relay busy", "dispatch free→e0"]);
  s.reply("e1", "busy2", ok, "r");
  assert.deepEqual(take(), ["relay busy2", "dispatch f→e1"]);
  s.close();
});

Deno.test("follow of tasks that ran on different engines is ImpossibleDependency", () => {
  const { s, take } = setup({ hwm: 0 });
  s.registerEngine("e0");
  s.registerEngine("e1");
  s.submit("a", {}, "p"); // e1
  s.submit("b", {}, "p"); // e0
  s.reply("e1", "a", ok, "r");
  s.reply("e0", "b", ok, "r");
  take();
  s.submit("f", { follow: ["a", "b"] }, "p");
  assert.deepEqual(take(), ["fail f ImpossibleDependency"]);
  s.close();
});

Deno.test("follow of a failed task (success only) is ImpossibleDependency", () => {
  const { s, take } = setup({ hwm: 0 });
  s.registerEngine("e0");
  s.submit("a", {}, "p");
  s.submit("f", { follow: ["a"] }, "p");
  take();
  s.reply("e0", "a", err, "r");
  assert.deepEqual(take(), ["relay a (error)", "fail f ImpossibleDependency"]);
  s.close();
});

Deno.test("targets restrict the engines a task may run on", () => {
  const { s, take } = setup();
  s.registerEngine("e0");
  s.registerEngine("e1");
  s.submit("t1", { targets: ["e0"] }, "p");
  s.submit("t2", { targets: ["e0"] }, "p");
  s.submit("t3", {}, "p");
  assert.deepEqual(take(), ["dispatch t1→e0", "dispatch t3→e1"]);
  s.reply("e1", "t3", ok, "r");
  assert.deepEqual(take(), ["relay t3"]);
  s.reply("e0", "t1", ok, "r");
  assert.deepEqual(take(), ["relay t1", "dispatch t2→e0"]);
  s.close();
});

Deno.test("targets naming no registered engine are ImpossibleDependency", () => {
  const { s, take } = setup();
  s.registerEngine("e0");
  s.submit("t", { targets: ["gone"] }, "p");
  assert.deepEqual(take(), ["fail t ImpossibleDependency"]);
  s.close();
});
