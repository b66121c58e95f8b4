import assert from "node:assert/strict";
import { SeqHeap, SeqList } from "../../src/controller/task_queue.ts";

interface Item {
  name: string;
  live: boolean;
}

Deno.test("SeqHeap pops live items in qseq order and skips dead ones", () => {
  const heap = new SeqHeap<Item>((item) => item.live);
  const items = [5, 1, 4, 2, 3].map((q) => ({ item: { name: `i${q}`, live: q !== 2 }, q }));
  for (const { item, q } of items) heap.push(item, q);
  const out: string[] = [];
  for (let e = heap.pop(); e; e = heap.pop()) out.push(e.item.name);
  assert.deepEqual(out, ["i1", "i3", "i4", "i5"]);
  assert.equal(heap.peek(), undefined);
});

Deno.test("SeqList keeps qseq order for out-of-order inserts and compacts dead entries", () => {
  const list = new SeqList<Item>((item) => item.live);
  const a = { name: "a", live: true };
  const b = { name: "b", live: true };
  const c = { name: "c", live: true };
  list.insert(a, 1);
  list.insert(c, 3);
  list.insert(b, 2);
  assert.deepEqual(list.live().map((e) => e.item.name), ["a", "b", "c"]);
  a.live = false;
  b.live = false;
  assert.deepEqual(list.live().map((e) => e.item.name), ["c"]);
  assert.equal(list.rawSize, 1);
  assert.equal(list.inserts, 3);
});
