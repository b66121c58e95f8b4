/**
 * `ipp cluster start | stop | list`: a controller plus engines on this machine, like
 * `ipcluster`. A running cluster is described by `<profile>/security/cluster-<id>.json`
 * (`cluster_file.ts`: ids, pids, paths, flags), which `stop` and `list` read, and
 * `Cluster.fromFile()` too.
 *
 * @module
 */

import { availableParallelism } from "node:os";
import { join } from "node:path";
import { Cluster } from "../cluster/cluster.ts";
import {
  type ClusterFile,
  clusterFilePath,
  isAlive,
  readClusterFile,
  writeClusterFile,
} from "../cluster/cluster_file.ts";
import { ipythonDir } from "../protocol/connection.ts";
import { Progress } from "./progress.ts";
import { flags as readFlags } from "./flags.ts";

const HELP = `ipp cluster — start, stop and list clusters on this machine

Usage:
  ipp cluster start [-n N] [--daemonize] [options]
  ipp cluster stop [options]
  ipp cluster list [--ipython-dir DIR]

Options:
  -n, --n <N>            engines to start (default: the number of cores, ${availableParallelism()})
  --profile <name>       IPython profile (default: default)
  --profile-dir <dir>    profile folder (default: <ipython-dir>/profile_<profile>)
  --ipython-dir <dir>    IPython folder (default: $IPYTHONDIR or ~/.ipython)
  --cluster-id <id>      cluster id (default: none, so Client.connect() finds it)
  --daemonize            start in the background and return once the engines registered
  --restart              restart engines that crash (exit with a non-zero status)
  --controller-arg <a>   extra flag for ipp controller (repeatable), e.g. --controller-arg=--ping=1000
  --engine-arg <a>       extra flag for ipp engine (repeatable)
  --deno-arg <a>         extra Deno flag for the controller and engines (repeatable),
                         e.g. --deno-arg=--v8-flags=--max-old-space-size=4096
  --timeout <s>          seconds to wait for the controller and engines (default: 60)
  -h, --help             show this help

On a terminal, start shows engines registering as a progress bar; otherwise as plain lines.

Examples:
  ipp cluster start -n 4              # foreground; Ctrl-C stops everything
  ipp cluster start -n 4 --daemonize  # background; then:
  ipp cluster list
  ipp cluster stop
  ipp cluster start -n 8 --restart --cluster-id=work --daemonize
  ipp cluster stop --cluster-id=work
`;

interface ClusterFlags {
  n: number;
  profile?: string;
  profileDir?: string;
  ipythonDir?: string;
  clusterId: string;
  daemonize: boolean;
  restart: boolean;
  controllerArgs: string[];
  engineArgs: string[];
  denoArgs: string[];
  timeoutS: number;
}

/**
 * Run `ipp cluster`.
 * @param args Arguments after `cluster`.
 * @returns The exit code.
 */
export async function clusterCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === "-h" || sub === "--help" || rest.includes("--help")) {
    console.log(HELP);
    return sub === undefined ? 2 : 0;
  }
  let flags: ClusterFlags;
  try {
    flags = parseFlags(rest);
  } catch (e) {
    console.error(`ipp cluster: ${(e as Error).message}\n\n${HELP}`);
    return 2;
  }
  switch (sub) {
    case "start":
      return flags.daemonize ? await startDaemon(flags) : await startForeground(flags);
    case "stop":
      return await stop(flags);
    case "list":
      return await list(flags);
    default:
      console.error(`ipp cluster: unknown subcommand ${JSON.stringify(sub)}\n\n${HELP}`);
      return 2;
  }
}

