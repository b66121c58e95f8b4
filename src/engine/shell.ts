/**
 * The engine's shell side (PROTOCOL.md §3.5.1–§3.5.3, §6.1–§6.3, §6.6): requests from the
 * mux, task and broadcast schedulers (all on the one shell ROUTER) wait in one queue and run
 * in the kernel one at a time, in arrival order. Each gets:
 *
 * ```
 * IOPub  status busy            parent = request header (only when it is news, below)
 * IOPub  execute_input, stream, display_data, execute_result, data_message   (from the kernel)
 * IOPub  error                  on failure
 * shell  <type>_reply           same socket and routing frames, metadata of §6.3
 * IOPub  status idle
 * ```
 *
 * **`busy` only when it is news.** A request's `busy` is deferred ({@link IOPub.deferBusy}):
 * it goes out right before the request's first other IOPub message (so before any output,
 * and before `execute_input`), when the request's code returns a promise (it awaits: an
 * async function, a cell with top-level `await`), or when the main thread finds the request
 * still holding the worker a second or two later (`kernel/looks.ts`; the main thread then
 * sends it, `kernel/busy_slot.ts`). No timer per request: arming and clearing one made a
 * direct call 20–50 µs slower (interleaved blocks, BENCHMARKS.md twelfth round). A request
 * that ends within its turn and publishes nothing else gets only its `idle`. ipyparallel's
 * client and Hub ignore `busy` (they wait for `idle`), and ours completes a result at its
 * reply.
 *
 * **No status at all for a quiet request.** Our client marks its requests `quiet_status`
 * ({@link QUIET_STATUS}): it completes a result at its reply from `iopub_count` and needs no
 * `idle` unless output came. Such a request that published nothing gets neither `busy` nor
 * `idle`; any other gets both. ipyparallel's client sends no mark and gets both, as ever.
 *
 * The reply to a request that ran (`ok`, or an error its code raised) also carries
 * `iopub_count` in its metadata: how many IOPub messages other than `status` this engine
 * published for the request before the reply. Our client completes a result at its
 * reply when it has seen that many (none, for most applies) instead of waiting for `idle`;
 * ipyparallel's client ignores the key.
 *
 * Aborts (control `abort_request`, §6.5.2) mark queued requests; a marked request is not run
 * when it reaches the front of the queue and gets an `aborted` reply. Control requests never
 * wait in this queue, so they are processed before queued shell work.
 *
 * @module
 */

import type { ExecuteOptions, KernelEvent } from "./kernel/mod.ts";
import type { ApplyReply, ExecuteReply } from "./kernel/mod.ts";
import type { Message, MessageHeader, ParentHeader } from "../protocol/messages.ts";
import { QUIET_STATUS } from "../protocol/messages/metadata.ts";
import { serializeObjectPickle } from "../protocol/pickle.ts";
import { deserializeObject, detectFormat } from "../protocol/serialize.ts";
import type { Socket } from "../zmtp/mod.ts";
import type { IOPub } from "./iopub.ts";
import {
  engineInfo,
  errorContent,
  kernelInfoContent,
  now,
  parentBytes,
  type ReplyContext,
  replyMetadata,
  type ReplyStatus,
  sendReply,
  sendReplyFast,
} from "./replies.ts";

const OK_CONTENT = new TextEncoder().encode('{"status":"ok"}');

/** What the shell needs of a kernel: the kernel worker's own runtime (`kernel/serve.ts`). */
export interface ShellKernel {
  /** The execution count of the last cell stored in history. */
  readonly executionCount: number;
  /** Run a cell; never rejects for errors in user code. */
  execute(code: string, options?: ExecuteOptions): Promise<ExecuteReply>;
  /** Call a function from `apply_request` buffers. */
  apply(frames: Uint8Array[], options?: { requestId?: string }): Promise<ApplyReply>;
}

/** What the shell needs besides the reply context. */
export interface ShellOptions extends ReplyContext {
  /** The kernel that runs user code. */
  kernel: ShellKernel;
  /** The IOPub publisher. */
  iopub: IOPub;
  /** Whether cells are TypeScript (for `kernel_info_reply`). */
  typescript: boolean;
  /** Awaited before each request leaves the queue (e.g. to let control messages arrive). */
  beforeRun?: () => Promise<void> | void;
  /** Called after each request's `status: idle`. */
  afterRun?: () => void;
}

interface Item {
  socket: Socket;
  msg: Message;
  aborted: boolean;
}

