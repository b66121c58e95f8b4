/**
 * Our controller (`deno run -A src/cli/controller.ts`) serving real Python ipyparallel 7.1
 * engines (`ipengine --file=…`) and clients (`ipyparallel.Client`), PROTOCOL.md §11.1.
 */
import assert from "node:assert/strict";
import { needsPython } from "../helpers/interop.ts";
import { Cluster } from "./peers/cluster.ts";

const ignore = needsPython("ipyparallel", "psutil");

/** A cluster with our controller and `n` Python engines, files written. */
async function cluster(n: number, extra: string[] = []): Promise<Cluster> {
  const c = await Cluster.create();
  try {
    c.startController(extra);
    await c.waitForFile(c.engineFile);
    await c.waitForFile(c.clientFile);
    for (let i = 0; i < n; i++) c.startEngine();
    return c;
  } catch (e) {
    await c[Symbol.asyncDispose]();
    throw e;
  }
}

async function withLogs<T>(c: Cluster, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw new Error(`${(e as Error).message}\n${await c.logs()}`, { cause: e });
  }
}

Deno.test({
  name: "a Python client runs direct, load-balanced and broadcast work and Hub queries",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using c = await cluster(2);
    const r = await withLogs(c, () => c.runClient("client_basic.py", ["2"]));
    assert.deepEqual(r.ids, [0, 1]);
    assert.deepEqual(r.apply, [42, 42]);
    assert.equal(r.stdout, "hello from engine\n");
    assert.equal(r.execute_result, "15");
    assert.equal(r.remote_error, "ZeroDivisionError");
    assert.deepEqual(r.map, Array.from({ length: 16 }, (_, i) => i * i));
    assert.deepEqual(r.map_engines, [0, 1]);
    assert.deepEqual(r.pull, [7, 7]);
    assert.deepEqual(r.gather, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const qs = r.queue_status as Record<string, { queue: number; tasks: number }>;
    assert.equal(qs.unassigned, 0);
    assert.deepEqual(Object.keys(qs).sort(), ["0", "1", "unassigned"]);
    assert.equal(qs["0"].queue + qs["1"].queue + qs["0"].tasks + qs["1"].tasks, 0);
    assert.deepEqual(r.broadcast, [42, 42]);
    assert.deepEqual(r.broadcast_coalescing, [43, 43]);
    assert.deepEqual(r.broadcast_execute_pull, [11, 11]);
    assert.equal(r.in_history, true);
    assert.equal(r.get_result, 3);
    assert.deepEqual(r.db, [{ queue: "task", has_engine: true, completed: true }]);
    assert.deepEqual(r.resubmit, [3]);
    assert.equal(r.db_stdout, "stored\n");
    assert.equal(r.db_queue, "mux");
    assert.equal(r.history_after_purge, 0);
    assert.equal(r.unknown_result, "RemoteError");
  },
});

Deno.test({
  name: "shutdown(hub=True) stops the controller with exit 0 and removes its connection files",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using c = await cluster(1);
    const ctl = c.procs[0];
    const r = await withLogs(c, () => c.runClient("client_shutdown.py"));
    assert.equal(r.notified, true);
    const status = await ctl.child.status;
    assert.equal(status.code, 0, await c.logs());
    await assert.rejects(Deno.stat(c.clientFile), Deno.errors.NotFound);
    await assert.rejects(Deno.stat(c.engineFile), Deno.errors.NotFound);
  },
});

Deno.test({
  name: "SIGTERM stops the controller cleanly: exit 0, connection files removed",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using c = await cluster(0);
    const ctl = c.procs[0];
    await new Promise((r) => setTimeout(r, 300));
    Deno.kill(ctl.pid, "SIGTERM");
    const status = await ctl.child.status;
    assert.equal(status.code, 0, await c.logs());
    await assert.rejects(Deno.stat(c.clientFile), Deno.errors.NotFound);
  },
});

for (const mode of ["group", "engine"] as const) {
  const how = mode === "group"
    ? "engine and nanny killed: heart failure"
    : "engine killed: the nanny unregisters it";
  Deno.test({
    name: `kill -9 (${how}): direct tasks fail with EngineError, retried ` +
      "load-balanced tasks run elsewhere, records agree, within 2 periods + 1 s",
    ignore,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      await using c = await cluster(2);
      const r = await withLogs(c, () => c.runClient("client_kill.py", [mode]));
      const deadline = 2 * 0.25 + 1; // two heartbeat periods (--ping=250) plus one second
      assert.equal(r.lb_on_victim, 1, JSON.stringify(r));
      assert.deepEqual(r.direct_errors, ["EngineError", "EngineError"]);
      assert.deepEqual(r.lb_ran_on_survivor, [true, true]);
      assert.deepEqual(r.direct_records, ["EngineError", "EngineError"]);
      assert.deepEqual(r.lb_records_on_survivor, [true]);
      assert.deepEqual(r.lb_records_status, ["ok"]);
      assert.equal((r.engines_after as number[]).length, 1);
      for (const k of ["direct_failed_at", "lb_done_at", "records_at"]) {
        assert.ok((r[k] as number) < deadline, `${k} = ${r[k]} s ≥ ${deadline} s`);
      }
    },
  });
}

Deno.test({
  name: "ipp controller --help lists the flags; an unknown flag exits 2",
  async fn() {
    const run = (args: string[]) =>
      new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          new URL("../../src/cli/controller.ts", import.meta.url).pathname,
          ...args,
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
    const help = await run(["--help"]);
    assert.equal(help.code, 0);
    const text = new TextDecoder().decode(help.stdout);
    for (const flag of ["--profile", "--profile-dir", "--ipython-dir", "--cluster-id", "--ip"]) {
      assert.ok(text.includes(flag), flag);
    }
    for (const flag of ["--ping", "--dictdb", "--sqlitedb", "--nodb", "--log-level"]) {
      assert.ok(text.includes(flag), flag);
    }
    for (const flag of ["--scheme", "--hwm", "--reuse", "Examples:"]) {
      assert.ok(text.includes(flag), flag);
    }
    const bad = await run(["--bogus=1"]);
    assert.equal(bad.code, 2);
    assert.match(new TextDecoder().decode(bad.stderr), /Unknown option --bogus=1/);
    const badPing = await run(["--ping", "soon"]);
    assert.equal(badPing.code, 2);
  },
});
