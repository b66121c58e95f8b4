/**
 * ZMTP benchmark: round-trip latency and pipelined one-way throughput for 64 B and 1 MB
 * messages, DEALER → ROUTER over loopback TCP, for three pairs in one run:
 *
 * - ours↔ours: this process (DEALER) against a second Deno process (ROUTER);
 * - libzmq: pyzmq DEALER process against a pyzmq ROUTER process;
 * - ours↔libzmq: this process (DEALER) against a pyzmq ROUTER process.
 *
 * The last two lines are the figures CI tracks:
 * `zmtp roundtrip ratio ours/libzmq: X` and `zmtp 1MB throughput GB/s: Y`.
 *
 * Run: `deno task bench:zmtp`. The peer mode `--serve` is used internally.
 *
 * @module
 */

import { createSocket } from "../src/zmtp/mod.ts";

const PYTHON = "/usr/bin/python3";
const RT = new TextEncoder().encode("rt");
const TP = new TextEncoder().encode("tp");
const END = new TextEncoder().encode("end");

/** Iterations per measurement. */
const PLAN = {
  rtSmall: 20_000,
  rtLarge: 300,
  tpSmall: 300_000,
  tpLarge: 2_000,
  small: 64,
  large: 1 << 20,
};

/** Results of one pair, all times in microseconds. */
interface Result {
  rt64: number;
  rt1m: number;
  tp64: number; // messages per second
  tp1m: number; // bytes per second
}

// The echo server and the measuring client, in Python, speaking the same tiny protocol as the
// Deno side: ["rt", body] is echoed, ["tp", body] is counted, ["end"] is answered with the count.
const PY = String.raw`
import json, sys, time, zmq
ctx = zmq.Context()
role = sys.argv[1]
if role == "serve":
    s = ctx.socket(zmq.ROUTER); s.sndhwm = 0; s.rcvhwm = 0
    s.bind("tcp://127.0.0.1:*")
    print(s.getsockopt(zmq.LAST_ENDPOINT).decode(), flush=True)
    count = 0
    while True:
        m = s.recv_multipart(copy=False)
        kind = m[1].bytes
        if kind == b"rt":
            s.send_multipart(m, copy=False)
        elif kind == b"tp":
            count += 1
        else:
            s.send_multipart([m[0], str(count).encode()])
            count = 0
else:
    plan = json.loads(sys.argv[3])
    s = ctx.socket(zmq.DEALER); s.sndhwm = 1000
    s.connect(sys.argv[2])
    def rt(n, size):
        body = b"x" * size
        for _ in range(min(n // 10, 1000)):
            s.send_multipart([b"rt", body], copy=False); s.recv_multipart(copy=False)
        t = time.perf_counter()
        for _ in range(n):
            s.send_multipart([b"rt", body], copy=size < 65536); s.recv_multipart(copy=size >= 65536)
        return (time.perf_counter() - t) / n * 1e6
    def tp(n, size):
        body = b"x" * size
        t = time.perf_counter()
        for _ in range(n):
            s.send_multipart([b"tp", body], copy=size < 65536)
        s.send_multipart([b"end"])
        got = int(s.recv_multipart()[0])
        assert got == n, got
        return (time.perf_counter() - t)
    res = {}
    res["rt64"] = rt(plan["rtSmall"], plan["small"])
    res["rt1m"] = rt(plan["rtLarge"], plan["large"])
    res["tp64"] = plan["tpSmall"] / tp(plan["tpSmall"], plan["small"])
    res["tp1m"] = plan["tpLarge"] * plan["large"] / tp(plan["tpLarge"], plan["large"])
    print(json.dumps(res), flush=True)
`;

/** Deno echo server (the `--serve` mode). */
async function serve(): Promise<void> {
  const router = createSocket("ROUTER", { sendHwm: 0, receiveHwm: 0 });
  const ep = await router.bind("tcp://127.0.0.1:0");
  console.log(ep);
  let count = 0;
  for (;;) {
    const m = await router.receive();
    const kind = m[1];
    if (kind.length === 2 && kind[0] === 0x72) {
      router.send(m);
    } else if (kind.length === 2) {
      count++;
    } else {
      router.send([m[0], new TextEncoder().encode(String(count))]);
      count = 0;
    }
  }
}

