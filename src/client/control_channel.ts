/**
 * {@link ControlChannel}: requests on the control channel (PROTOCOL.md §6.5) — clear, abort,
 * shutdown — one per target engine, correlated with their replies by `parent_header.msg_id`
 * (the relay prepends the engine uuid, §3.5.4). An engine that leaves fails its pending
 * requests with `EngineError`, except a shutdown, which its leaving answers.
 *
 * @module
 */

import { ControllerLostError, EngineError, RemoteError } from "../errors.ts";
import type { Session } from "../protocol/session.ts";
import type { Logger } from "./client_sockets.ts";
import type { IncomingMessage } from "./messages.ts";

interface PendingControl {
  engineId: number;
  msgType: string;
  resolve: (msg: IncomingMessage) => void;
  reject: (error: Error) => void;
}

/** Options of {@link ControlChannel}. */
export interface ControlChannelOptions {
  /** Builds and signs requests. */
  session: Session;
  /** Queues frames on the control socket. */
  send: (frames: Uint8Array[]) => Promise<void>;
  /** The uuid of a registered engine id (throws for others). */
  uuidOf: (engineId: number) => string;
  /** Where stray replies are reported. */
  log: Logger;
}

/** Pending control requests of one client. */
export class ControlChannel {
  readonly #o: ControlChannelOptions;
  readonly #pending = new Map<string, PendingControl>();
  /** Shutdowns answered by the engine leaving first: their late replies are expected. */
  readonly #retired = new Set<string>();

  /**
   * Creates the object; see the class documentation.
   *
   * @param options Session, socket, engine look-up, logging.
   */
  constructor(options: ControlChannelOptions) {
    this.#o = options;
  }

  /** Requests waiting for a reply. */
  get size(): number {
    return this.#pending.size;
  }

  /**
   * Sends one request to each target engine.
   *
   * @param msgType e.g. `"clear_request"`.
   * @param content The content.
   * @param targets Engine ids.
   * @returns The replies, in target order.
   * @throws {InvalidOptionError} A target is not registered.
   */
  request(
    msgType: string,
    content: Record<string, unknown>,
    targets: readonly number[],
  ): Promise<IncomingMessage[]> {
    const { session, send } = this.#o;
    const uuids = targets.map((id) => this.#o.uuidOf(id));
    return Promise.all(targets.map((id, i) => {
      const msg = session.msg(msgType, { content, identities: [uuids[i]] });
      const { promise, resolve, reject } = Promise.withResolvers<IncomingMessage>();
      this.#pending.set(msg.header.msg_id, { engineId: id, msgType, resolve, reject });
      send(session.pack(msg)).catch((e) => {
        this.#pending.delete(msg.header.msg_id);
        reject(new ControllerLostError(`Could not send ${msgType}`, { cause: e }));
      });
      return promise;
    }));
  }

  /** A reply arrived on the control socket. */
  handleReply(msg: IncomingMessage): void {
    const id = msg.parent_header.msg_id;
    const pending = id === undefined ? undefined : this.#pending.get(id);
    if (pending === undefined) {
      if (id !== undefined && this.#retired.delete(id)) return;
      this.#o.log("warn", `Ignored control reply ${msg.header.msg_type} for unknown msg_id ${id}`);
      return;
    }
    this.#pending.delete(id!);
    pending.resolve(msg);
  }

  /** An engine left: its pending requests settle. */
  engineGone(engineId: number): void {
    for (const [id, p] of this.#pending) {
      if (p.engineId !== engineId) continue;
      this.#pending.delete(id);
      // A shutdown is answered by the engine leaving, whichever arrives first.
      if (p.msgType === "shutdown_request") {
        if (this.#retired.size > 1000) this.#retired.clear();
        this.#retired.add(id);
        p.resolve({
          header: { msg_id: "", msg_type: "shutdown_reply" },
          parent_header: { msg_id: id },
          metadata: {},
          content: { status: "ok" },
          buffers: [],
        });
      } else p.reject(new EngineError(`Engine ${engineId} left before answering ${p.msgType}`));
    }
  }

  /** Every pending request fails with `error` (client closed, controller lost). */
  failAll(error: Error): void {
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of pending) p.reject(error);
  }
}

/**
 * Throws the first error reply among control replies.
 *
 * @param replies The replies.
 * @throws {RemoteError} A reply has `status: "error"`.
 */
export function checkReplies(replies: IncomingMessage[]): void {
  for (const r of replies) {
    if (r.content.status === "error") {
      const c = r.content;
      throw new RemoteError(
        String(c.ename),
        String(c.evalue ?? ""),
        (c.traceback ?? []) as string[],
      );
    }
  }
}
