import assert from "node:assert/strict";
import { EngineTable } from "../../src/client/engine_table.ts";
import { ExecuteReply } from "../../src/client/execute_reply.ts";
import { TaskRegistry } from "../../src/client/task_registry.ts";
import {
  ControllerLostError,
  EngineError,
  OutstandingTasksError,
  RemoteError,
  TaskAborted,
  TaskTimeout,
  UnknownTaskError,
} from "../../src/errors.ts";
import {
  ENGINE0,
  ENGINE1,
  iopub,
  jsonBuffer,
  jsonDecode,
  ManualClock,
  reply,
  status,
} from "./helpers.ts";

function setup(maxCachedResults?: number) {
  const clock = new ManualClock();
  const strays: string[] = [];
  const engines = new EngineTable({ failTask: (id, e) => tasks.engineDied(id, e) });
  const tasks = new TaskRegistry({
    decode: jsonDecode,
    clock,
    engines,
    maxCachedResults,
    onStray: (id) => strays.push(id),
  });
  engines.update({ "0": ENGINE0, "1": ENGINE1 });
  return { tasks, engines, clock, strays };
}

Deno.test("registry: busy, output, reply, idle settle a task done with value and metadata", () => {
  const { tasks, engines } = setup();
  tasks.track("m1", { engineUuid: ENGINE0 });
  assert.deepEqual([...tasks.outstanding], ["m1"]);
  assert.deepEqual([...engines.outstandingOf(0)], ["m1"]);
  tasks.handleIopub(status("m1", "busy"));
  assert.equal(tasks.stateOf("m1"), "running");
  tasks.handleIopub(iopub("m1", "stream", { name: "stdout", text: "hello\n" }));
  tasks.handleReply(reply("m1", { value: 42 }));
  assert.equal(tasks.stateOf("m1"), "repliedOk");
  assert.equal(tasks.resultOf("m1"), undefined);
  assert.ok(tasks.outstanding.has("m1"));
  tasks.handleIopub(status("m1", "idle"));
  const r = tasks.resultOf("m1")!;
  assert.equal(r.state, "done");
  assert.equal(r.value, 42);
  assert.equal(tasks.outstanding.size, 0);
  assert.equal(engines.outstandingOf(0).size, 0);
  const md = r.metadata;
  assert.equal(md.stdout, "hello\n");
  assert.equal(md.engineUuid, ENGINE0);
  assert.equal(md.engineId, 0);
  assert.equal(md.status, "ok");
  assert.equal(md.submitted?.toISOString(), "2026-11-29T12:00:00.000Z");
  assert.equal(md.started?.toISOString(), "2026-11-29T12:00:01.000Z");
  assert.equal(md.completed?.toISOString(), "2026-11-29T12:00:02.000Z");
  assert.ok(md.received instanceof Date);
  assert.deepEqual(md.follow, []);
  engines.close();
});

Deno.test("registry: idle before reply (PROTOCOL.md §6.6) settles on the reply", () => {
  const { tasks, engines } = setup();
  tasks.track("m1");
  tasks.handleIopub(status("m1", "busy"));
  tasks.handleIopub(status("m1", "idle"));
  assert.equal(tasks.stateOf("m1"), "outputDone");
  tasks.handleReply(reply("m1", { value: "x" }));
  assert.equal(tasks.resultOf("m1")?.value, "x");
  assert.equal(tasks.resultOf("m1")?.state, "done");

  // Held idle, then an error reply: failed, as outputDone + REPLY(error) is.
  tasks.track("m2");
  tasks.handleIopub(status("m2", "idle"));
  tasks.handleReply(
    reply("m2", {
      content: { status: "error", ename: "E", evalue: "v", traceback: [], engine_info: {} },
    }),
  );
  assert.equal(tasks.resultOf("m2")?.state, "failed");

  // Held idle, then an abort: the task already ran, so nothing is sent and it stays
  // outputDone (the held idle reaches the actor before the ABORT, which outputDone ignores).
  tasks.track("m3");
  tasks.handleIopub(status("m3", "busy"));
  tasks.handleIopub(status("m3", "idle"));
  assert.deepEqual(tasks.abort(["m3"]), []);
  assert.equal(tasks.stateOf("m3"), "outputDone");
  tasks.handleReply(reply("m3", { value: 3 }));
  assert.equal(tasks.resultOf("m3")?.state, "done");

  // Held idle, then the engine dies: failed.
  tasks.track("m4", { engineUuid: ENGINE1 });
  tasks.handleIopub(status("m4", "idle"));
  engines.unregister(1);
  assert.equal(tasks.resultOf("m4")?.state, "failed");
  engines.close();
});

