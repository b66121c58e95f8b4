import assert from "node:assert/strict";
import { NoDb } from "../../src/controller/db/nodb.ts";
import { SqliteDb } from "../../src/controller/db/sqlite.ts";
import { MemoryDb } from "../../src/controller/db/memory.ts";
import {
  dbRequest,
  handleQuery,
  historyRequest,
  loadRequest,
  purgeRequest,
  queueRequest,
  resubmitRequest,
  resultRequest,
} from "../../src/controller/hub_queries.ts";
import { makeHub, reply, request, withEngines } from "./hub_fixtures.ts";

const bytes = (...xs: number[]) => new Uint8Array(xs);

/** A Hub with engine 0 and two finished tasks (b finished before a) and one pending. */
function busyHub(db = new MemoryDb()) {
  const { hub, clock } = makeHub({ db });
  withEngines(hub, 1);
  for (const id of ["a", "b", "p"]) {
    hub.taskRequest(request(id));
    hub.taskDestination(id, "uuid-0");
  }
  hub.taskReply(reply("b", "uuid-0", "ok", [bytes(2), bytes(3)]));
  hub.taskReply(reply("a", "uuid-0", "error", [bytes(1)]));
  return { hub, clock };
}

Deno.test("queue_request: unknown target is hub_error IndexError 'No Such Engine: [99]'", () => {
  const { hub } = makeHub();
  withEngines(hub, 1);
  const r = queueRequest(hub, { targets: [0, 99] });
  assert.equal(r.msgType, "hub_error");
  assert.equal(r.content.ename, "IndexError");
  assert.equal(r.content.evalue, "No Such Engine: [99]");
  assert.deepEqual(r.content.engine_info, {});
  assert.equal(queueRequest(hub, { targets: "nope" }).content.evalue, "No Such Engine: ['nope']");
  hub.close();
});

Deno.test("queue_request with no engines is IndexError 'No Engines Registered'", () => {
  const { hub } = makeHub();
  const r = queueRequest(hub, { targets: null });
  assert.equal(r.msgType, "hub_error");
  assert.equal(r.content.evalue, "No Engines Registered");
  assert.match((r.content.traceback as string[]).at(-1)!, /^IndexError: No Engines Registered\n$/);
  hub.close();
});

Deno.test("queue_request accepts a single id or an engine uuid as target", () => {
  const { hub } = makeHub();
  withEngines(hub, 2);
  const keys = (r: { content: object }) => Object.keys(r.content).sort();
  assert.deepEqual(keys(queueRequest(hub, { targets: 1 })), ["1", "status", "unassigned"]);
  assert.deepEqual(keys(queueRequest(hub, { targets: ["uuid-0"] })), ["0", "status", "unassigned"]);
  hub.close();
});

Deno.test("queue_request does not list engines that have left", () => {
  const { hub } = makeHub();
  withEngines(hub, 2);
  hub.unregister(0);
  const keys = Object.keys(queueRequest(hub, { targets: null }).content).sort();
  assert.deepEqual(keys, ["1", "status", "unassigned"]);
  assert.equal(queueRequest(hub, { targets: [0] }).msgType, "hub_error");
  hub.close();
});

Deno.test("load_request returns queue + tasks per engine id", () => {
  const { hub } = busyHub();
  hub.muxRequest("uuid-0", request("m"));
  assert.deepEqual(loadRequest(hub, { targets: null }), {
    msgType: "load_reply",
    content: { status: "ok", "0": 2 },
    buffers: [],
  });
  assert.equal(loadRequest(hub, { targets: [3] }).msgType, "hub_error");
  hub.close();
});

Deno.test("result_request status_only splits sorted unique ids into pending and completed", () => {
  const { hub } = busyHub();
  const r = resultRequest(hub, { msg_ids: ["p", "b", "a", "b"], status_only: true });
  assert.deepEqual(r, {
    msgType: "result_reply",
    content: { status: "ok", pending: ["p"], completed: ["a", "b"] },
    buffers: [],
  });
  hub.close();
});

Deno.test("result_request returns entries with an io dict and buffers in sorted msg_id order", () => {
  const { hub } = busyHub();
  const r = resultRequest(hub, { msg_ids: ["b", "a"], status_only: false });
  assert.equal(r.msgType, "result_reply");
  assert.deepEqual(r.buffers.map((b) => [...b]), [[1], [2], [3]]); // a's, then b's
  const a = r.content.a as Record<string, unknown>;
  assert.deepEqual(Object.keys(a).sort(), [
    "header",
    "io",
    "metadata",
    "received",
    "result_content",
    "result_header",
    "result_metadata",
  ]);
  assert.deepEqual(a.io, {
    execute_input: null,
    execute_result: null,
    error: null,
    stdout: "",
    stderr: "",
  });
  assert.equal(a.received, "2026-11-29T12:00:00.000000Z");
  assert.deepEqual(a.result_content, { status: "error" });
  hub.close();
});

