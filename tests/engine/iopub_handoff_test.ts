/**
 * The IOPub handoff between an engine's kernel worker and its main thread
 * (`src/engine/kernel/iopub_handoff.ts`), with a real worker thread that holds itself in
 * synchronous loops as user code may: which thread sends each message, and that the merged
 * stream keeps the order the worker published in.
 */
import assert from "node:assert/strict";
import {
  createHandoffBlock,
  GRACE_MS,
  HANDOFF_BYTES,
  HandoffReader,
} from "../../src/engine/kernel/iopub_handoff.ts";
import type { Step } from "./workers/handoff_worker.ts";

interface Sent {
  name: string;
  via: "worker" | "main" | "posted";
  at: number;
  bytes: number;
}

/** Runs a script in a fresh worker; resolves with every message sent, in arrival order. */
async function run(steps: Step[], expected: number): Promise<Sent[]> {
  const block = createHandoffBlock();
  const sent: Sent[] = [];
  const decoder = new TextDecoder();
  const record = (frames: Uint8Array[], via: Sent["via"]) =>
    sent.push({
      name: decoder.decode(frames[0]),
      via,
      at: performance.now(),
      bytes: frames[1].length,
    });
  const reader = new HandoffReader(block, (frames) => {
    record(frames, "main");
    return Promise.resolve();
  });
  const worker = new Worker(new URL("./workers/handoff_worker.ts", import.meta.url), {
    type: "module",
  });
  try {
    const done = new Promise<void>((resolve, reject) => {
      worker.onerror = (e) => {
        e.preventDefault();
        reject(new Error(e.message));
      };
      worker.onmessage = (e: MessageEvent<{ t: string; frames: Uint8Array[] }>) => {
        if (e.data.t === "direct") record(e.data.frames, "worker");
        else if (e.data.t === "iopub") {
          record(e.data.frames, "posted");
          reader.acknowledgePosted();
        } else resolve();
      };
    });
    worker.postMessage({ block, steps });
    await done;
    const deadline = performance.now() + 5000;
    while (sent.length < expected && performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.equal(sent.length, expected, JSON.stringify(sent));
    return sent;
  } finally {
    worker.terminate();
    reader.stop();
  }
}

const names = (sent: Sent[]) => sent.map((s) => s.name);
const via = (sent: Sent[]) => Object.fromEntries(sent.map((s) => [s.name, s.via]));

Deno.test("held output the worker gets to send itself never goes through the main thread", async () => {
  const sent = await run([
    { send: "busy", held: false },
    { send: "out1", held: true },
    { send: "out2", held: true },
    { send: "reply-side", held: false },
    { send: "out3", held: true },
    { spin: 2 }, // shorter than the grace: still the worker's
    { send: "idle", held: false },
    { end: true },
  ], 6);
  assert.deepEqual(names(sent), ["busy", "out1", "out2", "reply-side", "out3", "idle"]);
  assert.ok(sent.every((s) => s.via === "worker"), JSON.stringify(sent));
});

Deno.test(
  "output held by a busy thread goes out through the main thread within the grace, the rest of its request after it, then the worker sends again",
  async () => {
    const sent = await run([
      { send: "busy", held: false },
      { send: "out1", held: true },
      { spin: 200 }, // user code holds the thread
      { send: "out2", held: true },
      { send: "idle", held: false },
      { end: true },
      { spin: 100 }, // the next request comes later
      { send: "busy2", held: false },
      { send: "x", held: true },
      { send: "idle2", held: false },
      { end: true },
    ], 7);
    assert.deepEqual(names(sent), ["busy", "out1", "out2", "idle", "busy2", "x", "idle2"]);
    assert.deepEqual(via(sent), {
      busy: "worker",
      out1: "main",
      out2: "main",
      idle: "main",
      busy2: "worker",
      x: "worker",
      idle2: "worker",
    });
    // out1 left while the loop still ran (not with out2, when it ended).
    const at = Object.fromEntries(sent.map((s) => [s.name, s.at]));
    assert.ok(at.out2 - at.out1 >= 100, `out1 at ${at.out1}, out2 at ${at.out2}`);
    assert.ok(at.out1 - at.busy < 200 - GRACE_MS, `busy at ${at.busy}, out1 at ${at.out1}`);
  },
);

Deno.test(
  "a message larger than the block, while the main thread sends, is posted to it and keeps its place",
  async () => {
    const sent = await run([
      { send: "out1", held: true },
      { spin: 100 },
      { send: "big", held: false, bytes: HANDOFF_BYTES + 10 },
      { send: "out2", held: true },
      { send: "idle", held: false },
      { end: true },
    ], 4);
    assert.deepEqual(names(sent), ["out1", "big", "out2", "idle"]);
    assert.deepEqual(sent.map((s) => s.via), ["main", "posted", "main", "main"]);
    assert.equal(sent[1].bytes, HANDOFF_BYTES + 10);
  },
);

Deno.test(
  "held output too large for the block goes through the main thread, after what was held",
  async () => {
    const sent = await run([
      { send: "small", held: true },
      { send: "huge", held: true, bytes: HANDOFF_BYTES },
      { spin: 50 },
      { send: "idle", held: false },
      { end: true },
      { spin: 50 },
      { send: "busy2", held: false },
    ], 4);
    assert.deepEqual(names(sent), ["small", "huge", "idle", "busy2"]);
    assert.deepEqual(sent.map((s) => s.via), ["main", "posted", "main", "worker"]);
  },
);

Deno.test("many held messages while the main thread sends wait for room and stay in order", async () => {
  // 40 messages of 256 KiB while the main thread holds sending: more than the block holds.
  const steps: Step[] = [{ send: "m0", held: true, bytes: 1 << 18 }, { spin: 60 }];
  for (let i = 1; i < 40; i++) steps.push({ send: `m${i}`, held: true, bytes: 1 << 18 });
  steps.push({ send: "idle", held: false }, { end: true });
  const sent = await run(steps, 41);
  assert.deepEqual(names(sent), [...Array.from({ length: 40 }, (_, i) => `m${i}`), "idle"]);
  assert.ok(sent.every((s) => s.via === "main"), JSON.stringify(sent.map((s) => s.via)));
});

Deno.test("release: held output is written by the worker before it closes", async () => {
  const sent = await run([
    { send: "last words", held: true },
    { release: true },
    { spin: 3 * GRACE_MS },
  ], 1);
  assert.deepEqual(sent.map((s) => [s.name, s.via]), [["last words", "worker"]]);
});
