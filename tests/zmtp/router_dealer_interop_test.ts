/**
 * ROUTER↔DEALER (and ROUTER↔ROUTER) against real libzmq (pyzmq), both ways round for bind and
 * connect: frame sizes, multipart, identities, a long exchange, a restarting peer.
 */

import assert from "node:assert/strict";
import { needsPython } from "../helpers/interop.ts";
import { createSocket, type Frames, type Socket } from "../../src/zmtp/mod.ts";
import { b, PyPeer, s, within } from "./helpers.ts";

const ignore = needsPython("zmq");
const SIZES = [0, 1, 255, 256, 1 << 20, 100 * (1 << 20)];

function pattern(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 4096) out[i] = (i / 4096 + seed) & 0xff;
  if (n > 0) out[n - 1] = seed & 0xff;
  return out;
}

function assertSameBytes(actual: Uint8Array, expected: Uint8Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    if (actual[i] !== expected[i]) assert.fail(`${what}: byte ${i} differs`);
  }
}

async function echoSizes(sock: Socket, route: Frames): Promise<void> {
  for (const size of SIZES) {
    const body = pattern(size, size);
    await sock.send([...route, b("size"), body]);
    const reply = await within(sock.receive(), 20_000, `echo of ${size} B`);
    assert.equal(reply.length, route.length + 2);
    assert.equal(s(reply[route.length]), "size");
    assertSameBytes(reply[route.length + 1], body, `${size} B frame`);
  }
}

async function echoMultipart(sock: Socket, route: Frames): Promise<void> {
  const parts = Array.from({ length: 100 }, (_, i) => b(`part-${i}`.repeat(i % 7)));
  await sock.send([...route, ...parts]);
  const reply = await within(sock.receive(), 5_000, "100-frame echo");
  assert.equal(reply.length, route.length + 100);
  for (let i = 0; i < 100; i++) assert.deepEqual(reply[route.length + i], parts[i]);
}

Deno.test({
  name: "DEALER connected to a libzmq ROUTER echoes frames of 0 B to 100 MB and 100-frame messages",
  ignore,
  async fn() {
    await using peer = await PyPeer.start("echo-router", "bind", "tcp://127.0.0.1:0");
    await using dealer = createSocket("DEALER");
    dealer.connect(peer.endpoint);
    await echoSizes(dealer, []);
    await echoMultipart(dealer, []);
  },
});

Deno.test({
  name: "ROUTER bound for a libzmq DEALER echoes frames of 0 B to 100 MB and 100-frame messages",
  ignore,
  async fn() {
    await using router = createSocket("ROUTER");
    const ep = await router.bind("tcp://127.0.0.1:0");
    await using _peer = await PyPeer.start("echo-dealer", "connect", ep, { hello: true });
    const [id, hello] = await within(router.receive(), 10_000, "hello from libzmq DEALER");
    assert.equal(s(hello), "hello");
    assert.equal(id.length, 5, "generated routing id is 5 bytes");
    assert.equal(id[0], 0, "generated routing id starts with 0x00");
    await echoSizes(router, [id]);
    await echoMultipart(router, [id]);
  },
});

Deno.test({
  name: "ROUTER sees a libzmq DEALER's identity and routes replies by it",
  ignore,
  async fn() {
    await using router = createSocket("ROUTER", { mandatory: true });
    const ep = await router.bind("tcp://127.0.0.1:0");
    await using _peer = await PyPeer.start("echo-dealer", "connect", ep, {
      hello: true,
      identity: "engine-uuid-1",
    });
    const [id, hello] = await within(router.receive(), 10_000, "hello");
    assert.equal(s(id), "engine-uuid-1");
    assert.equal(s(hello), "hello");
    await router.send([b("engine-uuid-1"), b("ping")]);
    const [id2, body] = await within(router.receive(), 5_000, "echo");
    assert.equal(s(id2), "engine-uuid-1");
    assert.equal(s(body), "ping");
    await assert.rejects(router.send([b("nobody"), b("x")]), { name: "HostUnreachableError" });
  },
});

Deno.test({
  name: "libzmq ROUTER sees our DEALER's identity, and our ROUTER sees a libzmq ROUTER's",
  ignore,
  async fn() {
    await using peer = await PyPeer.start("echo-router", "bind", "tcp://127.0.0.1:0");
    await using dealer = createSocket("DEALER", { identity: "client-7" });
    dealer.connect(peer.endpoint);
    await dealer.send([b("x")]);
    assert.deepEqual((await within(dealer.receive(), 5_000, "echo")).map(s), ["x"]);

    // ROUTER↔ROUTER, as an engine's shell socket connects to the controller's ROUTER.
    await using router = createSocket("ROUTER", { identity: "mux_out" });
    const ep = await router.bind("tcp://127.0.0.1:0");
    await using _engine = await PyPeer.start("router-hello", "connect", ep, {
      identity: "engine-2",
      peer: "mux_out",
    });
    const [id, hello] = await within(router.receive(), 10_000, "hello from libzmq ROUTER");
    assert.equal(s(id), "engine-2");
    assert.equal(s(hello), "hello");
    await router.send([id, b("client-id"), b("body")]);
    const reply = await within(router.receive(), 5_000, "echo via ROUTER");
    assert.deepEqual(reply.map(s), ["engine-2", "client-id", "body"]);
  },
});

