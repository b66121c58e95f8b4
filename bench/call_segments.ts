/**
 * Where the wall time of a direct call goes, split at the syscalls: a local cluster with one
 * engine runs direct applies of a no-op while Linux `perf` records every `sendto`, `recvfrom`
 * and `epoll_wait` system-wide; each call is then cut into four segments:
 *
 * - **client turn**: from the client reading a reply to its writing the next request (decode,
 *   settle, the caller's `await`, build, sign and queue the next one);
 * - **hop to engine**: from that write to the engine's worker reading it (the kernel, waking the
 *   engine's thread, its event loop);
 * - **engine turn**: from the engine reading the request to its writing the reply;
 * - **hop to client**: from that write to the client reading it.
 *
 * It also prints how long each side keeps running after a write before it waits again
 * (`epoll_wait`), and the context switches of both threads over the recorded calls: a call in
 * a ping-pong that both threads sleep through costs two switches, and every switch beyond those
 * is a wake-up for nothing or a preemption (sched tracepoints, counted per call).
 *
 * Needs `perf` with tracepoint access (root here). Not a test:
 *
 * ```sh
 * deno run -A bench/call_segments.ts [calls] [rounds]
 * ```
 *
 * `--parse=<perf script output>` only parses an earlier recording (tracepoints
 * `syscalls:sys_{enter,exit}_{sendto,recvfrom,epoll_wait}` and `sched:sched_switch`, written
 * by `perf script -F comm,tid,time,event,trace`).
 *
 * @module
 */

import { Cluster } from "../src/cluster/cluster.ts";

/** One traced event of one thread. */
export interface TraceEvent {
  /** Thread id. */
  tid: number;
  /** Thread name. */
  comm: string;
  /** Time in µs. */
  t: number;
  /** Event, e.g. `sys_exit_recvfrom` or `sched_switch`. */
  name: string;
  /** The event's fields as printed. */
  trace: string;
}

/** Parses `perf script -F comm,tid,time,event,trace` lines. */
export function parseTrace(text: string): TraceEvent[] {
  const out: TraceEvent[] = [];
  const re = /^\s*(.+?)\s+(\d+)\s+(?:\[\d+\]\s+)?(\d+\.\d+):\s+(?:\w+):(\w+):\s*(.*)$/;
  for (const line of text.split("\n")) {
    const m = re.exec(line);
    if (m === null) continue;
    out.push({
      comm: m[1],
      tid: Number(m[2]),
      t: Number(m[3]) * 1e6,
      name: m[4],
      trace: m[5],
    });
  }
  return out;
}

/** Median, quartiles and mean of a sample, in µs. */
export interface Spread {
  n: number;
  median: number;
  p25: number;
  p75: number;
  p90: number;
  mean: number;
}

/** {@link Spread} of `xs` (NaNs for an empty sample). */
export function spread(xs: number[]): Spread {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) =>
    s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor(q * s.length))];
  const mean = s.length === 0 ? NaN : s.reduce((a, b) => a + b, 0) / s.length;
  return { n: s.length, median: at(0.5), p25: at(0.25), p75: at(0.75), p90: at(0.9), mean };
}

/** The segments of the calls between two threads, and what each side does around them. */
export interface Segments {
  /** Client's reply read → its next request written. */
  clientTurn: number[];
  /** Client's request written → engine's read of it. */
  hopToEngine: number[];
  /** Engine's request read → its reply written. */
  engineTurn: number[];
  /** Engine's reply written → client's read of it. */
  hopToClient: number[];
  /** Per hop: the part from the receiver's `epoll_wait` return to its read (its runtime). */
  wakeToRead: { engine: number[]; client: number[] };
  /** Per side: a write's return → the next `epoll_wait`. */
  afterWrite: { client: number[]; engine: number[] };
  /** Per side: context switches away from the thread, and how many were preemptions. */
  switches: {
    client: { all: number; preempted: number };
    engine: { all: number; preempted: number };
  };
  /** Calls seen (client writes). */
  calls: number;
}

/**
 * Cuts a trace into call segments. A call is the client's write followed by the engine's read,
 * its write, and the client's read, in that order; anything else (a reconnect, the Hub's
 * records) breaks the chain and starts a new one.
 *
 * @param events The trace, any order.
 * @param client The client's thread id (the one that writes first in each call).
 * @param engine The engine's thread id.
 */
