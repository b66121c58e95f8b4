/**
 * The load-balanced task channel (PROTOCOL.md §3.5.2, §7): the {@link TaskScheduler} wired
 * to a client-side ROUTER (`task_in`) and an engine-side ROUTER (`task_out`).
 *
 * ```text
 * client → task_in     [client_id, DELIM, ...]                 → Hub record (intask), scheduler.submit
 * dispatch → task_out  [engine_uuid, client_id, DELIM, ...]    (request frames unchanged) + Hub tracktask
 * engine → task_out    [engine_uuid, client_id, DELIM, reply…] → scheduler.reply
 * relay → task_in      [client_id, engine_uuid, DELIM, reply…] (unchanged) + Hub outtask
 * fail  → task_in      [client_id, DELIM, apply_reply…]        (scheduler-made, §7.7; no identity frame)
 *                      [client_id, dead_uuid, DELIM, …]        (EngineError for a dead engine, §7.6)
 * ```
 *
 * Resubmissions from the Hub (§5.7) enter through {@link TaskRelay.submitFromHub} as if sent
 * by a client whose routing id no socket has, so the final reply is dropped by the ROUTER
 * after the Hub has recorded it (Python: the Hub's own DEALER ignores it).
 *
 * The `pure` scheme (§7.8) is {@link PureTaskRelay}: no scheduler, requests round-robin to
 * engines over a DEALER, replies back to clients with no identity frame.
 *
 * @module
 */

import type { Frames, Socket } from "../zmtp/mod.ts";
import type { Session } from "../protocol/session.ts";
import type { JsonObject } from "./db/types.ts";
import type { HubState } from "./hub_state.ts";
import type { HubMessage } from "./hub_types.ts";
import { type InboundChannel, toHubMessage } from "./inbound.ts";
import type { Logger } from "./logger.ts";
import { pump, sendQuiet, text, utf8 } from "./pump.ts";
import type { SchemeName } from "./schemes.ts";
import { type SchedulerAction, TaskScheduler } from "./task_scheduler.ts";
import type { TaskMetadata } from "./task_metadata.ts";

/** The routing id of the Hub as a task client (no peer has it: its replies are dropped). */
const HUB_CLIENT = utf8("ipp-hub-resubmit");

/** What the scheduler carries for a queued task. */
interface TaskPayload {
  /** The submitting client's routing id. */
  client: Uint8Array;
  /** The request frames from the delimiter on, forwarded unchanged. */
  body: Frames;
  /** The request header (parent of scheduler-made replies). */
  header: JsonObject;
}

/** What the scheduler carries for an engine's reply. */
interface ReplyPayload {
  /** `[engine_uuid, client_id, DELIM, ...]` as received on `task_out`. */
  frames: Frames;
  /** Parsed copy for the Hub. */
  msg: HubMessage;
}

/** Options of {@link TaskRelay}. */
export interface TaskRelayOptions {
  /** Client-side ROUTER. */
  clientSide: Socket;
  /** Engine-side ROUTER. */
  engineSide: Socket;
  /** Checks of client requests. */
  fromClients: InboundChannel;
  /** Checks of engine replies. */
  fromEngines: InboundChannel;
  /** Hub state (records, §3.6 intask/tracktask/outtask). */
  hub: HubState;
  /** The scheduler's session (signs scheduler-made replies). */
  session: Session;
  /** Scheme (default leastload). */
  scheme?: SchemeName;
  /** `TaskScheduler.hwm` (default 1; 0 = unlimited). */
  hwm?: number;
  /** `TaskScheduler.prefetch` (default 1 = off). */
  prefetch?: number;
  /** `TaskScheduler.prefetchFastMs` (default 10). */
  prefetchFastMs?: number;
  /** Delay before tasks of an engine that may still answer fail (default 5000 ms, §7.6). */
  strandedDelayMs?: number;
  /** Logger. */
  logger: Logger;
}

