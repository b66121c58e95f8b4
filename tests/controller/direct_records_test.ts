/**
 * The direct path's records on their way to the Hub: the batch layout
 * (`protocol/messages/direct_records.ts`), the engine's shared-memory block that holds them
 * (`engine/kernel/record_block.ts`), and the Hub's side (`controller/direct_hub.ts`): a batch
 * goes into the Hub's tables, a bad one is refused whole, a reply that overtakes its request
 * is kept for it, and a query waiting for an engine's records asks that engine for them.
 */

import assert from "node:assert/strict";
import { MessageFormatError } from "../../src/errors.ts";
import {
  type DirectRecord,
  encodeRecords,
  EXTERNAL_MIN,
  readRecords,
  recordSize,
} from "../../src/protocol/messages/direct_records.ts";
import { DIRECT_SYNC } from "../../src/protocol/messages/direct.ts";
import {
  createRecordBlock,
  RECORD_BLOCK_BYTES,
  RecordBlock,
} from "../../src/engine/kernel/record_block.ts";
import { DirectHub } from "../../src/controller/direct_hub.ts";
import { makeHub, withEngines } from "./hub_fixtures.ts";

const enc = new TextEncoder();
/** A batch of records that have no part large enough to travel on its own. */
const encode = (records: DirectRecord[]) => {
  const external: Uint8Array[] = [];
  const batch = encodeRecords(records, external);
  assert.equal(external.length, 0);
  return batch;
};
const json = (o: unknown) => enc.encode(JSON.stringify(o));

/** A request or reply record of task `msgId`, with `buffers` after its four JSON parts. */
function record(
  kind: "request" | "reply",
  msgId: string,
  buffers: Uint8Array[] = [],
): DirectRecord {
  const own = kind === "request" ? msgId : `${msgId}-reply`;
  return {
    kind,
    streamed: false,
    parts: [
      json({ msg_id: own, msg_type: `apply_${kind}`, session: "s", date: "2026-11-29T12:00:01Z" }),
      json(kind === "reply" ? { msg_id: msgId } : {}),
      json(kind === "reply" ? { status: "ok", started: "2026-11-29T12:00:01Z" } : {}),
      json(kind === "reply" ? { status: "ok" } : {}),
      ...buffers,
    ],
  };
}

Deno.test("direct records: a batch reads back as written, its parts views of the batch", () => {
  const records = [record("request", "t1", [new Uint8Array([1, 2, 3])]), record("reply", "t1")];
  records.push({ kind: "reply", streamed: true, parts: records[1].parts });
  const batch = encode(records);
  assert.equal(batch.byteLength, records.reduce((n, r) => n + recordSize(r.parts), 0));
  const back = readRecords(batch);
  assert.deepEqual(back.map((r) => [r.kind, r.streamed, r.parts.length]), [
    ["request", false, 5],
    ["reply", false, 4],
    ["reply", true, 4],
  ]);
  assert.deepEqual(
    back.map((r) => r.parts.map((p) => [...p])),
    records.map((r) => r.parts.map((p) => [...p])),
  );
  assert.ok(back.every((r) => r.parts.every((p) => p.buffer === batch.buffer)));
  assert.deepEqual(readRecords(new Uint8Array(0)), []);
});

Deno.test("direct records: a bad batch is refused whole, saying where", () => {
  const good = encode([record("request", "t1"), record("reply", "t1")]);
  const cases: [string, Uint8Array, RegExp][] = [
    ["unknown kind", Uint8Array.of(7, 0, 0, 0), /unknown record kind 7 at byte 0/],
    [
      "truncated head",
      good.subarray(0, good.length - recordSize(record("reply", "t1").parts) + 2),
      /truncated record head/,
    ],
    ["lengths past the end", Uint8Array.of(0, 0, 9, 0, 1, 0, 0, 0), /9 part lengths past the end/],
    [
      "a part past the end",
      good.subarray(0, good.length - 1),
      /past the end at byte \d+ of \d+ \(record 1\)/,
    ],
  ];
  for (const [what, bytes, message] of cases) {
    assert.throws(() => readRecords(bytes), (e: unknown) => {
      assert.ok(e instanceof MessageFormatError, what);
      assert.equal(e.reason, "bad-direct-records");
      assert.match(e.message, message, what);
      return true;
    });
  }
});

Deno.test("direct records: a large part travels beside the batch, not copied into it", () => {
  const big = new Uint8Array(EXTERNAL_MIN).fill(3);
  const small = Uint8Array.of(1);
  const records = [record("request", "t1", [small, big]), record("reply", "t1", [big])];
  const external: Uint8Array[] = [];
  const batch = encodeRecords(records, external);
  assert.deepEqual(external, [big, big]);
  assert.equal(external[0], big, "the part itself, not a copy");
  assert.ok(batch.byteLength < EXTERNAL_MIN);
  const back = readRecords(batch, external);
  assert.equal(back[0].parts[4].buffer, batch.buffer, "a small part is a view of the batch");
  assert.deepEqual([...back[0].parts[4]], [1]);
  assert.equal(back[0].parts[5], big);
  assert.equal(back[1].parts[4], big);
  assert.throws(() => readRecords(batch, [big]), /a part beyond the 1 buffers/);
  assert.throws(
    () => readRecords(batch, [big, big, big]),
    /1 buffers after the batch that no part names/,
  );
});

