/**
 * Side-by-side benchmark: our stack (Deno controller, engines and client) against Python
 * ipyparallel 7.1 (ipcontroller, ipengines and client, driven by `bench/peers/ipp_bench.py`),
 * both started here with the same number of engines and run through the same workloads.
 *
 * Workloads (times in seconds unless noted):
 *
 * | name | what |
 * | --- | --- |
 * | `lb_throughput` | 3,000 no-op tasks submitted to a load-balanced view without waiting, then all awaited |
 * | `direct_roundtrip` | `apply` of a no-op on engine 0, one at a time (2,000×) |
 * | `execute_roundtrip` | `execute("a = 1")` on engine 0, one at a time (2,000×) |
 * | `map_100k` | load-balanced `map` of 100,000 items, chunksize 1,000 |
 * | `push_100MB`, `pull_100MB` | a 100 MB Float64Array (numpy array for Python) to and from engine 0; the fastest of 3 pushes and of 3 pulls (the floor's are best of 3 too) |
 * | `push_8MB`, `pull_8MB` | the same with 8 MB (a million doubles), 9 times each; the median (no goal of its own) |
 * | `scatter_gather_10M` | scatter 10 M float64 across the engines, gather them back into one array |
 * | `broadcast_16` | broadcast-view `apply` of a no-op to 16 engines (the cluster grown to 16) |
 * | `register_64` | a fresh controller and a connected client; launch 64 engines, time until all registered |
 * | `mem_outstanding` | client memory per outstanding task: 20,000 tasks queued behind blocked engines |
 * | `mem_completed` | client memory after many tasks completed and their results consumed |
 *
 * `lb_throughput`, `direct_roundtrip`, `execute_roundtrip` and `map_100k` run twice on both
 * sides after the same short warm-up; the second pass is the figure compared, the first is
 * shown as `<name>_1st` (cold: our JIT has not optimised the hot path yet).
 *
 * The last lines are one per goal, `ratio <name>: <value>`, each written so that bigger is
 * better for us (their time / our time). Benchmarks are not tests (STYLE.md 15): nothing here
 * asserts timing.
 *
 * Usage:
 *
 * ```sh
 * deno task bench:compare                                   # full run (~10 min on 2 cores)
 * deno task bench:compare --quick                           # smaller counts (~3 min)
 * deno task bench:compare --only=lb_throughput,direct_roundtrip
 * deno task bench:compare --side=ours --cpu-prof=/tmp/prof  # ours only, CPU profiles of the
 *                                                           # bench client, controller, engines
 * deno task bench:compare --json=/tmp/results.json          # also save the raw figures
 * deno task bench:compare --rounds=3 --only=lb_throughput     # best of 3, sides alternating
 * deno task bench:compare --no-floor                        # skip the machine floor (bench/floor.ts)
 * ```
 *
 * After both sides, `bench/floor.ts` measures this machine's floor for load-balanced tasks, the
 * direct call and the 100 MB transfers (the same messages through processes that do nothing
 * with them), and a table sets each of those goals' target against it (skipped when none of
 * them ran).
 *
 * Each side runs in its own child process and prints its figures as JSON: our side is
 * `bench/peers/ours_bench.ts` (with `--expose-gc`, so heap figures follow a full collection and
 * this orchestrator's heap stays out), Python's is `bench/peers/ipp_bench.py`. Both take the
 * same plan (`bench/peers/plan.ts`).
 *
 * @module
 */

import { join } from "node:path";
import { ALL, FULL, GOALS, QUICK } from "./peers/plan.ts";
import type { Figures, Plan, Results } from "./peers/plan.ts";
import { speedCheck } from "./speed_check.ts";
import { type Floor, floorLines, measureFloor } from "./floor.ts";
import { hugePagesReason } from "../src/zmtp/large_bytes.ts";
import { prefaultReason } from "../src/zmtp/prefault.ts";

