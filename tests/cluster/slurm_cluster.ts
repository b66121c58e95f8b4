/**
 * A real single-node Slurm for tests: {@link SlurmCluster.start} runs `munged`, `slurmctld`
 * and `slurmd` in the foreground as children of the test, self-contained in a temporary
 * folder (munge key and socket, `slurm.conf` naming this host as the only node, state and
 * spool folders, free ports), and `await using` stops them (and any job step left) and
 * removes the folder. Slurm's client programs find it through `SLURM_CONF`
 * ({@link SlurmCluster.env}). Needs Debian's `slurm-wlm` and `munge`, and root (slurmd runs
 * jobs as their user); tests skip with a message otherwise, unless `IPP_INTEROP=1`
 * (see {@link needsSlurm}).
 *
 * @module
 */

import { exists, skipUnlessPresent } from "../helpers/interop.ts";
import { descendants, waitUntil } from "../helpers/sshd.ts";
import { freePort } from "../helpers/net.ts";

const PROGRAMS = [
  "/usr/sbin/munged",
  "/usr/sbin/slurmctld",
  "/usr/sbin/slurmd",
  "/usr/bin/sbatch",
  "/usr/bin/squeue",
  "/usr/bin/scancel",
  "/usr/bin/sinfo",
];

/**
 * `ignore` value for `Deno.test` of a test that needs a real Slurm: skips with a clear message
 * when Slurm or munge is missing or this is not root, unless `IPP_INTEROP=1`, where that
 * fails the run.
 */
export function needsSlurm(): boolean {
  const missing = PROGRAMS.filter((p) => !exists(p));
  let what = "";
  if (missing.length > 0) {
    what = `${missing.join(", ")} not found: apt-get install -y slurm-wlm munge`;
  } else if (Deno.uid() !== 0) {
    what = "slurmd must run as root to start jobs, and this is not root";
  }
  return skipUnlessPresent("real-Slurm tests", what === "" ? null : what);
}

