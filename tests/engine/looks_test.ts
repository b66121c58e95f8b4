/**
 * The main thread's looks at a serving kernel worker park while no request comes and wake on
 * the next one (`src/engine/kernel/looks.ts`), against a real second thread that starts and
 * ends requests on the shared block as the kernel worker does.
 */
import assert from "node:assert/strict";
import { WorkerLooks } from "../../src/engine/kernel/looks.ts";
import { Shared } from "../../src/engine/kernel/protocol.ts";
import type { Step } from "./workers/looks_worker.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs `steps` on a worker thread; resolves with the request numbers it started. */
async function serve(shared: SharedArrayBuffer, steps: Step[]): Promise<number[]> {
  const worker = new Worker(new URL("./workers/looks_worker.ts", import.meta.url), {
    type: "module",
  });
  try {
    return await new Promise<number[]>((resolve, reject) => {
      worker.onmessage = (e) => resolve(e.data);
      worker.onerror = (e) => {
        e.preventDefault();
        reject(new Error(e.message));
      };
      worker.postMessage({ shared, steps });
    });
  } finally {
    worker.terminate();
  }
}

function block(): { shared: SharedArrayBuffer; ctl: Int32Array } {
  const shared = new SharedArrayBuffer((Shared.FLAGS + Shared.SLOTS) * 4);
  return { shared, ctl: new Int32Array(shared) };
}

Deno.test("looks park after a look interval without requests, and a request wakes them", async () => {
  const { shared, ctl } = block();
  const announced: number[] = [];
  const held: number[] = [];
  const looks = new WorkerLooks(ctl, {
    onLongRequest: () => announced.push(Atomics.load(ctl, Shared.REQUESTS)),
    announceMs: 40,
    recordsMs: 10,
  });
  try {
    looks.watchRecords(() => held.push(Atomics.load(ctl, Shared.REQUESTS)));
    await sleep(200);
    assert.equal(looks.parked, true, "no request for two looks: parked");
    assert.equal(Atomics.load(ctl, Shared.PARKED), 1);
    const parks = looks.parks;
    await sleep(200);
    assert.equal(looks.parks, parks, "a parked look does not run");

    // A request that holds the worker for 300 ms wakes the looks, which then find it.
    const [long] = await serve(shared, [{ gap: 0, hold: 300 }]);
    assert.equal(Atomics.load(ctl, Shared.PARKED), 0, "the request cleared the flag");
    assert.deepEqual([...new Set(announced)], [long]);
    assert.ok(held.includes(long), `records look found request ${long} held: ${held}`);
    // Idle again: they park again.
    await sleep(200);
    assert.equal(looks.parked, true);
    assert.ok(looks.parks > parks);
  } finally {
    looks.close();
  }
  assert.equal(looks.parked, false, "closed, not parked");
});

Deno.test("no request is missed while the looks park and wake at random moments", async () => {
  // Short requests with random gaps around the look interval make the looks park and wake
  // many times; every long request (held for several looks) must still be announced. A lost
  // wake-up would leave the looks parked for good, and every later long request unannounced.
  const { shared, ctl } = block();
  const announced = new Set<number>();
  const looks = new WorkerLooks(ctl, {
    onLongRequest: () => announced.add(Atomics.load(ctl, Shared.REQUESTS)),
    announceMs: 8,
  });
  try {
    let seed = 12345;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const steps: Step[] = [];
    const longAt = new Set<number>();
    for (let i = 0; i < 200; i++) {
      const long = i % 10 === 9;
      if (long) longAt.add(i);
      steps.push({ gap: Math.floor(random() * 30), hold: long ? 80 : random() * 2 });
    }
    const started = await serve(shared, steps);
    const longs = started.filter((_, i) => longAt.has(i));
    const missed = longs.filter((n) => !announced.has(n));
    assert.deepEqual(missed, [], `long requests not announced (parks so far: ${looks.parks})`);
    assert.ok(looks.parks >= 10, `the looks parked and woke often: ${looks.parks}`);
  } finally {
    looks.close();
  }
});
