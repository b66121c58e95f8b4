/**
 * Engine registration with the Hub (PROTOCOL.md §4.1, §4.5): a DEALER (identity = engine
 * uuid) on the `registration` port; `registration_request {uuid[, id]}` →
 * `registration_reply {id, status, hb_period, connection_info}`; on the way out
 * `unregistration_request {id}` (never answered).
 *
 * @module
 */

import { RegistrationError } from "../errors.ts";
import { DIRECT_OFFER } from "../protocol/messages/direct.ts";
import type { Session } from "../protocol/session.ts";
import { createSocket, type Socket } from "../zmtp/mod.ts";
import type { Logger } from "./log.ts";

/** What a successful registration yields. */
export interface Registration {
  /** The engine id the Hub assigned. */
  id: number;
  /** The heartbeat period, in ms. */
  hbPeriod: number;
  /** The Hub's `connection_info` (ignored for ports, as Python engines do; §2.3). */
  connectionInfo: Record<string, unknown>;
  /**
   * When the Hub (ours) takes the same-host direct path's messages: buffers of at least this
   * many bytes are left out of its records (0: none is). Else undefined.
   */
  direct: number | undefined;
}

/** The registration DEALER and its two messages. */
export class Registrar {
  readonly #session: Session;
  readonly #socket: Socket;
  readonly #url: string;
  readonly #log: Logger | undefined;

  /**
   * Create the DEALER and connect it.
   * @param session The engine session (its id is the uuid and the socket identity).
   * @param url The `registration` URL.
   * @param log Logger.
   */
  constructor(session: Session, url: string, log?: Logger) {
    this.#session = session;
    this.#url = url;
    this.#log = log;
    this.#socket = createSocket("DEALER", {
      identity: session.session,
      onProtocolError: (reason, peer) =>
        log?.warn(`registration connection to ${peer} dropped: ${reason}`),
    });
    this.#socket.connect(url);
  }

  /**
   * Send `registration_request` and wait for the reply.
   *
   * @param options `id`: requested engine id; `timeoutMs`: how long to wait for the reply;
   *   `signal`: cancels the wait.
   * @returns The assigned id and heartbeat period.
   * @throws {RegistrationError} `reason: "timeout"` when no reply came in time (or the wait
   *   was cancelled),
   *   `"rejected"` when the Hub answered with an error (e.g. uuid in use).
   */
  async register(
    options: { id?: number; timeoutMs: number; signal?: AbortSignal },
  ): Promise<Registration> {
    const s = this.#session;
    const content: { uuid: string; id?: number } = { uuid: s.session };
    if (options.id !== undefined) content.id = options.id;
    const request = s.msg("registration_request", { content });
    this.#log?.info(`registering with the controller at ${this.#url} as ${s.session}`);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((resolve) => {
      timer = setTimeout(resolve, options.timeoutMs, "timeout");
    });
    const aborted = new Promise<"aborted">((resolve) => {
      if (options.signal?.aborted) resolve("aborted");
      options.signal?.addEventListener("abort", () => resolve("aborted"), { once: true });
    });
    try {
      const send = this.#socket.send(s.pack(request));
      const sent = await Promise.race([send.then(() => "sent" as const), timeout, aborted]);
      if (sent === "aborted") throw this.#cancelled();
      if (sent !== "sent") throw this.#timedOut(options.timeoutMs);
      while (true) {
        const frames = await Promise.race([this.#socket.receive(), timeout, aborted]);
        if (frames === "aborted") throw this.#cancelled();
        if (frames === "timeout") throw this.#timedOut(options.timeoutMs);
        let reply;
        try {
          reply = s.unpack(frames);
        } catch (e) {
          this.#log?.warn(`dropped a bad message on the registration socket: ${e}`);
          continue;
        }
        const c = reply.content as Record<string, unknown>;
        if (c.status !== "ok") {
          throw new RegistrationError(
            "rejected",
            `The controller refused the registration: ${c.ename ?? "error"}: ` +
              `${c.evalue ?? JSON.stringify(c)}`,
          );
        }
        if (typeof c.id !== "number" || !Number.isInteger(c.id)) {
          throw new RegistrationError(
            "rejected",
            `registration_reply without an integer id: ${JSON.stringify(c)}`,
          );
        }
        const hbPeriod = typeof c.hb_period === "number" && c.hb_period > 0 ? c.hb_period : 3000;
        return {
          id: c.id,
          hbPeriod,
          connectionInfo: (c.connection_info ?? {}) as Record<string, unknown>,
          direct: typeof c[DIRECT_OFFER] === "number" ? c[DIRECT_OFFER] as number : undefined,
        };
      }
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Send a message already packed (direct-path records handed over by the kernel worker).
   * @param frames The message.
   */
  send(frames: Uint8Array[]): void {
    if (this.#socket.closed) return;
    this.#socket.send(frames).catch((e) => this.#log?.debug(`message to the Hub not sent: ${e}`));
  }

  /**
   * Send `unregistration_request {id}` (PROTOCOL.md §4.5; `null` when registration never
   * completed). The Hub does not reply. Waits at most `timeoutMs` for the message to be queued.
   *
   * @param id The engine id, or `null`.
   * @param timeoutMs Upper bound of the wait.
   */
  async unregister(id: number | null, timeoutMs = 1000): Promise<void> {
    if (this.#socket.closed) return;
    const s = this.#session;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        this.#socket.send(s.pack(s.msg("unregistration_request", { content: { id } }))),
        new Promise((r) => timer = setTimeout(r, timeoutMs)),
      ]);
    } catch (e) {
      this.#log?.debug(`unregistration_request not sent: ${e}`);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Close the socket, flushing queued messages for up to `lingerMs`.
   * @param lingerMs How long to wait for queued messages to be written.
   */
  async close(lingerMs = 500): Promise<void> {
    await this.#socket.close({ linger: lingerMs });
  }

  #cancelled(): RegistrationError {
    return new RegistrationError("timeout", "Registration cancelled before the controller replied");
  }

  #timedOut(ms: number): RegistrationError {
    return new RegistrationError(
      "timeout",
      `Registration timed out after ${(ms / 1000).toFixed(1)} seconds: no registration_reply ` +
        `from ${this.#url} (is the controller running, and is this the right connection file? ` +
        "raise the wait with --timeout)",
    );
  }
}
