/**
 * `Cluster` with `engines: { launcher: "mpi" }` (`mpi_launcher.ts`) through a real Open MPI
 * `mpiexec` (Debian's `openmpi-bin`): the engines are the ranks of one `mpiexec`, their ids
 * are the ranks, and `stop()` leaves no `mpiexec` or engine process behind (counted in
 * `/proc`). Skips with a message without `mpiexec`, unless `IPP_INTEROP=1`.
 */

import assert from "node:assert/strict";
import { Cluster } from "../../src/cluster/cluster.ts";
import { mpiexecArgs, mpiexecEnv } from "../../src/cluster/mpi_launcher.ts";
import { IPP_MAIN } from "../../src/cluster/local_launcher.ts";
import { mpiRank } from "../../src/cli/engine.ts";
import { UsageError } from "../../src/cli/engine.ts";
import { exists, skipUnlessPresent } from "../helpers/interop.ts";
import { processes } from "../helpers/sshd.ts";

const MPIEXEC = "/usr/bin/mpiexec";

function needsMpiexec(): boolean {
  return skipUnlessPresent(
    "MPI launcher tests",
    exists(MPIEXEC) ? null : `${MPIEXEC} not found: apt-get install -y openmpi-bin`,
  );
}

/**
 * mpiexec processes and MPI engines of this machine that belong to this test, recognised by
 * its profile folder on their command line (all processes, not only descendants, so that a
 * rank orphaned by mpiexec would be counted too).
 */
function mpiProcesses(dir: string): { mpiexec: number[]; engines: number[] } {
  const mine = processes().filter((p) => p.cmdline.includes(dir));
  return {
    mpiexec: mine.filter((p) => /(^|\/)mpiexec /.test(p.cmdline)).map((p) => p.pid),
    engines: mine.filter((p) =>
      /\bmain\.ts engine .*--mpi\b/.test(p.cmdline) &&
      !/(^|\/)mpiexec /.test(p.cmdline)
    ).map((p) => p.pid),
  };
}

Deno.test({
  name: "Cluster starts MPI engines whose ids are their ranks, maps on them, and stop() " +
    "leaves no mpiexec or engine behind",
  ignore: needsMpiexec(),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "ipp-mpi-engines-" });
    try {
      const events: string[] = [];
      const cluster = new Cluster({
        n: 2,
        profileDir: dir,
        clusterId: "mpi-engines",
        controllerArgs: ["--ip=127.0.0.1", "--ping=250"],
        timeoutMs: 60_000,
        onEvent: (e) => events.push(e.message),
        engines: { launcher: "mpi", mpiexec: MPIEXEC },
      });
      try {
        const client = await cluster.startAndConnect({ timeout: 30_000, log: () => {} });
        assert.deepEqual([...client.ids].sort(), [0, 1], "engine ids are the ranks");
        assert.equal(cluster.engineCount, 2);
        assert.equal(cluster.pids.engines.length, 1, "one mpiexec for both engines");
        const running = mpiProcesses(dir);
        assert.equal(running.mpiexec.length, 1);
        assert.equal(running.engines.length, 2, "one engine per rank");
        // Each engine sees its own rank in the environment mpiexec gave it.
        for (const id of [0, 1]) {
          const rank = await client.engine(id).apply(() => Deno.env.get("OMPI_COMM_WORLD_RANK"));
          assert.equal(rank, String(id));
        }
        const lv = client.loadBalancedView();
        const squares = await lv.map((x: number) => x * x, [1, 2, 3, 4, 5, 6, 7, 8]);
        assert.deepEqual(squares, [1, 4, 9, 16, 25, 36, 49, 64]);
      } finally {
        await cluster.stop();
      }
      // stop() returns once mpiexec has exited, and mpiexec waits for its ranks.
      assert.deepEqual(mpiProcesses(dir), { mpiexec: [], engines: [] });
      assert.equal(cluster.engineCount, 0);
      assert.deepEqual(events, [], "no engine exit was reported as unexpected");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("mpiexecArgs puts -n and the caller's mpiexec flags before the engine command", () => {
  const args = mpiexecArgs(4, "/p/security/e.json", ["--log-level=DEBUG"], {
    mpiArgs: ["--hostfile", "hosts"],
  });
  assert.deepEqual(args, [
    "-n",
    "4",
    "--hostfile",
    "hosts",
    Deno.execPath(),
    "run",
    "-A",
    "--quiet",
    decodeURIComponent(new URL(IPP_MAIN).pathname),
    "engine",
    "--file=/p/security/e.json",
    "--mpi",
    "--log-level=DEBUG",
  ]);
  assert.throws(() => mpiexecArgs(0, "/e.json", [], {}), /positive whole number of engines/);
});

Deno.test("mpiexecEnv allows oversubscription, and running as root only as root", () => {
  const env = mpiexecEnv();
  assert.equal(env.OMPI_MCA_rmaps_base_oversubscribe, "1");
  assert.equal(env.OMPI_ALLOW_RUN_AS_ROOT === "1", Deno.uid() === 0);
});

Deno.test("mpiRank reads Open MPI, PMI and PMIx ranks and rejects a missing or bad one", () => {
  assert.equal(mpiRank({ OMPI_COMM_WORLD_RANK: "3" }), 3);
  assert.equal(mpiRank({ PMI_RANK: "1" }), 1);
  assert.equal(mpiRank({ PMIX_RANK: "0" }), 0);
  assert.throws(() => mpiRank({}), (e) => e instanceof UsageError && /mpiexec/.test(e.message));
  assert.throws(() => mpiRank({ PMI_RANK: "-1" }), UsageError);
});
