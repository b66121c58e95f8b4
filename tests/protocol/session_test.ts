import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import {
  InvalidOptionError,
  MessageFormatError,
  SerializationError,
  SignatureError,
  UnsupportedSchemeError,
} from "../../src/errors.ts";
import {
  DELIMITER,
  formatDate,
  newId,
  nowMs,
  parseDate,
  parseDateMs,
  Session,
  splitIdentities,
} from "../../src/protocol/session.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const text = (frame: Uint8Array) => dec.decode(frame);

// PROTOCOL.md §1.12
const VECTOR_KEY = "9f1a3c5e-7b2d4e6f8a0b1c2d3e4f5a6b";
const VECTOR_SESSION = "5d2c9a10-0e4fbb7c1a2d3e4f5a6b7c8d";
const VECTOR_DATE = "2024-01-02T03:04:05.123456Z";
const PRETTY_HEADER = `{"msg_id": "${VECTOR_SESSION}_4242_0", "msg_type": "connection_request", ` +
  `"username": "alice", "session": "${VECTOR_SESSION}", "date": "${VECTOR_DATE}", ` +
  `"version": "5.3"}`;
const PRETTY_SIGNATURE = "e54b236b12cff12e3680d5b0e4263764fa0cbef60f1bf1030dcece5c9b2cd226";
const COMPACT_SIGNATURE = "ad0b93735dfcb81df410af07e6ccb2c7bf2480d0e90fd4cf325b415a390e9570";

function vectorSession(options: { key?: string } = {}): Session {
  return new Session({
    key: options.key ?? VECTOR_KEY,
    username: "alice",
    session: VECTOR_SESSION,
    pid: 4242,
    clock: () => parseDateMs(VECTOR_DATE),
  });
}

function prettyVectorFrames(): Uint8Array[] {
  return [DELIMITER, PRETTY_SIGNATURE, PRETTY_HEADER, "{}", "{}", "{}"].map((s) => enc.encode(s));
}

function assertFormatError(fn: () => unknown, reason: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof MessageFormatError, `expected MessageFormatError, got ${e}`);
    assert.equal(e.reason, reason);
    return true;
  });
}

function assertSignatureError(fn: () => unknown, reason: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof SignatureError, `expected SignatureError, got ${e}`);
    assert.equal(e.reason, reason);
    return true;
  });
}

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

Deno.test("unpack() splits identities at the first delimiter; later delimiters are buffers", () => {
  const s = new Session({ key: "k" });
  const delimBuffer = enc.encode(DELIMITER);
  const frames = s.pack(s.msg("x", { identities: ["a", "b"], buffers: [delimBuffer] }));
  const msg = new Session({ key: "k" }).unpack(frames);
  assert.deepEqual(msg.identities.map(text), ["a", "b"]);
  assert.equal(msg.buffers.length, 1);
  assert.equal(msg.buffers[0], delimBuffer);
  const split = splitIdentities(frames);
  assert.equal(split.identities.length, 2);
  assert.equal(split.parts.length, 6);
});

Deno.test("unpack() returns received buffers without copying and raw parts on request", () => {
  const s = new Session({ key: "k" });
  const frames = s.pack(s.msg("x", { buffers: [new Uint8Array([9])] }));
  const msg = new Session({ key: "k" }).unpack(frames, { raw: true });
  assert.equal(msg.buffers[0], frames[6]);
  assert.ok(msg.raw);
  assert.equal(msg.raw.signature, frames[1]);
  assert.equal(msg.raw.header, frames[2]);
  assert.equal(msg.raw.content, frames[5]);
  assert.equal(new Session({ key: "k" }).unpack(s.pack(s.msg("y"))).raw, undefined);
});

Deno.test("a keyed session rejects an unsigned message", () => {
  const unsigned = new Session();
  assertSignatureError(
    () => new Session({ key: "k" }).unpack(unsigned.pack(unsigned.msg("x"))),
    "unsigned",
  );
});

Deno.test("a tampered JSON frame fails verification as invalid", () => {
  const s = new Session({ key: "k" });
  for (let part = 2; part < 6; part++) {
    const frames = s.pack(s.msg("x", { content: { a: 1 } }));
    const copy = frames[part].slice();
    copy[copy.length - 1] ^= 1;
    frames[part] = copy;
    const receiver = new Session({ key: "k" });
    assertSignatureError(() => receiver.unpack(frames), "invalid");
    assert.equal(receiver.historySize, 0, "a rejected signature is not remembered");
  }
});

