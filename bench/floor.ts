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

const SELF = new URL(import.meta.url).pathname;
const CHUNK = 256 * 1024;

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

/** Writes all of `b`. */
async function writeAll(c: Deno.Conn, b: Uint8Array): Promise<void> {
  for (let off = 0; off < b.length;) off += await c.write(b.subarray(off));
}

/** Reads length-prefixed messages (4-byte little-endian length, then the body) from a stream. */
class Reader {
  #conn: Deno.Conn;
  #buf = new Uint8Array(CHUNK);
  #start = 0;
  #end = 0;
  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }
  async #fill(): Promise<void> {
    if (this.#start === this.#end) this.#start = this.#end = 0;
    if (this.#end === this.#buf.length) {
      this.#buf.copyWithin(0, this.#start, this.#end);
      this.#end -= this.#start;
      this.#start = 0;
    }
    const n = await this.#conn.read(this.#buf.subarray(this.#end));
    if (n === null) throw new Error("floor: connection closed");
    this.#end += n;
  }
  /**
   * The next message body; one larger than the buffer is read into fresh memory, or into
   * `place` when it is the body's size (a gather's part, side by side with the others, or a
   * buffer kept warm for the warm figures).
   */
  async next(place?: Uint8Array): Promise<Uint8Array> {
    while (this.#end - this.#start < 4) await this.#fill();
    const b = this.#buf;
    const s = this.#start;
    const len = b[s] | (b[s + 1] << 8) | (b[s + 2] << 16) | (b[s + 3] << 24);
    this.#start += 4;
    if (len > b.length - 4) {
      const out = place?.length === len ? place : largeBytes(len);
      let got = Math.min(len, this.#end - this.#start);
      out.set(b.subarray(this.#start, this.#start + got));
      this.#start += got;
      while (got < len) {
        const n = await this.#conn.read(out.subarray(got));
        if (n === null) throw new Error("floor: connection closed");
        got += n;
      }
      return out;
    }
    while (this.#end - this.#start < len) await this.#fill();
    const body = b.subarray(this.#start, this.#start + len);
    this.#start += len;
    return body;
  }
}

/** Queues whole messages for one connection; what queues during a write goes in the next one. */
class Writer {
  #conn: Deno.Conn;
  /** Queued messages with their length prefixes; the other buffer is being written. */
  #buf = new Uint8Array(CHUNK);
  #spare = new Uint8Array(CHUNK);
  #len = 0;
  #busy = false;
  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }
  /** Copies one message in (its body; the length prefix is added) and starts a write if idle. */
  push(body: Uint8Array): void {
    const at = this.#len;
    const end = at + 4 + body.length;
    if (end > this.#buf.length) {
      const grown = new Uint8Array(Math.max(end, 2 * this.#buf.length));
      grown.set(this.#buf.subarray(0, at));
      this.#buf = grown;
    }
    new DataView(this.#buf.buffer).setUint32(at, body.length, true);
    this.#buf.set(body, at + 4);
    this.#len = end;
    if (!this.#busy) void this.#flush();
  }
  async #flush(): Promise<void> {
    this.#busy = true;
    try {
      while (this.#len > 0) {
        const out = this.#buf;
        const n = this.#len;
        // Swap: later pushes fill the buffer whose write has completed.
        this.#buf = this.#spare;
        this.#spare = out;
        this.#len = 0;
        await writeAll(this.#conn, out.subarray(0, n));
      }
    } catch {
      // the peer left: the run is over
    } finally {
      this.#busy = false;
    }
  }
}

/** Reads whole messages from `from` and hands each body to `to`, until the connection ends. */
async function forward(from: Deno.Conn, to: (body: Uint8Array) => void): Promise<void> {
  const r = new Reader(from);
  for (;;) {
    const m = await r.next().catch(() => null);
    if (m === null) return;
    to(m);
  }
}

/** What the engine does with a request, by its body's first byte. */
const CALL = 0x43; // "C": answer as a direct call (busy, reply, idle)
const PUSH = 0x55; // "U": bulk data pushed to the engine (answer with a short ack)
const PULL = 0x50; // "P": send the bulk message back
const SHM_PUSH = 0x4d; // "M": bulk data pushed through the /dev/shm file named by the rest
const SHM_PULL = 0x51; // "Q": write the bulk data into a new /dev/shm file, answer its name
const WARM = 0x57; // "W": from now on read bulk data into a kept, already-touched buffer; ack

/** The C library's calls that map a file, where FFI and a C library are there. */
function libc() {
  const lib = Deno.dlopen("libc.so.6", {
    open: { parameters: ["buffer", "i32"], result: "i32" },
    close: { parameters: ["i32"], result: "i32" },
    mmap: { parameters: ["pointer", "usize", "i32", "i32", "i32", "i64"], result: "pointer" },
    munmap: { parameters: ["pointer", "usize"], result: "i32" },
  });
  return lib.symbols;
}
let c: ReturnType<typeof libc> | undefined;

/**
 * Maps a whole `/dev/shm` file (pages populated) and removes its name: the receiver's end of
 * the shared-memory floor. The array is a view of the mapping; `unmap` releases it.
 */
function mapShm(path: string, size: number): { view: Uint8Array; unmap: () => void } {
  c ??= libc();
  const name = new TextEncoder().encode(path + "\0");
  const fd = c.open(name, 2 /* O_RDWR */);
  if (fd < 0) throw new Error(`floor: cannot open ${path}`);
  // PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE
  const p = c.mmap(null, BigInt(size), 3, 0x1 | 0x8000, fd, 0n);
  c.close(fd);
  Deno.removeSync(path);
  if (p === null || Deno.UnsafePointer.value(p) === 0xffffffffffffffffn) {
    throw new Error(`floor: cannot map ${path}`);
  }
  const view = new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(p, size));
  return { view, unmap: () => void c!.munmap(p, BigInt(size)) };
}

/** Writes `body` into a new `/dev/shm` file (the sender's end of the shared-memory floor). */
function writeShm(body: Uint8Array): string {
  const path = `/dev/shm/ipp-floor-${crypto.randomUUID()}`;
  const f = Deno.openSync(path, { write: true, createNew: true, mode: 0o600 });
  try {
    for (let off = 0; off < body.length;) off += f.writeSync(body.subarray(off));
  } finally {
    f.close();
  }
  return path;
}

/** Sums one byte per 4 KiB page: the receiver looks at what it got. */
function touch(view: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < view.length; i += 4096) sum += view[i];
  return sum;
}

/** A message of `size` bytes (at least 1) with its length prefix, its body starting with `kind`. */
function message(size: number, kind = 0x61): Uint8Array {
  const m = new Uint8Array(4 + size).fill(0x61);
  new DataView(m.buffer).setUint32(0, size, true);
  m[4] = kind;
  return m;
}

async function connect(port: number, hello: string): Promise<Deno.TcpConn> {
  const c = await Deno.connect({ hostname: "127.0.0.1", port });
  c.setNoDelay(true);
  await writeAll(c, new TextEncoder().encode(hello));
  return c;
}

async function connectIpc(path: string, hello: string): Promise<Deno.UnixConn> {
  const c = await Deno.connect({ transport: "unix", path });
  await writeAll(c, new TextEncoder().encode(hello));
  return c;
}

/** Accepts connections until every hello in `want` has one; returns them by hello. */
async function accept(
  l: Deno.Listener,
  want: string[],
): Promise<Map<string, Deno.Conn>> {
  const got = new Map<string, Deno.Conn>();
  while (got.size < want.length) {
    const c = await l.accept();
    if ("setNoDelay" in c) (c as Deno.TcpConn).setNoDelay(true);
    const h = new Uint8Array(1);
    if ((await c.read(h)) !== 1) throw new Error("floor: no hello");
    got.set(String.fromCharCode(h[0]), c);
  }
  return got;
}

/** Copies bytes from `a` to `b` as they come, through one reused chunk. */
async function pipe(a: Deno.Conn, b: Deno.Conn): Promise<void> {
  const chunk = new Uint8Array(CHUNK);
  for (;;) {
    const n = await a.read(chunk).catch(() => null);
    if (n === null) return;
    await writeAll(b, chunk.subarray(0, n));
  }
}

/** The controller's role: client shell ↔ engine shell, engine IOPub → client IOPub. */
async function relay(l: Deno.TcpListener): Promise<void> {
  const c = await accept(l, ["S", "I", "s", "i"]);
  await Promise.all([
    pipe(c.get("S")!, c.get("s")!),
    pipe(c.get("s")!, c.get("S")!),
    pipe(c.get("i")!, c.get("I")!),
  ]);
}

/** The engine's role: answers each request; a one-byte request `P` asks for the bulk message. */
async function engine(shell: Deno.Conn, iopub: Deno.Conn, bytes: number): Promise<void> {
  const busy = message(450);
  const reply = message(600);
  const idle = message(450);
  const ack = message(8);
  const bulk = message(bytes);
  const reader = new Reader(shell);
  let warm: Uint8Array | undefined;
  for (;;) {
    const req = await reader.next(warm).catch(() => null);
    if (req === null) return;
    if (req[0] === PULL) await writeAll(shell, bulk);
    else if (req[0] === WARM) {
      warm = new Uint8Array(bytes).fill(3);
      await writeAll(shell, ack);
    } else if (req[0] === PUSH) await writeAll(shell, ack);
    else if (req[0] === SHM_PUSH) {
      const got = mapShm(new TextDecoder().decode(req.subarray(1)), bytes);
      touch(got.view);
      await writeAll(shell, ack);
      got.unmap();
    } else if (req[0] === SHM_PULL) {
      const path = new TextEncoder().encode(writeShm(bulk.subarray(4)));
      const m = message(1 + path.length, SHM_PULL);
      m.set(path, 5);
      await writeAll(shell, m);
    } else {
      await writeAll(iopub, busy);
      await writeAll(shell, reply);
      await writeAll(iopub, idle);
    }
  }
}

/**
 * The controller's role for load balancing: requests from the client's task connection are
 * dealt to the two engines in turn; replies and IOPub messages go back to the client.
 */
async function lbRelay(l: Deno.TcpListener): Promise<void> {
  const c = await accept(l, ["T", "J", "a", "A", "b", "B"]);
  const replies = new Writer(c.get("T")!);
  const iopub = new Writer(c.get("J")!);
  const engines = [new Writer(c.get("a")!), new Writer(c.get("b")!)];
  let next = 0;
  await Promise.all([
    forward(c.get("T")!, (m) => {
      engines[next].push(m);
      next ^= 1;
    }),
    forward(c.get("a")!, (m) => replies.push(m)),
    forward(c.get("b")!, (m) => replies.push(m)),
    forward(c.get("A")!, (m) => iopub.push(m)),
    forward(c.get("B")!, (m) => iopub.push(m)),
  ]);
}

/** A load-balanced engine: `busy`, reply and `idle` for each request, queued as it answers. */
async function lbEngine(shell: Deno.Conn, iopub: Deno.Conn): Promise<void> {
  const busy = message(450).subarray(4);
  const reply = message(600).subarray(4);
  const idle = message(450).subarray(4);
  const shellOut = new Writer(shell);
  const iopubOut = new Writer(iopub);
  await forward(shell, () => {
    iopubOut.push(busy);
    shellOut.push(reply);
    iopubOut.push(idle);
  });
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
    args: ["run", "-A", "--quiet", SELF, ...args],
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

async function child(
  role: string,
  relayPort: number,
  bytes: number,
  hello?: string,
  ipc?: string,
): Promise<void> {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  // The Unix socket exists before the port is printed: the parent connects once it reads it.
  const ul = ipc === undefined ? undefined : Deno.listen({ transport: "unix", path: ipc });
  console.log((l.addr as Deno.NetAddr).port);
  if (role === "relay") return await relay(l);
  if (role === "lbrelay") return await lbRelay(l);
  if (role === "bulkengine") {
    // Scatter/gather's engines: a Unix socket only.
    const u = await accept(ul!, ["S", "I"]);
    return await engine(u.get("S")!, u.get("I")!, bytes);
  }
  if (role === "lbengine") {
    const h = hello ?? "aA";
    return await lbEngine(await connect(relayPort, h[0]), await connect(relayPort, h[1]));
  }
  const shell = await connect(relayPort, "s");
  const iopub = await connect(relayPort, "i");
  const direct = accept(l, ["S", "I"]);
  const overIpc = ul === undefined ? undefined : accept(ul, ["S", "I"]);
  const done = engine(shell, iopub, bytes);
  const d = await direct;
  const served = [done, engine(d.get("S")!, d.get("I")!, bytes)];
  const u = await overIpc;
  if (u !== undefined) served.push(engine(u.get("S")!, u.get("I")!, bytes));
  await Promise.all(served);
}

if (import.meta.main) {
  const arg = (k: string) => Deno.args.find((a) => a.startsWith(`--${k}=`))?.split("=")[1];
  const role = arg("role");
  if (role) {
    await child(
      role,
      Number(arg("relay") ?? 0),
      Number(arg("bytes") ?? 0),
      arg("hello"),
      arg("ipc"),
    );
  } else {
    const bytes = arg("bytes");
    const f = await measureFloor(bytes === undefined ? {} : { bytes: Number(bytes) });
    for (const line of floorLines(f)) console.log(line);
    console.log(JSON.stringify(f));
  }
}