const PYTHON = "/usr/bin/python3";
const PY_DRIVER = new URL("./peers/ipp_bench.py", import.meta.url).pathname;
const OURS_DRIVER = new URL("./peers/ours_bench.ts", import.meta.url).pathname;

interface Args {
  only: Set<string>;
  quick: boolean;
  side: "both" | "ours" | "ipp";
  plan?: Partial<Plan>;
  cpuProf?: string;
  json?: string;
  memCompletedIpp?: number;
  rounds: number;
  floor: boolean;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { only: new Set(ALL), quick: false, side: "both", rounds: 1, floor: true };
  for (const arg of argv) {
    const [k, v] = arg.includes("=")
      ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)]
      : [arg, ""];
    switch (k) {
      case "--only": {
        const names = v.split(",").filter(Boolean);
        for (const n of names) {
          if (!ALL.includes(n)) {
            throw new Error(`--only: unknown workload ${n} (known: ${ALL.join(", ")})`);
          }
        }
        a.only = new Set(names);
        break;
      }
      case "--quick":
        a.quick = true;
        break;
      case "--side":
        if (v !== "both" && v !== "ours" && v !== "ipp") throw new Error("--side=both|ours|ipp");
        a.side = v;
        break;
      case "--plan":
        a.plan = JSON.parse(v);
        break;
      case "--cpu-prof":
        a.cpuProf = v || "bench/profiles";
        break;
      case "--json":
        a.json = v;
        break;
      case "--rounds":
        a.rounds = Number(v);
        if (!Number.isInteger(a.rounds) || a.rounds < 1) throw new Error("--rounds=N, N >= 1");
        break;
      case "--mem-completed-ipp":
        a.memCompletedIpp = Number(v);
        break;
      case "--no-floor":
        a.floor = false;
        break;
      default:
        throw new Error(
          `Unknown argument ${arg} (use --only=a,b --quick --side=both|ours|ipp ` +
            "--cpu-prof[=dir] --json=path --rounds=N --mem-completed-ipp=N --no-floor)",
        );
    }
  }
  return a;
}

async function runChild(cmd: string, args: string[], label: string): Promise<Results> {
  const child = new Deno.Command(cmd, { args, stdout: "piped", stderr: "inherit", stdin: "null" })
    .spawn();
  const { code, stdout } = await child.output();
  const text = new TextDecoder().decode(stdout).trim();
  const last = text.split("\n").at(-1) ?? "";
  if (code !== 0) {
    console.error(`${label} exited with status ${code}; partial results kept`);
  }
  try {
    return JSON.parse(last) as Results;
  } catch {
    console.error(`${label}: no JSON results (stdout: ${text.slice(-500)})`);
    return {};
  }
}

/** Per workload, the better of two runs (by its headline figure; memory: the later run). */
function best(a: Results, b: Results): Results {
  const out: Results = { ...a };
  for (const [name, f] of Object.entries(b)) {
    const x = headline(name, a[name]);
    const y = headline(name, f);
    const higher = name === "lb_throughput";
    if (x === undefined || y === undefined || name.startsWith("mem_")) out[name] = f;
    else if (higher ? y > x : y < x) out[name] = f;
  }
  return out;
}

/** The one figure each goal is compared on, with its unit and whether higher is better. */
function headline(name: string, f: Figures | undefined): number | undefined {
  if (!f) return undefined;
  switch (baseName(name)) {
    case "lb_throughput":
      return f.rate as number;
    case "direct_roundtrip":
    case "execute_roundtrip":
    case "broadcast_16":
      return (f.per_call as number) * 1e6;
    case "mem_outstanding":
      return f.bytes_per_task as number;
    case "mem_completed":
      return (f.heap ?? f.rss) as number / 1e6;
    default:
      return f.seconds as number;
  }
}

/** A first pass (`lb_throughput_1st`) is measured as its workload is. */
function baseName(name: string): string {
  return name.endsWith("_1st") ? name.slice(0, -4) : name;
}

