/**
 * IOPub `status` through the client's socket reader, which reads it without a full decode:
 * signatures and replays are still refused, Python's spaced JSON is read, and anything the
 * fast path is unsure of (escapes, malformed JSON) takes the full path with its usual outcome.
 */

import assert from "node:assert/strict";
import { Client, Reference } from "../../src/client/client.ts";
import type { ClientParts } from "../../src/client/client_core.ts";
import { Session } from "../../src/protocol/session.ts";
import { FakeController } from "./fake_controller.ts";
import { waitFor } from "./python_cluster.ts";

const enc = new TextEncoder();

/** Signed IOPub frames from JSON texts written by hand (any spacing). */
function signed(session: Session, parts: [string, string, string, string]): Uint8Array[] {
  const json = parts.map((p) => enc.encode(p));
  return [enc.encode("engine.0.status"), enc.encode("<IDS|MSG>"), enc.encode(session.sign(json))]
    .concat(json);
}

function statusParts(parent: string, state: string, engine = "engine-0-uuid") {
  return [
    `{"msg_id": "st-${crypto.randomUUID()}", "msg_type": "status", "session": "${engine}"}`,
    parent,
    `{"engine": "${engine}"}`,
    `{"execution_state": "${state}"}`,
  ] as [string, string, string, string];
}

Deno.test("IOPub status: verified, replay-guarded, read in Python's spacing, full path when unsure", async () => {
  await using fake = await FakeController.start();
  const lines: string[] = [];
  await using client = await Client.connect({
    urlFile: fake.file,
    log: (_level, message) => void lines.push(message),
    timeout: 5000,
  });
  // The protected core, to watch the engine's and the task's state.
  const { engines, tasks } = (client as unknown as { parts: ClientParts }).parts;
  const ar = client.engine(0).apply(new Reference("len"), [1]);
  await fake.waitFor("mux", 1);
  const [muxClient, engine] = fake.received.get("mux")![0];
  const request = fake.session.unpack(fake.received.get("mux")![0].slice(1));
  const h = request.header;
  const parent =
    `{"msg_id": "${h.msg_id}", "msg_type": "apply_request", "session": "${h.session}", ` +
    `"username": "${h.username}", "date": "${h.date}", "version": "5.3"}`;

  // A forged busy: dropped, the task stays pending and the engine idle.
  const forger = new Session({ key: "not-the-key" });
  await fake.iopub.send(signed(forger, statusParts(parent, "busy")));
  await waitFor(() => lines.length >= 1, 5000, "a log line");
  assert.match(lines[0], /Dropped a message on iopub: .*signature/i);
  assert.equal(engines.stateOf(0), "idle");
  assert.equal(tasks.stateOf(h.msg_id), "pending");

  // A genuine busy, then the same frames replayed: the replay is dropped.
  const busy = signed(fake.session, statusParts(parent, "busy"));
  await fake.iopub.send(busy);
  await waitFor(() => engines.stateOf(0) === "busy", 5000, "engine busy");
  assert.equal(tasks.stateOf(h.msg_id), "running");
  await fake.iopub.send(busy);
  await waitFor(() => lines.length >= 2, 5000, "a second log line");
  assert.match(lines[1], /Dropped a message on iopub: .*Duplicate/i);

  // A signed status whose header is not JSON: dropped by the full parse, as before.
  await fake.iopub.send(signed(fake.session, ["{not json", parent, "{}", "{}"]));
  await waitFor(() => lines.length >= 3, 5000, "a third log line");
  assert.match(lines[2], /Dropped a message on iopub/);

  // The reply, then an idle whose header the fast path is unsure of (an escape): full path.
  const reply = fake.session.reply<string>(request, {
    content: { status: "ok" },
    metadata: { status: "ok", engine: "engine-0-uuid" },
    buffers: [new Uint8Array([0x80, 4, 0x4b, 7, 0x2e])], // pickle of 7
  });
  await fake.send("mux", [muxClient, ...fake.session.pack({ ...reply, identities: [engine] })]);
  const idle = statusParts(parent, "idle");
  idle[0] = idle[0].replace('"status"', '"st\\u0061tus"');
  await fake.iopub.send(signed(fake.session, idle));
  assert.equal(await ar.get(5000), 7);
  await waitFor(() => engines.stateOf(0) === "idle", 5000, "engine idle");
  assert.equal(lines.length, 3);
});
