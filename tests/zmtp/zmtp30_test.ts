/** Interoperation with ZMTP 3.0 peers (raw sockets speaking 3.0): subscription style. */

import assert from "node:assert/strict";
import { createSocket } from "../../src/zmtp/mod.ts";
import { encodeGreeting } from "../../src/zmtp/greeting.ts";
import {
  encodeFrames,
  FLAG_COMMAND,
  FrameDecoder,
  parseCommand,
  readyCommand,
} from "../../src/zmtp/frame_codec.ts";
import { b, s, within } from "./helpers.ts";

function greeting(minor: number): Uint8Array {
  const g = encodeGreeting();
  g[11] = minor;
  return g;
}

/** Reads frames from a raw connection. */
class RawPeer {
  readonly frames: { flags: number; body: Uint8Array }[] = [];
  readonly #dec: FrameDecoder;
  constructor(readonly conn: Deno.Conn) {
    this.#dec = new FrameDecoder({
      onGreeting: () => {},
      onFrame: (flags, body) => this.frames.push({ flags, body }),
    }, 1 << 20);
  }
  /** Read until `pred` holds for some received frame; returns it. */
  async waitFor(pred: (f: { flags: number; body: Uint8Array }) => boolean) {
    for (;;) {
      const hit = this.frames.find(pred);
      if (hit) return hit;
      const w = this.#dec.writable();
      const n = await within(this.conn.read(w), 5_000, "frame from our socket");
      if (n === null) throw new Error("closed");
      this.#dec.commit(n);
    }
  }
}

Deno.test("our PUB honours 3.0-style subscription messages from a ZMTP 3.0 SUB", async () => {
  await using pub = createSocket("PUB");
  const ep = await pub.bind("tcp://127.0.0.1:0");
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(ep.split(":").pop()) });
  try {
    await conn.write(greeting(0));
    await conn.write(readyCommand("SUB"));
    await conn.write(encodeFrames([new Uint8Array([1, ...b("a")])]));
    const peer = new RawPeer(conn);
    await peer.waitFor((f) => (f.flags & FLAG_COMMAND) !== 0); // our READY
    // Publish in the background until the subscription has been applied.
    let publishing = true;
    const publisher = (async () => {
      while (publishing) {
        await pub.send([b("b-skip")]);
        await pub.send([b("a-take")]);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    let hit;
    try {
      hit = await peer.waitFor((f) => (f.flags & FLAG_COMMAND) === 0);
    } finally {
      publishing = false;
      await publisher;
    }
    assert.ok(hit);
    assert.equal(s(hit.body), "a-take");
    assert.ok(peer.frames.every((f) => s(f.body) !== "b-skip"));
  } finally {
    conn.close();
  }
});

for (const minor of [0, 1]) {
  Deno.test(`our SUB sends ${minor === 0 ? "a 1-prefixed message" : "a SUBSCRIBE command"} to a ZMTP 3.${minor} PUB`, async () => {
    using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    await using sub = createSocket("SUB");
    sub.subscribe("topic");
    sub.connect(`tcp://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`);
    const conn = await listener.accept();
    try {
      await conn.write(greeting(minor));
      await conn.write(readyCommand("PUB"));
      const peer = new RawPeer(conn);
      if (minor === 0) {
        const f = await peer.waitFor((f) => (f.flags & FLAG_COMMAND) === 0);
        assert.deepEqual(f.body, new Uint8Array([1, ...b("topic")]));
      } else {
        const f = await peer.waitFor((f) =>
          (f.flags & FLAG_COMMAND) !== 0 && parseCommand(f.body).name === "SUBSCRIBE"
        );
        assert.equal(s(parseCommand(f.body).data), "topic");
      }
      // And messages from the 3.x PUB are received.
      await conn.write(encodeFrames([b("topic.x"), b("body")]));
      assert.deepEqual((await within(sub.receive(), 5_000, "message")).map(s), ["topic.x", "body"]);
    } finally {
      conn.close();
    }
  });
}
