/**
 * `Cluster` with local processes: an engine killed with SIGKILL is reported through
 * `onEvent` and, with `restart: true`, replaced by a new engine that registers and runs work
 * (without it, nothing is restarted); `denoArgs` reach every process it launches.
 */

import assert from "node:assert/strict";
import { Cluster } from "../../src/cluster/cluster.ts";
import type { ClusterEvent } from "../../src/cluster/options.ts";
import { waitUntil } from "../helpers/sshd.ts";

/** Command line of a process, arguments joined by spaces ("" once it is gone). */
function cmdline(pid: number): string {
  try {
    return Deno.readTextFileSync(`/proc/${pid}/cmdline`).split("\0").join(" ");
  } catch {
    return "";
  }
}

async function crashOneEngine(restart: boolean) {
  const dir = await Deno.makeTempDir({ prefix: "ipp-cluster-crash-" });
  const events: ClusterEvent[] = [];
  const cluster = new Cluster({
    n: 2,
    profileDir: dir,
    clusterId: "crash",
    controllerArgs: ["--ping=250"],
    restart,
    timeoutMs: 60_000,
    onEvent: (e) => events.push(e),
  });
  try {
    const client = await cluster.startAndConnect({ timeout: 30_000, log: () => {} });
    const enginePids = await client.directView().apply(() => Deno.pid);
    const [victim, survivor] = cluster.pids.engines;
    assert.ok(enginePids.includes(victim), "the Cluster's pids are the engines' own");
    Deno.kill(victim, "SIGKILL");
    await waitUntil(
      () => events.some((e) => e.type === "engineExited"),
      20_000,
      "the crash to be reported",
    );
    const exited = events.find((e) => e.type === "engineExited")!;
    assert.equal(exited.type, "engineExited");
    if (exited.type !== "engineExited") return;
    assert.equal(exited.pid, victim);
    assert.equal(exited.code, 137, "128 + SIGKILL");
    assert.equal(exited.crashed, true);
    assert.equal(exited.restarting, restart);
    assert.match(
      exited.message,
      new RegExp(`engine \\d \\(pid ${victim}\\) crashed with status 137`),
    );
    return { cluster, client, events, victim, survivor };
  } finally {
    // The test stops the cluster and removes its folder through cleanup().
    cleanups.push(async () => {
      await cluster.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    });
  }
}

const cleanups: (() => Promise<void>)[] = [];
async function cleanup() {
  for (const c of cleanups.splice(0)) await c();
}

Deno.test({
  name: "A SIGKILLed engine is reported and, with restart: true, replaced by one that runs work",
  async fn() {
    try {
      const { cluster, client, events, victim, survivor } = (await crashOneEngine(true))!;
      await waitUntil(
        () => events.some((e) => e.type === "engineRestarted"),
        20_000,
        "the replacement to start",
      );
      const restarted = events.find((e) => e.type === "engineRestarted")!;
      assert.notEqual(restarted.pid, victim);
      assert.deepEqual(cluster.pids.engines.sort(), [survivor, restarted.pid!].sort());
      assert.equal(cluster.engineCount, 2);
      // The new engine registers (a third id: the killed one's is not reused) and runs work.
      await waitUntil(() => client.ids.length === 2 && client.ids.includes(2), 30_000, "engine 2");
      assert.equal(await client.engine(client.ids.indexOf(2)).apply(() => Deno.pid), restarted.pid);
      const squares = await client.loadBalancedView().map((x: number) => x * x, [1, 2, 3, 4]);
      assert.deepEqual(squares, [1, 4, 9, 16]);
      assert.deepEqual(events.map((e) => e.type), ["engineExited", "engineRestarted"]);
    } finally {
      await cleanup();
    }
  },
});

Deno.test({
  name: "Without restart, a SIGKILLed engine is reported and not replaced",
  async fn() {
    try {
      const { cluster, client, events, survivor } = (await crashOneEngine(false))!;
      await waitUntil(() => client.ids.length === 1, 30_000, "the controller to drop the engine");
      assert.deepEqual(cluster.pids.engines, [survivor]);
      assert.equal(cluster.engineCount, 1);
      assert.deepEqual(await client.directView().apply(() => 6 * 7), [42]);
      assert.deepEqual(events.map((e) => e.type), ["engineExited"]);
    } finally {
      await cleanup();
    }
  },
});

Deno.test({
  name: "denoArgs reach the controller and the engines (a V8 heap limit the engines report)",
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "ipp-cluster-denoargs-" });
    const flag = "--v8-flags=--max-old-space-size=321";
    const cluster = new Cluster({
      n: 2,
      profileDir: dir,
      clusterId: "denoargs",
      controllerArgs: ["--ping=250"],
      denoArgs: [flag],
      timeoutMs: 60_000,
    });
    try {
      const client = await cluster.startAndConnect({ timeout: 30_000, log: () => {} });
      const { controller, engines } = cluster.pids;
      for (const pid of [controller!, ...engines]) {
        const cmd = cmdline(pid);
        assert.ok(cmd.includes(` --quiet ${flag} `), `flag before main.ts in: ${cmd}`);
        assert.ok(cmd.indexOf(flag) < cmd.indexOf("main.ts"));
      }
      // The engines' V8 got the limit (321 MiB of old space, plus young space; without the
      // flag it is a share of this machine's memory, gigabytes).
      const limits = await client.directView().apply(async () => {
        const v8 = await import("node:v8");
        return Math.round(v8.getHeapStatistics().heap_size_limit / 2 ** 20);
      });
      for (const mb of limits) assert.ok(mb >= 321 && mb < 640, `heap limit ${mb} MiB`);
    } finally {
      await cluster.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "Without onEvent, a crash is written to stderr as one line",
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "ipp-cluster-stderr-" });
    const lines: string[] = [];
    const original = console.error;
    console.error = (...args: unknown[]) => lines.push(args.join(" "));
    const cluster = new Cluster({ n: 1, profileDir: dir, clusterId: "stderr", timeoutMs: 60_000 });
    try {
      await cluster.startAndConnect({ timeout: 30_000, log: () => {} });
      const [pid] = cluster.pids.engines;
      Deno.kill(pid, "SIGKILL");
      await waitUntil(() => lines.length > 0, 20_000, "the crash on stderr");
      assert.deepEqual(lines, [`ipp cluster: engine 0 (pid ${pid}) crashed with status 137`]);
    } finally {
      console.error = original;
      await cluster.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
