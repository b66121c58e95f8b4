/**
 * {@link ClientCore}: the wiring under `Client` — sockets, Session, the actors' owners (task
 * registry, engine table, Hub link) and the router between them (DESIGN.md "The actors"),
 * the submission hot path, control requests, controller liveness and lifecycle. `Client`
 * (`client.ts`) adds the public API on top: views, Hub queries, waiting.
 *
 * @module
 */

import { ControllerLostError, InvalidOptionError } from "../errors.ts";
import type { ClientConnectionInfo, ClientUrls } from "../protocol/connection.ts";
import { packApplyPickle } from "../protocol/pickle.ts";
import type { Reference } from "../protocol/pickle.ts";
import { packApplyMessage } from "../protocol/serialize.ts";
import { Session } from "../protocol/session.ts";
import { DIRECT_OFFER, DIRECT_SYNC } from "../protocol/messages/direct.ts";
import { HubLink } from "./actors/hub_link_machine.ts";
import { AsyncMapResult } from "./async_map_result.ts";
import { AsyncResult } from "./async_result.ts";
import type { AsyncResultOptions } from "./async_result.ts";
import { ClientSockets, consoleLogger, debugLogger, endpointAlive } from "./client_sockets.ts";
import type { Channel, Logger } from "./client_sockets.ts";
import { checkReplies, ControlChannel } from "./control_channel.ts";
import { decodeResult } from "./decode.ts";
import { DirectRecovery } from "./direct_recovery.ts";
import { EngineTable } from "./engine_table.ts";
import type { IncomingMessage } from "./messages.ts";
import type { Metadata } from "./metadata.ts";
import type { ClientSide, TaskResult } from "./result_source.ts";
import { MessageRouter } from "./router.ts";
import { Submitter } from "./submit.ts";
import type {
  ApplyRequestOptions,
  ExecuteRequestOptions,
  Serializer,
  Submitted,
} from "./submit.ts";
import { resolveTargets } from "./targets.ts";
import type { Targets } from "./targets.ts";
import { TaskRegistry } from "./task_registry.ts";
import type { ClientOptions } from "./client_options.ts";

export type { ApplyRequestOptions, ExecuteRequestOptions, Serializer, Submitted, Targets };
export type { ClientOptions };

/** A job: a msg_id, an index into `history`, or an AsyncResult. */
export type Job = string | number | { msgIds: readonly string[] };

/** What `Client` reaches of its core. */
export interface ClientParts {
  /** Tasks and results. */
  tasks: TaskRegistry;
  /** Engines. */
  engines: EngineTable;
  /** The Hub link. */
  hub: HubLink;
  /** Control requests. */
  control: ControlChannel;
  /** Submitted msg_ids (mutable). */
  history: string[];
  /** Abort and spin for AsyncResults. */
  clientSide: ClientSide;
}

/**
 * The wiring of a client (see the module doc). Use `Client.connect` from `client.ts`.
 */
export class ClientCore implements AsyncDisposable {
  /** Default `block` for views and control methods. */
  block: boolean;
  /** This client's Session (its id filters IOPub, §6.6). */
  readonly session: Session;
  /** The connection file's contents. */
  readonly connectionInfo: ClientConnectionInfo;
  /** Where the connection file was found. */
  readonly connectionFile: string;
  readonly #history: string[] = [];
  readonly #tasks: TaskRegistry;
  readonly #engines: EngineTable;
  readonly #hub: HubLink;
  readonly #router: MessageRouter;
  readonly #sockets: ClientSockets;
  readonly #log: Logger;
  readonly #control: ControlChannel;
  readonly #submitter: Submitter;
  readonly #clientSide: ClientSide;
  #liveness: ReturnType<typeof setInterval> | undefined;
  #probeFailures = 0;
  #probing = false;
  #closing: Promise<void> | null = null;

  readonly #registrationUrl: string;
  /** Run after the sockets closed (the SSH tunnel, for one). */
  protected readonly closers: (() => Promise<void>)[] = [];

