/**
 * The controller's own work per load-balanced task, without sockets or other processes: the
 * task relay (client request → scheduler → engine, engine reply → client) and the IOPub relay
 * (busy and idle statuses) run on in-memory sockets fed with pre-signed frames, so the figure
 * is the JavaScript cost of verification, parsing, scheduling and Hub records per task (ZMTP
 * framing and writes excluded). Each given source tree is loaded side by side and run in
 * alternation, so two versions compare on the same machine state. The figure is this
 * process's CPU time (user + system) per task, steadier than wall time on a shared machine,
 * and the heap the Hub and the scheduler still hold per task after a full collection (what a
 * controller remembers of each finished task, below its `finishedLimit`).
 * Not a test: run
 * `deno run -A --v8-flags=--expose-gc bench/controller_hot_path.ts [tasks] [rounds] [root...]`
 * (default: this tree; e.g. `... 20000 3 /tmp/old .` compares a checkout of the old code).
 *
 * @module
 */

import process from "node:process";
import { Session } from "../src/protocol/session.ts";

const N = Number(Deno.args[0] ?? 20_000);
const ROUNDS = Number(Deno.args[1] ?? 3);
const roots = Deno.args.length > 2 ? Deno.args.slice(2) : [new URL("..", import.meta.url).pathname];
const KEY = "9f1a3c5e-7b2d4e6f8a0b1c2d3e4f5a6b";
const enc = new TextEncoder();
type Frames = Uint8Array[];

/** An in-memory socket: `push` feeds `receive`; `send` calls `onSend`. */
class MemSocket {
  #queue: Frames[] = [];
  #head = 0;
  #waiter: ((f: Frames) => void) | null = null;
  onSend: (f: Frames) => void = () => {};
  push(f: Frames): void {
    if (this.#waiter) {
      const w = this.#waiter;
      this.#waiter = null;
      w(f);
    } else this.#queue.push(f);
  }
  receive(): Promise<Frames> {
    const f = this.tryReceive();
    if (f !== undefined) return Promise.resolve(f);
    return new Promise((r) => (this.#waiter = r));
  }
  tryReceive(): Frames | undefined {
    if (this.#head === this.#queue.length) return undefined;
    const f = this.#queue[this.#head++];
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    return f;
  }
  send(f: Frames): Promise<void> {
    this.onSend(f);
    return Promise.resolve();
  }
  subscribe(): void {}
}

// Pre-signed traffic of N tasks: request, reply, busy, idle.
const client = new Session({ key: KEY, session: "bench-client" });
const engineSession = new Session({ key: KEY, session: "bench-engine-0" });
const ENGINE = "bench-engine-0";
const CLIENT_ID = enc.encode("client-routing-id");
const md = {
  after: [],
  follow: [],
  timeout: null,
  targets: null,
  retries: 0,
  success: true,
  failure: false,
};
function traffic(n: number) {
  const out: { request: Frames; reply: Frames; busy: Frames; idle: Frames }[] = [];
  for (let i = 0; i < n; i++) {
    const req = client.msg("apply_request", { metadata: md, buffers: [new Uint8Array(64)] });
    const request = [CLIENT_ID, ...client.pack(req)].map((f) => f.slice());
    const rep = engineSession.reply(req, {
      content: { status: "ok" },
      metadata: {
        started: "2026-11-29T12:00:00.000000Z",
        dependencies_met: true,
        engine: ENGINE,
        status: "ok",
        is_broadcast: false,
      },
      buffers: [new Uint8Array(32)],
    });
    const reply = [enc.encode(ENGINE), CLIENT_ID, ...engineSession.pack(rep)].map((f) => f.slice());
    const status = (state: "busy" | "idle") =>
      engineSession.pack(engineSession.msg("status", {
        content: { execution_state: state },
        parent: req.header,
        identities: ["engine.0.status"],
      })).map((f) => f.slice());
    out.push({ request, reply, busy: status("busy"), idle: status("idle") });
  }
  return out;
}

async function load(root: string) {
  const m = (p: string) => import(`file://${root}/src/controller/${p}`);
  const [{ TaskRelay }, { IopubRelay }, { InboundChannel, toHubMessage }, hubMod, db, log] =
    await Promise.all([
      m("task_relay.ts"),
      m("iopub_relay.ts"),
      m("inbound.ts"),
      m("hub_state.ts"),
      m("db/memory.ts"),
      m("logger.ts"),
    ]);
  const { Session: S } = await import(`file://${root}/src/protocol/session.ts`);
  return async (t: ReturnType<typeof traffic>): Promise<{ ms: number; kept: number }> => {
    const logger = log.createLogger(50);
    const hub = new hubMod.HubState({ db: new db.MemoryDb() });
    hub.register({ uuid: ENGINE });
    hub.heartsStarted([ENGINE]);
    const ch = (name: string) => new InboundChannel(name, { key: KEY, logger });
    const [taskIn, taskOut, iopubIn, iopubOut] = [0, 1, 2, 3].map(() => new MemSocket());
    const relay = new TaskRelay({
      clientSide: taskIn,
      engineSide: taskOut,
      fromClients: ch("task_in"),
      fromEngines: ch("task_out"),
      hub,
      session: new S({ key: KEY }),
      logger,
    });
    new IopubRelay({
      sub: iopubIn,
      pub: iopubOut,
      inbound: ch("iopub"),
      ignoredTypes: new Set(["status"]),
      onMessage: (msg: unknown) => hub.iopubMessage(toHubMessage(msg)),
    });
    relay.registerEngine(ENGINE);
    let done = 0;
    let finish: () => void;
    const finished = new Promise<void>((r) => (finish = r));
    let next = 0;
    // The engine answers each dispatched request with busy, reply, idle.
    taskOut.onSend = () => {
      const x = t[next++];
      iopubIn.push(x.busy);
      taskOut.push(x.reply);
      iopubIn.push(x.idle);
    };
    taskIn.onSend = () => {
      if (++done === t.length) finish();
    };
    const gc = (globalThis as { gc?: () => void }).gc;
    // The last round's closed relays go once their pending receives are dropped: a turn first.
    await new Promise((r) => setTimeout(r, 0));
    gc?.();
    const h0 = Deno.memoryUsage().heapUsed;
    const c0 = process.cpuUsage();
    for (const x of t) taskIn.push(x.request);
    await finished;
    const c1 = process.cpuUsage(c0);
    const ms = (c1.user + c1.system) / 1000;
    gc?.();
    const kept = gc ? Deno.memoryUsage().heapUsed - h0 : NaN;
    relay.close();
    hub.close();
    return { ms, kept };
  };
}

const runners = await Promise.all(roots.map(load));
for (let r = 0; r < ROUNDS; r++) {
  for (let i = 0; i < roots.length; i++) {
    const t = traffic(N);
    const { ms, kept } = await runners[i](t);
    console.log(
      `${roots[i].padEnd(24)} ${(ms * 1000 / N).toFixed(1).padStart(6)} µs CPU per task, ` +
        `${(kept / N).toFixed(0).padStart(4)} B kept per task` +
        (r === 0 ? " (warm-up round)" : ""),
    );
  }
}
