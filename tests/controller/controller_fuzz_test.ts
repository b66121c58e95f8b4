/**
 * Hostile input to a running controller (in this process, so its counters are visible), with
 * a real Python engine registered and a real Python client checking afterwards that it still
 * serves correctly (PROTOCOL.md §1.3, §1.4, §1.11).
 */
import assert from "node:assert/strict";
import { Controller } from "../../src/controller/controller.ts";
import { createLogger } from "../../src/controller/logger.ts";
import { Session } from "../../src/protocol/session.ts";
import { createSocket, type Socket } from "../../src/zmtp/mod.ts";
import { needsPython } from "../helpers/interop.ts";
import { Cluster } from "./peers/cluster.ts";
import { broken, rng, signedNonsense } from "./peers/fuzz.ts";

const ignore = needsPython("ipyparallel", "psutil");
const enc = new TextEncoder();

/** A controller in this process plus one registered Python engine. */
async function setup(c: Cluster): Promise<Controller> {
  const ctl = await Controller.start({
    profileDir: c.profileDir,
    clusterId: c.clusterId,
    pingMs: 250,
    logger: createLogger(50),
  });
  c.startEngine();
  const end = Date.now() + 30_000;
  while (ctl.hub.engines().length < 1) {
    if (Date.now() > end) throw new Error(`engine did not register\n${await c.logs()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return ctl;
}

interface Target {
  /** Channel name in `Controller.stats()`. */
  channel: string;
  /** Port to connect to. */
  port: number;
  /** Socket type used to send. */
  type: "DEALER" | "PUB";
  /** Routing frames the sender adds before the delimiter. */
  prefix: Uint8Array[];
  /** A message type that is harmless when valid on this channel. */
  valid: string;
}

function targets(ctl: Controller, engineUuid: string): Target[] {
  const p = ctl.ports;
  const client = enc.encode("no-such-client");
  const t: Target[] = [
    { channel: "query", port: p.registration, type: "DEALER", prefix: [], valid: "queue_request" },
    {
      channel: "mux (client side)",
      port: p.mux[0],
      type: "DEALER",
      prefix: [enc.encode("no-such-engine")],
      valid: "apply_request",
    },
    {
      channel: "control (client side)",
      port: p.control[0],
      type: "DEALER",
      prefix: [enc.encode("no-such-engine")],
      valid: "clear_request",
    },
    {
      channel: "task (client side)",
      port: p.task[0],
      type: "DEALER",
      prefix: [],
      valid: "apply_request",
    },
    {
      channel: "broadcast (client side)",
      port: p.broadcast,
      type: "DEALER",
      prefix: [],
      valid: "apply_request",
    },
    {
      channel: "mux (engine side)",
      port: p.mux[1],
      type: "DEALER",
      prefix: [client],
      valid: "apply_reply",
    },
    {
      channel: "control (engine side)",
      port: p.control[1],
      type: "DEALER",
      prefix: [client],
      valid: "clear_reply",
    },
    {
      channel: "task (engine side)",
      port: p.task[1],
      type: "DEALER",
      prefix: [client],
      valid: "apply_reply",
    },
    {
      channel: "iopub",
      port: p.iopub[1],
      type: "PUB",
      prefix: [enc.encode("fuzz.0.stdout")],
      valid: "stream",
    },
  ];
  p.broadcastLeaves.forEach((port, i) =>
    t.push({
      channel: `broadcast leaf ${i}`,
      port,
      type: "DEALER",
      prefix: [client],
      valid: "apply_reply",
    })
  );
  void engineUuid;
  return t;
}

async function connect(t: Target): Promise<Socket> {
  const s = createSocket(t.type, { sendHwm: 0, receiveHwm: 0, onProtocolError: () => {} });
  s.connect(`tcp://127.0.0.1:${t.port}`);
  // PUB: wait for the SUB's subscription; DEALER: for the handshake (messages queue anyway).
  await new Promise((r) => setTimeout(r, 300));
  return s;
}

async function waitForCounts(
  ctl: Controller,
  expected: Map<string, number>,
  timeoutMs: number,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const stats = ctl.stats();
    const short = [...expected].filter(([ch, n]) => stats[ch].received < n);
    if (!short.length) return;
    if (Date.now() > end) {
      throw new Error(
        `not all messages arrived: ${JSON.stringify(short.map(([ch]) => [ch, stats[ch]]))}`,
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

Deno.test({
  name: "unsigned, badly signed and replayed messages are dropped and counted on every channel",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using c = await Cluster.create();
    const ctl = await setup(c);
    try {
      const good = new Session({ key: ctl.clientInfo.key });
      const wrong = new Session({ key: "not-the-key" });
      const unkeyed = new Session();
      const engineUuid = ctl.hub.engines()[0].uuid;
      const sockets: Socket[] = [];
      const before = ctl.stats();
      const expected = new Map<string, number>();
      for (const t of targets(ctl, engineUuid)) {
        const s = await connect(t);
        sockets.push(s);
        const valid = good.pack(good.msg(t.valid, { identities: t.prefix }));
        await s.send(wrong.pack(wrong.msg(t.valid, { identities: t.prefix })));
        await s.send(unkeyed.pack(unkeyed.msg(t.valid, { identities: t.prefix })));
        await s.send(valid);
        await s.send(valid); // replay
        expected.set(t.channel, before[t.channel].received + 4);
      }
      await waitForCounts(ctl, expected, 10_000);
      const after = ctl.stats();
      for (const [ch] of expected) {
        const d = (k: "invalid" | "unsigned" | "duplicate") => after[ch][k] - before[ch][k];
        assert.deepEqual([d("invalid"), d("unsigned"), d("duplicate")], [1, 1, 1], ch);
      }
      await Promise.all(sockets.map((s) => s.close()));
      const r = await c.runClient("client_basic.py", ["1"]);
      assert.deepEqual(r.apply, [42]);
      assert.deepEqual(r.map, Array.from({ length: 16 }, (_, i) => i * i));
    } finally {
      await ctl.stop();
    }
  },
});

Deno.test({
  name: "10,000 mutated messages on every channel leave the controller serving a Python client",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using c = await Cluster.create();
    const ctl = await setup(c);
    try {
      const seed = Number(Deno.env.get("IPP_FUZZ_SEED") ?? Date.now() % 1e9);
      const r = rng(seed);
      const s = new Session({ key: ctl.clientInfo.key });
      const engineUuid = ctl.hub.engines()[0].uuid;
      const perChannel = 10_000;
      const signedShare = 0.02; // signed nonsense that reaches the handlers
      const before = ctl.stats();
      const expected = new Map<string, number>();
      const sockets: Socket[] = [];
      for (const t of targets(ctl, engineUuid)) {
        const sock = await connect(t);
        sockets.push(sock);
        const valid = s.pack(s.msg(t.valid, { identities: t.prefix }));
        for (let i = 0; i < perChannel; i++) {
          const frames = r() < signedShare
            ? signedNonsense(s, r, t.prefix, t.channel === "task (client side)")
            : broken(valid, r);
          await sock.send(frames);
          if (i % 500 === 0) await new Promise((res) => setTimeout(res, 0));
        }
        expected.set(t.channel, before[t.channel].received + perChannel);
      }
      // Raw garbage on every port, including the PUB and heartbeat ones (no ZMTP greeting).
      const ports = [
        ctl.ports.notification,
        ctl.ports.iopub[0],
        ctl.ports.hbPing,
        ctl.ports.hbPong,
        ctl.ports.registration,
        ...ctl.ports.mux,
      ];
      for (const port of ports) {
        for (let i = 0; i < 20; i++) {
          const conn = await Deno.connect({ hostname: "127.0.0.1", port });
          await conn.write(crypto.getRandomValues(new Uint8Array(1 + Math.floor(r() * 200))))
            .catch(() => 0);
          conn.close();
        }
      }
      await waitForCounts(ctl, expected, 120_000);
      const stats = ctl.stats();
      const totals = { received: 0, accepted: 0, dropped: 0, errors: 0 };
      for (const [ch] of expected) {
        const st = stats[ch];
        totals.received += st.received - before[ch].received;
        totals.accepted += st.accepted - before[ch].accepted;
        totals.dropped += st.unsigned + st.invalid + st.duplicate + st.malformed -
          (before[ch].unsigned + before[ch].invalid + before[ch].duplicate + before[ch].malformed);
        totals.errors += st.errors - before[ch].errors;
      }
      console.log(`fuzz seed ${seed}: ${JSON.stringify(totals)}`);
      console.log(JSON.stringify(stats));
      assert.equal(totals.errors, 0, JSON.stringify(stats));
      assert.ok(totals.dropped >= expected.size * perChannel * 0.9);
      await Promise.all(sockets.map((x) => x.close()));
      assert.deepEqual(ctl.hub.engines().map((e) => e.uuid), [engineUuid]);
      const out = await c.runClient("client_basic.py", ["1"]);
      assert.deepEqual(out.apply, [42]);
      assert.equal(out.stdout, "hello from engine\n");
      assert.deepEqual(out.map, Array.from({ length: 16 }, (_, i) => i * i));
      assert.deepEqual(out.pull, [7]);
      assert.deepEqual(out.broadcast, [42]);
      assert.deepEqual(out.broadcast_coalescing, [43]);
      assert.deepEqual(out.resubmit, [3]);
    } finally {
      await ctl.stop();
    }
  },
});