/** How many request headers are remembered for output that arrives after a reply. */
const RECENT_LIMIT = 256;
/** How many abort marks for not-yet-seen msg_ids are kept. */
const ABORT_LIMIT = 100_000;
/** How many client sessions known to speak ipp-js are remembered. */
const JS_CLIENTS_LIMIT = 1024;

const PICKLE_HINT = "; this engine runs JavaScript (ipp-deno) and cannot run Python " +
  "functions: send JavaScript from a JavaScript client, or call a function defined on the " +
  "engine by name with ipyparallel.Reference('name')";

/** The shell request queue and handlers. */
export class Shell {
  readonly #o: ShellOptions;
  readonly #queue: Item[] = [];
  #running: Item | undefined;
  /** Whether the running request's `idle` went out right behind its reply ({@link #replyOk}). */
  #idleSent = false;
  /** IOPub messages other than `status` published for the running request so far. */
  #outputs = 0;
  readonly #abortIds = new Set<string>();
  readonly #recent = new Map<string, MessageHeader>();
  #pump: Promise<void> | undefined;
  #closing = false;
  /** Client sessions that sent ipp-js apply requests: they read ipp-js `data_message`s. */
  readonly #jsClients = new Set<string>();

  /**
   * A shell queue.
   * @param options Session, identity, kernel, IOPub and the between-requests hook.
   */
  constructor(options: ShellOptions) {
    this.#o = options;
  }

  /** Requests waiting (not counting the running one). */
  get pending(): number {
    return this.#queue.length;
  }

  /** The msg_id of the running request, if any. */
  get runningId(): string | undefined {
    return this.#running?.msg.msgId;
  }

  /**
   * Queue a request that arrived on a shell socket.
   * @param socket The socket it came from (the reply goes back there).
   * @param msg The unpacked request.
   */
  enqueue(socket: Socket, msg: Message): void {
    // While stopping, what still arrives is answered `aborted` (until the socket closes).
    this.#queue.push({ socket, msg, aborted: this.#closing });
    this.#pump ??= this.#drain();
  }

  /**
   * Mark requests as aborted (PROTOCOL.md §6.5.2): queued ones and ones not seen yet get an
   * `aborted` reply instead of running. An empty list aborts every queued `execute_request`.
   * A running request cannot be aborted.
   *
   * @param msgIds The msg_ids.
   * @returns How many queued requests were marked.
   */
  abort(msgIds: readonly string[]): number {
    let marked = 0;
    if (msgIds.length === 0) {
      for (const item of this.#queue) {
        if (item.msg.msgType === "execute_request" && !item.aborted) {
          item.aborted = true;
          marked++;
        }
      }
      return marked;
    }
    const ids = new Set(msgIds);
    for (const item of this.#queue) {
      if (ids.delete(item.msg.msgId) && !item.aborted) {
        item.aborted = true;
        marked++;
      }
    }
    // Ids not here yet (still in flight, or already done): remember them, bounded.
    for (const id of ids) {
      if (id === this.#running?.msg.msgId || this.#recent.has(id)) continue;
      if (this.#abortIds.size >= ABORT_LIMIT) {
        this.#abortIds.delete(this.#abortIds.values().next().value!);
      }
      this.#abortIds.add(id);
    }
    return marked;
  }

  /**
   * Turn a kernel event into an IOPub message whose parent is the request that caused it
   * (PROTOCOL.md §6.6).
   *
   * @param event The kernel event.
   */
  onKernelEvent(event: KernelEvent): void {
    const iopub = this.#o.iopub;
    const running = this.#running?.msg.header;
    const parent = (event.requestId !== null ? this.#recent.get(event.requestId) : undefined) ??
      running ?? {};
    if (parent === running) this.#outputs++;
    switch (event.type) {
      case "stream":
        iopub.publish("stream", {
          kind: event.name,
          content: { name: event.name, text: event.text },
          parent,
        });
        break;
      case "display_data":
        iopub.publish("display_data", {
          kind: "displaypub",
          content: { data: event.data, metadata: event.metadata, transient: event.transient },
          parent,
        });
        break;
      case "data_message":
        iopub.publish("data_message", {
          topic: "datapub",
          content: { keys: event.keys },
          parent,
          buffers: this.#dataFrames(event.buffers, parent),
        });
        break;
      case "execute_input":
        iopub.publish("execute_input", {
          content: { code: event.code, execution_count: event.executionCount },
          parent,
        });
        break;
      case "execute_result":
        iopub.publish("execute_result", {
          content: {
            data: event.data,
            metadata: event.metadata,
            execution_count: event.executionCount,
          },
          parent,
        });
        break;
    }
  }

  /**
   * Stop running requests: every queued request, and any that arrives from now on, is
   * answered `aborted`; resolves when the running request (if any) and the queue have been
   * answered. The kernel must be closed (or the running
   * request finish) for this to resolve.
   */
  async close(): Promise<void> {
    this.#closing = true;
    for (const item of this.#queue) item.aborted = true;
    await this.#pump;
  }

  /**
   * `data_message` buffers in a format the requesting client reads: ipp-js for clients seen
   * sending ipp-js, else a pickle (Python clients unpickle them in their I/O thread and fail
   * loudly on anything else; our client reads both).
   */
  #dataFrames(frames: Uint8Array[], parent: ParentHeader): Uint8Array[] {
    if (parent.session !== undefined && this.#jsClients.has(parent.session)) return frames;
    try {
      return serializeObjectPickle(deserializeObject(frames)[0]);
    } catch (e) {
      this.#o.log.warn(`data_message sent as ipp-js (it cannot be pickled: ${e})`);
      return frames;
    }
  }

  async #drain(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        const wait = this.#o.beforeRun?.();
        if (wait !== undefined) await wait;
        const item = this.#queue.shift();
        if (item === undefined) break;
        this.#running = item;
        try {
          await this.#run(item);
        } catch (e) {
          this.#o.log.error(`shell request ${item.msg.msgId} failed in the engine: ${e}`);
        }
        this.#running = undefined;
      }
    } finally {
      this.#pump = undefined;
    }
  }

