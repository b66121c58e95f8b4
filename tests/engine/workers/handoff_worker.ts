/// <reference lib="deno.worker" />
/**
 * The worker side of `iopub_handoff_test.ts`: runs a script of IOPub messages through a
 * {@link HandoffWriter}, "writing on its socket" by posting each direct message to the test.
 */
import { HandoffWriter } from "../../../src/engine/kernel/iopub_handoff.ts";

/** One step of a script. */
export type Step =
  | { send: string; held: boolean; bytes?: number }
  | { spin: number }
  | { end: true }
  | { release: true };

const encoder = new TextEncoder();

self.onmessage = (e: MessageEvent<{ block: SharedArrayBuffer; steps: Step[] }>) => {
  const { block, steps } = e.data;
  const writer = new HandoffWriter(
    block,
    (frames) => self.postMessage({ t: "direct", frames }),
    (frames) => self.postMessage({ t: "iopub", frames }),
  );
  for (const step of steps) {
    if ("send" in step) {
      const body = new Uint8Array(step.bytes ?? 0);
      writer.send([encoder.encode(step.send), body], step.held);
    } else if ("spin" in step) {
      const until = performance.now() + step.spin; // holds the thread, as user code may
      while (performance.now() < until) { /* spin */ }
    } else if ("end" in step) writer.endRequest();
    else writer.release();
  }
  self.postMessage({ t: "done" });
};
