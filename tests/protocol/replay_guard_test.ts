import assert from "node:assert/strict";
import { DigestHistory } from "../../src/protocol/replay_guard.ts";

function randomHex(bytes = 32): string {
  const b = crypto.getRandomValues(new Uint8Array(bytes));
  let s = "";
  for (const x of b) s += x.toString(16).padStart(2, "0");
  return s;
}

Deno.test("DigestHistory: at the default size, 200,000 fresh signatures pass and recent replays fail", () => {
  const h = new DigestHistory(65536);
  const seen: string[] = [];
  for (let i = 0; i < 200_000; i++) {
    const sig = randomHex();
    assert.equal(h.admit(sig), true, `fresh signature ${i}`);
    seen.push(sig);
    assert.ok(h.size <= 65536);
  }
  // The newest ⌈limit / 2⌉ are always remembered; a copy of the string is a replay too.
  for (let i = seen.length - 32768; i < seen.length; i++) {
    assert.equal(h.admit(seen[i].slice(0, 32) + seen[i].slice(32)), false, `replay of ${i}`);
  }
  // The oldest are forgotten.
  assert.equal(h.admit(seen[0]), true);
});

Deno.test("DigestHistory: signatures that are not hex are remembered by a hash of the whole string", () => {
  const h = new DigestHistory(100);
  for (
    const s of [
      "",
      "a",
      "garbage",
      "zzzzzzzzzzzzzzzzzzzz",
      "é-non-ascii-signature",
      "0123456789abcdeZ",
    ]
  ) {
    assert.equal(h.admit(s), true, JSON.stringify(s));
    assert.equal(h.admit(s), false, `${JSON.stringify(s)} again`);
  }
  // Same non-hex prefix, different tails: distinct.
  assert.equal(h.admit("xyz-1"), true);
  assert.equal(h.admit("xyz-2"), true);
  assert.equal(h.size, 8);
});

Deno.test("DigestHistory: clear() forgets everything; limit 0 remembers nothing", () => {
  const h = new DigestHistory(10);
  const sig = randomHex();
  assert.equal(h.admit(sig), true);
  h.clear();
  assert.equal(h.size, 0);
  assert.equal(h.admit(sig), true);
  assert.equal(h.admit(sig), false);
  const none = new DigestHistory(0);
  assert.equal(none.admit(sig), true);
  assert.equal(none.admit(sig), true);
  assert.equal(none.size, 0);
});
