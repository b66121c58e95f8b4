import assert from "node:assert/strict";
import { keyBytes, type Peeked, peekStrings } from "../../src/protocol/peek.ts";

const enc = new TextEncoder();
const ID = keyBytes("msg_id");
const SESSION = keyBytes("session");

function peek(text: string, key1: Uint8Array | null = SESSION): Peeked[] | false {
  const out: Peeked[] = ["stale", "stale"];
  return peekStrings(enc.encode(text), ID, key1, out) ? out : false;
}

Deno.test("peekStrings: reads top-level strings, compact or spaced (Python)", () => {
  assert.deepEqual(peek('{"msg_id":"a_1_0","msg_type":"status","session":"a"}'), ["a_1_0", "a"]);
  assert.deepEqual(
    peek('{ "session" : "s",\n "msg_id": "m", "date": "2026-01-01T00:00:00.000001Z" }'),
    ["m", "s"],
  );
  assert.deepEqual(peek('{"msg_id":"m"}', null), ["m", null]);
  assert.deepEqual(peek("{}"), [null, null]);
  assert.deepEqual(peek(" {} "), [null, null]);
});

Deno.test("peekStrings: absent keys and non-string values are null", () => {
  assert.deepEqual(peek('{"msg_type":"status"}'), [null, null]);
  assert.deepEqual(peek('{"msg_id":7,"session":null}'), [null, null]);
  assert.deepEqual(peek('{"msg_id":{"msg_id":"inner"},"session":["s"]}'), [null, null]);
});

Deno.test("peekStrings: keys inside nested values or strings are not top-level keys", () => {
  assert.deepEqual(
    peek('{"x":{"msg_id":"no","y":[1,{"session":"no"}]},"t":"\\"msg_id\\":\\"no\\"","msg_id":"m"}'),
    ["m", null],
  );
});

Deno.test("peekStrings: the last of duplicate keys wins, as in JSON.parse", () => {
  const text = '{"msg_id":"first","msg_id":"second","session":"s","session":5}';
  const parsed = JSON.parse(text);
  assert.deepEqual(peek(text), [parsed.msg_id, null]);
});

Deno.test("peekStrings: unsure input answers false (escapes, non-ASCII, not one object)", () => {
  assert.equal(peek('{"msg_id":"a\\u0041"}'), false); // escape in a wanted value
  assert.equal(peek('{"msg_id":"é"}'), false); // non-ASCII in a wanted value
  assert.equal(peek('{"m\\u0073g_id":"x"}'), false); // escape in a key
  assert.equal(peek('["msg_id","m"]'), false);
  assert.equal(peek('"msg_id"'), false);
  assert.equal(peek('{"msg_id":"m"} x'), false);
  assert.equal(peek('{"msg_id":"m"'), false);
  assert.equal(peek('{"msg_id":"m'), false);
  assert.equal(peek('{"msg_id" "m"}'), false);
  assert.equal(peek(""), false);
  // Escapes and non-ASCII elsewhere are fine: they are skipped, not read.
  assert.deepEqual(peek('{"note":"é \\" \\\\","msg_id":"m"}'), ["m", null]);
});

Deno.test("keyBytes: refuses keys that would need escaping", () => {
  assert.throws(() => keyBytes('a"b'), RangeError);
  assert.throws(() => keyBytes("é"), RangeError);
  assert.deepEqual([...keyBytes("ab")], [0x61, 0x62]);
});

Deno.test("peekStrings: a value equal to the previous one is reused, a different one is read", () => {
  const out: Peeked[] = [null, null];
  assert.ok(peekStrings(enc.encode('{"msg_id":"abc","session":"s1"}'), ID, SESSION, out));
  const session = out[1];
  assert.ok(peekStrings(enc.encode('{"msg_id":"abd","session":"s1"}'), ID, SESSION, out));
  assert.deepEqual(out, ["abd", "s1"]);
  assert.equal(out[1], session);
  assert.ok(peekStrings(enc.encode('{"session":"s2"}'), ID, SESSION, out));
  assert.deepEqual(out, [null, "s2"]);
});
