/**
 * Split IPC (`ipcs://path`): one ZMTP connection carried by two Unix sockets, one per direction,
 * each written through the C library by FFI and read through Deno.
 *
 * Why: Deno watches every socket it opens for both reading and writing (`EPOLLIN | EPOLLOUT`),
 * and Linux wakes the watcher of a Unix socket's sending end each time the receiver frees what
 * was sent (`unix_write_space`). In a request/reply ping-pong each side is then woken once for
 * nothing per message, by the peer's read, which pays for waking it (BENCHMARKS.md, twenty-third
 * round). A socket that is written by FFI is watched by nobody, so nothing is woken; and a write
 * by FFI happens at once, in the turn that queued it, not when the event loop next polls.
 *
 * Layout, for a socket bound at `path` (write path: {@link splitWritePath}):
 * - `path`: a Deno listener; the dialer's write socket connects here, and the listener side
 *   reads it through Deno;
 * - the write path: a listener made by FFI; the dialer connects to it through Deno (and reads
 *   it), and the listener side writes it by FFI.
 *
 * The dialer sends the same 16 random bytes first on both; the listener pairs the two sockets
 * by them (within {@link PAIR_TIMEOUT_MS}) and hands the pair on as one connection.
 *
 * Linux only, and only with the FFI permission: {@link splitIpcAvailable} says whether both
 * hold (it never prompts). `IPP_SPLIT_IPC=0` in the environment turns it off.
 *
 * @module
 */

const AF_UNIX = 1;
const SOCK_STREAM = 1;
const SOCK_CLOEXEC = 0x80000;
const MSG_DONTWAIT = 0x40;
const MSG_NOSIGNAL = 0x4000;
const MSG_WAITALL = 0x100;
const SHUT_WR = 1;
const SHUT_RDWR = 2;
const SOL_SOCKET = 1;
const SO_RCVTIMEO = 20;
const EAGAIN = 11;
const EINTR = 4;
/** Bytes of the pairing token. */
const TOKEN = 16;
/** How long the listener keeps one half of a pair waiting for the other. */
export const PAIR_TIMEOUT_MS = 5_000;
/** `struct timeval` of {@link PAIR_TIMEOUT_MS}, for `SO_RCVTIMEO`. */
const RCV_TIMEOUT = new Uint8Array(new BigInt64Array([BigInt(PAIR_TIMEOUT_MS / 1000), 0n]).buffer);

const SYMBOLS = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  listen: { parameters: ["i32", "i32"], result: "i32" },
  accept4: { parameters: ["i32", "pointer", "pointer", "i32"], result: "i32", nonblocking: true },
  send: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  sendWait: {
    name: "send",
    parameters: ["i32", "buffer", "usize", "i32"],
    result: "isize",
    nonblocking: true,
  },
  recvWait: {
    name: "recv",
    parameters: ["i32", "buffer", "usize", "i32"],
    result: "isize",
    nonblocking: true,
  },
  shutdown: { parameters: ["i32", "i32"], result: "i32" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

type Libc = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];
let libc: Libc | null | undefined;

/** The C library's functions, or null (not Linux, no FFI permission, not loadable). */
function lib(): Libc | null {
  if (libc !== undefined) return libc;
  libc = null;
  if (Deno.build.os !== "linux") return libc;
  try {
    const env = Deno.permissions.querySync({ name: "env", variable: "IPP_SPLIT_IPC" });
    if (env.state === "granted" && Deno.env.get("IPP_SPLIT_IPC") === "0") return libc;
    if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") return libc;
    libc = Deno.dlopen("libc.so.6", SYMBOLS).symbols;
  } catch {
    libc = null;
  }
  return libc;
}

/**
 * The companion path of a split IPC listener at `path`: `x.sock` → `x.w.sock`, else `path.w`.
 * @param path The listener's (read) path.
 */
export function splitWritePath(path: string): string {
  return path.endsWith(".sock") ? `${path.slice(0, -5)}.w.sock` : `${path}.w`;
}

/** Whether this process can use split IPC. */
export function splitIpcAvailable(): boolean {
  return lib() !== null;
}

function errno(c: Libc): number {
  const p = c.__errno_location();
  return p === null ? 0 : new Deno.UnsafePointerView(p).getInt32();
}

function sockaddr(path: string): Uint8Array {
  const bytes = new TextEncoder().encode(path);
  if (bytes.length >= 108) throw new RangeError(`Unix socket path too long: ${path}`);
  const addr = new Uint8Array(2 + bytes.length + 1);
  addr[0] = AF_UNIX; // sa_family, little-endian u16
  addr.set(bytes, 2);
  return addr;
}

function fail(c: Libc, what: string, path: string): never {
  const e = errno(c);
  throw new Deno.errors.ConnectionRefused(`${what} ${path}: errno ${e}`);
}

