import assert from "node:assert/strict";
import { connectionRequest, queueRequest } from "../../src/controller/hub_queries.ts";
import { makeHub, reply, request, withEngines } from "./hub_fixtures.ts";

Deno.test("engine ids count from 0 and registration replies carry hb_period and connection_info", () => {
  const { hub } = makeHub({ hbPeriodMs: 200, connectionInfo: { interface: "tcp://127.0.0.1" } });
  assert.deepEqual(hub.register({ uuid: "a" }), {
    id: 0,
    status: "ok",
    hb_period: 200,
    connection_info: { interface: "tcp://127.0.0.1" },
  });
  assert.equal((hub.register({ uuid: "b" }) as { id: number }).id, 1);
  hub.close();
});

Deno.test("a requested free id is granted and moves the counter past it", () => {
  const { hub } = makeHub();
  assert.equal((hub.register({ uuid: "a", id: 5 }) as { id: number }).id, 5);
  assert.equal((hub.register({ uuid: "b" }) as { id: number }).id, 6);
  assert.equal((hub.register({ uuid: "c", id: 2 }) as { id: number }).id, 2);
  assert.equal((hub.register({ uuid: "d" }) as { id: number }).id, 7);
  hub.close();
});

Deno.test("a requested id in use or pending is ignored and a fresh id assigned", () => {
  const { hub } = makeHub();
  hub.register({ uuid: "a", id: 0 }); // pending
  assert.equal((hub.register({ uuid: "b", id: 0 }) as { id: number }).id, 1);
  hub.heartsStarted(["a"]);
  assert.equal((hub.register({ uuid: "c", id: 0 }) as { id: number }).id, 2);
  hub.close();
});

Deno.test("a uuid in use is refused with KeyError, and the failed registration burns an id", () => {
  const { hub } = makeHub();
  withEngines(hub, 3); // ids 0..2
  const r = hub.register({ uuid: "uuid-1" });
  assert.equal(r?.status, "error");
  assert.equal((r as { ename: string }).ename, "KeyError");
  assert.equal((r as { evalue: string }).evalue, `"uuid 'uuid-1' in use"`);
  assert.deepEqual((r as { engine_info: object }).engine_info, {});
  assert.equal((hub.register({ uuid: "new" }) as { id: number }).id, 4);
  hub.close();
});

Deno.test("a pending uuid is also in use", () => {
  const { hub } = makeHub();
  hub.register({ uuid: "a" });
  assert.equal(hub.register({ uuid: "a" })?.status, "error");
  hub.close();
});

Deno.test("a registration_request without uuid gets no reply", () => {
  const { hub } = makeHub();
  assert.equal(hub.register({}), null);
  hub.close();
});

Deno.test("registration completes on the first heartbeat, notifications in ascending id order", () => {
  const { hub } = makeHub();
  for (const u of ["a", "b", "c"]) hub.register({ uuid: u });
  assert.deepEqual(connectionRequest(hub).content, { status: "ok", engines: {} });
  const notes = hub.heartsStarted(["c", "stranger", "a"]);
  assert.deepEqual(notes, [
    { msgType: "registration_notification", content: { id: 0, uuid: "a" } },
    { msgType: "registration_notification", content: { id: 2, uuid: "c" } },
  ]);
  assert.deepEqual(hub.pendingRegistrations(), ["b"]);
  assert.deepEqual(connectionRequest(hub).content, {
    status: "ok",
    engines: { "0": "a", "2": "c" },
  });
  hub.close();
});

Deno.test("a stalled registration is purged after registration_timeout and its uuid freed", () => {
  const { hub, clock } = makeHub({ registrationTimeoutMs: 30_000 });
  hub.register({ uuid: "a" });
  clock.advance(29_999);
  assert.deepEqual(hub.pendingRegistrations(), ["a"]);
  clock.advance(1);
  assert.deepEqual(hub.pendingRegistrations(), []);
  assert.deepEqual(hub.heartsStarted(["a"]), []);
  assert.equal(hub.register({ uuid: "a" })?.status, "ok");
  hub.close();
});

Deno.test("registration_timeout defaults to max(30 s, 10 × heartbeat period)", () => {
  assert.equal(makeHub().hub.registrationTimeoutMs, 30_000);
  assert.equal(makeHub({ hbPeriodMs: 5000 }).hub.registrationTimeoutMs, 50_000);
});

