/**
 * `Cluster.fromFile()` on a cluster that a real `ipp cluster start --daemonize` runs: connect,
 * stop its engines, start one of our own, and stop everything — processes this test did not
 * start — leaving no process or file behind. And the error for a missing file.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { Cluster } from "../../src/cluster/cluster.ts";
import { isAlive } from "../../src/cluster/cluster_file.ts";
import { IppError } from "../../src/errors.ts";
import { waitUntil } from "../helpers/sshd.ts";
import { ipp, killProcessesMentioning, processesMentioning } from "../helpers/ipp_cli.ts";

Deno.test({
  name:
    "Cluster.fromFile() adopts a daemonized ipp cluster: connect, stopEngines, startEngines, stop",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const home = await Deno.makeTempDir({ prefix: "ipp-fromfile-" });
    const profileDir = join(home, "profile");
    const env = { HOME: home };
    try {
      const start = await ipp([
        "cluster",
        "start",
        "-n",
        "2",
        "--daemonize",
        "--cluster-id=adopt",
        `--profile-dir=${profileDir}`,
        "--controller-arg=--ping=250",
      ], env);
      assert.equal(start.code, 0, start.stderr);
      const file = join(profileDir, "security", "cluster-adopt.json");
      const record = JSON.parse(await Deno.readTextFile(file));

      const cluster = await Cluster.fromFile({ profileDir, clusterId: "adopt" });
      assert.equal(cluster.clusterId, "adopt");
      assert.equal(cluster.n, 2);
      assert.equal(cluster.pids.controller, record.controller_pid);
      assert.deepEqual(cluster.pids.engines, record.engine_pids);
      assert.equal(cluster.engineCount, 2);
      // The path form finds the same cluster.
      assert.deepEqual((await Cluster.fromFile(file)).pids, cluster.pids);

      const client = await cluster.connect({ timeout: 10_000, log: () => {} });
      assert.deepEqual(client.ids, [0, 1]);
      assert.deepEqual(await client.loadBalancedView().map((x: number) => x + 1, [1, 2]), [2, 3]);

      // Engines the daemon started, stopped from here.
      await cluster.stopEngines();
      assert.equal(cluster.engineCount, 0);
      assert.ok(record.engine_pids.every((pid: number) => !isAlive(pid)), "engines gone");
      await waitUntil(() => client.ids.length === 0, 10_000, "the engines to unregister");
      assert.ok(isAlive(record.pid) && isAlive(record.controller_pid), "controller still up");
      // The daemon saw its engines go (exit 0: reported, not restarted) and updated the file.
      await waitUntil(
        () => JSON.parse(Deno.readTextFileSync(file)).engine_pids.length === 0,
        10_000,
        "the cluster file to list no engines",
      );

      // An engine of our own joins the adopted controller.
      await cluster.startEngines(1);
      await cluster.waitForEngines(client, 1);
      assert.deepEqual(await client.directView().apply(() => 6 * 7), [42]);

      await cluster.stop();
      await waitUntil(
        () => processesMentioning(profileDir).length === 0,
        15_000,
        "every process of the cluster to exit",
      );
      assert.ok(!isAlive(record.pid), "the ipp cluster start process is gone");
      assert.deepEqual([...Deno.readDirSync(join(profileDir, "security"))].map((e) => e.name), []);
    } finally {
      killProcessesMentioning(home);
      await Deno.remove(home, { recursive: true });
    }
  },
});

Deno.test({
  name: "ipp cluster start --restart replaces a SIGKILLed engine, and the cluster file follows",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const home = await Deno.makeTempDir({ prefix: "ipp-fromfile-" });
    const profileDir = join(home, "profile");
    try {
      const start = await ipp([
        "cluster",
        "start",
        "-n",
        "2",
        "--daemonize",
        "--restart",
        "--cluster-id=phoenix",
        `--profile-dir=${profileDir}`,
        "--controller-arg=--ping=250",
      ], { HOME: home });
      assert.equal(start.code, 0, start.stderr);
      const file = join(profileDir, "security", "cluster-phoenix.json");
      const before = JSON.parse(await Deno.readTextFile(file)).engine_pids as number[];
      assert.equal(before.length, 2);
      Deno.kill(before[0], "SIGKILL");
      let after: number[] = [];
      await waitUntil(
        () => {
          after = JSON.parse(Deno.readTextFileSync(file)).engine_pids;
          return after.length === 2 && !after.includes(before[0]);
        },
        20_000,
        "the cluster file to list the replacement engine",
      );
      assert.ok(after.includes(before[1]));
      // The replacement registers and runs work; fromFile() sees the current processes.
      const cluster = await Cluster.fromFile({ profileDir, clusterId: "phoenix" });
      assert.deepEqual(cluster.pids.engines, after);
      const client = await cluster.connect({ timeout: 10_000, log: () => {} });
      // The killed engine's id goes once the controller misses its heartbeats; the new one is 2.
      await waitUntil(
        () => client.ids.length === 2 && client.ids.includes(2),
        20_000,
        "the survivor and the replacement registered",
      );
      const pids = await client.directView().apply(() => Deno.pid);
      assert.deepEqual([...pids].sort(), [...after].sort());
      await cluster.stop();
      await waitUntil(
        () => processesMentioning(profileDir).length === 0,
        15_000,
        "no process left",
      );
    } finally {
      killProcessesMentioning(home);
      await Deno.remove(home, { recursive: true });
    }
  },
});

Deno.test("Cluster.fromFile() without a cluster file names where it looked and what to run", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ipp-fromfile-" });
  try {
    const expected = join(dir, "security", "cluster-nope.json");
    await assert.rejects(
      Cluster.fromFile({ profileDir: dir, clusterId: "nope" }),
      (e) =>
        e instanceof IppError && e.message.includes(expected) &&
        e.message.includes("ipp cluster start --daemonize"),
    );
    await Deno.mkdir(join(dir, "security"));
    await Deno.writeTextFile(expected, '{"hello": 1}');
    await assert.rejects(
      Cluster.fromFile(expected),
      (e) => e instanceof IppError && /is not an ipp cluster file/.test(e.message),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
