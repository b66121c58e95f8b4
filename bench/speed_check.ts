/**
 * A fixed single-threaded workload whose time tells how fast this machine runs at the moment.
 * On a shared VM the same code can take up to 2× longer from one minute to the next, on either
 * side of a comparison, and the guest sees no steal time; `bench/compare.ts` runs this check
 * before each side, when nothing else of the bench runs, and prints the times next to the
 * table so that a reader can tell a slow phase from a slow stack.
 *
 * @module
 */

/** Iterations of the integer-mixing loop per attempt (~45 ms on the 2026 bench VM). */
const ITERATIONS = 20_000_000;

/**
 * Times an integer-mixing loop (no allocation, no I/O) three times and keeps the fastest.
 *
 * @returns Milliseconds: the same figure from run to run on a steady machine; higher means
 * the machine was slower then.
 */
export function speedCheck(): number {
  let best = Infinity;
  let x = 0x12345678;
  for (let attempt = 0; attempt < 3; attempt++) {
    const t = performance.now();
    for (let i = 0; i < ITERATIONS; i++) x = (Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) + i) | 0;
    best = Math.min(best, performance.now() - t);
  }
  // The result is used, so the loop cannot be optimised away.
  if (x === 0x7fffffff) console.error("speedCheck: an unlikely value");
  return best;
}
