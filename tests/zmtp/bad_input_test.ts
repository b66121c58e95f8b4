/**
 * Bad input from a raw TCP client: each case drops that one connection with a logged reason
 * while the socket keeps serving a well-behaved peer.
 */

import assert from "node:assert/strict";
import { createSocket, type Socket } from "../../src/zmtp/mod.ts";
import { encodeGreeting } from "../../src/zmtp/greeting.ts";
import { encodeCommand, encodeFrames, readyCommand } from "../../src/zmtp/frame_codec.ts";
import { b, s, until, within } from "./helpers.ts";

const HELLO = (() => {
  const g = encodeGreeting();
  const r = readyCommand("DEALER", new Uint8Array(0));
  const out = new Uint8Array(g.length + r.length);
  out.set(g);
  out.set(r, g.length);
  return out;
})();

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Read until the server closes the connection; fails if it stays open for `ms`. */
async function readUntilClosed(conn: Deno.Conn, ms: number): Promise<void> {
  const buf = new Uint8Array(4096);
  await within(
    (async () => {
      for (;;) {
        try {
          if ((await conn.read(buf)) === null) return;
        } catch {
          return; // reset by peer also counts as dropped
        }
      }
    })(),
    ms,
    "server drops the connection",
  );
}

interface Harness {
  router: Socket;
  port: number;
  reasons: string[];
}

async function withRouter(
  fn: (h: Harness) => Promise<void>,
  options: { handshakeTimeout?: number; maxMessageSize?: number } = {},
): Promise<void> {
  const reasons: string[] = [];
  await using router = createSocket("ROUTER", {
    ...options,
    onProtocolError: (reason) => reasons.push(reason),
  });
  const ep = await router.bind("tcp://127.0.0.1:0");
  const port = Number(ep.split(":").pop());
  await fn({ router, port, reasons });
  // The socket still serves a well-behaved peer.
  await using dealer = createSocket("DEALER", { identity: "good" });
  dealer.connect(ep);
  await dealer.send([b("still serving")]);
  const msg = await within(router.receive(), 5_000, "good peer's message");
  assert.deepEqual(msg.map(s), ["good", "still serving"]);
  await router.send([b("good"), b("reply")]);
  assert.deepEqual((await within(dealer.receive(), 5_000, "reply")).map(s), ["reply"]);
}

async function rawCase(
  bytes: Uint8Array,
  expectReason: RegExp,
  opts: { closeAfterWrite?: boolean; handshakeTimeout?: number; maxMessageSize?: number } = {},
): Promise<void> {
  await withRouter(async ({ port, reasons }) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    try {
      await conn.write(bytes);
      if (opts.closeAfterWrite) await conn.closeWrite();
      await readUntilClosed(conn, 5_000);
    } finally {
      conn.close();
    }
    await until(() => reasons.length > 0, 5_000, "a logged reason");
    assert.match(reasons[0], expectReason);
  }, opts);
}

Deno.test("a garbage greeting drops that connection with a logged reason", async () => {
  await rawCase(b("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), /greeting/);
});

Deno.test("a ZMTP 2.0 style greeting (major version 1) is refused", async () => {
  const g = encodeGreeting();
  g[10] = 1;
  await rawCase(g, /version/);
});

Deno.test("an unsupported security mechanism is refused", async () => {
  const g = encodeGreeting("CURVE");
  await rawCase(g, /mechanism/);
});

Deno.test("a frame length of 2^63 drops the connection before allocating", async () => {
  const header = new Uint8Array([0x02, 0x80, 0, 0, 0, 0, 0, 0, 0]);
  await rawCase(concat(HELLO, header), /2\^63/);
});

Deno.test("a frame longer than maxMessageSize drops the connection", async () => {
  const header = new Uint8Array([0x02, 0, 0, 0, 0, 0x10, 0, 0, 0]); // 256 MB
  await rawCase(concat(HELLO, header), /maxMessageSize/, { maxMessageSize: 1 << 20 });
});

Deno.test("invalid frame flags drop the connection", async () => {
  await rawCase(concat(HELLO, new Uint8Array([0x40, 1, 0])), /flags/);
});

Deno.test("a message before READY drops the connection", async () => {
  await rawCase(concat(encodeGreeting(), encodeFrames([b("too early")])), /handshake/);
});

Deno.test("an incompatible socket type (PUB to ROUTER) is refused", async () => {
  await rawCase(concat(encodeGreeting(), readyCommand("PUB")), /incompatible socket type/);
});

Deno.test("a malformed READY (property runs past the end) drops the connection", async () => {
  const bad = encodeCommand("READY", new Uint8Array([11, ...b("Socket-Type"), 0, 0, 1, 0, 65]));
  await rawCase(concat(encodeGreeting(), bad), /metadata/);
});

Deno.test("a half-open connection that stops mid-greeting is dropped at the handshake deadline", async () => {
  await rawCase(encodeGreeting().subarray(0, 20), /handshake not completed/, {
    handshakeTimeout: 200,
  });
});

Deno.test("a peer that half-closes during the greeting is dropped", async () => {
  await rawCase(encodeGreeting().subarray(0, 20), /during the handshake/, {
    closeAfterWrite: true,
  });
});

Deno.test("a disconnect in the middle of a frame drops that connection with a reason", async () => {
  const header = new Uint8Array([0x00, 200]); // announces 200 bytes, sends 10
  await rawCase(concat(HELLO, header, new Uint8Array(10)), /middle of a frame/, {
    closeAfterWrite: true,
  });
});

Deno.test("a PING is answered with a PONG carrying the same context", async () => {
  await withRouter(async ({ port }) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    try {
      const ping = encodeCommand("PING", new Uint8Array([0, 10, ...b("ctx")]));
      await conn.write(concat(HELLO, ping));
      const expected = encodeCommand("PONG", b("ctx"));
      const buf = new Uint8Array(4096);
      let got: Uint8Array = new Uint8Array(0);
      while (!s(got).includes("PONG")) {
        const n = await within(conn.read(buf), 5_000, "PONG");
        assert.ok(n !== null);
        got = concat(got, buf.subarray(0, n));
      }
      assert.deepEqual(got.subarray(got.length - expected.length), expected);
    } finally {
      conn.close();
    }
  });
});

Deno.test("a multipart message whose frames add up past maxMessageSize drops the connection", async () => {
  // Each frame is under the limit; together they are over it.
  const part = encodeFrames([new Uint8Array(600), new Uint8Array(600)]);
  await rawCase(concat(HELLO, part), /multipart message exceeds/, { maxMessageSize: 1000 });
});

Deno.test("a connect-and-close probe that sends nothing is not logged as bad input", async () => {
  let logged: string[] = [];
  await withRouter(async ({ port, reasons }) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await readUntilClosedAfter(conn);
    logged = reasons;
  });
  assert.deepEqual(logged, []);
});

/** Close our side at once, then wait for the server to finish with it. */
async function readUntilClosedAfter(conn: Deno.Conn): Promise<void> {
  await conn.closeWrite();
  await readUntilClosed(conn, 5_000);
  conn.close();
}
