import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import {
  InvalidOptionError,
  SerializationError,
  UnsupportedSchemeError,
} from "../../src/errors.ts";
import { DELIMITER, newId, nowMs, parseDateMs, Session } from "../../src/protocol/session.ts";

import {
  assertSignatureError,
  COMPACT_SIGNATURE,
  enc,
  PRETTY_HEADER,
  PRETTY_SIGNATURE,
  prettyVectorFrames,
  text,
  VECTOR_KEY,
  VECTOR_SESSION,
  vectorSession,
} from "./session_fixtures.ts";

// ---------------------------------------------------------------------------
// HMAC test vector (PROTOCOL.md §1.12)
// ---------------------------------------------------------------------------

Deno.test("sign() reproduces the pretty-JSON signature of the §1.12 test vector", () => {
  const s = vectorSession();
  const parts = [PRETTY_HEADER, "{}", "{}", "{}"].map((p) => enc.encode(p));
  assert.equal(s.sign(parts), PRETTY_SIGNATURE);
});

Deno.test("pack() emits the compact §1.12 header byte for byte with its signature", () => {
  const s = vectorSession();
  const frames = s.pack(s.msg("connection_request"));
  assert.deepEqual(frames.map(text), [
    DELIMITER,
    COMPACT_SIGNATURE,
    PRETTY_HEADER.replaceAll('": ', '":').replaceAll('", "', '","'),
    "{}",
    "{}",
    "{}",
  ]);
});

Deno.test("unpack() accepts the pretty-JSON §1.12 frames, verifying the received bytes", () => {
  const msg = new Session({ key: VECTOR_KEY }).unpack(prettyVectorFrames());
  assert.equal(msg.msgType, "connection_request");
  assert.equal(msg.msgId, `${VECTOR_SESSION}_4242_0`);
  assert.equal(msg.header.username, "alice");
  assert.deepEqual(msg.content, {});
});

Deno.test("unpack() rejects the §1.12 frames under another key as invalid", () => {
  assertSignatureError(
    () => new Session({ key: "another-key" }).unpack(prettyVectorFrames()),
    "invalid",
  );
});

// ---------------------------------------------------------------------------
// Schemes and options
// ---------------------------------------------------------------------------

Deno.test("every supported hmac scheme signs exactly like node:crypto createHmac", () => {
  const parts = ['{"a": 1}', "{}", '{"é": "☃"}', '{"x": [1, 2, 3]}'].map((p) => enc.encode(p));
  const keys = ["k", VECTOR_KEY, "x".repeat(64), "y".repeat(65), "z".repeat(129), "ключ"];
  for (const hash of ["md5", "sha1", "sha224", "sha256", "sha384", "sha512"]) {
    for (const key of keys) {
      const expected = createHmac(hash, enc.encode(key));
      for (const p of parts) expected.update(p);
      const s = new Session({ key, signatureScheme: `hmac-${hash}` });
      assert.equal(s.sign(parts), expected.digest("hex"), `hmac-${hash}, key length ${key.length}`);
    }
  }
});

Deno.test("a message signed with each scheme is accepted by a session with that scheme", () => {
  for (const hash of ["md5", "sha1", "sha224", "sha256", "sha384", "sha512"]) {
    const scheme = `hmac-${hash}`;
    const a = new Session({ key: "secret", signatureScheme: scheme });
    const b = new Session({ key: "secret", signatureScheme: scheme });
    const msg = b.unpack(a.pack(a.msg("status", { content: { execution_state: "idle" } })));
    assert.deepEqual(msg.content, { execution_state: "idle" });
  }
});

Deno.test("a receiver with another hmac scheme rejects the message as invalid", () => {
  const a = new Session({ key: "secret", signatureScheme: "hmac-sha256" });
  const b = new Session({ key: "secret", signatureScheme: "hmac-sha512" });
  assertSignatureError(() => b.unpack(a.pack(a.msg("clear_request"))), "invalid");
});

