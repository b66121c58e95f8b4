import assert from "node:assert/strict";
import { ManualClock } from "../../src/controller/clock.ts";
import { HeartMonitor } from "../../src/controller/heart_monitor.ts";

const text = (b: Uint8Array) => new TextDecoder().decode(b);

Deno.test("HeartMonitor defaults: period 3000 ms, 10 misses", () => {
  const hm = new HeartMonitor();
  assert.equal(hm.periodMs, 3000);
  assert.equal(hm.maxMisses, 10);
});

Deno.test("HeartMonitor rejects a non-positive period and a negative miss limit", () => {
  assert.throws(() => new HeartMonitor({ periodMs: 0 }), RangeError);
  assert.throws(() => new HeartMonitor({ maxMisses: -1 }), RangeError);
});

Deno.test("the ping is the monitor's lifetime in seconds, as Python's str(float)", () => {
  const clock = new ManualClock(1000);
  const hm = new HeartMonitor({ clock, periodMs: 3000 });
  clock.advance(3000);
  assert.equal(text(hm.beat().ping), "3.0");
  clock.advance(1500);
  assert.equal(text(hm.beat().ping), "4.5");
});

Deno.test("consecutive pings differ even when the clock has not moved", () => {
  const hm = new HeartMonitor({ clock: new ManualClock() });
  const a = text(hm.beat().ping);
  const b = text(hm.beat().ping);
  assert.notEqual(a, b);
});

Deno.test("a heart answering the current ping is reported new at the next beat", () => {
  const clock = new ManualClock();
  const hm = new HeartMonitor({ clock });
  clock.advance(3000);
  const { ping } = hm.beat();
  assert.equal(hm.pong("b", ping), true);
  assert.equal(hm.pong("a", ping), true);
  clock.advance(3000);
  const r = hm.beat();
  assert.deepEqual(r.newHearts, ["a", "b"]);
  assert.deepEqual(r.stoppedHearts, []);
  assert.deepEqual([...hm.hearts].sort(), ["a", "b"]);
});

Deno.test("a pong of the previous ping still counts; older or foreign payloads do not", () => {
  const clock = new ManualClock();
  const hm = new HeartMonitor({ clock });
  clock.advance(1000);
  const p1 = hm.beat().ping;
  clock.advance(1000);
  const p2 = hm.beat().ping;
  assert.equal(hm.pong("late", p1), true);
  assert.equal(hm.pong("now", text(p2)), true);
  clock.advance(1000);
  hm.beat(); // p3 current, p2 previous
  assert.equal(hm.pong("stale", p1), false);
  assert.equal(hm.pong("junk", "hello"), false);
});

Deno.test("a known heart that misses more than maxMisses beats is reported stopped once", () => {
  const clock = new ManualClock();
  const hm = new HeartMonitor({ clock, maxMisses: 3 });
  hm.pong("e", hm.beat().ping);
  assert.deepEqual(hm.beat().newHearts, ["e"]);
  for (let i = 1; i <= 3; i++) {
    assert.deepEqual(hm.beat().stoppedHearts, [], `miss ${i}`);
    assert.equal(hm.misses("e"), i);
  }
  assert.deepEqual(hm.beat().stoppedHearts, ["e"]); // 4th miss > 3
  assert.equal(hm.hearts.has("e"), false);
  assert.deepEqual(hm.beat().stoppedHearts, []);
});

Deno.test("an answer resets the miss count", () => {
  const hm = new HeartMonitor({ clock: new ManualClock(), maxMisses: 2 });
  hm.pong("e", hm.beat().ping);
  hm.beat();
  hm.beat(); // miss 1
  const { ping } = hm.beat(); // miss 2
  assert.equal(hm.misses("e"), 2);
  hm.pong("e", ping);
  const r = hm.beat();
  assert.deepEqual(r.stoppedHearts, []);
  assert.equal(hm.misses("e"), 0);
});

Deno.test("a forgotten heart is never reported stopped", () => {
  const hm = new HeartMonitor({ clock: new ManualClock(), maxMisses: 0 });
  hm.pong("e", hm.beat().ping);
  hm.beat();
  hm.forget("e");
  assert.deepEqual(hm.beat().stoppedHearts, []);
});

Deno.test("adopt takes in a heart that answered this period; the next beat does not report it", () => {
  const hm = new HeartMonitor({ clock: new ManualClock(), maxMisses: 1 });
  const { ping } = hm.beat();
  assert.deepEqual(hm.ping, ping, "ping is the latest beat's payload");
  assert.equal(hm.adopt("e"), false, "not before it answered");
  hm.pong("e", hm.ping);
  assert.equal(hm.adopt("e"), true);
  assert.equal(hm.adopt("e"), false, "only once");
  assert.ok(hm.hearts.has("e"));
  const next = hm.beat();
  assert.deepEqual(next.newHearts, []);
  assert.equal(hm.misses("e"), 0);
  assert.deepEqual(hm.ping, next.ping);
  // From here it is judged like any heart: silent for 2 beats (> 1 miss) → stopped.
  hm.beat();
  assert.deepEqual(hm.beat().stoppedHearts, ["e"]);
});
