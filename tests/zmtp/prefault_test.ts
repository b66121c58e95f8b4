/**
 * `prefault`: a second thread faults in a large array from its far end towards the reader and
 * stops a step short of it (checked in the kernel's own view of the pages, `mincore`), for a 64
 * MiB array and an 8 MB one; the reader's bytes survive it; the frame decoder starts it for a
 * large frame; a finished reader, a small array, `IPP_PREFAULT=0` and a missing FFI permission
 * leave the pages alone. Skipped with a message off Linux or on a kernel without
 * `MADV_POPULATE_WRITE`.
 */

import assert from "node:assert/strict";
import { FrameDecoder, writeFrameHeader } from "../../src/zmtp/frame_codec.ts";
import { encodeGreeting } from "../../src/zmtp/greeting.ts";
import { prefault, PREFAULT_MIN, prefaultReason } from "../../src/zmtp/prefault.ts";
import { runScriptJson } from "./helpers.ts";

const reason = prefaultReason();
const skip = !reason.startsWith("on:");
if (skip) console.warn(`prefault_test: skipped (${reason})`);

const PAGE = 4096;
const STEP = 4 << 20;
// The helper starts from a huge page's edge above the reader's next step: up to 2 MiB further on.
const HUGE = 2 << 20;

/** Which share of the whole pages in `bytes[from, to)` the kernel has resident. */
function resident(bytes: Uint8Array, from: number, to: number): number {
  const lib = Deno.dlopen("libc.so.6", {
    mincore: { parameters: ["pointer", "usize", "buffer"], result: "i32" },
  });
  try {
    const base = Number(Deno.UnsafePointer.value(Deno.UnsafePointer.of(bytes)));
    const start = Math.ceil((base + from) / PAGE) * PAGE;
    const end = Math.floor((base + to) / PAGE) * PAGE;
    const pages = (end - start) / PAGE;
    const vec = new Uint8Array(pages);
    const r = lib.symbols.mincore(
      Deno.UnsafePointer.create(BigInt(start)),
      BigInt(end - start),
      vec,
    );
    assert.equal(r, 0, "mincore failed");
    return vec.reduce((n, v) => n + (v & 1), 0) / pages;
  } finally {
    lib.close();
  }
}

/** A fresh array none of whose pages are resident yet (64 MiB: always a mapping of its own). */
function fresh(size = 64 << 20): Uint8Array {
  const bytes = new Uint8Array(size);
  assert.equal(resident(bytes, 0, size), 0, "a new array already has resident pages");
  return bytes;
}

Deno.test({
  name: "prefault: the helper faults in the far end and stops a step short of a still reader",
  ignore: skip,
  async fn() {
    const bytes = fresh();
    await prefault(bytes, () => 0);
    assert.equal(resident(bytes, STEP + HUGE, bytes.length), 1, "far end not faulted in");
    assert.equal(resident(bytes, 0, STEP), 0, "the reader's next step was faulted in");
    assert.ok(bytes.every((b) => b === 0), "populating changed the contents");
  },
});

Deno.test({
  name: "prefault: an 8 MB frame gets a helper too, leaving its reader a quarter of it",
  ignore: skip,
  async fn() {
    // A view of a fresh mapping: an 8 MB array of its own may come from memory already used.
    const whole = fresh();
    const bytes = whole.subarray(0, 8_000_000);
    const quarter = bytes.length / 4;
    await prefault(bytes, () => 0);
    assert.equal(resident(bytes, quarter + HUGE, bytes.length), 1, "far end not faulted in");
    assert.equal(resident(bytes, 0, quarter - PAGE), 0, "the reader's next step was faulted in");
    assert.equal(resident(whole, bytes.length, 12 << 20), 0, "the helper ran past the view");
  },
});

Deno.test({
  name: "prefault: a reader filling from the front meets the helper and keeps every byte",
  ignore: skip,
  async fn() {
    const bytes = fresh();
    let at = 0;
    const done = prefault(bytes, () => at);
    const piece = 1 << 20;
    while (at < bytes.length) {
      for (let i = at; i < at + piece; i++) bytes[i] = (i * 7) & 255;
      at += piece;
      await new Promise((go) => setTimeout(go, 0)); // let the helper's calls come back
    }
    await done;
    for (let i = 0; i < bytes.length; i += 4093) assert.equal(bytes[i], (i * 7) & 255, `byte ${i}`);
    assert.equal(bytes[bytes.length - 1], ((bytes.length - 1) * 7) & 255);
  },
});