Deno.test("registry: a reply whose iopub_count outputs were all seen settles without the idle", () => {
  const { tasks, engines } = setup();
  // Our engines count the outputs they published before the reply: none here.
  tasks.track("m1", { engineUuid: ENGINE0 });
  tasks.handleIopub(status("m1", "busy"));
  tasks.handleReply(reply("m1", { value: 1, metadata: { iopub_count: 0 } }));
  assert.equal(tasks.resultOf("m1")?.state, "done");
  assert.equal(tasks.resultOf("m1")?.value, 1);
  tasks.handleIopub(status("m1", "idle")); // late: ignored, not a stray
  assert.equal(tasks.resultOf("m1")?.state, "done");

  // Its one output arrived before the reply: complete.
  tasks.track("m2", { engineUuid: ENGINE0 });
  tasks.handleIopub(iopub("m2", "stream", { name: "stdout", text: "a\n" }));
  tasks.handleReply(reply("m2", { value: 2, metadata: { iopub_count: 1 } }));
  assert.equal(tasks.resultOf("m2")?.state, "done");
  assert.equal(tasks.resultOf("m2")?.metadata.stdout, "a\n");

  // Two published, one seen: the idle is still awaited, and the second output lands first.
  tasks.track("m3", { engineUuid: ENGINE0 });
  tasks.handleIopub(iopub("m3", "stream", { name: "stdout", text: "b\n" }));
  tasks.handleReply(reply("m3", { value: 3, metadata: { iopub_count: 2 } }));
  assert.equal(tasks.stateOf("m3"), "repliedOk");
  tasks.handleIopub(iopub("m3", "stream", { name: "stdout", text: "c\n" }));
  tasks.handleIopub(status("m3", "idle"));
  assert.equal(tasks.resultOf("m3")?.state, "done");
  assert.equal(tasks.resultOf("m3")?.metadata.stdout, "b\nc\n");

  // No count (a Python engine): the idle is awaited as before.
  tasks.track("m4", { engineUuid: ENGINE0 });
  tasks.handleReply(reply("m4", { value: 4 }));
  assert.equal(tasks.stateOf("m4"), "repliedOk");
  tasks.handleIopub(status("m4", "idle"));
  assert.equal(tasks.resultOf("m4")?.state, "done");
  assert.deepEqual([...tasks.outstanding], []);
  engines.close();
});

Deno.test("registry: an execute_reply becomes an ExecuteReply with the execute_result", () => {
  const { tasks, engines } = setup();
  tasks.track("e1");
  tasks.handleIopub(iopub("e1", "execute_input", { code: "a", execution_count: 3 }));
  tasks.handleIopub(
    iopub("e1", "execute_result", {
      data: { "text/plain": "5" },
      metadata: {},
      execution_count: 3,
    }),
  );
  tasks.handleIopub(
    iopub("e1", "display_data", { data: { "text/plain": "{'k': 1}" }, metadata: {} }),
  );
  tasks.handleReply(reply("e1", { msgType: "execute_reply" }));
  tasks.handleIopub(status("e1", "idle"));
  const value = tasks.resultOf("e1")!.value;
  assert.ok(value instanceof ExecuteReply);
  assert.equal(String(value), "Out[0:3]: 5");
  const md = tasks.metadataOf("e1");
  assert.equal(md.executeInput, "a");
  assert.equal(md.outputs.length, 1);
  engines.close();
});

