/**
 * Large frames: cut-through forwarding (`cutThrough`, `MessageTail`) through a ROUTER relay that
 * swaps the first two frames, as the controller's MUX relay does, between DEALERs over real TCP
 * connections; and frames received into shared memory (`sharedFrames`).
 */

import assert from "node:assert/strict";
import { createSocket, type Frames, type Socket, tailOf } from "../../src/zmtp/mod.ts";
import { encodeGreeting } from "../../src/zmtp/greeting.ts";
import { FLAG_MORE, readyCommand, writeFrameHeader } from "../../src/zmtp/frame_codec.ts";
import { b, s, within } from "./helpers.ts";

const MiB = 1 << 20;

/** Bytes whose value depends on the position and a seed, to catch misplaced chunks. */
function pattern(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (i * 31 + seed + (i >>> 12)) & 0xff;
  return out;
}

/** A relay: messages `[sender, destination, ...rest]` go out as `[destination, sender, ...rest]`. */
function relay(a: Socket, z: Socket): { done: Promise<void>; tails: number } {
  const stats = { done: Promise.resolve(), tails: 0 };
  const one = async (from: Socket, to: Socket) => {
    for await (const frames of from) {
      if (tailOf(frames) !== undefined) stats.tails++;
      const swapped = frames.slice();
      swapped[0] = frames[1];
      swapped[1] = frames[0];
      to.send(swapped).catch(() => {});
    }
  };
  stats.done = Promise.all([one(a, z), one(z, a)]).then(() => {});
  return stats;
}

interface Rig {
  front: Socket;
  back: Socket;
  frontEp: string;
  backEp: string;
  stats: { done: Promise<void>; tails: number };
  close(): Promise<void>;
}

async function rig(cutThrough = MiB): Promise<Rig> {
  const front = createSocket("ROUTER", { cutThrough, onProtocolError: () => {} });
  const back = createSocket("ROUTER", { cutThrough, onProtocolError: () => {} });
  const frontEp = await front.bind("tcp://127.0.0.1:0");
  const backEp = await back.bind("tcp://127.0.0.1:0");
  const stats = relay(front, back);
  return {
    front,
    back,
    frontEp,
    backEp,
    stats,
    close: async () => {
      await front.close();
      await back.close();
      await stats.done;
    },
  };
}

/** A DEALER with an identity, connected to an endpoint. */
function dealer(ep: string, identity: string): Socket {
  const d = createSocket("DEALER", { identity, onProtocolError: () => {} });
  d.connect(ep);
  return d;
}

Deno.test("cut-through: a big frame is relayed intact, in order with small messages", async () => {
  const r = await rig();
  const client = dealer(r.frontEp, "client");
  const engine = dealer(r.backEp, "engine");
  const other = dealer(r.frontEp, "other");
  try {
    // The engine announces itself so the back ROUTER knows its route.
    await engine.send([b("nobody"), b("hello")]);
    await new Promise((res) => setTimeout(res, 50));
    const big = pattern(24 * MiB + 123, 7);
    const big2 = pattern(2 * MiB, 9);
    await client.send([b("engine"), b("first")]);
    await client.send([b("engine"), b("head"), big, b("after"), big2, b("end")]);
    await client.send([b("engine"), b("second")]);
    for (let i = 0; i < 20; i++) await other.send([b("engine"), b(`other ${i}`)]);
    const got: Frames[] = [];
    while (got.length < 23) got.push(await within(engine.receive(), 20_000, "relayed message"));
    const fromClient = got.filter((m) => s(m[0]) === "client");
    assert.deepEqual(fromClient.map((m) => m.length), [2, 6, 2]);
    assert.equal(s(fromClient[0][1]), "first");
    assert.equal(s(fromClient[1][1]), "head");
    assert.deepEqual(fromClient[1][2], big);
    assert.equal(s(fromClient[1][3]), "after");
    assert.deepEqual(fromClient[1][4], big2);
    assert.equal(s(fromClient[1][5]), "end");
    assert.equal(s(fromClient[2][1]), "second");
    const fromOther = got.filter((m) => s(m[0]) === "other").map((m) => s(m[1]));
    assert.deepEqual(fromOther, Array.from({ length: 20 }, (_, i) => `other ${i}`));
    assert.equal(r.stats.tails, 1);
    // And back the other way (the reply direction).
    const reply = pattern(5 * MiB, 3);
    await engine.send([b("client"), b("reply"), reply]);
    const back = await within(client.receive(), 20_000, "reply");
    assert.equal(s(back[0]), "engine");
    assert.deepEqual(back[2], reply);
  } finally {
    await client.close();
    await engine.close();
    await other.close();
    await r.close();
  }
});

