import assert from "node:assert/strict";
import { AsyncResult } from "../../src/client/async_result.ts";
import { AsyncMapResult, joinParts } from "../../src/client/async_map_result.ts";
import type { TextOutput } from "../../src/client/display.ts";
import { EngineTable } from "../../src/client/engine_table.ts";
import { Metadata as MetadataClass } from "../../src/client/metadata.ts";
import type { Metadata } from "../../src/client/metadata.ts";
import { TaskRegistry } from "../../src/client/task_registry.ts";
import {
  CompositeError,
  EngineError,
  IppError,
  NotReadyError,
  RemoteError,
  TaskAborted,
  TaskTimeout,
  TimeoutError,
  UnknownTaskError,
} from "../../src/errors.ts";
import {
  ENGINE0,
  ENGINE1,
  flush,
  iopub,
  jsonBuffer,
  ManualClock,
  reply,
  status,
} from "./helpers.ts";
import { jsonDecode } from "./helpers.ts";

function setup() {
  const clock = new ManualClock();
  const engines = new EngineTable({ failTask: (id, e) => tasks.engineDied(id, e) });
  const tasks = new TaskRegistry({ decode: jsonDecode, clock, engines });
  engines.update({ "0": ENGINE0, "1": ENGINE1 });
  const aborted: string[][] = [];
  const client = {
    abort: (ids: string[]) => {
      aborted.push(ids);
      tasks.abort(ids);
    },
  };
  const finish = (id: string, value: unknown, engine = ENGINE0) => {
    tasks.handleReply(reply(id, { value, engine }));
    tasks.handleIopub(status(id, "idle", engine));
  };
  const fail = (id: string, engine = ENGINE0) => {
    tasks.handleReply(reply(id, { status: "error", engine }));
    tasks.handleIopub(status(id, "idle", engine));
  };
  return { tasks, engines, clock, client, aborted, finish, fail };
}

function captureOutput(terminal = false): TextOutput & { out: string; err: string } {
  const o = {
    out: "",
    err: "",
    stdout(t: string) {
      o.out += t;
    },
    stderr(t: string) {
      o.err += t;
    },
    isTerminal: () => terminal,
  };
  return o;
}

Deno.test("AsyncResult is PromiseLike: await gives the single value", async () => {
  const { tasks, engines, finish, clock } = setup();
  tasks.track("m1");
  const ar = new AsyncResult<number>(tasks, "m1", { clock });
  assert.equal(ar.ready(), false);
  finish("m1", 42);
  assert.equal(ar.ready(), true);
  assert.equal(await ar, 42);
  assert.equal(ar.successful(), true);
  engines.close();
});

Deno.test("AsyncResult.get() of a list gives values in submission order", async () => {
  const { tasks, engines, finish, clock } = setup();
  for (const id of ["a", "b", "c"]) tasks.track(id);
  const ar = new AsyncResult<number[]>(tasks, ["a", "b", "c"], { clock });
  finish("c", 3);
  finish("a", 1);
  assert.equal(ar.progress, 2);
  finish("b", 2);
  assert.deepEqual(await ar.get(), [1, 2, 3]);
  assert.equal(ar.length, 3);
  engines.close();
});

Deno.test("AsyncResult.get() rejects with TimeoutError when not ready in time", async () => {
  const { tasks, engines, clock } = setup();
  tasks.track("slow");
  const ar = new AsyncResult(tasks, "slow", { clock, fname: "slowf" });
  const p = ar.get(1000).catch((e) => e);
  await clock.advance(1000);
  const e = await p;
  assert.ok(e instanceof TimeoutError);
  assert.equal(e.timeoutMs, 1000);
  assert.match(e.message, /slowf not ready after 1000 ms/);
  assert.equal(clock.pending, 0);
  engines.close();
});

Deno.test("AsyncResult.get(0) rejects at once when not ready", async () => {
  const { tasks, engines, clock } = setup();
  tasks.track("slow");
  await assert.rejects(new AsyncResult(tasks, "slow", { clock }).get(0), TimeoutError);
  engines.close();
});