/** The load-balancing task scheduler on its sockets. */
export class TaskRelay {
  /** The scheduler logic. */
  readonly scheduler: TaskScheduler<TaskPayload, ReplyPayload>;
  /** Receive loops; settle when the sockets close. */
  readonly done: Promise<void>;
  #o: TaskRelayOptions;
  /** Routing frames of registered engines (one encode per engine, not per dispatch). */
  #routing = new Map<string, Uint8Array>();

  /**
   * Starts scheduling.
   * @param options Sockets, checks, Hub, session and scheduling options.
   */
  constructor(options: TaskRelayOptions) {
    this.#o = options;
    this.scheduler = new TaskScheduler<TaskPayload, ReplyPayload>({
      emit: (a) => this.#act(a),
      scheme: options.scheme,
      hwm: options.hwm,
      prefetch: options.prefetch,
      prefetchFastMs: options.prefetchFastMs,
      strandedDelayMs: options.strandedDelayMs,
    });
    this.done = Promise.all([
      pump(
        options.clientSide,
        (f) => this.#fromClient(f),
        (e) => options.fromClients.handlerError(e, "scheduling a task"),
      ),
      pump(
        options.engineSide,
        (f) => this.#fromEngine(f),
        (e) => options.fromEngines.handlerError(e, "handling a task reply"),
      ),
    ]).then(() => {});
  }

  /** An engine completed registration (§4.4): it joins the front of the LRU order. */
  registerEngine(uuid: string): void {
    this.#routing.set(uuid, utf8(uuid));
    this.scheduler.registerEngine(uuid);
  }

  /**
   * An engine left (§7.6): it gets no more tasks; tasks pending on it fail (or are retried)
   * after `delayMs` (0 when the death is final).
   */
  unregisterEngine(uuid: string, delayMs?: number): void {
    this.scheduler.unregisterEngine(uuid, delayMs === undefined ? {} : { delayMs });
    this.#routing.delete(uuid); // it gets no more tasks
  }

  /**
   * A Hub resubmission (§5.7): signed by the Hub's session, submitted as a task from the Hub.
   *
   * @param msg The new request (header, parent, metadata `{}`, content, buffers).
   * @param session The Hub's session, which signs it.
   */
  submitFromHub(msg: HubMessage, session: Session): void {
    const frames = session.pack({
      header: msg.header as never,
      parentHeader: msg.parent_header as never,
      metadata: msg.metadata,
      content: msg.content,
      buffers: msg.buffers ?? [], // resubmitRequest refuses records whose buffers were not kept
    });
    this.#o.hub.taskRequest(msg);
    const header = msg.header;
    this.scheduler.submit(String(header.msg_id), {}, { client: HUB_CLIENT, body: frames, header });
  }

  /** Cancels the scheduler's timers. Idempotent. */
  close(): void {
    this.scheduler.close();
  }

