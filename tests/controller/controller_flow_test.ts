/**
 * The transport-free pieces working together the way the socket wiring will drive them:
 * heart monitor → Hub registration → scheduler, a task's life, and an engine's death.
 */
import assert from "node:assert/strict";
import { ManualClock } from "../../src/controller/clock.ts";
import { MemoryDb } from "../../src/controller/db/memory.ts";
import { HeartMonitor } from "../../src/controller/heart_monitor.ts";
import { handleQuery } from "../../src/controller/hub_queries.ts";
import { HubState } from "../../src/controller/hub_state.ts";
import type { HubMessage } from "../../src/controller/hub_types.ts";
import { type SchedulerAction, TaskScheduler } from "../../src/controller/task_scheduler.ts";
import { reply, request } from "./hub_fixtures.ts";

function controller() {
  const clock = new ManualClock(Date.UTC(2026, 10, 29, 12, 0, 0));
  const db = new MemoryDb();
  const hub = new HubState({ db, clock, hbPeriodMs: 200 });
  const hm = new HeartMonitor({ clock, periodMs: 200, maxMisses: 2 });
  const toEngines: { engine: string; msgId: string }[] = [];
  const toClients: HubMessage[] = [];
  const scheduler: TaskScheduler<HubMessage, HubMessage> = new TaskScheduler({
    clock,
    emit: (a: SchedulerAction<HubMessage, HubMessage>) => {
      if (a.type === "dispatch") toEngines.push({ engine: a.engine, msgId: a.msgId });
      if (a.type === "track") hub.taskDestination(a.msgId, a.engine);
      if (a.type === "relay") {
        toClients.push(a.reply);
        hub.taskReply(a.reply);
      }
      if (a.type === "fail") {
        const msg: HubMessage = {
          header: { msg_id: `fail-${a.msgId}`, msg_type: "apply_reply", date: hub.now() },
          parent_header: a.payload.header,
          metadata: a.engine ? { status: "error", engine: a.engine, date: hub.now() } : {},
          content: a.content as unknown as Record<string, unknown>,
        };
        toClients.push(msg);
        hub.taskReply(msg);
      }
    },
  });
  /** One heartbeat period: beat, then every live engine answers the ping. */
  const beat = (alive: string[]) => {
    clock.advance(200);
    const { ping, newHearts, stoppedHearts } = hm.beat();
    for (const n of hub.heartsStarted(newHearts)) scheduler.registerEngine(n.content.uuid);
    for (const n of hub.heartsStopped(stoppedHearts)) {
      scheduler.unregisterEngine(n.content.uuid, { delayMs: 0 }); // a heart failure is final
    }
    for (const uuid of alive) hm.pong(uuid, ping);
  };
  const close = () => {
    scheduler.close();
    hub.close();
  };
  return { clock, hub, hm, scheduler, toEngines, toClients, beat, close };
}

Deno.test("an engine registers through its first pong and then receives load-balanced work", () => {
  const c = controller();
  try {
    assert.equal(c.hub.register({ uuid: "e0" })?.status, "ok");
    c.beat(["e0"]); // ping 1, answered
    assert.deepEqual(c.hub.engines(), []);
    c.beat(["e0"]); // judged: new heart → registered
    assert.deepEqual(c.hub.engines(), [{ id: 0, uuid: "e0" }]);
    assert.deepEqual(c.scheduler.engines(), [{ uuid: "e0", load: 0 }]);

    const msg = request("t1");
    c.hub.taskRequest(msg);
    c.scheduler.submit("t1", msg.metadata, msg);
    assert.deepEqual(c.toEngines, [{ engine: "e0", msgId: "t1" }]);
    let q = handleQuery(c.hub, "queue_request", { targets: null });
    assert.deepEqual(q.content, {
      status: "ok",
      "0": { queue: 0, completed: 0, tasks: 1 },
      unassigned: 0,
    });

    c.scheduler.reply(
      "e0",
      "t1",
      { status: "ok" },
      reply("t1", "e0", "ok", [new Uint8Array([42])]),
    );
    assert.equal(c.toClients.length, 1);
    q = handleQuery(c.hub, "queue_request", { targets: null });
    assert.deepEqual(q.content, {
      status: "ok",
      "0": { queue: 0, completed: 1, tasks: 0 },
      unassigned: 0,
    });
    const r = handleQuery(c.hub, "result_request", { msg_ids: ["t1"], status_only: false });
    assert.deepEqual(r.content.completed, ["t1"]);
    assert.deepEqual(r.buffers.map((b) => [...b]), [[42]]);
  } finally {
    c.close();
  }
});

Deno.test("a silent engine is unregistered and its running task fails with EngineError", () => {
  const c = controller();
  try {
    c.hub.register({ uuid: "e0" });
    c.beat(["e0"]);
    c.beat(["e0"]);
    const msg = request("t1");
    c.hub.taskRequest(msg);
    c.scheduler.submit("t1", {}, msg);
    c.beat([]); // judges the period the engine still answered
    c.beat([]); // miss 1
    c.beat([]); // miss 2
    assert.deepEqual(c.hub.engines(), [{ id: 0, uuid: "e0" }]);
    c.beat([]); // miss 3 > maxMisses: stopped
    assert.deepEqual(c.hub.engines(), []);
    const failure = c.toClients.at(-1)!;
    assert.equal(failure.content.ename, "EngineError");
    assert.equal(failure.metadata.engine, "e0");
    const r = handleQuery(c.hub, "result_request", { msg_ids: ["t1"], status_only: false });
    const entry = r.content.t1 as { result_content: { ename: string } };
    assert.equal(entry.result_content.ename, "EngineError");
  } finally {
    c.close();
  }
});

Deno.test("a task waiting in the scheduler times out and the Hub records TaskTimeout", () => {
  const c = controller();
  try {
    const msg = request("t1", "apply_request", { metadata: { timeout: 0.5 } });
    c.hub.taskRequest(msg);
    c.scheduler.submit("t1", msg.metadata, msg);
    c.clock.advance(500);
    assert.equal(c.toClients.length, 1);
    assert.deepEqual(c.toClients[0].metadata, {});
    const rec = c.hub.db.get("t1");
    assert.equal(rec.result_content?.ename, "TaskTimeout");
    assert.equal(rec.engine_uuid, "");
  } finally {
    c.close();
  }
});
