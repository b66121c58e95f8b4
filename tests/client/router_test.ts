import assert from "node:assert/strict";
import { HubLink } from "../../src/client/actors/hub_link_machine.ts";
import { AsyncResult } from "../../src/client/async_result.ts";
import { EngineTable } from "../../src/client/engine_table.ts";
import { MessageRouter } from "../../src/client/router.ts";
import { TaskRegistry } from "../../src/client/task_registry.ts";
import { ControllerLostError, EngineError } from "../../src/errors.ts";
import {
  ENGINE0,
  ENGINE1,
  iopub,
  jsonDecode,
  ManualClock,
  notification,
  queryReply,
  reply,
  SESSION,
  status,
} from "./helpers.ts";

function wire() {
  const clock = new ManualClock();
  const engines = new EngineTable({ failTask: (id, e) => tasks.engineDied(id, e) });
  const tasks = new TaskRegistry({ decode: jsonDecode, clock, engines });
  let n = 0;
  const hub = new HubLink({ send: () => `q${++n}`, clock });
  let shutdowns = 0;
  const control: string[] = [];
  const router = new MessageRouter({
    session: SESSION,
    tasks,
    engines,
    hub,
    onShutdown: () => shutdowns++,
    onControlReply: (m) => control.push(m.header.msg_type),
  });
  const close = () => {
    hub.close();
    engines.close();
  };
  return { clock, tasks, engines, hub, router, close, control, shutdowns: () => shutdowns };
}

Deno.test("router: notifications register and unregister engines", () => {
  const w = wire();
  w.router.notification(notification("registration_notification", { id: 0, uuid: ENGINE0 }));
  w.router.notification(notification("registration_notification", { id: 1, uuid: ENGINE1 }));
  assert.deepEqual(w.engines.ids, [0, 1]);
  w.tasks.track("d", { engineUuid: ENGINE1 });
  w.router.notification(notification("unregistration_notification", { id: 1, uuid: ENGINE1 }));
  assert.deepEqual(w.engines.ids, [0]);
  assert.ok(w.tasks.resultOf("d")!.error instanceof EngineError);
  w.close();
});

Deno.test("router: a reply and IOPub idle settle a task and flip its engine busy/idle", () => {
  const w = wire();
  w.engines.update({ "0": ENGINE0 });
  w.tasks.track("m", { engineUuid: ENGINE0 });
  w.router.iopub(status("m", "busy"));
  assert.equal(w.engines.stateOf(0), "busy");
  assert.equal(w.tasks.stateOf("m"), "running");
  w.router.reply(reply("m", { value: 5 }));
  w.router.iopub(status("m", "idle"));
  assert.equal(w.engines.stateOf(0), "idle");
  assert.equal(w.tasks.resultOf("m")!.value, 5);
  w.close();
});

Deno.test("router: a status read without decoding routes as the decoded status does", () => {
  const w = wire();
  w.engines.update({ "0": ENGINE0 });
  w.tasks.track("m", { engineUuid: ENGINE0 });
  w.tasks.track("u");
  w.router.iopubStatus("m", SESSION, ENGINE0, "busy");
  assert.equal(w.engines.stateOf(0), "busy");
  assert.equal(w.tasks.stateOf("m"), "running");
  // Another session's status flips the engine but not this client's task of the same msg_id.
  w.router.iopubStatus("m", "other", ENGINE0, "idle");
  assert.equal(w.engines.stateOf(0), "idle");
  assert.equal(w.tasks.stateOf("m"), "running");
  // No engine in the metadata, or an unknown state: the task still hears a known state.
  w.router.iopubStatus("u", SESSION, null, "busy");
  assert.equal(w.tasks.stateOf("u"), "running");
  w.router.iopubStatus("m", SESSION, ENGINE0, null);
  assert.equal(w.tasks.stateOf("m"), "running");
  w.router.reply(reply("m", { value: 5 }));
  assert.equal(w.tasks.stateOf("m"), "repliedOk");
  w.router.iopubStatus(null, SESSION, ENGINE0, "idle");
  w.router.iopubStatus("m", SESSION, ENGINE0, "idle");
  assert.equal(w.tasks.resultOf("m")!.value, 5);
  assert.equal(w.router.unhandledCount, 0);
  w.close();
});

Deno.test("router: IOPub of another session is dropped", () => {
  const w = wire();
  w.tasks.track("m");
  w.router.iopub(iopub("m", "stream", { name: "stdout", text: "x" }, { session: "other" }));
  assert.equal(w.tasks.metadataOf("m").stdout, "");
  assert.equal(w.router.unhandledCount, 1);
  w.close();
});

Deno.test("router: only apply_reply and execute_reply are accepted on execution sockets", () => {
  const w = wire();
  w.tasks.track("m");
  const wrong = reply("m");
  wrong.header.msg_type = "kernel_info_reply";
  w.router.reply(wrong);
  assert.equal(w.tasks.stateOf("m"), "pending");
  assert.equal(w.router.unhandledCount, 1);
  w.close();
});

Deno.test("router: shutdown_notification loses the Hub, fails tasks and kills engines", async () => {
  const w = wire();
  w.engines.update({ "0": ENGINE0 });
  w.hub.connected();
  w.tasks.track("m");
  const ar = new AsyncResult(w.tasks, "m");
  const q = w.hub.query("queue_request", {});
  w.router.notification(notification("shutdown_notification", { status: "ok" }));
  assert.equal(w.hub.state, "lost");
  assert.deepEqual(w.engines.ids, []);
  assert.equal(w.shutdowns(), 1);
  await assert.rejects(q, ControllerLostError);
  await assert.rejects(ar.get(), ControllerLostError);
  w.close();
});

Deno.test("router: query replies reach the Hub link", async () => {
  const w = wire();
  const p = w.hub.query("connection_request", {});
  w.router.query(queryReply("q1", "connection_reply", { status: "ok", engines: { "0": ENGINE0 } }));
  const r = await p;
  assert.deepEqual(r.content.engines, { "0": ENGINE0 });
  w.close();
});

Deno.test("router: an engine's shutdown_reply on control or IOPub stops it", () => {
  const w = wire();
  w.engines.update({ "0": ENGINE0, "1": ENGINE1 });
  w.engines.shutdownRequested(0);
  const ctl = reply("x", { engine: ENGINE0 });
  ctl.header.msg_type = "shutdown_reply";
  ctl.metadata = { engine: ENGINE0 };
  w.router.control(ctl);
  assert.deepEqual(w.control, ["shutdown_reply"]);
  const io = iopub("x", "shutdown_reply", { status: "ok", restart: false }, { engine: ENGINE1 });
  w.router.iopub(io);
  assert.deepEqual(w.engines.ids, []);
  w.close();
});

Deno.test("router: a lost controller fails outstanding tasks and pending queries", async () => {
  const w = wire();
  w.hub.connected();
  w.tasks.track("m");
  const q = w.hub.query("queue_request", {});
  w.router.controllerLost("missed 10 heartbeats");
  await assert.rejects(q, /missed 10 heartbeats/);
  assert.ok(w.tasks.resultOf("m")!.error instanceof ControllerLostError);
  w.close();
});