Deno.test("result_request for an unknown id is a KeyError in result_reply", () => {
  const { hub } = busyHub();
  const r = resultRequest(hub, { msg_ids: ["a", "nope"], status_only: false });
  assert.equal(r.msgType, "result_reply");
  assert.equal(r.content.status, "error");
  assert.equal(r.content.ename, "KeyError");
  assert.equal(r.content.evalue, "'No such message: nope'");
  hub.close();
});

Deno.test("result_request with NoDb: status works, full results are a NoData error", () => {
  const { hub } = busyHub(new NoDb() as unknown as MemoryDb);
  assert.deepEqual(resultRequest(hub, { msg_ids: ["a"], status_only: true }).content, {
    status: "ok",
    pending: [],
    completed: ["a"],
  });
  const r = resultRequest(hub, { msg_ids: ["a"], status_only: false });
  assert.equal(r.content.ename, "NoData");
  hub.close();
});

Deno.test("a restarted controller answers result_request for finished tasks from SQLite", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const db1 = new SqliteDb({ path: `${dir}/t.db` });
    const first = busyHub(db1 as unknown as MemoryDb).hub;
    first.close();
    db1.close();
    const db2 = new SqliteDb({ path: `${dir}/t.db` });
    try {
      const { hub } = makeHub({ db: db2 });
      const status = resultRequest(hub, { msg_ids: ["a", "b", "p"], status_only: true });
      assert.deepEqual(status.content, { status: "ok", pending: ["p"], completed: ["a", "b"] });
      const full = resultRequest(hub, { msg_ids: ["b"], status_only: false });
      assert.deepEqual((full.content.b as { result_content: unknown }).result_content, {
        status: "ok",
      });
      assert.deepEqual(full.buffers.map((b) => [...b]), [[2], [3]]);
      assert.deepEqual(historyRequest(hub).content, { status: "ok", history: ["a", "b", "p"] });
      hub.close();
    } finally {
      db2.close();
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("history_request lists msg_ids by submission; NoDb gives a NoData error", () => {
  const { hub } = busyHub();
  assert.deepEqual(historyRequest(hub).content, { status: "ok", history: ["a", "b", "p"] });
  hub.close();
  const h2 = makeHub({ db: new NoDb() }).hub;
  const r = historyRequest(h2);
  assert.equal(r.msgType, "history_reply");
  assert.equal(r.content.ename, "NoData");
  h2.close();
});

Deno.test("db_request with keys null returns every field except buffers, lens null", () => {
  const { hub } = busyHub();
  const r = dbRequest(hub, { query: { msg_id: "b" }, keys: null });
  assert.equal(r.msgType, "db_reply");
  assert.equal(r.content.buffer_lens, null);
  assert.equal(r.content.result_buffer_lens, null);
  assert.deepEqual(r.buffers, []);
  const [rec] = r.content.records as Record<string, unknown>[];
  assert.equal(Object.keys(rec).length, 21);
  assert.ok(!("buffers" in rec) && !("result_buffers" in rec));
  assert.equal(rec.completed, "2026-11-29T12:00:02.500000Z");
  hub.close();
});

Deno.test("db_request with buffer keys sends buffers then result buffers per record, with lens", () => {
  const { hub } = busyHub();
  const r = dbRequest(hub, {
    query: { msg_id: { $in: ["a", "b", "p"] } },
    keys: ["header", "buffers", "result_buffers", "completed"],
  });
  assert.deepEqual(r.content.buffer_lens, [1, 1, 1]);
  assert.deepEqual(r.content.result_buffer_lens, [1, 2, 0]);
  assert.deepEqual(r.buffers.map((b) => [...b]), [[1], [1], [1], [2], [3], [1]]);
  const recs = r.content.records as Record<string, unknown>[];
  assert.deepEqual(Object.keys(recs[0]).sort(), ["completed", "header", "msg_id"]);
  const onlyResults = dbRequest(hub, { query: { msg_id: "b" }, keys: ["result_buffers"] });
  assert.deepEqual([onlyResults.content.buffer_lens, onlyResults.content.result_buffer_lens], [
    null,
    [2],
  ]);
  hub.close();
});

Deno.test("db_request parses date strings in the query and compares them as dates", () => {
  const { hub } = busyHub();
  const r = dbRequest(hub, {
    query: { completed: { $gte: "2026-11-29T13:00:02+01:00" } },
    keys: ["msg_id"],
  });
  assert.deepEqual((r.content.records as { msg_id: string }[]).map((x) => x.msg_id), ["a", "b"]);
  hub.close();
});

Deno.test("db_request with a bad operator replies db_reply with an error", () => {
  const { hub } = busyHub();
  const r = dbRequest(hub, { query: { completed: { $near: 1 } }, keys: null });
  assert.equal(r.msgType, "db_reply");
  assert.equal(r.content.status, "error");
  assert.equal(r.content.ename, "KeyError");
  hub.close();
});

Deno.test("purge_request 'all' drops every completed record and keeps pending ones", () => {
  const { hub } = busyHub();
  assert.deepEqual(purgeRequest(hub, { msg_ids: "all", engine_ids: [] }).content, { status: "ok" });
  assert.deepEqual(hub.db.history(), ["p"]);
  assert.equal(resultRequest(hub, { msg_ids: ["a"], status_only: true }).content.ename, "KeyError");
  hub.close();
});

Deno.test("purge_request refuses a pending msg_id with IndexError", () => {
  const { hub } = busyHub();
  const r = purgeRequest(hub, { msg_ids: ["a", "p"], engine_ids: [] });
  assert.equal(r.msgType, "purge_reply");
  assert.equal(r.content.ename, "IndexError");
  assert.equal(r.content.evalue, "msg pending: 'p'");
  assert.equal(hub.db.size(), 3);
  hub.close();
});

Deno.test("purge_request drops listed records and engines' completed records", () => {
  const { hub } = busyHub();
  assert.equal(purgeRequest(hub, { msg_ids: ["a"] }).content.status, "ok");
  assert.deepEqual(hub.db.history(), ["b", "p"]);
  assert.equal(purgeRequest(hub, { msg_ids: [], engine_ids: [0] }).content.status, "ok");
  assert.deepEqual(hub.db.history(), ["p"]);
  const r = purgeRequest(hub, { msg_ids: [], engine_ids: [5] });
  assert.equal(r.content.evalue, "No such engine: 5");
  hub.close();
});

Deno.test("resubmit_request of unknown ids is KeyError \"No such msg(s): ['nope']\"", () => {
  const { hub } = busyHub();
  const r = resubmitRequest(hub, { msg_ids: ["a", "nope"] });
  assert.equal(r.msgType, "resubmit_reply");
  assert.equal(r.content.ename, "KeyError");
  assert.equal(r.content.evalue, `"No such msg(s): ['nope']"`);
  hub.close();
});

Deno.test("resubmit_request makes a new message and record under a new msg_id", () => {
  const { hub } = busyHub();
  const r = resubmitRequest(hub, { msg_ids: ["a"] });
  assert.deepEqual(r.content, { status: "ok", resubmitted: { a: "hub_0" } });
  const [{ originalMsgId, message }] = r.resubmissions!;
  assert.equal(originalMsgId, "a");
  assert.equal(message.header.msg_id, "hub_0");
  assert.equal(message.header.session, "client-session"); // the original client's
  assert.equal(message.header.msg_type, "apply_request");
  assert.equal(message.header.date, "2026-11-29T12:00:00.000000Z");
  assert.deepEqual(message.parent_header, message.header); // quirk #13, as observed
  assert.deepEqual(message.metadata, {});
  assert.deepEqual(message.content, { code: "a" });
  assert.deepEqual(message.buffers!.map((b) => [...b]), [[1]]);
  assert.equal(hub.db.get("a").resubmitted, "hub_0");
  assert.equal(hub.db.get("hub_0").client_uuid, "client-session");
  assert.deepEqual(resultRequest(hub, { msg_ids: ["hub_0"], status_only: true }).content.pending, [
    "hub_0",
  ]);
  // the resubmitted message then arrives through the scheduler like any task
  hub.taskRequest(message);
  assert.equal(hub.db.get("hub_0").queue, "task");
  hub.close();
});

Deno.test("handleQuery routes by msg_type and answers unknown types with hub_error KeyError", () => {
  const { hub } = busyHub();
  assert.equal(handleQuery(hub, "connection_request", {}).msgType, "connection_reply");
  assert.equal(handleQuery(hub, "history_request", {}).msgType, "history_reply");
  const bad = handleQuery(hub, "foo_request", {});
  assert.equal(bad.msgType, "hub_error");
  assert.equal(bad.content.evalue, `"Bad Message Type: 'foo_request'"`);
  assert.equal(
    bad.content.traceback && (bad.content.traceback as string[])[0],
    "Traceback (most recent call last):\n",
  );
  hub.close();
});

Deno.test("shutdown_request replies ok and asks for a shutdown_notification", () => {
  const { hub } = makeHub();
  const r = handleQuery(hub, "shutdown_request", {});
  assert.deepEqual(r.content, { status: "ok" });
  assert.equal(r.msgType, "shutdown_reply");
  assert.deepEqual(r.shutdownNotification, { status: "ok" });
  hub.close();
});

Deno.test("db_request buffer layout and purge work the same on SqliteDb", () => {
  const db = new SqliteDb({ path: ":memory:" });
  try {
    const { hub } = busyHub(db as unknown as MemoryDb);
    const r = dbRequest(hub, {
      query: { msg_id: { $in: ["a", "b", "p"] } },
      keys: ["buffers", "result_buffers"],
    });
    assert.deepEqual(r.content.buffer_lens, [1, 1, 1]);
    assert.deepEqual(r.content.result_buffer_lens, [1, 2, 0]);
    assert.deepEqual(r.buffers.map((b) => [...b]), [[1], [1], [1], [2], [3], [1]]);
    assert.equal(purgeRequest(hub, { msg_ids: "all" }).content.status, "ok");
    assert.deepEqual(historyRequest(hub).content, { status: "ok", history: ["p"] });
    hub.close();
  } finally {
    db.close();
  }
});

Deno.test("finishedLimit: the Hub forgets the oldest finished ids, counts them, and tells listeners", () => {
  const { hub } = makeHub({ finishedLimit: 3 });
  withEngines(hub, 2);
  const forgotten: string[] = [];
  hub.onForget((id) => forgotten.push(id));
  const ids = ["t0", "t1", "t2", "t3", "t4", "t5"];
  ids.forEach((id, i) => {
    hub.taskRequest(request(id));
    hub.taskDestination(id, `uuid-${i % 2}`);
    hub.taskReply(reply(id, `uuid-${i % 2}`));
  });
  assert.deepEqual(forgotten, ["t0", "t1", "t2"]);
  assert.deepEqual([...hub.allCompleted], ["t3", "t4", "t5"]);
  // Counts stay exact; the lists hold what is remembered.
  const counts = queueRequest(hub, {}).content as Record<string, { completed: number }>;
  assert.deepEqual([counts["0"].completed, counts["1"].completed], [3, 3]);
  const lists = queueRequest(hub, { verbose: true }).content as Record<
    string,
    { completed: string[] }
  >;
  assert.deepEqual([lists["0"].completed, lists["1"].completed], [["t4"], ["t3", "t5"]]);
  // A forgotten id is still answered from its record while the database keeps it.
  assert.deepEqual(resultRequest(hub, { msg_ids: ["t0"], status_only: true }).content.completed, [
    "t0",
  ]);
  // Purges reach the listeners too, and reset the counts they cover.
  assert.equal(purgeRequest(hub, { msg_ids: ["t4"] }).content.status, "ok");
  assert.deepEqual(forgotten.slice(3), ["t4"]);
  assert.equal(purgeRequest(hub, { msg_ids: [], engine_ids: [1] }).content.status, "ok");
  assert.deepEqual(forgotten.slice(4), ["t3", "t5"]);
  const after = queueRequest(hub, {}).content as Record<string, { completed: number }>;
  assert.deepEqual([after["0"].completed, after["1"].completed], [2, 0]);
  assert.equal(purgeRequest(hub, { msg_ids: "all" }).content.status, "ok");
  const zero = queueRequest(hub, {}).content as Record<string, { completed: number }>;
  assert.deepEqual([zero["0"].completed, zero["1"].completed], [0, 0]);
  hub.close();
});

Deno.test("finishedLimit: an aborted task leaves no engine's count when it is forgotten", () => {
  const { hub } = makeHub({ finishedLimit: 1 });
  withEngines(hub, 1);
  for (const [id, status] of [["x", "aborted"], ["y", "ok"], ["z", "ok"]]) {
    hub.taskRequest(request(id));
    hub.taskDestination(id, "uuid-0");
    hub.taskReply(reply(id, "uuid-0", status));
  }
  // x (aborted) was never counted; y was, and still is once forgotten.
  const q = queueRequest(hub, {}).content as Record<string, { completed: number }>;
  assert.equal(q["0"].completed, 2);
  const lists = queueRequest(hub, { verbose: true }).content as Record<
    string,
    { completed: string[] }
  >;
  assert.deepEqual(lists["0"].completed, ["z"]);
  hub.close();
});
