import assert from "node:assert/strict";
import { MemoryDb } from "../../src/controller/db/memory.ts";
import { NoDb } from "../../src/controller/db/nodb.ts";
import { packBuffers, SqliteDb, unpackBuffers } from "../../src/controller/db/sqlite.ts";
import { DuplicateRecord, NoDataError, NoSuchRecord, RecordCulled } from "../../src/errors.ts";

const T = (s: number) => new Date(Date.UTC(2026, 10, 29, 12, 0, s));

Deno.test("MemoryDb defaults are DictDB's: 1024 records, 1 GiB, cull 10%", () => {
  const db = new MemoryDb();
  assert.equal(db.recordLimit, 1024);
  assert.equal(db.sizeLimit, 1024 ** 3);
  assert.equal(db.cullFraction, 0.1);
});

Deno.test("MemoryDb culls the oldest 10% past recordLimit and culled ids raise 'has been culled'", () => {
  const db = new MemoryDb({ recordLimit: 20 });
  for (let i = 0; i < 21; i++) db.add({ msg_id: `m${i}`, submitted: T(59 - i) });
  // m20 is the oldest by submitted, then m19: two (10% of 20) culled.
  assert.equal(db.size(), 19);
  assert.throws(
    () => db.get("m20"),
    (e) => e instanceof RecordCulled && /has been culled/.test(e.evalue),
  );
  assert.throws(() => db.update("m19", { stdout: "x" }), RecordCulled);
  assert.ok(db.has("m0"));
  assert.throws(
    () => db.get("never"),
    (e) => e instanceof NoSuchRecord && !(e instanceof RecordCulled),
  );
});

Deno.test("MemoryDb remembers the newest culledIdCache culled ids; older ones are just missing", () => {
  const db = new MemoryDb({ recordLimit: 10, culledIdCache: 3 });
  for (let i = 0; i < 15; i++) db.add({ msg_id: `m${i}`, submitted: T(i) });
  // m0…m4 were culled one by one (10 % of 10 is 1); only m2…m4 are remembered as culled.
  assert.equal(db.size(), 10);
  for (const id of ["m2", "m3", "m4"]) assert.throws(() => db.get(id), RecordCulled);
  for (const id of ["m0", "m1"]) {
    assert.throws(
      () => db.get(id),
      (e) => e instanceof NoSuchRecord && !(e instanceof RecordCulled),
    );
  }
});

Deno.test("MemoryDb culls by submitted date, not by insertion; ties go in insertion order", () => {
  // Output stored first makes an undated record; its request dates it later (Hub order).
  const db = new MemoryDb({ recordLimit: 10 });
  db.add({ msg_id: "output-first", stdout: "x" });
  for (let i = 0; i < 9; i++) db.add({ msg_id: `m${i}`, submitted: T(i) });
  db.update("output-first", { submitted: T(30) });
  db.add({ msg_id: "m9", submitted: T(9) });
  assert.equal(db.size(), 10);
  assert.throws(() => db.get("m0"), RecordCulled);
  assert.ok(db.has("output-first"));
  assert.deepEqual(db.history().slice(0, 2), ["m1", "m2"]);
  assert.equal(db.history().at(-1), "output-first");
  // Already in order (the usual case): the earliest of a tie is culled first.
  const tied = new MemoryDb({ recordLimit: 4 });
  for (const [id, s] of [["a", 1], ["b", 1], ["c", 2], ["d", 3], ["e", 4]] as const) {
    tied.add({ msg_id: id, submitted: T(s) });
  }
  assert.deepEqual(tied.history(), ["b", "c", "d", "e"]);
  assert.throws(() => tied.get("a"), RecordCulled);
  // An undated record is never culled, wherever it sits.
  const undated = new MemoryDb({ recordLimit: 2 });
  undated.add({ msg_id: "u", stdout: "x" });
  undated.add({ msg_id: "p", submitted: T(1) });
  undated.add({ msg_id: "q", submitted: T(2) });
  assert.ok(undated.has("u"));
  assert.throws(() => undated.get("p"), RecordCulled);
});

Deno.test("MemoryDb culls oldest records until buffers fit in (1 - cullFraction) * sizeLimit", () => {
  const db = new MemoryDb({ sizeLimit: 1000 });
  for (let i = 0; i < 5; i++) {
    db.add({ msg_id: `m${i}`, submitted: T(i), buffers: [new Uint8Array(300)] });
  }
  // after m3: 1200 > 1000 → cull until ≤ 900: drop m0 (900). after m4: 1200 → drop m1.
  assert.deepEqual(db.history(), ["m2", "m3", "m4"]);
  assert.equal(db.bufferBytes, 900);
  assert.throws(() => db.get("m0"), RecordCulled);
});

Deno.test("MemoryDb counts result buffers added by update towards sizeLimit", () => {
  const db = new MemoryDb({ sizeLimit: 100 });
  db.add({ msg_id: "a", submitted: T(0) });
  db.add({ msg_id: "b", submitted: T(1) });
  db.update("b", { result_buffers: [new Uint8Array(60)] });
  db.update("a", { result_buffers: [new Uint8Array(60)] });
  assert.throws(() => db.get("a"), RecordCulled);
  assert.equal(db.bufferBytes, 60);
});

