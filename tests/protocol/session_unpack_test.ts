/**
 * Session, receiving side: unpack, verification, the replay guard, malformed frames and dates.
 */

import assert from "node:assert/strict";
import { SignatureError } from "../../src/errors.ts";
import {
  DELIMITER,
  formatDate,
  parseDate,
  parseDateMs,
  Session,
  splitIdentities,
} from "../../src/protocol/session.ts";
import { assertFormatError, assertSignatureError, enc, text } from "./session_fixtures.ts";

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

Deno.test("JSON parts are strict UTF-8: invalid bytes are bad-json, a real U+FFFD is text", () => {
  const s = new Session();
  const header = enc.encode(JSON.stringify(s.header("x")));
  const withContent = (content: Uint8Array) =>
    [DELIMITER, "", header, "{}", "{}", content].map((x) =>
      typeof x === "string" ? enc.encode(x) : x
    );
  // {"a":"<bytes>"} around each invalid sequence: a lone continuation byte, a truncated
  // two-byte sequence, an overlong "/", an encoded surrogate, a code point past U+10FFFF.
  const invalid = [[0x80], [0xc3], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80]];
  for (const bytes of invalid) {
    const content = new Uint8Array([...enc.encode('{"a":"'), ...bytes, ...enc.encode('"}')]);
    assertFormatError(() => s.unpack(withContent(content)), "bad-json");
  }
  // U+FFFD itself is valid UTF-8 (EF BF BD) and comes through as text, as do other non-ASCII
  // characters, in a frame that is a view into a larger buffer.
  const json = '{"a":"\uFFFD é 字 😀"}';
  const wide = new Uint8Array(300);
  const encoded = enc.encode(json);
  wide.set(encoded, 17);
  const msg = s.unpack(withContent(wide.subarray(17, 17 + encoded.length)));
  assert.deepEqual(msg.content, { a: "\uFFFD é 字 😀" });
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