async function output(program: string, args: string[], env?: Record<string, string>) {
  const out = await new Deno.Command(program, { args, env, stdin: "null" }).output();
  const dec = new TextDecoder();
  return { ok: out.success, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** A running single-node Slurm (munged + slurmctld + slurmd). */
export class SlurmCluster implements AsyncDisposable {
  /** The temporary folder holding its config, key, state and logs. */
  readonly dir: string;
  /** The partition jobs go to. */
  readonly partition = "debug";
  readonly #daemons: Deno.ChildProcess[];
  #stopped: Promise<void> | undefined;

  private constructor(dir: string, daemons: Deno.ChildProcess[]) {
    this.dir = dir;
    this.#daemons = daemons;
  }

  /** Environment for Slurm's client programs: `SLURM_CONF`. */
  get env(): Record<string, string> {
    return { SLURM_CONF: `${this.dir}/slurm.conf` };
  }

  /**
   * Write the config, start the three daemons and wait until the node is idle.
   *
   * @throws {Error} A daemon exited or the node did not come up (with the logs' tails).
   */
  static async start(): Promise<SlurmCluster> {
    const dir = await Deno.makeTempDir({ prefix: "ipp-slurm-" });
    const daemons: Deno.ChildProcess[] = [];
    const cluster = new SlurmCluster(dir, daemons);
    try {
      await Deno.mkdir(`${dir}/munge`, { mode: 0o700 });
      for (const d of ["state", "spool", "log"]) await Deno.mkdir(`${dir}/${d}`);
      await Deno.writeFile(`${dir}/munge/munge.key`, crypto.getRandomValues(new Uint8Array(1024)), {
        mode: 0o600,
      });
      // This machine as `slurmd -C` sees it, so that the node registers as configured.
      const facts = await output("/usr/sbin/slurmd", ["-C"]);
      const node = facts.stdout.split("\n").find((l) => l.startsWith("NodeName="));
      if (!node) throw new Error(`slurmd -C printed no NodeName line: ${facts.stderr}`);
      const name = /^NodeName=(\S+)/.exec(node)![1];
      await Deno.writeTextFile(
        `${dir}/slurm.conf`,
        [
          "ClusterName=ipptest",
          `SlurmctldHost=${name}(127.0.0.1)`,
          `SlurmctldPort=${freePort()}`,
          `SlurmdPort=${freePort()}`,
          "SlurmUser=root",
          "SlurmdUser=root",
          `StateSaveLocation=${dir}/state`,
          `SlurmdSpoolDir=${dir}/spool`,
          `SlurmctldPidFile=${dir}/slurmctld.pid`,
          `SlurmdPidFile=${dir}/slurmd.pid`,
          `SlurmctldLogFile=${dir}/log/slurmctld.log`,
          `SlurmdLogFile=${dir}/log/slurmd.log`,
          "AuthType=auth/munge",
          `AuthInfo=socket=${dir}/munge/munge.socket`,
          "CryptoType=crypto/munge",
          "MpiDefault=none",
          "ProctrackType=proctrack/pgid",
          "TaskPlugin=task/none",
          "JobAcctGatherType=jobacct_gather/none",
          "AccountingStorageType=accounting_storage/none",
          "SchedulerType=sched/builtin",
          "SelectType=select/cons_tres",
          "SelectTypeParameters=CR_Core",
          "ReturnToService=2",
          "KillWait=5",
          `${node.trim()} NodeAddr=127.0.0.1 State=UNKNOWN`,
          `PartitionName=debug Nodes=${name} Default=YES MaxTime=INFINITE State=UP ` +
          "OverSubscribe=FORCE:8",
          "",
        ].join("\n"),
      );
      const spawn = (program: string, args: string[]) => {
        const child = new Deno.Command(program, {
          args,
          env: cluster.env,
          stdin: "null",
          stdout: "null",
          stderr: "null",
        }).spawn();
        daemons.push(child);
      };
      spawn("/usr/sbin/munged", [
        "--foreground",
        "--force",
        `--socket=${dir}/munge/munge.socket`,
        `--key-file=${dir}/munge/munge.key`,
        `--log-file=${dir}/log/munged.log`,
        `--pid-file=${dir}/munge/munged.pid`,
        `--seed-file=${dir}/munge/munged.seed`,
      ]);
      await waitUntil(() => exists(`${dir}/munge/munge.socket`), 10_000, "munged's socket");
      spawn("/usr/sbin/slurmctld", ["-D", "-i", "-f", `${dir}/slurm.conf`]);
      spawn("/usr/sbin/slurmd", ["-D", "-f", `${dir}/slurm.conf`]);
      await waitUntil(
        async () => {
          const sinfo = await output("/usr/bin/sinfo", ["-h", "-o", "%T"], cluster.env);
          return sinfo.ok && /^idle/m.test(sinfo.stdout);
        },
        30_000,
        "the Slurm node to be idle",
      );
      return cluster;
    } catch (error) {
      const logs = await cluster.#logs();
      await cluster.stop();
      throw new Error(`Slurm did not start: ${(error as Error).message}\n${logs}`);
    }
  }

  /** The last lines of the daemons' logs (for failure messages). */
  async #logs(): Promise<string> {
    const parts: string[] = [];
    for (const name of ["munged", "slurmctld", "slurmd"]) {
      try {
        const text = await Deno.readTextFile(`${this.dir}/log/${name}.log`);
        parts.push(`--- ${name}.log\n${text.split("\n").slice(-8).join("\n")}`);
      } catch { /* no log */ }
    }
    return parts.join("\n");
  }

  /** Job ids in the queue. */
  async jobs(): Promise<string[]> {
    const out = await output("/usr/bin/squeue", ["-h", "-o", "%i"], this.env);
    return out.stdout.split("\n").map((l) => l.trim()).filter((l) => l);
  }

  /** Cancel every job, stop the daemons and their job steps, remove the folder. Idempotent. */
  stop(): Promise<void> {
    return this.#stopped ??= (async () => {
      await output("/usr/bin/scancel", ["--full", "--user=root"], this.env).catch(() => {});
      for (const d of [...this.#daemons].reverse()) {
        const tree = descendants(d.pid);
        try {
          d.kill("SIGTERM");
        } catch { /* gone */ }
        const late = setTimeout(() => {
          try {
            d.kill("SIGKILL");
          } catch { /* gone */ }
        }, 5000);
        await d.status;
        clearTimeout(late);
        for (const p of tree) {
          try {
            Deno.kill(p.pid, "SIGKILL");
          } catch { /* gone */ }
        }
      }
      await Deno.remove(this.dir, { recursive: true });
    })();
  }

  /** Same as {@link SlurmCluster.stop}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}