Deno.test("a signature of the wrong length or case is invalid", () => {
  const s = new Session({ key: "k" });
  const frames = s.pack(s.msg("x"));
  const good = text(frames[1]);
  for (const sig of [good.slice(1), good + "0", good.toUpperCase(), "zz" + good.slice(2)]) {
    const copy = [...frames];
    copy[1] = enc.encode(sig);
    assertSignatureError(() => new Session({ key: "k" }).unpack(copy), "invalid");
  }
});

Deno.test("a replayed message is rejected as duplicate by the same session", () => {
  const a = new Session({ key: "k" });
  const b = new Session({ key: "k" });
  const frames = a.pack(a.msg("x"));
  b.unpack(frames);
  assertSignatureError(() => b.unpack(frames), "duplicate");
  assertSignatureError(() => b.verify(frames), "duplicate");
  assert.equal(b.historySize, 1);
  // Another receiving session has its own history.
  assert.deepEqual(new Session({ key: "k" }).unpack(frames).content, {});
});

Deno.test("replayGuard: false neither checks nor records, for inspected copies (§1.4)", () => {
  const a = new Session({ key: "k" });
  const hub = new Session({ key: "k" });
  const frames = a.pack(a.msg("x"));
  hub.unpack(frames, { replayGuard: false });
  hub.unpack(frames, { replayGuard: false });
  assert.equal(hub.historySize, 0);
  hub.unpack(frames); // the real path still accepts it once
  hub.unpack(frames, { replayGuard: false }); // and the inspected copy still passes
  assertSignatureError(() => hub.unpack(frames), "duplicate");
});

Deno.test("verify() checks the signature without parsing the JSON frames", () => {
  const s = new Session({ key: "k" });
  const header = enc.encode(JSON.stringify(s.header("x")));
  const parts = [header, enc.encode("{}"), enc.encode("{}"), enc.encode("not json")];
  const frames = [enc.encode("id"), enc.encode(DELIMITER), enc.encode(s.sign(parts)), ...parts];
  const relay = new Session({ key: "k" });
  const { identities, parts: rest } = relay.verify(frames);
  assert.deepEqual(identities.map(text), ["id"]);
  assert.equal(rest.length, 5);
  assertFormatError(() => relay.unpack(frames, { verify: false }), "bad-json");
  const tampered = [...frames];
  tampered[6] = enc.encode("not jsoN");
  assertSignatureError(() => relay.verify(tampered), "invalid");
});

Deno.test("unpack({verify: false}) parses frames already verified by verify()", () => {
  const s = new Session({ key: "k" });
  const r = new Session({ key: "k" });
  const frames = s.pack(s.msg("x", { content: { v: 1 } }));
  r.verify(frames);
  assert.deepEqual(r.unpack(frames, { verify: false }).content, { v: 1 });
});

Deno.test("an empty key verifies nothing and keeps no history", () => {
  const signer = new Session({ key: "whatever" });
  const r = new Session();
  const frames = signer.pack(signer.msg("x"));
  r.unpack(frames);
  r.unpack(frames);
  const junkSig = [...frames];
  junkSig[1] = enc.encode("garbage");
  r.unpack(junkSig);
  assert.equal(r.historySize, 0);
});

Deno.test("the replay guard is bounded and forgets the oldest half at a time", () => {
  const r = new Session({ key: "k", digestHistorySize: 100 });
  const s = new Session({ key: "k" });
  const all = Array.from({ length: 250 }, () => s.pack(s.msg("x")));
  const replayed = (frames: Uint8Array[]) => {
    try {
      r.unpack(frames);
      return false;
    } catch (e) {
      assert.ok(e instanceof SignatureError && e.reason === "duplicate");
      return true;
    }
  };
  for (let i = 0; i < all.length; i++) {
    assert.equal(replayed(all[i]), false, `message ${i} is new`);
    assert.ok(r.historySize <= 100, "never more than digestHistorySize");
    // The last 50 accepted (⌈100 / 2⌉) are always remembered.
    for (let j = Math.max(0, i - 49); j <= i; j++) assert.ok(replayed(all[j]), `${j} after ${i}`);
  }
  // Forgotten ones are accepted again (and remembered again).
  assert.equal(replayed(all[0]), false);
  assert.equal(replayed(all[0]), true);
});

