/**
 * Our side of `bench/compare.ts`: starts our controller and engines (through `Cluster`, or by
 * hand with `--cpu-prof`) and runs the workloads, timed the same way as
 * `bench/peers/ipp_bench.py` does for Python. Run by `compare.ts` as a child process with
 * `--v8-flags=--expose-gc`, so heap figures are taken after a full collection and the
 * orchestrator's heap stays out:
 *
 * ```sh
 * deno run -A --v8-flags=--expose-gc bench/peers/ours_bench.ts --only=lb_throughput --plan='{...}'
 * ```
 *
 * Progress goes to stderr; the last stdout line is one JSON object, workload name → figures
 * (times in seconds, memory in bytes, CPU in µs per operation).
 *
 * @module
 */

import { join } from "node:path";
import { Cluster } from "../../src/cluster/cluster.ts";
import { Client } from "../../src/client/client.ts";
import { connectionFilePath, findConnectionFile } from "../../src/protocol/connection.ts";
import { IPP_MAIN } from "../../src/cluster/local_launcher.ts";
import { ALL, FULL } from "./plan.ts";
import type { Figures, Plan, Results } from "./plan.ts";

const log = (...a: unknown[]) => console.error("[ours]", ...a);

const noop = () => null;
const double = (x: number) => x * 2;
/** Blocks the engine until `path` exists (polls every 10 ms without spinning). */
const blockUntil = (path: string) => {
  const cell = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    try {
      Deno.statSync(path);
      return null;
    } catch {
      Atomics.wait(cell, 0, 0, 10);
    }
  }
};

/** Heap after a full GC (`--expose-gc`), V8 heap plus external (ArrayBuffers), and RSS. */
function heap(): { heap: number; rss: number } {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  gc?.();
  const m = Deno.memoryUsage();
  return { heap: m.heapUsed + m.external, rss: m.rss };
}

/** A running stack: a client plus the means to add engines and stop everything. */
interface Stack {
  client: Client;
  addEngines(n: number): Promise<void>;
  waitForEngines(n: number): Promise<void>;
  stop(): Promise<void>;
}

async function waitIds(client: Client, n: number, timeoutMs = 600_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (client.ids.length < n) {
    if (performance.now() > deadline) {
      throw new Error(`only ${client.ids.length} of ${n} engines registered`);
    }
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Our stack through the public `Cluster` (the normal path). */
async function clusterStack(n: number, tag: string, start: boolean): Promise<Stack> {
  const profileDir = await Deno.makeTempDir({ prefix: "ipp-bench-ours-" });
  const cluster = new Cluster({ n, profileDir, clusterId: `bench-${tag}`, timeoutMs: 600_000 });
  let client: Client;
  if (start) client = await cluster.startAndConnect();
  else {
    await cluster.startController();
    client = await cluster.connect();
  }
  return {
    client,
    addEngines: (k) => cluster.startEngines(k),
    waitForEngines: (k) => waitIds(client, k),
    async stop() {
      await cluster.stop();
      await Deno.remove(profileDir, { recursive: true }).catch(() => {});
    },
  };
}

/**
 * Our stack launched by hand with `--cpu-prof` on the controller and engines (the `Cluster`
 * launcher has no way to pass Deno flags). Profiles are written when they exit on SIGTERM.
 */
async function profiledStack(n: number, tag: string, start: boolean, dir: string): Promise<Stack> {
  const profileDir = await Deno.makeTempDir({ prefix: "ipp-bench-prof-" });
  const clusterId = `bench-${tag}`;
  const procs: Deno.ChildProcess[] = [];
  const spawn = (what: string, args: string[]) => {
    const sub = join(dir, what);
    Deno.mkdirSync(sub, { recursive: true });
    procs.push(
      new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          "--quiet",
          "--cpu-prof",
          "--cpu-prof-interval=100", // as the bench client's (compare.ts)
          `--cpu-prof-dir=${sub}`,
          IPP_MAIN,
          ...args,
        ],
        stdin: "null",
        stdout: "null",
        stderr: "inherit",
      }).spawn(),
    );
  };
  spawn("controller", ["controller", `--profile-dir=${profileDir}`, `--cluster-id=${clusterId}`]);
  await findConnectionFile({ kind: "client", profileDir, clusterId, timeoutMs: 60_000 });
  const engineFile = connectionFilePath({ kind: "engine", profileDir, clusterId });
  await findConnectionFile({ kind: "engine", profileDir, clusterId, timeoutMs: 60_000 });
  const addEngines = (k: number) => {
    for (let i = 0; i < k; i++) spawn("engines", ["engine", `--file=${engineFile}`]);
    return Promise.resolve();
  };
  const client = await Client.connect({ profileDir, clusterId });
  if (start) {
    await addEngines(n);
    await waitIds(client, n);
  }
  return {
    client,
    addEngines,
    waitForEngines: (k) => waitIds(client, k),
    async stop() {
      await client.close();
      for (const p of procs.slice(1).concat(procs.slice(0, 1))) {
        try {
          p.kill("SIGTERM");
        } catch { /* gone */ }
        await p.status;
      }
      await Deno.remove(profileDir, { recursive: true }).catch(() => {});
    },
  };
}