Deno.test("unsupported signature schemes throw UnsupportedSchemeError", () => {
  for (const scheme of ["hmac-whirlpool", "hmac-SHA256", "sha256", "hmac-", "hmac-sha3-256", ""]) {
    assert.throws(() => new Session({ key: "k", signatureScheme: scheme }), UnsupportedSchemeError);
  }
  assert.throws(
    () => new Session({ signatureScheme: 42 as unknown as string }),
    UnsupportedSchemeError,
  );
});

Deno.test("packers and unpackers other than json throw UnsupportedSchemeError", () => {
  assert.throws(() => new Session({ packer: "pickle" }), (e: unknown) => {
    assert.ok(e instanceof UnsupportedSchemeError);
    assert.equal(e.scheme, "pickle");
    return true;
  });
  assert.throws(() => new Session({ unpacker: "msgpack" }), UnsupportedSchemeError);
});

Deno.test("invalid options throw InvalidOptionError naming the option", () => {
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ session: "bad.session" }, "session"],
    [{ session: "" }, "session"],
    [{ session: 7 }, "session"],
    [{ digestHistorySize: -1 }, "digestHistorySize"],
    [{ digestHistorySize: 1.5 }, "digestHistorySize"],
    [{ pid: -3 }, "pid"],
    [{ username: null }, "username"],
    [{ key: 12 }, "key"],
    [{ clock: "now" }, "clock"],
  ];
  for (const [options, name] of cases) {
    assert.throws(() => new Session(options as never), (e: unknown) => {
      assert.ok(e instanceof InvalidOptionError, `${JSON.stringify(options)}: ${e}`);
      assert.equal(e.option, name);
      return true;
    });
  }
  assert.throws(() => new Session(null as never), InvalidOptionError);
});

Deno.test("a session has defaults like jupyter_client: hmac-sha256, username, 8-24 hex id", () => {
  const s = new Session();
  assert.equal(s.signatureScheme, "hmac-sha256");
  assert.equal(s.username, "username");
  assert.match(s.session, /^[0-9a-f]{8}-[0-9a-f]{24}$/);
  assert.equal(s.digestHistorySize, 65536);
  assert.equal(s.pid, Deno.pid);
  assert.equal(s.signed, false);
  assert.equal(new Session({ key: "k" }).signed, true);
  assert.notEqual(new Session().session, s.session);
  assert.match(newId(), /^[0-9a-f]{8}-[0-9a-f]{24}$/);
});

Deno.test("a Uint8Array key signs like the same key given as a string", () => {
  const a = new Session({ key: "clé" });
  const b = new Session({ key: enc.encode("clé") });
  const parts = ["{}", "{}", "{}", "{}"].map((p) => enc.encode(p));
  assert.equal(a.sign(parts), b.sign(parts));
});

// ---------------------------------------------------------------------------
// Headers and ids (PROTOCOL.md §1.5, §1.7)
// ---------------------------------------------------------------------------

Deno.test("headers have the six keys in Python's order with version 5.3", () => {
  const s = new Session({ username: "bob" });
  const h = s.header("queue_request");
  assert.deepEqual(Object.keys(h), [
    "msg_id",
    "msg_type",
    "username",
    "session",
    "date",
    "version",
  ]);
  assert.equal(h.msg_type, "queue_request");
  assert.equal(h.username, "bob");
  assert.equal(h.session, s.session);
  assert.equal(h.version, "5.3");
});

Deno.test("msg ids are <session>_<pid>_<counter> from 0 and valid Python identifier fragments", () => {
  const s = new Session({ pid: 13438 });
  const ids = Array.from({ length: 5 }, () => s.msg("apply_request").msgId);
  assert.deepEqual(ids, [0, 1, 2, 3, 4].map((n) => `${s.session}_13438_${n}`));
  assert.equal(s.nextMsgId(), `${s.session}_13438_5`);
  for (const id of ids) {
    assert.match(id, /^[A-Za-z0-9_-]+$/);
    // What a Python engine does with it (PROTOCOL.md §1.7): strip '-' and build names.
    assert.match(`_${id.replaceAll("-", "")}`, /^[A-Za-z_][A-Za-z0-9_]*$/);
  }
});

Deno.test("header dates use the session clock with microseconds and a Z", () => {
  const s = new Session({ clock: () => Date.UTC(2026, 10, 29, 12, 6, 23) + 964.492 });
  assert.equal(s.header("status").date, "2026-11-29T12:06:23.964492Z");
});