Deno.test("digestHistorySize 0 keeps no history, like jupyter_client", () => {
  const s = new Session({ key: "k" });
  const r = new Session({ key: "k", digestHistorySize: 0 });
  const frames = s.pack(s.msg("x"));
  r.unpack(frames);
  r.unpack(frames);
  assert.equal(r.historySize, 0);
});

Deno.test("clearHistory() forgets accepted signatures", () => {
  const s = new Session({ key: "k" });
  const r = new Session({ key: "k" });
  const frames = s.pack(s.msg("x"));
  r.unpack(frames);
  r.clearHistory();
  assert.equal(r.historySize, 0);
  r.unpack(frames);
});

// ---------------------------------------------------------------------------
// Bad input gives typed errors (PROTOCOL.md §1.11)
// ---------------------------------------------------------------------------

Deno.test("a message without a delimiter is a MessageFormatError no-delimiter", () => {
  const s = new Session();
  const frames = s.pack(s.msg("x")).slice(1);
  assertFormatError(() => s.unpack(frames), "no-delimiter");
  assertFormatError(() => splitIdentities(frames), "no-delimiter");
  assertFormatError(() => s.unpack([]), "no-delimiter");
});

Deno.test("truncated messages are MessageFormatError too-few-frames", () => {
  const s = new Session({ key: "k" });
  const frames = s.pack(s.msg("x", { identities: ["a"] }));
  for (let n = 2; n < frames.length; n++) {
    assertFormatError(() => s.unpack(frames.slice(0, n)), "too-few-frames");
    assertFormatError(() => s.verify(frames.slice(0, n)), "too-few-frames");
  }
});

Deno.test("frames that are not an array of Uint8Array are MessageFormatError bad-frames", () => {
  const s = new Session();
  const good = s.pack(s.msg("x"));
  const inputs = [null, undefined, "frames", 42, {}, [...good.slice(0, 3), "{}", ...good.slice(4)]];
  for (const input of inputs) {
    assertFormatError(() => s.unpack(input as never), "bad-frames");
  }
  assertFormatError(() => splitIdentities([DELIMITER] as never), "bad-frames");
});

Deno.test("bad JSON, non-objects and bad headers have their own reasons", () => {
  const s = new Session();
  const make = (h: string, p = "{}", m = "{}", c = "{}") =>
    [DELIMITER, "", h, p, m, c].map((x) => enc.encode(x));
  const header = JSON.stringify(s.header("x"));
  assertFormatError(() => s.unpack(make("{")), "bad-json");
  assertFormatError(() => s.unpack(make(header, "", "{}", "{}")), "bad-json");
  assertFormatError(() => s.unpack(make(header, "{}", "{}", "NaN")), "bad-json");
  assertFormatError(() => s.unpack(make(header, "{}", "[1]", "{}")), "not-object");
  assertFormatError(() => s.unpack(make(header, "null")), "not-object");
  assertFormatError(() => s.unpack(make('"str"')), "not-object");
  assertFormatError(() => s.unpack(make('{"msg_type": "x"}')), "bad-header");
  assertFormatError(() => s.unpack(make('{"msg_id": 1, "msg_type": "x"}')), "bad-header");
  const invalidUtf8 = make(header);
  invalidUtf8[5] = new Uint8Array([0x7b, 0xff, 0x7d]);
  assertFormatError(() => s.unpack(invalidUtf8), "bad-json");
  const bom = make(header);
  bom[5] = new Uint8Array([0xef, 0xbb, 0xbf, 0x7b, 0x7d]);
  assertFormatError(() => s.unpack(bom), "bad-json");
});

Deno.test("a validly signed message with bad JSON is still a MessageFormatError", () => {
  const s = new Session({ key: "k" });
  const parts = [JSON.stringify(s.header("x")), "{}", "{}", "{oops"].map((x) => enc.encode(x));
  const frames = [enc.encode(DELIMITER), enc.encode(s.sign(parts)), ...parts];
  assertFormatError(() => new Session({ key: "k" }).unpack(frames), "bad-json");
});

Deno.test("sign() requires exactly four Uint8Array frames", () => {
  const s = new Session({ key: "k" });
  assertFormatError(() => s.sign([]), "too-few-frames");
  assertFormatError(() => s.sign(["a", "b", "c", "d"] as never), "too-few-frames");
});

// ---------------------------------------------------------------------------
// Dates (PROTOCOL.md §1.8)
// ---------------------------------------------------------------------------