/** Measure with our DEALER against the server at `endpoint`. */
async function measureOurs(endpoint: string): Promise<Result> {
  const dealer = createSocket("DEALER", { sendHwm: 1000 });
  dealer.connect(endpoint);
  const rt = async (n: number, size: number) => {
    const body = new Uint8Array(size).fill(120);
    const msg = [RT, body];
    for (let i = 0; i < Math.min(n / 10, 1000); i++) {
      await dealer.send(msg);
      await dealer.receive();
    }
    const t = performance.now();
    for (let i = 0; i < n; i++) {
      await dealer.send(msg);
      await dealer.receive();
    }
    return ((performance.now() - t) / n) * 1000;
  };
  const tp = async (n: number, size: number) => {
    const body = new Uint8Array(size).fill(120);
    const msg = [TP, body];
    const t = performance.now();
    for (let i = 0; i < n; i++) await dealer.send(msg);
    await dealer.send([END]);
    const [got] = await dealer.receive();
    if (Number(new TextDecoder().decode(got)) !== n) throw new Error("lost messages");
    return (performance.now() - t) / 1000;
  };
  try {
    const rt64 = await rt(PLAN.rtSmall, PLAN.small);
    const rt1m = await rt(PLAN.rtLarge, PLAN.large);
    const tp64 = PLAN.tpSmall / await tp(PLAN.tpSmall, PLAN.small);
    const tp1m = (PLAN.tpLarge * PLAN.large) / await tp(PLAN.tpLarge, PLAN.large);
    return { rt64, rt1m, tp64, tp1m };
  } finally {
    await dealer.close();
  }
}

/** Spawn a server process and return its endpoint and the process. */
async function spawnServer(
  cmd: string,
  args: string[],
): Promise<{ endpoint: string; child: Deno.ChildProcess }> {
  const child = new Deno.Command(cmd, { args, stdout: "piped", stderr: "inherit" }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`${cmd} server exited`);
    text += value;
  }
  reader.releaseLock();
  return { endpoint: text.trim(), child };
}

async function stop(child: Deno.ChildProcess): Promise<void> {
  child.kill("SIGKILL");
  await child.status;
  await child.stdout.cancel().catch(() => {});
}

function line(name: string, r: Result): string {
  return `${name.padEnd(22)} rtt64 ${r.rt64.toFixed(1).padStart(7)} us | rtt1MB ${
    r.rt1m.toFixed(0).padStart(6)
  } us | 64B ${(r.tp64 / 1e3).toFixed(0).padStart(6)} kmsg/s | 1MB ${
    (r.tp1m / 1e9).toFixed(2).padStart(5)
  } GB/s`;
}

async function main(): Promise<void> {
  const self = new URL(import.meta.url).pathname;

  const deno = await spawnServer(Deno.execPath(), ["run", "-A", self, "--serve"]);
  let ours: Result;
  try {
    ours = await measureOurs(deno.endpoint);
  } finally {
    await stop(deno.child);
  }
  console.log(line("ours<->ours (deno)", ours));

  const py = await spawnServer(PYTHON, ["-c", PY, "serve"]);
  let lib: Result;
  let mixed: Result;
  try {
    const out = await new Deno.Command(PYTHON, {
      args: ["-c", PY, "client", py.endpoint, JSON.stringify(PLAN)],
      stdout: "piped",
      stderr: "inherit",
    }).output();
    if (!out.success) throw new Error("pyzmq client failed");
    lib = JSON.parse(new TextDecoder().decode(out.stdout));
    mixed = await measureOurs(py.endpoint);
  } finally {
    await stop(py.child);
  }
  console.log(line("libzmq<->libzmq (py)", lib));
  console.log(line("ours<->libzmq", mixed));
  console.log(`zmtp roundtrip ratio ours/libzmq: ${(ours.rt64 / lib.rt64).toFixed(3)}`);
  console.log(`zmtp 1MB throughput GB/s: ${(ours.tp1m / 1e9).toFixed(3)}`);
}

if (Deno.args[0] === "--serve") await serve();
else await main();
