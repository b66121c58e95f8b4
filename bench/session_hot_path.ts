/**
 * Per-message cost of the protocol layer's hot path (pack, verify with the replay guard,
 * unpack, header peek), on messages shaped like a load-balanced task's (apply_request,
 * apply_reply, IOPub status). Each given source tree's `Session` is loaded side by side and
 * the trees alternate, so two versions compare on the same machine state.
 * Not a test: run `deno run -A bench/session_hot_path.ts [iterations] [rounds] [root...]`
 * (default: this tree).
 *
 * @module
 */

const N = Number(Deno.args[0] ?? 50_000);
const ROUNDS = Number(Deno.args[1] ?? 3);
const roots = Deno.args.length > 2 ? Deno.args.slice(2) : [new URL("..", import.meta.url).pathname];
const key = "9f1a3c5e-7b2d4e6f8a0b1c2d3e4f5a6b";
type Frames = Uint8Array[];
// deno-lint-ignore no-explicit-any
type AnySession = any;

const metadata = {
  after: [],
  follow: [],
  timeout: null,
  targets: null,
  retries: 0,
  success: true,
  failure: false,
};
const replyMetadata = {
  started: "2026-11-29T12:00:00.000000Z",
  dependencies_met: true,
  engine: "engine-def",
  status: "ok",
  is_broadcast: false,
  is_coalescing: false,
};

/** Distinct signed messages (so the replay guard accepts each once), `n` of each kind. */
function traffic(S: AnySession, n: number) {
  const client = new S({ key, session: "client-abc" });
  const engine = new S({ key, session: "engine-def" });
  const reqs: Frames[] = [], reps: Frames[] = [], stats: Frames[] = [];
  for (let i = 0; i < n; i++) {
    const req = client.msg("apply_request", {
      metadata,
      buffers: [new Uint8Array(60)],
      identities: ["client-routing-id"],
    });
    reqs.push(client.pack(req).map((f: Uint8Array) => f.slice()));
    const rep = engine.reply(req, {
      content: { status: "ok" },
      metadata: replyMetadata,
      buffers: [new Uint8Array(30)],
    });
    reps.push(engine.pack(rep).map((f: Uint8Array) => f.slice()));
    const st = engine.msg("status", {
      content: { execution_state: "busy" },
      parent: req.header,
      identities: ["engine.0.status"],
    });
    stats.push(engine.pack(st).map((f: Uint8Array) => f.slice()));
  }
  return { client, reqs, reps, stats };
}

function time(fn: (i: number) => unknown): number {
  const t0 = performance.now();
  for (let i = 0; i < N; i++) fn(i);
  return (performance.now() - t0) * 1000 / N;
}

async function cases(root: string) {
  const { Session: S } = await import(`file://${root}/src/protocol/session.ts`);
  const peek = await import(`file://${root}/src/protocol/peek.ts`).catch(() => null);
  return (): Record<string, number> => {
    const t = traffic(S, N);
    const out: Record<string, number> = {};
    const req = t.client.msg("apply_request", { metadata, buffers: [new Uint8Array(60)] });
    out["pack(apply_request)"] = time(() => t.client.pack(req));
    let rx = new S({ key });
    out["verify(apply_request) incl. replay guard"] = time((i) => rx.verify(t.reqs[i]));
    rx = new S({ key });
    out["unpack(apply_request)"] = time((i) => rx.unpack(t.reqs[i]));
    rx = new S({ key });
    out["unpack(apply_reply)"] = time((i) => rx.unpack(t.reps[i]));
    rx = new S({ key });
    out["unpack(status)"] = time((i) => rx.unpack(t.stats[i]));
    if (peek !== null) {
      out["peekMsgType(status header)"] = time((i) => peek.peekMsgType(t.stats[i][3]));
    }
    return out;
  };
}

const runners = await Promise.all(roots.map(cases));
for (const run of runners) run(); // warm up
const sums: Record<string, number>[] = roots.map(() => ({}));
for (let r = 0; r < ROUNDS; r++) {
  runners.forEach((run, i) => {
    for (const [k, v] of Object.entries(run())) sums[i][k] = Math.min(sums[i][k] ?? Infinity, v);
  });
}
console.log(`best of ${ROUNDS} rounds, µs per call:`);
const names = [...new Set(sums.flatMap((s) => Object.keys(s)))];
console.log("".padEnd(42) + roots.map((r) => r.slice(-14).padStart(16)).join(""));
for (const k of names) {
  console.log(k.padEnd(42) + sums.map((s) => (s[k]?.toFixed(2) ?? "—").padStart(16)).join(""));
}
