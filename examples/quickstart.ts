/**
 * Quickstart (`deno task demo`): start a local cluster with one engine per core, count primes
 * with a load-balanced map, move a large Float64Array with scatter and gather, print the
 * speed-up over a serial run and the queue status, and shut everything down.
 *
 * @module
 */

import { availableParallelism } from "node:os";
import { Cluster } from "../mod.ts";
import { countPrimes } from "./count_primes.ts";

// IPP_DEMO_QUICK=1 (used by the tests) makes the same run smaller.
const quick = Deno.env.get("IPP_DEMO_QUICK") === "1";
const engines = availableParallelism();
const LIMIT = quick ? 1_000_000 : 6_000_000;
const BLOCK = quick ? 50_000 : 100_000;
const profileDir = await Deno.makeTempDir({ prefix: "ipp-demo-" });

console.log(`Starting a local cluster: 1 controller, ${engines} engines (one per core)…`);
const t0 = performance.now();
await using cluster = new Cluster({ n: engines, profileDir, clusterId: "demo" });
try {
  const client = await cluster.startAndConnect();
  console.log(
    `Cluster up in ${((performance.now() - t0) / 1000).toFixed(2)} s; engines ${
      JSON.stringify(client.ids)
    }\n`,
  );

  // 1. A load-balanced map: each block of numbers is one task.
  const los = Array.from({ length: LIMIT / BLOCK }, (_, i) => i * BLOCK);
  const his = los.map((lo) => lo + BLOCK);
  console.log(`Counting primes below ${LIMIT.toLocaleString()} in ${los.length} tasks…`);
  const lview = client.loadBalancedView();
  const t1 = performance.now();
  const counts = lview.map(countPrimes, los, his);
  await counts.waitInteractive({ intervalMs: 200 });
  const parallel = (await counts).reduce((a: number, b: number) => a + b, 0);
  const tParallel = performance.now() - t1;

  const t2 = performance.now();
  let serial = 0;
  for (let i = 0; i < los.length; i++) serial += countPrimes(los[i], his[i]);
  const tSerial = performance.now() - t2;
  if (serial !== parallel) throw new Error(`mismatch: parallel ${parallel}, serial ${serial}`);
  console.log(
    `${parallel.toLocaleString()} primes. Parallel ${(tParallel / 1000).toFixed(2)} s, serial ` +
      `${(tSerial / 1000).toFixed(2)} s: speed-up ${(tSerial / tParallel).toFixed(2)}× on ` +
      `${engines} engines\n`,
  );

  // 2. Scatter a large Float64Array, work on each part where it lives, gather it back.
  const N = quick ? 1_000_000 : 10_000_000;
  const data = new Float64Array(N);
  for (let i = 0; i < N; i++) data[i] = i;
  const dview = client.directView();
  const t3 = performance.now();
  await (await dview.scatter("part", data));
  await dview.execute("part = part.map((v) => v * 2)");
  const back = await dview.gather("part"); // one Float64Array, joined in engine order
  const tMove = performance.now() - t3;
  if (!(back instanceof Float64Array)) throw new Error("gather did not return a Float64Array");
  let total = 0;
  const length = back.length;
  for (let i = 0; i < length; i++) total += back[i];
  const expected = N * (N - 1); // 2 × (0 + 1 + … + N-1)
  if (length !== N || total !== expected) {
    throw new Error(`gather mismatch: ${length} items, sum ${total}, expected ${expected}`);
  }
  console.log(
    `Scattered ${(N * 8 / 1e6).toFixed(0)} MB to ${engines} engines, doubled it there, gathered ` +
      `it back in ${(tMove / 1000).toFixed(2)} s (sum checked)\n`,
  );

  // 3. What the controller saw.
  console.log("Queue status:", await client.queueStatus());
} finally {
  await cluster.stop();
  await Deno.remove(profileDir, { recursive: true }).catch(() => {});
}
console.log("\nCluster stopped. Done.");