Deno.test("cut-through: a slow reader holds the sender back, then gets everything", async () => {
  const r = await rig();
  const client = dealer(r.frontEp, "client");
  // The engine stops reading after one queued message: the relay must stop reading the client
  // instead of buffering, and resume when the engine reads again.
  const engine = createSocket("DEALER", { identity: "engine", receiveHwm: 1 });
  engine.connect(r.backEp);
  try {
    await engine.send([b("nobody"), b("hello")]);
    await new Promise((res) => setTimeout(res, 50));
    // Each message is larger than all that can sit between the relay and the engine: Linux's
    // loopback receive buffer may autotune up to `tcp_rmem`'s maximum (32 MiB by default), plus
    // the relay's send buffer (4 MiB) and its 4 MiB tail window. With 32 MiB messages the relay
    // could read all of the second and start the third (seen under a loaded test run).
    const bigs = [pattern(64 * MiB, 1), pattern(64 * MiB, 2), pattern(64 * MiB, 3)];
    for (const x of bigs) await client.send([b("engine"), b("big"), x]);
    await client.send([b("engine"), b("last")]);
    // Give the relay time to read the third if nothing held it back (without backpressure all
    // three reach it well within this), then check it has not.
    const until = Date.now() + 2000;
    while (r.stats.tails < 3 && Date.now() < until) {
      await new Promise((res) => setTimeout(res, 20));
    }
    // The engine holds one message; the relay is streaming the second and has not read the
    // third.
    assert.ok(r.stats.tails <= 2, `the relay read ahead: ${r.stats.tails} tails`);
    for (const x of bigs) {
      const m = await within(engine.receive(), 20_000, "big message");
      assert.deepEqual(m[2], x);
    }
    assert.equal(s((await within(engine.receive(), 20_000, "last"))[1]), "last");
  } finally {
    await client.close();
    await engine.close();
    await r.close();
  }
});

/** Greeting, READY (DEALER, identity) and the start of a message whose 2nd frame is big. */
function truncatedSender(identity: string, dest: string, size: number, sent: number): Uint8Array {
  const ready = readyCommand("DEALER", b(identity));
  const head = new Uint8Array(2 + dest.length + 9);
  let p = writeFrameHeader(head, 0, FLAG_MORE, dest.length);
  head.set(b(dest), p);
  p += dest.length;
  writeFrameHeader(head, p, 0, size);
  const greeting = encodeGreeting();
  const out = new Uint8Array(greeting.length + ready.length + head.length + sent);
  out.set(greeting);
  out.set(ready, greeting.length);
  out.set(head, greeting.length + ready.length);
  out.set(pattern(sent, 5), greeting.length + ready.length + head.length);
  return out;
}

/** Sends the bytes of a sender that dies mid-frame, then closes its connection. */
async function dieMidFrame(ep: string, bytes: Uint8Array, pauseMs: number): Promise<void> {
  const raw = await Deno.connect({ hostname: "127.0.0.1", port: Number(ep.split(":").at(-1)) });
  let off = 0;
  while (off < bytes.length) off += await raw.write(bytes.subarray(off));
  await new Promise((res) => setTimeout(res, pauseMs));
  raw.close();
}

