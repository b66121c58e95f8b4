/** Close, linger, high-water marks, endpoints and option checks. */

import assert from "node:assert/strict";
import { createSocket, type Frames } from "../../src/zmtp/mod.ts";
import { b, s, settledWithin, until, within } from "./helpers.ts";

Deno.test("receive() pending at close rejects with SocketClosedError", async () => {
  const sock = createSocket("DEALER");
  const pending = sock.receive();
  await sock.close();
  await assert.rejects(pending, { name: "SocketClosedError" });
  await assert.rejects(sock.receive(), { name: "SocketClosedError" });
  await assert.rejects(sock.send([b("x")]), { name: "SocketClosedError" });
  assert.equal(sock.closed, true);
  await sock.close(); // idempotent
});

Deno.test("async iteration ends when the socket closes", async () => {
  const pull = createSocket("PULL");
  const ep = await pull.bind("tcp://127.0.0.1:0");
  await using push = createSocket("PUSH");
  push.connect(ep);
  await push.send([b("one")]);
  const seen: string[] = [];
  for await (const [frame] of pull) {
    seen.push(s(frame));
    await pull.close();
  }
  assert.deepEqual(seen, ["one"]);
});

Deno.test("close with linger flushes queued messages before closing", async () => {
  await using pull = createSocket("PULL");
  const ep = await pull.bind("tcp://127.0.0.1:0");
  const push = createSocket("PUSH", { sendHwm: 0 });
  push.connect(ep);
  const body = new Uint8Array(64 * 1024);
  for (let i = 0; i < 200; i++) await push.send([b(String(i)), body]);
  await push.close({ linger: 5_000 });
  for (let i = 0; i < 200; i++) {
    const [n] = await within(pull.receive(), 5_000, `message ${i}`);
    assert.equal(s(n), String(i));
  }
});

Deno.test("close without linger returns at once even when the peer never appeared", async () => {
  const dealer = createSocket("DEALER");
  dealer.connect("tcp://127.0.0.1:9"); // discard port: nothing listens
  await dealer.send([b("never delivered")]);
  await within(dealer.close(), 1_000, "close");
});

Deno.test("a receiver past its high-water mark stops reading, and the sender then waits", async () => {
  await using router = createSocket("ROUTER", { receiveHwm: 4 });
  const ep = await router.bind("tcp://127.0.0.1:0");
  await using dealer = createSocket("DEALER", { sendHwm: 4 });
  dealer.connect(ep);
  const body = new Uint8Array(256 * 1024);
  let sent = 0;
  let blocked: Promise<void> | undefined;
  // Without back-pressure this would queue 2000 x 256 KB.
  for (; sent < 2000; sent++) {
    const p = dealer.send([b(String(sent)), body]);
    if ((await settledWithin(p.then(() => true), 50)) === undefined) {
      blocked = p;
      break;
    }
  }
  assert.ok(blocked !== undefined, "send blocked before 2000 messages");
  assert.ok(sent < 2000);
  for (let i = 0; i <= sent; i++) {
    const [, n] = await within(router.receive(), 5_000, `message ${i}`);
    assert.equal(s(n), String(i));
  }
  await blocked;
});

Deno.test("bind rejects bad and unusable endpoints with EndpointError", async () => {
  await using sock = createSocket("ROUTER");
  await assert.rejects(sock.bind("udp://127.0.0.1:1"), { name: "EndpointError" });
  await assert.rejects(sock.bind("tcp://127.0.0.1"), { name: "EndpointError" });
  await assert.rejects(sock.bind("tcp://127.0.0.1:99999"), { name: "EndpointError" });
  const ep = await sock.bind("tcp://127.0.0.1:0");
  await using other = createSocket("ROUTER");
  await assert.rejects(other.bind(ep), { name: "EndpointError" });
  assert.throws(() => sock.connect("tcp://*:5555"), { name: "EndpointError" });
});

Deno.test("createSocket rejects unknown types and invalid options", () => {
  assert.throws(() => createSocket("PAIR" as "ROUTER"), TypeError);
  assert.throws(() => createSocket("DEALER", { sendHwm: -1 }), RangeError);
  assert.throws(() => createSocket("DEALER", { identity: new Uint8Array([0, 1]) }), RangeError);
});

Deno.test("send() rejects an empty message or a frame that is not a Uint8Array", async () => {
  await using dealer = createSocket("DEALER");
  await assert.rejects(dealer.send([]), TypeError);
  await assert.rejects(dealer.send(["text"] as unknown as Frames), TypeError);
});

Deno.test("disconnect() stops reconnecting to an endpoint", async () => {
  await using router = createSocket("ROUTER");
  const ep = await router.bind("tcp://127.0.0.1:0");
  await using dealer = createSocket("DEALER");
  dealer.connect(ep);
  await dealer.send([b("one")]);
  await within(router.receive(), 5_000, "one");
  dealer.disconnect(ep);
  dealer.connect(ep);
  await dealer.send([b("two")]);
  assert.equal(s((await within(router.receive(), 5_000, "two"))[1]), "two");
});

Deno.test("reconnect attempts back off exponentially up to reconnectIntervalMax", async () => {
  // A listener that drops every connection before the handshake: each drop is a failed attempt.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const stamps: number[] = [];
  const accepting = (async () => {
    for await (const conn of listener) {
      stamps.push(Date.now());
      conn.close();
    }
  })();
  const dealer = createSocket("DEALER", {
    reconnectInterval: 10,
    reconnectIntervalMax: 80,
    onProtocolError: () => {},
  });
  try {
    dealer.connect(`tcp://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`);
    await until(() => stamps.length >= 6, 5_000, "six attempts");
  } finally {
    await dealer.close();
    listener.close();
    await accepting;
  }
  const gaps = stamps.slice(1).map((t, i) => t - stamps[i]);
  // 10, 20, 40, 80, 80 ms (with scheduling slack): later gaps are longer than the first.
  assert.ok(gaps[3] >= 60, `fourth gap ${gaps[3]} ms reflects the back-off (gaps: ${gaps})`);
  assert.ok(gaps[4] < 1_000, `gaps stay capped (gaps: ${gaps})`);
});

Deno.test("connected: false without peers or while an endpoint is down, true once all are up", async () => {
  const port = (() => {
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const p = (l.addr as Deno.NetAddr).port;
    l.close();
    return p;
  })();
  await using dealer = createSocket("DEALER", { reconnectInterval: 10 });
  await using router = createSocket("ROUTER");
  assert.equal(router.connected, false, "a bound socket with no peer");
  dealer.connect(`tcp://127.0.0.1:${port}`);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(dealer.connected, false, "nothing listens at the endpoint yet");
  await router.bind(`tcp://127.0.0.1:${port}`);
  await until(
    () => dealer.connected === true && router.connected === true,
    5000,
    "both ends connected",
  );
  await router.close();
  await until(() => !dealer.connected, 5000, "the dealer notices its peer left");
});
