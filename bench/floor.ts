/**
 * This machine's floor for the goals of `bench/compare.ts` that traffic bounds (load-balanced
 * throughput, the direct call, push and pull, scatter/gather): what the same traffic costs when
 * nothing is done with it. Deno processes with the roles of a client, a controller and engines pass
 * length-prefixed messages over loopback TCP (and, straight to an engine, over a Unix socket
 * too); the "controller" only moves bytes (no parsing beyond the length prefix, no signatures,
 * no records) and an "engine" only answers.
 *
 * | figure | what |
 * | --- | --- |
 * | `call_relay` | the message pattern of one direct call through a controller: a 700-byte request; `busy` on IOPub, a 600-byte reply on shell, `idle` on IOPub; the client waits for the reply and `idle` |
 * | `call_direct` | the same with the client connected straight to the engine (no controller) |
 * | `call_direct_ipc` | the same over a Unix socket (our client's way to an engine on its host) |
 * | `lb_relay` | load-balanced throughput: 20,000 such requests sent at once, dealt in turn to two engines by a relay that forwards whole messages (each connection written with whatever queued while its previous write was in flight); µs per task |
 * | `push_relay`, `pull_relay` | 100 MB from the client to the engine through the controller, and back; the receiver reads into fresh memory allocated as our frames are (`largeBytes`: advised into huge pages where that pays) |
 * | `push_direct`, `pull_direct` | the same with the client connected straight to the engine |
 * | `push_direct_ipc`, `pull_direct_ipc` | the same over a Unix socket |
 * | `push_warm_ipc`, `pull_warm_ipc` | as `push_direct_ipc` and `pull_direct_ipc`, but the receiver reads into memory it has already touched (a buffer kept from before), as a pool of warm buffers would: what the socket itself costs |
 * | `push_shm`, `pull_shm` | the same through shared memory: the sender writes the bytes into a new file in `/dev/shm`, the receiver maps it (`mmap` through FFI, pages populated) and its array is a view of that mapping, no copy; NaN where there is no `/dev/shm` or C library to call |
 * | `copy_fresh`, `copy_huge`, `copy_warm` | one copy of 100 MB in one process: into fresh memory, into fresh memory advised into huge pages (`largeBytes`; NaN where the advice is not given), and into already-touched memory |
 * | `scatter_gather` | 80 MB scattered to two more engines over Unix sockets (half to each at once, each read into fresh memory), then gathered back at once, the halves read side by side into one array of fresh memory, as our gather places them; best of three |
 *
 * An implementation can only add to these figures, so a goal whose target (Python's figure
 * divided by the goal's ratio) is near or below the floor cannot be met on this machine by
 * any implementation of the same protocol shape.
 *
 * ```sh
 * deno run -A bench/floor.ts                     # prints the figures and a JSON line
 * deno run -A bench/floor.ts --bytes=80000000    # the bulk figures for 80 MB
 * ```
 *
 * @module
 */

import { hugePagesAdvised, largeBytes } from "../src/zmtp/large_bytes.ts";
import {
  CALL,
  connect,
  connectIpc,
  mapShm,
  message,
  PULL,
  PUSH,
  Reader,
  SHM_PULL,
  SHM_PUSH,
  touch,
  WARM,
  writeAll,
  writeShm,
} from "./floor/wire.ts";

/** The role processes' entry point. */
const ROLES = new URL("./floor/roles.ts", import.meta.url).pathname;

