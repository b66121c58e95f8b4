/**
 * PUB→SUB, XPUB↔SUB and PUSH→PULL against real libzmq (pyzmq), both ways round for bind and
 * connect, plus a libzmq publisher restart.
 */

import assert from "node:assert/strict";
import { needsPython } from "../helpers/interop.ts";
import { createSocket, type Socket } from "../../src/zmtp/mod.ts";
import { b, type PeerEvent, PyPeer, s, unhex, within } from "./helpers.ts";

const ignore = needsPython("zmq");

/** Publish on `pub` in the background until `stop` settles. */
async function publishWhile<T>(pub: Socket, stop: Promise<T>): Promise<T> {
  let done = false;
  const loop = (async () => {
    for (let i = 0; !done; i++) {
      await pub.send([b("a-topic"), b(String(i))]);
      await pub.send([b("b-topic"), b(String(i))]);
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  try {
    return await within(stop, 10_000, "libzmq subscriber output");
  } finally {
    done = true;
    await loop;
  }
}

/** Frames of the next `frames` event of a peer, decoded as text. */
async function nextFrames(peer: PyPeer): Promise<string[]> {
  const e: PeerEvent = await peer.next();
  return (e.frames as string[]).map((h) => s(unhex(h)));
}

async function expectOnlyTopicA(sub: Socket): Promise<void> {
  for (let i = 0; i < 5; i++) {
    const [topic] = await within(sub.receive(), 5_000, "message from libzmq PUB");
    assert.equal(s(topic), "a", "only the subscribed prefix arrives");
  }
}

Deno.test({
  name: "SUB connected to a libzmq PUB receives only its subscribed prefix",
  ignore,
  async fn() {
    await using peer = await PyPeer.start("pub", "bind", "tcp://127.0.0.1:0", {
      topics: ["a", "b"],
    });
    await using sub = createSocket("SUB");
    sub.subscribe("a");
    sub.connect(peer.endpoint);
    await expectOnlyTopicA(sub);
  },
});

Deno.test({
  name: "SUB bound for a libzmq PUB receives only its subscribed prefix",
  ignore,
  async fn() {
    await using sub = createSocket("SUB");
    sub.subscribe("a");
    const ep = await sub.bind("tcp://127.0.0.1:0");
    await using _peer = await PyPeer.start("pub", "connect", ep, { topics: ["a", "b"] });
    await expectOnlyTopicA(sub);
  },
});

Deno.test({
  name: "PUB bound for a libzmq SUB delivers only the prefix it subscribed to",
  ignore,
  async fn() {
    await using pub = createSocket("PUB");
    const ep = await pub.bind("tcp://127.0.0.1:0");
    await using peer = await PyPeer.start("sub", "connect", ep, { topics: ["a-"] });
    const frames = await publishWhile(pub, nextFrames(peer));
    assert.equal(frames[0], "a-topic");
    assert.equal(frames.length, 2);
  },
});

Deno.test({
  name: "PUB connected to a libzmq SUB delivers only the prefix it subscribed to",
  ignore,
  async fn() {
    await using peer = await PyPeer.start("sub", "bind", "tcp://127.0.0.1:0", { topics: ["b-"] });
    await using pub = createSocket("PUB");
    pub.connect(peer.endpoint);
    const frames = await publishWhile(pub, nextFrames(peer));
    assert.equal(frames[0], "b-topic");
  },
});

Deno.test({
  name: "libzmq XPUB sees our SUB's subscription, and our SUB gets its messages",
  ignore,
  async fn() {
    await using peer = await PyPeer.start("xpub", "bind", "tcp://127.0.0.1:0", {
      topics: ["news", "other"],
    });
    await using sub = createSocket("SUB");
    sub.connect(peer.endpoint);
    sub.subscribe("news");
    const subMsg = await within(peer.next(), 5_000, "subscription at libzmq XPUB");
    assert.deepEqual(subMsg.frames, ["01" + "6e657773"]);
    const [topic] = await within(sub.receive(), 5_000, "news");
    assert.equal(s(topic), "news");
    sub.unsubscribe("news");
    const cancel = await within(peer.next(), 5_000, "cancel at libzmq XPUB");
    assert.deepEqual(cancel.frames, ["00" + "6e657773"]);
  },
});

Deno.test({
  name: "our XPUB sees a libzmq SUB's subscription and serves it",
  ignore,
  async fn() {
    await using xpub = createSocket("XPUB");
    const ep = await xpub.bind("tcp://127.0.0.1:0");
    await using peer = await PyPeer.start("sub", "connect", ep, { topics: ["a-"] });
    const [subMsg] = await within(xpub.receive(), 5_000, "subscription from libzmq SUB");
    assert.deepEqual(subMsg, new Uint8Array([1, ...b("a-")]));
    await xpub.send([b("a-topic"), b("0")]);
    assert.deepEqual(await within(nextFrames(peer), 5_000, "delivery"), ["a-topic", "0"]);
  },
});

Deno.test({
  name: "our XPUB connected to a bound libzmq SUB sees its subscription and serves it",
  ignore,
  async fn() {
    await using peer = await PyPeer.start("sub", "bind", "tcp://127.0.0.1:0", { topics: ["z"] });
    await using xpub = createSocket("XPUB");
    xpub.connect(peer.endpoint);
    const [subMsg] = await within(xpub.receive(), 5_000, "subscription from libzmq SUB");
    assert.deepEqual(subMsg, new Uint8Array([1, ...b("z")]));
    await xpub.send([b("zz"), b("1")]);
    assert.deepEqual(await within(nextFrames(peer), 5_000, "delivery"), ["zz", "1"]);
  },
});

Deno.test({
  name: "SUB resubscribes and receives again after the libzmq PUB restarts",
  ignore,
  async fn() {
    let peer = await PyPeer.start("pub", "bind", "tcp://127.0.0.1:0", { topics: ["a"] });
    const sub = createSocket("SUB", { reconnectInterval: 20, reconnectIntervalMax: 200 });
    try {
      sub.subscribe("a");
      sub.connect(peer.endpoint);
      const [topic] = await within(sub.receive(), 5_000, "before restart");
      assert.equal(s(topic), "a");
      const endpoint = peer.endpoint;
      await peer.close();
      // The restarted publisher uses a new topic (still under the "a" prefix) so its messages
      // cannot be confused with ones that were in flight from the old one.
      peer = await PyPeer.start("pub", "bind", endpoint, { topics: ["a-new"] });
      await within(
        (async () => {
          while (s((await sub.receive())[0]) !== "a-new");
        })(),
        10_000,
        "a message from the restarted publisher",
      );
    } finally {
      await sub.close();
      await peer.close();
    }
  },
});

Deno.test({
  name: "PULL connected to a libzmq PUSH receives every message in order",
  ignore,
  async fn() {
    await using peer = await PyPeer.start("push", "bind", "tcp://127.0.0.1:0", { count: 1000 });
    await using pull = createSocket("PULL");
    pull.connect(peer.endpoint);
    for (let i = 0; i < 1000; i++) {
      assert.equal(s((await within(pull.receive(), 5_000, `message ${i}`))[0]), String(i));
    }
  },
});

Deno.test({
  name: "PULL bound for a libzmq PUSH receives every message in order",
  ignore,
  async fn() {
    await using pull = createSocket("PULL");
    const ep = await pull.bind("tcp://127.0.0.1:0");
    await using _peer = await PyPeer.start("push", "connect", ep, { count: 1000 });
    for (let i = 0; i < 1000; i++) {
      assert.equal(s((await within(pull.receive(), 5_000, `message ${i}`))[0]), String(i));
    }
  },
});

Deno.test({
  name: "PUSH delivers to a libzmq PULL, bound and connected",
  ignore,
  async fn() {
    await using push = createSocket("PUSH");
    const ep = await push.bind("tcp://127.0.0.1:0");
    await using p1 = await PyPeer.start("pull", "connect", ep);
    for (let i = 0; i < 10; i++) await push.send([b(String(i)), b("x")]);
    for (let i = 0; i < 10; i++) assert.deepEqual(await nextFrames(p1), [String(i), "x"]);

    await using p2 = await PyPeer.start("pull", "bind", "tcp://127.0.0.1:0");
    await using push2 = createSocket("PUSH");
    push2.connect(p2.endpoint);
    await push2.send([b("hello")]);
    assert.deepEqual(await within(nextFrames(p2), 5_000, "delivery"), ["hello"]);
  },
});
