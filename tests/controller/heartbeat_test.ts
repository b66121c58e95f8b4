/**
 * The heartbeat wiring on real sockets (PROTOCOL.md §4.3): scripted hearts echo pings; one that
 * stops is declared dead after its misses, while silence from every heart at once (a stalled
 * machine) is tolerated for a while.
 */
import assert from "node:assert/strict";
import { defaultMaxMisses, Heartbeat } from "../../src/controller/heartbeat.ts";
import { createLogger } from "../../src/controller/logger.ts";
import { createSocket, type Socket } from "../../src/zmtp/mod.ts";

async function rig(periodMs: number) {
  const ping = createSocket("PUB", { sendHwm: 0 });
  const pong = createSocket("ROUTER", { receiveHwm: 0 });
  const pingUrl = await ping.bind("tcp://127.0.0.1:0");
  const pongUrl = await pong.bind("tcp://127.0.0.1:0");
  const events: { at: number; started: string[]; stopped: string[] }[] = [];
  const t0 = performance.now();
  const hb = new Heartbeat({
    ping,
    pong,
    periodMs,
    maxMisses: 2,
    logger: createLogger(50),
    onBeat: (r) =>
      events.push({ at: performance.now() - t0, started: r.newHearts, stopped: r.stoppedHearts }),
  });
  const sockets: Socket[] = [ping, pong];
  const alive = new Map<string, boolean>();
  const heart = (uuid: string) => {
    const sub = createSocket("SUB");
    sub.subscribe("");
    sub.connect(pingUrl);
    const dealer = createSocket("DEALER", { identity: uuid });
    dealer.connect(pongUrl);
    sockets.push(sub, dealer);
    alive.set(uuid, true);
    (async () => {
      for await (const f of sub) if (alive.get(uuid)) await dealer.send(f).catch(() => {});
    })();
  };
  const close = async () => {
    hb.stop();
    await Promise.all(sockets.map((s) => s.close()));
    await hb.done;
  };
  return { hb, heart, alive, events, close, t0 };
}

const until = async (cond: () => boolean, ms: number) => {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) return false;
    await new Promise((r) => setTimeout(r, 5));
  }
  return true;
};

Deno.test("default miss limits: 2 at 250 ms, 1 at 3000 ms, at most 10", () => {
  assert.equal(defaultMaxMisses(250), 2);
  assert.equal(defaultMaxMisses(3000), 1);
  assert.equal(defaultMaxMisses(10), 10);
});

Deno.test("one silent heart among live ones is stopped; the others stay", async () => {
  const r = await rig(50);
  try {
    r.heart("a");
    r.heart("b");
    assert.ok(await until(() => r.hb.monitor.hearts.size === 2, 3000));
    r.alive.set("a", false);
    const ok = await until(() => r.events.some((e) => e.stopped.includes("a")), 3000);
    assert.ok(ok, JSON.stringify(r.events));
    assert.deepEqual([...r.hb.monitor.hearts], ["b"]);
  } finally {
    await r.close();
  }
});

Deno.test("silence from every heart at once is tolerated for ten beats, then judged", async () => {
  const r = await rig(50);
  try {
    r.heart("a");
    r.heart("b");
    assert.ok(await until(() => r.hb.monitor.hearts.size === 2, 3000));
    r.alive.set("a", false);
    r.alive.set("b", false);
    const silentAt = performance.now();
    // 2 misses would stop them after ~3 beats; global silence defers that past 10 beats.
    assert.equal(await until(() => r.hb.monitor.hearts.size < 2, 400), false);
    assert.ok(await until(() => r.hb.monitor.hearts.size === 0, 3000));
    assert.ok(performance.now() - silentAt >= 500);
  } finally {
    await r.close();
  }
});