/** The floor figures, in microseconds per call (`call_*`) or seconds (the rest). */
export interface Floor {
  call_relay: number;
  /** CPU per call through the relay (µs, from `/proc`): client, relay, engine. */
  call_relay_cpu: [number, number, number];
  call_direct: number;
  /** As `call_direct`, over a Unix socket. */
  call_direct_ipc: number;
  /** Wall time per load-balanced task (µs), two engines. */
  lb_relay: number;
  /** CPU per load-balanced task (µs, from `/proc`): client, relay, both engines. */
  lb_relay_cpu: [number, number, number];
  push_relay: number;
  pull_relay: number;
  push_direct: number;
  pull_direct: number;
  push_direct_ipc: number;
  pull_direct_ipc: number;
  /** As `push_direct_ipc`, read into memory the engine has already touched. */
  push_warm_ipc: number;
  /** As `pull_direct_ipc`, read into memory the client has already touched. */
  pull_warm_ipc: number;
  /** Through a file in `/dev/shm`, mapped by the receiver; NaN where that cannot be done. */
  push_shm: number;
  pull_shm: number;
  copy_fresh: number;
  /** One copy into fresh memory advised into huge pages (NaN where the advice is not given), s. */
  copy_huge: number;
  copy_warm: number;
  /** The bulk size, bytes. */
  bytes: number;
  /**
   * Scatter then gather of `sg_bytes` over Unix sockets with two engines (s): half pushed to
   * each at once, then both halves pulled at once into one array of fresh memory.
   */
  scatter_gather: number;
  /** The scatter/gather size, bytes. */
  sg_bytes: number;
}

/** Ends a role process (one whose connections all closed may have ended by itself). */
async function stop(child: Deno.ChildProcess): Promise<void> {
  try {
    child.kill("SIGTERM");
  } catch {
    // already ended
  }
  await child.status;
}

function spawn(args: string[]): { child: Deno.ChildProcess; port: Promise<number> } {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", ROLES, ...args],
    stdout: "piped",
    stderr: "inherit",
    stdin: "null",
  }).spawn();
  const port = (async () => {
    const reader = child.stdout.getReader();
    const { value } = await reader.read();
    reader.releaseLock();
    return Number(new TextDecoder().decode(value).trim());
  })();
  return { child, port };
}

/** CPU time (µs) a process has used so far, from `/proc/<pid>/stat` (10 ms ticks). */
function cpuUs(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) * 10_000;
}

/**
 * The direct-call message pattern over `shell` and `iopub`: mean µs per call, and the CPU each
 * of `pids` used per call (µs).
 */
async function calls(
  shell: Deno.Conn,
  iopub: Deno.Conn,
  n: number,
  pids: number[] = [],
): Promise<{ us: number; cpu: number[] }> {
  const request = message(700, CALL);
  const shellIn = new Reader(shell);
  const iopubIn = new Reader(iopub);
  const one = async () => {
    await writeAll(shell, request);
    await Promise.all([shellIn.next(), iopubIn.next().then(() => iopubIn.next())]);
  };
  for (let i = 0; i < 500; i++) await one();
  const before = pids.map(cpuUs);
  const t = performance.now();
  for (let i = 0; i < n; i++) await one();
  const us = (performance.now() - t) * 1000 / n;
  return { us, cpu: pids.map((p, i) => (cpuUs(p) - before[i]) / n) };
}

/**
 * `n` load-balanced requests sent at once on `tasks`, then every reply and both IOPub messages
 * of each awaited: µs per task, and the CPU each of `pids` used per task (µs).
 */
async function lbTasks(
  tasks: Deno.Conn,
  iopub: Deno.Conn,
  n: number,
  pids: number[],
): Promise<{ us: number; cpu: number[] }> {
  const request = message(700, CALL);
  const replies = new Reader(tasks);
  const statuses = new Reader(iopub);
  const run = async (k: number) => {
    const all = new Uint8Array(request.length * k);
    for (let i = 0; i < k; i++) all.set(request, i * request.length);
    await Promise.all([
      writeAll(tasks, all),
      (async () => {
        for (let i = 0; i < k; i++) await replies.next();
      })(),
      (async () => {
        for (let i = 0; i < 2 * k; i++) await statuses.next();
      })(),
    ]);
  };
  await run(n); // warm-up
  const before = pids.map(cpuUs);
  const t = performance.now();
  await run(n);
  const us = (performance.now() - t) * 1000 / n;
  return { us, cpu: pids.map((p, i) => (cpuUs(p) - before[i]) / n) };
}