  #fromClient(frames: Frames): void {
    // One pass: verify (signature, replay guard) and parse; null when dropped (and counted).
    const msg = this.#o.fromClients.unpack(frames, 1);
    if (msg === null) return;
    const hm = toHubMessage(msg);
    // Only the client's routing frame precedes the delimiter (the client sends none, §3.5.2).
    const body = frames.slice(msg.identities.length);
    this.#o.hub.taskRequest(hm);
    const accepted = this.scheduler.submit(
      msg.msgId,
      msg.metadata as TaskMetadata,
      { client: frames[0], body, header: hm.header },
    );
    if (!accepted) this.#o.logger.warn(`task ${msg.msgId} is already queued; ignored`);
  }

  #fromEngine(frames: Frames): void {
    const msg = this.#o.fromEngines.unpack(frames, 2);
    if (msg === null) return;
    const parent = msg.parentHeader as { msg_id?: unknown };
    const md = msg.metadata as JsonObject;
    if (typeof parent.msg_id !== "string") return;
    const engine = text(frames[0]);
    const known = this.scheduler.reply(
      engine,
      parent.msg_id,
      {
        status: typeof md.status === "string" ? md.status : "error",
        dependenciesMet: md.dependencies_met !== false,
      },
      { frames, msg: toHubMessage(msg) },
    );
    if (!known) this.#o.logger.debug(`stale task reply for ${parent.msg_id} from ${engine}`);
  }

  #act(a: SchedulerAction<TaskPayload, ReplyPayload>): void {
    const { hub, clientSide, engineSide, session } = this.#o;
    switch (a.type) {
      case "dispatch":
        sendQuiet(engineSide, [
          this.#routing.get(a.engine) ?? utf8(a.engine),
          a.payload.client,
          ...a.payload.body,
        ]);
        return;
      case "track":
        hub.taskDestination(a.msgId, a.engine);
        return;
      case "relay": {
        const f = a.reply.frames;
        const out = f.slice();
        out[0] = f[1];
        out[1] = f[0];
        sendQuiet(clientSide, out);
        // The request's own msg_id string (the reply's parent is an equal copy): the Hub and the
        // scheduler then remember one string per finished task, not two.
        hub.taskReply(a.reply.msg, a.msgId);
        return;
      }
      case "fail": {
        // §7.7 (no engine: metadata {}, no identity frame) and §7.6 (dead engine's uuid).
        const date = hub.now();
        const metadata: JsonObject = a.engine === undefined
          ? {}
          : { status: "error", engine: a.engine, date };
        const idents = a.engine === undefined
          ? [a.payload.client]
          : [a.payload.client, utf8(a.engine)];
        const reply = session.msg("apply_reply" as string, {
          content: a.content as unknown as JsonObject,
          parent: a.payload.header as never,
          metadata,
          identities: idents,
        });
        sendQuiet(clientSide, session.pack(reply));
        hub.taskReply({
          header: reply.header as unknown as JsonObject,
          parent_header: a.payload.header,
          metadata,
          content: a.content as unknown as JsonObject,
        });
        this.#o.logger.debug(`task ${a.msgId} failed in the scheduler: ${a.reason}`);
        return;
      }
    }
  }
}

/** Options of {@link PureTaskRelay}. */
export interface PureTaskRelayOptions {
  /** Client-side ROUTER. */
  clientSide: Socket;
  /** Engine-side DEALER (round-robin to connected engines). */
  engineSide: Socket;
  /** Checks of client requests. */
  fromClients: InboundChannel;
  /** Checks of engine replies. */
  fromEngines: InboundChannel;
  /** Hub state. */
  hub: HubState;
}

/**
 * The `pure` scheme (§7.8): a ROUTER→DEALER device. The DEALER's routing frame is added by the
 * engine's ROUTER, so replies arrive as `[client_id, DELIM, …]` and the client receives no
 * identity frame. The Hub learns the engine from the reply's `metadata.engine`.
 */
export class PureTaskRelay {
  /** Receive loops. */
  readonly done: Promise<void>;

  /**
   * Starts forwarding.
   * @param o Sockets, checks and Hub.
   */
  constructor(o: PureTaskRelayOptions) {
    this.done = Promise.all([
      pump(o.clientSide, (frames) => {
        if (o.fromClients.verify(frames, 1) === null) return;
        sendQuiet(o.engineSide, frames);
        const msg = o.fromClients.inspect(frames);
        if (msg !== null) o.hub.taskRequest(toHubMessage(msg));
      }, (e) => o.fromClients.handlerError(e, "forwarding a task")),
      pump(o.engineSide, (frames) => {
        if (o.fromEngines.verify(frames, 1) === null) return;
        sendQuiet(o.clientSide, frames);
        const msg = o.fromEngines.inspect(frames);
        if (msg !== null) o.hub.taskReply(toHubMessage(msg));
      }, (e) => o.fromEngines.handlerError(e, "forwarding a task reply")),
    ]).then(() => {});
  }
}