export async function runOurs(only: Set<string>, plan: Plan, profDir: string | undefined) {
  const out: Results = {};
  const want = (name: string) => only.has(name);
  const makeStack = (n: number, tag: string, start = true) =>
    profDir ? profiledStack(n, tag, start, profDir) : clusterStack(n, tag, start);
  const mainSet = ALL.filter((w) => w !== "register_64");
  if (mainSet.some(want)) {
    const t0 = performance.now();
    const stack = await makeStack(2, "main");
    const client = stack.client;
    log(`cluster of 2 up in ${((performance.now() - t0) / 1000).toFixed(2)} s`);
    try {
      const lview = client.loadBalancedView();
      const e0 = client.engine(0);
      for (let i = 0; i < 20; i++) {
        await lview.apply(noop);
        await e0.apply(noop);
        await e0.execute("a = 1");
      }

      // Each of these runs twice: the first pass (`<name>_1st`, cold JIT and caches) is
      // reported too; the second is the figure compared.
      const twice = async (name: string, run: () => Promise<Figures>) => {
        out[`${name}_1st`] = await run();
        out[name] = await run();
      };

      if (want("lb_throughput")) {
        await twice("lb_throughput", async () => {
          const n = plan.lb_tasks;
          const cpu = cpuByRole();
          const t = performance.now();
          const ars = [];
          for (let i = 0; i < n; i++) ars.push(lview.apply(noop));
          const submit = (performance.now() - t) / 1000;
          for (const ar of ars) await ar;
          const s = (performance.now() - t) / 1000;
          log(`lb_throughput ${(n / s).toFixed(0)} tasks/s (submit ${submit.toFixed(3)} s)`);
          return { tasks: n, seconds: s, submit_seconds: submit, rate: n / s, ...cpuPer(cpu, n) };
        });
      }

      if (want("direct_roundtrip")) {
        await twice("direct_roundtrip", async () => {
          const n = plan.direct_n;
          const cpu = cpuByRole();
          const t = performance.now();
          for (let i = 0; i < n; i++) await e0.apply(noop);
          const s = (performance.now() - t) / 1000;
          log(`direct_roundtrip ${(s / n * 1e6).toFixed(0)} us`);
          return { n, seconds: s, per_call: s / n, ...cpuPer(cpu, n) };
        });
      }

      if (want("execute_roundtrip")) {
        await twice("execute_roundtrip", async () => {
          const n = plan.direct_n;
          const cpu = cpuByRole();
          const t = performance.now();
          for (let i = 0; i < n; i++) await e0.execute("a = 1");
          const s = (performance.now() - t) / 1000;
          log(`execute_roundtrip ${(s / n * 1e6).toFixed(0)} us`);
          return { n, seconds: s, per_call: s / n, ...cpuPer(cpu, n) };
        });
      }

      if (want("map_100k")) {
        await twice("map_100k", async () => {
          const n = plan.map_items;
          const items = Array.from({ length: n }, (_, i) => i);
          const t = performance.now();
          const res = await lview.mapWith(double, [items], { chunksize: plan.map_chunksize });
          const s = (performance.now() - t) / 1000;
          if (res.length !== n || res[n - 1] !== 2 * (n - 1)) {
            throw new Error("map_100k: bad result");
          }
          log(`map_100k ${s.toFixed(3)} s`);
          return { items: n, seconds: s };
        });
      }

      // In their own functions: a suspended async frame keeps its locals (the big arrays)
      // alive, which would inflate every later heap figure.
      if (want("push_100MB") || want("pull_100MB")) {
        // The fastest of bulk_reps, as the floor's best of 3.
        await pushPull(client, plan.bytes, plan.bulk_reps ?? 1, "100MB", fastest, want, out);
      }
      if (want("push_8MB") || want("pull_8MB")) {
        await pushPull(client, plan.mid_bytes, plan.mid_reps, "8MB", median, want, out);
      }
      if (want("scatter_gather_10M")) await scatterGather(client, plan, out);

      // The baseline excludes earlier workloads' cached results (the 100 MB pull…), on both sides.
      client.purgeLocalResults("all");
      const base = heap();
      if (want("mem_completed")) {
        const total = plan.mem_completed;
        const views = client.ids.map((id) => client.engine(id));
        let done = 0;
        const t = performance.now();
        while (done < total) {
          const m = Math.min(plan.mem_batch, total - done);
          const ars = [];
          for (let i = 0; i < m; i++) ars.push(views[i % views.length].apply(noop));
          for (const ar of ars) await ar;
          done += m;
        }
        const s = (performance.now() - t) / 1000;
        await new Promise((r) => setTimeout(r, 200));
        const after = heap();
        out.mem_completed = {
          tasks: total,
          seconds: s,
          heap: after.heap,
          heap_growth: after.heap - base.heap,
          rss: after.rss,
          rss_growth: after.rss - base.rss,
        };
        log(
          `mem_completed heap ${(after.heap / 1e6).toFixed(1)} MB ` +
            `(+${((after.heap - base.heap) / 1e6).toFixed(1)} MB), rss ` +
            `${(after.rss / 1e6).toFixed(0)} MB after ${total} tasks in ${s.toFixed(1)} s`,
        );
      }

      if (want("broadcast_16")) {
        const k = plan.broadcast_engines;
        await stack.addEngines(k - client.ids.length);
        await stack.waitForEngines(k);
        const bview = client.broadcastView();
        for (let i = 0; i < 5; i++) await bview.apply(noop);
        const n = plan.broadcast_n;
        const t = performance.now();
        let r: unknown[] = [];
        for (let i = 0; i < n; i++) r = await bview.apply(noop);
        const s = (performance.now() - t) / 1000;
        if (r.length !== k) throw new Error(`broadcast: ${r.length} replies`);
        out.broadcast_16 = { engines: k, n, seconds: s, per_call: s / n };
        log(`broadcast_16 ${(s / n * 1e6).toFixed(0)} us`);
      }

      if (want("mem_outstanding")) {
        // Every engine runs a blocker, so the no-ops stay outstanding (queued at the
        // scheduler) while the client's heap is measured. Left behind: the cluster stops next.
        const release = await Deno.makeTempFile({ prefix: "ipp-bench-release-" });
        await Deno.remove(release);
        const n = plan.mem_outstanding;
        for (let i = 0; i < client.ids.length; i++) lview.apply(blockUntil, release);
        await new Promise((r) => setTimeout(r, 500));
        const before = heap();
        const ars = [];
        for (let i = 0; i < n; i++) ars.push(lview.apply(noop));
        await new Promise((r) => setTimeout(r, 1000));
        const after = heap();
        const outstanding = client.outstanding.size;
        out.mem_outstanding = {
          tasks: n,
          outstanding,
          bytes_per_task: (after.heap - before.heap) / n,
          rss_per_task: (after.rss - before.rss) / n,
        };
        log(
          `mem_outstanding ${((after.heap - before.heap) / n).toFixed(0)} B/task heap, ` +
            `${((after.rss - before.rss) / n).toFixed(0)} B/task rss (${outstanding} outstanding)`,
        );
        await Deno.writeTextFile(release, "");
        ars.length = 0;
        setTimeout(() => Deno.remove(release).catch(() => {}), 5000);
      }
    } finally {
      await stack.stop();
    }
  }

  if (want("register_64")) {
    const k = plan.register_engines;
    const stack = await makeStack(k, "reg", false);
    try {
      const t = performance.now();
      await stack.addEngines(k);
      await stack.waitForEngines(k);
      const s = (performance.now() - t) / 1000;
      out.register_64 = { engines: k, seconds: s };
      log(`register_64 ${s.toFixed(2)} s`);
    } finally {
      await stack.stop();
    }
  }
  return out;
}