Deno.test("record block: records taken as one batch, in order; a full block refuses more", () => {
  const memory = createRecordBlock();
  const block = new RecordBlock(memory);
  // The engine's main thread's view of the same memory.
  const other = new RecordBlock(memory);
  assert.equal(other.take(false), undefined);
  assert.equal(block.take(true), undefined);
  const first = record("request", "t1", [new Uint8Array(100).fill(9)]);
  const second = record("reply", "t1");
  assert.ok(block.append(first));
  assert.ok(block.append(second));
  assert.equal(block.count, 2);
  const batch = block.take(true)!;
  assert.equal(batch.count, 2);
  assert.deepEqual(batch.bytes, encode([first, second]));
  assert.equal(block.count, 0);
  assert.equal(block.take(true), undefined);

  const big = record("request", "big", [new Uint8Array(RECORD_BLOCK_BYTES / 3)]);
  assert.ok(block.append(big));
  assert.ok(block.append(big));
  assert.equal(block.append(big), false, "a record past the room left");
  assert.equal(other.count, 2);
  assert.equal(readRecords(other.take(false)!.bytes).length, 2);
  assert.equal(block.count, 0);
  assert.equal(
    block.append(record("request", "huge", [new Uint8Array(RECORD_BLOCK_BYTES)])),
    false,
  );
});

Deno.test("direct hub: a batch goes into the Hub's tables; a bad one is refused and records nothing", () => {
  const { hub } = makeHub();
  const [uuid] = withEngines(hub, 1);
  const direct = new DirectHub(hub, () => {});
  direct.records({ uuid, records: 2 }, [
    encode([record("request", "t1"), record("request", "t2")]),
  ]);
  assert.deepEqual([...hub.pending], ["t1", "t2"]);
  assert.throws(
    () => direct.records({ uuid, records: 1 }, [Uint8Array.of(0, 0, 1, 0)]),
    MessageFormatError,
  );
  assert.throws(() => direct.records({ uuid, records: 0 }, []), /the records in a buffer/);
  assert.deepEqual([...hub.pending], ["t1", "t2"]);
  direct.records({ uuid, records: 1 }, [
    encode([record("reply", "t1", [Uint8Array.of(5)])]),
  ]);
  assert.deepEqual([...hub.pending], ["t2"]);
  assert.ok(hub.allCompleted.has("t1"));
  const rec = hub.db.get("t1");
  assert.equal(rec.engine_uuid, uuid);
  assert.deepEqual(rec.result_content, { status: "ok" });
  assert.deepEqual(rec.result_buffers?.map((b) => [...b]), [[5]]);

  // A reply with a buffer carried beside the batch keeps that very buffer.
  const big = new Uint8Array(EXTERNAL_MIN);
  const external: Uint8Array[] = [];
  const batch = encodeRecords([record("reply", "t2", [big])], external);
  direct.records({ uuid, records: 1 }, [batch, ...external]);
  assert.equal(hub.db.get("t2").result_buffers?.[0], big);
});

Deno.test("direct hub: a query waiting for an engine's records asks that engine for them, once", () => {
  const { hub } = makeHub();
  const [e0, e1] = withEngines(hub, 2);
  const asked: string[] = [];
  const direct = new DirectHub(hub, (socket) => asked.push(new TextDecoder().decode(socket)));
  direct.address({ uuid: e0, url: "tcp://127.0.0.1:1", host: "h" }, enc.encode("records-of-e0"));
  direct.address({ uuid: e1, url: "tcp://127.0.0.1:2", host: "h" }, enc.encode("records-of-e1"));
  const answered: string[] = [];
  try {
    // Nothing to wait for: answered at once, nobody asked.
    direct.query("client-a", { [DIRECT_SYNC]: { [e0]: ["", ""] } }, () => answered.push("q0"));
    assert.deepEqual([answered, asked], [["q0"], []]);
    // Waits for e1's record of t1 only: e1 is asked, e0 is not.
    const content = { [DIRECT_SYNC]: { [e0]: ["", ""], [e1]: ["t1", ""] } };
    direct.query("client-a", content, () => answered.push("q1"));
    assert.equal(DIRECT_SYNC in content, false, "the sync key is taken out of the query");
    assert.deepEqual([answered, asked], [["q0"], ["records-of-e1"]]);
    direct.records({ uuid: e1, records: 1 }, [encode([record("request", "t1")])]);
    assert.deepEqual([answered, asked], [["q0", "q1"], ["records-of-e1"]]);
    // An engine that left is not asked (nor offered to clients) any more.
    direct.forget(e0);
    assert.equal(direct.addressOf(e0), undefined);
    direct.query("client-b", { [DIRECT_SYNC]: { [e0]: ["t9", ""] } }, () => answered.push("q2"));
    assert.deepEqual(asked, ["records-of-e1"]);
  } finally {
    direct.close();
  }
});

Deno.test("direct hub: a reply recorded before its request is kept until the request comes", () => {
  const { hub } = makeHub();
  const [e0, e1] = withEngines(hub, 2);
  const direct = new DirectHub(hub, () => {});
  const answered: string[] = [];
  try {
    // The main thread's batch (the request) overtaken by the worker's (its reply).
    direct.records({ uuid: e0, records: 1 }, [encode([record("reply", "t1")])]);
    assert.equal(hub.allCompleted.has("t1"), false);
    direct.query("client-a", { [DIRECT_SYNC]: { [e0]: ["t1", "t1"] } }, () => answered.push("q"));
    assert.deepEqual(answered, [], "waits for the request");
    direct.records({ uuid: e0, records: 1 }, [encode([record("request", "t1")])]);
    assert.deepEqual(answered, ["q"]);
    assert.ok(hub.allCompleted.has("t1"));
    assert.deepEqual(hub.db.get("t1").result_content, { status: "ok" });
    // Kept replies of an engine that left are dropped with it.
    direct.records({ uuid: e1, records: 1 }, [encode([record("reply", "t2")])]);
    direct.forget(e1);
    direct.records({ uuid: e1, records: 1 }, [encode([record("request", "t2")])]);
    assert.equal(hub.allCompleted.has("t2"), false);
  } finally {
    direct.close();
  }
});