function parseFlags(args: string[]): ClusterFlags {
  const flags: ClusterFlags = {
    n: availableParallelism(),
    clusterId: "",
    daemonize: false,
    restart: false,
    controllerArgs: [],
    engineArgs: [],
    denoArgs: [],
    timeoutS: 60,
  };
  for (const { name, value } of readFlags(args)) {
    switch (name) {
      case "-n":
      case "--n": {
        const n = Number(value());
        if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a whole number`);
        flags.n = n;
        break;
      }
      case "--profile":
        flags.profile = value();
        break;
      case "--profile-dir":
        flags.profileDir = value();
        break;
      case "--ipython-dir":
        flags.ipythonDir = value();
        break;
      case "--cluster-id":
        flags.clusterId = value();
        break;
      case "--daemonize":
        flags.daemonize = true;
        break;
      case "--restart":
        flags.restart = true;
        break;
      case "--controller-arg":
        flags.controllerArgs.push(value());
        break;
      case "--engine-arg":
        flags.engineArgs.push(value());
        break;
      case "--deno-arg":
        flags.denoArgs.push(value());
        break;
      case "--timeout": {
        const t = Number(value());
        if (!(t > 0)) throw new Error("--timeout must be a positive number of seconds");
        flags.timeoutS = t;
        break;
      }
      default:
        throw new Error(`unknown flag ${JSON.stringify(name)}`);
    }
  }
  return flags;
}

function profileDirOf(flags: ClusterFlags): string {
  if (flags.profileDir) return flags.profileDir;
  const base = flags.ipythonDir ?? ipythonDir();
  return join(base, `profile_${flags.profile ?? "default"}`);
}

async function startForeground(flags: ClusterFlags): Promise<number> {
  const profileDir = profileDirOf(flags);
  const cluster = new Cluster({
    n: flags.n,
    profileDir,
    clusterId: flags.clusterId,
    controllerArgs: flags.controllerArgs,
    engineArgs: flags.engineArgs,
    denoArgs: flags.denoArgs,
    restart: flags.restart,
    timeoutMs: flags.timeoutS * 1000,
    onEvent: (event) => {
      console.error(`ipp cluster: ${event.message}`);
      // One write at a time, in order: the last one describes the processes now.
      if (ready) writing = writing.then(writeRecord).catch(() => {});
    },
  });
  const file = clusterFilePath(profileDir, flags.clusterId);
  let ready = false;
  let writing = Promise.resolve();
  const started = new Date().toISOString();
  // The file tells `ipp cluster stop` and `Cluster.fromFile()` which processes run now.
  const writeRecord = () => {
    const record: ClusterFile = {
      cluster_id: flags.clusterId,
      profile_dir: profileDir,
      n: flags.n,
      pid: Deno.pid,
      controller_pid: cluster.pids.controller,
      engine_pids: cluster.pids.engines,
      started,
      controller_args: flags.controllerArgs,
      engine_args: flags.engineArgs,
      deno_args: flags.denoArgs,
      restart: flags.restart,
    };
    return writeClusterFile(file, record);
  };
  let stopping: Promise<void> | undefined;
  const stopAll = () => stopping ??= cluster.stop();
  const stopSignals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  let signalled!: () => void;
  const signal = new Promise<void>((resolve) => signalled = resolve);
  for (const s of stopSignals) Deno.addSignalListener(s, signalled);
  try {
    console.error(`ipp cluster: starting a controller and ${flags.n} engines (${profileDir})`);
    await cluster.start();
    const client = await cluster.connect();
    const bar = new Progress("engines registered", flags.n);
    await Promise.race([cluster.waitForEngines(client, flags.n, (c) => bar.update(c)), signal]);
    bar.done();
    await client.close();
    await writeRecord();
    ready = true;
    console.error(
      `ipp cluster: ready — ${flags.n} engines. Connect with Client.connect(${
        flags.clusterId ? `{ clusterId: ${JSON.stringify(flags.clusterId)} }` : ""
      }); stop with Ctrl-C or \`ipp cluster stop\`.`,
    );
    await signal;
    console.error("ipp cluster: stopping");
    return 0;
  } catch (e) {
    console.error(`ipp cluster: ${(e as Error).message}`);
    return 1;
  } finally {
    ready = false;
    for (const s of stopSignals) Deno.removeSignalListener(s, signalled);
    await stopAll();
    await writing;
    await Deno.remove(file).catch(() => {});
  }
}

async function startDaemon(flags: ClusterFlags): Promise<number> {
  const profileDir = profileDirOf(flags);
  const file = clusterFilePath(profileDir, flags.clusterId);
  await Deno.remove(file).catch(() => {});
  const args = ["cluster", "start", `--n=${flags.n}`, `--profile-dir=${profileDir}`];
  if (flags.clusterId) args.push(`--cluster-id=${flags.clusterId}`);
  if (flags.restart) args.push("--restart");
  for (const a of flags.controllerArgs) args.push(`--controller-arg=${a}`);
  for (const a of flags.engineArgs) args.push(`--engine-arg=${a}`);
  for (const a of flags.denoArgs) args.push(`--deno-arg=${a}`);
  args.push(`--timeout=${flags.timeoutS}`);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", new URL("./main.ts", import.meta.url).href, ...args],
    stdin: "null",
    stdout: "null",
    stderr: "null",
    detached: true,
  }).spawn();
  child.unref();
  let exited = false;
  child.status.then(() => exited = true);
  const deadline = Date.now() + flags.timeoutS * 1000 + 5000;
  while (Date.now() < deadline && !exited) {
    try {
      const record = await readClusterFile(file);
      console.log(
        `cluster ${
          record.cluster_id || "(default)"
        } started: ${record.n} engines, pid ${record.pid}`,
      );
      return 0;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  console.error(
    exited
      ? "ipp cluster: the background cluster exited before it was ready (run without --daemonize to see why)"
      : "ipp cluster: timed out waiting for the background cluster",
  );
  if (!exited) {
    try {
      Deno.kill(-child.pid, "SIGTERM");
    } catch { /* already gone */ }
  }
  return 1;
}

async function stop(flags: ClusterFlags): Promise<number> {
  let cluster: Cluster;
  try {
    cluster = await Cluster.fromFile({
      profileDir: profileDirOf(flags),
      clusterId: flags.clusterId,
    });
  } catch (e) {
    console.error(`ipp cluster: ${(e as Error).message}`);
    return 1;
  }
  await cluster.stop();
  console.log(`cluster ${cluster.clusterId || "(default)"} stopped`);
  return 0;
}

async function list(flags: ClusterFlags): Promise<number> {
  const base = flags.ipythonDir ?? ipythonDir();
  const rows: string[] = [];
  try {
    for await (const entry of Deno.readDir(base)) {
      if (!entry.isDirectory || !entry.name.startsWith("profile_")) continue;
      const security = join(base, entry.name, "security");
      try {
        for await (const f of Deno.readDir(security)) {
          if (!/^cluster-.*\.json$/.test(f.name)) continue;
          const record = await readClusterFile(join(security, f.name));
          const state = isAlive(record.pid) ? "running" : "stale";
          rows.push(
            `${entry.name.slice(8).padEnd(12)} ${(record.cluster_id || "(default)").padEnd(20)} ` +
              `${String(record.n).padStart(7)}  ${state.padEnd(8)} ${record.pid}`,
          );
        }
      } catch { /* no security folder */ }
    }
  } catch { /* no IPython folder */ }
  if (rows.length === 0) {
    console.log(`no clusters found under ${base}`);
    return 0;
  }
  console.log(`${"PROFILE".padEnd(12)} ${"CLUSTER ID".padEnd(20)} ENGINES  STATE    PID`);
  for (const r of rows) console.log(r);
  return 0;
}