  #remember(header: MessageHeader): void {
    if (this.#recent.size >= RECENT_LIMIT) {
      this.#recent.delete(this.#recent.keys().next().value!);
    }
    this.#recent.set(header.msg_id, header);
  }

  async #run(item: Item): Promise<void> {
    const { msg, socket } = item;
    const o = this.#o;
    const started = now();
    this.#idleSent = false;
    this.#outputs = 0;
    this.#remember(msg.header);
    const parent = parentBytes(msg);
    // `busy` is deferred until it is news (module doc), and dropped by `idle` if it never is.
    o.iopub.deferBusy(parent);
    const aborted = item.aborted || this.#abortIds.delete(msg.msgId);
    try {
      if (aborted) {
        this.#replyAborted(socket, msg, started);
        return;
      }
      switch (msg.msgType) {
        case "execute_request":
          await this.#execute(socket, msg, started, parent);
          break;
        case "apply_request":
          await this.#apply(socket, msg, started, parent);
          break;
        case "kernel_info_request":
          sendReply(o, socket, msg, { content: kernelInfoContent(o.typescript) });
          break;
        default: {
          o.log.warn(`unsupported shell message ${msg.msgType} ${msg.msgId}`);
          sendReply(o, socket, msg, {
            content: errorContent(
              "NotImplementedError",
              `${msg.msgType} is not supported on the shell channel of this engine`,
            ),
            metadata: replyMetadata(msg, o.engine, started, "error"),
          });
        }
      }
    } catch (e) {
      // The engine failed, not user code (e.g. the kernel could not restart): still answer.
      o.log.error(`${msg.msgType} ${msg.msgId} failed in the engine: ${e}`);
      sendReply(o, socket, msg, {
        content: {
          ...errorContent("EngineError", `the engine failed to run the request: ${e}`),
          engine_info: engineInfo(o.engine, msg.msgType === "apply_request" ? "apply" : "execute"),
        },
        metadata: replyMetadata(msg, o.engine, started, "error"),
      });
    } finally {
      if (!this.#idleSent) o.iopub.statusFast("idle", parent);
      o.afterRun?.();
    }
  }

  /**
   * An `ok` reply (the fast packer), then `idle` queued in the same turn: both connections
   * write back to back, instead of the idle waiting for the reply's write and a turn of the
   * request loop (a client waits for both). Everything the request printed went out before.
   */
  #replyOk(
    socket: Socket,
    msg: Message,
    started: string,
    parent: Uint8Array,
    content: Uint8Array | Record<string, unknown>,
    buffers?: readonly Uint8Array[],
  ): void {
    const o = this.#o;
    const metadata = this.#metadata(msg, started, "ok");
    sendReplyFast(o, o.iopub.packer, socket, msg, parent, metadata, content, buffers);
    this.#idleSent = true;
    // The client completes the result at this reply (`iopub_count`) and said it needs no
    // status: a request that published nothing gets none (module doc).
    if ((msg.metadata as Record<string, unknown>)[QUIET_STATUS] === true && o.iopub.dropBusy()) {
      return;
    }
    o.iopub.statusFast("idle", parent);
  }

  #replyAborted(socket: Socket, msg: Message, started: string): void {
    this.#o.log.info(`aborted ${msg.msgType} ${msg.msgId}`);
    sendReply(this.#o, socket, msg, {
      content: { status: "aborted" },
      metadata: replyMetadata(msg, this.#o.engine, started, "aborted"),
    });
  }

  async #execute(
    socket: Socket,
    msg: Message,
    started: string,
    parent: Uint8Array,
  ): Promise<void> {
    const o = this.#o;
    const c = msg.content as Record<string, unknown>;
    if (typeof c.code !== "string") {
      sendReply(o, socket, msg, {
        content: {
          ...errorContent("BadRequest", "execute_request needs a string `code`"),
          engine_info: engineInfo(o.engine, "execute"),
          execution_count: o.kernel.executionCount,
          user_expressions: {},
          payload: [],
        },
        metadata: replyMetadata(msg, o.engine, started, "error"),
      });
      return;
    }
    const silent = c.silent === true;
    const expressions = isStringRecord(c.user_expressions) ? c.user_expressions : {};
    const reply: ExecuteReply = await o.kernel.execute(c.code, {
      requestId: msg.msgId,
      silent,
      storeHistory: typeof c.store_history === "boolean" ? c.store_history : undefined,
      userExpressions: expressions,
    });
    if (reply.status === "aborted") {
      this.#replyAborted(socket, msg, started);
      return;
    }
    const common = {
      execution_count: reply.executionCount,
      user_expressions: reply.userExpressions,
      payload: [],
    };
    if (reply.status === "ok") {
      this.#replyOk(socket, msg, started, parent, { status: "ok", ...common });
      return;
    }
    const error = { ename: reply.ename, evalue: reply.evalue, traceback: reply.traceback };
    this.#publishError(error, msg);
    sendReply(o, socket, msg, {
      content: {
        status: "error",
        ...error,
        engine_info: engineInfo(o.engine, "execute"),
        ...common,
      },
      metadata: this.#metadata(msg, started, "error"),
    });
    // ipykernel: a failed non-silent cell aborts the execute requests queued behind it.
    if (!silent && c.stop_on_error !== false) {
      const n = this.abort([]);
      if (n > 0) o.log.info(`aborted ${n} queued execute requests after an error`);
    }
  }

  async #apply(
    socket: Socket,
    msg: Message,
    started: string,
    parent: Uint8Array,
  ): Promise<void> {
    const o = this.#o;
    let reply: ApplyReply;
    if (msg.buffers.length === 0) {
      reply = {
        status: "error",
        ename: "SerializationError",
        evalue: "apply_request without buffers (expected the function and its arguments)",
        traceback: [],
      };
    } else {
      if (detectFormat(msg.buffers[0]) === "ipp-js" && !this.#jsClients.has(msg.header.session)) {
        if (this.#jsClients.size >= JS_CLIENTS_LIMIT) this.#jsClients.clear();
        this.#jsClients.add(msg.header.session);
      }
      reply = await o.kernel.apply(msg.buffers, { requestId: msg.msgId });
    }
    if (reply.status === "aborted") {
      this.#replyAborted(socket, msg, started);
      return;
    }
    if (reply.status === "ok") {
      this.#replyOk(socket, msg, started, parent, OK_CONTENT, reply.buffers);
      return;
    }
    let evalue = reply.evalue;
    let traceback = reply.traceback;
    if (reply.ename === "UnsupportedSerialization" && !evalue.includes("JavaScript")) {
      evalue += PICKLE_HINT;
      traceback = [`UnsupportedSerialization: ${evalue}`];
    }
    const error: Record<string, unknown> = {
      ename: reply.ename,
      evalue,
      traceback,
      engine_info: engineInfo(o.engine, "apply"),
    };
    this.#publishError(error, msg);
    sendReply(o, socket, msg, {
      content: { status: "error", ...error },
      metadata: this.#metadata(msg, started, "error" satisfies ReplyStatus),
    });
  }

  /** Publishes a request's `error` on IOPub (counted in its reply's `iopub_count`). */
  #publishError(error: Record<string, unknown>, msg: Message): void {
    this.#outputs++;
    this.#o.iopub.publish("error", { content: error, parent: msg.header });
  }

  /** Reply metadata (§6.3) of the running request, with its `iopub_count` (module doc). */
  #metadata(msg: Message, started: string, status: ReplyStatus): Record<string, unknown> {
    const md = replyMetadata(msg, this.#o.engine, started, status);
    md.iopub_count = this.#outputs;
    return md;
  }
}

function isStringRecord(v: unknown): v is Record<string, string> {
  return v !== null && typeof v === "object" && !Array.isArray(v) &&
    Object.values(v).every((x) => typeof x === "string");
}