Deno.test("AsyncResult.wait() returns false on time-out and true once ready", async () => {
  const { tasks, engines, clock, finish } = setup();
  tasks.track("m");
  const ar = new AsyncResult(tasks, "m", { clock });
  const first = ar.wait(500);
  await clock.advance(500);
  assert.equal(await first, false);
  const second = ar.wait(500);
  finish("m", 1);
  assert.equal(await second, true);
  tasks.close(); // clears the registry's output timer: what is left is the wait's
  assert.equal(clock.pending, 0, "the settled wait cleared its timer");
  assert.equal(await ar.wait(), true);
  engines.close();
});

Deno.test("AsyncResult.wait() refuses a negative limit", async () => {
  const { tasks, engines } = setup();
  tasks.track("m");
  await assert.rejects(new AsyncResult(tasks, "m").wait(-1), RangeError);
  engines.close();
});

Deno.test("AsyncResult.get() of a single remote failure throws RemoteError with the traceback", async () => {
  const { tasks, engines, fail, clock } = setup();
  tasks.track("e");
  const ar = new AsyncResult(tasks, "e", { clock });
  fail("e");
  await assert.rejects(ar.get(), (e: unknown) => {
    assert.ok(e instanceof RemoteError);
    assert.equal(e.ename, "ZeroDivisionError");
    assert.ok(e.traceback.some((l) => l.includes("ZeroDivisionError")));
    assert.equal(e.engineInfo.engineId, 0);
    return true;
  });
  assert.equal(ar.successful(), false);
  engines.close();
});

Deno.test("AsyncResult.get() of a list with failures throws CompositeError", async () => {
  const { tasks, engines, fail, finish, clock } = setup();
  for (const id of ["a", "b", "c"]) tasks.track(id);
  const ar = new AsyncResult(tasks, ["a", "b", "c"], { clock, fname: "f" });
  finish("a", 1);
  fail("b", ENGINE1);
  tasks.abort(["c"]);
  tasks.handleReply(reply("c", { status: "aborted" }));
  await assert.rejects(ar.get(), (e: unknown) => {
    assert.ok(e instanceof CompositeError);
    assert.equal(e.errors.length, 2);
    assert.equal(e.errors[0].ename, "ZeroDivisionError");
    assert.equal(e.errors[0].engineInfo.engineId, 1);
    assert.equal(e.errors[1].ename, "TaskAborted");
    assert.ok((e.errors[1] as Error).cause instanceof TaskAborted);
    assert.match(e.message, /one or more exceptions from call to method: f/);
    assert.match(e.message, /\[1:apply\]: ZeroDivisionError: division by zero/);
    return true;
  });
  const mixed = await ar.get(undefined, { returnExceptions: true }) as unknown[];
  assert.equal(mixed[0], 1);
  assert.ok(mixed[1] instanceof RemoteError);
  assert.ok(mixed[2] instanceof TaskAborted);
  engines.close();
});

Deno.test("AsyncResult.get() rejects with TaskAborted for an aborted single task", async () => {
  const { tasks, engines, client, aborted, clock } = setup();
  tasks.track("x");
  const ar = new AsyncResult(tasks, "x", { clock, client });
  await ar.abort();
  assert.deepEqual(aborted, [["x"]]);
  tasks.handleReply(reply("x", { status: "aborted" }));
  await assert.rejects(ar.get(), TaskAborted);
  await ar.abort(); // nothing left to abort
  assert.equal(aborted.length, 1);
  engines.close();
});

Deno.test("AsyncResult.abort() without a client throws", async () => {
  const { tasks, engines } = setup();
  tasks.track("x");
  await assert.rejects(new AsyncResult(tasks, "x").abort(), IppError);
  engines.close();
});

