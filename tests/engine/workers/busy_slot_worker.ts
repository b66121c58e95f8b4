/// <reference lib="deno.worker" />
/**
 * The worker side of `busy_slot_test.ts`: offers `n` requests' headers in turn (each 64
 * bytes of its number), holds each for a few microseconds, and takes the offer back; posts
 * whether each take found the offer still there.
 */
import { BusySlot } from "../../../src/engine/kernel/busy_slot.ts";

self.onmessage = (e: MessageEvent<{ block: SharedArrayBuffer; n: number }>) => {
  const slot = new BusySlot(e.data.block);
  const took: boolean[] = [];
  for (let i = 1; i <= e.data.n; i++) {
    slot.offer(new Uint8Array(64).fill(i & 0xff));
    const until = performance.now() + (i % 7) * 0.002;
    while (performance.now() < until) { /* a short request */ }
    took.push(slot.take());
  }
  self.postMessage(took);
};
