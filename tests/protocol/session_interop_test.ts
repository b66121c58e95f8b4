/**
 * Our Session against the real `jupyter_client.session.Session` (7.4.9, Debian), driven
 * through tests/protocol/peers/session_peer.py: one long-lived Python process per test.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { SignatureError } from "../../src/errors.ts";
import { DELIMITER, formatDate, parseDateMs, Session } from "../../src/protocol/session.ts";
import { needsPython, PYTHON } from "../helpers/interop.ts";

const PEER = fileURLToPath(new URL("./peers/session_peer.py", import.meta.url));
const enc = new TextEncoder();
const dec = new TextDecoder();
const ignore = needsPython("jupyter_client");

function b64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
  return btoa(s);
}

function unb64(text: string): Uint8Array {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

// deno-lint-ignore no-explicit-any
type Reply = Record<string, any>;

/** A jupyter_client Session in a Python child process, spoken to in JSON lines. */
class PythonSession implements AsyncDisposable {
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #lines: AsyncIterator<string>;

  private constructor(child: Deno.ChildProcess) {
    this.#child = child;
    this.#writer = child.stdin.getWriter();
    this.#lines = lines(child.stdout)[Symbol.asyncIterator]();
  }

  static async start(key: string, scheme = "hmac-sha256"): Promise<PythonSession> {
    const child = new Deno.Command(PYTHON, {
      args: [PEER],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const peer = new PythonSession(child);
    await peer.configure(key, scheme);
    return peer;
  }

  async configure(key: string, scheme: string): Promise<void> {
    const reply = await this.call({ cmd: "config", key, scheme });
    assert.equal(reply.ok, true, JSON.stringify(reply));
  }

  async call(request: Reply): Promise<Reply> {
    await this.#writer.write(enc.encode(JSON.stringify(request) + "\n"));
    const next = await this.#lines.next();
    if (next.done) throw new Error("session_peer.py exited");
    return JSON.parse(next.value);
  }

  /** Python packs a message; returns its frames. */
  async pack(request: Reply): Promise<Uint8Array[]> {
    const reply = await this.call({
      cmd: "pack",
      ...request,
      identities: (request.identities ?? []).map(b64),
      buffers: (request.buffers ?? []).map(b64),
    });
    assert.equal(reply.ok, true, JSON.stringify(reply));
    return reply.frames.map(unb64);
  }

  /** Python unpacks frames; returns its answer (ok or the error it raised). */
  unpack(frames: Uint8Array[]): Promise<Reply> {
    return this.call({ cmd: "unpack", frames: frames.map(b64) });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.#writer.close().catch(() => {});
    const status = await this.#child.status;
    assert.equal(status.code, 0, "session_peer.py failed");
  }
}

async function* lines(stream: ReadableStream<Uint8Array>): AsyncIterable<string> {
  let pending = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    pending += chunk;
    let nl: number;
    while ((nl = pending.indexOf("\n")) >= 0) {
      yield pending.slice(0, nl);
      pending = pending.slice(nl + 1);
    }
  }
}

const KEY = "0123abcd-4567ef0123456789abcdef01";
const CONTENT = { code: "print('héllo ☃')\n", silent: false, user_expressions: { a: "1" } };

/** Python may rewrite a date whose microseconds are 0 without its fraction: compare instants. */
function assertSameHeader(actual: Reply, expected: Reply): void {
  assert.deepEqual({ ...actual, date: "" }, { ...expected, date: "" });
  assert.equal(parseDateMs(actual.date), parseDateMs(expected.date));
}

async function ourMessageReadByPython(key: string) {
  await using py = await PythonSession.start(key);
  const ours = new Session({ key });
  const buffers = [new Uint8Array([0x80, 4, 0, 255]), new Uint8Array(0)];
  const msg = ours.msg("execute_request", {
    content: CONTENT,
    metadata: { after: [], follow: [], timeout: 0, targets: [], retries: 0 },
    parent: ours.header("apply_request"),
    identities: ["engine-uuid", new Uint8Array([0, 0xf4, 0xb0, 0xdc, 0x51])],
    buffers,
  });
  const got = await py.unpack(ours.pack(msg));
  assert.equal(got.ok, true, JSON.stringify(got));
  assert.deepEqual(got.identities.map(unb64), msg.identities);
  assertSameHeader(got.header, msg.header);
  assertSameHeader(got.parent_header, msg.parentHeader);
  assert.deepEqual(got.metadata, msg.metadata);
  assert.deepEqual(got.content, CONTENT);
  assert.deepEqual(got.buffers.map(unb64), buffers);
}

async function pythonMessageReadByUs(key: string) {
  await using py = await PythonSession.start(key);
  const ours = new Session({ key });
  const parent = ours.header("execute_request");
  const frames = await py.pack({
    msg_type: "execute_reply",
    content: { status: "ok", execution_count: 1, user_expressions: {}, payload: [] },
    parent,
    metadata: { engine: "e", status: "ok" },
    identities: [enc.encode("mux_out"), new Uint8Array([0, 1, 2, 3, 4])],
    buffers: [new Uint8Array([1, 2, 3])],
  });
  const msg = ours.unpack(frames);
  assert.equal(msg.msgType, "execute_reply");
  assert.deepEqual(msg.identities, [enc.encode("mux_out"), new Uint8Array([0, 1, 2, 3, 4])]);
  assert.deepEqual(msg.parentHeader, parent);
  assert.deepEqual(msg.metadata, { engine: "e", status: "ok" });
  assert.deepEqual(msg.content, {
    status: "ok",
    execution_count: 1,
    user_expressions: {},
    payload: [],
  });
  assert.deepEqual(msg.buffers, [new Uint8Array([1, 2, 3])]);
  assert.equal(msg.header.version, "5.3");
  // Python writes spaced JSON; we verified those bytes as received.
  const d = frames.findIndex((f) => dec.decode(f) === DELIMITER);
  assert.ok(dec.decode(frames[d + 2]).includes('", "'));
  return msg;
}

Deno.test({
  name: "Python's jupyter_client accepts our signed messages with identities and buffers",
  ignore,
  fn: () => ourMessageReadByPython(KEY),
});

Deno.test({
  name: "Python's jupyter_client accepts our unsigned messages (empty key)",
  ignore,
  fn: () => ourMessageReadByPython(""),
});

Deno.test({
  name: "we accept messages signed by Python's jupyter_client",
  ignore,
  fn: () => pythonMessageReadByUs(KEY).then(() => {}),
});

Deno.test({
  name: "we accept Python's unsigned messages (empty key)",
  ignore,
  fn: async () => {
    const msg = await pythonMessageReadByUs("");
    assert.ok(msg.header.msg_id.length > 0);
  },
});

Deno.test({
  name: "a tampered frame is rejected by Python and by us",
  ignore,
  fn: async () => {
    await using py = await PythonSession.start(KEY);
    const ours = new Session({ key: KEY });
    // Ours, tampered, to Python.
    const frames = ours.pack(ours.msg("apply_request", { content: {}, buffers: [] }));
    const header = frames[2].slice();
    header[10] ^= 0x01;
    const got = await py.unpack([frames[0], frames[1], header, ...frames.slice(3)]);
    assert.equal(got.ok, false);
    assert.match(got.error, /Invalid Signature/);
    // Python's, tampered, to us.
    const theirs = await py.pack({ msg_type: "status", content: { execution_state: "idle" } });
    const content = enc.encode(dec.decode(theirs[5]).replace("idle", "busy"));
    assert.throws(
      () => ours.unpack([...theirs.slice(0, 5), content]),
      (e: unknown) => e instanceof SignatureError && e.reason === "invalid",
    );
  },
});

Deno.test({
  name: "a replayed message is rejected by Python and by us",
  ignore,
  fn: async () => {
    await using py = await PythonSession.start(KEY);
    const ours = new Session({ key: KEY });
    const frames = ours.pack(
      ours.msg("queue_request", { content: { targets: null, verbose: false } }),
    );
    assert.equal((await py.unpack(frames)).ok, true);
    const again = await py.unpack(frames);
    assert.equal(again.ok, false);
    assert.match(again.error, /Duplicate Signature/);

    const theirs = await py.pack({ msg_type: "queue_reply", content: { status: "ok" } });
    ours.unpack(theirs);
    assert.throws(
      () => ours.unpack(theirs),
      (e: unknown) => e instanceof SignatureError && e.reason === "duplicate",
    );
  },
});

Deno.test({
  name: "an unsigned message is rejected by a keyed Python session and by us",
  ignore,
  fn: async () => {
    await using py = await PythonSession.start(KEY);
    const unsigned = new Session();
    const got = await py.unpack(unsigned.pack(unsigned.msg("connection_request")));
    assert.equal(got.ok, false);
    assert.match(got.error, /Unsigned Message/);
    await py.configure("", "hmac-sha256");
    const theirs = await py.pack({ msg_type: "connection_request", content: {} });
    assert.throws(
      () => new Session({ key: KEY }).unpack(theirs),
      (e: unknown) => e instanceof SignatureError && e.reason === "unsigned",
    );
  },
});

Deno.test({
  name: "every hmac scheme signs the same bytes to the same digest as Python, both ways",
  ignore,
  fn: async () => {
    await using py = await PythonSession.start(KEY);
    const parts = ['{"a": 1}', "{}", '{"é": "☃"}', '{"x": [1, 2]}'].map((p) => enc.encode(p));
    for (const hash of ["md5", "sha1", "sha224", "sha256", "sha384", "sha512"]) {
      const scheme = `hmac-${hash}`;
      for (const key of [KEY, "k".repeat(200)]) {
        await py.configure(key, scheme);
        const ours = new Session({ key, signatureScheme: scheme });
        const reply = await py.call({ cmd: "sign", parts: parts.map(b64) });
        assert.equal(reply.signature, ours.sign(parts), scheme);
        const got = await py.unpack(ours.pack(ours.msg("custom", { content: { n: 1 } })));
        assert.equal(got.ok, true, `${scheme}: ${JSON.stringify(got)}`);
        const theirs = await py.pack({ msg_type: "status", content: { n: 2 } });
        assert.deepEqual(ours.unpack(theirs).content, { n: 2 });
      }
    }
  },
});

Deno.test({
  name: "Python parses our header dates to the same microsecond, and we parse Python's",
  ignore,
  fn: async () => {
    await using py = await PythonSession.start(KEY);
    const samples = [
      formatDate(Date.UTC(2026, 10, 29, 12, 6, 23) + 964.492),
      formatDate(Date.UTC(2024, 1, 29, 0, 0, 0)),
      new Session().header("x").date,
      new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 123)).toISOString(),
      "2026-11-29T12:06:23Z",
      "2026-11-29T13:06:23.5+01:00",
      "2026-11-29T06:36:23.000001-0530",
    ];
    for (const date of samples) {
      const reply = await py.call({ cmd: "parse_date", date });
      assert.equal(reply.ok, true, date);
      assert.equal(reply.micros, Math.round(parseDateMs(date) * 1000), date);
    }
    for (let i = 0; i < 20; i++) {
      const { date } = await py.call({ cmd: "format_now" });
      const { micros } = await py.call({ cmd: "parse_date", date });
      assert.equal(Math.round(parseDateMs(date) * 1000), micros, date);
    }
  },
});

Deno.test({
  name: "non-ASCII content written literally by Python verifies and parses here, and back",
  ignore,
  fn: async () => {
    await using py = await PythonSession.start(KEY);
    const ours = new Session({ key: KEY });
    const content = { name: "stdout", text: "héllo ☃ 𝄞 \u001b[31mred\u001b[0m\n" };
    const theirs = await py.pack({ msg_type: "stream", content });
    assert.ok(dec.decode(theirs[5]).includes("☃ 𝄞"), "Python writes non-ASCII literally");
    assert.deepEqual(ours.unpack(theirs).content, content);
    const got = await py.unpack(ours.pack(ours.msg("stream", { content: content as never })));
    assert.equal(got.ok, true, JSON.stringify(got));
    assert.deepEqual(got.content, content);
  },
});
