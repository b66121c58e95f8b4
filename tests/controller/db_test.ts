import assert from "node:assert/strict";
import { MemoryDb } from "../../src/controller/db/memory.ts";
import { SqliteDb } from "../../src/controller/db/sqlite.ts";
import type { TaskDb } from "../../src/controller/db/types.ts";
import { DuplicateRecord, NoSuchRecord, QueryError } from "../../src/errors.ts";

/** One suite, run against every backend that stores data (as hono runs one suite per router). */
const backends: [string, () => TaskDb][] = [
  ["MemoryDb", () => new MemoryDb()],
  ["SqliteDb", () => new SqliteDb({ path: ":memory:" })],
];

const T = (s: number) => `2026-11-29T12:00:${String(s).padStart(2, "0")}.000001Z`;

function seed(db: TaskDb): void {
  db.add({
    msg_id: "m1",
    submitted: T(1),
    completed: T(5),
    engine_uuid: "e0",
    queue: "task",
    header: { msg_type: "apply_request", n: 1 },
    buffers: [new Uint8Array([1, 2]), new Uint8Array([3])],
    result_buffers: [new Uint8Array([9])],
    result_content: { status: "ok" },
  });
  db.add({ msg_id: "m2", submitted: T(2), engine_uuid: "e1", queue: "mux" });
  db.add({ msg_id: "m3", submitted: T(3), completed: T(7), engine_uuid: "e0", queue: "task" });
}

function ids(recs: { msg_id?: string }[]): string[] {
  return recs.map((r) => r.msg_id!);
}

