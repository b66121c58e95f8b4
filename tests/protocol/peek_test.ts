import assert from "node:assert/strict";
import { peekMsgType } from "../../src/protocol/peek.ts";
import { Session } from "../../src/protocol/session.ts";

const enc = new TextEncoder();

/** What a full parse says: the type when msg_id and msg_type are strings, else null. */
function parsed(text: string): string | null {
  const h = JSON.parse(text);
  if (typeof h !== "object" || h === null || Array.isArray(h)) return null;
  return typeof h.msg_id === "string" && typeof h.msg_type === "string" ? h.msg_type : null;
}

Deno.test("peekMsgType reads the type of headers packed by Session and by Python's json", () => {
  const s = new Session({ key: "k" });
  for (const type of ["status", "apply_reply", "stream", "execute_result"]) {
    const frames = s.pack(s.msg(type, { content: { execution_state: "idle" } }));
    assert.equal(peekMsgType(frames[2]), type);
  }
  const python = '{"msg_id": "a_1_0", "msg_type": "status", "username": "u", ' +
    '"session": "a", "date": "2026-11-29T12:00:00.000000Z", "version": "5.3"}';
  assert.equal(peekMsgType(enc.encode(python)), "status");
  assert.equal(peekMsgType(enc.encode(` \n${python}\t `)), "status");
});

Deno.test("peekMsgType agrees with JSON.parse, or declines (undefined)", () => {
  const cases = [
    '{"msg_id":"x","msg_type":"status"}',
    '{"msg_type":"status"}', // no msg_id
    '{"msg_id":1,"msg_type":"status"}',
    '{"msg_id":"x","msg_type":5}',
    '{"msg_id":"x","msg_type":"a","msg_type":"b"}', // last wins
    '{"msg_id":"x","nested":{"msg_type":"status","a":[1,{"b":"}"}]},"msg_type":"stream"}',
    '{"msg_id":"x","u":"he said \\"msg_type\\":\\"status\\"","msg_type":"stream"}',
    '{"msg_id":"x","u":"back\\\\","msg_type":"stream","n":null,"t":true,"f":-1.5e3}',
    "{}",
    '{"msg_id":"x","msg_type":"st\\u0061tus"}', // escaped: declined
    '{"msg_id":"x","msg_type":"éè"}', // non-ASCII: declined
    "[1,2]",
    '"str"',
    '{"msg_id":"x","msg_type":"status"',
    '{"msg_id":"x","msg_type":"status"}garbage',
    '{"msg_id":"x" "msg_type":"status"}',
    "",
  ];
  for (const text of cases) {
    const got = peekMsgType(enc.encode(text));
    if (got === undefined) continue; // the caller parses
    let want: string | null;
    try {
      want = parsed(text);
    } catch {
      assert.fail(`peek answered ${got} for invalid JSON ${text}`);
    }
    assert.equal(got, want, text);
  }
  assert.equal(peekMsgType(enc.encode(cases[5])), "stream");
  assert.equal(peekMsgType(enc.encode(cases[6])), "stream");
  assert.equal(peekMsgType(enc.encode(cases[1])), null);
});

Deno.test("peekMsgType on random headers matches a full parse whenever it answers", () => {
  let seed = 7;
  const rnd = () => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646;
  const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)];
  const values = [
    '"status"',
    '"a\\"b"',
    "12",
    "null",
    '{"msg_type":"x"}',
    '["}",{"a":"]"}]',
    "true",
    '"\\\\"',
  ];
  const keys = ['"msg_id"', '"msg_type"', '"date"', '"session"', '"x\\"y"'];
  let answered = 0;
  for (let i = 0; i < 5000; i++) {
    const n = Math.floor(rnd() * 6);
    const parts: string[] = [];
    for (let k = 0; k < n; k++) parts.push(`${pick(keys)}${pick([":", " : "])}${pick(values)}`);
    const text = `{${parts.join(pick([",", ", "]))}}`;
    const got = peekMsgType(enc.encode(text));
    if (got === undefined) continue;
    answered++;
    assert.equal(got, parsed(text), text);
  }
  assert.ok(answered > 2000, `answered ${answered}`);
});
