/**
 * The engine's IOPub publisher (PROTOCOL.md §6.6): a PUB socket connected to the
 * controller's engine-side `iopub` port, sending every side effect with a topic frame
 * `engine.<id>.<kind>` (mandatory: the Python Hub drops untopiced IOPub messages), the
 * causing request's header as parent, and metadata `{"engine": uuid}`.
 *
 * @module
 */

import type { MessageHeader, ParentHeader } from "../protocol/messages.ts";
import type { BufferLike, Session } from "../protocol/session.ts";
import type { Socket } from "../zmtp/mod.ts";
import type { BusySlot } from "./kernel/busy_slot.ts";
import type { Logger } from "./log.ts";
import { FastPacker } from "./replies.ts";

const encoder = new TextEncoder();
const STATUS_CONTENT: Record<string, Uint8Array> = {
  starting: encoder.encode('{"execution_state":"starting"}'),
  busy: encoder.encode('{"execution_state":"busy"}'),
  idle: encoder.encode('{"execution_state":"idle"}'),
};

/** IOPub `status` values. */
export type ExecutionState = "starting" | "busy" | "idle";

/** Publishes an engine's IOPub messages. */
export class IOPub {
  readonly #session: Session;
  readonly #socket: Socket;
  readonly #log: Logger | undefined;
  #id: number | null = null;
  /** The packer of the engine's hot path (shares the session's msg_id counter). */
  readonly packer: FastPacker;
  #statusTopic: Uint8Array[] | undefined;
  #metadata: Uint8Array | undefined;
  /**
   * When set, every message goes through it instead of straight to the socket (the kernel
   * worker's handoff to the main thread, for output of user code that may hold the worker's
   * thread; see `kernel/iopub_handoff.ts`).
   */
  handoff: { send(frames: Uint8Array[], held: boolean): void } | undefined;
  /** Whether the messages published now were written by user code that may hold the thread. */
  held = false;
  /** The running request's header bytes while its `busy` is deferred and not yet sent. */
  #pendingBusy: Uint8Array | null = null;
  /**
   * Where a deferred `busy` is offered to the main thread, which sends it for a request that
   * holds the worker's thread (the kernel worker's; `kernel/busy_slot.ts`).
   */
  busySlot: BusySlot | undefined;

  /**
   * A publisher over a connected PUB socket.
   * @param session The engine's session (its id is the engine uuid).
   * @param socket A connected PUB socket.
   * @param log Logger for send failures.
   */
  constructor(session: Session, socket: Socket, log?: Logger) {
    this.#session = session;
    this.#socket = socket;
    this.#log = log;
    this.packer = new FastPacker(session);
  }

  /** The engine id used in topics (set once registered). */
  set id(id: number) {
    this.#id = id;
    this.#statusTopic = undefined;
  }

  /**
   * The topic frame for a kind of message: `engine.<id>.<kind>` (PROTOCOL.md §6.6).
   * @param kind e.g. `status`, `stdout`, `execute_result`.
   * @returns The topic.
   */
  topic(kind: string): string {
    return `engine.${this.#id ?? "?"}.${kind}`;
  }

  /**
   * Send one IOPub message.
   *
   * @param msgType The message type, e.g. `stream`.
   * @param options `topic` (defaults to `engine.<id>.<kind>`), `kind`, content, parent, buffers;
   *   `metadata` defaults to `{"engine": uuid}`.
   */
  publish(
    msgType: string,
    options: {
      kind?: string;
      topic?: string;
      content: Record<string, unknown>;
      parent?: ParentHeader | MessageHeader;
      metadata?: Record<string, unknown>;
      buffers?: readonly BufferLike[];
    },
  ): void {
    const s = this.#session;
    let frames: Uint8Array[];
    try {
      frames = s.pack(s.msg(msgType, {
        identities: [options.topic ?? this.topic(options.kind ?? msgType)],
        content: options.content,
        parent: options.parent ?? {},
        metadata: options.metadata ?? { engine: s.session },
        buffers: options.buffers,
      }));
    } catch (e) {
      this.#log?.error(`cannot pack IOPub ${msgType}: ${e}`);
      // Tell the request's owner too, on its stderr: the output is not silently lost.
      if (msgType !== "stream") {
        this.publish("stream", {
          kind: "stderr",
          content: {
            name: "stderr",
            text: `[engine] the ${msgType} of this request could not be sent: ${e}\n`,
          },
          parent: options.parent,
        });
      }
      return;
    }
    this.#send(frames, msgType);
  }