Deno.test("registry: an engine error waits for the idle and fails with RemoteError", () => {
  const { tasks, engines } = setup();
  tasks.track("m1");
  tasks.handleIopub(
    iopub("m1", "error", { ename: "ZeroDivisionError", evalue: "x", traceback: [] }),
  );
  tasks.handleReply(reply("m1", { status: "error" }));
  assert.equal(tasks.stateOf("m1"), "repliedError");
  tasks.handleIopub(status("m1", "idle"));
  const r = tasks.resultOf("m1")!;
  assert.equal(r.state, "failed");
  assert.ok(r.error instanceof RemoteError);
  const e = r.error as RemoteError;
  assert.equal(e.ename, "ZeroDivisionError");
  assert.equal(e.traceback.length, 2);
  // Python engines send engine_id -1 (PROTOCOL.md §10 #4): the id comes from the table
  assert.deepEqual(e.engineInfo, { engineUuid: ENGINE0, engineId: 0, method: "apply" });
  assert.ok(r.metadata.error instanceof RemoteError);
  engines.close();
});

Deno.test("registry: a scheduler TaskTimeout settles at once as TaskTimeout", () => {
  const { tasks, engines } = setup();
  tasks.track("t1");
  tasks.handleReply(
    reply("t1", {
      status: "error",
      ename: "TaskTimeout",
      evalue: "",
      engineInfo: {},
      metadata: {},
    }),
  );
  const r = tasks.resultOf("t1")!;
  assert.equal(r.state, "failed");
  assert.ok(r.error instanceof TaskTimeout);
  assert.ok((r.error as Error).cause instanceof RemoteError);
  engines.close();
});

Deno.test("registry: a scheduler EngineError (§7.6) becomes EngineError", () => {
  const { tasks, engines } = setup();
  tasks.track("t1");
  tasks.handleReply(reply("t1", {
    status: "error",
    ename: "EngineError",
    evalue: "Engine b'x' died while running task 't1'",
    engineInfo: {},
  }));
  assert.ok(tasks.resultOf("t1")!.error instanceof EngineError);
  engines.close();
});

Deno.test("registry: abort of a queued task sends an abort request and settles on the reply", () => {
  const { tasks, engines } = setup();
  tasks.track("a1");
  tasks.track("a2");
  tasks.handleIopub(status("a2", "busy"));
  assert.deepEqual(tasks.abort(["a1", "a2", "unknown"]), ["a1"]);
  assert.equal(tasks.stateOf("a1"), "aborting");
  assert.equal(tasks.stateOf("a2"), "running");
  tasks.handleReply(reply("a1", { status: "aborted" }));
  const r = tasks.resultOf("a1")!;
  assert.equal(r.state, "aborted");
  assert.ok(r.error instanceof TaskAborted);
  assert.equal((r.error as TaskAborted).msgId, "a1");
  assert.equal(r.metadata.status, "aborted");
  engines.close();
});

Deno.test("registry: an unregistered engine fails its direct tasks with EngineError", () => {
  const { tasks, engines } = setup();
  tasks.track("d1", { engineUuid: ENGINE1 });
  tasks.track("d2", { engineUuid: ENGINE1 });
  tasks.track("lb"); // load-balanced: the scheduler handles it (§7.6)
  tasks.handleReply(reply("d2", { engine: ENGINE1, value: 1 })); // result known, output due
  engines.unregister(1);
  const r = tasks.resultOf("d1")!;
  assert.equal(r.state, "failed");
  assert.ok(r.error instanceof EngineError);
  assert.equal((r.error as Error).message, "Engine 1 died while running task 'd1'");
  assert.equal(r.metadata.engineUuid, ENGINE1);
  assert.equal(r.metadata.status, "error");
  assert.equal(tasks.resultOf("d2")!.value, 1);
  assert.deepEqual([...tasks.outstanding], ["lb"]);
  engines.close();
});

Deno.test("registry: controller lost fails every outstanding task with ControllerLostError", () => {
  const { tasks, engines } = setup();
  tasks.track("c1");
  tasks.track("c2");
  tasks.controllerLost(new ControllerLostError("gone"));
  assert.equal(tasks.outstanding.size, 0);
  for (const id of ["c1", "c2"]) {
    assert.ok(tasks.resultOf(id)!.error instanceof ControllerLostError);
  }
  engines.close();
});