for (const [name, make] of backends) {
  const test = (what: string, fn: (db: TaskDb) => void) =>
    Deno.test(`${name}: ${what}`, () => {
      const db = make();
      try {
        fn(db);
      } finally {
        db.close();
      }
    });

  test("add fills defaults and get returns every field", (db) => {
    db.add({ msg_id: "a" });
    const rec = db.get("a");
    assert.equal(rec.msg_id, "a");
    assert.equal(rec.stdout, "");
    assert.equal(rec.stderr, "");
    assert.equal(rec.completed, null);
    assert.equal(rec.buffers, null);
    assert.equal(Object.keys(rec).length, 23);
  });

  test("add of an existing msg_id throws DuplicateRecord", (db) => {
    db.add({ msg_id: "a" });
    assert.throws(() => db.add({ msg_id: "a" }), DuplicateRecord);
  });

  test("get and update of a missing msg_id throw NoSuchRecord (a KeyError)", (db) => {
    assert.throws(() => db.get("nope"), (e) => e instanceof NoSuchRecord && e.ename === "KeyError");
    assert.throws(() => db.update("nope", { stdout: "x" }), NoSuchRecord);
    assert.equal(db.has("nope"), false);
  });

  test("dates are stored as normalized ISO strings with microseconds", (db) => {
    db.add({ msg_id: "a", submitted: "2026-11-29T13:06:23.5+01:00" });
    db.update("a", { completed: new Date(Date.UTC(2026, 10, 29, 12, 0, 0, 7)) });
    const rec = db.get("a");
    assert.equal(rec.submitted, "2026-11-29T12:06:23.500000Z");
    assert.equal(rec.completed, "2026-11-29T12:00:00.007000Z");
  });

  test("buffers and JSON fields round-trip", (db) => {
    seed(db);
    const rec = db.get("m1");
    assert.deepEqual(rec.buffers!.map((b) => [...b]), [[1, 2], [3]]);
    assert.deepEqual(rec.result_buffers!.map((b) => [...b]), [[9]]);
    assert.deepEqual(rec.header, { msg_type: "apply_request", n: 1 });
  });

  test("update merges fields and get returns a copy", (db) => {
    seed(db);
    db.update("m2", { stdout: "hi\n", result_content: { status: "error" } });
    const rec = db.get("m2");
    assert.equal(rec.stdout, "hi\n");
    assert.equal(rec.engine_uuid, "e1");
    rec.result_content!.status = "mutated";
    assert.deepEqual(db.get("m2").result_content, { status: "error" });
  });

  test("find with plain values is equality, null matches missing", (db) => {
    seed(db);
    assert.deepEqual(ids(db.find({ engine_uuid: "e0" })), ["m1", "m3"]);
    assert.deepEqual(ids(db.find({ completed: null })), ["m2"]);
    assert.deepEqual(ids(db.find({ header: { $eq: { msg_type: "apply_request", n: 1 } } })), [
      "m1",
    ]);
  });

  test("find supports $eq $ne $lt $lte $gte $in $nin $exists", (db) => {
    seed(db);
    assert.deepEqual(ids(db.find({ queue: { $eq: "mux" } })), ["m2"]);
    assert.deepEqual(ids(db.find({ completed: { $ne: null } })), ["m1", "m3"]);
    assert.deepEqual(ids(db.find({ engine_uuid: { $ne: "e0" } })), ["m2"]);
    assert.deepEqual(ids(db.find({ submitted: { $lt: T(2) } })), ["m1"]);
    assert.deepEqual(ids(db.find({ submitted: { $lte: T(2) } })), ["m1", "m2"]);
    assert.deepEqual(ids(db.find({ submitted: { $gte: T(2) } })), ["m2", "m3"]);
    assert.deepEqual(ids(db.find({ msg_id: { $in: ["m3", "m1", "zz"] } })), ["m1", "m3"]);
    assert.deepEqual(ids(db.find({ msg_id: { $nin: ["m3", "m1"] } })), ["m2"]);
    assert.deepEqual(ids(db.find({ completed: { $exists: true } })), ["m1", "m3"]);
    assert.deepEqual(ids(db.find({ completed: { $exists: false } })), ["m2"]);
    assert.deepEqual(ids(db.find({ completed: { $in: [null] } })), ["m2"]);
    assert.deepEqual(ids(db.find({ completed: { $nin: [T(5)] } })), ["m2", "m3"]);
  });

  test("$gt means greater-than (Python DictDB's inverted $gt, quirk #11, is fixed)", (db) => {
    seed(db);
    assert.deepEqual(ids(db.find({ submitted: { $gt: T(2) } })), ["m3"]);
  });

  test("ordering operators never match null fields", (db) => {
    seed(db);
    assert.deepEqual(ids(db.find({ completed: { $lt: T(59) } })), ["m1", "m3"]);
  });

  test("$mod and $all are evaluated", (db) => {
    db.add({ msg_id: "a", metadata: { n: 7 } });
    db.add({ msg_id: "b", content: { n: 8 } });
    assert.deepEqual(ids(db.find({ msg_id: { $all: [["a", "b"], ["a"]] } })), ["a"]);
    assert.deepEqual(ids(db.find({ msg_id: { $mod: [2, 0] } })), []);
  });

  test("operators on one field combine with AND", (db) => {
    seed(db);
    assert.deepEqual(ids(db.find({ submitted: { $gte: T(1), $lt: T(3) }, queue: "task" })), ["m1"]);
  });

  test("date strings in queries are compared as dates, whatever their ISO form", (db) => {
    seed(db);
    assert.deepEqual(ids(db.find({ submitted: "2026-11-29T13:00:02.000001+01:00" })), ["m2"]);
    assert.deepEqual(ids(db.find({ submitted: { $gte: "2026-11-29T12:00:02Z" } })), ["m2", "m3"]);
  });

  test("Date objects in queries are compared as dates", (db) => {
    seed(db);
    const cut = new Date("2026-11-29T12:00:02.5Z");
    assert.deepEqual(ids(db.find({ submitted: { $gt: cut } })), ["m3"]);
  });

  test("an unknown operator throws QueryError naming it", (db) => {
    seed(db);
    assert.throws(
      () => db.find({ submitted: { $regex: "x" } }),
      (e) => e instanceof QueryError && e.ename === "KeyError" && e.evalue === "'$regex'",
    );
  });

  test("key projection returns msg_id plus the requested keys", (db) => {
    seed(db);
    const recs = db.find({ msg_id: "m1" }, ["engine_uuid", "buffers"]);
    assert.equal(recs.length, 1);
    assert.deepEqual(Object.keys(recs[0]).sort(), ["buffers", "engine_uuid", "msg_id"]);
    assert.equal(recs[0].buffers!.length, 2);
  });

  test("projection with residual conditions still filters correctly", (db) => {
    seed(db);
    const recs = db.find({ header: { $ne: null }, msg_id: { $mod: [1, 0] } }, ["queue"]);
    assert.deepEqual(recs, []);
    assert.deepEqual(db.find({ header: { $ne: null } }, ["queue"]), [{
      msg_id: "m1",
      queue: "task",
    }]);
  });

  test("an unknown projection key throws QueryError", (db) => {
    assert.throws(() => db.find({}, ["nope"]), QueryError);
  });

  test("drop and dropMatching remove records", (db) => {
    seed(db);
    db.drop("m2");
    db.drop("not-there");
    assert.equal(db.size(), 2);
    assert.equal(db.dropMatching({ completed: { $ne: null } }), 2);
    assert.equal(db.size(), 0);
  });

  test("dropMatching with a condition SQL cannot express", (db) => {
    seed(db);
    assert.equal(db.dropMatching({ result_content: { $eq: { status: "ok" } } }), 1);
    assert.deepEqual(ids(db.find({})), ["m2", "m3"]);
  });

  test("history lists dated records oldest first and leaves out undated ones", (db) => {
    db.add({ msg_id: "late", submitted: T(9) });
    db.add({ msg_id: "undated" });
    db.add({ msg_id: "early", submitted: T(1) });
    db.add({ msg_id: "early2", submitted: T(1) });
    assert.deepEqual(db.history(), ["early", "early2", "late"]);
  });
}