/**
 * One direction read through Deno, the other written by FFI: what `Connection` needs of a
 * `Deno.Conn` (read, write, close, addresses).
 */
export class SplitConn {
  #fd: number;
  #closing = false;
  #waiting: Promise<unknown> | null = null;
  readonly #reader: Deno.Conn;
  readonly #c: Libc;
  /** The peer, as an endpoint path. */
  readonly remoteAddr: Deno.UnixAddr;
  /** This side. */
  readonly localAddr: Deno.UnixAddr;

  /**
   * @param reader The socket this side reads.
   * @param fd The socket this side writes (closed with the connection).
   * @param path The endpoint's path, for messages.
   */
  constructor(reader: Deno.Conn, fd: number, path: string) {
    this.#reader = reader;
    this.#fd = fd;
    this.#c = lib()!;
    this.remoteAddr = { transport: "unix", path };
    this.localAddr = { transport: "unix", path: "" };
  }

  /** Reads what the peer wrote. */
  read(p: Uint8Array): Promise<number | null> {
    return this.#reader.read(p);
  }

  /**
   * Writes at once when the socket has room; otherwise waits for room on a thread of Deno's
   * blocking pool (large frames), which sends all of `p`.
   */
  async write(p: Uint8Array): Promise<number> {
    const c = this.#c;
    if (this.#closing) throw new Deno.errors.BadResource("connection closed");
    for (;;) {
      const n = Number(c.send(this.#fd, p, BigInt(p.length), MSG_DONTWAIT | MSG_NOSIGNAL));
      if (n >= 0) {
        if (n > 0 || p.length === 0) return n;
      } else {
        const e = errno(c);
        if (e === EINTR) continue;
        if (e !== EAGAIN) throw new Deno.errors.BrokenPipe(`send: errno ${e}`);
      }
      break;
    }
    // The fd stays open until this returns (see close): a pool thread must never send into a
    // number the process has since reused.
    const wait = c.sendWait(this.#fd, p, BigInt(p.length), MSG_NOSIGNAL);
    this.#waiting = wait;
    let n: number;
    try {
      n = Number(await wait);
    } finally {
      this.#waiting = null;
      if (this.#closing) this.#release();
    }
    if (n < 0) throw new Deno.errors.BrokenPipe("send failed");
    return n;
  }

  /** Closes both sockets (a write waiting for room fails). Idempotent. */
  close(): void {
    if (this.#closing) return;
    this.#closing = true;
    this.#c.shutdown(this.#fd, SHUT_WR); // wakes a send blocked on a pool thread
    if (this.#waiting === null) this.#release();
    try {
      this.#reader.close();
    } catch {
      // already closed
    }
  }

  #release(): void {
    if (this.#fd < 0) return;
    this.#c.close(this.#fd);
    this.#fd = -1;
  }
}

/**
 * Dials a split IPC endpoint.
 * @param path The listener's path (its {@link splitWritePath} must exist too).
 * @returns The connection.
 */
export async function dialSplit(path: string): Promise<SplitConn> {
  const c = lib();
  if (c === null) throw new Deno.errors.NotSupported("split IPC needs Linux and --allow-ffi");
  const token = crypto.getRandomValues(new Uint8Array(TOKEN));
  const reader = await Deno.connect({ transport: "unix", path: splitWritePath(path) });
  let fd = -1;
  try {
    let off = 0;
    while (off < TOKEN) off += await reader.write(token.subarray(off));
    fd = c.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) fail(c, "socket", path);
    const addr = sockaddr(path);
    if (c.connect(fd, addr, addr.length) !== 0) fail(c, "connect", path);
    // An empty new socket always has room for 16 bytes.
    if (Number(c.send(fd, token, BigInt(TOKEN), MSG_DONTWAIT | MSG_NOSIGNAL)) !== TOKEN) {
      fail(c, "send", path);
    }
    return new SplitConn(reader, fd, path);
  } catch (e) {
    reader.close();
    if (fd >= 0) c.close(fd);
    throw e;
  }
}

function key(token: Uint8Array): string {
  return String.fromCharCode(...token);
}

/** A split IPC listener: pairs what arrives at its two paths. */
export class SplitListener {
  readonly #c: Libc;
  readonly #reads: Deno.Listener;
  #wfd: number;
  readonly #path: string;
  readonly #waiting = new Map<string, { reader?: Deno.Conn; fd?: number; at: number }>();
  readonly #ready: SplitConn[] = [];
  #wake: (() => void) | null = null;
  #closed = false;

  /**
   * Listens at `path` and its {@link splitWritePath} (stale files there are replaced).
   * @param path The socket path.
   * @throws When either cannot be bound.
   */
  constructor(path: string) {
    const c = lib();
    if (c === null) throw new Deno.errors.NotSupported("split IPC needs Linux and --allow-ffi");
    this.#c = c;
    this.#path = path;
    for (const p of this.paths) {
      try {
        Deno.removeSync(p);
      } catch {
        // nothing to remove
      }
    }
    this.#reads = Deno.listen({ transport: "unix", path });
    const fd = c.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const addr = sockaddr(splitWritePath(path));
    if (fd < 0 || c.bind(fd, addr, addr.length) !== 0 || c.listen(fd, 64) !== 0) {
      const e = errno(c);
      if (fd >= 0) c.close(fd);
      this.#reads.close();
      throw new Deno.errors.AddrInUse(`cannot listen at ${splitWritePath(path)}: errno ${e}`);
    }
    this.#wfd = fd;
    void this.#acceptReads();
    void this.#acceptWrites();
  }

  /** The listener's address (its read path). */
  get addr(): Deno.UnixAddr {
    return { transport: "unix", path: this.#path };
  }

  /** The paths to remove when done. */
  get paths(): string[] {
    return [this.#path, splitWritePath(this.#path)];
  }

  /** The next paired connection. */
  async accept(): Promise<SplitConn> {
    for (;;) {
      const next = this.#ready.shift();
      if (next !== undefined) return next;
      if (this.#closed) throw new Deno.errors.BadResource("listener closed");
      await new Promise<void>((r) => this.#wake = r);
    }
  }

  /** Stops both listeners and drops unpaired halves. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#reads.close();
    // Wakes the pending accept; its loop closes the descriptor once no pool thread uses it.
    this.#c.shutdown(this.#wfd, SHUT_RDWR);
    for (const w of this.#waiting.values()) this.#drop(w);
    this.#waiting.clear();
    for (const conn of this.#ready.splice(0)) conn.close();
    this.#wake?.();
  }

  #drop(w: { reader?: Deno.Conn; fd?: number }): void {
    try {
      w.reader?.close();
    } catch {
      // closed
    }
    if (w.fd !== undefined) this.#c.close(w.fd);
  }

  #half(token: Uint8Array, half: { reader?: Deno.Conn; fd?: number }): void {
    if (this.#closed) return this.#drop(half);
    const now = Date.now();
    for (const [k, w] of this.#waiting) {
      if (now - w.at > PAIR_TIMEOUT_MS) {
        this.#waiting.delete(k);
        this.#drop(w);
      }
    }
    const k = key(token);
    const w = this.#waiting.get(k) ?? { at: now };
    if (half.reader !== undefined) {
      if (w.reader !== undefined) return this.#drop(half); // a replayed token
      w.reader = half.reader;
    }
    if (half.fd !== undefined) {
      if (w.fd !== undefined) return this.#drop(half);
      w.fd = half.fd;
    }
    if (w.reader === undefined || w.fd === undefined) {
      this.#waiting.set(k, w);
      return;
    }
    this.#waiting.delete(k);
    this.#ready.push(new SplitConn(w.reader, w.fd, this.#path));
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  async #acceptReads(): Promise<void> {
    for (;;) {
      let conn: Deno.Conn;
      try {
        conn = await this.#reads.accept();
      } catch {
        if (this.#closed) return;
        await new Promise((r) => setTimeout(r, 10));
        continue;
      }
      void this.#readToken(conn);
    }
  }

  async #readToken(conn: Deno.Conn): Promise<void> {
    const token = new Uint8Array(TOKEN);
    let off = 0;
    const timer = setTimeout(() => conn.close(), PAIR_TIMEOUT_MS);
    try {
      // Reads of at most what is missing: nothing after the token is consumed here.
      while (off < TOKEN) {
        const n = await conn.read(token.subarray(off));
        if (n === null) throw new Error("closed before its token");
        off += n;
      }
    } catch {
      clearTimeout(timer);
      try {
        conn.close();
      } catch {
        // closed
      }
      return;
    }
    clearTimeout(timer);
    this.#half(token, { reader: conn });
  }

  async #acceptWrites(): Promise<void> {
    const c = this.#c;
    while (!this.#closed) {
      const fd = await c.accept4(this.#wfd, null, null, SOCK_CLOEXEC);
      if (fd < 0) {
        if (this.#closed) break;
        await new Promise((r) => setTimeout(r, 10));
        continue;
      }
      // A dialer that never sends its token must not hold a pool thread for ever.
      c.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, RCV_TIMEOUT, RCV_TIMEOUT.length);
      void (async () => {
        const token = new Uint8Array(TOKEN);
        const n = Number(await c.recvWait(fd, token, BigInt(TOKEN), MSG_WAITALL));
        if (n !== TOKEN) return void c.close(fd);
        this.#half(token, { fd });
      })();
    }
    c.close(this.#wfd);
    this.#wfd = -1;
  }
}
