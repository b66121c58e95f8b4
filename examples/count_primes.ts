/**
 * The quickstart's task (`quickstart.ts`), in a module of its own so that `bench/loop_check.ts`
 * times the same function.
 *
 * @module
 */

/** Primes in [lo, hi), by trial division: a CPU-bound task with a tiny result. */
export function countPrimes(lo: number, hi: number): number {
  let count = 0;
  for (let n = Math.max(lo, 2); n < hi; n++) {
    let prime = true;
    for (let d = 2; d * d <= n; d++) {
      if (n % d === 0) {
        prime = false;
        break;
      }
    }
    if (prime) count++;
  }
  return count;
}