Deno.test("header dates from the default clock are current and microsecond-formatted", () => {
  const before = Date.now();
  const date = new Session().header("status").date;
  const after = Date.now();
  assert.match(date, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/);
  const ms = parseDateMs(date);
  assert.ok(ms >= before - 3 && ms <= after + 4, `${date} not within [${before}, ${after}]`);
  const t = nowMs();
  assert.ok(Math.abs(t - Date.now()) < 5);
});

// ---------------------------------------------------------------------------
// Packing and frame layout (PROTOCOL.md §1.1, §1.10)
// ---------------------------------------------------------------------------

Deno.test("pack() lays out identities, delimiter, signature, four JSON frames and buffers", () => {
  const s = new Session({ key: "k" });
  const buffer = new Uint8Array([1, 2, 3]);
  const frames = s.pack(s.msg("apply_request", {
    identities: ["engine-uuid", new Uint8Array([0, 1, 2, 3, 4])],
    metadata: { after: [], follow: [], timeout: 0, targets: [], retries: 0 },
    buffers: [buffer],
  }));
  assert.equal(frames.length, 9);
  assert.equal(text(frames[0]), "engine-uuid");
  assert.deepEqual([...frames[1]], [0, 1, 2, 3, 4]);
  assert.equal(text(frames[2]), DELIMITER);
  assert.match(text(frames[3]), /^[0-9a-f]{64}$/);
  assert.equal(JSON.parse(text(frames[4])).msg_type, "apply_request");
  assert.equal(text(frames[5]), "{}");
  assert.deepEqual(JSON.parse(text(frames[6])).targets, []);
  assert.equal(text(frames[7]), "{}");
  assert.equal(text(frames[3]), s.sign(frames.slice(4, 8)));
  assert.equal(frames[8], buffer);
});

Deno.test("pack() without a key sends an empty signature frame", () => {
  const s = new Session();
  const frames = s.pack(s.msg("connection_request"));
  assert.equal(frames[1].length, 0);
  assert.equal(s.sign(frames.slice(2, 6)), "");
});

Deno.test("buffers are appended without copying, whatever view or ArrayBuffer they are", () => {
  const s = new Session();
  const backing = new ArrayBuffer(32);
  const u8 = new Uint8Array(backing, 4, 8);
  const f64 = new Float64Array(backing, 16, 2);
  const view = new DataView(backing, 1, 3);
  const frames = s.pack(s.msg("data_message", { buffers: [u8, f64, view, backing] }));
  const [b0, b1, b2, b3] = frames.slice(6);
  assert.equal(b0, u8);
  for (const [frame, offset, length] of [[b1, 16, 16], [b2, 1, 3], [b3, 0, 32]] as const) {
    assert.equal(frame.buffer, backing);
    assert.equal(frame.byteOffset, offset);
    assert.equal(frame.byteLength, length);
  }
});

Deno.test("non-ASCII text is written as literal UTF-8 and survives a round trip", () => {
  const s = new Session({ key: "k" });
  const content = { text: "héllo ☃ 𝄞 \u001b[31m", "clé": ["ü", { "日本": "語" }] };
  const frames = s.pack(s.msg("stream", { content: content as never }));
  assert.ok(text(frames[5]).includes("☃ 𝄞"));
  assert.ok(!text(frames[5]).includes("\\u2603"));
  assert.deepEqual(new Session({ key: "k" }).unpack(frames).content, content);
});

Deno.test("NaN and Infinity are packed as null, never as invalid JSON tokens", () => {
  const s = new Session();
  const frames = s.pack(s.msg("x", { content: { a: NaN, b: Infinity, c: [-Infinity] } }));
  assert.equal(text(frames[5]), '{"a":null,"b":null,"c":[null]}');
});

