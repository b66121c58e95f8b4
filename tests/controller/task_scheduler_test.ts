import assert from "node:assert/strict";
import { ManualClock } from "../../src/controller/clock.ts";
import {
  type SchedulerAction,
  TaskScheduler,
  type TaskSchedulerOptions,
} from "../../src/controller/task_scheduler.ts";

type Action = SchedulerAction<string, string>;

function setup(opts: Partial<TaskSchedulerOptions<string, string>> = {}) {
  const clock = new ManualClock(0);
  const actions: Action[] = [];
  const s = new TaskScheduler<string, string>({ emit: (a) => actions.push(a), clock, ...opts });
  /** Actions since the last call, compactly: "dispatch t1→e0", "relay t1", "fail t1 TaskTimeout". */
  const take = (): string[] => {
    const out = actions.splice(0).filter((a) => a.type !== "track").map((a) => {
      switch (a.type) {
        case "dispatch":
          return `dispatch ${a.msgId}→${a.engine}`;
        case "relay":
          return `relay ${a.msgId}${a.success ? "" : " (error)"}`;
        case "fail":
          return `fail ${a.msgId} ${a.reason}`;
      }
      return "";
    });
    return out;
  };
  return { s, clock, actions, take };
}

const ok = { status: "ok" };
const err = { status: "error" };

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
