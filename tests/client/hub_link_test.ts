import assert from "node:assert/strict";
import { createActor } from "xstate";
import { HubLink, hubLinkMachine } from "../../src/client/actors/hub_link_machine.ts";
import { ControllerLostError, RemoteError, TimeoutError } from "../../src/errors.ts";
import { flush, ManualClock, queryReply } from "./helpers.ts";

function link(options: { connectTimeoutMs?: number; defaultTimeoutMs?: number } = {}) {
  const clock = new ManualClock();
  const sent: [string, Record<string, unknown>][] = [];
  const hub = new HubLink({
    send: (type, content) => {
      sent.push([type, content]);
      return `q${sent.length}`;
    },
    clock,
    ...options,
  });
  return { hub, clock, sent };
}

Deno.test("HubLink: connecting → connected on connection reply", () => {
  const { hub } = link();
  assert.equal(hub.state, "connecting");
  hub.connected();
  assert.equal(hub.state, "connected");
  hub.close();
  assert.equal(hub.state, "closed");
});

Deno.test("HubLink: a reply is matched to its query by parent msg_id", async () => {
  const { hub, sent } = link();
  hub.connected();
  const a = hub.query("queue_request", { targets: null, verbose: false });
  const b = hub.query("history_request", {});
  assert.deepEqual(sent.map((s) => s[0]), ["queue_request", "history_request"]);
  assert.equal(hub.pendingCount, 2);
  hub.handleReply(queryReply("q2", "history_reply", { status: "ok", history: ["x"] }));
  hub.handleReply(queryReply("q1", "queue_reply", { status: "ok", unassigned: 0 }));
  assert.deepEqual((await b).content.history, ["x"]);
  assert.equal((await a).content.unassigned, 0);
  assert.equal(hub.pendingCount, 0);
  hub.close();
});

Deno.test("HubLink: an error reply rejects with RemoteError", async () => {
  const { hub } = link();
  hub.connected();
  const p = hub.query("result_request", { msg_ids: ["nope"], status_only: true });
  hub.handleReply(queryReply("q1", "result_reply", {
    status: "error",
    ename: "KeyError",
    evalue: "'No such message: nope'",
    traceback: ["tb"],
    engine_info: {},
  }));
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof RemoteError);
    assert.equal(e.ename, "KeyError");
    return true;
  });
  hub.close();
});

Deno.test("HubLink: a query rejects with TimeoutError after its limit", async () => {
  const { hub, clock } = link();
  hub.connected();
  const p = hub.query("queue_request", {}, { timeoutMs: 500 });
  const seen = p.catch((e) => e);
  await clock.advance(499);
  assert.equal(hub.pendingCount, 1);
  await clock.advance(1);
  const e = await seen;
  assert.ok(e instanceof TimeoutError);
  assert.equal(e.timeoutMs, 500);
  assert.match(e.message, /queue_request timed out after 500 ms/);
  assert.equal(hub.pendingCount, 0);
  // a late reply is ignored
  hub.handleReply(queryReply("q1", "queue_reply", { status: "ok" }));
  hub.close();
  assert.equal(clock.pending, 0);
});

Deno.test("HubLink: a reply in time cancels the query's timer", async () => {
  const { hub, clock } = link({ defaultTimeoutMs: 1000 });
  hub.connected();
  const p = hub.query("queue_request", {});
  assert.equal(clock.pending, 1);
  hub.handleReply(queryReply("q1", "queue_reply", { status: "ok" }));
  await p;
  assert.equal(clock.pending, 0);
  hub.close();
});

Deno.test("HubLink: shutdown_notification fails every pending query with ControllerLostError", async () => {
  const { hub } = link();
  hub.connected();
  const a = hub.query("queue_request", {});
  const b = hub.query("db_request", { query: {} });
  hub.shutdownNotification();
  assert.equal(hub.state, "lost");
  for (const p of [a, b]) {
    await assert.rejects(p, (e: unknown) => {
      assert.ok(e instanceof ControllerLostError);
      assert.match((e as Error).message, /shut down/);
      return true;
    });
  }
  await assert.rejects(hub.query("queue_request", {}), ControllerLostError);
  hub.close();
});

Deno.test("HubLink: no connection reply within the limit means the controller is lost", async () => {
  const { hub, clock } = link({ connectTimeoutMs: 10_000 });
  const connect = hub.query("connection_request", {});
  const seen = connect.catch((e) => e);
  await clock.advance(10_000);
  assert.equal(hub.state, "lost");
  const e = await seen;
  assert.ok(e instanceof ControllerLostError);
  assert.match(e.message, /no connection_reply from the Hub within 10000 ms/);
  hub.close();
});

Deno.test("HubLink: a lost link comes back when the Hub answers again", () => {
  const { hub } = link();
  hub.connected();
  hub.lost("missed heartbeats");
  assert.equal(hub.state, "lost");
  assert.equal(hub.reason, "missed heartbeats");
  hub.connected();
  assert.equal(hub.state, "connected");
  assert.equal(hub.reason, "");
  hub.close();
});

Deno.test("HubLink: close fails pending queries, clears timers, and is idempotent", async () => {
  const { hub, clock } = link();
  hub.connected();
  const p = hub.query("queue_request", {}, { timeoutMs: 100 });
  hub.close();
  hub.close();
  await assert.rejects(p, ControllerLostError);
  assert.equal(clock.pending, 0);
  await assert.rejects(hub.query("queue_request", {}), ControllerLostError);
});

Deno.test("HubLink: a negative limit is refused", async () => {
  const { hub } = link();
  await assert.rejects(hub.query("queue_request", {}, { timeoutMs: -1 }), RangeError);
  hub.close();
});

Deno.test("hubLinkMachine: a send that throws rejects the query and tracks nothing", async () => {
  const hub = new HubLink({
    send: () => {
      throw new Error("socket closed");
    },
    clock: new ManualClock(),
  });
  await assert.rejects(hub.query("queue_request", {}), /socket closed/);
  assert.equal(hub.pendingCount, 0);
  hub.close();
  // the bare machine works with a real clock too, and stops cleanly
  const actor = createActor(hubLinkMachine, { input: { connectTimeoutMs: 50 } }).start();
  actor.send({ type: "CLOSE" });
  assert.equal(actor.getSnapshot().value, "closed");
  await flush();
});
