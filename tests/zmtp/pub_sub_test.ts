/** PUB, SUB, XPUB and XSUB, Deno↔Deno. */

import assert from "node:assert/strict";
import { createSocket, type Frames, type Socket } from "../../src/zmtp/mod.ts";
import { b, delay, s, settledWithin, within } from "./helpers.ts";

/**
 * Publish `frames` every few milliseconds until `sub` receives something (subscriptions travel
 * asynchronously, so the first messages may legitimately be dropped by the publisher).
 */
export async function publishUntilReceived(
  pub: Socket,
  frames: Frames,
  sub: Socket,
): Promise<Frames> {
  const next = sub.receive();
  for (let i = 0; i < 500; i++) {
    await pub.send(frames);
    const got = await settledWithin(next, 10);
    if (got !== undefined) return got;
  }
  throw new Error("subscriber never received a message");
}

Deno.test("SUB receives only messages whose first frame starts with a subscribed prefix", async () => {
  await using pub = createSocket("PUB");
  const ep = await pub.bind("tcp://127.0.0.1:0");
  await using sub = createSocket("SUB");
  sub.connect(ep);
  sub.subscribe("weather.");
  const first = await publishUntilReceived(pub, [b("weather.rome"), b("sunny")], sub);
  assert.deepEqual(first.map(s), ["weather.rome", "sunny"]);
  await pub.send([b("sports.rome"), b("x")]);
  await pub.send([b("weather"), b("too short")]);
  await pub.send([b("weather.oslo"), b("snow")]);
  // Later messages may still include repeats of the first; skip them.
  let msg = await within(sub.receive(), 5_000, "oslo");
  while (s(msg[0]) === "weather.rome") msg = await within(sub.receive(), 5_000, "oslo");
  assert.deepEqual(msg.map(s), ["weather.oslo", "snow"]);
});

Deno.test("SUB stops receiving a prefix after unsubscribe", async () => {
  await using pub = createSocket("PUB");
  const ep = await pub.bind("tcp://127.0.0.1:0");
  await using sub = createSocket("SUB");
  sub.connect(ep);
  sub.subscribe("a");
  sub.subscribe("b");
  await publishUntilReceived(pub, [b("a-sync")], sub);
  sub.unsubscribe("a");
  let marker = await publishUntilReceived(pub, [b("b-marker")], sub);
  while (s(marker[0]) !== "b-marker") marker = await within(sub.receive(), 5_000, "marker");
  for (let i = 0; i < 3; i++) await pub.send([b("a-after")]);
  await pub.send([b("b-end")]);
  for (;;) {
    const [topic] = await within(sub.receive(), 5_000, "b-end");
    if (s(topic) === "b-end") break;
    assert.notEqual(s(topic), "a-after");
  }
});

Deno.test("SUB subscribed to the empty prefix receives everything", async () => {
  await using pub = createSocket("PUB");
  await using sub = createSocket("SUB");
  const ep = await sub.bind("tcp://127.0.0.1:0"); // SUB binds, PUB connects
  sub.subscribe();
  pub.connect(ep);
  const got = await publishUntilReceived(pub, [new Uint8Array([0xff, 0]), b("x")], sub);
  assert.deepEqual(got[0], new Uint8Array([0xff, 0]));
});

Deno.test("XPUB receives each new subscription once and the last cancel", async () => {
  await using xpub = createSocket("XPUB");
  const ep = await xpub.bind("tcp://127.0.0.1:0");
  await using s1 = createSocket("SUB");
  await using s2 = createSocket("SUB");
  s1.connect(ep);
  s2.connect(ep);
  s1.subscribe("topic");
  const [m1] = await within(xpub.receive(), 5_000, "subscribe");
  assert.deepEqual(m1, new Uint8Array([1, ...b("topic")]));
  s2.subscribe("topic");
  s2.subscribe("other");
  const [m2] = await within(xpub.receive(), 5_000, "second subscribe");
  assert.deepEqual(m2, new Uint8Array([1, ...b("other")]), "duplicate 'topic' is not reported");
  s1.unsubscribe("topic");
  s2.unsubscribe("topic");
  const [m3] = await within(xpub.receive(), 5_000, "cancel");
  assert.deepEqual(m3, new Uint8Array([0, ...b("topic")]));
  const got = await publishUntilReceived(xpub, [b("other"), b("payload")], s2);
  assert.deepEqual(got.map(s), ["other", "payload"]);
});