  /**
   * Wires a client to a connection file's sockets; nothing connects until
   * {@link ClientCore.handshake}.
   *
   * @param info The connection file's contents.
   * @param path Where it was found.
   * @param urls Its channel URLs.
   * @param options Client options.
   */
  protected constructor(
    info: ClientConnectionInfo,
    path: string,
    urls: ClientUrls,
    options: ClientOptions,
  ) {
    this.connectionInfo = info;
    this.connectionFile = path;
    this.#registrationUrl = urls.registration;
    this.block = options.block ?? false;
    this.#log = options.log ?? (options.debug ? debugLogger : consoleLogger);
    // Actor transitions (the `debug` option): no inspector at all without it.
    const trace = options.debug ? (line: string) => this.#log("debug", line) : undefined;
    this.session = new Session({
      key: options.key ?? info.key,
      signatureScheme: info.signature_scheme,
      username: options.username ?? envUser() ?? "username",
    });
    this.#engines = new EngineTable({
      trace,
      failTask: (id, e) => this.#tasks.engineDied(id, e),
      onChange: (e) => {
        if (e.event === "unregister") this.#control.engineGone(e.id);
      },
    });
    this.#tasks = new TaskRegistry({
      decode: decodeResult,
      engines: this.#engines,
      maxCachedResults: options.maxCachedResults,
      outputTimeoutMs: options.outputTimeoutMs,
      trace,
      onStray: (msgId, msg) =>
        this.#log("warn", `Ignored ${msg.header.msg_type} for unknown or settled msg_id ${msgId}`),
    });
    this.#sockets = new ClientSockets({
      session: this.session,
      urls,
      debug: options.debug,
      direct: options.direct ?? true,
      log: this.#log,
      onMessage: (channel, msg) => this.#dispatch(channel, msg),
      onDirectLost: (uuid, msgIds) => void recovery.recover(uuid, msgIds),
      onDirectLookAgain: () => void this.#resyncEngines(5_000).catch(() => {}),
      onStatus: (parentMsgId, parentSession, engine, state) =>
        this.#router.iopubStatus(parentMsgId, parentSession, engine, state),
    });
    this.#submitter = new Submitter({
      session: this.session,
      tasks: this.#tasks,
      history: this.#history,
      maxHistory: options.maxHistory,
      send: (channel, frames, msgId) => this.#sockets.send(channel, frames, msgId),
      uuidOf: (id) => this.#requireUuid(id),
      closed: () => this.closed,
    });
    this.#control = new ControlChannel({
      session: this.session,
      send: (frames) => this.#sockets.send("control", frames),
      uuidOf: (id) => this.#requireUuid(id),
      log: this.#log,
    });
    this.#hub = new HubLink({
      connectTimeoutMs: options.timeout ?? 10_000,
      trace,
      send: (msgType, content) => {
        // What this client sent to and got from engines straight since its last query: the
        // Hub records it before it answers (src/controller/direct_hub.ts).
        const sync = this.#sockets.direct?.takeSync();
        if (sync !== undefined) content = { ...content, [DIRECT_SYNC]: sync };
        const msg = this.session.msg(msgType, { content });
        this.#sockets.send("registration", this.session.pack(msg)).catch((e) =>
          this.#log("warn", `Could not send ${msgType}: ${(e as Error).message}`)
        );
        return msg.header.msg_id;
      },
    });
    this.#router = new MessageRouter({
      session: this.session.session,
      tasks: this.#tasks,
      engines: this.#engines,
      hub: this.#hub,
      onControlReply: (msg) => this.#control.handleReply(msg),
      onShutdown: () => void this.close(),
    });
    const recovery = new DirectRecovery({
      query: (msgType, content) => this.#hub.query(msgType, content),
      outstanding: (msgId) => this.#tasks.outstanding.has(msgId),
      deliver: (reply) => this.#router.reply(reply),
      fail: (msgId, error) => this.#tasks.sendFailed(msgId, error),
      closed: () => this.closed,
      idOf: (uuid) => this.#engines.idOf(uuid),
      warn: (message) => this.#log("warn", message),
    });
    this.#clientSide = {
      abort: (ids) => this.abort(ids, { block: false }),
      forget: (ids) => this.#tasks.purge(ids.filter((id) => !this.#tasks.outstanding.has(id))),
    };
    const interval = options.livenessIntervalMs ?? 1000;
    if (interval > 0) {
      const timer = setInterval(() => this.#checkLiveness(urls.registration), interval);
      Deno.unrefTimer(timer);
      this.#liveness = timer;
    }
  }

  /**
   * Connects every socket and waits for `connection_reply` (PROTOCOL.md §5.1).
   *
   * @param timeout Milliseconds to wait.
   * @throws {ControllerLostError} No reply in time (the client is closed).
   */
  protected async handshake(timeout: number): Promise<void> {
    this.#sockets.openAll();
    try {
      const reply = await this.#hub.query("connection_request", {}, { timeoutMs: timeout });
      this.#engines.update((reply.content.engines ?? {}) as Record<string, string>);
      this.#learnDirect(reply.content);
      this.#hub.connected();
      // Engines that register between that reply and our subscription reaching the
      // controller are announced to nobody (PUB/SUB drops what no subscriber asked for):
      // once subscribed, ask again and add what is new.
      if (await this.#sockets.subscribed(Math.min(timeout, 5000))) {
        await this.#resyncEngines(timeout);
      } else {
        this.#log(
          "warn",
          "IOPub/notification sockets not connected yet: early output may be lost; " +
            "engines are looked up again once they connect",
        );
        this.#sockets.subscribed(Number.POSITIVE_INFINITY, 50).then(
          (ok) => ok ? this.#resyncEngines(timeout) : undefined,
        ).catch(() => {});
      }
    } catch (error) {
      const closedHere = this.#hub.state === "closed";
      await this.close();
      if (!(error instanceof Error) || closedHere) throw error;
      // Say which of the two usual causes it is: nothing listens, or something listens and
      // drops our requests (a controller signs with another key and drops ours unanswered).
      const listening = await endpointAlive(this.#registrationUrl, 1000);
      const why = listening
        ? `something accepts connections there but did not answer: check that the key in ` +
          `${this.connectionFile} (or the key option) is the controller's current one`
        : `nothing accepts connections there: is the controller running? (connection file ` +
          `${this.connectionFile}; start one with \`ipp controller\` or \`ipp cluster start\`)`;
      throw new ControllerLostError(
        `No connection_reply from the controller at ${this.#registrationUrl} within ` +
          `${timeout} ms: ${why}`,
        { cause: error },
      );
    }
  }

  /** Adds the engines a fresh `connection_reply` lists that this client has not seen. */
  async #resyncEngines(timeout: number): Promise<void> {
    const reply = await this.#hub.query("connection_request", {}, { timeoutMs: timeout });
    this.#engines.update((reply.content.engines ?? {}) as Record<string, string>);
    this.#learnDirect(reply.content);
  }

  /** Engine addresses of the direct path in a `connection_reply` (our controller's). */
  #learnDirect(content: Record<string, unknown>): void {
    const direct = this.#sockets.direct;
    const all = content[DIRECT_OFFER];
    if (direct === undefined || all === null || typeof all !== "object") return;
    for (const [uuid, address] of Object.entries(all)) direct.learn(uuid, address);
  }

  /**
   * The client's parts, for the API layer (`Client`) and its helpers.
   * @ignore
   */
  protected get parts(): ClientParts {
    return {
      tasks: this.#tasks,
      engines: this.#engines,
      hub: this.#hub,
      control: this.#control,
      history: this.#history,
      clientSide: this.#clientSide,
    };
  }

  // -- state ----------------------------------------------------------------------------------

  /** Ids of the registered engines, ascending; follows registrations as they arrive. */
  get ids(): number[] {
    return this.#engines.ids;
  }

  /**
   * msg_ids this client submitted, oldest first: the newest `maxHistory` of them (a list as
   * ipyparallel's for the tail it keeps; indices count from the oldest entry kept).
   */
  get history(): readonly string[] {
    return this.#history;
  }

  /** msg_ids of the tasks not yet settled. */
  get outstanding(): ReadonlySet<string> {
    return this.#tasks.outstanding;
  }

  /** Settled results by msg_id (`get` gives `undefined` while outstanding or unknown). */
  get results(): { get(msgId: string): TaskResult | undefined; has(msgId: string): boolean } {
    const tasks = this.#tasks;
    const get = (msgId: string) => {
      try {
        return tasks.resultOf(msgId);
      } catch {
        return undefined;
      }
    };
    return { get, has: (msgId) => get(msgId) !== undefined };
  }

  /** Metadata by msg_id (timings, engine, captured output; PROTOCOL.md §9.5). */
  get metadata(): { get(msgId: string): Metadata | undefined } {
    const tasks = this.#tasks;
    return {
      get: (msgId) => {
        try {
          return tasks.metadataOf(msgId);
        } catch {
          return undefined;
        }
      },
    };
  }

  /** Whether {@link Client.close} was called (or the controller shut down). */
  get closed(): boolean {
    return this.#closing !== null;
  }

  /**
   * Ids of the engines this client's direct-view requests currently go to straight (the
   * same-host direct path, option `direct`), ascending.
   */
  get directIds(): number[] {
    const ids = (this.#sockets.direct?.engines ?? []).map((u) => this.#engines.idOf(u));
    return ids.filter((id): id is number => id !== undefined).sort((a, b) => a - b);
  }

  /** The engine uuid of an id, or `undefined` if not registered. */
  uuidOf(engineId: number): string | undefined {
    return this.#engines.uuidOf(engineId);
  }

  // -- sending --------------------------------------------------------------------------------

  /**
   * Sends an `apply_request` (PROTOCOL.md §6.1) and tracks its result. The hot path of every
   * view: serialize, sign, create the task actor, queue on the socket — without awaiting the
   * transport, so many tasks can be submitted back to back.
   *
   * @param channel `"mux"` (needs `target`), `"task"` or `"broadcast"` (needs `broadcastTargets`).
   * @param f The function (its source travels) or a `Reference` to one on the engine.
   * @param options Arguments, metadata, target engine, serializer.
   * @returns The msg_id and the ids its results are tracked under.
   * @throws {SerializationError} An argument cannot be encoded.
   * @throws {InvalidOptionError} A target is missing or not registered.
   */
  sendApplyRequest(
    channel: "mux" | "task" | "broadcast",
    f: ((...args: never[]) => unknown) | Reference,
    options: ApplyRequestOptions = {},
  ): Submitted {
    const buffers = options.serializer === "pickle"
      ? packApplyPickle(f as Reference, options.args, options.kwargs)
      : packApplyMessage(f, options.args, options.kwargs);
    return this.#submitter.submit(channel, "apply_request", {}, buffers, options);
  }

  /**
   * Sends an `execute_request` (PROTOCOL.md §6.2) and tracks its result (an `ExecuteReply`).
   *
   * @param channel `"mux"` (needs `target`), `"task"` or `"broadcast"`.
   * @param code The code (JavaScript/TypeScript for our engines, Python for Python engines).
   * @param options `silent` (default true), `userExpressions`, metadata, target.
   * @returns The msg_id and the ids its results are tracked under.
   */
  sendExecuteRequest(
    channel: "mux" | "task" | "broadcast",
    code: string,
    options: ExecuteRequestOptions = {},
  ): Submitted {
    const content = {
      code,
      silent: options.silent ?? true,
      user_expressions: options.userExpressions ?? {},
    };
    return this.#submitter.submit(channel, "execute_request", content, [], options);
  }

  #requireUuid(target: number | undefined): string {
    const uuid = target === undefined ? undefined : this.#engines.uuidOf(target);
    if (uuid === undefined) {
      throw new InvalidOptionError(
        "target",
        `Engine ${target} is not registered (registered: [${this.ids.join(", ")}])`,
      );
    }
    return uuid;
  }

  /**
   * An AsyncResult over msg_ids this client tracks, wired to this client (abort, output).
   *
   * @param msgIds One msg_id (single result) or a list.
   * @param options AsyncResult options (`fname`, `returnExceptions`…).
   * @returns The result.
   */
  asyncResult<T = unknown>(
    msgIds: string | readonly string[],
    options: AsyncResultOptions = {},
  ): AsyncResult<T> {
    return new AsyncResult<T>(this.#tasks, msgIds, { client: this.#clientSide, ...options });
  }

  /** A gather's `[engine id, msg_id]` pulls, in order, into one array (`gather_placement.ts`). */
  placeGather(requests: readonly [number, string][]): void {
    this.#sockets.direct?.placeGather(requests.map(([id, m]) => [this.#requireUuid(id), m]));
  }

  /**
   * An AsyncMapResult over chunk msg_ids this client tracks.
   *
   * @param msgIds One msg_id per chunk.
   * @param options AsyncResult options plus `ordered` and `joinTypedArrays`.
   * @returns The result.
   */
  asyncMapResult<U = unknown>(
    msgIds: readonly string[],
    options: AsyncResultOptions & { ordered?: boolean; joinTypedArrays?: boolean } = {},
  ): AsyncMapResult<U> {
    return new AsyncMapResult<U>(this.#tasks, msgIds, { client: this.#clientSide, ...options });
  }

  // -- control --------------------------------------------------------------------------------

  /**
   * Asks engines to abort queued requests (`abort_request`, §6.5.2). Running requests finish;
   * aborted ones settle with `TaskAborted`.
   *
   * @param jobs msg_ids, history indices or AsyncResults (default: every outstanding task).
   * @param options `targets` (default all engines), `block` (wait for the replies).
   * @throws {RemoteError} An engine refused (with `block`).
   */
  async abort(
    jobs?: Job | readonly Job[],
    options: { targets?: Targets; block?: boolean } = {},
  ): Promise<void> {
    const ids = jobs === undefined ? [...this.outstanding] : this.msgIdsOf(jobs);
    this.#tasks.abort(ids);
    const targets = resolveTargets(options.targets, this.ids);
    const replies = this.#control.request("abort_request", { msg_ids: ids }, targets);
    if (options.block ?? this.block) checkReplies(await replies);
    else replies.catch(() => {});
  }

  /**
   * The msg_ids of jobs: msg_id strings, indices into `history` (negative from the end), or
   * anything with `msgIds` (AsyncResults).
   *
   * @param jobs One job or a list.
   * @returns The msg_ids.
   * @throws {InvalidOptionError} An index is out of range.
   */
  msgIdsOf(jobs: Job | readonly Job[]): string[] {
    const list = Array.isArray(jobs) ? jobs as readonly Job[] : [jobs as Job];
    const out: string[] = [];
    for (const job of list) {
      if (typeof job === "string") out.push(job);
      else if (typeof job === "number") {
        const id = this.#history.at(job);
        if (id === undefined) {
          throw new InvalidOptionError(
            "jobs",
            `No history entry ${job}: history holds ${this.#history.length} msg_ids ` +
              "(the newest, up to maxHistory)",
          );
        }
        out.push(id);
      } else out.push(...job.msgIds);
    }
    return out;
  }

  // -- lifecycle ------------------------------------------------------------------------------

  /**
   * Closes the sockets. Outstanding tasks fail with `ControllerLostError` (their results stay
   * at the Hub). Idempotent: a second call returns the first call's promise (and its linger).
   *
   * `linger` is ipyparallel's `close(linger)` (zmq's `LINGER`, in ms here): how long messages
   * still queued on the sockets — requests sent just before — may take to reach the
   * controller before the connections close. The default, 0, discards them at once; `Infinity`
   * waits until they are all written. (ipyparallel's `close()` without `linger` leaves libzmq's
   * default, which keeps sending in the background after `close` returned; a Deno process can
   * exit right after, so here the wait is explicit.)
   *
   * @example
   * ```ts ignore
   * client.directView(0).push({ x: 1 });
   * await client.close({ linger: 5_000 }); // the push is on the wire (or 5 s passed)
   * ```
   *
   * @param options `linger`: milliseconds to flush queued messages (default 0).
   * @returns Resolves once closed (after the flush, at most `linger` ms).
   * @throws {InvalidOptionError} `linger` is not a number >= 0 (the promise rejects).
   */
  close(options: { linger?: number } = {}): Promise<void> {
    const linger = options.linger ?? 0;
    if (typeof linger !== "number" || !(linger >= 0)) {
      return Promise.reject(
        new InvalidOptionError("linger", `linger must be a number of ms >= 0, got ${linger}`),
      );
    }
    this.#closing ??= (async () => {
      if (this.#liveness !== undefined) clearInterval(this.#liveness);
      this.#hub.close();
      this.#tasks.close();
      this.#control.failAll(new ControllerLostError("The client was closed"));
      await this.#sockets.close(linger);
      this.#engines.close();
      for (const close of this.closers.splice(0)) await close();
    })();
    return this.#closing;
  }

  /** Same as {@link Client.close} without options (linger 0), for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  // -- internals ------------------------------------------------------------------------------

  #dispatch(channel: Channel, msg: IncomingMessage): void {
    const router = this.#router;
    switch (channel) {
      case "mux":
      case "task":
      case "broadcast":
        return router.reply(msg);
      case "iopub":
        return router.iopub(msg);
      case "notification": {
        const direct = this.#sockets.direct;
        const uuid = msg.content.uuid;
        if (direct !== undefined && typeof uuid === "string") {
          if (msg.header.msg_type === "registration_notification") {
            direct.learn(uuid, msg.content[DIRECT_OFFER]);
          } else if (msg.header.msg_type === "unregistration_notification") direct.forget(uuid);
        }
        return router.notification(msg);
      }
      case "registration":
        return router.query(msg);
      case "control":
        return router.control(msg);
    }
  }

  async #checkLiveness(url: string): Promise<void> {
    if (this.#probing || this.closed) return;
    if (this.outstanding.size === 0 && this.#hub.pendingCount === 0 && this.#control.size === 0) {
      this.#probeFailures = 0;
      return;
    }
    this.#probing = true;
    try {
      const alive = await endpointAlive(url);
      this.#probeFailures = alive ? 0 : this.#probeFailures + 1;
    } finally {
      this.#probing = false;
    }
    if (this.#probeFailures >= 2 && !this.closed) {
      const reason = `the controller at ${url} refuses connections (its process is gone)`;
      this.#log("error", `Lost the controller: ${reason}`);
      this.#router.controllerLost(reason);
      this.#control.failAll(new ControllerLostError(`Lost the controller: ${reason}`));
      await this.close();
    }
  }
}

/** `$USER`, or `undefined` when unset or when env access is not granted (Deno Deploy, `--allow-env=X`). */
function envUser(): string | undefined {
  try {
    return Deno.env.get("USER");
  } catch {
    return undefined;
  }
}
