/**
 * Helpers for the ZMTP tests: a pyzmq peer process launcher, deadlines, byte helpers.
 *
 * @module
 */

import { PYTHON } from "../helpers/interop.ts";

const te = new TextEncoder();
const td = new TextDecoder();

/** UTF-8 bytes of a string. */
export function b(s: string): Uint8Array {
  return te.encode(s);
}

/** Decode bytes as UTF-8. */
export function s(bytes: Uint8Array): string {
  return td.decode(bytes);
}

/** Lower-case hex of bytes (as the Python peer prints frames). */
export function hex(bytes: Uint8Array): string {
  let out = "";
  for (const x of bytes) out += x.toString(16).padStart(2, "0");
  return out;
}

/** Bytes from lower-case hex. */
export function unhex(h: string): Uint8Array {
  const out = new Uint8Array(h.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(h.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Fail with a clear message when `p` does not settle within `ms`. */
export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  try {
    return await Promise.race([p, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * `p`'s value if it settles within `ms`, else `undefined` (the timer is always cleared, and `p`
 * stays usable: keep racing the same promise rather than creating a new `receive()`).
 */
export async function settledWithin<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), ms)));
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolve after `ms` milliseconds (for pacing a publisher, never for hoping). */
export function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Poll `cond` every few milliseconds until it holds, failing after `ms`. */
export async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms: ${what}`);
    await delay(5);
  }
}

/**
 * Run `source` as a script in a fresh Deno process with these flags and environment, and parse
 * the JSON it prints (for choices a process makes once, such as its large-frame memory).
 */
export async function runScriptJson<T>(
  source: string,
  flags: string[],
  env: Record<string, string>,
): Promise<T> {
  const script = await Deno.makeTempFile({ suffix: ".js" });
  try {
    await Deno.writeTextFile(script, source);
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", ...flags, script],
      env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (out.code !== 0) throw new Error(`script failed: ${td.decode(out.stderr)}`);
    return JSON.parse(td.decode(out.stdout));
  } finally {
    await Deno.remove(script);
  }
}

/** One line of a Python peer's output. */
// deno-lint-ignore no-explicit-any
export type PeerEvent = Record<string, any>;

const PEER_SCRIPT = new URL("./peers/zmq_peer.py", import.meta.url).pathname;

/** A running `peers/zmq_peer.py` process; dispose it to kill it. */
export class PyPeer implements AsyncDisposable {
  /** The endpoint the peer bound or connected to. */
  endpoint = "";
  readonly #child: Deno.ChildProcess;
  readonly #reader: ReadableStreamDefaultReader<string>;
  #buffer = "";
  #lines: string[] = [];
  #closed = false;

  private constructor(child: Deno.ChildProcess) {
    this.#child = child;
    this.#reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  }

  /**
   * Start a peer and wait for its endpoint line.
   * @param role A role of `zmq_peer.py`.
   * @param action `bind` or `connect`.
   * @param endpoint For bind, e.g. `tcp://127.0.0.1:0`; for connect, where to connect.
   * @param opts Role options.
   */
  static async start(
    role: string,
    action: "bind" | "connect",
    endpoint: string,
    opts: Record<string, unknown> = {},
  ): Promise<PyPeer> {
    const child = new Deno.Command(PYTHON, {
      args: ["-u", PEER_SCRIPT, role, action, endpoint, JSON.stringify(opts)],
      stdin: "null",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const peer = new PyPeer(child);
    try {
      const first = await within(peer.next(), 10_000, `${role} peer start`);
      peer.endpoint = first.endpoint;
    } catch (e) {
      await peer.close();
      throw e;
    }
    return peer;
  }

  /** The next JSON event the peer printed. */
  async next(): Promise<PeerEvent> {
    while (this.#lines.length === 0) {
      const { value, done } = await this.#reader.read();
      if (done) throw new Error("peer exited");
      this.#buffer += value;
      const parts = this.#buffer.split("\n");
      this.#buffer = parts.pop()!;
      this.#lines.push(...parts.filter((l) => l.length > 0));
    }
    return JSON.parse(this.#lines.shift()!);
  }

  /** Kill the peer and release its pipes. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // already exited
    }
    await this.#child.status;
    await this.#reader.cancel().catch(() => {});
  }

  /** Same as `close()`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
