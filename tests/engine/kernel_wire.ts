/**
 * Drives a real engine's kernel the way a client does, on the wire: an in-process `Engine`
 * (its kernel worker owns the shell and IOPub sockets, `src/engine/kernel/serve.ts`) behind
 * the scripted fake controller of `fake_hub.ts`. Requests go out on the hub's mux or control
 * ROUTER; replies and IOPub messages are read back as decoded messages.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Engine } from "../../src/engine/engine.ts";
import { Logger } from "../../src/engine/log.ts";
import type { Message } from "../../src/protocol/messages.ts";
import type { Frames, Socket } from "../../src/zmtp/mod.ts";
import type { FakeHub } from "./fake_hub.ts";

const te = new TextEncoder();

/** A message's content as a plain record. */
export type Content = Record<string, unknown>;

/** An IOPub message with its topic. */
export interface IopubMessage {
  /** The topic, e.g. `engine.0.stdout`. */
  topic: string;
  /** The message. */
  msg: Message;
}

/** A receive that timed out but still waits, per socket: the next read takes its message. */
const pending = new WeakMap<Socket, Promise<Frames>>();

/** Test options for tests that start engines and sockets. */
export const opts = { sanitizeOps: false, sanitizeResources: false };

/**
 * Start an in-process engine registered with `hub`, and wait until its shell and IOPub
 * connections carry messages (a request sent before the engine's shell has connected would
 * be dropped by the hub's ROUTER, and IOPub published before the SUB has joined is lost).
 */
export async function startWire(
  hub: FakeHub,
  options: { typescript?: boolean; cwd?: string } = {},
): Promise<Wire> {
  const engine = await Engine.start({
    info: hub.info,
    log: new Logger({ level: "critical" }),
    ...options,
  });
  const wire = new Wire(hub, engine);
  for (let attempt = 1;; attempt++) {
    const probe = await wire.send("kernel_info_request");
    const answered = await wire.probeReply(probe, 300 * attempt);
    if (answered) {
      try {
        await wire.idle(probe, 300 * attempt);
        return wire;
      } catch { /* IOPub not joined yet */ }
    }
    if (attempt === 10) throw new Error("the engine's shell did not answer");
  }
}

/** One engine behind the fake hub; use one `Wire` at a time (replies share the hub's sockets). */
export class Wire {
  constructor(readonly hub: FakeHub, readonly engine: Engine) {}

  /** Send a request from "client-1" on mux (or control). */
  async send(
    msgType: string,
    content: Content = {},
    o: { control?: boolean; buffers?: Uint8Array[]; metadata?: Content } = {},
  ): Promise<Message> {
    const hub = this.hub;
    const msg = hub.session.msg(msgType, {
      identities: [this.engine.uuid, te.encode("client-1")],
      content: content as never,
      buffers: o.buffers,
      metadata: o.metadata,
    });
    await (o.control ? hub.control : hub.mux).send(hub.session.pack(msg));
    return msg;
  }

  /** The next reply on mux (or control), past late answers to readiness probes. */
  async reply(control = false, ms = 15_000): Promise<Message> {
    const error = new Error("no reply"); // made here, so its stack names the waiting step
    for (;;) {
      const r = await this.#next(control, ms);
      if (r === undefined) throw error;
      if (r.msgType !== "kernel_info_reply") return r;
    }
  }

  async #next(control: boolean, ms: number): Promise<Message | undefined> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const socket = control ? this.hub.control : this.hub.mux;
    let receiving = pending.get(socket);
    if (receiving === undefined) pending.set(socket, receiving = socket.receive());
    const frames = await Promise.race([
      receiving,
      new Promise<undefined>((r) => timer = setTimeout(() => r(undefined), ms)),
    ]);
    clearTimeout(timer);
    if (frames === undefined) return undefined;
    pending.delete(socket);
    return this.hub.session.unpack(frames);
  }

  /** Whether the probe was answered within `ms` (older probes' answers are skipped). */
  async probeReply(probe: Message, ms: number): Promise<boolean> {
    const end = Date.now() + ms;
    for (;;) {
      const r = await this.#next(false, Math.max(0, end - Date.now()));
      if (r === undefined) return false;
      if (r.parentHeader.msg_id === probe.msgId) return true;
    }
  }

  /** The reply to `req` (the next one on its socket must be it). */
  async replyTo(req: Message, control = false): Promise<Message> {
    const r = await this.reply(control);
    assert.equal(r.parentHeader.msg_id, req.msgId, `reply to ${req.msgType}`);
    return r;
  }

  /** IOPub messages whose parent is `req`, in arrival order. */
  io(req: Message): IopubMessage[] {
    return this.hub.iopubMessages.filter((m) => m.msg.parentHeader.msg_id === req.msgId);
  }

  /** Index in the hub's IOPub log of the first message of `req` that matches `pred`. */
  indexOf(req: Message, pred: (m: IopubMessage) => boolean): number {
    return this.hub.iopubMessages.findIndex((m) =>
      m.msg.parentHeader.msg_id === req.msgId && pred(m)
    );
  }

  /** Wait until `req`'s `status: idle` has arrived. */
  idle(req: Message, ms = 10_000): Promise<void> {
    return this.hub.until(
      () =>
        this.io(req).some((m) =>
          m.msg.msgType === "status" && (m.msg.content as Content).execution_state === "idle"
        ),
      ms,
      `idle of ${req.msgType}`,
    );
  }

  /** Text `req` wrote on a stream so far. */
  stream(req: Message, name: "stdout" | "stderr" = "stdout"): string {
    return this.io(req)
      .filter((m) => m.msg.msgType === "stream" && (m.msg.content as Content).name === name)
      .map((m) => (m.msg.content as Content).text)
      .join("");
  }

  /** Run a cell (not silent unless `content` says so) and wait for its idle. */
  async exec(code: string, content: Content = {}): Promise<{ req: Message; reply: Content }> {
    const req = await this.send("execute_request", {
      code,
      silent: false,
      user_expressions: {},
      ...content,
    });
    const reply = (await this.replyTo(req)).content as Content;
    await this.idle(req);
    return { req, reply };
  }

  /** Run a cell that must succeed; its `execute_result` text, or `undefined` without one. */
  async value(code: string): Promise<string | undefined> {
    const { req, reply } = await this.exec(code);
    ok(reply);
    const result = this.io(req).find((m) => m.msg.msgType === "execute_result");
    return (result?.msg.content as { data: Record<string, string> } | undefined)?.data[
      "text/plain"
    ];
  }

  /** Call a function (`apply_request` buffers) and wait for its idle. */
  async apply(buffers: Uint8Array[]): Promise<{ req: Message; reply: Message }> {
    const req = await this.send("apply_request", {}, { buffers });
    const reply = await this.replyTo(req);
    await this.idle(req);
    return { req, reply };
  }

  /** Send `interrupt_request` on control once the engine runs user code; read its reply. */
  async interrupt(): Promise<Message> {
    await this.hub.until(() => this.engine.state === "running.busy", 5000, "busy");
    const req = await this.send("interrupt_request", {}, { control: true });
    return this.replyTo(req, true);
  }
}

/** Assert a reply content is ok. */
export function ok(reply: Content): Content {
  if (reply.status !== "ok") assert.fail(`expected ok, got ${JSON.stringify(reply)}`);
  return reply;
}

/** Wait until `cond()` holds, checking every 5 ms, failing after `ms`. */
export async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail("condition not reached in time");
    await new Promise((r) => setTimeout(r, 5));
  }
}
