import assert from "node:assert/strict";
import { partition, resolveTargets, sliceIds } from "../../src/client/targets.ts";
import { InvalidOptionError, NoEnginesRegistered } from "../../src/errors.ts";

Deno.test("resolveTargets: all, one id, a list; unknown ids and no engines throw", () => {
  assert.deepEqual(resolveTargets("all", [0, 1, 2]), [0, 1, 2]);
  assert.deepEqual(resolveTargets(undefined, [3]), [3]);
  assert.deepEqual(resolveTargets(1, [0, 1]), [1]);
  assert.deepEqual(resolveTargets([1, 0], [0, 1]), [1, 0]);
  assert.throws(() => resolveTargets("all", []), NoEnginesRegistered);
  assert.throws(() => resolveTargets(5, [0, 1]), InvalidOptionError);
  assert.throws(() => resolveTargets([0.5], [0, 1]), InvalidOptionError);
});

Deno.test("sliceIds selects by position like Python slices", () => {
  const ids = [0, 1, 2, 3, 4];
  assert.deepEqual(sliceIds(ids, {}), ids);
  assert.deepEqual(sliceIds(ids, { start: 1, stop: 3 }), [1, 2]);
  assert.deepEqual(sliceIds(ids, { start: -2 }), [3, 4]);
  assert.deepEqual(sliceIds(ids, { step: 2 }), [0, 2, 4]);
  assert.deepEqual(sliceIds(ids, { start: 10 }), []);
  assert.throws(() => sliceIds(ids, { step: 0 }), InvalidOptionError);
});

Deno.test("partition splits contiguously, the first parts one larger", () => {
  const parts = [0, 1, 2].map((i) => partition(10, 3, i));
  assert.deepEqual(parts, [[0, 4], [4, 7], [7, 10]]);
  assert.deepEqual([0, 1, 2].map((i) => partition(2, 3, i)), [[0, 1], [1, 2], [2, 2]]);
});
