/**
 * A scripted stand-in for the controller's engine side, built on our own ZMTP sockets and
 * Session, for engine tests that need to see exact frames or misbehave on purpose (no reply
 * to registration, a refusal). It binds every engine-facing socket of PROTOCOL.md §3.1 on
 * 127.0.0.1 and writes nothing to disk; `info` is the engine connection file's content.
 *
 * @module
 */

import type { EngineConnectionInfo } from "../../src/protocol/connection.ts";
import type { Message } from "../../src/protocol/messages.ts";
import { Session } from "../../src/protocol/session.ts";
import { createSocket, type Frames, type Socket } from "../../src/zmtp/mod.ts";

/** How the fake Hub answers `registration_request`. */
export type RegistrationMode = "ok" | "silent" | "refuse";

const KEY = "0123abcd-4567ef0123456789abcdef01";
const quiet = () => {};

/** A fake controller (engine side only). */
export class FakeHub implements AsyncDisposable {
  readonly session = new Session({ key: KEY });
  readonly registration = createSocket("ROUTER", { onProtocolError: quiet });
  readonly mux = createSocket("ROUTER", { identity: "mux_out", onProtocolError: quiet });
  readonly task = createSocket("ROUTER", { identity: "task_out", onProtocolError: quiet });
  readonly control = createSocket("ROUTER", { identity: "control_out", onProtocolError: quiet });
  readonly iopub = createSocket("SUB", { onProtocolError: quiet });
  readonly hbPing = createSocket("PUB", { onProtocolError: quiet });
  readonly hbPong = createSocket("ROUTER", { onProtocolError: quiet });
  readonly broadcast = [
    createSocket("ROUTER", { identity: "sub_scheduler_00", onProtocolError: quiet }),
    createSocket("ROUTER", { identity: "sub_scheduler_01", onProtocolError: quiet }),
  ];
  /** Every message received on the registration socket. */
  readonly registrations: Message[] = [];
  /** Every IOPub message: topic and message. */
  readonly iopubMessages: { topic: string; msg: Message }[] = [];
  /** Every pong: the frames as received (identity first). */
  readonly pongs: Frames[] = [];
  info!: EngineConnectionInfo;
  mode: RegistrationMode = "ok";
  nextId = 0;
  readonly #loops: Promise<void>[] = [];

  static async start(mode: RegistrationMode = "ok"): Promise<FakeHub> {
    const hub = new FakeHub();
    hub.mode = mode;
    const port = async (s: Socket) => Number((await s.bind("tcp://127.0.0.1:0")).split(":").pop());
    hub.iopub.subscribe("");
    hub.info = {
      ssh: "",
      interface: "tcp://127.0.0.1",
      registration: await port(hub.registration),
      control: await port(hub.control),
      mux: await port(hub.mux),
      task: await port(hub.task),
      iopub: await port(hub.iopub),
      hb_ping: await port(hub.hbPing),
      hb_pong: await port(hub.hbPong),
      broadcast: [await port(hub.broadcast[0]), await port(hub.broadcast[1])],
      key: KEY,
      curve_serverkey: null,
      location: "localhost",
      pack: "json",
      unpack: "json",
      signature_scheme: "hmac-sha256",
    };
    hub.#loops.push(hub.#serveRegistration(), hub.#collectIopub(), hub.#collectPongs());
    return hub;
  }

  async #serveRegistration(): Promise<void> {
    try {
      for await (const frames of this.registration) {
        const msg = this.session.unpack(frames);
        this.registrations.push(msg);
        if (msg.msgType !== "registration_request" || this.mode === "silent") continue;
        const content = this.mode === "ok"
          ? {
            id: (msg.content as { id?: number }).id ?? this.nextId++,
            status: "ok",
            hb_period: 200,
            connection_info: {},
          }
          : {
            status: "error",
            ename: "KeyError",
            evalue: '"uuid in use"',
            traceback: [],
            engine_info: {},
          };
        const reply = this.session.msg("registration_reply", {
          content: content as never,
          identities: msg.identities,
        });
        await this.registration.send(this.session.pack(reply));
      }
    } catch { /* closed */ }
  }

  async #collectIopub(): Promise<void> {
    try {
      for await (const frames of this.iopub) {
        const msg = this.session.unpack(frames);
        this.iopubMessages.push({ topic: new TextDecoder().decode(msg.identities[0]), msg });
      }
    } catch { /* closed */ }
  }

  async #collectPongs(): Promise<void> {
    try {
      for await (const frames of this.hbPong) this.pongs.push(frames);
    } catch { /* closed */ }
  }

  /** Wait until `pred` holds, polling; fails after `ms`. */
  async until(pred: () => boolean, ms: number, what: string): Promise<void> {
    const deadline = Date.now() + ms;
    while (!pred()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Promise.all([
      this.registration,
      this.mux,
      this.task,
      this.control,
      this.iopub,
      this.hbPing,
      this.hbPong,
      ...this.broadcast,
    ].map((s) => s.close()));
    await Promise.all(this.#loops);
  }
}