/** Best of three times, in seconds, of `f`. */
async function best3(f: () => Promise<void> | void): Promise<number> {
  let best = Infinity;
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    await f();
    best = Math.min(best, (performance.now() - t) / 1000);
  }
  return best;
}

/**
 * Measures the floor: starts a relay and an engine process, times `calls` calls through the
 * relay and as many straight to the engine, over loopback TCP and over a Unix socket; then
 * `lbTasks` load-balanced tasks through a second relay to two more engines; then `bytes` each
 * way through the first relay, straight, over the Unix socket into fresh and into already-touched
 * memory, and through `/dev/shm` (best of three each); then scatter/gather of `sgBytes` with two
 * more engines; then stops them.
 *
 * @param options Calls to time (default 2,000), load-balanced tasks (default 20,000: the CPU
 * figures come in 10 ms ticks), the bulk size (default 100 MB) and the scatter/gather size
 * (default 80 MB).
 * @returns The figures.
 */
export async function measureFloor(
  options: { calls?: number; bytes?: number; lbTasks?: number; sgBytes?: number } = {},
): Promise<Floor> {
  const n = options.calls ?? 2000;
  const bytes = options.bytes ?? 100_000_000;
  const sgBytes = options.sgBytes ?? 80_000_000;
  const r = spawn(["--role=relay"]);
  const ipcPath = `${Deno.makeTempDirSync({ prefix: "ipp-floor-" })}/engine.sock`;
  const e = spawn([
    "--role=engine",
    `--relay=${await r.port}`,
    `--bytes=${bytes}`,
    `--ipc=${ipcPath}`,
  ]);
  const directPort = await e.port;
  const shell = await connect(await r.port, "S");
  const iopub = await connect(await r.port, "I");
  const relayed = await calls(shell, iopub, n, [Deno.pid, r.child.pid, e.child.pid]);
  const dShell = await connect(directPort, "S");
  const dIopub = await connect(directPort, "I");
  const direct = await calls(dShell, dIopub, n);
  const iShell = await connectIpc(ipcPath, "S");
  const iIopub = await connectIpc(ipcPath, "I");
  const directIpc = await calls(iShell, iIopub, n);
  const lr = spawn(["--role=lbrelay"]);
  const lbPort = await lr.port;
  const lbEngines = ["aA", "bB"].map((h) =>
    spawn(["--role=lbengine", `--relay=${lbPort}`, `--hello=${h}`])
  );
  await Promise.all(lbEngines.map((x) => x.port));
  const lbTaskConn = await connect(lbPort, "T");
  const lbIopub = await connect(lbPort, "J");
  const lb = await lbTasks(lbTaskConn, lbIopub, options.lbTasks ?? 20_000, [
    Deno.pid,
    lr.child.pid,
    ...lbEngines.map((x) => x.child.pid),
  ]);
  const bulk = message(bytes, PUSH);
  const bulkFloor = (conn: Deno.Conn) => {
    const reader = new Reader(conn);
    return {
      push: () =>
        best3(async () => {
          await writeAll(conn, bulk);
          await reader.next();
        }),
      pull: () =>
        best3(async () => {
          await writeAll(conn, message(1, PULL));
          await reader.next();
        }),
    };
  };
  const relayBulk = bulkFloor(shell);
  const push = await relayBulk.push();
  const pull = await relayBulk.pull();
  const directBulk = bulkFloor(dShell);
  const pushDirect = await directBulk.push();
  const pullDirect = await directBulk.pull();
  const ipcBulk = bulkFloor(iShell);
  const pushDirectIpc = await ipcBulk.push();
  const pullDirectIpc = await ipcBulk.pull();
  const shm = await shmFloor(iShell, bytes).catch(() => ({ push: NaN, pull: NaN }));
  const warmIpc = await warmFloor(iShell, bytes);
  const scatterGather = await sgFloor(sgBytes);
  const src = new Uint8Array(bytes).fill(1);
  const copyFresh = await best3(() => void new Uint8Array(bytes).set(src));
  const copyHuge = hugePagesAdvised() ? await best3(() => void largeBytes(bytes).set(src)) : NaN;
  const warm = new Uint8Array(bytes).fill(2);
  const copyWarm = await best3(() => warm.set(src));
  for (const c of [shell, iopub, dShell, dIopub, iShell, iIopub, lbTaskConn, lbIopub]) c.close();
  for (const p of [e.child, r.child, ...lbEngines.map((x) => x.child), lr.child]) await stop(p);
  Deno.removeSync(ipcPath.slice(0, ipcPath.lastIndexOf("/")), { recursive: true });
  return {
    call_relay: relayed.us,
    call_relay_cpu: relayed.cpu as [number, number, number],
    call_direct: direct.us,
    call_direct_ipc: directIpc.us,
    lb_relay: lb.us,
    lb_relay_cpu: [lb.cpu[0], lb.cpu[1], lb.cpu[2] + lb.cpu[3]],
    push_relay: push,
    pull_relay: pull,
    push_direct: pushDirect,
    pull_direct: pullDirect,
    push_direct_ipc: pushDirectIpc,
    pull_direct_ipc: pullDirectIpc,
    push_warm_ipc: warmIpc.push,
    pull_warm_ipc: warmIpc.pull,
    push_shm: shm.push,
    pull_shm: shm.pull,
    copy_fresh: copyFresh,
    copy_huge: copyHuge,
    copy_warm: copyWarm,
    bytes,
    scatter_gather: scatterGather,
    sg_bytes: sgBytes,
  };
}

