/**
 * Split IPC (`ipcs://path`): one ZMTP connection carried by two Unix sockets, one per direction,
 * each read and written through the C library by FFI.
 *
 * Why: Deno watches every socket it opens for both reading and writing (`EPOLLIN | EPOLLOUT`),
 * and Linux wakes the watcher of a Unix socket's sending end each time the receiver frees what
 * was sent (`unix_write_space`). In a request/reply ping-pong each side is then woken once for
 * nothing per message, by the peer's read, which pays for waking it (BENCHMARKS.md, twenty-third
 * round). A socket that is written by FFI is watched by nobody, so nothing is woken; and a write
 * by FFI happens at once, in the turn that queued it, not when the event loop next polls. Reads
 * by FFI can poll for a moment before they sleep (`spin_wait.ts`), which saves the wake-up when
 * the peer answers quickly (twenty-seventh round).
 *
 * Layout, for a socket bound at `path` (write path: {@link splitWritePath}):
 * - `path`: the dialer's write socket connects here, and the listener side reads it;
 * - the write path: the dialer's read socket connects here, and the listener side writes it.
 *
 * The dialer sends the same 16 random bytes first on both; the listener pairs the two sockets
 * by them (within {@link PAIR_TIMEOUT_MS}) and hands the pair on as one connection.
 *
 * Linux only, and only with the FFI permission and polling (two CPUs or more, `IPP_SPIN_US` not
 * 0): a read that sleeps on a pool thread costs two wake-ups, so without polling plain IPC is
 * faster (a ping-pong took 147–182 µs per round trip over split IPC without polling, 53–59 over
 * plain IPC and 34–36 over split IPC with it). {@link splitIpcAvailable} says whether all hold
 * (it never prompts). `IPP_SPLIT_IPC=0` in the environment turns it off.
 *
 * @module
 */

import { spinBudgetMicros, SpinWait } from "./spin_wait.ts";

const AF_UNIX = 1;
const SOCK_STREAM = 1;
const SOCK_CLOEXEC = 0x80000;
const MSG_DONTWAIT = 0x40;
const MSG_NOSIGNAL = 0x4000;
const MSG_WAITALL = 0x100;
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
/** No `SO_RCVTIMEO`: a read waits as long as it takes. */
const NO_TIMEOUT = new Uint8Array(16);
/** What a non-blocking receive returns when nothing has arrived. */
const NOTHING = -1;
/** Reads in a row that may take what has arrived without a turn of the event loop. */
const STREAK = 32;

const SYMBOLS = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  listen: { parameters: ["i32", "i32"], result: "i32" },
  accept4: { parameters: ["i32", "pointer", "pointer", "i32"], result: "i32", nonblocking: true },
  send: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  recv: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
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