Deno.test({
  name: "prefault: a finished reader or a small array leaves the pages alone",
  ignore: skip,
  async fn() {
    const bytes = fresh();
    await prefault(bytes, () => bytes.length);
    assert.equal(resident(bytes, 0, bytes.length), 0);
    const small = new Uint8Array(PREFAULT_MIN - PAGE);
    const before = resident(small, 0, small.length);
    await prefault(small, () => 0);
    assert.equal(resident(small, 0, small.length), before);
  },
});

/** Run in a child: says why, then prefaults a fresh array with a still reader and prints how much of it is resident. */
const CHILD = `
import { prefault, prefaultReason } from "${
  new URL("../../src/zmtp/prefault.ts", import.meta.url).href
}";
const bytes = new Uint8Array(64 << 20);
await prefault(bytes, () => 0);
let faulted = 0;
try {
  const lib = Deno.dlopen("libc.so.6", { mincore: { parameters: ["pointer", "usize", "buffer"], result: "i32" } });
  const base = Number(Deno.UnsafePointer.value(Deno.UnsafePointer.of(bytes)));
  const start = Math.ceil(base / 4096) * 4096, pages = (bytes.length >> 12) - 1;
  const vec = new Uint8Array(pages);
  lib.symbols.mincore(Deno.UnsafePointer.create(BigInt(start)), BigInt(pages * 4096), vec);
  faulted = vec.reduce((n, v) => n + (v & 1), 0);
} catch { faulted = -1; }
console.log(JSON.stringify({ reason: prefaultReason(), faulted }));
`;

/** What the child prints in a fresh process with these flags and environment. */
function child(flags: string[], env: Record<string, string>) {
  return runScriptJson<{ reason: string; faulted: number }>(CHILD, flags, env);
}

Deno.test({
  name: "prefault: IPP_PREFAULT=0 turns the helper off, and so does a missing FFI permission",
  ignore: skip,
  async fn() {
    const off = await child(["-A"], { IPP_PREFAULT: "0" });
    assert.deepEqual(off, { reason: "off: IPP_PREFAULT=0", faulted: 0 });
    const on = await child(["-A"], { IPP_PREFAULT: "1" });
    assert.ok(on.reason.startsWith("on:"), on.reason);
    assert.ok(on.faulted > 8000, `only ${on.faulted} pages faulted in with the helper on`);
    const noFfi = await child(["--allow-env", "--allow-read"], {});
    // Without FFI the child cannot look either (mincore), so it reports -1.
    assert.deepEqual(noFfi, { reason: "off: no FFI permission", faulted: -1 });
  },
});

Deno.test({
  name: "prefault: a large frame's far end is faulted in while the decoder waits for its bytes",
  ignore: skip,
  async fn() {
    const size = 64 << 20;
    const frames: Uint8Array[] = [];
    const dec = new FrameDecoder(
      { onGreeting: () => {}, onFrame: (_, body) => frames.push(body) },
      2 ** 31,
    );
    const feed = (bytes: Uint8Array) => {
      for (let off = 0; off < bytes.length;) {
        const w = dec.writable();
        const n = Math.min(w.length, bytes.length - off);
        w.set(bytes.subarray(off, off + n));
        dec.commit(n);
        off += n;
      }
    };
    feed(encodeGreeting("NULL", false));
    const header = new Uint8Array(9);
    writeFrameHeader(header, 0, 0, size);
    feed(header);
    const target = dec.writable();
    assert.equal(target.length, size, "the decoder did not give the frame its own array");
    let share = 0;
    for (let waited = 0; waited < 2000 && share < 1; waited += 10) {
      await new Promise((go) => setTimeout(go, 10));
      share = resident(target, STEP + HUGE, size);
    }
    assert.equal(share, 1, "the frame's far end was not faulted in");
    assert.equal(resident(target, 0, STEP), 0, "the reader's next step was faulted in");
    const body = new Uint8Array(size);
    for (let i = 0; i < size; i += 4096) body[i] = (i >> 12) & 255;
    feed(body);
    assert.equal(frames.length, 1);
    assert.deepEqual(frames[0], body);
  },
});