/** CPU seconds used so far by this process and its descendants, by role (from /proc). */
function cpuByRole(): Record<string, number> {
  const tick = 100; // USER_HZ on Linux
  const procs = new Map<number, { ppid: number; cpu: number; cmd: string }>();
  for (const e of Deno.readDirSync("/proc")) {
    const pid = Number(e.name);
    if (!Number.isInteger(pid)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const cmd = Deno.readTextFileSync(`/proc/${pid}/cmdline`).replaceAll("\0", " ");
      procs.set(pid, { ppid: Number(f[1]), cpu: (Number(f[11]) + Number(f[12])) / tick, cmd });
    } catch { /* exited */ }
  }
  const out: Record<string, number> = { client: 0, controller: 0, engine: 0 };
  const role = (pid: number): string | undefined => {
    for (let p = pid, depth = 0; p > 1 && depth < 8; depth++) {
      if (p === Deno.pid) return pid === Deno.pid ? "client" : "child";
      p = procs.get(p)?.ppid ?? 0;
    }
    return undefined;
  };
  for (const [pid, info] of procs) {
    const r = role(pid);
    if (r === "client") out.client += info.cpu;
    else if (r === "child") {
      if (/\bcontroller\b/.test(info.cmd)) out.controller += info.cpu;
      else if (/\bengine\b/.test(info.cmd)) out.engine += info.cpu;
    }
  }
  return out;
}

