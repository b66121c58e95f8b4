/** Unit tests of the greeting, framing and command codecs, and endpoint parsing. */

import assert from "node:assert/strict";
import {
  encodeCommand,
  encodeFrames,
  encodeProperties,
  errorCommand,
  FLAG_COMMAND,
  FLAG_MORE,
  FrameDecoder,
  parseCommand,
  parseErrorReason,
  parseProperties,
  readyCommand,
  writeFrameHeader,
} from "../../src/zmtp/frame_codec.ts";
import { encodeGreeting, GREETING_SIZE, parseGreeting } from "../../src/zmtp/greeting.ts";
import { parseEndpoint } from "../../src/zmtp/endpoint.ts";
import { encodeSubscription } from "../../src/zmtp/pub_sub.ts";
import { b, s } from "./helpers.ts";

interface Decoded {
  greeting?: Uint8Array;
  frames: { flags: number; body: Uint8Array }[];
}

/** Feed `bytes` to a decoder in chunks of `chunk` bytes. */
function decode(bytes: Uint8Array, chunk: number, max = 2 ** 31): Decoded {
  const out: Decoded = { frames: [] };
  const dec = new FrameDecoder({
    onGreeting: (g) => (out.greeting = g.slice()),
    onFrame: (flags, body) => out.frames.push({ flags, body }),
  }, max);
  let off = 0;
  while (off < bytes.length) {
    const w = dec.writable();
    const n = Math.min(chunk, w.length, bytes.length - off);
    w.set(bytes.subarray(off, off + n));
    dec.commit(n);
    off += n;
  }
  return out;
}

Deno.test("greeting encodes signature, version 3.1, NULL mechanism and as-server", () => {
  const g = encodeGreeting("NULL", true);
  assert.equal(g.length, GREETING_SIZE);
  assert.equal(g[0], 0xff);
  assert.equal(g[9], 0x7f);
  assert.deepEqual([g[10], g[11]], [3, 1]);
  assert.equal(s(g.subarray(12, 16)), "NULL");
  assert.equal(g[16], 0);
  assert.deepEqual(parseGreeting(g), { major: 3, minor: 1, mechanism: "NULL", asServer: true });
});

Deno.test("parseGreeting rejects a bad signature, ZMTP 2.x and short input", () => {
  const bad = encodeGreeting();
  bad[0] = 0x01;
  assert.throws(() => parseGreeting(bad), { name: "ZmtpProtocolError" });
  const old = encodeGreeting();
  old[10] = 2;
  assert.throws(() => parseGreeting(old), /version/);
  assert.throws(() => parseGreeting(new Uint8Array(10)), /too short/);
  const v30 = encodeGreeting();
  v30[11] = 0;
  assert.equal(parseGreeting(v30).minor, 0);
});

Deno.test("frames up to 255 bytes use a 1-byte size, longer ones the 8-byte LONG form", () => {
  const target = new Uint8Array(9);
  assert.equal(writeFrameHeader(target, 0, FLAG_MORE, 255), 2);
  assert.deepEqual(target.subarray(0, 2), new Uint8Array([1, 255]));
  assert.equal(writeFrameHeader(target, 0, 0, 256), 9);
  assert.deepEqual(target, new Uint8Array([2, 0, 0, 0, 0, 0, 0, 1, 0]));
  writeFrameHeader(target, 0, 0, 2 ** 33 + 5);
  assert.deepEqual(target, new Uint8Array([2, 0, 0, 0, 2, 0, 0, 0, 5]));
});

Deno.test("the decoder yields the same frames however the bytes are chunked", () => {
  const frames = [0, 1, 255, 256, 20_000, 70_000, 3].map((n, i) => new Uint8Array(n).fill(i + 1));
  const bytes = new Uint8Array([...encodeGreeting(), ...encodeFrames(frames)]);
  for (const chunk of [1, 7, 64, 4096, 1 << 20]) {
    const out = decode(bytes, chunk);
    assert.equal(out.greeting?.length, 64, `greeting with chunk ${chunk}`);
    assert.equal(out.frames.length, frames.length);
    out.frames.forEach((f, i) => {
      assert.deepEqual(f.body, frames[i], `frame ${i} with chunk ${chunk}`);
      assert.equal(f.flags, i < frames.length - 1 ? FLAG_MORE : 0);
    });
  }
});

Deno.test("decoded frames own their bytes: later reads do not change them", () => {
  const a = new Uint8Array(100).fill(7);
  const out = decode(
    new Uint8Array([
      ...encodeGreeting(),
      ...encodeFrames([a]),
      ...encodeFrames([new Uint8Array(100).fill(9)]),
    ]),
    65,
  );
  assert.deepEqual(out.frames[0].body, a);
  assert.equal(out.frames[0].body.byteOffset % 8, 0);
});

Deno.test("a length of 2^63 or more is rejected before any allocation", () => {
  const bytes = new Uint8Array([...encodeGreeting(), 0x02, 0x80, 0, 0, 0, 0, 0, 0, 1]);
  assert.throws(() => decode(bytes, 100), /2\^63/);
});

Deno.test("a length over maxMessageSize is rejected", () => {
  const bytes = new Uint8Array([...encodeGreeting(), ...encodeFrames([new Uint8Array(300)])]);
  assert.throws(() => decode(bytes, 100, 299), /maxMessageSize/);
  assert.equal(decode(bytes, 100, 300).frames.length, 1);
});