Deno.test("registry: a client-side time-out fails a task with TaskTimeout", () => {
  const { tasks, engines } = setup();
  tasks.track("t");
  tasks.timedOut("t");
  assert.ok(tasks.resultOf("t")!.error instanceof TaskTimeout);
  engines.close();
});

Deno.test("registry: a resubmitted task is followed to its successor", () => {
  const { tasks, engines } = setup();
  tasks.track("old");
  const seen: unknown[] = [];
  tasks.onSettled("old", (r) => seen.push(r.value));
  tasks.resubmitted({ old: "new" });
  assert.equal(tasks.stateOf("old"), "resubmitted");
  assert.ok(tasks.outstanding.has("new"));
  assert.equal(tasks.resultOf("old"), undefined);
  tasks.handleReply(reply("new", { value: 9 })); // no idle awaited for a successor
  assert.deepEqual(seen, [9]);
  assert.equal(tasks.resultOf("old")!.msgId, "new");
  engines.close();
});

Deno.test("registry: a finished task resubmitted later links to its successor", () => {
  const { tasks, engines } = setup();
  tasks.track("old", { expectOutput: false });
  tasks.handleReply(reply("old", { value: 1 }));
  tasks.resubmitted({ old: "new" });
  assert.equal(tasks.stateOf("old"), "resubmitted");
  assert.equal(tasks.resultOf("old"), undefined);
  tasks.handleReply(reply("new", { value: 2 }));
  assert.equal(tasks.resultOf("old")!.value, 2);
  engines.close();
});

Deno.test("registry: a coalesced broadcast reply is keyed by original_msg_id and split", () => {
  const { tasks, engines } = setup();
  tasks.track("b1", { expectOutput: false });
  tasks.handleReply(reply("b1_sub", {
    metadata: {
      is_broadcast: true,
      is_coalescing: true,
      original_msg_id: "b1",
      broadcast_targets: [[ENGINE0, 0], [ENGINE1, 1]],
    },
    buffers: [jsonBuffer(10), jsonBuffer(11)],
  }));
  const r = tasks.resultOf("b1")!;
  assert.deepEqual(r.value, [10, 11]);
  assert.deepEqual(r.metadata.engineUuid, [ENGINE0, ENGINE1]);
  assert.deepEqual(r.metadata.engineId, [0, 1]);
  assert.equal(r.metadata.isCoalescing, true);
  engines.close();
});

Deno.test("registry: stream text applies carriage returns; data_message merges data", () => {
  const { tasks, engines } = setup();
  tasks.track("s");
  tasks.handleIopub(iopub("s", "stream", { name: "stdout", text: "10%\r" }));
  tasks.handleIopub(iopub("s", "stream", { name: "stdout", text: "20%\r100%\ndone\n" }));
  tasks.handleIopub(iopub("s", "stream", { name: "stderr", text: "warn\n" }));
  tasks.handleIopub(
    iopub("s", "data_message", { keys: ["a"] }, { buffers: [jsonBuffer({ a: 1 })] }),
  );
  tasks.handleIopub(
    iopub("s", "data_message", { keys: ["b"] }, { buffers: [jsonBuffer({ b: 2 })] }),
  );
  const md = tasks.metadataOf("s");
  assert.equal(md.stdout, "100%\ndone\n");
  assert.equal(md.stderr, "warn\n");
  assert.deepEqual(md.data, { a: 1, b: 2 });
  engines.close();
});

Deno.test("registry: replies for unknown or settled tasks are reported as strays", () => {
  const { tasks, engines, strays } = setup();
  tasks.handleReply(reply("nobody"));
  tasks.track("m", { expectOutput: false });
  tasks.handleReply(reply("m", { value: 1 }));
  tasks.handleReply(reply("m", { value: 2 }));
  assert.deepEqual(strays, ["nobody", "m"]);
  assert.equal(tasks.resultOf("m")!.value, 1);
  engines.close();
});

