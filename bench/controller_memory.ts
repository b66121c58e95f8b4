/**
 * How the controller's memory grows under a steady stream of load-balanced tasks: our
 * controller runs with V8's `--trace-gc`, two engines and this process's client send no-op
 * tasks in batches of 3,000 for a while, and each full (mark-compact) collection's live heap
 * is printed with the number of tasks finished when it was logged.
 *
 * The Hub and the scheduler remember finished tasks by msg_id (ipyparallel's do, until a
 * purge); `--finished-limit` bounds that (BENCHMARKS.md, twenty-third round). Compare:
 *
 * ```sh
 * deno run -A bench/controller_memory.ts 60 --finished-limit=0        # all, as before
 * deno run -A bench/controller_memory.ts 60 --finished-limit=100000
 * deno run -A bench/controller_memory.ts 120                          # the default, 1,000,000
 * ```
 *
 * Arguments: seconds of load (default 60), then flags passed to `ipp controller`. Not a test.
 *
 * @module
 */

import { Client } from "../src/client/client.ts";

const MAIN = new URL("../src/cli/main.ts", import.meta.url).pathname;
const CONFIG = new URL("../deno.json", import.meta.url).pathname;
const BATCH = 3_000;

/** A `deno run` of `ipp <args>` with piped output (and V8 flags for the controller). */
function ipp(args: string[], v8Flags: string[] = []): Deno.ChildProcess {
  const flags = v8Flags.length ? [`--v8-flags=${v8Flags.join(",")}`] : [];
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", `--config=${CONFIG}`, ...flags, MAIN, ...args],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** Calls `onLine` with each line of `stream` until it ends. */
async function lines(stream: ReadableStream<Uint8Array>, onLine: (l: string) => void) {
  let rest = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    const parts = (rest + chunk).split("\n");
    rest = parts.pop()!;
    for (const l of parts) onLine(l);
  }
}

async function main(): Promise<void> {
  const seconds = Number(Deno.args.find((a) => !a.startsWith("--")) ?? 60);
  const controllerFlags = Deno.args.filter((a) => a.startsWith("--"));
  const dir = await Deno.makeTempDir({ prefix: "ipp-ctl-mem-" });
  const where = [`--profile-dir=${dir}`, "--cluster-id=mem"];
  let finished = 0;
  const samples: { tasks: number; liveMb: number }[] = [];
  const controller = ipp(["controller", "--ip=127.0.0.1", ...where, ...controllerFlags], [
    "--trace-gc",
  ]);
  // "… Mark-Compact 402.6 (455.6) -> 169.0 (391.3) MB, …": the live heap after a full GC.
  const gcLines = lines(controller.stdout, (l) => {
    const m = /Mark-Compact(?: \(reduce\))? [\d.]+ \([\d.]+\) -> ([\d.]+) \(/.exec(l);
    if (m) samples.push({ tasks: finished, liveMb: Number(m[1]) });
  });
  const errLines = lines(controller.stderr, () => {});
  const engines: Deno.ChildProcess[] = [];
  try {
    const file = `${dir}/security/ipcontroller-mem-client.json`;
    for (let i = 0; i < 100 && !(await Deno.stat(file).catch(() => null)); i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    for (let i = 0; i < 2; i++) engines.push(ipp(["engine", ...where]));
    for (const e of engines) {
      lines(e.stdout, () => {});
      lines(e.stderr, () => {});
    }
    await using client = await Client.connect({ profileDir: dir, clusterId: "mem" });
    while (client.ids.length < 2) await new Promise((r) => setTimeout(r, 100));
    const lview = client.loadBalancedView();
    const noop = () => null;
    const t0 = performance.now();
    const end = t0 + seconds * 1000;
    while (performance.now() < end) {
      const batch = [];
      for (let i = 0; i < BATCH; i++) batch.push(lview.apply(noop));
      for (const ar of batch) await ar;
      finished += BATCH;
      client.purgeLocalResults();
    }
    const rate = finished / ((performance.now() - t0) / 1000);
    const status = await client.queueStatus() as unknown as Record<string, { completed?: number }>;
    const counted = Object.values(status).reduce((n, q) => n + (q.completed ?? 0), 0);
    console.log(
      `controller ${
        controllerFlags.join(" ") || "(defaults)"
      }: ${finished} tasks in ${seconds} s ` +
        `(${rate.toFixed(0)} tasks/s); queue_status counts ${counted} completed`,
    );
  } finally {
    for (const p of [...engines, controller]) {
      try {
        p.kill("SIGTERM");
      } catch { /* already gone */ }
    }
    await Promise.allSettled([...engines, controller].map((p) => p.status));
    await Promise.allSettled([gcLines, errLines]);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  console.log("tasks finished   live heap after a full GC (MB)   per task since the first (bytes)");
  const first = samples.find((s) => s.tasks > 0);
  for (const s of samples) {
    const per = first && s.tasks > first.tasks
      ? ((s.liveMb - first.liveMb) * 1e6 / (s.tasks - first.tasks)).toFixed(0)
      : "";
    console.log(`${String(s.tasks).padStart(14)}   ${s.liveMb.toFixed(1).padStart(28)}   ${per}`);
  }
}

if (import.meta.main) await main();