/**
 * Best of three scatters and gathers of `total` bytes with two engines over Unix sockets, as
 * our client does them: half pushed to each engine at once (each reads into fresh memory),
 * then both halves pulled at once, read side by side into one array of fresh memory.
 */
async function sgFloor(total: number): Promise<number> {
  const half = Math.floor(total / 2);
  const dir = Deno.makeTempDirSync({ prefix: "ipp-floor-sg-" });
  const engines = ["a", "b"].map((x) => {
    const path = `${dir}/${x}.sock`;
    return { path, proc: spawn(["--role=bulkengine", `--bytes=${half}`, `--ipc=${path}`]) };
  });
  await Promise.all(engines.map((e) => e.proc.port));
  const conns = await Promise.all(engines.map((e) => connectIpc(e.path, "S")));
  const iopubs = await Promise.all(engines.map((e) => connectIpc(e.path, "I")));
  const readers = conns.map((c) => new Reader(c));
  const part = message(half, PUSH);
  try {
    return await best3(async () => {
      await Promise.all(conns.map(async (c, i) => {
        await writeAll(c, part);
        await readers[i].next();
      }));
      const joined = largeBytes(2 * half);
      await Promise.all(conns.map(async (c, i) => {
        await writeAll(c, message(1, PULL));
        await readers[i].next(joined.subarray(i * half, (i + 1) * half));
      }));
    });
  } finally {
    for (const c of [...conns, ...iopubs]) c.close();
    for (const e of engines) await stop(e.proc.child);
    Deno.removeSync(dir, { recursive: true });
  }
}

/**
 * Best of three pushes and pulls of `bytes` over `conn` (the engine's Unix socket), each side
 * reading into a buffer it has already touched; the engine keeps reading its bulk data so
 * afterwards.
 */
async function warmFloor(conn: Deno.Conn, bytes: number): Promise<{ push: number; pull: number }> {
  const reader = new Reader(conn);
  await writeAll(conn, message(1, WARM));
  await reader.next();
  const bulk = message(bytes, PUSH);
  const push = await best3(async () => {
    await writeAll(conn, bulk);
    await reader.next();
  });
  const place = new Uint8Array(bytes).fill(3);
  const pull = await best3(async () => {
    await writeAll(conn, message(1, PULL));
    await reader.next(place);
  });
  return { push, pull };
}

