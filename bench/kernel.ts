/**
 * Micro-benchmark of the engine's kernel (`src/engine/kernel/`): the main-thread ↔ worker
 * round trip of trivial requests, worker start time, and 100 MB results (pull of a namespace
 * value, and a value computed by the call). Not a test: nothing asserts timing.
 *
 * ```sh
 * deno run -A bench/kernel.ts                # 2,000 calls per case, 6 rounds
 * deno run -A bench/kernel.ts --n=5000 --rounds=10 --mb=0   # skip the 100 MB cases
 * ```
 *
 * Prints the minimum and median per case (µs per call, ms for start and big cases) over the
 * rounds after the first (warm-up). Use medians on a shared machine.
 *
 * @module
 */

import { Kernel } from "../src/engine/kernel/mod.ts";
import { packApplyMessage, Reference } from "../src/protocol/serialize.ts";

const flag = (name: string, fallback: number): number => {
  const a = Deno.args.find((x) => x.startsWith(`--${name}=`));
  return a === undefined ? fallback : Number(a.slice(name.length + 3));
};
const N = flag("n", 2000);
const ROUNDS = flag("rounds", 6);
const MB = flag("mb", 100);

const results = new Map<string, { unit: string; xs: number[] }>();
const record = (name: string, unit: string, x: number) => {
  let r = results.get(name);
  if (r === undefined) results.set(name, r = { unit, xs: [] });
  r.xs.push(x);
};

async function perCall(name: string, fn: () => Promise<unknown>): Promise<void> {
  const t = performance.now();
  for (let i = 0; i < N; i++) await fn();
  record(name, "µs/call", ((performance.now() - t) / N) * 1000);
}

// Start time: a fresh kernel (worker spawn + module load + init) until ready.
for (let r = 0; r < Math.min(ROUNDS, 4); r++) {
  const t = performance.now();
  const k = await Kernel.start();
  record("Kernel.start (worker ready)", "ms", performance.now() - t);
  const t2 = performance.now();
  await k.apply(packApplyMessage((a: number) => a, [1]), { requestId: "first" });
  record("first apply on a fresh kernel (compiler load)", "ms", performance.now() - t2);
  await k.close();
}

await using k = await Kernel.start({ onEvent: () => {} });
const f = (a: number, b: number) => a + b;
const frames = packApplyMessage(f, [1, 2]);
for (let r = 0; r < ROUNDS; r++) {
  await perCall("execute silent '1'", () => k.execute("1", { silent: true, requestId: "x" }));
  await perCall("execute '1' (stored, execute_result)", () => k.execute("1", { requestId: "x" }));
  await perCall(
    "apply (a,b)=>a+b, pre-packed",
    () => k.apply(frames, { transfer: false, requestId: "x" }),
  );
  // Several requests queued at once (as under load-balanced throughput).
  const t = performance.now();
  for (let i = 0; i < N; i += 50) {
    const batch = [];
    for (let j = 0; j < 50; j++) batch.push(k.apply(frames, { transfer: false, requestId: "x" }));
    await Promise.all(batch);
  }
  record("apply, 50 queued at a time", "µs/call", ((performance.now() - t) / N) * 1000);
}

if (MB > 0) {
  const n = Math.floor((MB * 1e6) / 8);
  await k.execute(`globalThis.big = new Float64Array(${n}).map((_, i) => i)`, { silent: true });
  const pull = packApplyMessage(new Reference("__ipp_pull__"), ["big"]);
  const make = packApplyMessage((m: number) => new Float64Array(m).fill(1), [n]);
  for (let r = 0; r < Math.min(ROUNDS, 4); r++) {
    let t = performance.now();
    const p = await k.apply(pull, { transfer: false, requestId: "pull" });
    record(`pull of a ${MB} MB namespace array`, "ms", performance.now() - t);
    if (p.status !== "ok") throw new Error(`pull failed: ${JSON.stringify(p)}`);
    t = performance.now();
    const m = await k.apply(make, { transfer: false, requestId: "make" });
    record(`apply returning a new ${MB} MB array`, "ms", performance.now() - t);
    if (m.status !== "ok") throw new Error(`make failed: ${JSON.stringify(m)}`);
  }
  // The pulled value must still be intact in the namespace.
  const check = await k.execute("big.length + big[big.length - 1]");
  if (check.status !== "ok" || check.data?.["text/plain"] !== String(2 * n - 1)) {
    throw new Error(`namespace array damaged by pull: ${JSON.stringify(check)}`);
  }
}

for (const [name, { unit, xs }] of results) {
  const s = (xs.length > 1 ? xs.slice(1) : xs).sort((a, b) => a - b);
  const med = s[Math.floor(s.length / 2)];
  console.log(`${name}: min ${s[0].toFixed(1)} ${unit}, median ${med.toFixed(1)} ${unit}`);
}
