/**
 * Data movement: push and pull plain objects and typed arrays, scatter a Float64Array across
 * the engines and gather it back, pass `Reference` arguments (values that stay on the engine),
 * and round-trip the JavaScript values JSON cannot carry (Map, Set, Date, BigInt). Sizes and
 * timings are printed; every result is checked, and a wrong one throws (non-zero exit).
 *
 * ```sh
 * deno run -A examples/data_movement.ts
 * ```
 *
 * @module
 */

import { Cluster, Reference } from "../mod.ts";

// Globals of the engines' namespaces that remote functions below read (set by push/scatter).
// Remote functions travel as source: they see the engine's globals, not this script's
// variables.
declare global {
  var part: Float64Array;
  // deno-lint-ignore no-explicit-any
  var rich: any;
}

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`check failed: ${what}`);
}

function ms(t0: number): string {
  return `${(performance.now() - t0).toFixed(1)} ms`;
}

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

const profileDir = await Deno.makeTempDir({ prefix: "ipp-data-movement-" });
const cluster = new Cluster({ n: 2, profileDir, clusterId: "data_movement" });
try {
  const t0 = performance.now();
  const client = await cluster.startAndConnect();
  console.log(`Cluster up with engines ${JSON.stringify(client.ids)} in ${ms(t0)}\n`);
  const dv = client.directView();

  // 1. push / pull of a plain object: every engine gets its own copy.
  const config = { name: "run-7", steps: [1, 2, 3], nested: { ok: true, ratio: 0.25 } };
  let t = performance.now();
  await dv.push({ config });
  const pulled = await dv.pull("config") as (typeof config)[];
  check(pulled.length === 2, "one config per engine");
  for (const p of pulled) check(JSON.stringify(p) === JSON.stringify(config), "config round trip");
  console.log(`push/pull of an object to ${pulled.length} engines: ${ms(t)} (equal: yes)`);

  // A name may also be an expression, evaluated on the engine.
  const steps = await dv.pull("config.steps.length * 10");
  check(JSON.stringify(steps) === "[30,30]", "pull of an expression");
  console.log(`pull("config.steps.length * 10") → ${JSON.stringify(steps)}`);

  // 2. push / pull of typed arrays: they travel as raw frames, not JSON.
  const N = 2_000_000;
  const samples = new Float64Array(N);
  for (let i = 0; i < N; i++) samples[i] = Math.sin(i);
  const counts = new Int32Array([3, 1, 4, 1, 5, 9, 2, 6]);
  const e0 = client.engine(0);
  t = performance.now();
  await e0.push({ samples, counts });
  const tPush = performance.now() - t;
  t = performance.now();
  const [back, backCounts] = await e0.pull(["samples", "counts"]) as [Float64Array, Int32Array];
  const tPull = performance.now() - t;
  check(back instanceof Float64Array && back.length === N, "Float64Array type and length");
  check(backCounts instanceof Int32Array, "Int32Array type");
  check(back.every((v, i) => v === samples[i]), "Float64Array values");
  check(backCounts.join() === counts.join(), "Int32Array values");
  console.log(
    `push of a Float64Array (${mb(samples.byteLength)}) + Int32Array to engine 0: ` +
      `${tPush.toFixed(1)} ms; pull back: ${tPull.toFixed(1)} ms (` +
      `${(2 * samples.byteLength / 1e6 / ((tPush + tPull) / 1000)).toFixed(0)} MB/s both ways)`,
  );

  // 3. scatter / gather: each engine gets one contiguous part of the array.
  const M = 1_000_000;
  const xs = new Float64Array(M);
  for (let i = 0; i < M; i++) xs[i] = i;
  t = performance.now();
  await dv.scatter("part", xs);
  const lengths = await dv.apply(() => [part.constructor.name, part.length]);
  await dv.execute("part = part.map((v) => v * v)");
  const gathered = await dv.gather("part");
  const tScatter = performance.now() - t;
  console.log(
    `scatter of ${M.toLocaleString()} doubles (${mb(xs.byteLength)}): parts ${
      JSON.stringify(lengths)
    }`,
  );
  // gather concatenates the engines' parts, as numpy's does: Float64Array parts join into one.
  if (!(gathered instanceof Float64Array)) {
    throw new Error("gather of Float64Array parts should give one Float64Array");
  }
  const flat: Float64Array = gathered;
  check(flat.length === M, `gathered ${flat.length} items, expected ${M}`);
  check(flat.every((v, i) => v === i * i), "gathered squares");
  console.log(
    `squared in place and gathered back: ${flat.length.toLocaleString()} items, ` +
      `${tScatter.toFixed(1)} ms for scatter + compute + gather (values checked)`,
  );

  // 4. Reference arguments: name a value already on the engine instead of sending it again.
  t = performance.now();
  const sums = await dv.apply(
    (arr: Float64Array, scale: number) => arr.reduce((a, b) => a + b, 0) * scale,
    new Reference("part"),
    0.5,
  ) as number[];
  const half = M / 2;
  const expected = [0, 1].map((k) => {
    let s = 0;
    for (let i = k * half; i < (k + 1) * half; i++) s += i * i;
    return s * 0.5;
  });
  check(sums.every((s, k) => Math.abs(s - expected[k]) <= 1e-9 * expected[k]), "Reference sums");
  console.log(
    `apply(sum, Reference("part"), 0.5) → ${
      JSON.stringify(sums.map((s) => s.toExponential(4)))
    } in ${ms(t)} (no data sent)`,
  );
  const len = await e0.apply((n: number) => n, new Reference("samples.length"));
  check(len === N, "Reference to an expression");
  console.log(`apply(n => n, Reference("samples.length")) on engine 0 → ${len}`);

  // 5. Values JSON cannot carry make the round trip with their types.
  const value = {
    when: new Date("2024-02-29T12:34:56.789Z"),
    big: 2n ** 70n + 1n,
    tags: new Set(["a", "b", "c"]),
    index: new Map<string | number, unknown>([["x", 1], [2, new Date(0)], ["y", [1n, 2n]]]),
    missing: undefined,
    special: [NaN, -0, Infinity],
  };
  t = performance.now();
  await e0.push({ rich: value });
  const got = await e0.apply(() => rich);
  const tRich = performance.now() - t;
  check(got.when instanceof Date && got.when.getTime() === value.when.getTime(), "Date");
  check(typeof got.big === "bigint" && got.big === value.big, "BigInt");
  check(got.tags instanceof Set && [...got.tags].join() === "a,b,c", "Set");
  check(got.index instanceof Map && got.index.get("x") === 1, "Map");
  check(got.index.get(2) instanceof Date && got.index.get(2).getTime() === 0, "Map value Date");
  check(got.index.get("y")[1] === 2n, "BigInt inside a Map");
  check("missing" in got && got.missing === undefined, "undefined property");
  check(Number.isNaN(got.special[0]) && Object.is(got.special[1], -0), "NaN and -0");
  const remoteTypes = await e0.apply(
    () => [
      rich.when.constructor.name,
      typeof rich.big,
      rich.tags.constructor.name,
      rich.index.size,
    ],
  );
  check(JSON.stringify(remoteTypes) === '["Date","bigint","Set",3]', "types on the engine");
  console.log(
    `Map/Set/Date/BigInt round trip in ${tRich.toFixed(1)} ms: on the engine ${
      JSON.stringify(remoteTypes)
    }; back here big = ${got.big}n, when = ${got.when.toISOString()}`,
  );

  console.log("\nAll data-movement checks passed.");
} finally {
  await cluster.stop();
  await Deno.remove(profileDir, { recursive: true }).catch(() => {});
}
console.log("Cluster stopped.");
