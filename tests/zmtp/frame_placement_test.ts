/**
 * `placeFrames`: a ROUTER chooses where large received frames go, over real TCP connections
 * from DEALERs. Frames land in the arrays it returns (side by side in one array), a promise
 * holds only its own connection until it settles, and any other answer (none, a wrong size, a
 * rejection) gives the frame an array of its own, intact.
 */

import assert from "node:assert/strict";
import { createSocket, type FramePlacer, type Socket } from "../../src/zmtp/mod.ts";
import { b, s, within } from "./helpers.ts";

const MiB = 1 << 20;

/** Bytes whose value depends on the position and a seed, to catch misplaced bytes. */
function pattern(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (i * 31 + seed + (i >>> 12)) & 0xff;
  return out;
}

function dealer(ep: string, identity: string): Socket {
  const d = createSocket("DEALER", { identity, onProtocolError: () => {} });
  d.connect(ep);
  return d;
}

/** A ROUTER with `place` and two DEALERs, `a` and `z`, connected to it. */
async function rig(place: FramePlacer) {
  const router = createSocket("ROUTER", { placeFrames: place });
  const ep = await router.bind("tcp://127.0.0.1:0");
  const a = dealer(ep, "a");
  const z = dealer(ep, "z");
  return {
    router,
    a,
    z,
    async [Symbol.asyncDispose]() {
      await a.close();
      await z.close();
      await router.close();
    },
  };
}

/** Receives `n` messages, keyed by the sender's routing id and their first frame. */
async function receive(router: Socket, n: number): Promise<Map<string, Uint8Array[]>> {
  const out = new Map<string, Uint8Array[]>();
  for (let i = 0; i < n; i++) {
    const [from, tag, ...rest] = await within(router.receive(), 10_000, `message ${i + 1}`);
    out.set(`${s(from)}:${s(tag)}`, rest);
  }
  return out;
}

Deno.test("placeFrames: large frames land where the placer says, side by side", async () => {
  const joined = new Uint8Array(5 * MiB);
  const seen: string[] = [];
  const place: FramePlacer = (frames, size) => {
    // The message so far: routing id, then the tag frame.
    seen.push(`${s(frames[0])}:${s(frames[1])}:${size}`);
    return s(frames[0]) === "a"
      ? joined.subarray(0, size)
      : joined.subarray(2 * MiB, 2 * MiB + size);
  };
  await using r = await rig(place);
  const fromA = pattern(2 * MiB, 1), fromZ = pattern(3 * MiB, 2);
  await r.a.send([b("big"), fromA]);
  await r.z.send([b("big"), fromZ, b("after")]);
  const got = await receive(r.router, 2);
  const [bodyA] = got.get("a:big")!;
  const [bodyZ, after] = got.get("z:big")!;
  assert.equal(bodyA.buffer, joined.buffer);
  assert.equal(bodyA.byteOffset, 0);
  assert.equal(bodyZ.buffer, joined.buffer);
  assert.equal(bodyZ.byteOffset, 2 * MiB);
  assert.deepEqual(joined.subarray(0, 2 * MiB), fromA);
  assert.deepEqual(joined.subarray(2 * MiB), fromZ);
  assert.equal(s(after), "after");
  assert.deepEqual(seen.sort(), [`a:big:${2 * MiB}`, `z:big:${3 * MiB}`]);
});

Deno.test("placeFrames: a pending place holds its own connection only, in order", async () => {
  let release!: (bytes: Uint8Array | undefined) => void;
  const held = new Promise<Uint8Array | undefined>((res) => release = res);
  const joined = new Uint8Array(4 * MiB);
  const place: FramePlacer = (frames, size) =>
    s(frames[0]) === "a" ? held : joined.subarray(2 * MiB, 2 * MiB + size);
  await using r = await rig(place);
  const fromA = pattern(2 * MiB, 3), fromZ = pattern(2 * MiB, 4);
  await r.a.send([b("big"), fromA]);
  await r.a.send([b("small"), b("second")]);
  await r.z.send([b("big"), fromZ]);
  // z's message arrives while a's connection waits for its frame's place.
  const first = await receive(r.router, 1);
  assert.deepEqual([...first.keys()], ["z:big"]);
  release(joined.subarray(0, 2 * MiB));
  const rest = await receive(r.router, 2);
  const [bodyA] = rest.get("a:big")!;
  assert.equal(bodyA.buffer, joined.buffer);
  assert.deepEqual(joined.subarray(0, 2 * MiB), fromA);
  assert.deepEqual(joined.subarray(2 * MiB), fromZ);
  assert.equal(s(rest.get("a:small")![0]), "second");
});

Deno.test("placeFrames: no place, a wrong size or a rejection gives the frame its own array", async () => {
  const other = new Uint8Array(8 * MiB);
  const answers: (() => ReturnType<FramePlacer>)[] = [
    () => undefined,
    () => other.subarray(0, MiB), // not the frame's size
    () => Promise.reject(new Error("no place")),
    () => Promise.resolve(undefined),
  ];
  let calls = 0;
  await using r = await rig(() => answers[calls++]());
  for (let i = 0; i < answers.length; i++) {
    const body = pattern(2 * MiB + i, 10 + i);
    await r.a.send([b(`m${i}`), body]);
    const [from, tag, got] = await within(r.router.receive(), 10_000, `message ${i}`);
    assert.equal(`${s(from)}:${s(tag)}`, `a:m${i}`);
    assert.notEqual(got.buffer, other.buffer);
    assert.deepEqual(got, body);
  }
  assert.equal(calls, answers.length);
  // Small frames, read whole, are not offered.
  await r.a.send([b("tiny"), pattern(1000, 1)]);
  await within(r.router.receive(), 10_000, "tiny");
  assert.equal(calls, answers.length);
  assert.throws(() => createSocket("ROUTER", { placeFrames: 5 as never }), TypeError);
});