Deno.test("AsyncResult.get() rejects with TaskTimeout for a scheduler time-out", async () => {
  const { tasks, engines } = setup();
  tasks.track("t");
  const ar = new AsyncResult(tasks, "t");
  tasks.handleReply(reply("t", { status: "error", ename: "TaskTimeout", engineInfo: {} }));
  await assert.rejects(ar.get(), TaskTimeout);
  engines.close();
});

Deno.test("AsyncResult.get() rejects with EngineError when the engine dies", async () => {
  const { tasks, engines } = setup();
  tasks.track("d", { engineUuid: ENGINE1 });
  const ar = new AsyncResult(tasks, "d");
  engines.unregister(1);
  await assert.rejects(ar.get(), /Engine 1 died while running task 'd'/);
  await assert.rejects(ar.get(), EngineError);
  engines.close();
});

Deno.test("AsyncResult keeps its results when the registry evicts them", async () => {
  const clock = new ManualClock();
  const tasks = new TaskRegistry({ decode: jsonDecode, clock, maxCachedResults: 0 });
  tasks.track("m", { expectOutput: false });
  const ar = new AsyncResult(tasks, "m", { clock });
  tasks.handleReply(reply("m", { value: "kept" }));
  assert.throws(() => tasks.resultOf("m"), UnknownTaskError);
  assert.equal(await ar, "kept");
  assert.throws(() => new AsyncResult(tasks, "m"), UnknownTaskError);
});

Deno.test("AsyncResult follows a resubmitted task to its successor", async () => {
  const { tasks, engines } = setup();
  tasks.track("old");
  const ar = new AsyncResult(tasks, "old");
  tasks.resubmitted({ old: "new" });
  assert.equal(ar.ready(), false);
  tasks.handleReply(reply("new", { value: "again" }));
  assert.equal(await ar, "again");
  assert.equal((ar.metadata as Metadata).msgId, "new");
  engines.close();
});

Deno.test("a settled AsyncResult follows its task's successor, settled from the Hub", async () => {
  const { tasks, engines } = setup();
  tasks.track("old", { expectOutput: false });
  tasks.track("other", { expectOutput: false });
  const ar = new AsyncResult(tasks, ["old", "other"]);
  tasks.handleReply(reply("old", { status: "error" }));
  tasks.handleReply(reply("other", { value: 2 }));
  const first = (await ar.get(undefined, { returnExceptions: true })) as unknown[];
  assert.ok(first[0] instanceof RemoteError);
  assert.equal(first[1], 2);
  tasks.resubmitted({ old: "new" });
  assert.equal(tasks.resubmissions, 1);
  assert.equal(ar.ready(), false, "the old result now stands for its successor");
  assert.equal(ar.progress, 1);
  tasks.handleIopub(iopub("new", "stream", { name: "stdout", text: "again\n" }));
  const hubMd = new MetadataClass("new");
  hubMd.status = "ok";
  hubMd.stdout = "from the hub\n";
  hubMd.engineUuid = ENGINE1;
  tasks.settleFromHub("new", { value: 1, metadata: hubMd });
  assert.deepEqual(await ar, [1, 2]);
  const md = (ar.metadata as Metadata[])[0];
  assert.equal(md.msgId, "new");
  assert.equal(md.stdout, "again\n", "output seen here wins over the Hub's copy");
  assert.equal(md.engineUuid, ENGINE1, "what only the Hub knows fills the rest");
  assert.equal(tasks.resultOf("old")?.value, 1);
  // A failure at the Hub settles the successor with that error; unknown ids are ignored.
  tasks.track("x", { expectOutput: false });
  tasks.resubmitted({ x: "y" });
  const ary = new AsyncResult(tasks, "x");
  tasks.settleFromHub("y", { error: new TaskAborted("y") });
  tasks.settleFromHub("nobody", { value: 0 });
  await assert.rejects(ary.get(), TaskAborted);
  engines.close();
});

