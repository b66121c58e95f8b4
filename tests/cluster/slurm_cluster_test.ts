/**
 * `Cluster` with `engines: { launcher: "slurm" }` on a real single-node Slurm started by the
 * test (`slurm_cluster.ts`): the engines are the tasks of one `sbatch` job, register, run
 * work, and `stop()` cancels the job and leaves no engine behind; a job that ends on its own
 * is noticed through `squeue` and reported.
 */

import assert from "node:assert/strict";
import type { ClusterEvent } from "../../src/cluster/options.ts";
import { withLocalCluster } from "../helpers/local_cluster.ts";
import { processes, waitUntil } from "../helpers/sshd.ts";
import { needsSlurm, SlurmCluster } from "./slurm_cluster.ts";

const ignore = needsSlurm();

/** Engine processes of a profile folder (started by slurmstepd, not by this test; not srun). */
function engines(profileDir: string): number[] {
  return processes()
    .filter((p) =>
      p.cmdline.startsWith(`${Deno.execPath()} run`) && p.cmdline.includes(profileDir) &&
      /\bmain\.ts engine\b/.test(p.cmdline)
    )
    .map((p) => p.pid);
}

Deno.test({
  name: "Cluster runs engines as a real Slurm job, maps on them, and stop() scancels the job",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using slurm = await SlurmCluster.start();
    const events: ClusterEvent[] = [];
    await withLocalCluster(
      {
        n: 2,
        clusterId: "slurm",
        controllerArgs: ["--ping=250"],
        onEvent: (e) => events.push(e),
        engines: { launcher: "slurm", partition: slurm.partition, env: slurm.env },
      },
      async (cluster, dir) => {
        try {
          const client = await cluster.startAndConnect({ timeout: 30_000, log: () => {} });
          assert.equal(cluster.jobIds.length, 1, "one job for both engines");
          assert.deepEqual(cluster.pids.engines, [], "a job has no pid here");
          assert.equal(cluster.engineCount, 2);
          const [jobId] = cluster.jobIds;
          assert.deepEqual(await slurm.jobs(), [jobId]);
          // Each engine is a task of that job.
          const env: { job?: string; task?: string }[] = await client.directView().apply(() => ({
            job: Deno.env.get("SLURM_JOB_ID"),
            task: Deno.env.get("SLURM_PROCID"),
          }));
          assert.deepEqual(env.map((e) => e.job), [jobId, jobId]);
          assert.deepEqual(env.map((e) => e.task).sort(), ["0", "1"]);
          assert.equal(engines(dir).length, 2);
          const squares = await client.loadBalancedView().map((x: number) => x * x, [1, 2, 3, 4]);
          assert.deepEqual(squares, [1, 4, 9, 16]);
        } finally {
          await cluster.stop();
        }
        await waitUntil(async () => (await slurm.jobs()).length === 0, 30_000, "the job to leave");
        await waitUntil(() => engines(dir).length === 0, 30_000, "the engines to exit");
        assert.deepEqual(events, [], "stopping is not reported as a crash");
      },
    );
  },
});

Deno.test({
  name: "A Slurm engines job that ends on its own (engines shut down) is noticed and reported",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using slurm = await SlurmCluster.start();
    const events: ClusterEvent[] = [];
    await withLocalCluster(
      {
        n: 1,
        clusterId: "slurm-end",
        controllerArgs: ["--ping=250"],
        restart: true,
        onEvent: (e) => events.push(e),
        engines: { launcher: "slurm", env: slurm.env },
      },
      async (cluster) => {
        const client = await cluster.startAndConnect({ timeout: 30_000, log: () => {} });
        const [jobId] = cluster.jobIds;
        await client.shutdown({ targets: "all" });
        await waitUntil(() => events.length > 0, 30_000, "the job's end to be reported");
        const [event] = events;
        assert.equal(event.type, "engineExited");
        if (event.type !== "engineExited") return;
        assert.match(event.message, new RegExp(`engines job ${jobId} \\(1 tasks\\) exited`));
        assert.equal(event.restarting, false, "a clean end is not restarted");
        assert.equal(cluster.engineCount, 0);
        assert.deepEqual(await slurm.jobs(), []);
      },
    );
  },
});

Deno.test({
  name: "Cluster runs its controller and its engines as two real Slurm jobs",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using slurm = await SlurmCluster.start();
    const events: ClusterEvent[] = [];
    await withLocalCluster(
      {
        n: 2,
        clusterId: "slurm-both",
        controllerArgs: ["--ping=250"],
        onEvent: (e) => events.push(e),
        controller: { launcher: "slurm", env: slurm.env },
        engines: { launcher: "slurm", env: slurm.env },
      },
      async (cluster, dir) => {
        try {
          const client = await cluster.startAndConnect({ timeout: 30_000, log: () => {} });
          assert.equal(cluster.pids.controller, undefined, "the controller is a job here");
          const jobs = await slurm.jobs();
          assert.equal(jobs.length, 2, "a controller job and an engines job");
          assert.ok(jobs.includes(cluster.jobIds[0]));
          const squares = await client.loadBalancedView().map((x: number) => x * x, [5, 6, 7]);
          assert.deepEqual(squares, [25, 36, 49]);
        } finally {
          await cluster.stop();
        }
        await waitUntil(
          async () => (await slurm.jobs()).length === 0,
          30_000,
          "both jobs to leave",
        );
        await waitUntil(
          () => processes().every((p) => !p.cmdline.includes(dir) || p.cmdline.startsWith("srun")),
          30_000,
          "the controller and engines to exit",
        );
        const left = [...Deno.readDirSync(`${dir}/security`)].map((e) => e.name);
        assert.ok(!left.some((f) => f.startsWith("ipcontroller-")), `files left: ${left}`);
        assert.deepEqual(events, []);
      },
    );
  },
});