/** The C library's functions, or null (not Linux, no FFI permission, no polling, not loadable). */
function lib(): Libc | null {
  if (libc !== undefined) return libc;
  libc = null;
  if (Deno.build.os !== "linux") return libc;
  try {
    const env = Deno.permissions.querySync({ name: "env", variable: "IPP_SPLIT_IPC" });
    if (env.state === "granted" && Deno.env.get("IPP_SPLIT_IPC") === "0") return libc;
    if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") return libc;
    if (spinBudgetMicros() === 0) return libc;
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
 * Two Unix sockets, one read and one written, both through the C library by FFI: what
 * `Connection` needs of a `Deno.Conn` (read, write, close, addresses).
 *
 * A read takes what has arrived at once. When nothing has, it waits for a turn of the event
 * loop of its own (`setImmediate`); then, if this side has written since it last read (an answer
 * may be on its way) or a frame or message is half read, it polls for a moment (`spin_wait.ts`),
 * and if still nothing has come it sleeps on a thread of Deno's blocking pool until bytes come.
 * Every {@link STREAK}th read in a row takes that turn too, so the event loop runs while a large
 * frame streams in.
 */
export class SplitConn {
  #rfd: number;
  #wfd: number;
  #closing = false;
  /** Calls in progress on pool threads (a send, a receive): the fds stay open until they end. */
  #inPool = 0;
  #streak = 0;
  /** Whether this side has written since it last read: an answer may be on its way. */
  #due = false;
  /**
   * This thread's connections with an answer due. Polling one while others wait would keep a
   * CPU from the peers it waits for (a broadcast to 16 engines on 2 CPUs), so only a single one
   * polls.
   */
  static #dueCount = 0;
  readonly #spin: SpinWait;
  readonly #c: Libc;
  /** The peer, as an endpoint path. */
  readonly remoteAddr: Deno.UnixAddr;
  /** This side. */
  readonly localAddr: Deno.UnixAddr;

  /**
   * @param rfd The socket this side reads.
   * @param wfd The socket this side writes (both are closed with the connection).
   * @param path The endpoint's path, for messages.
   */
  constructor(rfd: number, wfd: number, path: string) {
    this.#rfd = rfd;
    this.#wfd = wfd;
    this.#c = lib()!;
    this.#spin = new SpinWait(spinBudgetMicros());
    this.remoteAddr = { transport: "unix", path };
    this.localAddr = { transport: "unix", path: "" };
  }

  /**
   * Reads what the peer wrote into `p`.
   * @param p Where to.
   * @param more Whether more bytes are due (a frame or message is half read): worth a poll.
   * @returns The byte count, or `null` at the end of the stream (or once closed).
   */
  read(p: Uint8Array, more = false): Promise<number | null> {
    if (this.#closing) return Promise.resolve(null);
    if (p.length === 0) return Promise.resolve(0);
    if (this.#streak < STREAK) {
      const n = this.#recvNow(p);
      if (n !== NOTHING) {
        this.#streak++;
        this.#answered();
        return Promise.resolve(orEnd(n));
      }
    }
    // Nothing yet (or a long streak, which owes the event loop a turn). Decide in a turn of its
    // own, once this one's work is done: it may write what the peer will answer, and only such
    // an answer, or the rest of what is half read, is worth a poll.
    return this.#pollSoon(p, more);
  }

  /**
   * In a turn of its own (`setImmediate`): polls for up to the budget when more bytes are due,
   * or when this side has written since it last read and no other connection of this thread
   * awaits an answer; then sleeps if nothing came.
   */
  #pollSoon(p: Uint8Array, more: boolean): Promise<number | null> {
    return new Promise((resolve, reject) => {
      setImmediate(() => {
        try {
          if (this.#closing) return resolve(null);
          this.#streak = 0;
          let n = NOTHING;
          const due = more || (this.#due && SplitConn.#dueCount === 1);
          if (due && this.#spin.poll()) {
            const end = performance.now() + this.#spin.budgetMs;
            do n = this.#recvNow(p); while (n === NOTHING && performance.now() < end);
            this.#spin.polled(n !== NOTHING);
          } else {
            n = this.#recvNow(p);
          }
          if (n === NOTHING) return resolve(this.#recvWait(p));
          this.#streak = 1;
          this.#answered();
          resolve(orEnd(n));
        } catch (e) {
          reject(e);
        }
      });
    });
  }

  /** Bytes came: no answer is due any more. */
  #answered(): void {
    if (!this.#due) return;
    this.#due = false;
    SplitConn.#dueCount--;
  }

  /** A non-blocking receive: bytes read, 0 at the end of the stream, or {@link NOTHING}. */
  #recvNow(p: Uint8Array): number {
    const c = this.#c;
    for (;;) {
      const n = Number(c.recv(this.#rfd, p, BigInt(p.length), MSG_DONTWAIT));
      if (n >= 0) return n;
      const e = errno(c);
      if (e === EAGAIN) return NOTHING;
      if (e !== EINTR) throw new Deno.errors.ConnectionReset(`recv: errno ${e}`);
    }
  }

  /** A receive that sleeps on a pool thread until bytes come. */
  async #recvWait(p: Uint8Array): Promise<number | null> {
    for (;;) {
      const t = performance.now();
      let n = await this.#pooled(this.#c.recvWait(this.#rfd, p, BigInt(p.length), 0));
      if (this.#closing) return null;
      this.#spin.slept(performance.now() - t);
      this.#answered();
      if (n >= 0) return orEnd(n);
      // It failed on the pool thread, whose errno this one cannot see: ask the socket here.
      n = this.#recvNow(p);
      if (n !== NOTHING) return orEnd(n);
    }
  }

  /**
   * Writes at once when the socket has room; otherwise waits for room on a thread of Deno's
   * blocking pool (large frames), which sends all of `p`.
   */
  async write(p: Uint8Array): Promise<number> {
    const c = this.#c;
    if (this.#closing) throw new Deno.errors.BadResource("connection closed");
    if (!this.#due) {
      this.#due = true;
      SplitConn.#dueCount++;
    }
    for (;;) {
      const n = Number(c.send(this.#wfd, p, BigInt(p.length), MSG_DONTWAIT | MSG_NOSIGNAL));
      if (n >= 0) {
        if (n > 0 || p.length === 0) return n;
      } else {
        const e = errno(c);
        if (e === EINTR) continue;
        if (e !== EAGAIN) throw new Deno.errors.BrokenPipe(`send: errno ${e}`);
      }
      break;
    }
    const n = await this.#pooled(c.sendWait(this.#wfd, p, BigInt(p.length), MSG_NOSIGNAL));
    if (n < 0) throw new Deno.errors.BrokenPipe("send failed");
    return n;
  }

  /** Closes both sockets (a write waiting for room fails, a read waiting ends). Idempotent. */
  close(): void {
    if (this.#closing) return;
    this.#closing = true;
    this.#answered();
    // Wakes a send or a receive blocked on a pool thread; the peer reads the end of the stream.
    this.#c.shutdown(this.#wfd, SHUT_RDWR);
    this.#c.shutdown(this.#rfd, SHUT_RDWR);
    this.#release();
  }

  /** The result of a call on a pool thread, counted in {@link #inPool} while it runs. */
  async #pooled(call: Promise<number | bigint>): Promise<number> {
    this.#inPool++;
    try {
      return Number(await call);
    } finally {
      this.#inPool--;
      if (this.#closing) this.#release();
    }
  }

  /** Closes the fds once no pool thread uses them: it must never touch a number since reused. */
  #release(): void {
    if (this.#rfd < 0 || this.#inPool > 0) return;
    this.#c.close(this.#rfd);
    this.#c.close(this.#wfd);
    this.#rfd = this.#wfd = -1;
  }
}

/** A socket of this process connected to `path`, or an error saying why not. */
function connectTo(c: Libc, path: string): number {
  const fd = c.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail(c, "socket", path);
  const addr = sockaddr(path);
  if (c.connect(fd, addr, addr.length) !== 0) {
    const e = errno(c);
    c.close(fd);
    throw new Deno.errors.ConnectionRefused(`connect ${path}: errno ${e}`);
  }
  return fd;
}

/**
 * Dials a split IPC endpoint.
 * @param path The listener's path (its {@link splitWritePath} must exist too).
 * @returns The connection.
 */
export function dialSplit(path: string): Promise<SplitConn> {
  const c = lib();
  if (c === null) {
    return Promise.reject(new Deno.errors.NotSupported("split IPC needs Linux and --allow-ffi"));
  }
  const token = crypto.getRandomValues(new Uint8Array(TOKEN));
  const fds: number[] = [];
  try {
    // This side reads what the listener writes at its write path, and writes to its path.
    for (const p of [splitWritePath(path), path]) {
      const fd = connectTo(c, p);
      fds.push(fd);
      // An empty new socket always has room for 16 bytes.
      if (Number(c.send(fd, token, BigInt(TOKEN), MSG_DONTWAIT | MSG_NOSIGNAL)) !== TOKEN) {
        fail(c, "send", p);
      }
    }
    return Promise.resolve(new SplitConn(fds[0], fds[1], path));
  } catch (e) {
    for (const fd of fds) c.close(fd);
    return Promise.reject(e);
  }
}

/** A byte count, or `null` for 0: the end of the stream. */
function orEnd(n: number): number | null {
  return n === 0 ? null : n;
}

function key(token: Uint8Array): string {
  return String.fromCharCode(...token);
}

/** One half of a pair: the socket the listener side reads, or the one it writes. */
type Half = { rfd?: number; wfd?: number };

/** A split IPC listener: pairs what arrives at its two paths. */
export class SplitListener {
  readonly #c: Libc;
  /** Listening sockets at the path (the dialer's writes come here) and at the write path. */
  #listenFds: number[] = [];
  readonly #path: string;
  readonly #waiting = new Map<string, Half & { at: number }>();
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
    for (const p of this.paths) {
      const fd = c.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      const addr = sockaddr(p);
      if (fd < 0 || c.bind(fd, addr, addr.length) !== 0 || c.listen(fd, 64) !== 0) {
        const e = errno(c);
        if (fd >= 0) c.close(fd);
        for (const open of this.#listenFds) c.close(open);
        throw new Deno.errors.AddrInUse(`cannot listen at ${p}: errno ${e}`);
      }
      this.#listenFds.push(fd);
    }
    void this.#accept(this.#listenFds[0], "rfd");
    void this.#accept(this.#listenFds[1], "wfd");
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
    // Wakes the pending accepts; their loops close the descriptors once no pool thread uses them.
    for (const fd of this.#listenFds) this.#c.shutdown(fd, SHUT_RDWR);
    for (const w of this.#waiting.values()) this.#drop(w);
    this.#waiting.clear();
    for (const conn of this.#ready.splice(0)) conn.close();
    this.#wake?.();
  }

  #drop(w: Half): void {
    for (const fd of [w.rfd, w.wfd]) if (fd !== undefined) this.#c.close(fd);
  }

  #half(token: Uint8Array, half: Half): void {
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
    for (const side of ["rfd", "wfd"] as const) {
      const fd = half[side];
      if (fd === undefined) continue;
      if (w[side] !== undefined) return this.#drop(half); // a replayed token
      w[side] = fd;
    }
    if (w.rfd === undefined || w.wfd === undefined) {
      this.#waiting.set(k, w);
      return;
    }
    this.#waiting.delete(k);
    this.#ready.push(new SplitConn(w.rfd, w.wfd, this.#path));
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  /** Accepts at one path until closed; each socket becomes `side` of the pair its token names. */
  async #accept(listenFd: number, side: keyof Half): Promise<void> {
    const c = this.#c;
    while (!this.#closed) {
      const fd = await c.accept4(listenFd, null, null, SOCK_CLOEXEC);
      if (fd < 0) {
        if (this.#closed) break;
        await new Promise((r) => setTimeout(r, 10));
        continue;
      }
      // A dialer that never sends its token must not hold a pool thread for ever.
      c.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, RCV_TIMEOUT, RCV_TIMEOUT.length);
      void (async () => {
        const token = new Uint8Array(TOKEN);
        // Exactly the token: nothing after it is consumed here.
        const n = Number(await c.recvWait(fd, token, BigInt(TOKEN), MSG_WAITALL));
        if (n !== TOKEN) return void c.close(fd);
        // From now on a read waits as long as it takes.
        c.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, NO_TIMEOUT, NO_TIMEOUT.length);
        this.#half(token, { [side]: fd });
      })();
    }
    c.close(listenFd);
  }
}