Deno.test("cut-through: a sender that dies mid-frame costs the destination nothing but that message", async () => {
  const r = await rig();
  const engine = dealer(r.backEp, "engine");
  const other = dealer(r.frontEp, "other");
  try {
    await engine.send([b("nobody"), b("hello")]);
    await new Promise((res) => setTimeout(res, 50));
    // Dies after 3 MiB of a 50 MiB frame: the engine's connection must be closed rather than
    // fed a truncated frame, and the engine must not receive a partial message. Messages sent
    // to the engine meanwhile (queued behind the cut one, or routed while it reconnects) are
    // kept for it and arrive in order (RouterSocket, "Returning peers").
    const dying = dieMidFrame(
      r.frontEp,
      truncatedSender("dying", "engine", 50 * MiB, 3 * MiB),
      200,
    );
    await new Promise((res) => setTimeout(res, 100));
    // Queued behind the cut message (its tail is still being written to the engine).
    for (let i = 0; i < 3; i++) await other.send([b("engine"), b(`behind ${i}`)]);
    await dying;
    // Routed while the engine's connection is closed and it has not reconnected yet.
    for (let i = 0; i < 3; i++) await other.send([b("engine"), b(`during ${i}`)]);
    await new Promise((res) => setTimeout(res, 300));
    await other.send([b("engine"), b("after")]);
    const got: string[] = [];
    while (got.length < 7) {
      const m = await within(engine.receive(), 10_000, `message ${got.length} of 7`);
      assert.equal(s(m[0]), "other");
      got.push(s(m[1]));
    }
    assert.deepEqual(got, [
      "behind 0",
      "behind 1",
      "behind 2",
      "during 0",
      "during 1",
      "during 2",
      "after",
    ]);
    // A dying sender whose frame had not started to be written out (no route) is skipped.
    await dieMidFrame(r.frontEp, truncatedSender("dying2", "nobody", 50 * MiB, 2 * MiB), 0);
    await other.send([b("engine"), b("still")]);
    const m = await within(engine.receive(), 10_000, "message after the second dying sender");
    assert.equal(s(m[1]), "still");
  } finally {
    await engine.close();
    await other.close();
    await r.close();
  }
});

Deno.test("cut-through: a cut-off peer that does not come back within peerReturnHold is let go", async () => {
  const front = createSocket("ROUTER", { cutThrough: MiB, onProtocolError: () => {} });
  const said: string[] = [];
  const back = createSocket("ROUTER", {
    cutThrough: MiB,
    peerReturnHold: 300,
    onProtocolError: (reason) => said.push(reason),
  });
  const frontEp = await front.bind("tcp://127.0.0.1:0");
  const backEp = await back.bind("tcp://127.0.0.1:0");
  const stats = relay(front, back);
  // The engine reconnects only after 2 s, long after the 300 ms hold.
  const engine = createSocket("DEALER", {
    identity: "engine",
    reconnectInterval: 2000,
    onProtocolError: () => {},
  });
  engine.connect(backEp);
  const other = dealer(frontEp, "other");
  try {
    await engine.send([b("nobody"), b("hello")]);
    await new Promise((res) => setTimeout(res, 50));
    assert.ok(back.hasPeer!("engine"));
    await dieMidFrame(frontEp, truncatedSender("dying", "engine", 50 * MiB, 3 * MiB), 100);
    await new Promise((res) => setTimeout(res, 50));
    // Cut off, but waited for: routed messages queue for it.
    assert.ok(back.hasPeer!("engine"), "held while it may return");
    await other.send([b("engine"), b("lost")]);
    await new Promise((res) => setTimeout(res, 500));
    assert.ok(!back.hasPeer!("engine"), "let go after peerReturnHold");
    assert.ok(
      said.includes('peer "engine" did not reconnect within 300 ms: 1 message(s) for it dropped'),
      said.join("\n"),
    );
    // Back after the hold: the held message was dropped; new ones flow.
    await other.send([b("engine"), b("too early")]);
    const m = await (async () => {
      for (;;) {
        await new Promise((res) => setTimeout(res, 100));
        if (back.hasPeer!("engine")) break;
      }
      await other.send([b("engine"), b("fresh")]);
      return await within(engine.receive(), 10_000, "a message after the engine came back");
    })();
    assert.equal(s(m[1]), "fresh");
  } finally {
    await engine.close();
    await other.close();
    await front.close();
    await back.close();
    await stats.done;
  }
});

Deno.test("cut-through: a tail can be collected or discarded, and only consumed once", async () => {
  const front = createSocket("ROUTER", { cutThrough: MiB });
  const ep = await front.bind("tcp://127.0.0.1:0");
  const d = dealer(ep, "d");
  try {
    const big = pattern(3 * MiB, 4);
    await d.send([b("x"), big, b("y")]);
    const m = await within(front.receive(), 10_000, "early message");
    assert.equal(m.length, 3);
    const tail = tailOf(m)!;
    assert.ok(tail !== undefined);
    const rest = await within(tail.collect(), 10_000, "collect");
    assert.deepEqual(rest.length, 2);
    assert.deepEqual(rest[0], big);
    assert.equal(s(rest[1]), "y");
    assert.throws(() => tail.collect(), TypeError);
    await assert.rejects(front.send([b("d"), tail]), TypeError);
    // Discarded: the next message still arrives.
    await d.send([big]);
    await d.send([b("next")]);
    const m2 = await within(front.receive(), 10_000, "second early message");
    tailOf(m2)!.discard();
    const m3 = await within(front.receive(), 10_000, "message after a discarded one");
    assert.equal(s(m3[1]), "next");
    // Smaller frames are not streamed.
    await d.send([pattern(MiB - 1, 1)]);
    const m4 = await within(front.receive(), 10_000, "small");
    assert.equal(tailOf(m4), undefined);
    assert.equal(m4[1].length, MiB - 1);
  } finally {
    await d.close();
    await front.close();
  }
});