Deno.test("XPUB reports a subscriber's prefixes as cancelled when it disconnects", async () => {
  await using xpub = createSocket("XPUB");
  const ep = await xpub.bind("tcp://127.0.0.1:0");
  const sub = createSocket("SUB");
  sub.connect(ep);
  sub.subscribe("gone");
  assert.deepEqual(
    (await within(xpub.receive(), 5_000, "sub"))[0],
    new Uint8Array([1, ...b("gone")]),
  );
  await sub.close();
  assert.deepEqual(
    (await within(xpub.receive(), 5_000, "cancel on disconnect"))[0],
    new Uint8Array([0, ...b("gone")]),
  );
});

Deno.test("XSUB sends subscription messages upstream and receives matching messages", async () => {
  await using pub = createSocket("PUB");
  const ep = await pub.bind("tcp://127.0.0.1:0");
  await using xsub = createSocket("XSUB");
  xsub.connect(ep);
  await xsub.send([new Uint8Array([1, ...b("x")])]);
  const got = await publishUntilReceived(pub, [b("xyz")], xsub);
  assert.equal(s(got[0]), "xyz");
});

Deno.test("XSUB and XPUB forward subscriptions and messages like a proxy", async () => {
  // SUB -> XPUB (proxy front) ... XSUB (proxy back) -> PUB
  await using pub = createSocket("PUB");
  const back = await pub.bind("tcp://127.0.0.1:0");
  await using xsub = createSocket("XSUB");
  xsub.connect(back);
  await using xpub = createSocket("XPUB");
  const front = await xpub.bind("tcp://127.0.0.1:0");
  await using sub = createSocket("SUB");
  sub.connect(front);
  sub.subscribe("news");
  const subMsg = await within(xpub.receive(), 5_000, "subscription at proxy");
  await xsub.send(subMsg);
  const next = sub.receive();
  const upstream = xsub.receive();
  let got: Frames | undefined;
  for (let i = 0; i < 500 && got === undefined; i++) {
    await pub.send([b("news"), b(String(i))]);
    const fwd = await settledWithin(upstream, 10);
    if (fwd !== undefined) {
      await xpub.send(fwd);
      got = await within(next, 5_000, "forwarded message");
    }
  }
  assert.ok(got !== undefined);
  assert.equal(s(got[0]), "news");
});

Deno.test("SUB resends its subscriptions after the PUB restarts", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const ep = `ipc://${dir}/pub.sock`;
    await using sub = createSocket("SUB", { reconnectInterval: 10, reconnectIntervalMax: 50 });
    sub.connect(ep);
    sub.subscribe("t");
    let pub = createSocket("PUB");
    await pub.bind(ep);
    await publishUntilReceived(pub, [b("t1")], sub);
    await pub.close();
    pub = createSocket("PUB");
    try {
      await pub.bind(ep);
      let got = await publishUntilReceived(pub, [b("t2")], sub);
      while (s(got[0]) !== "t2") got = await within(sub.receive(), 5_000, "t2");
      assert.equal(s(got[0]), "t2");
    } finally {
      await pub.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("PUB drops messages for a subscriber that does not read instead of growing", async () => {
  await using pub = createSocket("PUB", { sendHwm: 10 });
  const ep = await pub.bind("tcp://127.0.0.1:0");
  await using sub = createSocket("SUB", { receiveHwm: 10 });
  sub.connect(ep);
  sub.subscribe();
  await publishUntilReceived(pub, [b("sync")], sub);
  const body = new Uint8Array(256 * 1024);
  const total = 2000; // 512 MB if nothing were dropped
  for (let i = 0; i < total; i++) {
    await pub.send([b("m"), body]); // never blocks
    if (i % 100 === 0) await delay(0);
  }
  let received = 0;
  let next = sub.receive();
  while ((await settledWithin(next, 300)) !== undefined) {
    received++;
    next = sub.receive();
  }
  assert.ok(received < total, `some messages dropped (received ${received} of ${total})`);
  assert.ok(received > 0);
});

Deno.test("PUB, SUB, PUSH and PULL refuse operations their type does not have", async () => {
  await using pub = createSocket("PUB");
  await using sub = createSocket("SUB");
  await using push = createSocket("PUSH");
  await using pull = createSocket("PULL");
  await assert.rejects(pub.receive(), TypeError);
  await assert.rejects(sub.send([b("x")]), TypeError);
  await assert.rejects(push.receive(), TypeError);
  await assert.rejects(pull.send([b("x")]), TypeError);
  assert.throws(() => pub.subscribe("x"), TypeError);
});