Deno.test("registry: the engine's own late reply to a task failed by its shutdown is no stray", () => {
  const { tasks, engines, strays } = setup();
  tasks.track("q", { engineUuid: ENGINE0 });
  engines.shutdownRequested(0);
  engines.shutdownReply(ENGINE0);
  assert.ok(tasks.resultOf("q")!.error instanceof EngineError);
  tasks.handleReply(reply("q", { status: "aborted" }));
  assert.deepEqual(strays, []);
  assert.ok(tasks.resultOf("q")!.error instanceof EngineError, "the outcome stays");
  engines.close();
});

Deno.test("registry: a result that fails to decode fails the task", () => {
  const { tasks, engines } = setup();
  tasks.track("bad");
  tasks.handleReply(reply("bad", { buffers: [new TextEncoder().encode("{not json")] }));
  const r = tasks.resultOf("bad")!;
  assert.equal(r.state, "failed");
  assert.ok(r.error instanceof SyntaxError);
  engines.close();
});

Deno.test("registry: purge forgets settled results and refuses outstanding ones", () => {
  const { tasks, engines } = setup();
  tasks.track("done", { expectOutput: false });
  tasks.handleReply(reply("done"));
  tasks.track("busy");
  assert.throws(() => tasks.purge(["done", "busy"]), (e: unknown) => {
    assert.ok(e instanceof OutstandingTasksError);
    assert.deepEqual(e.msgIds, ["busy"]);
    return true;
  });
  assert.throws(() => tasks.purge("all"), OutstandingTasksError);
  tasks.purge(["done"]);
  assert.throws(() => tasks.resultOf("done"), UnknownTaskError);
  tasks.handleReply(reply("busy"));
  tasks.handleIopub(status("busy", "idle"));
  tasks.purge("all");
  assert.equal(tasks.cachedCount, 0);
  engines.close();
});

Deno.test("registry: the cache cap evicts read results first, then the oldest unread", () => {
  const { tasks, engines } = setup(3);
  const settle = (id: string) => {
    tasks.track(id, { expectOutput: false });
    tasks.handleReply(reply(id, { value: id }));
  };
  for (const id of ["a", "b", "c"]) settle(id);
  tasks.markConsumed(["b"]);
  settle("d"); // evicts b (read)
  assert.throws(() => tasks.resultOf("b"), UnknownTaskError);
  settle("e"); // evicts a (oldest unread)
  assert.throws(() => tasks.resultOf("a"), UnknownTaskError);
  assert.deepEqual(["c", "d", "e"].map((id) => tasks.resultOf(id)!.value), ["c", "d", "e"]);
  assert.equal(tasks.cachedCount, 3);
  assert.equal(tasks.evictedCount, 2);
  engines.close();
});

Deno.test("registry: outstanding tasks are never evicted", () => {
  const { tasks, engines } = setup(0);
  tasks.track("live");
  tasks.track("x", { expectOutput: false });
  tasks.handleReply(reply("x"));
  assert.equal(tasks.cachedCount, 0);
  assert.equal(tasks.stateOf("live"), "pending");
  engines.close();
});

Deno.test("registry: tracking an outstanding msg_id twice throws", () => {
  const { tasks, engines } = setup();
  tasks.track("m");
  assert.throws(() => tasks.track("m"), /already outstanding/);
  assert.throws(() => new TaskRegistry({ decode: jsonDecode, maxCachedResults: -1 }), RangeError);
  engines.close();
});

Deno.test("registry: close fails outstanding tasks so no await hangs", () => {
  const { tasks, engines } = setup();
  tasks.track("o");
  tasks.close();
  tasks.close();
  assert.ok(tasks.resultOf("o")!.error instanceof ControllerLostError);
  assert.equal(tasks.outstanding.size, 0);
  engines.close();
});