Deno.test("AsyncMapResult joins typed-array parts into one typed array (gather)", async () => {
  const parts: [string, unknown][] = [
    ["p0", new Float64Array([1, 2])],
    ["p1", 3],
    ["p2", new Float64Array([4])],
  ];
  const decode = new Map(parts);
  const registry = new TaskRegistry({
    decode: (b) => ({ value: decode.get(new TextDecoder().decode(b[0])), rest: [] }),
  });
  const ids = parts.map(([id]) => id);
  for (const id of ids) registry.track(id, { expectOutput: false });
  const joined = new AsyncMapResult(registry, ids, { joinTypedArrays: true });
  const plain = new AsyncMapResult(registry, ids);
  for (const id of ids) {
    registry.handleReply(reply(id, { buffers: [new TextEncoder().encode(id)] }));
  }
  assert.deepEqual(await joined, new Float64Array([1, 2, 3, 4]));
  assert.equal((await plain).length, 3, "without the option, parts stay parts");
  assert.deepEqual(joinParts([[1, 2], [3]]), [1, 2, 3]);
  assert.deepEqual(joinParts([new Int32Array([1]), new Uint8Array([2]), [3]]), [1, 2, 3]);
  assert.deepEqual(
    joinParts([new BigInt64Array([1n]), new BigInt64Array([2n, 3n])]),
    new BigInt64Array([1n, 2n, 3n]),
  );
});

Deno.test("AsyncResult: metadata, stdout, timing read from the records", async () => {
  const { tasks, engines, clock } = setup();
  tasks.track("a", { submitted: Date.parse("2026-11-29T12:00:00Z") });
  tasks.track("b", { submitted: Date.parse("2026-11-29T12:00:00Z") });
  const ar = new AsyncResult(tasks, ["a", "b"], { clock });
  tasks.handleIopub(iopub("a", "stream", { name: "stdout", text: "A\n" }));
  tasks.handleIopub(iopub("b", "stream", { name: "stderr", text: "B\n" }, { engine: ENGINE1 }));
  assert.deepEqual(ar.stdout, ["A\n", ""]);
  assert.deepEqual(ar.stderr, ["", "B\n"]);
  assert.throws(() => ar.wallTime, NotReadyError);
  assert.throws(() => ar.serialTime, NotReadyError);
  assert.throws(() => ar.successful(), NotReadyError);
  await clock.advance(5000);
  assert.equal(ar.elapsed, clock.now() - Date.parse("2026-11-29T12:00:00Z"));
  tasks.handleReply(
    reply("a", { value: 1, started: "2026-11-29T12:00:01Z", completed: "2026-11-29T12:00:03Z" }),
  );
  tasks.handleReply(reply("b", {
    value: 2,
    engine: ENGINE1,
    started: "2026-11-29T12:00:01Z",
    completed: "2026-11-29T12:00:02Z",
  }));
  tasks.handleIopub(status("a", "idle"));
  tasks.handleIopub(status("b", "idle", ENGINE1));
  assert.equal(ar.serialTime, 3000);
  assert.equal(ar.wallTime, clock.now() - Date.parse("2026-11-29T12:00:00Z"));
  assert.equal(ar.elapsed, ar.wallTime);
  assert.deepEqual(ar.engineId, [0, 1]);
  assert.deepEqual(await ar.getDict(), { 0: 1, 1: 2 });
  assert.equal((ar.metadata as Metadata[]).length, 2);
  assert.deepEqual(ar.outputs, [[], []]);
  assert.deepEqual(ar.data, [{}, {}]);
  engines.close();
});

Deno.test("AsyncResult is async-iterable in order as results arrive", async () => {
  const { tasks, engines, finish } = setup();
  for (const id of ["a", "b"]) tasks.track(id);
  const ar = new AsyncResult<number[]>(tasks, ["a", "b"]);
  const got: number[] = [];
  const loop = (async () => {
    for await (const v of ar) got.push(v);
  })();
  finish("b", 2);
  await flush();
  assert.deepEqual(got, []);
  finish("a", 1);
  await loop;
  assert.deepEqual(got, [1, 2]);
  engines.close();
});

