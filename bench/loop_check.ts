/**
 * What the engine's interrupt checks cost user code: CPU-bound functions as an engine runs
 * them (instrumented by `src/engine/kernel/rewrite.ts`'s `compileFunction`, every loop body
 * reading the interrupt flag) against the same functions as plain JavaScript, in this
 * process. Not a test: nothing asserts timing.
 *
 * ```sh
 * deno run -A bench/loop_check.ts             # best of 7 rounds per function
 * deno run -A bench/loop_check.ts --rounds=15
 * ```
 *
 * Prints each function's best time, instrumented and plain, and their ratio (1.00: the check
 * costs nothing). The nineteenth round (BENCHMARKS.md) measured 0.98–1.19 with the check it
 * ships (trial division 1.05–1.19), against 1.49–3.13 with the counted check before it (an
 * array sum 3.00–3.13).
 *
 * @module
 */

import { compileFunction } from "../src/engine/kernel/rewrite.ts";
import { countPrimes } from "../examples/count_primes.ts";

const ROUNDS = Number(Deno.args.find((a) => a.startsWith("--rounds="))?.slice(9) ?? 7);

/** The functions, as a user would write them, and the arguments of one timed call. */
const CASES: Record<string, [(...args: never[]) => unknown, () => unknown[]]> = {
  "trial division (the demo's task)": [
    countPrimes,
    () => [0, 1_000_000],
  ],
  "sum of a Float64Array": [
    function sum(a: Float64Array): number {
      let s = 0;
      for (let i = 0; i < a.length; i++) s += a[i];
      return s;
    },
    () => [new Float64Array(10_000_000).fill(1.5)],
  ],
  "matrix product, 300 × 300": [
    function matmul(a: Float64Array, b: Float64Array, n: number): number {
      const c = new Float64Array(n * n);
      for (let i = 0; i < n; i++) {
        for (let k = 0; k < n; k++) {
          const x = a[i * n + k];
          for (let j = 0; j < n; j++) c[i * n + j] += x * b[k * n + j];
        }
      }
      return c[0];
    },
    () => [new Float64Array(90_000).fill(1), new Float64Array(90_000).fill(2), 300],
  ],
  "objects in a Map": [
    function objects(n: number): number {
      const m = new Map<number, { v: number }>();
      let i = 0;
      while (i < n) {
        m.set(i % 1000, { v: i });
        i++;
      }
      return m.size;
    },
    () => [3_000_000],
  ],
};

const flag = new Int32Array(new SharedArrayBuffer(4));
const interrupted = () => new Error("interrupted");

console.log(`best of ${ROUNDS} rounds (ms)`);
console.log("| function | instrumented | plain | ratio |");
console.log("| --- | --- | --- | --- |");
for (const [name, [fn, args]] of Object.entries(CASES)) {
  const source = fn.toString();
  const compiled = compileFunction(source, name).source;
  const checked = (0, eval)(compiled)(flag, interrupted) as (...a: unknown[]) => unknown;
  const plain = (0, eval)(`(${source})`) as (...a: unknown[]) => unknown;
  const a = args();
  let best = [Infinity, Infinity];
  for (let r = 0; r < ROUNDS; r++) {
    const times = [checked, plain].map((f) => {
      const t = performance.now();
      f(...a);
      return performance.now() - t;
    });
    best = best.map((b, i) => Math.min(b, times[i]));
  }
  console.log(
    `| ${name} | ${best[0].toFixed(1)} | ${best[1].toFixed(1)} | ${
      (best[0] / best[1]).toFixed(2)
    } |`,
  );
}