Deno.test("many packed messages keep their own bytes (frames share slabs safely)", () => {
  const s = new Session({ key: "k" });
  const packed: Array<[Uint8Array[], string]> = [];
  for (let i = 0; i < 3000; i++) {
    const payload = "p".repeat(i % 700) + i;
    packed.push([s.pack(s.msg("stream", { content: { name: "stdout", text: payload } })), payload]);
  }
  const r = new Session({ key: "k" });
  for (const [frames, payload] of packed) {
    assert.equal((r.unpack(frames).content as { text: string }).text, payload);
  }
});

Deno.test("large content (bigger than the shared slab) packs and verifies", () => {
  const s = new Session({ key: "k" });
  const big = "b".repeat(200_000) + "é";
  const frames = s.pack(s.msg("stream", { content: { name: "stdout", text: big } }));
  assert.equal((new Session({ key: "k" }).unpack(frames).content as { text: string }).text, big);
});

Deno.test("pack() refuses what cannot be a message with SerializationError", () => {
  const s = new Session();
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  const bad: Array<() => unknown> = [
    () => s.pack(s.msg("x", { content: cyclic })),
    () => s.pack(s.msg("x", { content: { n: 10n } as never })),
    () => s.pack(s.msg("x", { content: [1, 2] as never })),
    () => s.pack({ ...s.msg("x"), metadata: [] as never }),
    () => s.pack({ ...s.msg("x"), parentHeader: "nope" as never }),
    () => s.pack({ header: { msg_type: "x" } as never }),
    () => s.pack(null as never),
    () => s.pack(s.msg("x", { identities: [DELIMITER] })),
    () => s.msg("x", { buffers: ["text" as never] }),
    () => s.pack({ ...s.msg("x"), buffers: [42 as never] }),
    () => s.pack({ ...s.msg("x"), identities: [{} as never] }),
    () => s.pack({ ...s.msg("x"), buffers: "x" as never }),
    () => s.pack(s.msg("x", { content: { toJSON: () => undefined } as never })),
    () => s.reply(null as never),
    () => s.reply({ identities: [] } as never),
  ];
  for (const fn of bad) assert.throws(fn, SerializationError);
});

Deno.test("pack() writes a header given explicitly as is", () => {
  const s = new Session();
  const header = { ...s.header("apply_request"), msg_id: "custom_1" };
  const msg = new Session().unpack(s.pack(s.msg("apply_request", { header })));
  assert.deepEqual(msg.header, header);
  assert.equal(msg.msgId, "custom_1");
});

// ---------------------------------------------------------------------------
// msg() and reply()
// ---------------------------------------------------------------------------

Deno.test("msg() copies the parent header from a header or from a whole message", () => {
  const s = new Session();
  const request = s.msg("execute_request", { content: { code: "1", silent: true } });
  const fromHeader = s.msg("status", { parent: request.header });
  const fromMessage = s.msg("status", { parent: request });
  assert.deepEqual(fromHeader.parentHeader, request.header);
  assert.deepEqual(fromMessage.parentHeader, request.header);
  assert.notEqual(fromHeader.parentHeader, request.header);
  assert.deepEqual(s.msg("status").parentHeader, {});
});

Deno.test("reply() answers with parent = request header, its routing frames and _reply type", () => {
  const client = new Session({ key: "k" });
  const engine = new Session({ key: "k" });
  const wire = client.pack(client.msg("apply_request", { identities: ["mux_out", "client-id"] }));
  const request = engine.unpack(wire);
  const reply = engine.reply(request, { content: { status: "ok" }, buffers: [new Uint8Array(1)] });
  assert.equal(reply.msgType, "apply_reply");
  assert.deepEqual(reply.parentHeader, request.header);
  assert.equal(reply.header.session, engine.session);
  assert.deepEqual(reply.identities.map(text), ["mux_out", "client-id"]);
  const back = client.unpack(engine.pack(reply));
  assert.equal(back.parentHeader.msg_id, request.msgId);
  assert.deepEqual(back.content, { status: "ok" });
  assert.equal(back.buffers.length, 1);
  const custom = engine.reply(request, { msgType: "_request", identities: [] });
  assert.equal(custom.msgType, "_request");
  assert.deepEqual(custom.identities, []);
});

// ---------------------------------------------------------------------------
// Unpacking and verification (PROTOCOL.md §1.3, §1.4, §1.11)
// ---------------------------------------------------------------------------
