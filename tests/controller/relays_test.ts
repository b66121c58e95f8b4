/**
 * {@link SwapRelay} on its own, over real sockets: verified messages are swapped and forwarded,
 * large buffers cut-through (the hooks are told), large signed parts collected first, and a
 * badly signed message with a large buffer dropped without stalling its sender.
 */

import assert from "node:assert/strict";
import { InboundChannel } from "../../src/controller/inbound.ts";
import { createLogger } from "../../src/controller/logger.ts";
import { SwapRelay } from "../../src/controller/relays.ts";
import type { Message } from "../../src/protocol/messages.ts";
import { Session } from "../../src/protocol/session.ts";
import { createSocket, type Frames, type Socket } from "../../src/zmtp/mod.ts";

const MiB = 1 << 20;
const dec = new TextDecoder();

async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function bytes(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (i * 7 + seed + (i >>> 16)) & 0xff;
  return out;
}

Deno.test("SwapRelay forwards large buffers cut-through and tells its hooks", async () => {
  const key = "relay-key";
  const logger = createLogger(60);
  const clientSide = createSocket("ROUTER");
  const engineSide = createSocket("ROUTER");
  const front = await clientSide.bind("tcp://127.0.0.1:0");
  const back = await engineSide.bind("tcp://127.0.0.1:0");
  const seen: { dir: string; type: string; buffers: number; streamed: boolean }[] = [];
  const hook = (dir: string) => (_engine: Uint8Array, msg: Message, streamed: boolean) =>
    seen.push({ dir, type: msg.msgType, buffers: msg.buffers.length, streamed });
  const relay = new SwapRelay({
    clientSide,
    engineSide,
    fromClients: new InboundChannel("clients", { key, logger }),
    fromEngines: new InboundChannel("engines", { key, logger }),
    onRequest: hook("request"),
    onReply: hook("reply"),
  });
  const sockets: Socket[] = [];
  const client = createSocket("DEALER", { identity: "client-1" });
  const engine = createSocket("DEALER", { identity: "engine-1" });
  sockets.push(client, engine);
  client.connect(front);
  engine.connect(back);
  try {
    const session = new Session({ key });
    // The engine speaks first so the engine-side ROUTER knows its route.
    await engine.send(session.pack(session.msg("hello", { identities: ["nobody"] })));
    await new Promise((r) => setTimeout(r, 50));

    const big = bytes(5 * MiB, 1);
    await client.send(session.pack(session.msg("apply_request", {
      identities: ["engine-1"],
      buffers: [new Uint8Array([1, 2, 3]), big, new Uint8Array([9])],
    })));
    let got: Frames = await within(engine.receive(), 10_000, "big request");
    assert.equal(dec.decode(got[0]), "client-1");
    let msg = session.unpack(got);
    assert.equal(msg.msgType, "apply_request");
    assert.equal(msg.buffers.length, 3);
    assert.deepEqual(msg.buffers[1], big);
    assert.deepEqual(msg.buffers[2], new Uint8Array([9]));

    // Badly signed, with a large buffer: dropped, and the client's next message still comes.
    const forged = session.pack(session.msg("apply_request", {
      identities: ["engine-1"],
      buffers: [bytes(3 * MiB, 2)],
    }));
    forged[2] = new TextEncoder().encode("0".repeat(64));
    await client.send(forged);
    // A content frame over the threshold (a signed part): collected, verified, forwarded.
    const long = "y".repeat(2 * MiB);
    await client.send(session.pack(session.msg("custom_request", {
      identities: ["engine-1"],
      content: { code: long },
    })));
    got = await within(engine.receive(), 10_000, "large content");
    msg = session.unpack(got);
    assert.equal(msg.msgType, "custom_request");
    assert.equal((msg.content as { code: string }).code.length, long.length);

    // The reply direction.
    const result = bytes(3 * MiB, 3);
    await engine.send(session.pack(session.msg("apply_reply", {
      identities: ["client-1"],
      buffers: [result],
    })));
    got = await within(client.receive(), 10_000, "big reply");
    assert.equal(dec.decode(got[0]), "engine-1");
    assert.deepEqual(session.unpack(got).buffers[0], result);

    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(seen.filter((s) => s.type !== "hello"), [
      { dir: "request", type: "apply_request", buffers: 1, streamed: true },
      { dir: "request", type: "custom_request", buffers: 0, streamed: false },
      { dir: "reply", type: "apply_reply", buffers: 0, streamed: true },
    ]);
  } finally {
    for (const s of sockets) await s.close();
    await clientSide.close();
    await engineSide.close();
    await relay.done;
  }
});
