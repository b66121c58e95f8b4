/**
 * `Socket.whenSent()` and `Socket.sendTrackable`: the promise that lets a caller send its own
 * buffer without copying it and change the buffer again once the bytes are written.
 */

import assert from "node:assert/strict";
import { createSocket } from "../../src/zmtp/mod.ts";
import { until, within } from "./helpers.ts";
import { freePort } from "../helpers/net.ts";

const MiB = 1 << 20;

Deno.test("whenSent resolves after a 32 MiB frame is written, so changing it later is safe", async () => {
  await using pull = createSocket("PULL");
  await using push = createSocket("PUSH");
  const ep = await pull.bind("tcp://127.0.0.1:0");
  push.connect(ep);
  await until(() => push.sendTrackable === true, 5000, "a connected pipe");
  // Nothing queued yet: resolves at once.
  await within(push.whenSent!(), 1000, "whenSent with nothing queued");

  const big = new Uint8Array(32 * MiB).fill(7);
  await push.send([big]);
  await within(push.whenSent!(), 20_000, "whenSent after a 32 MiB send");
  big.fill(9); // the bytes are out: this must not reach the peer
  const [got] = await within(pull.receive(), 20_000, "the 32 MiB frame");
  assert.equal(got.byteLength, 32 * MiB);
  assert.equal(got[0], 7);
  assert.equal(got[got.length - 1], 7);
});

Deno.test("sendTrackable is false while messages wait for a peer that is away", async () => {
  await using push = createSocket("PUSH");
  const port = freePort();
  push.connect(`tcp://127.0.0.1:${port}`);
  assert.equal(push.sendTrackable, true, "no queued message yet");
  // connect() makes a pipe at once (as libzmq does): the message waits on it for the peer.
  const pending = push.send([new Uint8Array(16)]).catch(() => {});
  assert.equal(push.sendTrackable, false, "a message waits on a pipe whose peer is away");
  await using pull = createSocket("PULL");
  await pull.bind(`tcp://127.0.0.1:${port}`);
  const [got] = await within(pull.receive(), 10_000, "the message after the peer came");
  assert.equal(got.byteLength, 16);
  await pending;
  await within(push.whenSent!(), 5000, "whenSent after delivery");
  assert.equal(push.sendTrackable, true, "nothing waits any more");
});
