/**
 * A scripted stand-in for the controller, for what a real one cannot be made to do: send
 * badly signed or malformed frames, reply to unknown msg_ids, or swallow requests while the
 * client's hot path is timed. It binds the client-side sockets of PROTOCOL.md §3.1 with our
 * ZMTP, writes a client connection file and answers `connection_request`.
 *
 * @module
 */

import { writeConnectionFile } from "../../src/protocol/connection.ts";
import { Session } from "../../src/protocol/session.ts";
import { createSocket } from "../../src/zmtp/mod.ts";
import type { Frames, Socket } from "../../src/zmtp/mod.ts";

const CHANNELS = ["registration", "mux", "task", "control", "broadcast"] as const;
type RouterChannel = typeof CHANNELS[number];

/** A fake controller bound on loopback ports. */
export class FakeController implements AsyncDisposable {
  readonly session: Session;
  readonly dir: string;
  readonly routers = new Map<RouterChannel, Socket>();
  readonly iopub: Socket;
  readonly notification: Socket;
  /** Engines announced in `connection_reply`. */
  engines: Record<string, string> = { "0": "engine-0-uuid" };
  /** Called after each `connection_reply` is sent, with how many have been sent so far. */
  onConnectionReply?: (count: number) => void;
  #connectionReplies = 0;
  /** Received messages per channel (when `record` is on). */
  readonly received = new Map<RouterChannel, Frames[]>();
  /** Keep received frames (off for benchmarks). */
  record = true;
  /** Count of received messages per channel. */
  readonly counts = new Map<RouterChannel, number>();
  /** Answers for Hub queries by request type (default: `{status: "ok"}`). */
  answers: Record<string, Record<string, unknown>> = {};
  readonly #loops: Promise<void>[] = [];

  private constructor(dir: string, key: string) {
    this.dir = dir;
    this.session = new Session({ key });
    this.iopub = createSocket("PUB", { sendHwm: 0 });
    this.notification = createSocket("PUB", { sendHwm: 0 });
  }

  /** The connection file to pass as `urlFile`. */
  get file(): string {
    return `${this.dir}/ipcontroller-client.json`;
  }

  /** Binds every socket and writes the connection file. */
  static async start(key = "fake-key-0123"): Promise<FakeController> {
    const dir = await Deno.makeTempDir({ prefix: "ipp-fake-controller-" });
    const c = new FakeController(dir, key);
    const port = (ep: string) => Number(ep.slice(ep.lastIndexOf(":") + 1));
    const ports: Record<string, number> = {};
    for (const ch of CHANNELS) {
      const s = createSocket("ROUTER", { sendHwm: 0, receiveHwm: 0 });
      ports[ch] = port(await s.bind("tcp://127.0.0.1:0"));
      c.routers.set(ch, s);
      c.received.set(ch, []);
      c.counts.set(ch, 0);
      c.#loops.push(c.#serve(ch, s));
    }
    ports.iopub = port(await c.iopub.bind("tcp://127.0.0.1:0"));
    ports.notification = port(await c.notification.bind("tcp://127.0.0.1:0"));
    await writeConnectionFile(c.file, {
      ssh: "",
      interface: "tcp://127.0.0.1",
      registration: ports.registration,
      control: ports.control,
      mux: ports.mux,
      task: ports.task,
      task_scheme: "leastload",
      iopub: ports.iopub,
      notification: ports.notification,
      broadcast: ports.broadcast,
      key,
      curve_serverkey: null,
      location: "127.0.0.1",
      pack: "json",
      unpack: "json",
      signature_scheme: "hmac-sha256",
    });
    return c;
  }

  /** Sends raw frames on a ROUTER channel. */
  send(channel: RouterChannel, frames: Frames): Promise<void> {
    return this.routers.get(channel)!.send(frames);
  }

  /** Waits until a channel received `n` messages in total. */
  async waitFor(channel: RouterChannel, n: number, timeoutMs = 5000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while ((this.counts.get(channel) ?? 0) < n) {
      if (Date.now() > end) throw new Error(`${channel}: ${this.counts.get(channel)} < ${n}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  async #serve(channel: RouterChannel, s: Socket): Promise<void> {
    while (true) {
      let frames: Frames;
      try {
        frames = await s.receive();
      } catch {
        return;
      }
      this.counts.set(channel, this.counts.get(channel)! + 1);
      if (this.record) this.received.get(channel)!.push(frames);
      if (channel !== "registration") continue;
      const msg = this.session.unpack(frames);
      const content = msg.msgType === "connection_request"
        ? { status: "ok", engines: this.engines }
        : this.answers[msg.msgType] ?? { status: "ok" };
      await s.send(this.session.pack(this.session.reply(msg, { content })));
      if (msg.msgType === "connection_request") {
        this.onConnectionReply?.(++this.#connectionReplies);
      }
    }
  }

  /** Closes everything and removes the connection file. */
  async stop(): Promise<void> {
    await Promise.all(
      [...this.routers.values(), this.iopub, this.notification].map((s) => s.close()),
    );
    await Promise.allSettled(this.#loops);
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }

  /** Same as {@link FakeController.stop}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}
