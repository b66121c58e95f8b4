import assert from "node:assert/strict";
import { createActor } from "xstate";
import {
  isFinalTaskState,
  nextTaskState,
  startTaskActor,
  TASK_TRANSITIONS,
  type TaskEvent,
  taskLogic,
  type TaskState,
} from "../../src/client/actors/task_machine.ts";

function run(events: TaskEvent[]): { value: string; done: boolean } {
  const actor = createActor(taskLogic).start();
  for (const e of events) actor.send(e);
  const s = actor.getSnapshot();
  actor.stop();
  return { value: s.value as string, done: s.status === "done" };
}

const ok = (outputComplete = false): TaskEvent => ({ type: "REPLY", status: "ok", outputComplete });
const err = (outputComplete = false): TaskEvent => ({
  type: "REPLY",
  status: "error",
  outputComplete,
});
const aborted: TaskEvent = { type: "REPLY", status: "aborted", outputComplete: true };

Deno.test("task: busy, reply, idle ends done", () => {
  assert.deepEqual(run([{ type: "STARTED" }, ok(), { type: "IOPUB_IDLE" }]), {
    value: "done",
    done: true,
  });
});

Deno.test("task: an ok reply waits in repliedOk until the idle arrives", () => {
  assert.deepEqual(run([{ type: "STARTED" }, ok()]), { value: "repliedOk", done: false });
});

Deno.test("task: idle before reply (PROTOCOL.md §6.6) waits in outputDone, reply ends it", () => {
  assert.deepEqual(run([{ type: "STARTED" }, { type: "IOPUB_IDLE" }]), {
    value: "outputDone",
    done: false,
  });
  assert.equal(run([{ type: "STARTED" }, { type: "IOPUB_IDLE" }, ok()]).value, "done");
  assert.equal(run([{ type: "STARTED" }, { type: "IOPUB_IDLE" }, err()]).value, "failed");
});

Deno.test("task: a reply with output complete ends at once", () => {
  assert.equal(run([ok(true)]).value, "done");
  assert.equal(run([err(true)]).value, "failed");
});

Deno.test("task: an engine error with engine_info waits for the idle, then fails", () => {
  assert.equal(run([{ type: "STARTED" }, err()]).value, "repliedError");
  assert.equal(run([{ type: "STARTED" }, err(), { type: "IOPUB_IDLE" }]).value, "failed");
});

Deno.test("task: abort of a queued task waits for the aborted reply", () => {
  assert.deepEqual(run([{ type: "ABORT" }]), { value: "aborting", done: false });
  assert.equal(run([{ type: "ABORT" }, { type: "STARTED" }, aborted]).value, "aborted");
});

Deno.test("task: abort of a running task is ignored and its ok reply ends it done", () => {
  const r = run([{ type: "STARTED" }, { type: "ABORT" }]);
  assert.equal(r.value, "running");
  assert.equal(run([{ type: "STARTED" }, { type: "ABORT" }, ok(true)]).value, "done");
});

Deno.test("task: abort requested but the task had started ends done", () => {
  assert.equal(
    run([{ type: "ABORT" }, { type: "STARTED" }, ok(), { type: "IOPUB_IDLE" }]).value,
    "done",
  );
});

Deno.test("task: engine death fails a pending, running or output-complete task", () => {
  assert.equal(run([{ type: "ENGINE_DIED" }]).value, "failed");
  assert.equal(run([{ type: "STARTED" }, { type: "ENGINE_DIED" }]).value, "failed");
  assert.equal(run([{ type: "IOPUB_IDLE" }, { type: "ENGINE_DIED" }]).value, "failed");
});

Deno.test("task: engine death after an ok reply keeps the result (done)", () => {
  assert.equal(run([ok(), { type: "ENGINE_DIED" }]).value, "done");
  assert.equal(run([err(), { type: "ENGINE_DIED" }]).value, "failed");
});

Deno.test("task: timeout fails a queued task", () => {
  assert.deepEqual(run([{ type: "TIMEOUT" }]), { value: "failed", done: true });
});

Deno.test("task: resubmitted is final", () => {
  assert.deepEqual(run([{ type: "RESUBMITTED" }]), { value: "resubmitted", done: true });
  assert.equal(run([{ type: "STARTED" }, { type: "RESUBMITTED" }]).value, "resubmitted");
});

Deno.test("task: controller lost fails an outstanding task but keeps a known result", () => {
  assert.equal(run([{ type: "CONTROLLER_LOST" }]).value, "failed");
  assert.equal(run([ok(), { type: "CONTROLLER_LOST" }]).value, "done");
});

Deno.test("task: events after a final state change nothing", () => {
  const actor = createActor(taskLogic).start();
  actor.send(ok(true));
  actor.send({ type: "ENGINE_DIED" });
  assert.equal(actor.getSnapshot().value, "done");
  for (const state of ["done", "failed", "aborted", "resubmitted"] as const) {
    for (const e of [ok(), err(true), aborted, { type: "STARTED" } as TaskEvent]) {
      assert.equal(nextTaskState(state, e), state);
    }
  }
});

Deno.test("task: the table has a row for every state, and only final states have no way out", () => {
  const states = Object.keys(TASK_TRANSITIONS) as TaskState[];
  assert.deepEqual(states.sort(), [
    "aborted",
    "aborting",
    "done",
    "failed",
    "outputDone",
    "pending",
    "repliedError",
    "repliedOk",
    "resubmitted",
    "running",
  ]);
  for (const s of states) {
    assert.equal(Object.keys(TASK_TRANSITIONS[s]).length === 0, isFinalTaskState(s), s);
  }
});

Deno.test("task: an actor reaching a final state completes, with status done and the state as value", () => {
  const seen: string[] = [];
  const actor = createActor(taskLogic).start();
  actor.subscribe({ complete: () => seen.push("complete") });
  actor.send({ type: "STARTED" });
  assert.equal(actor.getSnapshot().status, "active");
  actor.send(err(true));
  assert.deepEqual(seen, ["complete"]);
  assert.equal(actor.getSnapshot().status, "done");
  assert.equal(actor.getSnapshot().value, "failed");
});

Deno.test("isFinalTaskState names exactly the final states", () => {
  for (const s of ["done", "failed", "aborted", "resubmitted"]) assert.ok(isFinalTaskState(s));
  for (const s of ["pending", "aborting", "running", "outputDone", "repliedOk"]) {
    assert.ok(!isFinalTaskState(s));
  }
});

Deno.test("task: output time-out settles a replied task with its reply's outcome", () => {
  assert.equal(run([ok(), { type: "OUTPUT_TIMEOUT" }]).value, "done");
  assert.equal(run([err(), { type: "OUTPUT_TIMEOUT" }]).value, "failed");
  assert.equal(run([{ type: "OUTPUT_TIMEOUT" }]).value, "pending");
});

Deno.test("startTaskActor: actors share no state; each starts in pending", () => {
  for (let i = 0; i < 3; i++) {
    const task = startTaskActor();
    assert.equal(task.getSnapshot().value, "pending");
    task.send({ type: "STARTED" });
    assert.equal(task.getSnapshot().value, "running");
    task.send({ type: "REPLY", status: "ok", outputComplete: true });
    assert.equal(task.getSnapshot().value, "done");
    assert.equal(task.getSnapshot().status, "done");
  }
  // A fresh one is still in its initial state after the others moved on.
  const fresh = startTaskActor();
  assert.equal(fresh.getSnapshot().value, "pending");
  fresh.send({ type: "ABORT" });
  assert.equal(fresh.getSnapshot().value, "aborting");
});