export function segments(events: TraceEvent[], client: number, engine: number): Segments {
  const ev = events.filter((e) => e.tid === client || e.tid === engine).sort((a, b) => a.t - b.t);
  const seg: Segments = {
    clientTurn: [],
    hopToEngine: [],
    engineTurn: [],
    hopToClient: [],
    wakeToRead: { engine: [], client: [] },
    afterWrite: { client: [], engine: [] },
    switches: { client: { all: 0, preempted: 0 }, engine: { all: 0, preempted: 0 } },
    calls: 0,
  };
  let cWrote = NaN, eRead = NaN, eWrote = NaN, cRead = NaN;
  const wroteAt = new Map<number, number>();
  const wokeAt = new Map<number, number>();
  for (const e of ev) {
    const isClient = e.tid === client;
    switch (e.name) {
      case "sys_enter_sendto":
        if (isClient) {
          if (!Number.isNaN(cRead)) seg.clientTurn.push(e.t - cRead);
          cWrote = e.t;
          cRead = NaN;
          seg.calls++;
        } else if (!Number.isNaN(eRead)) {
          seg.engineTurn.push(e.t - eRead);
          eWrote = e.t;
          eRead = NaN;
        }
        break;
      case "sys_exit_sendto":
        wroteAt.set(e.tid, e.t);
        break;
      case "sys_exit_recvfrom":
        // A read that returned data (EAGAIN reads are negative).
        if (Number(e.trace) <= 0) break;
        {
          const wrote = isClient ? eWrote : cWrote;
          if (!Number.isNaN(wrote)) {
            (isClient ? seg.hopToClient : seg.hopToEngine).push(e.t - wrote);
            const woke = wokeAt.get(e.tid);
            if (woke !== undefined && woke >= wrote) {
              (isClient ? seg.wakeToRead.client : seg.wakeToRead.engine).push(e.t - woke);
            }
            if (isClient) cRead = e.t;
            else eRead = e.t;
          }
          if (isClient) eWrote = NaN;
          else cWrote = NaN;
        }
        break;
      case "sys_exit_epoll_wait":
        wokeAt.set(e.tid, e.t);
        break;
      case "sys_enter_epoll_wait": {
        const w = wroteAt.get(e.tid);
        if (w !== undefined) {
          (isClient ? seg.afterWrite.client : seg.afterWrite.engine).push(e.t - w);
          wroteAt.delete(e.tid);
        }
        break;
      }
    }
  }
  for (const e of events) {
    if (e.name !== "sched_switch") continue;
    const m = /prev_pid=(\d+) .*prev_state=(\S+)/.exec(e.trace);
    if (m === null) continue;
    const prev = Number(m[1]);
    const side = prev === client
      ? seg.switches.client
      : prev === engine
      ? seg.switches.engine
      : null;
    if (side === null) continue;
    side.all++;
    if (m[2].startsWith("R")) side.preempted++;
  }
  return seg;
}

/** The report's lines. */
export function report(seg: Segments): string[] {
  const row = (name: string, xs: number[]) => {
    const s = spread(xs);
    const f = (x: number) => x.toFixed(0).padStart(5);
    return `${name.padEnd(28)} ${String(s.n).padStart(6)} ${f(s.median)} ${f(s.p25)} ${f(s.p75)} ${
      f(s.p90)
    } ${f(s.mean)}`;
  };
  const means = [seg.clientTurn, seg.hopToEngine, seg.engineTurn, seg.hopToClient].map((x) =>
    spread(x).mean
  );
  const total = means.reduce((a, b) => a + b, 0);
  const per = (n: number) => (n / Math.max(1, seg.calls)).toFixed(2);
  const share = (i: number) => `${(means[i] / total * 100).toFixed(0)} %`;
  return [
    `segment (µs)                      n   med   p25   p75   p90  mean`,
    row(`client turn (${share(0)})`, seg.clientTurn),
    row(`hop to engine (${share(1)})`, seg.hopToEngine),
    row(`engine turn (${share(2)})`, seg.engineTurn),
    row(`hop to client (${share(3)})`, seg.hopToClient),
    row("  of which engine woke→read", seg.wakeToRead.engine),
    row("  of which client woke→read", seg.wakeToRead.client),
    `sum of the means: ${total.toFixed(0)} µs per call`,
    row("client: write → epoll_wait", seg.afterWrite.client),
    row("engine: write → epoll_wait", seg.afterWrite.engine),
    `context switches per call: client ${per(seg.switches.client.all)} (preempted ${
      per(seg.switches.client.preempted)
    }), engine ${per(seg.switches.engine.all)} (preempted ${per(seg.switches.engine.preempted)})`,
  ];
}

const TRACEPOINTS = [
  "syscalls:sys_enter_sendto",
  "syscalls:sys_exit_sendto",
  "syscalls:sys_exit_recvfrom",
  "syscalls:sys_enter_epoll_wait",
  "syscalls:sys_exit_epoll_wait",
  "sched:sched_switch",
];