Deno.test("reserved flag bits are rejected", () => {
  assert.throws(() => decode(new Uint8Array([...encodeGreeting(), 0x08, 0]), 100), /flags/);
});

Deno.test("a non-greeting first byte is rejected at once", () => {
  assert.throws(() => decode(b("G"), 1), /greeting/);
});

Deno.test("commands carry a name and data; READY carries Socket-Type and Identity", () => {
  const ready = readyCommand("DEALER", b("id-1"));
  assert.equal(ready[0], FLAG_COMMAND);
  const cmd = parseCommand(ready.subarray(2));
  assert.equal(cmd.name, "READY");
  const props = parseProperties(cmd.data);
  assert.equal(s(props.get("socket-type")!), "DEALER");
  assert.equal(s(props.get("identity")!), "id-1");
  const err = parseCommand(errorCommand("Invalid socket type").subarray(2));
  assert.equal(err.name, "ERROR");
  assert.equal(parseErrorReason(err.data), "Invalid socket type");
  const long = encodeCommand("X", new Uint8Array(300));
  assert.equal(long[0], FLAG_COMMAND | 0x02);
});

Deno.test("malformed commands and properties are rejected", () => {
  assert.throws(() => parseCommand(new Uint8Array([5, 65])), /malformed command/);
  assert.throws(() => parseCommand(new Uint8Array([])), /malformed command/);
  const props = encodeProperties([["A", b("xyz")]]);
  assert.throws(() => parseProperties(props.subarray(0, props.length - 1)), /metadata/);
  assert.throws(() => parseProperties(new Uint8Array([0])), /metadata/);
});

Deno.test("subscriptions are commands for ZMTP 3.1 peers and 1/0-prefixed messages for 3.0", () => {
  const c31 = encodeSubscription(1, b("ab"), true);
  assert.equal(c31[0], FLAG_COMMAND);
  assert.equal(parseCommand(c31.subarray(2)).name, "SUBSCRIBE");
  assert.equal(parseCommand(encodeSubscription(1, b("ab"), false).subarray(2)).name, "CANCEL");
  assert.deepEqual(encodeSubscription(0, b("ab"), true), new Uint8Array([0, 3, 1, 97, 98]));
  assert.deepEqual(encodeSubscription(0, b("ab"), false), new Uint8Array([0, 3, 0, 97, 98]));
});

Deno.test("endpoints parse tcp (with wildcards for bind, IPv6) and ipc", () => {
  assert.deepEqual(parseEndpoint("tcp://127.0.0.1:5555", false), {
    transport: "tcp",
    host: "127.0.0.1",
    port: 5555,
  });
  assert.deepEqual(parseEndpoint("tcp://*:*", true), {
    transport: "tcp",
    host: "0.0.0.0",
    port: 0,
  });
  assert.deepEqual(parseEndpoint("tcp://[::1]:80", false), {
    transport: "tcp",
    host: "::1",
    port: 80,
  });
  assert.deepEqual(parseEndpoint("ipc:///tmp/x.sock", true), {
    transport: "ipc",
    path: "/tmp/x.sock",
  });
  for (const bad of ["tcp://h", "tcp://:1", "tcp://h:0", "inproc://x", "ipc://", "tcp://h:abc"]) {
    assert.throws(() => parseEndpoint(bad, false), { name: "EndpointError" }, bad);
  }
});

Deno.test("the decoder streams frames over the threshold in pool chunks, whatever the reads", () => {
  const big = new Uint8Array(3 * (1 << 20) + 12345);
  for (let i = 0; i < big.length; i++) big[i] = (i * 13 + (i >>> 11)) & 0xff;
  const wire = new Uint8Array([
    ...encodeGreeting(),
    ...encodeFrames([b("head"), big, b("after")]),
    ...encodeFrames([b("next")]),
  ]);
  for (const chunk of [7, 1000, 70_000, 1 << 22]) {
    const events: string[] = [];
    const pieces: Uint8Array[] = [];
    let released = 0;
    const dec = new FrameDecoder({
      onGreeting: () => {},
      onFrame: (flags, body) => events.push(`frame ${flags} ${s(body)}`),
      streamThreshold: 1 << 20,
      onFrameStart: (flags, size) => events.push(`start ${flags} ${size}`),
      onFrameData: (bytes, c) => {
        // Copy now: the chunk is reused once released.
        pieces.push(bytes.slice());
        if (c !== null) {
          assert.equal(c.buffer, bytes.buffer, "the released chunk holds the piece");
          released++;
        }
      },
      onFrameEnd: () => events.push("end"),
    }, 2 ** 31);
    let off = 0;
    while (off < wire.length) {
      const w = dec.writable();
      const n = Math.min(chunk, w.length, wire.length - off);
      w.set(wire.subarray(off, off + n));
      dec.commit(n);
      off += n;
    }
    assert.deepEqual(events, [
      `frame ${FLAG_MORE} head`,
      `start ${FLAG_MORE} ${big.length}`,
      "end",
      "frame 0 after",
      "frame 0 next",
    ], `reads of ${chunk}`);
    const joined = new Uint8Array(big.length);
    let at = 0;
    for (const p of pieces) {
      joined.set(p, at);
      at += p.length;
    }
    assert.equal(at, big.length);
    assert.deepEqual(joined, big);
    assert.equal(released, Math.ceil(big.length / (1 << 20)), `chunks released (${chunk})`);
  }
});
