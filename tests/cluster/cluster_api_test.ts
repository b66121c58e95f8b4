/**
 * `Cluster` options and methods on local processes, one cluster for the file: `profile`
 * (the profile folder under the IPython directory, where `Client.connect({ profile })` finds
 * it), `n` defaulting to the number of cores, and `restartEngines()` (new processes, as many,
 * fresh namespaces, work runs after).
 */

import assert from "node:assert/strict";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { Client } from "../../src/client/client.ts";
import { Cluster } from "../../src/cluster/cluster.ts";
import { waitUntil } from "../helpers/sshd.ts";
import { step } from "../helpers/steps.ts";

const T = 20_000; // limit of every remote result: a lost message fails, not hangs

/** Runs `fn` with `$IPYTHONDIR` set to `dir`, restoring it afterwards. */
function withIpythonDir<R>(dir: string, fn: () => R): R {
  const saved = Deno.env.get("IPYTHONDIR");
  Deno.env.set("IPYTHONDIR", dir);
  try {
    return fn();
  } finally {
    if (saved === undefined) Deno.env.delete("IPYTHONDIR");
    else Deno.env.set("IPYTHONDIR", saved);
  }
}

Deno.test({
  name: "Cluster: profile option, n defaults to the cores, restartEngines()",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const ipython = await Deno.makeTempDir({ prefix: "ipp-cluster-api-" });
    // No `n`, no `profileDir`: the defaults under test.
    const cluster = withIpythonDir(
      ipython,
      () =>
        new Cluster({
          profile: "apitest",
          clusterId: "api",
          controllerArgs: ["--ip=127.0.0.1", "--ping=250"],
          timeoutMs: 60_000,
        }),
    );
    try {
      const cores = availableParallelism();

      await step(t, "n defaults to the number of cores", async () => {
        assert.equal(cluster.n, cores);
        await cluster.start();
        assert.equal(cluster.engineCount, cores);
        assert.equal(cluster.pids.engines.length, cores);
      });

      let client: Client;
      await step(
        t,
        "profile: files in <IPYTHONDIR>/profile_<name>, found by profile name",
        async () => {
          const profileDir = join(ipython, "profile_apitest");
          assert.equal(cluster.profileDir, profileDir);
          assert.equal(
            cluster.clientFile,
            join(profileDir, "security", "ipcontroller-api-client.json"),
          );
          assert.ok((await Deno.stat(cluster.clientFile)).isFile);
          assert.ok((await Deno.stat(cluster.engineFile)).isFile);
          client = await cluster.connect({ timeout: T, log: () => {} });
          await cluster.waitForEngines(client, cores);
          assert.equal(client.ids.length, cores, "every default engine registered");
          await using byName = await Client.connect({
            profile: "apitest",
            ipythonDir: ipython,
            clusterId: "api",
            timeout: T,
          });
          assert.equal(byName.connectionFile, cluster.clientFile);
          assert.deepEqual(byName.ids, client.ids);
          const pids = await byName.directView().apply(() => Deno.pid).get(T);
          assert.deepEqual([...pids].sort(), [...cluster.pids.engines].sort());
        },
      );

      await step(
        t,
        "restartEngines(): new processes, as many, fresh namespaces; work runs",
        async () => {
          const oldPids = [...cluster.pids.engines];
          const oldIds = [...client.ids];
          await client.directView().execute("globalThis.marker = 1").get(T);
          await cluster.restartEngines();
          const newPids = cluster.pids.engines;
          assert.equal(newPids.length, oldPids.length);
          assert.equal(cluster.engineCount, cores);
          for (const pid of newPids) assert.ok(!oldPids.includes(pid), `pid ${pid} is new`);
          for (const pid of oldPids) {
            assert.throws(() => Deno.kill(pid, "SIGCONT"), `old engine ${pid} is gone`);
          }
          await waitUntil(
            () => client.ids.length === cores && client.ids.every((id) => !oldIds.includes(id)),
            30_000,
            "the new engines to replace the old ones",
          );
          const dv = client.directView();
          const pids = await dv.apply(() => Deno.pid).get(T);
          assert.deepEqual([...pids].sort(), [...newPids].sort());
          assert.deepEqual(
            await dv.apply(() => typeof (globalThis as Record<string, unknown>).marker).get(T),
            Array(cores).fill("undefined"),
          );
          const squares = await client.loadBalancedView().map((x: number) => x * x, [1, 2, 3, 4])
            .get(T);
          assert.deepEqual(squares, [1, 4, 9, 16]);
        },
      );
    } finally {
      await cluster.stop();
      await Deno.remove(ipython, { recursive: true }).catch(() => {});
    }
  },
});
