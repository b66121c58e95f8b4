/**
 * The heartbeat wiring on real sockets (PROTOCOL.md §4.3): scripted hearts echo pings; one that
 * stops is declared dead after its misses, while silence from every heart at once (a stalled
 * machine) is tolerated for a while; an awaited heart (a pending registration) is taken in at its
 * first pong to a probe, not at the next beat.
 */
import assert from "node:assert/strict";
import { defaultMaxMisses, Heartbeat } from "../../src/controller/heartbeat.ts";
import { createLogger } from "../../src/controller/logger.ts";
import { createSocket, type Socket } from "../../src/zmtp/mod.ts";

async function rig(
  periodMs: number,
  awaiting?: (uuid?: string) => boolean,
  reachable?: (uuid: string) => boolean,
) {
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
    awaiting,
    reachable,
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

Deno.test("an awaited heart is taken in at its first pong, long before the next beat", async () => {
  const awaited = new Set(["late"]);
  const r = await rig(5_000, (uuid) => uuid === undefined ? awaited.size > 0 : awaited.has(uuid));
  try {
    // Its heart connects after the beat's ping went out (as an engine's does after the
    // registration reply): only the probes reach it.
    await new Promise((res) => setTimeout(res, 50));
    r.heart("late");
    r.heart("stranger"); // answers too, but nothing awaits it: it waits for the next beat
    r.hb.probe();
    assert.ok(await until(() => r.events.length > 0, 3_000), "reported within 3 s");
    const first = r.events[0];
    assert.deepEqual(first.started, ["late"]);
    assert.deepEqual(first.stopped, []);
    assert.ok(first.at < 3_000, `at ${first.at} ms, before the beat at 5,000`);
    assert.ok(r.hb.monitor.hearts.has("late"));
    assert.equal(r.hb.monitor.hearts.has("stranger"), false);
    awaited.clear(); // registered: the probes stop
    await new Promise((res) => setTimeout(res, 300));
    assert.equal(r.events.length, 1);
  } finally {
    await r.close();
  }
});

Deno.test("an awaited heart whose engine is not reachable yet is taken in once it is", async () => {
  let reachable = false;
  const r = await rig(5_000, (uuid) => uuid === undefined || uuid === "slow", () => reachable);
  try {
    await new Promise((res) => setTimeout(res, 50));
    r.heart("slow");
    r.hb.probe();
    // It answers the probes, but its queues are not connected: no registration yet.
    await new Promise((res) => setTimeout(res, 400));
    assert.equal(r.events.length, 0);
    reachable = true;
    const at = performance.now() - r.t0;
    assert.ok(await until(() => r.events.length > 0, 3_000), "reported once reachable");
    assert.deepEqual(r.events[0].started, ["slow"]);
    assert.ok(r.events[0].at >= at && r.events[0].at < 3_000, `at ${r.events[0].at} ms`);
  } finally {
    await r.close();
  }
});

Deno.test("without awaiting, probe() is a no-op and a new heart waits for the beat", async () => {
  const r = await rig(400);
  try {
    await new Promise((res) => setTimeout(res, 50));
    r.heart("a");
    r.hb.probe();
    assert.ok(await until(() => r.events.length > 0, 3_000));
    assert.deepEqual(r.events[0].started, ["a"]);
    // Its first ping is the beat at 400 ms; its pong is judged at the beat after (800 ms).
    assert.ok(r.events[0].at >= 700, `at ${r.events[0].at} ms`);
  } finally {
    await r.close();
  }
});