Deno.test("unregistration notifies once; ids are never reused afterwards", () => {
  const { hub } = makeHub();
  withEngines(hub, 2);
  assert.deepEqual(hub.unregister(1), {
    msgType: "unregistration_notification",
    content: { id: 1, uuid: "uuid-1" },
  });
  assert.equal(hub.unregister(1), null);
  assert.equal(hub.unregister(null), null);
  assert.equal((hub.register({ uuid: "x" }) as { id: number }).id, 2);
  hub.close();
});

Deno.test("an IOPub shutdown_reply unregisters the engine whose uuid is its session", () => {
  const { hub } = makeHub();
  withEngines(hub, 2);
  const note = hub.iopubMessage({
    header: { msg_type: "shutdown_reply", session: "uuid-0" },
    parent_header: {},
    metadata: {},
    content: { status: "ok" },
  });
  assert.deepEqual(note?.content, { id: 0, uuid: "uuid-0" });
  assert.deepEqual(hub.engines(), [{ id: 1, uuid: "uuid-1" }]);
  hub.close();
});

Deno.test("stopped hearts unregister their engines in ascending id order", () => {
  const { hub } = makeHub();
  withEngines(hub, 3);
  const notes = hub.heartsStopped(["uuid-2", "unknown", "uuid-0"]);
  assert.deepEqual(notes.map((n) => n.content.id), [0, 2]);
  hub.close();
});

Deno.test("MUX requests pending on a dead engine fail with EngineError after registration_timeout", () => {
  const { hub, clock } = makeHub();
  withEngines(hub, 1);
  hub.muxRequest("uuid-0", request("m1"));
  hub.unregister(0);
  assert.ok(hub.pending.has("m1"));
  clock.advance(30_000);
  assert.ok(!hub.pending.has("m1"));
  assert.ok(hub.allCompleted.has("m1"));
  const rec = hub.db.get("m1");
  assert.equal(rec.result_content?.ename, "EngineError");
  assert.equal(rec.result_content?.evalue, "Engine 0 died while running task 'm1'");
  assert.equal(rec.result_header?.engine, "uuid-0");
  assert.deepEqual(rec.result_buffers, []);
  assert.ok(rec.completed);
  hub.close();
});

Deno.test("MUX traffic fills the record and the engine's queue/completed lists", () => {
  const { hub } = makeHub();
  withEngines(hub, 1);
  hub.muxRequest("uuid-0", request("m1", "execute_request"));
  hub.muxRequest("not-registered", request("lost"));
  let rec = hub.db.get("m1");
  assert.equal(rec.queue, "mux");
  assert.equal(rec.engine_uuid, "uuid-0");
  assert.equal(rec.client_uuid, "client-session");
  assert.equal(rec.submitted, "2026-11-29T12:00:01.000001Z");
  assert.deepEqual(queueRequest(hub, { targets: null, verbose: true }).content, {
    status: "ok",
    "0": { queue: ["m1"], completed: [], tasks: [] },
    unassigned: [],
  });
  hub.muxReply("uuid-0", reply("m1", "uuid-0", "ok", [new Uint8Array([7])]));
  rec = hub.db.get("m1");
  assert.equal(rec.completed, "2026-11-29T12:00:02.500000Z");
  assert.equal(rec.started, "2026-11-29T12:00:02.000000Z");
  assert.equal(rec.received, "2026-11-29T12:00:00.000000Z");
  assert.deepEqual(rec.result_content, { status: "ok" });
  assert.equal(rec.result_buffers?.length, 1);
  assert.deepEqual(queueRequest(hub, { targets: null }).content, {
    status: "ok",
    "0": { queue: 0, completed: 1, tasks: 0 },
    unassigned: 0,
  });
  assert.ok(!hub.db.has("lost"));
  hub.close();
});

