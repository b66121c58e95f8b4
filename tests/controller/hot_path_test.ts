import assert from "node:assert/strict";
import { formatDate } from "../../src/controller/dates.ts";
import { MemoryDb } from "../../src/controller/db/memory.ts";
import { afterSends, pump } from "../../src/controller/pump.ts";
import { RecordCulled } from "../../src/errors.ts";
import { createSocket, type Frames } from "../../src/zmtp/mod.ts";

const T = (s: number) => new Date(Date.UTC(2026, 10, 29, 12, 0, s));

Deno.test("MemoryDb.tryUpdate merges live records and returns false for culled or unknown ones", () => {
  const db = new MemoryDb({ recordLimit: 20 });
  for (let i = 0; i < 21; i++) db.add({ msg_id: `m${i}`, submitted: T(59 - i) });
  assert.equal(db.tryUpdate("m0", { stdout: "x", completed: T(1) }), true);
  assert.equal(db.get("m0").stdout, "x");
  assert.equal(db.get("m0").completed, "2026-11-29T12:00:01.000000Z");
  assert.equal(db.tryUpdate("m19", { stdout: "x" }), false); // culled
  assert.equal(db.tryUpdate("never", { stdout: "x" }), false);
  assert.equal(db.has("never"), false);
  assert.throws(() => db.get("m19"), RecordCulled); // queries still say "has been culled"
  assert.throws(() => db.update("m19", { stdout: "x" }), RecordCulled);
});

Deno.test("formatDate gives the same text for repeated and alternating dates", () => {
  assert.equal(formatDate(new Date(0)), "1970-01-01T00:00:00.000000Z");
  assert.equal(formatDate(new Date(0)), "1970-01-01T00:00:00.000000Z");
  assert.equal(formatDate(T(1)), "2026-11-29T12:00:01.000000Z");
  assert.equal(formatDate(new Date(0)), "1970-01-01T00:00:00.000000Z");
  assert.throws(() => formatDate(new Date(NaN)), RangeError);
});

Deno.test("pump handles a burst in order, survives a throwing handler and ends on close", async () => {
  const pull = createSocket("PULL");
  const push = createSocket("PUSH");
  try {
    const ep = await pull.bind("tcp://127.0.0.1:0");
    push.connect(ep);
    const seen: number[] = [];
    const errors: unknown[] = [];
    const n = 500;
    let done!: () => void;
    const all = new Promise<void>((r) => (done = r));
    const loop = pump(pull, (frames: Frames) => {
      const i = frames[0][0] | (frames[0][1] << 8);
      seen.push(i);
      if (seen.length === n) done();
      if (i % 100 === 7) throw new Error(`bad ${i}`);
    }, (e) => errors.push(e));
    for (let i = 0; i < n; i++) await push.send([new Uint8Array([i & 255, i >> 8])]);
    await all;
    assert.deepEqual(seen, Array.from({ length: n }, (_, i) => i));
    assert.equal(errors.length, 5);
    await pull.close();
    await loop;
  } finally {
    await push.close();
    await pull.close();
  }
});

Deno.test("afterSends runs work after the turn, in order, once, past a throwing item", async () => {
  const ran: string[] = [];
  const errors: string[] = [];
  const report = (e: unknown) => errors.push((e as Error).message);
  afterSends(() => ran.push("a"), report);
  afterSends(() => {
    ran.push("b");
    afterSends(() => ran.push("d"), report); // queued while running: same pass, at the end
    throw new Error("b failed");
  }, report);
  afterSends(() => ran.push("c"), report);
  assert.equal(ran.length, 0, "nothing runs in the caller's turn");
  await Promise.resolve();
  assert.deepEqual(ran, ["a", "b", "c", "d"]);
  assert.deepEqual(errors, ["b failed"]);
  afterSends(() => ran.push("e"), report);
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(ran, ["a", "b", "c", "d", "e"], "a later turn runs only its own work");
});
