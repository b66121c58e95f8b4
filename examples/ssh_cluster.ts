/**
 * A cluster on SSH-launched engines: the controller runs here, and each engine is started on
 * an SSH host with `ssh … deno run … ipp engine` (one ssh client per engine; stopping the
 * cluster ends the ssh sessions and the remote engines with them). The engines report where
 * they run, a load-balanced Monte Carlo estimate of π runs on them, and the example checks
 * its own results and that no engine is left.
 *
 * ```sh
 * deno run -A examples/ssh_cluster.ts --host me@127.0.0.1 --port 22 --key ~/.ssh/id_ed25519
 * # or with the environment: IPP_SSH_HOST, IPP_SSH_PORT, IPP_SSH_KEY, and optionally
 * # IPP_SSH_OPTIONS (more ssh options, space-separated), IPP_SSH_DENO (deno on the host),
 * # IPP_CONTROLLER_IP (an address of this machine the host reaches; default 127.0.0.1)
 * ```
 *
 * The host needs Deno and this package at the same path as here (a shared file system, or
 * the same machine), and a login that needs no password (a key).
 *
 * @module
 */

import { Cluster } from "../mod.ts";

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`check failed: ${what}`);
}

/** `--name value` or `--name=value` from the command line, else the environment variable. */
function setting(name: string, env: string): string | undefined {
  const args = Deno.args;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === `--${name}`) return args[i + 1];
    if (args[i].startsWith(`--${name}=`)) return args[i].slice(name.length + 3);
  }
  return Deno.env.get(env) || undefined;
}

const host = setting("host", "IPP_SSH_HOST");
if (host === undefined) {
  console.error(
    "ssh_cluster: no SSH host. Give --host [user@]host (or IPP_SSH_HOST), and as needed\n" +
      "  --port N (IPP_SSH_PORT), --key FILE (IPP_SSH_KEY), IPP_SSH_OPTIONS='-o …',\n" +
      "  IPP_SSH_DENO=/path/to/deno on the host, IPP_CONTROLLER_IP=<this machine's address>.\n" +
      "Example: deno run -A examples/ssh_cluster.ts --host me@127.0.0.1 --key ~/.ssh/id_ed25519",
  );
  Deno.exit(2);
}
const port = setting("port", "IPP_SSH_PORT");
const key = setting("key", "IPP_SSH_KEY");
const sshArgs = [
  ...(key ? ["-i", key] : []),
  ...(Deno.env.get("IPP_SSH_OPTIONS") ?? "").split(/\s+/).filter((w) => w),
];
const server = port ? `${host}:${port}` : host;

const profileDir = await Deno.makeTempDir({ prefix: "ipp-ssh-cluster-" });
const cluster = new Cluster({
  n: 2,
  profileDir,
  clusterId: "ssh_cluster",
  // The engines connect back to the controller: it must listen where the host reaches it.
  controllerArgs: [`--ip=${Deno.env.get("IPP_CONTROLLER_IP") ?? "127.0.0.1"}`],
  timeoutMs: 60_000,
  onEvent: (e) => console.log(`  event: ${e.message}`),
  engines: {
    launcher: "ssh",
    hosts: [server],
    sshArgs,
    deno: Deno.env.get("IPP_SSH_DENO") ?? "deno",
  },
});
try {
  console.log(`Starting a controller here and 2 engines on ${server} over ssh…`);
  const client = await cluster.startAndConnect();
  console.log(`Cluster up with engines ${JSON.stringify(client.ids)}`);

  // Where do the engines run? Their process ids are not the ssh clients' here.
  const where: { pid: number; host: string }[] = await client.directView().apply(() => ({
    pid: Deno.pid,
    host: Deno.hostname(),
  }));
  const sshPids = cluster.pids.engines;
  for (const [i, w] of where.entries()) {
    console.log(`  engine ${client.ids[i]}: pid ${w.pid} on ${w.host}`);
    check(!sshPids.includes(w.pid), "an engine is a remote process, not the ssh client");
  }
  check(new Set(where.map((w) => w.pid)).size === 2, "two distinct engine processes");

  // A load-balanced Monte Carlo estimate of π: 8 tasks of 200 000 samples each.
  const samples = 200_000;
  const hits = await client.loadBalancedView().map<number>(
    (seed: number, n: number) => {
      let s = seed * 2654435761 % 4294967296;
      const next = () => (s = (s * 1664525 + 1013904223) % 4294967296) / 4294967296;
      let inside = 0;
      for (let i = 0; i < n; i++) {
        const x = next(), y = next();
        if (x * x + y * y <= 1) inside++;
      }
      return inside;
    },
    [1, 2, 3, 4, 5, 6, 7, 8],
    Array(8).fill(samples),
  );
  const pi = 4 * hits.reduce((a, b) => a + b, 0) / (8 * samples);
  console.log(
    `π ≈ ${pi.toFixed(4)} from ${(8 * samples).toLocaleString("en")} samples on 2 SSH engines`,
  );
  check(Math.abs(pi - Math.PI) < 0.01, `π estimate ${pi} within 0.01`);
  console.log("All SSH-cluster checks passed.");
} finally {
  await cluster.stop();
  await Deno.remove(profileDir, { recursive: true });
}
check(cluster.engineCount === 0 && cluster.pids.engines.length === 0, "no engine left");
console.log("Cluster stopped: the ssh sessions and remote engines are gone.");
