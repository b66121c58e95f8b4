// FastPacker (the engine's hot-path packer) builds the same messages as Session.pack.
import assert from "node:assert/strict";
import { FastPacker } from "../../src/engine/replies.ts";
import { Session } from "../../src/protocol/session.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

Deno.test("FastPacker: frames a peer Session verifies, with a header in Session's key order", () => {
  for (const username of ["username", "jörg ✓"]) {
    const session = new Session({ key: "k3y", username });
    const peer = new Session({ key: "k3y" });
    const packer = new FastPacker(session);
    const request = peer.msg("apply_request", { content: {} });
    const parent = enc.encode(JSON.stringify(request.header));
    const frames = packer.pack(
      [enc.encode("engine.3.status")],
      "status",
      parent,
      enc.encode(JSON.stringify({ engine: session.session })),
      { execution_state: "busy" },
    );
    const msg = peer.unpack(frames);
    assert.deepEqual(msg.identities.map((f) => dec.decode(f)), ["engine.3.status"]);
    assert.equal(msg.msgType, "status");
    assert.deepEqual(msg.parentHeader, request.header);
    assert.deepEqual(msg.content, { execution_state: "busy" });
    assert.deepEqual(msg.metadata, { engine: session.session });
    const h = msg.header;
    assert.deepEqual(Object.keys(h), [
      "msg_id",
      "msg_type",
      "username",
      "session",
      "date",
      "version",
    ]);
    assert.equal(h.username, username);
    assert.equal(h.session, session.session);
    assert.match(h.date, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    assert.match(h.msg_id, new RegExp(`^${session.session}_\\d+_\\d+$`));
    // Compact JSON, byte for byte what JSON.stringify gives.
    assert.equal(dec.decode(frames[3]), JSON.stringify(h));
  }
});

Deno.test("FastPacker: msg_ids continue the session's counter and earlier frames stay intact", () => {
  const session = new Session({ key: "k" });
  const peer = new Session({ key: "k" });
  const packer = new FastPacker(session);
  const parent = enc.encode("{}");
  const first = session.msg("x").header.msg_id;
  // Enough messages to fill several slabs: no frame may be overwritten by a later one.
  const all = Array.from(
    { length: 2000 },
    (_, i) => packer.pack([], "apply_reply", parent, { i }, enc.encode('{"status":"ok"}')),
  );
  const ids = all.map((frames, i) => {
    const m = peer.unpack(frames, { replayGuard: false });
    assert.deepEqual(m.metadata, { i });
    return m.header.msg_id;
  });
  assert.equal(new Set([first, ...ids]).size, ids.length + 1);
  const n = (id: string) => Number(id.slice(id.lastIndexOf("_") + 1));
  assert.equal(n(ids[0]), n(first) + 1);
  assert.equal(n(ids.at(-1)!), n(first) + ids.length);
});

Deno.test("FastPacker: without a key the signature frame is empty", () => {
  const session = new Session();
  const frames = new FastPacker(session).pack([], "status", enc.encode("{}"), {}, {});
  assert.equal(frames[1].length, 0);
  assert.equal(new Session().unpack(frames).msgType, "status");
});