Deno.test("task traffic: unassigned, then tasks on its engine, then completed", () => {
  const { hub } = makeHub();
  withEngines(hub, 2);
  hub.taskRequest(request("t1"));
  hub.taskRequest(request("t2"));
  assert.equal(hub.db.get("t1").queue, "task");
  assert.deepEqual([...hub.unassigned], ["t1", "t2"]);
  hub.taskDestination("t1", "uuid-1");
  assert.equal(hub.db.get("t1").engine_uuid, "uuid-1");
  assert.deepEqual(queueRequest(hub, { targets: [1], verbose: true }).content, {
    status: "ok",
    "1": { queue: [], completed: [], tasks: ["t1"] },
    unassigned: ["t2"],
  });
  hub.taskReply(reply("t1", "uuid-1"));
  const q = hub.queues.get(1)!;
  assert.deepEqual([[...q.tasks], q.completed], [[], 1]);
  assert.deepEqual(hub.completedByEngine().get(1), ["t1"]);
  hub.close();
});

Deno.test("a task re-dispatched by a retry moves between engines' task lists", () => {
  const { hub } = makeHub();
  withEngines(hub, 2);
  hub.taskRequest(request("t1"));
  hub.taskDestination("t1", "uuid-0");
  hub.taskDestination("t1", "uuid-1");
  assert.deepEqual([...hub.queues.get(0)!.tasks], []);
  assert.deepEqual([...hub.queues.get(1)!.tasks], ["t1"]);
  hub.close();
});

Deno.test("a task failed for a dead engine leaves that engine's task list", () => {
  const { hub } = makeHub();
  withEngines(hub, 1);
  hub.taskRequest(request("t1"));
  hub.taskDestination("t1", "uuid-0");
  hub.unregister(0);
  hub.taskReply(reply("t1", "uuid-0", "error"));
  assert.equal(hub.queues.get(0)!.tasks.size, 0);
  assert.ok(hub.allCompleted.has("t1"));
  hub.close();
});

Deno.test("an aborted task is not counted as completed on its engine", () => {
  const { hub } = makeHub();
  withEngines(hub, 1);
  hub.taskRequest(request("t1"));
  hub.taskDestination("t1", "uuid-0");
  hub.taskReply(reply("t1", "uuid-0", "aborted"));
  assert.equal(hub.queues.get(0)!.completed, 0);
  assert.ok(hub.allCompleted.has("t1"));
  hub.close();
});

Deno.test("a scheduler-failed task (metadata {}) is recorded with engine_uuid ''", () => {
  const { hub } = makeHub();
  hub.taskRequest(request("t1"));
  hub.taskReply({
    header: { msg_id: "x", msg_type: "apply_reply", date: "2026-11-29T12:00:03Z" },
    parent_header: { msg_id: "t1" },
    metadata: {},
    content: { status: "error", ename: "ImpossibleDependency" },
  });
  const rec = hub.db.get("t1");
  assert.equal(rec.engine_uuid, "");
  assert.equal(rec.result_content?.ename, "ImpossibleDependency");
  assert.ok(!hub.unassigned.has("t1"));
  hub.close();
});

Deno.test("IOPub output is stored on the record; output arriving first is merged later", () => {
  const { hub } = makeHub();
  withEngines(hub, 1);
  const io = (type: string, content: object) =>
    hub.iopubMessage({
      header: { msg_type: type, session: "uuid-0" },
      parent_header: { msg_id: "m1" },
      metadata: {},
      content: content as Record<string, unknown>,
    });
  io("execute_input", { code: "print(1)" });
  io("stream", { name: "stdout", text: "a\n" });
  io("status", { execution_state: "busy" });
  hub.muxRequest("uuid-0", request("m1", "execute_request"));
  io("stream", { name: "stdout", text: "b\n" });
  io("stream", { name: "stderr", text: "oops" });
  io("execute_result", { data: { "text/plain": "3" } });
  io("display_data", { data: {} });
  io("error", { ename: "E" });
  const rec = hub.db.get("m1");
  assert.equal(rec.execute_input, "print(1)");
  assert.equal(rec.stdout, "a\nb\n");
  assert.equal(rec.stderr, "oops");
  assert.deepEqual(rec.execute_result, { data: { "text/plain": "3" } });
  assert.deepEqual(rec.display_data, { data: {} });
  assert.deepEqual(rec.error, { ename: "E" });
  assert.equal(rec.queue, "mux");
  hub.close();
});

Deno.test("close stops timers", () => {
  const { hub, clock } = makeHub();
  hub.register({ uuid: "a" });
  withEngines(hub, 1);
  hub.unregister(1);
  assert.equal(clock.pendingTimers, 2);
  hub.close();
  assert.equal(clock.pendingTimers, 0);
});
