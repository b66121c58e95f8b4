/**
 * The controller's wiring checked frame by frame with a scripted engine and client built on our
 * own ZMTP sockets and Session (no Python needed): registration through the first heartbeat,
 * the MUX swap with bodies forwarded byte for byte, task routing frames, broadcast renaming and
 * re-signing, coalescing, malformed registrations, and the SQLite database.
 */
import assert from "node:assert/strict";
import { Controller, type ControllerOptions } from "../../src/controller/controller.ts";
import { createLogger } from "../../src/controller/logger.ts";
import type { Message } from "../../src/protocol/messages.ts";
import { Session } from "../../src/protocol/session.ts";
import { createSocket, type Socket } from "../../src/zmtp/mod.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

async function receive(s: Socket, timeoutMs = 5000): Promise<Uint8Array[]> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      s.receive(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("timed out waiting for a message")), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** A scripted world: controller, a client's sockets, and engines that echo heartbeats. */
async function world(options: ControllerOptions = {}) {
  const dir = await Deno.makeTempDir({ prefix: "ipp-wire-" });
  const ctl = await Controller.start({
    profileDir: dir,
    clusterId: "w",
    pingMs: 100,
    logger: createLogger(50),
    ...options,
  });
  const key = ctl.clientInfo.key;
  const url = (port: number) => `tcp://127.0.0.1:${port}`;
  const sockets: Socket[] = [];
  const sock = (type: Parameters<typeof createSocket>[0], identity?: string) => {
    const s = createSocket(type, { identity, sendHwm: 0, receiveHwm: 0 });
    sockets.push(s);
    return s;
  };
  const client = new Session({ key });
  const query = sock("DEALER");
  query.connect(url(ctl.ports.registration));
  const notes = sock("SUB");
  notes.subscribe("");
  notes.connect(url(ctl.ports.notification));
  const mux = sock("DEALER");
  mux.connect(url(ctl.ports.mux[0]));
  const task = sock("DEALER");
  task.connect(url(ctl.ports.task[0]));
  const bcast = sock("DEALER");
  bcast.connect(url(ctl.ports.broadcast));
  await new Promise((r) => setTimeout(r, 100));

  /** Registers an engine the way ipengine does (§4.2), echoing pings; returns its sockets. */
  const engine = async (uuid: string, regIdentity = uuid) => {
    const s = new Session({ key, session: uuid });
    const reg = sock("DEALER", regIdentity);
    reg.connect(url(ctl.ports.registration));
    await reg.send(s.pack(s.msg("registration_request", { content: { uuid } })));
    const reply = s.unpack(await receive(reg));
    const id = (reply.content as { id: number }).id;
    if (reply.content.status !== "ok") return { session: s, id, reply, shell: reg, pong: reg };
    const shell = sock("ROUTER", uuid);
    shell.connect(url(ctl.ports.mux[1]));
    shell.connect(url(ctl.ports.task[1]));
    shell.connect(url(ctl.ports.broadcastLeaves[id % ctl.ports.broadcastLeaves.length]));
    const control = sock("ROUTER", uuid);
    control.connect(url(ctl.ports.control[1]));
    const ping = sock("SUB");
    ping.subscribe("");
    ping.connect(url(ctl.ports.hbPing));
    const pong = sock("DEALER", uuid);
    pong.connect(url(ctl.ports.hbPong));
    (async () => {
      for await (const f of ping) await pong.send(f).catch(() => {});
    })();
    return { session: s, id, reply, shell, pong };
  };
  const nextNote = async (): Promise<Message> => client.unpack(await receive(notes));
  const close = async () => {
    await ctl.stop();
    await Promise.all(sockets.map((s) => s.close()));
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  return { ctl, client, query, notes, mux, task, bcast, engine, nextNote, close, dir };
}

/** An engine's reply to `req` (received on its shell ROUTER), sent back on the same path. */
function engineReply(s: Session, req: Message, extra: Record<string, unknown> = {}) {
  return s.pack(s.reply(req, {
    msgType: "apply_reply",
    content: { status: "ok" },
    metadata: {
      started: new Date().toISOString(),
      dependencies_met: true,
      engine: s.session,
      is_broadcast: false,
      is_coalescing: false,
      original_msg_id: "",
      status: "ok",
      ...extra,
    } as never,
    buffers: [enc.encode(`result-of-${req.msgId}`)],
  }));
}

Deno.test("with the default 3 s period, an engine is registered at its first pong, not at a beat", async () => {
  const w = await world({ pingMs: 3000 });
  try {
    const t0 = performance.now();
    const e = await w.engine("eng-fast");
    assert.equal(e.reply.content.status, "ok");
    const reg = await w.nextNote();
    const ms = performance.now() - t0;
    assert.deepEqual(reg.content, { id: 0, uuid: "eng-fast" });
    // ipyparallel completes it at the first beat after the heart answered: 3–6 s here.
    assert.ok(ms < 2_000, `registered after ${ms.toFixed(0)} ms`);
    assert.deepEqual(w.ctl.hub.pendingRegistrations(), []);
  } finally {
    await w.close();
  }
});

Deno.test("registration completes on the first heartbeat, then MUX and task frames are exact", async () => {
  const w = await world();
  try {
    const e = await w.engine("eng-a");
    assert.equal(e.reply.content.status, "ok");
    assert.deepEqual(e.reply.parentHeader, {}); // quirk #2
    const reg = await w.nextNote();
    assert.equal(reg.msgType, "registration_notification");
    assert.deepEqual(reg.content, { id: 0, uuid: "eng-a" });

    // MUX: the body arrives byte for byte, routing frames swapped (§3.3).
    const req = w.client.pack(w.client.msg("apply_request", {
      identities: ["eng-a"],
      buffers: [enc.encode("f"), enc.encode("args")],
    }));
    await w.mux.send(req);
    const got = await receive(e.shell);
    assert.equal(dec.decode(got[0]), "mux_out");
    assert.deepEqual(got.slice(2), req.slice(1));
    const parsed = e.session.unpack(got);
    const rep = engineReply(e.session, parsed);
    await e.shell.send(rep);
    const back = await receive(w.mux);
    assert.equal(dec.decode(back[0]), "eng-a");
    assert.deepEqual(back.slice(1), rep.slice(2));

    // Task: no routing frame from the client, [engine_uuid] on the reply (§3.5.2).
    const treq = w.client.pack(w.client.msg("apply_request", {
      metadata: { after: [], follow: [], timeout: 0, targets: [], retries: 0 } as never,
    }));
    await w.task.send(treq);
    const tgot = await receive(e.shell);
    assert.equal(dec.decode(tgot[0]), "task_out");
    assert.deepEqual(tgot.slice(2), treq);
    const trep = engineReply(e.session, e.session.unpack(tgot));
    await e.shell.send(trep);
    const tback = await receive(w.task);
    assert.equal(dec.decode(tback[0]), "eng-a");
    assert.deepEqual(tback.slice(1), trep.slice(2));

    // Scheduler-made failure: no identity frame, metadata {}, engine_info {} (§7.7).
    await w.task.send(w.client.pack(w.client.msg("apply_request", {
      metadata: { targets: ["no-such-engine"] } as never,
    })));
    const fail = await receive(w.task);
    const failMsg = w.client.unpack(fail);
    assert.equal(failMsg.identities.length, 0);
    assert.equal(failMsg.msgType, "apply_reply");
    assert.deepEqual(failMsg.metadata, {});
    assert.equal((failMsg.content as { ename: string }).ename, "ImpossibleDependency");

    // The Hub recorded both.
    await w.query.send(w.client.pack(w.client.msg("queue_request", {
      content: { targets: null, verbose: false },
    })));
    const qs = w.client.unpack(await receive(w.query));
    assert.deepEqual(qs.content, {
      status: "ok",
      "0": { queue: 0, completed: 2, tasks: 0 },
      unassigned: 0,
    });
  } finally {
    await w.close();
  }
});

Deno.test("broadcast requests are renamed and re-signed per engine; coalesced replies are joined", async () => {
  const w = await world();
  try {
    const a = await w.engine("eng-a");
    const b = await w.engine("eng-b");
    await w.nextNote();
    await w.nextNote();
    for (const coalescing of [false, true]) {
      const req = w.client.msg("apply_request", {
        metadata: {
          targets: [["eng-a", a.id], ["eng-b", b.id]],
          is_broadcast: true,
          is_coalescing: coalescing,
        } as never,
        buffers: [enc.encode("f")],
      });
      await w.bcast.send(w.client.pack(req));
      const gotA = a.session.unpack(await receive(a.shell)); // verifies the new signature
      const gotB = b.session.unpack(await receive(b.shell));
      assert.equal(gotA.msgId, `${req.msgId}_eng-a`);
      assert.equal(gotB.msgId, `${req.msgId}_eng-b`);
      assert.deepEqual(gotA.metadata, {
        targets: [["eng-a", 0]],
        is_broadcast: true,
        is_coalescing: coalescing,
        original_msg_id: req.msgId,
      });
      const md = { is_broadcast: true, is_coalescing: coalescing, original_msg_id: req.msgId };
      await b.shell.send(engineReply(b.session, gotB, md));
      await a.shell.send(engineReply(a.session, gotA, md));
      if (!coalescing) {
        const r1 = w.client.unpack(await receive(w.bcast));
        const r2 = w.client.unpack(await receive(w.bcast));
        assert.deepEqual([r1.identities.length, r2.identities.length], [0, 0]);
        assert.deepEqual(
          [r1.parentHeader.msg_id, r2.parentHeader.msg_id].sort(),
          [`${req.msgId}_eng-a`, `${req.msgId}_eng-b`],
        );
      } else {
        const r = w.client.unpack(await receive(w.bcast));
        assert.equal(r.identities.length, 0);
        assert.deepEqual((r.metadata as { broadcast_targets: unknown }).broadcast_targets, [
          ["eng-a", 0],
          ["eng-b", 1],
        ]);
        assert.equal(r.parentHeader.msg_id, `${req.msgId}_eng-a`); // the last reply's
        assert.deepEqual(r.buffers.map((x) => dec.decode(x)), [
          `result-of-${req.msgId}_eng-a`,
          `result-of-${req.msgId}_eng-b`,
        ]); // target order, not arrival order
      }
    }
  } finally {
    await w.close();
  }
});

Deno.test("a uuid in use gets an error registration_reply; a registration without uuid none", async () => {
  const w = await world();
  try {
    await w.engine("eng-a");
    // (another registration socket: a ROUTER ignores a second peer with an identity in use)
    const dup = await w.engine("eng-a", "other-socket");
    assert.equal(dup.reply.content.status, "error");
    assert.equal(dup.reply.content.ename, "KeyError");
    await w.query.send(
      w.client.pack(w.client.msg("registration_request" as string, { content: {} })),
    );
    await w.query.send(w.client.pack(w.client.msg("foo_request")));
    const next = w.client.unpack(await receive(w.query));
    assert.equal(next.msgType, "hub_error"); // the uuid-less registration got no reply
    assert.match(String(next.content.evalue), /Bad Message Type: 'foo_request'/);
  } finally {
    await w.close();
  }
});

Deno.test("with --sqlitedb the task records are stored in tasks.db under the profile", async () => {
  const w = await world({ db: "sqlite" });
  try {
    const e = await w.engine("eng-a");
    await w.nextNote();
    await w.task.send(w.client.pack(w.client.msg("apply_request")));
    await e.shell.send(engineReply(e.session, e.session.unpack(await receive(e.shell))));
    await receive(w.task);
    await w.query.send(w.client.pack(w.client.msg("db_request", {
      content: { query: { engine_uuid: "eng-a" }, keys: ["queue", "result_buffers"] },
    })));
    const r = w.client.unpack(await receive(w.query));
    assert.equal(r.content.status, "ok");
    assert.deepEqual((r.content.records as { queue: string }[]).map((x) => x.queue), ["task"]);
    assert.equal(r.buffers.length, 1);
    await Deno.stat(`${w.dir}/tasks.db`);
  } finally {
    await w.close();
  }
});

Deno.test("the pure scheme forwards tasks round-robin and replies reach the client without identity", async () => {
  const w = await world({ scheme: "pure" });
  try {
    assert.equal(w.ctl.clientInfo.task_scheme, "pure");
    const e = await w.engine("eng-a");
    await w.nextNote();
    const request = w.client.msg("apply_request");
    const req = w.client.pack(request);
    await w.task.send(req);
    const got = await receive(e.shell);
    assert.equal(dec.decode(got[0]), "task_out");
    assert.deepEqual(got.slice(2), req);
    const rep = engineReply(e.session, e.session.unpack(got));
    await e.shell.send(rep);
    const back = await receive(w.task);
    assert.deepEqual(back, rep.slice(2)); // [DELIM, …]: no engine frame (§7.8)
    await w.query.send(w.client.pack(w.client.msg("result_request", {
      content: { msg_ids: [request.msgId], status_only: true },
    })));
    const r = w.client.unpack(await receive(w.query));
    assert.deepEqual(r.content.completed, [request.msgId]);
  } finally {
    await w.close();
  }
});