  /**
   * Publish `status` (`starting`, `busy`, `idle`) with the request as parent.
   * @param state The execution state.
   * @param parent The request's header (`{}` for `starting`).
   */
  status(state: ExecutionState, parent: ParentHeader | MessageHeader = {}): void {
    this.publish("status", { content: { execution_state: state }, parent });
  }

  /**
   * Publish `status` with the request's raw header bytes as parent: the same message as
   * {@link IOPub.status}, packed with prebuilt topic, metadata and content frames.
   * @param state The execution state.
   * @param parent The parent header as JSON bytes (the request's header frame).
   */
  statusFast(state: ExecutionState, parent: Uint8Array): void {
    // A deferred `busy` not sent by the time the request is idle is no news: dropped.
    if (state === "idle") this.dropBusy();
    const frames = this.statusFrames(state, parent);
    if (frames !== undefined) this.#send(frames, "status");
  }

  /**
   * Pack a `status` message without sending it (the main thread's `busy` for a request that
   * holds the kernel worker).
   * @param state The execution state.
   * @param parent The parent header as JSON bytes.
   * @returns The frames, or `undefined` when they cannot be packed (logged).
   */
  statusFrames(state: ExecutionState, parent: Uint8Array): Uint8Array[] | undefined {
    this.#statusTopic ??= [encoder.encode(this.topic("status"))];
    this.#metadata ??= encoder.encode(JSON.stringify({ engine: this.#session.session }));
    try {
      return this.packer.pack(
        this.#statusTopic,
        "status",
        parent,
        this.#metadata,
        STATUS_CONTENT[state],
      );
    } catch (e) {
      this.#log?.error(`cannot pack IOPub status: ${e}`);
      return undefined;
    }
  }

  /**
   * Defer the running request's `busy`: it is sent before the request's first other IOPub
   * message, or by {@link IOPub.flushBusy}, and dropped by its `idle` if neither came first.
   * A request that ends without output and without leaving its thread publishes only `idle`,
   * which spares every process one message per request (`shell.ts` explains when it goes).
   * @param parent The request's header bytes.
   */
  deferBusy(parent: Uint8Array): void {
    this.#pendingBusy = parent;
    this.busySlot?.offer(parent);
  }

  /**
   * Forget the deferred `busy` of a request that ends.
   * @returns Whether it was still deferred: the request published nothing on IOPub (false
   *   also when the main thread sent it).
   */
  dropBusy(): boolean {
    if (this.#pendingBusy === null) return false;
    this.#pendingBusy = null;
    return this.busySlot?.take() ?? true;
  }

  /** Send the deferred `busy` now, if there is one and the main thread has not sent it. */
  flushBusy(): void {
    const parent = this.#pendingBusy;
    if (parent === null) return;
    this.#pendingBusy = null;
    if (this.busySlot?.take() === false) return;
    this.statusFast("busy", parent);
  }

  #send(frames: Uint8Array[], what: string): void {
    if (this.#pendingBusy !== null) this.flushBusy();
    if (this.handoff !== undefined) this.handoff.send(frames, this.held);
    else this.write(frames, what);
  }

  /**
   * Write one packed message on the socket (no handoff).
   * @param frames The message.
   * @param what What it is, for the log if it cannot be sent.
   */
  write(frames: Uint8Array[], what = "message"): void {
    // PUB never blocks (it drops at the high-water mark), so nothing to await for order.
    this.#socket.send(frames).catch((e) => {
      if (!this.#socket.closed) this.#log?.warn(`IOPub ${what} not sent: ${e}`);
    });
  }
}