Deno.test("AsyncResult with a single result is not iterable", async () => {
  const { tasks, engines } = setup();
  tasks.track("a");
  const it = new AsyncResult(tasks, "a")[Symbol.asyncIterator]();
  await assert.rejects(it.next(), TypeError);
  engines.close();
});

Deno.test("AsyncMapResult flattens chunk results in order", async () => {
  const { tasks, engines, finish } = setup();
  for (const id of ["c1", "c2", "c3"]) tasks.track(id);
  const ar = new AsyncMapResult<number>(tasks, ["c1", "c2", "c3"]);
  finish("c3", [5]);
  finish("c1", [1, 2]);
  finish("c2", [3, 4]);
  assert.deepEqual(await ar, [1, 2, 3, 4, 5]);
  const items: number[] = [];
  for await (const v of ar) items.push(v);
  assert.deepEqual(items, [1, 2, 3, 4, 5]);
  engines.close();
});

Deno.test("AsyncMapResult with ordered: false yields chunks as they complete", async () => {
  const { tasks, engines, finish } = setup();
  for (const id of ["c1", "c2", "c3"]) tasks.track(id);
  const ar = new AsyncMapResult<number>(tasks, ["c1", "c2", "c3"], { ordered: false });
  const got: number[] = [];
  const loop = (async () => {
    for await (const v of ar) got.push(v);
  })();
  finish("c3", [5]);
  await flush();
  assert.deepEqual(got, [5]);
  finish("c1", [1, 2]);
  await flush();
  assert.deepEqual(got, [5, 1, 2]);
  finish("c2", [3, 4]);
  await loop;
  assert.deepEqual(got, [5, 1, 2, 3, 4]);
  engines.close();
});

Deno.test("AsyncMapResult iteration throws CompositeError at a failed chunk", async () => {
  const { tasks, engines, finish, fail } = setup();
  for (const id of ["c1", "c2"]) tasks.track(id);
  const ar = new AsyncMapResult<number>(tasks, ["c1", "c2"], { fname: "sq" });
  finish("c1", [1]);
  fail("c2");
  const got: number[] = [];
  await assert.rejects(async () => {
    for await (const v of ar) got.push(v);
  }, CompositeError);
  assert.deepEqual(got, [1]);
  await assert.rejects(ar.get(), CompositeError);
  const mixed: unknown[] = await ar.get(undefined, { returnExceptions: true });
  assert.equal(mixed[0], 1);
  assert.ok(mixed[1] instanceof RemoteError);
  engines.close();
});

Deno.test("AsyncResult.waitInteractive() prints plain progress lines off a terminal", async () => {
  const { tasks, engines, clock, finish } = setup();
  for (const id of ["a", "b"]) tasks.track(id);
  const output = captureOutput(false);
  const ar = new AsyncResult(tasks, ["a", "b"], { clock, output, fname: "job" });
  const waiting = ar.waitInteractive({ intervalMs: 100 });
  await clock.advance(100);
  finish("a", 1);
  await clock.advance(100);
  finish("b", 2);
  assert.equal(await waiting, true);
  assert.deepEqual(output.out.trim().split("\n"), [
    "job: 0/2 tasks, 0.0 s",
    "job: 1/2 tasks, 0.2 s",
    "job: 2/2 tasks, 0.2 s",
  ]);
  tasks.close(); // clears the registry's output timer: what is left is the progress timer
  assert.equal(clock.pending, 0);
  engines.close();
});

Deno.test("AsyncResult.waitInteractive() redraws a bar on a terminal and honours its limit", async () => {
  const { tasks, engines, clock } = setup();
  tasks.track("a");
  const output = captureOutput(true);
  const ar = new AsyncResult(tasks, ["a"], { clock, output, fname: "job" });
  const waiting = ar.waitInteractive({ intervalMs: 100, timeoutMs: 250 });
  await clock.advance(300);
  assert.equal(await waiting, false);
  assert.ok(output.out.startsWith("\rjob: [------------------------------] 0/1 tasks"));
  assert.ok(output.out.endsWith("\n"));
  assert.equal(clock.pending, 0);
  engines.close();
});