/** Best of three pushes and pulls of `bytes` through `/dev/shm` files, over `conn` to the engine. */
async function shmFloor(conn: Deno.Conn, bytes: number): Promise<{ push: number; pull: number }> {
  if (Deno.build.os !== "linux") throw new Error("floor: /dev/shm is Linux's");
  const reader = new Reader(conn);
  const body = new Uint8Array(bytes).fill(1);
  const push = await best3(async () => {
    const path = new TextEncoder().encode(writeShm(body));
    const m = message(1 + path.length, SHM_PUSH);
    m.set(path, 5);
    await writeAll(conn, m);
    await reader.next();
  });
  const pull = await best3(async () => {
    await writeAll(conn, message(1, SHM_PULL));
    const name = await reader.next();
    const got = mapShm(new TextDecoder().decode(name.subarray(1)), bytes);
    touch(got.view);
    got.unmap();
  });
  return { push, pull };
}

/** One line per figure, for the end of a bench report. */
export function floorLines(f: Floor): string[] {
  const us = (x: number) => `${x.toFixed(0)} µs`;
  const s = (x: number) => x >= 0.01 ? `${x.toFixed(3)} s` : `${(x * 1e6).toFixed(0)} µs`;
  const shm = (x: number) => Number.isNaN(x) ? "n/a" : s(x);
  const size = (x: number) =>
    x >= 1e6 ? `${(x / 1e6).toFixed(0)} MB` : x >= 1e3 ? `${(x / 1e3).toFixed(0)} kB` : `${x} B`;
  return [
    `direct call, through a byte-piping controller: ${us(f.call_relay)} (CPU per call: ` +
    `client ${us(f.call_relay_cpu[0])}, controller ${us(f.call_relay_cpu[1])}, engine ` +
    `${us(f.call_relay_cpu[2])}); ` +
    `client straight to engine: ${us(f.call_direct)}, over a Unix socket ${us(f.call_direct_ipc)}`,
    `load-balanced tasks through a relay to two engines: ${us(f.lb_relay)} per task ` +
    `(${(1e6 / f.lb_relay).toFixed(0)} tasks/s; CPU per task: client ${us(f.lb_relay_cpu[0])}, ` +
    `controller ${us(f.lb_relay_cpu[1])}, engines ${us(f.lb_relay_cpu[2])})`,
    `${size(f.bytes)} through it into fresh memory: push ${s(f.push_relay)}, pull ` +
    `${s(f.pull_relay)}; straight: push ${s(f.push_direct)}, pull ${s(f.pull_direct)}; ` +
    `over a Unix socket: push ${s(f.push_direct_ipc)}, pull ${s(f.pull_direct_ipc)}; ` +
    `over a Unix socket into memory already touched: push ${s(f.push_warm_ipc)}, pull ` +
    `${s(f.pull_warm_ipc)}; ` +
    `through /dev/shm, mapped: push ${shm(f.push_shm)}, pull ${shm(f.pull_shm)}; ` +
    `one in-process copy of it: fresh ${s(f.copy_fresh)}, fresh in huge pages ` +
    `${shm(f.copy_huge)}, warm ${s(f.copy_warm)}`,
    `scatter then gather of ${size(f.sg_bytes)} with two engines over Unix sockets (each ` +
    `half into fresh memory, gathered side by side into one fresh array): ` +
    `${s(f.scatter_gather)}`,
  ];
}

if (import.meta.main) {
  const bytes = Deno.args.find((a) => a.startsWith("--bytes="))?.split("=")[1];
  const f = await measureFloor(bytes === undefined ? {} : { bytes: Number(bytes) });
  for (const line of floorLines(f)) console.log(line);
  console.log(JSON.stringify(f));
}
