/**
 * Adaptive prefetch (`TaskScheduler` options `prefetch` / `prefetchFastMs`, `prefetch.ts`):
 * an engine holds more than `hwm` tasks only while its recent tasks were fast, and falls back
 * to `hwm` when one is slow or the task it is running has been running long.
 */
import assert from "node:assert/strict";
import { ManualClock } from "../../src/controller/clock.ts";
import { FAST_STREAK, PrefetchPolicy } from "../../src/controller/prefetch.ts";
import { type SchedulerAction, TaskScheduler } from "../../src/controller/task_scheduler.ts";

type Action = SchedulerAction<string, string>;
const ok = { status: "ok" };

function setup(prefetch: number, hwm = 1) {
  const clock = new ManualClock(0);
  const actions: Action[] = [];
  const s = new TaskScheduler<string, string>({
    emit: (a) => actions.push(a),
    clock,
    hwm,
    prefetch,
    prefetchFastMs: 10,
  });
  /** msg_ids dispatched since the last call, per engine. */
  const sent = (): Record<string, string[]> => {
    const out: Record<string, string[]> = {};
    for (const a of actions.splice(0)) {
      if (a.type === "dispatch") (out[a.engine] ??= []).push(a.msgId);
    }
    return out;
  };
  let n = 0;
  const submit = (k: number) => {
    for (let i = 0; i < k; i++) s.submit(`t${n++}`, {}, "p");
  };
  return { s, clock, sent, submit };
}

/** Runs `k` tasks one at a time, each taking `ms` on the engine it went to. */
function runFast(x: ReturnType<typeof setup>, k: number, ms: number): void {
  for (let i = 0; i < k; i++) {
    x.submit(1);
    const [[engine, [id]]] = Object.entries(x.sent());
    x.clock.advance(ms);
    x.s.reply(engine, id, ok, "r");
  }
}

Deno.test("prefetch is off by default: hwm alone limits an engine, however fast", () => {
  const x = setup(1);
  x.s.registerEngine("e0");
  runFast(x, 10, 0);
  x.submit(5);
  assert.deepEqual(x.sent(), { e0: ["t10"] });
  x.s.close();
});

Deno.test("an engine gets up to `prefetch` tasks once its last tasks were fast", () => {
  const x = setup(4);
  x.s.registerEngine("e0");
  x.submit(6);
  assert.deepEqual(x.sent(), { e0: ["t0"] }, "an unproven engine is held to hwm");
  // FAST_STREAK fast tasks in a row; the engine is not yet proven until the last one.
  for (let i = 0; i < FAST_STREAK - 1; i++) {
    x.s.reply("e0", `t${i}`, ok, "r");
    assert.deepEqual(x.sent(), { e0: [`t${i + 1}`] });
  }
  x.s.reply("e0", `t${FAST_STREAK - 1}`, ok, "r");
  assert.deepEqual(x.sent(), { e0: ["t4", "t5"] }, "proven fast: it may hold 4");
  x.submit(4);
  assert.deepEqual(x.sent(), { e0: ["t6", "t7"] }, "never more than 4 outstanding");
  x.s.close();
});

Deno.test("a fast engine holds at most prefetchFastMs of expected work", () => {
  const x = setup(8);
  x.s.registerEngine("e0");
  runFast(x, 20, 3); // 3 ms tasks: 3 of them fit in 10 ms
  x.submit(10);
  assert.equal(x.sent().e0.length, 3);
  const y = setup(8);
  y.s.registerEngine("e0");
  runFast(y, 20, 6); // 6 ms tasks: two would not fit, so no prefetch
  y.submit(10);
  assert.equal(y.sent().e0.length, 1);
  x.s.close();
  y.s.close();
});

Deno.test("a slow task ends prefetch until the engine is fast again", () => {
  const x = setup(4);
  x.s.registerEngine("e0");
  runFast(x, FAST_STREAK, 1);
  x.submit(1);
  const [slow] = x.sent().e0;
  x.clock.advance(50); // slower than prefetchFastMs
  x.s.reply("e0", slow, ok, "r");
  x.submit(3);
  assert.equal(x.sent().e0.length, 1, "back to hwm after a slow task");
  x.s.close();
});

Deno.test("an engine running a long task gets no more; the other engine takes the rest", () => {
  const x = setup(4);
  x.s.registerEngine("e0");
  x.s.registerEngine("e1");
  runFast(x, 2 * FAST_STREAK, 1); // leastload ties alternate: each engine gets FAST_STREAK
  x.submit(2);
  const first = x.sent();
  assert.deepEqual(Object.values(first).map((ids) => ids.length), [1, 1]);
  x.clock.advance(30); // both heads are now long-running
  x.submit(3);
  assert.deepEqual(x.sent(), {}, "no prefetch behind a long-running task");
  // e1 finishes its long task; its next is the queue head and it is not prefetched to while slow
  x.s.reply("e1", first.e1[0], ok, "r");
  assert.deepEqual(x.sent(), { e1: ["t" + (2 * FAST_STREAK + 2)] });
  x.s.close();
});

Deno.test("prefetch at or below hwm changes nothing, and hwm=0 stays unlimited", () => {
  const x = setup(2, 2);
  x.s.registerEngine("e0");
  runFast(x, FAST_STREAK, 0);
  x.submit(5);
  assert.equal(x.sent().e0.length, 2);
  x.s.close();
  const y = setup(4, 0);
  y.s.registerEngine("e0");
  y.submit(10);
  assert.equal(y.sent().e0.length, 10);
  y.s.close();
});

Deno.test("invalid prefetch options are rejected", () => {
  assert.throws(() => setup(-1), RangeError);
  assert.throws(() => setup(1.5), RangeError);
  assert.throws(() => new PrefetchPolicy({ hwm: 1, prefetch: 4, fastMs: -1 }), RangeError);
  assert.throws(() => new PrefetchPolicy({ hwm: 1, prefetch: 4, fastMs: NaN }), RangeError);
});
