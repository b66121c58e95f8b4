/** ROUTER and DEALER, Deno↔Deno, over tcp and ipc. */

import assert from "node:assert/strict";
import { createSocket } from "../../src/zmtp/mod.ts";
import { b, s, settledWithin, until, within } from "./helpers.ts";

Deno.test("bind on port 0 reports the real port in bind() and endpoints", async () => {
  await using router = createSocket("ROUTER");
  const ep = await router.bind("tcp://127.0.0.1:0");
  assert.match(ep, /^tcp:\/\/127\.0\.0\.1:\d+$/);
  assert.notEqual(ep, "tcp://127.0.0.1:0");
  const wild = await router.bind("tcp://*:*");
  assert.match(wild, /^tcp:\/\/0\.0\.0\.0:\d+$/);
  assert.deepEqual(router.endpoints, [ep, wild]);
  await using dealer = createSocket("DEALER");
  dealer.connect(wild.replace("0.0.0.0", "127.0.0.1"));
  await dealer.send([b("via wildcard")]);
  const [, body] = await within(router.receive(), 5_000, "message via tcp://*");
  assert.equal(s(body), "via wildcard");
});

Deno.test("ROUTER prepends the DEALER's identity and routes the reply back by it", async () => {
  await using router = createSocket("ROUTER");
  const ep = await router.bind("tcp://127.0.0.1:0");
  await using dealer = createSocket("DEALER", { identity: "dealer-1" });
  dealer.connect(ep);
  await dealer.send([b(""), b("hello")]);
  const msg = await within(router.receive(), 5_000, "request");
  assert.deepEqual(msg.map(s), ["dealer-1", "", "hello"]);
  await router.send([b("dealer-1"), b(""), b("world")]);
  const reply = await within(dealer.receive(), 5_000, "reply");
  assert.deepEqual(reply.map(s), ["", "world"]);
});

Deno.test("ROUTER hasPeer is true from a peer's handshake until it goes", async () => {
  await using router = createSocket("ROUTER");
  const ep = await router.bind("tcp://127.0.0.1:0");
  assert.equal(router.hasPeer?.("dealer-1"), false);
  const dealer = createSocket("DEALER", { identity: "dealer-1" });
  dealer.connect(ep);
  await until(() => router.hasPeer?.("dealer-1") === true, 5_000, "the handshake");
  assert.equal(router.hasPeer?.(b("dealer-1")), true, "by bytes too");
  assert.equal(router.hasPeer?.("dealer-2"), false);
  await dealer.close();
  await until(() => router.hasPeer?.("dealer-1") === false, 5_000, "the disconnect");
});

Deno.test("onPeerGone: a connecting ROUTER is told which peer's connection closed; it reconnects", async () => {
  const server = createSocket("ROUTER", { identity: "server" });
  const ep = await server.bind("tcp://127.0.0.1:0");
  const gone: (string | null)[] = [];
  await using client = createSocket("ROUTER", {
    reconnectInterval: 20,
    onPeerGone: (id) => gone.push(id === null ? null : s(id)),
  });
  client.connect(ep);
  await until(() => client.hasPeer?.("server") === true, 5_000, "the handshake");
  assert.deepEqual(gone, []);
  await server.close();
  await until(() => gone.length === 1, 5_000, "the close");
  assert.deepEqual(gone, ["server"]);
  // A new listener on the same port: the client reconnects, and a message routed meanwhile
  // (kept on the connecting side) goes out on the new connection.
  await using again = createSocket("ROUTER", { identity: "server" });
  await again.bind(ep);
  await client.send([b("server"), b("after")]);
  const [, body] = await within(again.receive(), 5_000, "a message after reconnecting");
  assert.equal(s(body), "after");
  // A DEALER has no routing ids: it is told null.
  const dealerGone: (Uint8Array | null)[] = [];
  const dealer = createSocket("DEALER", { onPeerGone: (id) => dealerGone.push(id) });
  dealer.connect(ep);
  await dealer.send([b("hi")]);
  await within(again.receive(), 5_000, "the dealer's message");
  await again.close();
  await until(() => dealerGone.length === 1, 5_000, "the dealer's peer closing");
  assert.deepEqual(dealerGone, [null]);
  await dealer.close();
});

Deno.test("ROUTER gives an anonymous peer a 5-byte routing id starting with 0x00", async () => {
  await using router = createSocket("ROUTER");
  const ep = await router.bind("tcp://127.0.0.1:0");
  await using d1 = createSocket("DEALER");
  await using d2 = createSocket("DEALER");
  d1.connect(ep);
  d2.connect(ep);
  await d1.send([b("one")]);
  await d2.send([b("two")]);
  const ids = new Map<string, Uint8Array>();
  for (let i = 0; i < 2; i++) {
    const [id, body] = await within(router.receive(), 5_000, "message");
    assert.equal(id.length, 5);
    assert.equal(id[0], 0);
    ids.set(s(body), id);
  }
  assert.notDeepEqual(ids.get("one"), ids.get("two"));
  await router.send([ids.get("two")!, b("for two")]);
  assert.deepEqual((await within(d2.receive(), 5_000, "reply")).map(s), ["for two"]);
});

Deno.test("ROUTER with mandatory rejects an unknown identity with HostUnreachableError", async () => {
  await using router = createSocket("ROUTER", { mandatory: true });
  await router.bind("tcp://127.0.0.1:0");
  await assert.rejects(router.send([b("nobody"), b("x")]), { name: "HostUnreachableError" });
});

Deno.test("ROUTER without mandatory silently drops a message to an unknown identity", async () => {
  await using router = createSocket("ROUTER");
  await router.bind("tcp://127.0.0.1:0");
  await router.send([b("nobody"), b("x")]);
});