/** Whether the report shows `name`: asked for, or the first pass of a workload asked for. */
function shown(args: Args, name: string): boolean {
  return args.only.has(name) || args.only.has(baseName(name));
}

const UNITS: Record<string, string> = {
  lb_throughput: "tasks/s",
  direct_roundtrip: "µs/call",
  execute_roundtrip: "µs/call",
  map_100k: "s",
  push_100MB: "s",
  pull_100MB: "s",
  push_8MB: "s",
  pull_8MB: "s",
  scatter_gather_10M: "s",
  broadcast_16: "µs/call",
  register_64: "s",
  mem_outstanding: "B/task",
  mem_completed: "MB",
};

function fmt(x: number | undefined): string {
  if (x === undefined || !Number.isFinite(x)) return "—";
  if (Math.abs(x) >= 100) return x.toFixed(0);
  if (Math.abs(x) >= 1) return x.toFixed(2);
  return x.toFixed(3);
}

/**
 * The goals a machine floor is measured for: the goal's ratio and the floor's figure. A rate
 * (`perTask`) is compared as time per task, so that every row reads "smaller is better".
 */
const FLOORED: Record<
  string,
  { goal: number; floor: (f: Floor) => number; warm?: (f: Floor) => number; perTask?: true }
> = {
  lb_throughput: { goal: 20, floor: (f) => f.lb_relay, perTask: true },
  // Our client reaches our engines on its host straight, over a Unix socket (the same-host
  // direct path): that floor.
  direct_roundtrip: { goal: 15, floor: (f) => f.call_direct_ipc },
  // Push and pull: the lower of the Unix socket's and shared memory's (mapped, no copy).
  // The warm figure: the same into memory the receiver has already touched.
  push_100MB: {
    goal: 6,
    floor: (f) => lower(f.push_direct_ipc, f.push_shm),
    warm: (f) => f.push_warm_ipc,
  },
  pull_100MB: {
    goal: 6,
    floor: (f) => lower(f.pull_direct_ipc, f.pull_shm),
    warm: (f) => f.pull_warm_ipc,
  },
  // Half to each of two engines at once over Unix sockets, then back side by side.
  scatter_gather_10M: { goal: 5, floor: (f) => f.scatter_gather },
};

/** The smaller figure, ignoring one that could not be measured (NaN). */
function lower(a: number, b: number): number {
  return Number.isNaN(b) ? a : Math.min(a, b);
}

/**
 * Per floored goal: the time the goal asks of us (their figure divided by the goal's ratio),
 * this machine's floor for the same traffic, our figure, and ours as a multiple of the floor.
 */
function floorTable(ours: Results, theirs: Results, args: Args, floor: Floor): string[][] {
  const rows = [[
    "goal",
    "unit",
    "goal asks ≤ (theirs ÷ ratio)",
    "floor here",
    "floor, warm memory",
    "ours",
    "ours ÷ floor",
  ]];
  for (const [name, g] of Object.entries(FLOORED)) {
    if (!shown(args, name)) continue;
    const time = (x: number | undefined) => x === undefined || !g.perTask ? x : 1e6 / x;
    const a = time(headline(name, ours[name]));
    const b = time(headline(name, theirs[name]));
    const f = g.floor(floor);
    rows.push([
      name,
      g.perTask ? "µs/task" : UNITS[name],
      b === undefined ? "—" : fmt(b / g.goal),
      fmt(f),
      g.warm === undefined ? "—" : fmt(g.warm(floor)),
      fmt(a),
      a === undefined ? "—" : `${fmt(a / f)}×`,
    ]);
  }
  return rows;
}

/** Prints a Markdown table, columns padded to their widest cell. */
function printTable(rows: string[][]): void {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  const line = (r: string[]) => "| " + r.map((c, i) => c.padEnd(widths[i])).join(" | ") + " |";
  console.log(line(rows[0]));
  console.log("| " + widths.map((w) => "-".repeat(w)).join(" | ") + " |");
  for (const r of rows.slice(1)) console.log(line(r));
}

