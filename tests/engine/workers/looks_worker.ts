/// <reference lib="deno.worker" />
/**
 * The serving side of `looks_test.ts`, on a thread of its own as the kernel worker is: it
 * starts and ends requests on the shared block the way `serve.ts` does, holding the thread in
 * a synchronous loop for each request's time and sleeping between requests.
 */

import { wakeLooks } from "../../../src/engine/kernel/looks.ts";
import { Shared } from "../../../src/engine/kernel/protocol.ts";

/** One request: the gap before it and how long it holds the thread, in ms. */
export interface Step {
  gap: number;
  hold: number;
}

self.onmessage = async (e: MessageEvent<{ shared: SharedArrayBuffer; steps: Step[] }>) => {
  const ctl = new Int32Array(e.data.shared);
  const started: number[] = [];
  for (const { gap, hold } of e.data.steps) {
    if (gap > 0) await new Promise((r) => setTimeout(r, gap));
    started.push(Atomics.add(ctl, Shared.REQUESTS, 1) + 1);
    Atomics.store(ctl, Shared.RUNNING, 1);
    wakeLooks(ctl);
    const end = performance.now() + hold;
    while (performance.now() < end) { /* holds the thread, as synchronous user code does */ }
    Atomics.store(ctl, Shared.RUNNING, 0);
  }
  self.postMessage(started);
};
