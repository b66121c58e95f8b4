/**
 * The deferred `busy` slot (`src/engine/kernel/busy_slot.ts`): exactly one of the worker and
 * the main thread sends each request's `busy`, and a claim never reads another request's
 * header; against a real second thread racing the claims.
 */
import assert from "node:assert/strict";
import { BUSY_SLOT_BYTES, BusySlot, createBusySlot } from "../../src/engine/kernel/busy_slot.ts";

Deno.test("offer, take and claim on one thread", () => {
  const block = createBusySlot();
  const worker = new BusySlot(block);
  const main = new BusySlot(block);
  assert.equal(main.claim(), undefined, "no offer yet");
  worker.offer(new Uint8Array([1, 2, 3]));
  assert.deepEqual(main.claim(), new Uint8Array([1, 2, 3]));
  assert.equal(main.claim(), undefined, "claimed once");
  assert.equal(worker.take(), false, "the main thread sends it");
  worker.offer(new Uint8Array([4]));
  assert.equal(worker.take(), true, "taken back first: the worker sends it");
  assert.equal(main.claim(), undefined);
  worker.offer(new Uint8Array(BUSY_SLOT_BYTES + 1));
  assert.equal(main.claim(), undefined, "a header too large is not offered");
  assert.equal(worker.take(), true);
  worker.offer(new Uint8Array([5]));
  main.reset();
  assert.equal(main.claim(), undefined, "a new worker: no offer stands");
});

Deno.test("each request's busy is sent by exactly one side while claims race the worker", async () => {
  const block = createBusySlot();
  const main = new BusySlot(block);
  const n = 20_000;
  const doneFlag = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(new URL("./workers/busy_slot_worker.ts", import.meta.url), {
    type: "module",
  });
  const claimed = new Map<number, number>();
  const finished = new Promise<boolean[]>((resolve, reject) => {
    worker.onmessage = (e) => resolve(e.data);
    worker.onerror = (e) => {
      e.preventDefault();
      reject(new Error(e.message));
    };
  });
  worker.postMessage({ block, n, done: doneFlag.buffer });
  try {
    // Claims spin on this thread (no timer between them), so that a claim often overlaps the
    // worker's take and next offer: the window in which a reused token would let a claim win
    // with bytes the next offer is overwriting.
    const spinUntil = performance.now() + 30_000;
    while (Atomics.load(doneFlag, 0) === 0 && performance.now() < spinUntil) {
      const parent = main.claim();
      if (parent !== undefined) {
        const head = parent[0];
        assert.ok(parent.every((b) => b === head), "one request's header, whole");
        claimed.set(head, (claimed.get(head) ?? 0) + 1);
      }
    }
    const took = await finished;
    assert.equal(took.length, n);
    const byMain = took.filter((t) => !t).length;
    const claims = [...claimed.values()].reduce((a, b) => a + b, 0);
    assert.equal(claims, byMain, "every claim is a take that failed, and no more");
    assert.ok(byMain > 0, `the main thread won some races (${byMain} of ${n})`);
  } finally {
    worker.terminate();
  }
});
