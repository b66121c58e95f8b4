/**
 * The Client against a scripted controller: bad input (bad signatures, malformed frames,
 * replies for unknown msg_ids) gives log lines and never a crash; notifications drive the
 * engine table; `shutdown_notification` closes the client and fails what was outstanding.
 */

import assert from "node:assert/strict";
import { Client, Reference } from "../../src/client/client.ts";
import {
  ConnectionFileError,
  ControllerLostError,
  EngineError,
  InvalidOptionError,
} from "../../src/errors.ts";
import { Session } from "../../src/protocol/session.ts";
import { FakeController } from "./fake_controller.ts";
import { waitFor } from "./python_cluster.ts";

const enc = new TextEncoder();

function logSink() {
  const lines: string[] = [];
  return { lines, log: (_level: string, message: string) => void lines.push(message) };
}

Deno.test("Client logs and survives bad signatures, malformed frames and unknown replies", async () => {
  await using fake = await FakeController.start();
  const sink = logSink();
  await using client = await Client.connect({ urlFile: fake.file, log: sink.log, timeout: 5000 });
  assert.deepEqual(client.ids, [0]);
  const [hello] = fake.received.get("registration")!;
  const clientId = hello[0];

  // A reply with a forged signature on the query channel.
  const forger = new Session({ key: "not-the-key" });
  await fake.send("registration", [
    clientId,
    ...forger.pack(forger.msg<string>("queue_reply", { content: { status: "ok" } })),
  ]);
  // No delimiter at all.
  await fake.send("registration", [clientId, enc.encode("garbage")]);
  await waitFor(() => sink.lines.length >= 2, 5000, "two log lines");
  assert.match(sink.lines[0], /Dropped a message on registration: .*signature/i);
  assert.match(sink.lines[1], /Dropped a message on registration/);

  // A correctly signed reply for a msg_id nobody sent, on MUX.
  const ar = client.engine(0).apply(new Reference("len"), [1]);
  await fake.waitFor("mux", 1);
  const [muxClient, engine] = fake.received.get("mux")![0];
  const request = fake.session.unpack(fake.received.get("mux")![0].slice(1));
  const stray = fake.session.msg<string>("apply_reply", {
    parent: { ...request.header, msg_id: "nobody-sent-this" },
    content: { status: "ok" },
    metadata: { status: "ok", engine: "engine-0-uuid" },
  });
  await fake.send("mux", [muxClient, ...fake.session.pack({ ...stray, identities: [engine] })]);
  await waitFor(() => sink.lines.length >= 3, 5000, "a third log line");
  assert.match(sink.lines[2], /unknown or settled msg_id nobody-sent-this/);

  // The client still works: the real reply settles the task (no IOPub idle: error path).
  const reply = fake.session.reply<string>(request, {
    content: { status: "error", ename: "E", evalue: "v", traceback: [], engine_info: {} },
    metadata: { status: "error", engine: "engine-0-uuid" },
  });
  await fake.send("mux", [muxClient, ...fake.session.pack({ ...reply, identities: [engine] })]);
  await assert.rejects(ar.get(5000), /E: v/);
  assert.deepEqual(await client.hubHistory(), []);
});

Deno.test("Client follows registration notifications and fails direct tasks of a lost engine", async () => {
  await using fake = await FakeController.start();
  await using client = await Client.connect({ urlFile: fake.file, log: () => {}, timeout: 5000 });
  const s = fake.session;
  const notify = (type: string, content: Record<string, unknown>) =>
    fake.notification.send(s.pack(s.msg(type, { content })));
  // SUB subscriptions propagate asynchronously: repeat until seen.
  await waitFor(
    async () => {
      await notify("registration_notification", { id: 1, uuid: "engine-1-uuid" });
      return client.ids.length === 2;
    },
    5000,
    "engine 1",
  );
  const e1 = client.engine(1);
  const dv = client.directView();
  assert.deepEqual(dv.engineIds, [0, 1]);
  const ar = e1.apply(() => 1);
  await notify("unregistration_notification", { id: 1, uuid: "engine-1-uuid" });
  await assert.rejects(ar.get(5000), EngineError);
  assert.deepEqual(client.ids, [0]);
  assert.deepEqual(dv.engineIds, [0]);
});