Deno.test("NoDb stores nothing and data queries throw NoData (a KeyError)", () => {
  const db = new NoDb();
  db.add({ msg_id: "a" });
  db.update("a", { stdout: "x" });
  db.drop("a");
  assert.equal(db.dropMatching({}), 0);
  assert.equal(db.size(), 0);
  assert.equal(db.has("a"), false);
  assert.throws(() => db.get("a"), (e) => e instanceof NoDataError && e.ename === "NoData");
  assert.throws(() => db.find({}), NoDataError);
  assert.throws(() => db.history(), NoDataError);
});

Deno.test("packBuffers/unpackBuffers round-trip, including empty lists and empty buffers", () => {
  for (
    const bufs of [[], [new Uint8Array()], [
      new Uint8Array([1, 2, 3]),
      new Uint8Array(),
      new Uint8Array([4]),
    ]]
  ) {
    assert.deepEqual(unpackBuffers(packBuffers(bufs)).map((b) => [...b]), bufs.map((b) => [...b]));
  }
});

Deno.test("SqliteDb rejects an unsafe table name", () => {
  assert.throws(() => new SqliteDb({ path: ":memory:", table: "x; drop" }), TypeError);
});

Deno.test("SqliteDb batches writes and point reads see pending writes", () => {
  const db = new SqliteDb({ path: ":memory:", batchSize: 1000, flushIntervalMs: 60_000 });
  try {
    db.add({ msg_id: "a", submitted: T(1) });
    db.update("a", { stdout: "x" });
    assert.equal(db.pendingWrites, 1);
    assert.equal(db.get("a").stdout, "x");
    assert.ok(db.has("a"));
    db.flush();
    assert.equal(db.pendingWrites, 0);
    db.update("a", { stderr: "e" });
    db.update("a", { stdout: "y" });
    assert.equal(db.pendingWrites, 1);
    const rec = db.get("a");
    assert.equal(rec.stdout, "y");
    assert.equal(rec.stderr, "e");
    assert.equal(db.size(), 1); // scanning read flushes
    assert.equal(db.pendingWrites, 0);
  } finally {
    db.close();
  }
});

Deno.test("SqliteDb commits a full batch immediately", () => {
  const db = new SqliteDb({ path: ":memory:", batchSize: 3, flushIntervalMs: 60_000 });
  try {
    for (const id of ["a", "b", "c"]) db.add({ msg_id: id });
    assert.equal(db.pendingWrites, 0);
  } finally {
    db.close();
  }
});

Deno.test("SqliteDb flushes on its own after flushIntervalMs", async () => {
  const db = new SqliteDb({ path: ":memory:", flushIntervalMs: 1 });
  try {
    db.add({ msg_id: "a" });
    assert.equal(db.pendingWrites, 1);
    // Waiting on the database's own timer: this is the behaviour under test, not a sleep-and-hope.
    for (let i = 0; i < 100 && db.pendingWrites; i++) await new Promise((r) => setTimeout(r, 5));
    assert.equal(db.pendingWrites, 0);
  } finally {
    db.close();
  }
});

Deno.test("SqliteDb reopened on the same file answers queries for finished tasks", () => {
  const dir = Deno.makeTempDirSync();
  const path = `${dir}/tasks.db`;
  try {
    const db1 = new SqliteDb({ path });
    try {
      db1.add({
        msg_id: "done",
        submitted: T(1),
        completed: T(2),
        engine_uuid: "e0",
        result_content: { status: "ok" },
        result_buffers: [new Uint8Array([7, 8])],
      });
      db1.add({ msg_id: "pending", submitted: T(3) });
    } finally {
      db1.close(); // commits the pending batch
    }
    const db2 = new SqliteDb({ path });
    try {
      assert.deepEqual(db2.history(), ["done", "pending"]);
      const [rec] = db2.find({ completed: { $ne: null } });
      assert.equal(rec.msg_id, "done");
      assert.deepEqual(rec.result_content, { status: "ok" });
      assert.deepEqual([...rec.result_buffers![0]], [7, 8]);
      assert.equal(db2.get("done").completed, "2026-11-29T12:00:02.000000Z");
    } finally {
      db2.close();
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("SqliteDb.close is idempotent", () => {
  const db = new SqliteDb({ path: ":memory:" });
  db.close();
  db.close();
});

Deno.test("SqliteDb: has() then add() of a fresh id, and duplicates are still refused", () => {
  const db = new SqliteDb({ path: ":memory:", batchSize: 2, flushIntervalMs: 60_000 });
  try {
    assert.equal(db.has("a"), false);
    db.add({ msg_id: "a" });
    db.add({ msg_id: "b" }); // batch of 2: committed
    assert.equal(db.pendingWrites, 0);
    assert.throws(() => db.add({ msg_id: "a" }), DuplicateRecord);
    assert.equal(db.has("a"), true);
    assert.throws(() => db.add({ msg_id: "b" }), DuplicateRecord);
  } finally {
    db.close();
  }
});

Deno.test("SqliteDb: a dropped record can be added again and no longer updated", () => {
  const db = new SqliteDb({ path: ":memory:", knownIdCache: 1 });
  try {
    db.add({ msg_id: "a", submitted: T(1) });
    db.add({ msg_id: "b", submitted: T(2) });
    db.flush();
    db.update("a", { stdout: "x" }); // "a" evicted from the cache of size 1: looked up
    db.drop("a");
    assert.throws(() => db.update("a", { stdout: "y" }), NoSuchRecord);
    db.add({ msg_id: "a", submitted: T(3) });
    assert.equal(db.get("a").stdout, "");
    assert.equal(db.dropMatching({ submitted: { $lt: T(9) } }), 2);
    assert.throws(() => db.update("b", { stdout: "y" }), NoSuchRecord);
  } finally {
    db.close();
  }
});