function report(
  ours: Results,
  theirs: Results,
  args: Args,
  plan: Plan,
  floor: Floor | undefined,
): void {
  const rows: string[][] = [["workload", "unit", "ours", "ipyparallel 7.1", "ours vs theirs"]];
  const ratios: [string, number | undefined][] = [];
  for (const name of ALL) {
    if (!shown(args, name)) continue;
    const a = headline(name, ours[name]);
    const b = headline(name, theirs[name]);
    let ratio: number | undefined;
    if (a !== undefined && b !== undefined) {
      ratio = baseName(name) === "lb_throughput" ? a / b : b / a;
    }
    let note = ratio === undefined ? "—" : `${fmt(ratio)}×`;
    if (name === "mem_outstanding") {
      const o = ours[name]?.rss_per_task as number | undefined;
      const t = theirs[name]?.rss_per_task as number | undefined;
      // RSS can fall while tasks are queued (the OS takes back pages freed by earlier
      // workloads): a negative delta says nothing about the tasks.
      const rss = (v: number | undefined) => v !== undefined && v < 0 ? "— (RSS fell)" : fmt(v);
      note = `V8 heap vs ${theirs[name]?.measure ?? "—"}; rss: ours ${rss(o)}, theirs ${rss(t)}`;
    }
    if (name === "mem_completed") {
      const t = theirs[name];
      const o = ours[name];
      note = `ours heap after ${o?.tasks ?? "—"} tasks (+${fmt((o?.heap_growth as number) / 1e6)}` +
        ` MB; rss ${fmt((o?.rss as number) / 1e6)} MB); theirs rss after ${t?.tasks ?? "—"} ` +
        `(+${fmt((t?.rss_growth as number) / 1e6)} MB)`;
      for (const [side, f] of [["ours", o], ["theirs", t]] as const) {
        if (f?.unanswered) note += `; ${side}: ${f.unanswered} never answered`;
      }
    }
    rows.push([name, UNITS[baseName(name)], fmt(a), fmt(b), note]);
    if ((GOALS as readonly string[]).includes(name)) ratios.push([name, ratio]);
  }
  console.log("");
  console.log(`Plan: ${JSON.stringify(plan)}`);
  printTable(rows);
  const cpuRows: string[][] = [[
    "CPU per op (µs)",
    "ours client",
    "ours controller",
    "ours engines",
    "theirs client",
    "theirs controller",
    "theirs engines (+nanny)",
  ]];
  for (const name of ALL) {
    const o = ours[name];
    const t = theirs[name];
    if (
      !shown(args, name) || (o?.cpu_client_us === undefined && t?.cpu_client_us === undefined)
    ) {
      continue;
    }
    const c = (f: Figures | undefined, k: string) => f?.[`cpu_${k}_us`] as number | undefined;
    const eng = (f: Figures | undefined) =>
      c(f, "engine") === undefined ? undefined : c(f, "engine")! + (c(f, "nanny") ?? 0);
    cpuRows.push([
      name,
      fmt(c(o, "client")),
      fmt(c(o, "controller")),
      fmt(eng(o)),
      fmt(c(t, "client")),
      fmt(c(t, "controller")),
      fmt(eng(t)),
    ]);
  }
  if (cpuRows.length > 1) {
    console.log(
      "\nCPU time per operation by process (from /proc, 10 ms ticks; the whole array for push/pull):",
    );
    printTable(cpuRows);
  }
  if (floor !== undefined) {
    console.log(
      "\nThis machine's floor (bench/floor.ts: the same messages through Deno processes in " +
        "the roles of client, controller and engines that only pipe and answer bytes; nothing " +
        "that sends these messages over loopback TCP through a controller can go below it):",
    );
    for (const l of floorLines(floor)) console.log(`- ${l}`);
    const rows = floorTable(ours, theirs, args, floor);
    if (rows.length > 1) {
      console.log("");
      printTable(rows);
    }
  }
  console.log("");
  for (const [name, r] of ratios) {
    console.log(`ratio ${name}: ${r === undefined ? "n/a" : r.toFixed(3)}`);
  }
}

