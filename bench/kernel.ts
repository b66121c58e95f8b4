/**
 * Micro-benchmark of an engine's kernel on its production path (`src/engine/kernel/`): an
 * in-process engine whose kernel worker owns the shell and IOPub sockets, driven over ZMTP
 * (loopback TCP) by the scripted fake controller of `tests/engine/fake_hub.ts`, without a
 * controller or client in between. Measures engine start time, the round trip of trivial
 * requests (one at a time and 50 queued), and 100 MB results (pull of a namespace value, and
 * a value computed by the call). `bench/compare.ts` measures the whole stack (client,
 * controller, engines) instead. The hub verifies and decodes every reply and IOPub message on
 * this process's main thread (the engine's user code and shell run on its worker thread), so
 * the figures include a client's share of the work. Not a test: nothing asserts timing.
 *
 * ```sh
 * deno run -A bench/kernel.ts                # 2,000 calls per case, 6 rounds
 * deno run -A bench/kernel.ts --n=5000 --rounds=10 --mb=0   # skip the 100 MB cases
 * ```
 *
 * Prints the minimum and median per case (µs per call, ms for start and big cases) over the
 * rounds after the first (warm-up). Use medians on a shared machine.
 *
 * @module
 */

import { Engine } from "../src/engine/engine.ts";
import { Logger } from "../src/engine/log.ts";
import type { Message } from "../src/protocol/messages.ts";
import { deserializeResult, packApplyMessage, Reference } from "../src/protocol/serialize.ts";
import { FakeHub } from "../tests/engine/fake_hub.ts";

const flag = (name: string, fallback: number): number => {
  const a = Deno.args.find((x) => x.startsWith(`--${name}=`));
  return a === undefined ? fallback : Number(a.slice(name.length + 3));
};
const N = flag("n", 2000);
const ROUNDS = flag("rounds", 6);
const MB = flag("mb", 100);

const results = new Map<string, { unit: string; xs: number[] }>();
const record = (name: string, unit: string, x: number) => {
  let r = results.get(name);
  if (r === undefined) results.set(name, r = { unit, xs: [] });
  r.xs.push(x);
};

const te = new TextEncoder();
const hub = await FakeHub.start("ok");

/** Send a shell request to `engine` (from "client-1", as through the controller's mux). */
function send(
  engine: Engine,
  msgType: string,
  content: Record<string, unknown> = {},
  buffers?: Uint8Array[],
): Promise<void> {
  const msg = hub.session.msg(msgType, {
    identities: [engine.uuid, te.encode("client-1")],
    content: content as never,
    buffers,
  });
  return hub.mux.send(hub.session.pack(msg));
}

/** The next shell reply, past answers to readiness probes. */
async function reply(): Promise<Message> {
  for (;;) {
    const msg = hub.session.unpack(await hub.mux.receive());
    if (msg.msgType !== "kernel_info_reply") return msg;
  }
}

/** Start an engine and wait until its shell answers (requests sent before it connects are dropped). */
async function start(): Promise<Engine> {
  const engine = await Engine.start({ info: hub.info, log: new Logger({ level: "critical" }) });
  let answered = false;
  const first = hub.mux.receive().then((f) => (answered = true, f));
  while (!answered) {
    await send(engine, "kernel_info_request");
    await Promise.race([first, new Promise((r) => setTimeout(r, 5))]);
  }
  return engine;
}

const execute = (e: Engine, code: string, silent: boolean) =>
  send(e, "execute_request", { code, silent, user_expressions: {} }).then(reply);
const apply = (e: Engine, buffers: Uint8Array[]) =>
  send(e, "apply_request", {}, buffers).then(reply);

async function perCall(name: string, fn: () => Promise<unknown>): Promise<void> {
  const t = performance.now();
  for (let i = 0; i < N; i++) await fn();
  record(name, "µs/call", ((performance.now() - t) / N) * 1000);
  hub.iopubMessages.length = 0;
}

// Start time: a fresh engine (worker spawn, registration, sockets) until its shell answers.
for (let r = 0; r < Math.min(ROUNDS, 4); r++) {
  const t = performance.now();
  const e = await start();
  record("engine start (registered, shell answering)", "ms", performance.now() - t);
  const t2 = performance.now();
  await apply(e, packApplyMessage((a: number) => a, [1]));
  record("first apply on a fresh engine (compiler load)", "ms", performance.now() - t2);
  await e.stop();
}

const engine = await start();
const f = (a: number, b: number) => a + b;
for (let r = 0; r < ROUNDS; r++) {
  await perCall("execute silent '1'", () => execute(engine, "1", true));
  await perCall("execute '1' (stored, execute_result)", () => execute(engine, "1", false));
  await perCall("apply (a,b)=>a+b", () => apply(engine, packApplyMessage(f, [1, 2])));
  // Several requests queued at once (as under load-balanced throughput).
  const t = performance.now();
  for (let i = 0; i < N; i += 50) {
    for (let j = 0; j < 50; j++) {
      await send(engine, "apply_request", {}, packApplyMessage(f, [1, 2]));
    }
    for (let j = 0; j < 50; j++) await reply();
  }
  record("apply, 50 queued at a time", "µs/call", ((performance.now() - t) / N) * 1000);
  hub.iopubMessages.length = 0;
}

if (MB > 0) {
  const n = Math.floor((MB * 1e6) / 8);
  await execute(engine, `globalThis.big = new Float64Array(${n}).map((_, i) => i)`, true);
  const make = (m: number) => new Float64Array(m).fill(1);
  for (let r = 0; r < Math.min(ROUNDS, 4); r++) {
    let t = performance.now();
    const p = await apply(engine, packApplyMessage(new Reference("__ipp_pull__"), ["big"]));
    record(`pull of a ${MB} MB namespace array`, "ms", performance.now() - t);
    if ((p.content as { status: string }).status !== "ok") {
      throw new Error(`pull failed: ${JSON.stringify(p.content)}`);
    }
    t = performance.now();
    const m = await apply(engine, packApplyMessage(make, [n]));
    record(`apply returning a new ${MB} MB array`, "ms", performance.now() - t);
    if ((m.content as { status: string }).status !== "ok") {
      throw new Error(`make failed: ${JSON.stringify(m.content)}`);
    }
  }
  // The pulled value must still be intact in the namespace.
  const check = await apply(
    engine,
    packApplyMessage(new Reference("__ipp_pull__"), ["big.length + big[big.length - 1]"]),
  );
  if (deserializeResult(check.buffers) !== 2 * n - 1) {
    throw new Error(`namespace array damaged by pull: ${JSON.stringify(check.content)}`);
  }
}

await engine.stop();
await hub[Symbol.asyncDispose]();

for (const [name, { unit, xs }] of results) {
  const s = (xs.length > 1 ? xs.slice(1) : xs).sort((a, b) => a - b);
  const med = s[Math.floor(s.length / 2)];
  console.log(`${name}: min ${s[0].toFixed(1)} ${unit}, median ${med.toFixed(1)} ${unit}`);
}