// Cross-check: the SQL translation must agree with the in-memory evaluator on random data.
Deno.test("SqliteDb and MemoryDb agree on random queries", () => {
  let seedN = 42;
  const rnd = () => (seedN = (seedN * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)];
  const mem = new MemoryDb({ recordLimit: 10_000 });
  const sql = new SqliteDb({ path: ":memory:" });
  try {
    const engines = ["e0", "e1", "e2", null];
    for (let i = 0; i < 200; i++) {
      const rec = {
        msg_id: `m${i}`,
        submitted: rnd() < 0.9 ? T(Math.floor(rnd() * 60)) : null,
        completed: rnd() < 0.5 ? T(Math.floor(rnd() * 60)) : null,
        engine_uuid: pick(engines),
        queue: pick(["mux", "task", null]),
        result_content: rnd() < 0.5 ? { status: pick(["ok", "error"]) } : null,
      };
      mem.add(rec);
      sql.add(rec);
    }
    const fields = ["submitted", "completed", "engine_uuid", "queue", "result_content", "msg_id"];
    const operand = (f: string): unknown => {
      if (f === "result_content") return pick([null, { status: "ok" }]);
      if (f === "submitted" || f === "completed") return pick([null, T(Math.floor(rnd() * 60))]);
      if (f === "msg_id") return `m${Math.floor(rnd() * 250)}`;
      return pick([...engines, "mux", "task"]);
    };
    for (let q = 0; q < 400; q++) {
      const query: Record<string, unknown> = {};
      for (let k = 0; k < 1 + Math.floor(rnd() * 2); k++) {
        const f = pick(fields);
        const op = pick([
          "plain",
          "$eq",
          "$ne",
          "$lt",
          "$lte",
          "$gt",
          "$gte",
          "$in",
          "$nin",
          "$exists",
        ]);
        if (op === "plain") {
          const v = operand(f); // a plain object would be read as operators, as in Python
          query[f] = v !== null && typeof v === "object" ? { $eq: v } : v;
        } else if (op === "$in" || op === "$nin") query[f] = { [op]: [operand(f), operand(f)] };
        else if (op === "$exists") query[f] = { $exists: rnd() < 0.5 };
        else query[f] = { [op]: operand(f) };
      }
      assert.deepEqual(ids(sql.find(query)), ids(mem.find(query)), JSON.stringify(query));
    }
  } finally {
    sql.close();
    mem.close();
  }
});