Deno.test("formatDate() writes UTC with six fraction digits and Z", () => {
  assert.equal(formatDate(Date.UTC(2024, 0, 2, 3, 4, 5) + 123.456), "2024-01-02T03:04:05.123456Z");
  assert.equal(
    formatDate(new Date(Date.UTC(2026, 10, 29, 12, 6, 23))),
    "2026-11-29T12:06:23.000000Z",
  );
  assert.equal(formatDate(0), "1970-01-01T00:00:00.000000Z");
  assert.equal(
    formatDate(Date.UTC(2024, 1, 29, 23, 59, 59) + 999.9996),
    "2024-03-01T00:00:00.000000Z",
  );
  assert.equal(formatDate(-0.001), "1969-12-31T23:59:59.999999Z");
});

Deno.test("formatDate() refuses times Python cannot hold with MessageFormatError bad-date", () => {
  for (const t of [NaN, Infinity, new Date(NaN), 253402300800000, -62135596800001]) {
    assertFormatError(() => formatDate(t), "bad-date");
  }
  assertFormatError(() => formatDate("2024" as never), "bad-date");
});

Deno.test("parseDateMs() accepts Python's forms, toISOString and UTC offsets", () => {
  const base = Date.UTC(2026, 10, 29, 12, 6, 23);
  const cases: Array<[string, number]> = [
    ["2026-11-29T12:06:23.964492Z", base + 964.492],
    ["2026-11-29T12:06:23Z", base],
    ["2026-11-29T12:06:23.964Z", base + 964],
    ["2026-11-29T12:06:23.9Z", base + 900],
    ["2026-11-29T13:06:23.5+01:00", base + 500],
    ["2026-11-29T06:36:23-0530", base],
    ["2026-11-29T12:06:23+00:00", base],
  ];
  for (const [input, expected] of cases) {
    assert.ok(Math.abs(parseDateMs(input) - expected) < 1e-6, input);
  }
  assert.equal(parseDate("2026-11-29T12:06:23.964492Z").toISOString(), "2026-11-29T12:06:23.964Z");
  const iso = new Date(base + 123).toISOString();
  assert.equal(parseDateMs(iso), base + 123);
});

Deno.test("a date without a zone is local time, as Python takes it", () => {
  assert.equal(parseDateMs("2026-11-29T12:06:23"), new Date(2026, 10, 29, 12, 6, 23).getTime());
});

Deno.test("parseDateMs() rejects malformed and impossible dates with bad-date", () => {
  const bad = [
    "",
    "yesterday",
    "2026-11-29",
    "2026-11-29 12:06:23Z",
    "2026-11-29T12:06:23.1234567Z",
    "2026-11-29T12:06:23z",
    "2026-13-01T00:00:00Z",
    "2026-00-01T00:00:00Z",
    "2026-02-29T00:00:00Z",
    "2026-04-31T00:00:00Z",
    "2026-11-29T24:00:00Z",
    "2026-11-29T12:60:00Z",
    "2026-11-29T12:06:60Z",
    "0000-01-01T00:00:00Z",
    "2026-11-29T12:06:23+24:00",
    "2026-11-29T12:06:23+01:60",
    "+02026-11-29T12:06:23Z",
  ];
  for (const input of bad) assertFormatError(() => parseDateMs(input), "bad-date");
  assertFormatError(() => parseDateMs(42 as never), "bad-date");
  assert.equal(parseDateMs("2024-02-29T00:00:00Z"), Date.UTC(2024, 1, 29));
  assert.equal(parseDateMs("2000-02-29T00:00:00Z"), Date.UTC(2000, 1, 29));
  assertFormatError(() => parseDateMs("1900-02-29T00:00:00Z"), "bad-date");
});

Deno.test("dates round trip to the microsecond, both ways", () => {
  let seed = 7;
  const rand = () => (seed = (seed * 48271) % 2147483647) / 2147483647;
  for (let i = 0; i < 5000; i++) {
    const micros = Math.floor(rand() * 4e15) - 1e15; // 1938 .. 2096
    const text = formatDate(micros / 1000);
    assert.match(text, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/);
    assert.equal(Math.round(parseDateMs(text) * 1000), micros, text);
    assert.equal(formatDate(parseDateMs(text)), text);
  }
  assert.equal(formatDate(parseDateMs("0001-01-01T00:00:00Z")), "0001-01-01T00:00:00.000000Z");
  // Epoch milliseconds as a double hold exact microseconds until about 2100, milliseconds
  // far beyond.
  assert.equal(
    formatDate(parseDateMs("9999-12-31T23:59:59.999Z")),
    "9999-12-31T23:59:59.999000Z",
  );
});