Deno.test("AsyncResult.displayOutputs() prints streams with engine prefixes", async () => {
  const { tasks, engines, finish } = setup();
  tasks.track("a");
  tasks.track("b");
  const output = captureOutput();
  const ar = new AsyncResult(tasks, ["a", "b"], { output });
  assert.throws(() => ar.displayOutputs(), NotReadyError);
  tasks.handleIopub(iopub("a", "stream", { name: "stdout", text: "hi a\n" }));
  tasks.handleIopub(iopub("b", "stream", { name: "stdout", text: "hi b\n" }, { engine: ENGINE1 }));
  tasks.handleIopub(iopub("b", "stream", { name: "stderr", text: "oops\n" }, { engine: ENGINE1 }));
  finish("a", 1);
  finish("b", 2, ENGINE1);
  await ar;
  ar.displayOutputs();
  assert.equal(output.out, "[stdout:0] \nhi a\n[stdout:1] \nhi b\n");
  assert.equal(output.err, "[stderr:1] \noops\n");
  engines.close();
});

Deno.test("AsyncResult.displayOutputs() of one execute prints stdout and Out[…]", async () => {
  const { tasks, engines } = setup();
  tasks.track("e");
  const output = captureOutput();
  const ar = new AsyncResult(tasks, "e", { output });
  tasks.handleIopub(iopub("e", "stream", { name: "stdout", text: "hi\n" }));
  tasks.handleIopub(
    iopub("e", "execute_result", { data: { "text/plain": "5" }, metadata: {}, execution_count: 3 }),
  );
  tasks.handleReply(reply("e", { msgType: "execute_reply" }));
  tasks.handleIopub(status("e", "idle"));
  await ar;
  ar.displayOutputs({ groupby: "engine" });
  assert.equal(output.out, "hi\nOut[0:3]: 5\n");
  assert.equal(String(ar.executeResult && "ok"), "ok");
  engines.close();
});

Deno.test("AsyncResult shows its name and progress when inspected", () => {
  const { tasks, engines } = setup();
  tasks.track("a");
  const ar = new AsyncResult(tasks, ["a"], { fname: "f" });
  assert.equal(Deno.inspect(ar), "<AsyncResult: f: 0/1>");
  engines.close();
});

Deno.test("AsyncResult of an unknown msg_id throws UnknownTaskError", () => {
  const tasks = new TaskRegistry({ decode: jsonDecode });
  assert.throws(() => new AsyncResult(tasks, "never"), UnknownTaskError);
});

Deno.test("AsyncResult over a coalesced broadcast gives the per-engine list", async () => {
  const { tasks, engines } = setup();
  tasks.track("b", { expectOutput: false });
  const ar = new AsyncResult(tasks, "b");
  tasks.handleReply(reply("b_x", {
    metadata: {
      is_broadcast: true,
      is_coalescing: true,
      original_msg_id: "b",
      broadcast_targets: [[ENGINE0, 0], [ENGINE1, 1]],
    },
    buffers: [jsonBuffer("x"), jsonBuffer("y")],
  }));
  assert.deepEqual(await ar, ["x", "y"]);
  engines.close();
});

Deno.test("AsyncResult.get() rejects with the signal's reason when aborted, clearing its timer", async () => {
  const { tasks, engines, clock, finish } = setup();
  tasks.track("m");
  const ar = new AsyncResult(tasks, "m", { clock });
  const controller = new AbortController();
  const p = ar.get(10_000, { signal: controller.signal });
  controller.abort(new Error("user gave up"));
  await assert.rejects(p, /user gave up/);
  assert.equal(clock.pending, 0);
  await assert.rejects(ar.wait(undefined, { signal: controller.signal }), /user gave up/);
  finish("m", 1);
  assert.equal(await ar, 1);
  engines.close();
});
