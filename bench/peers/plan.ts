/**
 * What `bench/compare.ts` and its two drivers share: the workload names, the plan (counts) of a
 * full and a quick run, and the shape of the results each driver prints as JSON.
 *
 * @module
 */

/** The goals, in the order their ratio lines are printed. */
export const GOALS = [
  "lb_throughput",
  "direct_roundtrip",
  "execute_roundtrip",
  "map_100k",
  "push_100MB",
  "pull_100MB",
  "scatter_gather_10M",
  "broadcast_16",
  "register_64",
] as const;
/** Workloads that run twice on both sides; their first pass is reported as `<name>_1st`. */
export const TWICE = [
  "lb_throughput",
  "direct_roundtrip",
  "execute_roundtrip",
  "map_100k",
] as const;
/** Workloads measured on both sides without a goal of their own. */
export const EXTRAS = [
  ...TWICE.map((n) => `${n}_1st` as const),
  "push_8MB",
  "pull_8MB",
  "mem_completed",
  "mem_outstanding",
] as const;
export const ALL: readonly string[] = [...GOALS, ...EXTRAS];

/**
 * Sizes of every workload; both sides get the same plan (Python's `mem_completed` aside, see
 * `compare.ts`).
 */
export interface Plan {
  lb_tasks: number;
  direct_n: number;
  map_items: number;
  map_chunksize: number;
  bytes: number;
  /** Pushes and pulls of `bytes` per pass; the fastest of each is reported (as the floor's). */
  bulk_reps: number;
  /** A mid-sized array (a million doubles) pushed and pulled `mid_reps` times; the median. */
  mid_bytes: number;
  mid_reps: number;
  scatter_n: number;
  broadcast_engines: number;
  broadcast_n: number;
  register_engines: number;
  mem_outstanding: number;
  mem_completed: number;
  mem_batch: number;
}

export const FULL: Plan = {
  lb_tasks: 3000,
  direct_n: 2000,
  map_items: 100_000,
  map_chunksize: 1000,
  bytes: 100_000_000,
  bulk_reps: 3,
  mid_bytes: 8_000_000,
  mid_reps: 9,
  scatter_n: 10_000_000,
  broadcast_engines: 16,
  broadcast_n: 50,
  register_engines: 64,
  mem_outstanding: 20_000,
  mem_completed: 200_000,
  mem_batch: 10_000,
};

export const QUICK: Plan = {
  ...FULL,
  lb_tasks: 1000,
  direct_n: 100,
  broadcast_n: 20,
  register_engines: 16,
  mem_outstanding: 5000,
  mem_completed: 20_000,
  mem_batch: 5000,
};

/** Figures of one workload on one side. */
export type Figures = Record<string, number | string>;
export type Results = Record<string, Figures>;
