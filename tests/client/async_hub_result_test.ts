import assert from "node:assert/strict";
import { AsyncHubResult } from "../../src/client/async_hub_result.ts";
import type { HubPoll } from "../../src/client/async_hub_result.ts";
import { TaskRegistry } from "../../src/client/task_registry.ts";
import { CompositeError, RemoteError, TaskAborted, TimeoutError } from "../../src/errors.ts";
import { flush, jsonBuffer, jsonDecode, ManualClock, reply } from "./helpers.ts";
import { parseResultReply } from "../../src/client/hub_results.ts";

/** A fake Hub: `done` says which msg_ids are complete at the next poll. */
function fakeHub() {
  const done = new Map<string, { value?: unknown; error?: Error }>();
  const polls: string[][] = [];
  const fetch = (ids: string[]): Promise<HubPoll> => {
    polls.push(ids);
    const completed: HubPoll["completed"] = {};
    for (const id of ids) if (done.has(id)) completed[id] = done.get(id)!;
    return Promise.resolve({ pending: ids.filter((id) => !done.has(id)), completed });
  };
  return { done, polls, fetch };
}

Deno.test("AsyncHubResult polls the Hub every interval until the result is there", async () => {
  const clock = new ManualClock();
  const hub = fakeHub();
  const ar = new AsyncHubResult<number>(hub.fetch, "h1", { clock, pollIntervalMs: 100 });
  assert.equal(hub.polls.length, 0, "no polling before anyone waits");
  const value = ar.get();
  await flush();
  assert.equal(hub.polls.length, 1);
  await clock.advance(100);
  assert.equal(hub.polls.length, 2);
  hub.done.set("h1", { value: 7 });
  await clock.advance(100);
  assert.equal(await value, 7);
  assert.equal(clock.pending, 0);
});

Deno.test("AsyncHubResult.get() rejects with TimeoutError and stops polling", async () => {
  const clock = new ManualClock();
  const hub = fakeHub();
  const ar = new AsyncHubResult(hub.fetch, ["h1", "h2"], { clock, pollIntervalMs: 100 });
  const p = ar.get(250).catch((e) => e);
  await clock.advance(250);
  assert.ok((await p) instanceof TimeoutError);
  const polls = hub.polls.length;
  await clock.advance(1000);
  assert.equal(hub.polls.length, polls, "polling stopped with the last waiter");
  assert.equal(clock.pending, 0);
});

Deno.test("AsyncHubResult: remote failures become CompositeError; aborts are TaskAborted", async () => {
  const clock = new ManualClock();
  const hub = fakeHub();
  hub.done.set("a", { value: 1 });
  hub.done.set("b", { error: new RemoteError("ValueError", "bad", ["tb"], {}) });
  hub.done.set("c", { error: new TaskAborted("c") });
  const ar = new AsyncHubResult(hub.fetch, ["a", "b", "c"], { clock });
  await assert.rejects(ar.get(), (e: unknown) => {
    assert.ok(e instanceof CompositeError);
    assert.deepEqual(e.errors.map((x) => x.ename), ["ValueError", "TaskAborted"]);
    return true;
  });
  assert.equal(ar.successful(), false);
});

Deno.test("AsyncHubResult: a failed poll fails the waiting results with its error", async () => {
  const clock = new ManualClock();
  const ar = new AsyncHubResult(
    () => Promise.reject(new Error("hub unreachable")),
    "x",
    { clock },
  );
  await assert.rejects(ar.get(), /hub unreachable/);
});

Deno.test("AsyncHubResult: msg_ids still tracked locally settle locally, without polling", async () => {
  const clock = new ManualClock();
  const tasks = new TaskRegistry({ decode: jsonDecode, clock });
  tasks.track("local", { expectOutput: false });
  const hub = fakeHub();
  hub.done.set("remote", { value: "r" });
  const ar = new AsyncHubResult(hub.fetch, ["local", "remote"], { clock, local: tasks });
  const p = ar.get();
  await flush();
  assert.deepEqual(hub.polls, [["remote"]]);
  tasks.handleReply(reply("local", { value: "l" }));
  assert.deepEqual(await p, ["l", "r"]);
});

Deno.test("parseResultReply rebuilds values, errors and metadata from Hub records (§5.3)", async () => {
  // buffers of completed apply records come concatenated in sorted msg_id order
  const record = (status: string, msgType: string, extra: Record<string, unknown> = {}) => ({
    header: { msg_id: "x", msg_type: "apply_request", date: "2026-11-29T12:06:36.974763Z" },
    metadata: {},
    result_metadata: {
      started: "2026-11-29T12:06:36.976905Z",
      engine: "e0",
      is_broadcast: false,
      is_coalescing: false,
      status,
    },
    result_header: { msg_id: "y", msg_type: msgType, date: "2026-11-29T12:06:36.984181Z" },
    result_content: { status, ...extra },
    received: "2026-11-29T12:06:36.985813Z",
    io: { execute_input: null, execute_result: null, error: null, stdout: "stored\n", stderr: "" },
  });
  const reply = {
    header: { msg_id: "r", msg_type: "result_reply" },
    parent_header: { msg_id: "q" },
    metadata: {},
    content: {
      status: "ok",
      pending: ["p"],
      completed: ["b", "a", "c", "d", "e"],
      b: record("ok", "apply_reply"),
      a: record("ok", "apply_reply"),
      c: record("error", "apply_reply", {
        ename: "ValueError",
        evalue: "bad",
        traceback: [],
        engine_info: { engine_uuid: "e0", engine_id: -1, method: "apply" },
      }),
      d: record("aborted", "apply_reply"),
      e: {
        ...record("ok", "execute_reply", { execution_count: 3 }),
        io: {
          execute_input: "3",
          execute_result: { data: { "text/plain": "3" }, metadata: {}, execution_count: 3 },
          error: null,
          stdout: "",
          stderr: "",
        },
      },
    },
    buffers: [jsonBuffer("A"), jsonBuffer("B")],
  };
  const poll = parseResultReply(reply, {
    decode: jsonDecode,
    engineIdOf: (u) => u === "e0" ? 0 : undefined,
  });
  assert.deepEqual(poll.pending, ["p"]);
  assert.equal(poll.completed.a.value, "A");
  assert.equal(poll.completed.b.value, "B");
  const a = poll.completed.a.metadata!;
  assert.equal(a.engineId, 0);
  assert.equal(a.stdout, "stored\n");
  assert.equal(a.status, "ok");
  assert.equal(a.started?.toISOString(), "2026-11-29T12:06:36.976Z");
  const c = poll.completed.c.error as RemoteError;
  assert.ok(c instanceof RemoteError);
  assert.equal(c.engineInfo.engineId, 0);
  assert.ok(poll.completed.d.error instanceof TaskAborted);
  assert.equal(String(poll.completed.e.value), "Out[0:3]: 3");
  // and an AsyncHubResult fed by it
  const ar = new AsyncHubResult(() => Promise.resolve(poll), ["a", "b"]);
  assert.deepEqual(await ar, ["A", "B"]);
});