/** Thread ids of process `pid` named `name`. */
function threadsNamed(pid: number, name: string): number[] {
  const out: number[] = [];
  for (const t of Deno.readDirSync(`/proc/${pid}/task`)) {
    const comm = Deno.readTextFileSync(`/proc/${pid}/task/${t.name}/comm`).trim();
    if (comm === name) out.push(Number(t.name));
  }
  return out;
}

/** The engine's kernel worker thread: a `worker-*` thread of a child `ipp engine` process. */
function engineWorker(): number {
  for (const p of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(p.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${p.name}/stat`);
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid !== Deno.pid) continue;
      const cmd = Deno.readTextFileSync(`/proc/${p.name}/cmdline`);
      if (!cmd.includes("\0engine")) continue;
      for (const t of Deno.readDirSync(`/proc/${p.name}/task`)) {
        const comm = Deno.readTextFileSync(`/proc/${p.name}/task/${t.name}/comm`).trim();
        if (comm.startsWith("worker-")) return Number(t.name);
      }
    } catch { /* gone */ }
  }
  throw new Error("no engine worker thread found among this process's children");
}

async function record(calls: number, rounds: number): Promise<void> {
  const probe = await new Deno.Command("perf", { args: ["--version"], stdout: "null" }).output()
    .catch(() => null);
  if (probe === null || !probe.success) {
    console.error("perf is not installed (Debian: apt-get install linux-perf)");
    Deno.exit(2);
  }
  const profileDir = await Deno.makeTempDir({ prefix: "ipp-segments-" });
  try {
    await using cluster = new Cluster({ n: 1, profileDir, clusterId: "segments" });
    await measure(cluster, profileDir, calls, rounds);
  } finally {
    await Deno.remove(profileDir, { recursive: true });
  }
}

async function measure(cluster: Cluster, dir: string, calls: number, rounds: number) {
  const client = await cluster.startAndConnect();
  const e0 = client.engine(client.ids[0]);
  const noop = () => null;
  for (let i = 0; i < 5_000; i++) await e0.apply(noop); // past the JIT's warm-up
  const clientTid = threadsNamed(Deno.pid, "deno")[0] ?? Deno.pid;
  const engineTid = engineWorker();
  for (let r = 0; r < rounds; r++) {
    const data = `${dir}/trace.data`;
    const perf = new Deno.Command("perf", {
      args: ["record", "-q", "-a", "-o", data, ...TRACEPOINTS.flatMap((t) => ["-e", t])],
      stdout: "null",
      stderr: "piped",
    }).spawn();
    await new Promise((r) => setTimeout(r, 500)); // perf attaches
    const t0 = performance.now();
    for (let i = 0; i < calls; i++) await e0.apply(noop);
    const us = (performance.now() - t0) / calls * 1000;
    perf.kill("SIGINT");
    const st = await perf.output();
    // perf exits on SIGINT after writing its file; a failure to start shows as no file.
    if (!(await Deno.stat(data).catch(() => null))?.size) {
      const why = new TextDecoder().decode(st.stderr).trim();
      throw new Error(`perf record failed (exit ${st.code}): ${why}`);
    }
    const script = await new Deno.Command("perf", {
      args: ["script", "-i", data, "-F", "comm,tid,time,event,trace"],
      stdout: "piped",
      stderr: "null",
    }).output();
    const seg = segments(parseTrace(new TextDecoder().decode(script.stdout)), clientTid, engineTid);
    console.log(`\nround ${r + 1}: ${calls} calls, ${us.toFixed(0)} µs per call (traced)`);
    for (const line of report(seg)) console.log(line);
  }
}

if (import.meta.main) {
  const parse = Deno.args.find((a) => a.startsWith("--parse="));
  const nums = Deno.args.filter((a) => !a.startsWith("--")).map(Number);
  if (parse !== undefined) {
    const events = parseTrace(await Deno.readTextFile(parse.slice("--parse=".length)));
    const bySends = new Map<number, number>();
    for (const e of events) {
      if (e.name === "sys_enter_sendto") bySends.set(e.tid, (bySends.get(e.tid) ?? 0) + 1);
    }
    const [a, b] = [...bySends].sort((x, y) => y[1] - x[1]).map(([tid]) => tid);
    const client = nums[0] ?? a, engine = nums[1] ?? b;
    console.log(`client thread ${client}, engine thread ${engine} (pass both tids to choose)`);
    for (const line of report(segments(events, client, engine))) console.log(line);
  } else {
    await record(nums[0] ?? 20_000, nums[1] ?? 2);
  }
}
