/**
 * Our engine against the real Python `ipcontroller` 7.1 and against our controller, driven by
 * a real Python `ipyparallel.Client` (tests/engine/peers/engine_client.py), alone and in a mixed
 * fleet with Python `ipengine`s (PROTOCOL.md §4, §6, §11.2). Every scenario runs once per
 * controller, named in the test name.
 */

import assert from "node:assert/strict";
import { needsPython } from "../helpers/interop.ts";
import {
  ClusterDirs,
  CONTROLLERS,
  hubRegistered,
  registeredId,
  runClient,
  startController,
  startDenoEngine,
  startPythonEngine,
} from "./procs.ts";

const ignore = needsPython("ipyparallel", "zmq");

type Err = { type: string; ename: string; evalue: string; traceback: string } | null;

for (const { kind, label } of CONTROLLERS) {
  Deno.test({
    name: "a Deno engine registers with the controller, runs execute/apply from a Python " +
      `client, and exits 0 on rc.shutdown ${label}`,
    ignore,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      await using dirs = await ClusterDirs.create();
      await using _controller = await startController(dirs, [], kind);
      await using engine = startDenoEngine(dirs);
      const id = await registeredId(engine);
      await hubRegistered(dirs, 1);
      const out = await runClient(dirs, "basic", { id, engines: 1 });

      assert.deepEqual(out.ids, [id]);
      assert.deepEqual(
        (out.execute_result as { data: Record<string, string> }).data["text/plain"],
        "42",
      );
      assert.equal(out.stdout, "hello from deno\n");
      assert.equal(out.stderr, "warned\n");
      const thrown = out.thrown as Err;
      assert.equal(thrown?.type, "RemoteError");
      assert.equal(thrown?.ename, "RangeError");
      assert.equal(thrown?.evalue, "out of range!");
      assert.match(thrown!.traceback, /RangeError: out of range!/);
      // an unhandled rejection is reported, and the engine keeps serving
      assert.match(String(out.rejection_stderr), /nobody catches me/);
      assert.equal(
        (out.after_rejection as { data: Record<string, string> }).data["text/plain"],
        "43",
      );
      assert.equal(out.lb_apply, 9);
      assert.equal(out.direct_apply, 3);
      assert.deepEqual(out.all_execute, [0]);
      assert.equal((out.broadcast as number[]).length, 1);
      const pickle = out.pickle as Err;
      assert.equal(pickle?.ename, "UnsupportedSerialization");
      assert.match(pickle!.evalue, /runs JavaScript/);
      // queue_status counts what the Hub saw the engine complete
      const qs = out.queue_status as Record<string, { queue: number; completed: number }>;
      assert.equal(qs[String(id)].queue, 0);
      assert.ok(qs[String(id)].completed >= 8, JSON.stringify(qs));
      assert.deepEqual(out.ids_after_shutdown, []);

      const status = await engine.exitWithin(10_000);
      assert.ok(status, `engine still running after shutdown:\n${engine.stderr}`);
      assert.equal(status.code, 0, engine.stderr);
      assert.match(engine.stderr, /shutdown requested by a client/);
    },
  });

  Deno.test({
    name: "mixed fleet: two ipengines and two Deno engines each get only their own work, and a " +
      `10 s synchronous loop does not cost a Deno engine its heartbeat ${label}`,
    ignore,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      await using dirs = await ClusterDirs.create();
      // 3 missed 1 s beats unregister an engine: a 10 s stall would be noticed.
      await using _controller = await startController(dirs, [
        "--HeartMonitor.max_heartmonitor_misses=3",
      ], kind);
      await using py1 = startPythonEngine(dirs);
      await using py2 = startPythonEngine(dirs);
      await using deno1 = startDenoEngine(dirs, ["--id=10"]);
      await using deno2 = startDenoEngine(dirs, ["--id", "11"]);
      assert.equal(await registeredId(deno1), 10);
      assert.equal(await registeredId(deno2), 11);
      await hubRegistered(dirs, 4);
      const out = await runClient(dirs, "mixed", {
        engines: 4,
        deno: [10, 11],
        busy_ms: 10_000,
        settle: 2,
      }, 90_000);

      // requested ids are granted, and move the Hub's counter past them
      const py = out.python_ids as number[];
      assert.equal(py.length, 2);
      assert.deepEqual(out.ids, [...py, 10, 11].sort((a, b) => a - b));
      assert.deepEqual(out.deno_kind, ['"deno:1"', '"deno:1"']);
      assert.deepEqual(out.py_kind, [["python", 1], ["python", 1]]);
      assert.deepEqual(out.py_apply, [1, 1]);
      for (const e of out.deno_pickle as Err[]) {
        assert.equal(e?.ename, "UnsupportedSerialization");
        assert.match(e!.evalue, /runs JavaScript/);
      }
      assert.ok((out.busy_seconds as number) >= 9.5, String(out.busy_seconds));
      assert.equal(out.busy_result, "true");
      // all four still registered after the long computation
      assert.deepEqual(out.ids_after_busy, out.ids);
      const qs = out.queue_status as Record<string, { completed: number }>;
      // python: execute, pull, apply; deno: execute, execute, apply(pickle) (+ the loop on 10)
      assert.equal(qs[String(py[0])].completed, 3);
      assert.equal(qs[String(py[1])].completed, 3);
      assert.equal(qs["10"].completed, 4);
      assert.equal(qs["11"].completed, 3);
      for (const p of [py1, py2, deno1, deno2]) {
        assert.equal(await p.exitWithin(0), undefined, `${p.name} exited:\n${p.stderr}`);
      }
    },
  });

  Deno.test({
    name: `SIGINT through rc.send_signal stops an endless loop; abort answers queued work ${label}`,
    ignore,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      await using dirs = await ClusterDirs.create();
      await using _controller = await startController(dirs, [], kind);
      await using engine = startDenoEngine(dirs);
      const id = await registeredId(engine);
      await hubRegistered(dirs, 1);
      const out = await runClient(dirs, "interrupt", { id });
      const e = out.interrupted as Err;
      assert.equal(e?.ename, "KernelInterrupted");
      assert.match(e!.evalue, /namespace was reset/);
      // the interrupt restarted the namespace
      assert.equal(
        (out.after_interrupt as { data: Record<string, string> }).data["text/plain"],
        '"undefined"',
      );
      assert.equal((out.aborted as Err)?.type, "TaskAborted");
      assert.equal(
        (out.never as { data: Record<string, string> }).data["text/plain"],
        '"undefined"',
      );
    },
  });

  Deno.test({
    name: `a Deno engine exits with 'controller went away' when the controller is killed ${label}`,
    ignore,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      await using dirs = await ClusterDirs.create();
      const controller = await startController(dirs, [], kind);
      try {
        await using engine = startDenoEngine(dirs, ["--max-heartbeat-misses=2"]);
        await registeredId(engine);
        // first heartbeat answered (the engine is fully registered)
        await new Promise((r) => setTimeout(r, 1500));
        controller.signal("SIGKILL");
        // 2 checks of 1000 + 500 ms, plus slack
        const status = await engine.exitWithin(10_000);
        assert.ok(status, `engine did not exit:\n${engine.stderr}`);
        assert.equal(status.code, 1);
        assert.match(engine.stderr, /controller went away/);
      } finally {
        await controller[Symbol.asyncDispose]();
      }
    },
  });
}
