/// <reference lib="deno.worker" />
/**
 * The worker side of `busy_slot_test.ts`: offers `n` requests' headers in turn (each 4 KiB
 * of its number), holds each for a few microseconds, and takes the offer back; posts
 * whether each take found the offer still there, after raising the `done` flag.
 */
import { BusySlot } from "../../../src/engine/kernel/busy_slot.ts";

self.onmessage = (
  e: MessageEvent<{ block: SharedArrayBuffer; n: number; done: SharedArrayBuffer }>,
) => {
  const slot = new BusySlot(e.data.block);
  const took: boolean[] = [];
  for (let i = 1; i <= e.data.n; i++) {
    slot.offer(new Uint8Array(4096).fill(i & 0xff));
    const until = performance.now() + (i % 7) * 0.002;
    while (performance.now() < until) { /* a short request */ }
    took.push(slot.take());
  }
  Atomics.store(new Int32Array(e.data.done), 0, 1);
  self.postMessage(took);
};
