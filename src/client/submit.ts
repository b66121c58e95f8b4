/**
 * {@link Submitter}: the client's hot path for execution requests (PROTOCOL.md §6.1, §6.2,
 * §7.1, §7.9): sign and pack the message, create its task actor(s), record it in the history
 * and queue it on the socket without awaiting the transport, so that many tasks go out back
 * to back. A send that fails later fails the task instead of throwing.
 *
 * @module
 */

import { ControllerLostError } from "../errors.ts";
import { QUIET_STATUS } from "../protocol/messages/metadata.ts";
import type { Session } from "../protocol/session.ts";
import type { TaskRegistry } from "./task_registry.ts";

/** How apply arguments are encoded: ipp-js for our engines, pickles for Python engines. */
export type Serializer = "js" | "pickle";

/** Options of `Client.sendApplyRequest`. */
export interface ApplyRequestOptions {
  /** Positional arguments. */
  args?: unknown[];
  /** Keyword arguments (a JavaScript engine passes them as one extra object argument). */
  kwargs?: Record<string, unknown>;
  /** Request metadata (scheduler flags, §7.1; broadcast flags, §7.9). */
  metadata?: Record<string, unknown>;
  /** Engine id to address (MUX and control need one). */
  target?: number;
  /** `"js"` (default) or `"pickle"` (Python engines; `f` must be a `Reference`). */
  serializer?: Serializer;
  /** Broadcast: the engines the request fans out to (tracked as `<msg_id>_<uuid>`). */
  broadcastTargets?: number[];
  /** Broadcast: one coalesced reply (tracked under the msg_id itself). */
  coalescing?: boolean;
}

/** Options of `Client.sendExecuteRequest`. */
export interface ExecuteRequestOptions {
  /** No `execute_input`/`execute_result` and no history (default true, as `DirectView.execute`). */
  silent?: boolean;
  /** Expressions to evaluate after the code (`user_expressions`). */
  userExpressions?: Record<string, string>;
  /** Request metadata. */
  metadata?: Record<string, unknown>;
  /** Engine id to address (MUX needs one). */
  target?: number;
  /** Broadcast: the engines the request fans out to. */
  broadcastTargets?: number[];
}

/** What a submission returns: the msg_ids to wait for (one, or one per broadcast target). */
export interface Submitted {
  /** The request's msg_id. */
  msgId: string;
  /** msg_ids results are tracked under (`[msgId]`, or `<msgId>_<uuid>` per broadcast target). */
  trackedIds: string[];
}

/** What a {@link Submitter} needs from its client. */
export interface SubmitterOptions {
  /** Builds and signs messages. */
  session: Session;
  /** Tracks results. */
  tasks: TaskRegistry;
  /** The client's history (appended to). */
  history: string[];
  /** The most msg_ids `history` keeps (see {@link trimHistory}; default 100 000). */
  maxHistory?: number;
  /** Queues frames on a channel. */
  send: (
    channel: "mux" | "task" | "broadcast",
    frames: Uint8Array[],
    msgId: string,
  ) => Promise<void>;
  /** The uuid of a registered engine id (throws for others). */
  uuidOf: (engineId: number | undefined) => string;
  /** Whether the client is closed. */
  closed: () => boolean;
}

/** Sends and tracks execution requests. */
export class Submitter {
  readonly #o: SubmitterOptions;
  readonly #maxHistory: number;

  /**
   * Creates the object; see the class documentation.
   *
   * @param options Session, registry, history and its cap, socket, engine look-up.
   */
  constructor(options: SubmitterOptions) {
    this.#o = options;
    this.#maxHistory = options.maxHistory ?? DEFAULT_MAX_HISTORY;
  }

  /**
   * Sends one request and tracks it.
   *
   * @param channel Where it goes.
   * @param msgType `apply_request` or `execute_request`.
   * @param content The content.
   * @param buffers The buffers.
   * @param options Target, metadata, broadcast targets.
   * @returns The msg_id and the ids its results are tracked under.
   * @throws {ControllerLostError} The client is closed.
   * @throws {InvalidOptionError} A target engine is not registered.
   */
  submit(
    channel: "mux" | "task" | "broadcast",
    msgType: "apply_request" | "execute_request",
    content: Record<string, unknown>,
    buffers: Uint8Array[],
    options: ApplyRequestOptions,
  ): Submitted {
    if (this.#o.closed()) throw new ControllerLostError("The client is closed");
    const { session, tasks, history } = this.#o;
    let identities: string[] | undefined;
    // Our engines then skip `status` for a request that publishes nothing else: this client
    // completes results at their reply (`iopub_count`), and needs `idle` only after output.
    let metadata: Record<string, unknown> = options.metadata === undefined
      ? QUIET
      : { ...options.metadata, [QUIET_STATUS]: true };
    let engineUuid: string | undefined;
    if (channel === "mux") {
      engineUuid = this.#o.uuidOf(options.target);
      identities = [engineUuid];
    }
    let subTargets: [string, number][] | undefined;
    if (channel === "broadcast") {
      const ids = options.broadcastTargets ?? [];
      subTargets = ids.map((id) => [this.#o.uuidOf(id), id]);
      metadata = {
        ...metadata,
        targets: subTargets,
        is_broadcast: true,
        is_coalescing: options.coalescing ?? false,
      };
    }
    const msg = session.msg<string>(msgType, { content, metadata, buffers, identities });
    const frames = session.pack(msg);
    const msgId = msg.header.msg_id;
    let trackedIds: string[];
    if (subTargets === undefined || options.coalescing) {
      tasks.track(msgId, { engineUuid, expectOutput: !options.coalescing });
      trackedIds = [msgId];
    } else {
      trackedIds = subTargets.map(([uuid]) => {
        const id = `${msgId}_${uuid}`;
        tasks.track(id, { engineUuid: uuid });
        return id;
      });
    }
    // Broadcast traffic is not recorded by the Hub (§3.5.3), but it is this client's history.
    for (const id of trackedIds) history.push(id);
    if (history.length > this.#maxHistory) trimHistory(history, this.#maxHistory);
    this.#o.send(channel, frames, msg.msgId).catch((error) => {
      const e = new ControllerLostError(`Could not send ${msgType}: ${(error as Error).message}`, {
        cause: error,
      });
      for (const id of trackedIds) tasks.sendFailed(id, e);
    });
    return { msgId, trackedIds };
  }
}

/** Request metadata when the caller gives none (shared: a message's metadata is not changed). */
const QUIET: Readonly<Record<string, unknown>> = Object.freeze({ [QUIET_STATUS]: true });

/** Default of `maxHistory`: about 6.5 MB of msg_ids at most. */
export const DEFAULT_MAX_HISTORY = 100_000;

/**
 * Keeps the newest msg_ids of a history that grew past `max`: when it is over, the oldest
 * ones go in one batch, down to `max` less an eighth, so the cost is amortised (dropping
 * one entry at a time moves the whole array each time: V8 cannot trim large arrays in
 * place). A history so trimmed holds between 7/8 of `max` and `max` entries.
 *
 * @param history The history (oldest first), changed in place.
 * @param max The most entries to keep (0 keeps none).
 */
export function trimHistory(history: string[], max: number): void {
  if (history.length <= max) return;
  const keep = max - Math.floor(max / 8);
  history.splice(0, history.length - keep);
}
