import assert from "node:assert/strict";
import { BoundedIds } from "../../src/controller/bounded_ids.ts";

Deno.test("bounded ids: past the limit the oldest goes, and onEvict hears of it", () => {
  const evicted: string[] = [];
  const ids = new BoundedIds(3, (id) => evicted.push(id));
  for (const id of ["a", "b", "c", "d", "e"]) ids.add(id);
  assert.deepEqual([...ids], ["c", "d", "e"]);
  assert.deepEqual(evicted, ["a", "b"]);
  assert.equal(ids.size, 3);
  ids.add("d"); // held: no-op, nothing evicted
  assert.deepEqual(evicted, ["a", "b"]);
  // Deleted ids free their place without an eviction; the ring skips them later.
  assert.equal(ids.delete("c"), true);
  assert.equal(ids.delete("c"), false);
  ids.add("f");
  assert.deepEqual([...ids], ["d", "e", "f"]);
  assert.deepEqual(evicted, ["a", "b"], "c's place was already free");
  ids.add("g");
  assert.deepEqual(evicted, ["a", "b", "d"]);
  ids.clear();
  assert.equal(ids.size, 0);
  for (const id of ["h", "i", "j", "k"]) ids.add(id);
  assert.deepEqual([...ids], ["i", "j", "k"]);
  assert.deepEqual(evicted, ["a", "b", "d", "h"], "clear() evicts nothing; the ring restarts");
});

Deno.test("bounded ids: Infinity keeps all, 0 keeps none, anything else is refused", () => {
  const all = new BoundedIds(Infinity, () => assert.fail("nothing is evicted"));
  for (let i = 0; i < 10_000; i++) all.add(`m${i}`);
  assert.equal(all.size, 10_000);
  const none = new BoundedIds(0);
  none.add("a");
  assert.equal(none.has("a"), false);
  for (const bad of [-1, 2.5, NaN]) assert.throws(() => new BoundedIds(bad), RangeError);
});

Deno.test("bounded ids: each id's tag comes back with it when it is evicted", () => {
  const evicted: [string, number][] = [];
  const ids = new BoundedIds(2, (id, tag) => evicted.push([id, tag]));
  ids.add("a", 3).add("b").add("c", -1).add("d", 5);
  assert.deepEqual(evicted, [["a", 3], ["b", 0]]);
  assert.equal(ids.tagOf("c"), -1);
  assert.equal(ids.tagOf("d"), 5);
  assert.equal(ids.tagOf("a"), undefined);
});