Deno.test("cut-through: option checks", () => {
  assert.throws(() => createSocket("ROUTER", { cutThrough: 1000 }), RangeError);
  const sock = createSocket("ROUTER");
  assert.throws(() => sock.setCutThrough!(-1), RangeError);
  sock.setCutThrough!(0);
  return sock.close();
});

Deno.test("cut-through: a tail completes while the receive high-water mark is reached", async () => {
  const front = createSocket("ROUTER", { cutThrough: MiB, receiveHwm: 2 });
  const ep = await front.bind("tcp://127.0.0.1:0");
  const x = dealer(ep, "x");
  const y = dealer(ep, "y");
  try {
    const big = pattern(12 * MiB, 6);
    await x.send([big]);
    const early = await within(front.receive(), 10_000, "early message");
    // Another peer fills the receive queue to its mark: reading pauses, but not the tail.
    for (let i = 0; i < 5; i++) await y.send([b(`small ${i}`)]);
    await new Promise((res) => setTimeout(res, 100));
    const rest = await within(tailOf(early)!.collect(), 10_000, "collect at the mark");
    assert.deepEqual(rest[0], big);
    const smalls: string[] = [];
    while (smalls.length < 5) smalls.push(s((await within(front.receive(), 10_000, "small"))[1]));
    assert.deepEqual(smalls, [0, 1, 2, 3, 4].map((i) => `small ${i}`));
  } finally {
    await x.close();
    await y.close();
    await front.close();
  }
});

Deno.test("sharedFrames: large received frames are backed by a SharedArrayBuffer", async () => {
  assert.throws(() => createSocket("DEALER", { sharedFrames: 10 }), RangeError);
  const router = createSocket("ROUTER", { sharedFrames: 256 * 1024 });
  const ep = await router.bind("tcp://127.0.0.1:0");
  const d = dealer(ep, "d");
  try {
    const big = pattern(3 * MiB, 2);
    await d.send([b("small"), pattern(100 * 1024, 1), big]);
    const [, small, medium, large] = await within(router.receive(), 10_000, "message");
    assert.ok(!(small.buffer instanceof SharedArrayBuffer));
    assert.ok(!(medium.buffer instanceof SharedArrayBuffer));
    assert.ok(large.buffer instanceof SharedArrayBuffer);
    assert.deepEqual(new Uint8Array(large), big);
    // A shared frame can be sent on as it is.
    await router.send([b("d"), large]);
    const [back] = await within(d.receive(), 10_000, "echo");
    assert.deepEqual(back, big);
  } finally {
    await d.close();
    await router.close();
  }
});

Deno.test("cut-through: a destination that goes away mid-frame does not stall the sender", async () => {
  const r = await rig();
  const client = dealer(r.frontEp, "client");
  const engine = createSocket("DEALER", { identity: "engine", onProtocolError: () => {} });
  engine.connect(r.backEp);
  const spare = dealer(r.backEp, "spare");
  try {
    await engine.send([b("nobody"), b("hello")]);
    await spare.send([b("nobody"), b("hello")]);
    await new Promise((res) => setTimeout(res, 50));
    // The engine stops reading mid-transfer and leaves: the rest of its message is discarded
    // and the client's next message, to another peer, still gets through.
    await client.send([b("engine"), b("big"), pattern(64 * MiB, 8)]);
    await new Promise((res) => setTimeout(res, 30));
    await engine.close();
    await client.send([b("spare"), b("next")]);
    const m = await within(spare.receive(), 20_000, "message behind the abandoned one");
    assert.equal(s(m[0]), "client");
    assert.equal(s(m[1]), "next");
  } finally {
    await client.close();
    await spare.close();
    await r.close();
  }
});