Deno.test("registry: a reply whose idle never comes settles after outputTimeoutMs", async () => {
  const clock = new ManualClock();
  const tasks = new TaskRegistry({ decode: jsonDecode, clock, outputTimeoutMs: 1000 });
  tasks.track("m");
  tasks.handleIopub(iopub("m", "stream", { name: "stdout", text: "partial" }));
  tasks.handleReply(reply("m", { value: 3 }));
  assert.equal(clock.pending, 1);
  await clock.advance(999);
  assert.equal(tasks.stateOf("m"), "repliedOk");
  await clock.advance(1);
  const r = tasks.resultOf("m")!;
  assert.equal(r.state, "done");
  assert.equal(r.value, 3);
  assert.equal(r.metadata.stdout, "partial");
  // an idle in time settles the task; the timer stays armed, fires once with nothing due and
  // is not re-armed
  tasks.track("n");
  tasks.handleReply(reply("n", { value: 4 }));
  assert.equal(clock.pending, 1);
  tasks.handleIopub(status("n", "idle"));
  assert.equal(tasks.resultOf("n")!.state, "done");
  await clock.advance(1000);
  assert.equal(clock.pending, 0);
  // closing clears an armed timer
  tasks.track("o");
  tasks.handleReply(reply("o", { value: 5 }));
  tasks.handleIopub(status("o", "idle"));
  assert.equal(clock.pending, 1);
  tasks.close();
  assert.equal(clock.pending, 0);
  assert.throws(() => new TaskRegistry({ decode: jsonDecode, outputTimeoutMs: -1 }), RangeError);
});

Deno.test("registry: deferred busy and reply reach the actor before a later event", () => {
  const { tasks, engines } = setup();
  tasks.track("d", { engineUuid: ENGINE0 });
  tasks.handleIopub(status("d", "busy"));
  assert.equal(tasks.stateOf("d"), "running");
  tasks.handleReply(reply("d", { value: 5 }));
  assert.equal(tasks.stateOf("d"), "repliedOk");
  // repliedOk + ENGINE_DIED → done: the held reply was delivered first.
  tasks.engineDied("d", new EngineError("gone"));
  const r = tasks.resultOf("d")!;
  assert.equal(r.state, "done");
  assert.equal(r.value, 5);
  // An abort pending when the task starts: STARTED goes to the actor at once.
  tasks.track("f");
  assert.deepEqual(tasks.abort(["f"]), ["f"]);
  tasks.handleIopub(status("f", "busy"));
  assert.equal(tasks.stateOf("f"), "running");
  tasks.handleReply(reply("f", { value: 6 }));
  tasks.handleIopub(status("f", "idle"));
  assert.equal(tasks.resultOf("f")!.value, 6);
  assert.equal(tasks.outstanding.size, 0);
  engines.close();
});

Deno.test("registry: replies waiting for output share one timer, each on its own deadline", async () => {
  const clock = new ManualClock();
  const tasks = new TaskRegistry({ decode: jsonDecode, clock, outputTimeoutMs: 1000 });
  tasks.track("a");
  tasks.track("b");
  tasks.track("c");
  tasks.handleReply(reply("a", { value: 1 }));
  await clock.advance(500);
  tasks.handleReply(reply("b", { value: 2 }));
  tasks.handleReply(reply("c", { value: 3 }));
  assert.equal(clock.pending, 1);
  tasks.handleIopub(status("c", "idle"));
  assert.equal(tasks.stateOf("c"), "done");
  await clock.advance(500);
  assert.equal(tasks.stateOf("a"), "done");
  assert.equal(tasks.stateOf("b"), "repliedOk");
  assert.equal(clock.pending, 1);
  await clock.advance(500);
  assert.equal(tasks.stateOf("b"), "done");
  assert.equal(clock.pending, 0);
});

Deno.test("engine table: busy/idle is reported without driving the engine actor", () => {
  const engines = new EngineTable({ failTask: () => {} });
  engines.update({ "0": ENGINE0 });
  engines.status(ENGINE0, "busy");
  assert.equal(engines.stateOf(0), "busy");
  engines.status(ENGINE0, "idle");
  assert.equal(engines.stateOf(0), "idle");
  engines.status(ENGINE0, "busy");
  engines.shutdownRequested(0);
  assert.equal(engines.stateOf(0), "stopping");
  engines.close();
});
