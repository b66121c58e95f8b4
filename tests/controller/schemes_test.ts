import assert from "node:assert/strict";
import {
  leastload,
  lru,
  plainrandom,
  type Scheme,
  schemeByName,
  SCHEMES,
  twobin,
  weighted,
} from "../../src/controller/schemes.ts";

/** A deterministic uniform [0, 1) generator (mulberry32). */
function seeded(seed: number): () => number {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Conformance suite: every scheme must pass these (hono's common.case.test.ts pattern).
for (const [name, scheme] of Object.entries(SCHEMES) as [string, Scheme][]) {
  Deno.test(`${name}: returns an integer index within the loads`, () => {
    const rng = seeded(1);
    for (let trial = 0; trial < 500; trial++) {
      const n = 1 + Math.floor(rng() * 12);
      const loads = Array.from({ length: n }, () => Math.floor(rng() * 4));
      const i = scheme(loads, rng);
      assert.ok(Number.isInteger(i) && i >= 0 && i < n, `${i} of ${n}`);
    }
  });

  Deno.test(`${name}: a single engine is always chosen`, () => {
    assert.equal(scheme([7], seeded(2)), 0);
  });

  Deno.test(`${name}: throws RangeError without engines`, () => {
    assert.throws(() => scheme([], seeded(3)), RangeError);
  });

  Deno.test(`${name}: is deterministic for a given rng sequence`, () => {
    const loads = [3, 1, 0, 2, 0, 5];
    const run = () => {
      const rng = seeded(9);
      return Array.from({ length: 50 }, () => scheme(loads, rng));
    };
    assert.deepEqual(run(), run());
  });

  Deno.test(`${name}: does not mutate loads`, () => {
    const loads = [2, 0, 1];
    scheme(loads, seeded(4));
    assert.deepEqual(loads, [2, 0, 1]);
  });

  Deno.test(`${name}: stays in range when rng returns its extremes`, () => {
    for (const edge of [0, 0.9999999999, 1]) {
      const i = scheme([1, 1, 1], () => edge);
      assert.ok(i >= 0 && i < 3);
    }
  });

  Deno.test(`${name}: is exported by name through schemeByName`, () => {
    assert.equal(schemeByName(name), scheme);
  });
}

Deno.test("schemeByName rejects pure, none and unknown names", () => {
  for (const bad of ["pure", "none", "fastest", "__proto__"]) {
    assert.throws(() => schemeByName(bad), RangeError);
  }
});

Deno.test("leastload picks the minimum load, ties to the least recently used", () => {
  assert.equal(leastload([2, 1, 1, 3], Math.random), 1);
  assert.equal(leastload([0, 0], Math.random), 0);
  assert.equal(leastload([4, 3, 2, 1], Math.random), 3);
});

Deno.test("lru always picks the front of the LRU order, ignoring load", () => {
  assert.equal(lru([9, 0, 0], Math.random), 0);
});

Deno.test("plainrandom maps rng uniformly onto indices", () => {
  assert.equal(plainrandom([0, 0, 0, 0], () => 0), 0);
  assert.equal(plainrandom([0, 0, 0, 0], () => 0.26), 1);
  assert.equal(plainrandom([0, 0, 0, 0], () => 0.99), 3);
  const counts = [0, 0, 0];
  const rng = seeded(5);
  for (let i = 0; i < 3000; i++) counts[plainrandom([0, 0, 0], rng)]++;
  for (const c of counts) assert.ok(c > 800 && c < 1200, String(counts));
});

Deno.test("twobin takes the less recently used of two random picks", () => {
  const draws = [0.9, 0.3];
  assert.equal(twobin([0, 0, 0, 0], () => draws.shift()!), 1);
  const counts = [0, 0, 0];
  const rng = seeded(6);
  for (let i = 0; i < 3000; i++) counts[twobin([0, 0, 0], rng)]++;
  assert.ok(counts[0] > counts[1] && counts[1] > counts[2], String(counts)); // 5/9, 3/9, 1/9
});

Deno.test("weighted strongly prefers idle engines and returns the less loaded pick", () => {
  const rng = seeded(7);
  let idle = 0;
  for (let i = 0; i < 1000; i++) if (weighted([1, 0, 1], rng) === 1) idle++;
  assert.ok(idle > 990, String(idle));
  const draws = [0.1, 0.9]; // first pick index 0 (load 2), second index 1 (load 1)
  assert.equal(weighted([2, 1], () => draws.shift()!), 1);
});
