/**
 * The floor's wire (`bench/floor.ts`): length-prefixed messages over Deno connections, the request
 * kinds its engines answer, and the `/dev/shm` ends of the shared-memory figures. Nothing here
 * parses more than a length prefix and a first byte.
 *
 * @module
 */

import { largeBytes } from "../../src/zmtp/large_bytes.ts";

/** The size of a reader's buffer and of a pipe's chunk. */
export const CHUNK = 256 * 1024;

/** Writes all of `b`. */
export async function writeAll(c: Deno.Conn, b: Uint8Array): Promise<void> {
  for (let off = 0; off < b.length;) off += await c.write(b.subarray(off));
}

/** Reads length-prefixed messages (4-byte little-endian length, then the body) from a stream. */
export class Reader {
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
export class Writer {
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
export async function forward(from: Deno.Conn, to: (body: Uint8Array) => void): Promise<void> {
  const r = new Reader(from);
  for (;;) {
    const m = await r.next().catch(() => null);
    if (m === null) return;
    to(m);
  }
}

/** What the engine does with a request, by its body's first byte. */
export const CALL = 0x43; // "C": answer as a direct call (busy, reply, idle)
export const PUSH = 0x55; // "U": bulk data pushed to the engine (answer with a short ack)
export const PULL = 0x50; // "P": send the bulk message back
export const SHM_PUSH = 0x4d; // "M": bulk data pushed through the /dev/shm file named by the rest
export const SHM_PULL = 0x51; // "Q": write the bulk data into a new /dev/shm file, answer its name
export const WARM = 0x57; // "W": from now on read bulk data into a kept, already-touched buffer; ack

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
export function mapShm(path: string, size: number): { view: Uint8Array; unmap: () => void } {
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
export function writeShm(body: Uint8Array): string {
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
export function touch(view: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < view.length; i += 4096) sum += view[i];
  return sum;
}

/** A message of `size` bytes (at least 1) with its length prefix, its body starting with `kind`. */
export function message(size: number, kind = 0x61): Uint8Array {
  const m = new Uint8Array(4 + size).fill(0x61);
  new DataView(m.buffer).setUint32(0, size, true);
  m[4] = kind;
  return m;
}

/** Connects to a role's TCP port (no Nagle delay) and says which connection this is. */
export async function connect(port: number, hello: string): Promise<Deno.TcpConn> {
  const c = await Deno.connect({ hostname: "127.0.0.1", port });
  c.setNoDelay(true);
  await writeAll(c, new TextEncoder().encode(hello));
  return c;
}

/** Connects to a role's Unix socket and says which connection this is. */
export async function connectIpc(path: string, hello: string): Promise<Deno.UnixConn> {
  const c = await Deno.connect({ transport: "unix", path });
  await writeAll(c, new TextEncoder().encode(hello));
  return c;
}

/** Accepts connections until every hello in `want` has one; returns them by hello. */
export async function accept(
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
export async function pipe(a: Deno.Conn, b: Deno.Conn): Promise<void> {
  const chunk = new Uint8Array(CHUNK);
  for (;;) {
    const n = await a.read(chunk).catch(() => null);
    if (n === null) return;
    await writeAll(b, chunk.subarray(0, n));
  }
}