Deno.test("shutdown_notification closes the client and fails outstanding tasks", async () => {
  await using fake = await FakeController.start();
  const client = await Client.connect({ urlFile: fake.file, log: () => {}, timeout: 5000 });
  const ar = client.loadBalancedView().apply((x: number) => x, 1);
  await fake.waitFor("task", 1);
  const s = fake.session;
  await waitFor(
    async () => {
      await fake.notification.send(
        s.pack(s.msg("shutdown_notification", { content: { status: "ok" } })),
      );
      return client.closed;
    },
    5000,
    "the client to close",
  );
  await assert.rejects(ar.get(5000), ControllerLostError);
  await assert.rejects(client.queueStatus(), ControllerLostError);
  assert.throws(() => client.loadBalancedView().apply(() => 1), ControllerLostError);
  await client.close();
});

Deno.test("Client.connect gives ControllerLostError when nothing answers connection_request", async () => {
  await using fake = await FakeController.start();
  // Nobody serves the registration socket: close it so the request goes unanswered.
  await fake.routers.get("registration")!.close();
  await assert.rejects(
    Client.connect({ urlFile: fake.file, log: () => {}, timeout: 300 }),
    (e: Error) =>
      e instanceof ControllerLostError &&
      /connection_reply .*nothing accepts connections there: is the controller running/.test(
        e.message,
      ),
  );
});

Deno.test("Client: direct apply with ipp-js encodes the call, the task scheduler gets metadata", async () => {
  await using fake = await FakeController.start();
  await using client = await Client.connect({ urlFile: fake.file, log: () => {}, timeout: 5000 });
  const lv = client.loadBalancedView();
  lv.setFlags({ retries: 2, timeout: 1500, targets: [0] });
  const first = lv.apply((a: number, b: number) => a + b, 1, 2);
  lv.applyWith((x: number) => x, [1], {
    after: first,
    follow: { dependencies: [first], all: false, success: true, failure: true },
  });
  await fake.waitFor("task", 2);
  const [a, b] = fake.received.get("task")!.map((f) => fake.session.unpack(f.slice(1)));
  assert.deepEqual(a.metadata, {
    after: [],
    follow: [],
    timeout: 1.5,
    targets: ["engine-0-uuid"],
    retries: 2,
    quiet_status: true, // our engines skip status for a request that publishes nothing else
  });
  assert.deepEqual((b.metadata as Record<string, unknown>).after, [first.msgIds[0]]);
  assert.deepEqual((b.metadata as Record<string, unknown>).follow, {
    dependencies: [first.msgIds[0]],
    all: false,
    success: true,
    failure: true,
  });
  assert.match(new TextDecoder().decode(a.buffers[0]), /^IPPJS1\n.*a \+ b/s);
  const bv = client.broadcastView();
  bv.apply(() => 1);
  await fake.waitFor("broadcast", 1);
  const bmsg = fake.session.unpack(fake.received.get("broadcast")![0].slice(1));
  assert.deepEqual(bmsg.metadata, {
    targets: [["engine-0-uuid", 0]],
    is_broadcast: true,
    is_coalescing: false,
    quiet_status: true,
  });
  assert.ok(client.outstanding.has(`${bmsg.msgId}_engine-0-uuid`));
});

Deno.test("Client.connect refuses empty SSH passwords and bad cache limits before connecting", async () => {
  // Checked before the connection file is read: no controller needed.
  const urlFile = "/nonexistent/ipcontroller-client.json";
  await assert.rejects(Client.connect({ urlFile, sshserver: "gw", password: "" }), (e: Error) => {
    assert.ok(e instanceof InvalidOptionError);
    assert.equal(e.option, "password");
    return true;
  });
  // A password is accepted (ssh_interop_test.ts uses it): the missing file is the error.
  await assert.rejects(
    Client.connect({ urlFile, sshserver: "gw", password: "x", timeout: 100 }),
    ConnectionFileError,
  );
  for (const bad of [{ maxHistory: -1 }, { maxHistory: 1.5 }, { maxCachedResults: NaN }]) {
    await assert.rejects(Client.connect({ urlFile, ...bad }), (e: Error) => {
      assert.ok(e instanceof InvalidOptionError);
      assert.match(e.message, /must be an integer >= 0 or Infinity/);
      return true;
    });
  }
});
