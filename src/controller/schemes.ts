/**
 * Load-balancing schemes as pure functions (STYLE.md item 4; PROTOCOL.md §7.2).
 *
 * A scheme picks one engine among the eligible ones. The caller passes the eligible engines'
 * loads **in LRU order** (least recently used first), so "ties → least recently used" means
 * "ties → lowest index", and `lru` is always index 0. Randomness comes only from `rng`
 * (uniform in [0, 1), like `Math.random`), so tests are deterministic.
 *
 * @module
 */

/** Picks an index into `loads` (non-empty, LRU order). */
export type Scheme = (loads: readonly number[], rng: () => number) => number;

/** Names accepted for `TaskScheduler.scheme_name` that map to a scheme here. */
export type SchemeName = "leastload" | "lru" | "plainrandom" | "twobin" | "weighted";

function check(loads: readonly number[]): number {
  if (loads.length === 0) throw new RangeError("A scheme needs at least one engine");
  return loads.length;
}

function randomIndex(n: number, rng: () => number): number {
  return Math.min(n - 1, Math.floor(rng() * n)); // clamp guards an rng that returns 1
}

/**
 * Lowest load; ties go to the first (least recently used) engine. The default scheme.
 *
 * @param loads Loads in LRU order.
 * @returns Index of the chosen engine.
 * @example
 * ```ts
 * leastload([2, 0, 0], Math.random); // 1
 * ```
 */
export function leastload(loads: readonly number[], _rng?: () => number): number {
  const n = check(loads);
  let best = 0;
  for (let i = 1; i < n; i++) if (loads[i] < loads[best]) best = i;
  return best;
}

/**
 * Always the least recently used engine; loads are ignored.
 *
 * @param loads Loads in LRU order.
 * @returns 0.
 * @example
 * ```ts
 * lru([5, 0], Math.random); // 0
 * ```
 */
export function lru(loads: readonly number[], _rng?: () => number): number {
  check(loads);
  return 0;
}

/**
 * Uniformly random engine.
 *
 * @param loads Loads in LRU order.
 * @param rng Uniform [0, 1) source.
 * @returns A random index.
 * @example
 * ```ts
 * plainrandom([0, 0, 0], () => 0.5); // 1
 * ```
 */
export function plainrandom(loads: readonly number[], rng: () => number): number {
  return randomIndex(check(loads), rng);
}

/**
 * Two random picks; the less recently used (lower index) wins.
 *
 * @param loads Loads in LRU order.
 * @param rng Uniform [0, 1) source.
 * @returns The lower of two random indices.
 * @example
 * ```ts
 * twobin([0, 0, 0, 0], () => 0.9); // 3
 * ```
 */
export function twobin(loads: readonly number[], rng: () => number): number {
  const n = check(loads);
  return Math.min(randomIndex(n, rng), randomIndex(n, rng));
}

/**
 * Two random picks weighted by 1/(load + 1e-6); the less loaded of the two wins (the first
 * pick on a tie). An idle engine is a million times likelier than one with load 1.
 *
 * @param loads Loads in LRU order.
 * @param rng Uniform [0, 1) source.
 * @returns The chosen index.
 * @example
 * ```ts
 * weighted([3, 0], () => 0.5); // 1
 * ```
 */
export function weighted(loads: readonly number[], rng: () => number): number {
  const n = check(loads);
  const sums = new Array<number>(n);
  let total = 0;
  for (let i = 0; i < n; i++) {
    total += 1 / (1e-6 + loads[i]);
    sums[i] = total;
  }
  const draw = () => {
    const x = rng() * total;
    let i = 0;
    while (i < n - 1 && sums[i] < x) i++;
    return i;
  };
  const a = draw();
  const b = draw();
  return loads[b] < loads[a] ? b : a;
}

/** Every scheme by name. */
export const SCHEMES: Readonly<Record<SchemeName, Scheme>> = {
  leastload,
  lru,
  plainrandom,
  twobin,
  weighted,
};

/**
 * Looks a scheme up by its ipyparallel name.
 *
 * @param name `leastload`, `lru`, `plainrandom`, `twobin` or `weighted`.
 * @returns The scheme.
 * @throws {RangeError} For any other name (`pure` and `none` are not schemes of this
 *   scheduler: they mean "no Python scheduler").
 * @example
 * ```ts
 * schemeByName("lru")([1, 2], Math.random); // 0
 * ```
 */
export function schemeByName(name: string): Scheme {
  if (Object.hasOwn(SCHEMES, name)) return SCHEMES[name as SchemeName];
  throw new RangeError(
    `Unknown task scheme ${JSON.stringify(name)} (use one of ${Object.keys(SCHEMES).join(", ")})`,
  );
}