Deno.test({
  name: "a 100,000-message pipelined exchange with libzmq never stalls",
  ignore,
  async fn() {
    await using peer = await PyPeer.start("echo-router", "bind", "tcp://127.0.0.1:0");
    await using dealer = createSocket("DEALER");
    dealer.connect(peer.endpoint);
    const total = 100_000;
    const window = 200;
    let sent = 0;
    let received = 0;
    const body = new Uint8Array(32);
    while (sent < window) await dealer.send([b(String(sent++)), body]);
    while (received < total) {
      const [seq] = await within(dealer.receive(), 10_000, `message ${received}`);
      assert.equal(s(seq), String(received));
      received++;
      if (sent < total) await dealer.send([b(String(sent++)), body]);
    }
  },
});

Deno.test({
  name: "DEALER traffic resumes after the libzmq ROUTER it connects to restarts",
  ignore,
  async fn() {
    let peer = await PyPeer.start("echo-router", "bind", "tcp://127.0.0.1:0");
    const dealer = createSocket("DEALER", { reconnectInterval: 20, reconnectIntervalMax: 200 });
    try {
      dealer.connect(peer.endpoint);
      await dealer.send([b("before")]);
      assert.deepEqual((await within(dealer.receive(), 5_000, "first echo")).map(s), ["before"]);
      const endpoint = peer.endpoint;
      await peer.close();
      // Sent while the peer is down: waits in the pipe and goes out after the reconnect.
      await dealer.send([b("during")]);
      peer = await PyPeer.start("echo-router", "bind", endpoint);
      assert.deepEqual((await within(dealer.receive(), 10_000, "echo after restart")).map(s), [
        "during",
      ]);
      await dealer.send([b("after")]);
      assert.deepEqual((await within(dealer.receive(), 5_000, "second echo")).map(s), ["after"]);
    } finally {
      await dealer.close();
      await peer.close();
    }
  },
});

Deno.test({
  name: "ROUTER keeps serving a libzmq DEALER that restarts with the same identity",
  ignore,
  async fn() {
    await using router = createSocket("ROUTER", { mandatory: true });
    const ep = await router.bind("tcp://127.0.0.1:0");
    for (let round = 0; round < 2; round++) {
      await using _peer = await PyPeer.start("echo-dealer", "connect", ep, {
        hello: true,
        identity: "engine-r",
      });
      const [id, hello] = await within(router.receive(), 10_000, `hello in round ${round}`);
      assert.deepEqual([s(id), s(hello)], ["engine-r", "hello"]);
      await router.send([id, b(`round-${round}`)]);
      const [, body] = await within(router.receive(), 5_000, `echo in round ${round}`);
      assert.equal(s(body), `round-${round}`);
    }
  },
});

Deno.test({
  name: "DEALER bound for a connecting libzmq ROUTER exchanges messages and a 1 MB frame",
  ignore,
  async fn() {
    await using dealer = createSocket("DEALER", { identity: "deno-dealer" });
    const ep = await dealer.bind("tcp://127.0.0.1:0");
    await using _peer = await PyPeer.start("router-hello", "connect", ep, {
      identity: "py-router",
      peer: "deno-dealer",
    });
    const [hello] = await within(dealer.receive(), 10_000, "hello from libzmq ROUTER");
    assert.equal(s(hello), "hello");
    const big = pattern(1 << 20, 3);
    await dealer.send([b("big"), big]);
    const reply = await within(dealer.receive(), 5_000, "echo");
    assert.equal(s(reply[0]), "big");
    assertSameBytes(reply[1], big, "1 MB frame");
  },
});

Deno.test({
  name: "ROUTER connected to a bound libzmq DEALER routes by the DEALER's identity",
  ignore,
  async fn() {
    await using peer = await PyPeer.start("echo-dealer", "bind", "tcp://127.0.0.1:0", {
      hello: true,
      identity: "py-dealer",
    });
    await using router = createSocket("ROUTER");
    router.connect(peer.endpoint);
    const [id, hello] = await within(router.receive(), 10_000, "hello");
    assert.deepEqual([s(id), s(hello)], ["py-dealer", "hello"]);
    await echoSizes(router, [id]);
  },
});

Deno.test({
  name: "DEALER talks to a libzmq ROUTER over ipc (Unix socket), both ways round",
  ignore,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      await using peer = await PyPeer.start("echo-router", "bind", `ipc://${dir}/py.sock`);
      await using dealer = createSocket("DEALER");
      dealer.connect(peer.endpoint);
      await dealer.send([b("over ipc"), pattern(300_000, 1)]);
      const [body, big] = await within(dealer.receive(), 5_000, "echo over ipc");
      assert.equal(s(body), "over ipc");
      assertSameBytes(big, pattern(300_000, 1), "300 KB frame over ipc");

      await using router = createSocket("ROUTER");
      const ep = await router.bind(`ipc://${dir}/deno.sock`);
      await using _py = await PyPeer.start("echo-dealer", "connect", ep, { hello: true });
      const [id, hello] = await within(router.receive(), 10_000, "hello over ipc");
      assert.equal(s(hello), "hello");
      await router.send([id, b("back")]);
      assert.equal(s((await within(router.receive(), 5_000, "echo"))[1]), "back");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