async function main(): Promise<void> {
  const args = parseArgs(Deno.args);
  const plan: Plan = { ...(args.quick ? QUICK : FULL), ...args.plan };
  const only = [...args.only].join(",");
  let ours: Results = {};
  let theirs: Results = {};
  // The machine's speed just before each side ran (bench/speed_check.ts), in run order.
  const checks: string[] = [];
  const check = (side: string) => checks.push(`${side} ${speedCheck().toFixed(0)} ms`);
  const runOursSide = async () => {
    check("ours");
    console.error(`== ours (${only})`);
    const flags = ["run", "-A", "--v8-flags=--expose-gc"];
    if (args.cpuProf) {
      Deno.mkdirSync(join(args.cpuProf, "client"), { recursive: true });
      // 100 µs samples (the default, 1 ms, sees a few samples of a 300 µs round trip).
      flags.push(
        "--cpu-prof",
        "--cpu-prof-interval=100",
        `--cpu-prof-dir=${join(args.cpuProf, "client")}`,
      );
    }
    ours = best(
      ours,
      await runChild(Deno.execPath(), [
        ...flags,
        OURS_DRIVER,
        `--only=${only}`,
        `--plan=${JSON.stringify(plan)}`,
        ...(args.cpuProf ? [`--cpu-prof=${args.cpuProf}`] : []),
      ], "our side"),
    );
  };
  const runTheirSide = async () => {
    check("theirs");
    console.error(`== ipyparallel 7.1 (${only})`);
    // Python's client is ~10× slower per task here; 200,000 tasks would take most of the
    // budget, so by default it completes a tenth of ours (growth is linear: it keeps every
    // result and metadata record). --mem-completed-ipp=N overrides.
    const pyPlan = {
      ...plan,
      mem_completed: args.memCompletedIpp ?? Math.max(plan.mem_batch, plan.mem_completed / 10),
    };
    theirs = best(
      theirs,
      await runChild(PYTHON, [
        PY_DRIVER,
        `--only=${only}`,
        `--plan=${JSON.stringify(pyPlan)}`,
      ], "ipyparallel side"),
    );
  };
  // Several rounds alternate which side goes first and keep each side's best figure: the
  // machine is shared, and the best of N is the least disturbed.
  for (let round = 0; round < args.rounds; round++) {
    const order = round % 2 === 0 ? [runOursSide, runTheirSide] : [runTheirSide, runOursSide];
    for (const run of order) {
      if (run === runOursSide && args.side === "ipp") continue;
      if (run === runTheirSide && args.side === "ours") continue;
      await run();
    }
  }
  check("end");
  let floor: Floor | undefined;
  // Only when a workload it bounds was run (it takes ~15 s).
  if (args.floor && Object.keys(FLOORED).some((name) => shown(args, name))) {
    console.error("== this machine's floor (bench/floor.ts)");
    floor = await measureFloor({ bytes: plan.bytes, sgBytes: plan.scatter_n * 8 });
  }
  if (args.json) {
    await Deno.writeTextFile(
      args.json,
      JSON.stringify({ plan, ours, theirs, checks, floor }, null, 2),
    );
  }
  const cpus = navigator.hardwareConcurrency;
  console.log(
    `\nMachine: ${cpus} CPUs, ${Deno.osRelease()}, Deno ${Deno.version.deno}, load average ` +
      `${Deno.loadavg().map((x) => x.toFixed(2)).join(" ")} (shared machine: figures are noisy)`,
  );
  console.log(
    `Speed check before each side (a fixed loop, bench/speed_check.ts; higher = machine slower ` +
      `then): ${checks.join(", ")}`,
  );
  console.log(
    `Our large frames here (bench's own process): huge pages ${hugePagesReason()}; ` +
      `prefault ${prefaultReason()}`,
  );
  report(ours, theirs, args, plan, floor);
}

if (import.meta.main) await main();