Deno.test("ROUTER ignores a second peer that claims an identity already in use", async () => {
  await using router = createSocket("ROUTER");
  const ep = await router.bind("tcp://127.0.0.1:0");
  await using first = createSocket("DEALER", { identity: "same" });
  first.connect(ep);
  await first.send([b("from first")]);
  assert.deepEqual((await within(router.receive(), 5_000, "first")).map(s), [
    "same",
    "from first",
  ]);
  await using second = createSocket("DEALER", { identity: "same" });
  second.connect(ep);
  await second.send([b("from second")]);
  await first.send([b("first again")]);
  // The first peer keeps the identity; the impostor's messages are not delivered.
  assert.deepEqual((await within(router.receive(), 5_000, "first again")).map(s), [
    "same",
    "first again",
  ]);
  await router.send([b("same"), b("reply")]);
  assert.deepEqual((await within(first.receive(), 5_000, "reply")).map(s), ["reply"]);
});

Deno.test("ROUTER to ROUTER: the connecting side names the bound side by its identity", async () => {
  await using hub = createSocket("ROUTER", { identity: "hub" });
  const ep = await hub.bind("tcp://127.0.0.1:0");
  await using engine = createSocket("ROUTER", { identity: "engine", mandatory: true });
  engine.connect(ep);
  // Until the handshake completes the hub is unknown; mandatory makes that visible.
  for (;;) {
    try {
      await engine.send([b("hub"), b("hello")]);
      break;
    } catch (e) {
      assert.equal((e as Error).name, "HostUnreachableError");
      await new Promise((r) => setTimeout(r, 5));
    }
  }
  const [id, body] = await within(hub.receive(), 5_000, "hello");
  assert.deepEqual([s(id), s(body)], ["engine", "hello"]);
  await hub.send([b("engine"), b("welcome")]);
  assert.deepEqual((await within(engine.receive(), 5_000, "welcome")).map(s), [
    "hub",
    "welcome",
  ]);
});

Deno.test("DEALER round-robins across peers and fair-queues their replies", async () => {
  await using r1 = createSocket("ROUTER");
  await using r2 = createSocket("ROUTER");
  await using dealer = createSocket("DEALER");
  dealer.connect(await r1.bind("tcp://127.0.0.1:0"));
  dealer.connect(await r2.bind("tcp://127.0.0.1:0"));
  for (let i = 0; i < 6; i++) await dealer.send([b(String(i))]);
  const got1: string[] = [];
  const got2: string[] = [];
  for (let i = 0; i < 3; i++) {
    const [id1, m1] = await within(r1.receive(), 5_000, "r1");
    got1.push(s(m1));
    await r1.send([id1, b("r1")]);
    const [id2, m2] = await within(r2.receive(), 5_000, "r2");
    got2.push(s(m2));
    await r2.send([id2, b("r2")]);
  }
  assert.deepEqual(got1, ["0", "2", "4"]);
  assert.deepEqual(got2, ["1", "3", "5"]);
  const replies: string[] = [];
  for (let i = 0; i < 6; i++) replies.push(s((await within(dealer.receive(), 5_000, "r"))[0]));
  assert.deepEqual(replies.sort(), ["r1", "r1", "r1", "r2", "r2", "r2"]);
});

Deno.test("DEALER messages sent before the peer is up are delivered once it is", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const ep = `ipc://${dir}/late.sock`;
    await using dealer = createSocket("DEALER", { reconnectInterval: 10 });
    dealer.connect(ep);
    await dealer.send([b("early 1")]);
    await dealer.send([b("early 2")]);
    await using router = createSocket("ROUTER");
    assert.equal(await router.bind(ep), ep);
    assert.equal(s((await within(router.receive(), 5_000, "early 1"))[1]), "early 1");
    assert.equal(s((await within(router.receive(), 5_000, "early 2"))[1]), "early 2");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ROUTER and DEALER exchange multipart messages over ipc", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await using router = createSocket("ROUTER");
    const ep = await router.bind(`ipc://${dir}/r.sock`);
    await using dealer = createSocket("DEALER");
    dealer.connect(ep);
    const parts = Array.from({ length: 100 }, (_, i) => new Uint8Array(i * 10).fill(i));
    await dealer.send(parts);
    const msg = await within(router.receive(), 5_000, "multipart");
    assert.equal(msg.length, 101);
    for (let i = 0; i < 100; i++) assert.deepEqual(msg[i + 1], parts[i]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("DEALER traffic resumes after the ROUTER it connects to restarts", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const ep = `ipc://${dir}/restart.sock`;
    await using dealer = createSocket("DEALER", {
      reconnectInterval: 10,
      reconnectIntervalMax: 100,
    });
    dealer.connect(ep);
    let router = createSocket("ROUTER");
    await router.bind(ep);
    await dealer.send([b("one")]);
    const [id] = await within(router.receive(), 5_000, "one");
    await router.send([id, b("ack one")]);
    assert.equal(s((await within(dealer.receive(), 5_000, "ack"))[0]), "ack one");
    await router.close();
    router = createSocket("ROUTER");
    try {
      await router.bind(ep);
      // A message written before the dealer notices the old connection died is lost (as with
      // libzmq), so repeat until the new router answers.
      let got: Uint8Array[] | undefined;
      const next = router.receive();
      for (let i = 0; i < 100 && got === undefined; i++) {
        await dealer.send([b("two")]);
        got = await settledWithin(next, 50);
      }
      assert.ok(got !== undefined, "traffic resumed");
      const [id2, body] = got;
      assert.equal(s(body), "two");
      await router.send([id2, b("ack two")]);
      assert.equal(s((await within(dealer.receive(), 5_000, "ack two"))[0]), "ack two");
    } finally {
      await router.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