/** CPU per operation by role, in microseconds, between two {@link cpuByRole} samples. */
function cpuPer(before: Record<string, number>, n: number): Figures {
  const after = cpuByRole();
  const f: Figures = {};
  for (const k of Object.keys(after)) f[`cpu_${k}_us`] = (after[k] - before[k]) / n * 1e6;
  return f;
}

/** The fastest of some times. */
function fastest(times: number[]): number {
  return Math.min(...times);
}

/** The median of some times (the upper one of an even count). */
function median(times: number[]): number {
  return [...times].sort((x, y) => x - y)[times.length >> 1];
}

/**
 * Push then pull one Float64Array of `bytes` `reps` times; report each direction's `pick` of the
 * times (fastest or median) and the mean CPU.
 */
async function pushPull(
  client: Client,
  bytes: number,
  reps: number,
  size: string,
  pick: (times: number[]) => number,
  want: (name: string) => boolean,
  out: Results,
): Promise<void> {
  const e0 = client.engine(0);
  const [push, pull] = [`push_${size}`, `pull_${size}`];
  const arr = new Float64Array(bytes / 8);
  for (let i = 0; i < arr.length; i++) arr[i] = i;
  const times: Record<string, number[]> = { [push]: [], [pull]: [] };
  const cpuSum: Record<string, Figures> = { [push]: {}, [pull]: {} };
  const timed = async <T>(name: string, fn: () => PromiseLike<T>): Promise<T> => {
    const cpu = cpuByRole();
    const t = performance.now();
    const result = await fn();
    times[name].push((performance.now() - t) / 1000);
    for (const [k, v] of Object.entries(cpuPer(cpu, reps))) {
      cpuSum[name][k] = (cpuSum[name][k] as number ?? 0) + (v as number);
    }
    return result;
  };
  for (let r = 0; r < reps; r++) {
    await timed(push, () => e0.push({ bulk: arr }));
    if (want(pull)) {
      const back = await timed(pull, () => e0.pull("bulk")) as Float64Array;
      if (back.length !== arr.length || back[back.length - 1] !== arr[arr.length - 1]) {
        throw new Error(`${pull}: bad result`);
      }
    }
  }
  for (const name of [push, pull]) {
    if (!want(name)) continue;
    const seconds = pick(times[name]);
    out[name] = { bytes: arr.byteLength, seconds, reps, ...cpuSum[name] };
    log(`${name} ${seconds.toFixed(3)} s (${pick.name} of ${reps})`);
  }
  await e0.execute("delete globalThis.bulk");
}

async function scatterGather(client: Client, plan: Plan, out: Results): Promise<void> {
  const dview = client.directView();
  const n = plan.scatter_n;
  const arr = new Float64Array(n);
  for (let i = 0; i < n; i++) arr[i] = i;
  const t = performance.now();
  await dview.scatter("part", arr);
  const scatter = (performance.now() - t) / 1000;
  // gather joins the engines' typed-array parts into one array, as numpy's gather does.
  const back = await dview.gather("part") as unknown as Float64Array;
  const s = (performance.now() - t) / 1000;
  if (back.length !== n || back[n - 1] !== n - 1) throw new Error("scatter_gather: bad");
  out.scatter_gather_10M = { n, seconds: s, scatter_seconds: scatter };
  log(`scatter_gather_10M ${s.toFixed(3)} s`);
  await dview.execute("delete globalThis.part");
}

if (import.meta.main) {
  let only = new Set<string>(ALL);
  let plan: Plan = FULL;
  let profDir: string | undefined;
  for (const arg of Deno.args) {
    const at = arg.indexOf("=");
    const [k, v] = at < 0 ? [arg, ""] : [arg.slice(0, at), arg.slice(at + 1)];
    if (k === "--only") only = new Set(v.split(",").filter(Boolean));
    else if (k === "--plan") plan = { ...FULL, ...JSON.parse(v) };
    else if (k === "--cpu-prof") profDir = v;
    else throw new Error(`Unknown argument ${arg} (use --only=a,b --plan=json --cpu-prof=dir)`);
  }
  console.log(JSON.stringify(await runOurs(only, plan, profDir)));
}
