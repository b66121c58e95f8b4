/**
 * The controller in one process and one event loop (PROTOCOL.md §3.1, §11.1): the Hub
 * ({@link HubServer}), the MUX and control relays ({@link SwapRelay}), the task scheduler
 * ({@link TaskRelay}), the broadcast scheduler ({@link BroadcastScheduler}), the IOPub relay
 * ({@link IopubRelay}) and the heartbeat ({@link Heartbeat}), over the transport-free core
 * (`HubState`, `TaskScheduler`, `HeartMonitor`, the task databases).
 *
 * Start-up order: bind every socket (HWM unlimited), write both connection files (mode 0600),
 * then start reading. Engine lifecycle: registration completes on the first heartbeat (§4.4;
 * here at the engine's first pong, which `Heartbeat.probe` asks for every 100 ms while a
 * registration waits, rather than at the next beat), and only then does the scheduler route
 * tasks to the engine; a stopped heart or an `unregistration_request` is a final death (tasks
 * pending on the engine fail or are retried at once, MUX records fail at once), an IOPub
 * `shutdown_reply` leaves the usual grace delays.
 *
 * @example
 * ```ts
 * await using controller = await Controller.start({ profileDir: "/tmp/p", clusterId: "x" });
 * console.log(controller.connectionFiles.client);
 * await controller.closed; // until a client sends shutdown_request, or stop()
 * ```
 *
 * @module
 */

import { hostname } from "node:os";
import type { Socket } from "../zmtp/mod.ts";
import { Session } from "../protocol/session.ts";
import {
  type ClientConnectionInfo,
  connectionFilePath,
  type EngineConnectionInfo,
  newKey,
  profileDir as resolveProfileDir,
  writeConnectionFile,
} from "../protocol/connection.ts";
import { InvalidOptionError } from "../errors.ts";
import { MemoryDb } from "./db/memory.ts";
import { NoDb } from "./db/nodb.ts";
import { SqliteDb } from "./db/sqlite.ts";
import type { TaskDb } from "./db/types.ts";
import { BroadcastScheduler } from "./broadcast.ts";
import { bindSockets, connectionInfos, type ControllerPorts, readReusable } from "./endpoints.ts";
import { Heartbeat } from "./heartbeat.ts";
import { HubServer } from "./hub_server.ts";
import { HubState } from "./hub_state.ts";
import type { Notification } from "./hub_types.ts";
import { InboundChannel, type InboundCounters, toHubMessage } from "./inbound.ts";
import { IopubRelay } from "./iopub_relay.ts";
import { createLogger, type Logger } from "./logger.ts";
import { pump, text } from "./pump.ts";
import { CUT_THROUGH_DEFAULT, SwapRelay } from "./relays.ts";
import { MIN_LARGE_FRAME } from "../zmtp/options.ts";
import { type SchemeName, SCHEMES } from "./schemes.ts";
import { PureTaskRelay, TaskRelay } from "./task_relay.ts";

/** Task schemes a controller accepts: the scheduler's, plus `pure` and `none` (§7.2). */
export type TaskSchemeName = SchemeName | "pure" | "none";

/** Which task database. */
export type DbKind = "memory" | "sqlite" | "none";

export type { ControllerPorts };

/** Default {@link ControllerOptions.prefetch}: tasks an engine may hold while it is fast. */
export const DEFAULT_PREFETCH = 16;

/** Options of {@link Controller.start}. */
export interface ControllerOptions {
  /** Interface IP for every socket (default `127.0.0.1`; `0.0.0.0` or `*` = all). */
  ip?: string;
  /** `location` in the connection files (default this machine's hostname). */
  location?: string;
  /** Profile name (default `default`). */
  profile?: string;
  /** Explicit profile folder (wins over `profile`). */
  profileDir?: string;
  /** IPython directory (default `$IPYTHONDIR` or `~/.ipython`). */
  ipythonDir?: string;
  /** Cluster id: files are `ipcontroller-<id>-client.json` / `-engine.json`. */
  clusterId?: string;
  /** Heartbeat period in ms (`--ping`, default 3000). */
  pingMs?: number;
  /** Missed beats before an engine is dead (default: see `defaultMaxMisses` in heartbeat.ts). */
  maxMisses?: number;
  /** Task database (default `memory`, Python's DictDB). */
  db?: DbKind;
  /** SQLite file; relative paths are under the profile folder (default `tasks.db`). */
  sqlitePath?: string;
  /** Task scheme (default `leastload`). */
  scheme?: TaskSchemeName;
  /** `TaskScheduler.hwm` (default 1; 0 = unlimited). */
  hwm?: number;
  /**
   * Adaptive prefetch: max outstanding tasks per engine while its recent tasks each took at
   * most `prefetchFastMs`. Default {@link DEFAULT_PREFETCH} when `hwm` is not given, off when
   * it is (an explicit `hwm` keeps ipyparallel's fixed limit); 1, or anything ≤ `hwm`, turns
   * it off. A fast engine holds at most `prefetchFastMs` of expected work (by its recent
   * average), never more than `prefetch` tasks. Trade-off (see `prefetch.ts`): the tasks sent
   * to an engine in the first `prefetchFastMs` of a long task wait for it to end.
   */
  prefetch?: number;
  /** The fast-task threshold of `prefetch`, in ms (default 10). */
  prefetchFastMs?: number;
  /**
   * Frames of at least this many bytes on the MUX and control queues are streamed through the
   * controller as they arrive instead of stored and forwarded (default
   * 1 MiB; 0 = off; otherwise ≥ 64 KiB). The Hub then does not
   * keep those buffers: `get_result`, `db_request` for buffers and `resubmit` of such a
   * message answer with a `BuffersNotKept` error instead of incomplete data. Set 0 to keep
   * every buffer in the task database, as ipyparallel does.
   */
  cutThrough?: number;
  /**
   * Finished tasks the Hub and the scheduler remember by msg_id (default 1,000,000; 0 = all,
   * as ipyparallel until a purge). Past it the oldest is forgotten as a purge forgets it: no
   * longer listed by `queue_status(verbose)` (still counted) or usable as a dependency
   * (InvalidDependency); result queries still find it while the task database keeps its record.
   */
  finishedLimit?: number;
  /** Reuse existing connection files (ports and key) and keep them on exit. */
  reuse?: boolean;
  /** Write connection files at all (default true). */
  writeFiles?: boolean;
  /** HMAC key (default: a new random one). `""` = unsigned messages. */
  key?: string;
  /** Number of engine-side broadcast leaves (default 2, as Python's depth 1). */
  broadcastLeaves?: number;
  /** Delay between `shutdown_request` and the controller stopping (default 1000 ms, §5.8). */
  shutdownDelayMs?: number;
  /** Delay before tasks of a shut-down engine fail (default 5000 ms, §7.6). */
  strandedDelayMs?: number;
  /** Logger (default: stderr at `logLevel`). */
  logger?: Logger;
  /** Log level when no logger is given (default 20, INFO). */
  logLevel?: number;
}

/** The running controller. */
export class Controller implements AsyncDisposable {
  /** Client connection info (the client file's content). */
  readonly clientInfo: ClientConnectionInfo;
  /** Engine connection info (the engine file's content). */
  readonly engineInfo: EngineConnectionInfo;
  /** Connection file paths (written unless `writeFiles: false`). */
  readonly connectionFiles: { client: string; engine: string };
  /** Bound ports. */
  readonly ports: ControllerPorts;
  /** The Hub state (engines, records). */
  readonly hub: HubState;
  /** Resolves once the controller has stopped (after `stop()` or a `shutdown_request`). */
  readonly closed: Promise<void>;
  /** The logger. */
  readonly logger: Logger;
  #shutdownRequested = false;
  #inbound: InboundChannel[];
  #sockets: Socket[];
  #loops: Promise<void>[];
  #heartbeat: Heartbeat;
  #tasks: TaskRelay | null;
  #db: TaskDb;
  #keepFiles: boolean;
  #wroteFiles: boolean;
  #stopping: Promise<void> | null = null;
  #resolveClosed!: () => void;
  #shutdownTimer: ReturnType<typeof setTimeout> | undefined;

  private constructor(init: {
    clientInfo: ClientConnectionInfo;
    engineInfo: EngineConnectionInfo;
    connectionFiles: { client: string; engine: string };
    ports: ControllerPorts;
    hub: HubState;
    logger: Logger;
    inbound: InboundChannel[];
    sockets: Socket[];
    db: TaskDb;
    keepFiles: boolean;
    wroteFiles: boolean;
  }) {
    this.clientInfo = init.clientInfo;
    this.engineInfo = init.engineInfo;
    this.connectionFiles = init.connectionFiles;
    this.ports = init.ports;
    this.hub = init.hub;
    this.logger = init.logger;
    this.#inbound = init.inbound;
    this.#sockets = init.sockets;
    this.#db = init.db;
    this.#keepFiles = init.keepFiles;
    this.#wroteFiles = init.wroteFiles;
    this.#loops = [];
    this.#tasks = null;
    this.#heartbeat = undefined as unknown as Heartbeat;
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));
  }

  /** Whether a client's `shutdown_request` stopped (or is stopping) the controller. */
  get shutdownRequested(): boolean {
    return this.#shutdownRequested;
  }

  /**
   * Per-channel inbound counters: received, accepted, and dropped messages by reason
   * (unsigned, invalid signature, duplicate signature, malformed), plus handler errors.
   *
   * @returns A snapshot keyed by channel name.
   */
  stats(): Record<string, InboundCounters> {
    const out: Record<string, InboundCounters> = {};
    for (const ch of this.#inbound) out[ch.name] = { ...ch.counters };
    return out;
  }

  /**
   * Binds every socket, writes the connection files, and starts serving.
   *
   * @param options See {@link ControllerOptions}.
   * @returns The running controller.
   * @throws {InvalidOptionError} For an unknown scheme, a bad period, hwm, prefetch or leaf
   * count.
   * @throws {ConnectionFileError} When `reuse` finds inconsistent files or a file cannot be written.
   */
  static async start(options: ControllerOptions = {}): Promise<Controller> {
    const logger = options.logger ?? createLogger(options.logLevel ?? 20);
    const scheme = options.scheme ?? "leastload";
    if (scheme !== "pure" && scheme !== "none" && !(scheme in SCHEMES)) {
      throw new InvalidOptionError(
        "scheme",
        `Unknown task scheme ${JSON.stringify(scheme)} (use one of ${
          [...Object.keys(SCHEMES), "pure", "none"].join(", ")
        })`,
      );
    }
    const pingMs = options.pingMs ?? 3000;
    if (!(pingMs > 0)) throw new InvalidOptionError("pingMs", `ping must be > 0 ms, got ${pingMs}`);
    const nLeaves = options.broadcastLeaves ?? 2;
    if (!Number.isInteger(nLeaves) || nLeaves < 1) {
      throw new InvalidOptionError(
        "broadcastLeaves",
        `broadcastLeaves must be an integer ≥ 1, got ${nLeaves}`,
      );
    }
    for (const name of ["hwm", "prefetch", "finishedLimit"] as const) {
      const v = options[name];
      if (v !== undefined && (!Number.isInteger(v) || v < 0)) {
        throw new InvalidOptionError(name, `${name} must be an integer ≥ 0, got ${v}`);
      }
    }
    const cut = options.cutThrough;
    if (cut !== undefined && (!Number.isInteger(cut) || (cut !== 0 && cut < MIN_LARGE_FRAME))) {
      throw new InvalidOptionError(
        "cutThrough",
        `cutThrough must be 0 (off) or an integer ≥ ${MIN_LARGE_FRAME}, got ${cut}`,
      );
    }
    const fastMs = options.prefetchFastMs;
    if (fastMs !== undefined && !(fastMs >= 0 && Number.isFinite(fastMs))) {
      throw new InvalidOptionError(
        "prefetchFastMs",
        `prefetchFastMs must be a finite number ≥ 0, got ${fastMs}`,
      );
    }
    const ip = options.ip ?? "127.0.0.1";
    const iface = `tcp://${ip}`;
    const profileOpts = {
      profile: options.profile,
      profileDir: options.profileDir,
      ipythonDir: options.ipythonDir,
    };
    const files = {
      client: connectionFilePath({ kind: "client", clusterId: options.clusterId, ...profileOpts }),
      engine: connectionFilePath({ kind: "engine", clusterId: options.clusterId, ...profileOpts }),
    };

    // --reuse: take ports and key from existing files (PROTOCOL.md §2.1).
    const reused = options.reuse ? await readReusable(files) : null;
    const key = reused?.client.key ?? options.key ?? newKey();
    const location = options.location ?? hostname();
    const bound = await bindSockets({ ip, scheme, leaves: nLeaves, reused, logger });
    const sockets = bound.all;
    let written = false;
    try {
      const { query, notification, muxIn, muxOut, ctlIn, ctlOut, taskIn, taskOut } = bound;
      const { iopubOut, iopubIn, bcRoot, leaves, hbPing, hbPong } = bound;
      const { clientInfo, engineInfo, connectionInfo, ports } = connectionInfos(bound, {
        iface,
        key,
        location,
        scheme,
      });

      const writeFiles = options.writeFiles ?? true;
      if (writeFiles) {
        // §2.1: written (mode 0600) before anything is read from the sockets.
        written = true;
        await writeConnectionFile(files.client, clientInfo);
        await writeConnectionFile(files.engine, engineInfo);
      }

      const profile = resolveProfileDir(profileOpts);
      const db = openDb(options, profile);
      const hub = new HubState({
        db,
        hbPeriodMs: pingMs,
        connectionInfo,
        finishedLimit: options.finishedLimit === 0 ? Infinity : options.finishedLimit,
      });
      const ch = (name: string) => new InboundChannel(name, { key, logger });
      const inbound = {
        query: ch("query"),
        muxIn: ch("mux (client side)"),
        muxOut: ch("mux (engine side)"),
        ctlIn: ch("control (client side)"),
        ctlOut: ch("control (engine side)"),
        taskIn: ch("task (client side)"),
        taskOut: ch("task (engine side)"),
        iopub: ch("iopub"),
        bcRoot: ch("broadcast (client side)"),
        leaves: leaves.map((_, i) => ch(`broadcast leaf ${i}`)),
      };
      const allInbound = [
        inbound.query,
        inbound.muxIn,
        inbound.muxOut,
        inbound.ctlIn,
        inbound.ctlOut,
        inbound.taskIn,
        inbound.taskOut,
        inbound.iopub,
        inbound.bcRoot,
        ...inbound.leaves,
      ];
      const c = new Controller({
        clientInfo,
        engineInfo,
        connectionFiles: files,
        ports,
        hub,
        logger,
        inbound: allInbound,
        sockets,
        db,
        keepFiles: options.reuse === true,
        wroteFiles: writeFiles,
      });
      const hubSession = new Session({ key });
      const schedSession = new Session({ key });

      // ---- wiring ----
      let tasks: TaskRelay | null = null;
      const loops: Promise<void>[] = [];
      if (scheme === "pure") {
        loops.push(
          new PureTaskRelay({
            clientSide: taskIn.socket,
            engineSide: taskOut.socket,
            fromClients: inbound.taskIn,
            fromEngines: inbound.taskOut,
            hub,
          }).done,
        );
      } else if (scheme === "none") {
        loops.push(
          pump(taskIn.socket, () => {}, () => {}),
          pump(taskOut.socket, () => {}, () => {}),
        );
      } else {
        tasks = new TaskRelay({
          clientSide: taskIn.socket,
          engineSide: taskOut.socket,
          fromClients: inbound.taskIn,
          fromEngines: inbound.taskOut,
          hub,
          session: schedSession,
          scheme,
          hwm: options.hwm,
          prefetch: options.prefetch ?? (options.hwm === undefined ? DEFAULT_PREFETCH : 1),
          prefetchFastMs: options.prefetchFastMs,
          strandedDelayMs: options.strandedDelayMs,
          logger,
        });
        loops.push(tasks.done);
        const scheduler = tasks.scheduler;
        hub.onForget((id) => scheduler.forget([id]));
      }
      c.#tasks = tasks;
      const broadcast = new BroadcastScheduler({
        root: bcRoot.socket,
        leaves: leaves.map((l) => l.socket),
        fromClients: inbound.bcRoot,
        fromEngines: inbound.leaves,
        session: schedSession,
        idOf: (uuid) => hub.idOf(uuid),
        logger,
      });
      // An engine left; `final` = its process is gone (nothing more can come from it).
      const engineLeft = (n: Notification, final: boolean) => {
        const uuid = n.content.uuid;
        logger.info(`engine::Engine Unregistered: ${n.content.id} (${uuid})`);
        tasks?.unregisterEngine(uuid, final ? 0 : undefined);
        c.#heartbeat.monitor.forget(uuid);
        broadcast.engineLeft(uuid);
      };
      const hubServer = new HubServer({
        recordBufferLimit: options.cutThrough ?? CUT_THROUGH_DEFAULT,
        query: query.socket,
        notification: notification.socket,
        hub,
        session: hubSession,
        inbound: inbound.query,
        logger,
        onRegistering: () => c.#heartbeat.probe(),
        onUnregistered: (n) => engineLeft(n, true),
        onResubmit: (list) => {
          if (tasks === null) {
            logger.warn(`resubmit: no task scheduler with scheme ${scheme}; not sent`);
            return;
          }
          for (const r of list) tasks.submitFromHub(r.message, hubSession);
        },
        onShutdown: () => c.#scheduleShutdown(options.shutdownDelayMs ?? 1000),
      });
      loops.push(
        hubServer.done,
        new SwapRelay({
          clientSide: muxIn.socket,
          engineSide: muxOut.socket,
          fromClients: inbound.muxIn,
          fromEngines: inbound.muxOut,
          cutThrough: options.cutThrough,
          onRequest: (engine, msg, streamed) =>
            hub.muxRequest(text(engine), toHubMessage(msg, streamed)),
          onReply: (engine, msg, streamed) =>
            hub.muxReply(text(engine), toHubMessage(msg, streamed)),
        }).done,
        new SwapRelay({
          clientSide: ctlIn.socket,
          engineSide: ctlOut.socket,
          fromClients: inbound.ctlIn,
          fromEngines: inbound.ctlOut,
          cutThrough: options.cutThrough,
        }).done,
        new IopubRelay({
          sub: iopubIn.socket,
          pub: iopubOut.socket,
          inbound: inbound.iopub,
          // HubState.iopubMessage records nothing for `status` (busy/idle, 2 per request).
          ignoredTypes: new Set(["status"]),
          onMessage: (msg) => {
            const n = hub.iopubMessage(toHubMessage(msg));
            if (n !== null) {
              hubServer.notify(n);
              engineLeft(n, false); // shutdown_reply: replies already in flight may still come
            }
          },
        }).done,
        broadcast.done,
      );
      c.#heartbeat = new Heartbeat({
        ping: hbPing.socket,
        pong: hbPong.socket,
        periodMs: pingMs,
        maxMisses: options.maxMisses,
        logger,
        awaiting: (uuid) => hub.isPending(uuid),
        // §4.2: its shell on mux, task and its broadcast leaf, and its control, are connected.
        reachable: (uuid) => {
          const id = hub.pendingId(uuid);
          if (id === undefined) return false;
          const queues = [muxOut, taskOut, ctlOut];
          if (leaves.length > 0) queues.push(leaves[id % leaves.length]);
          return queues.every((q) => q.socket.hasPeer?.(uuid) ?? true);
        },
        onBeat: ({ newHearts, stoppedHearts }) => {
          for (const n of hub.heartsStarted(newHearts)) {
            logger.info(`engine::Engine Connected: ${n.content.id} (${n.content.uuid})`);
            hubServer.notify(n);
            tasks?.registerEngine(n.content.uuid);
          }
          // §4.3: a stopped heart is a final death: stranded work fails (or retries) now.
          for (const n of hub.heartsStopped(stoppedHearts, { delayMs: 0 })) {
            logger.warn(
              `heartbeat::Heart ${n.content.uuid} failed; engine ${n.content.id} is dead`,
            );
            hubServer.notify(n);
            engineLeft(n, true);
          }
        },
      });
      loops.push(c.#heartbeat.done);
      c.#loops = loops;
      logger.info(
        `Controller ready: ${files.client} (registration ${iface}:${query.port}, ` +
          `ping ${pingMs} ms, miss limit ${c.#heartbeat.monitor.maxMisses}, scheme ${scheme}` +
          (tasks === null
            ? ""
            : `, hwm ${tasks.scheduler.hwm}, prefetch ${
              tasks.scheduler.prefetch > tasks.scheduler.hwm && tasks.scheduler.hwm !== 0
                ? tasks.scheduler.prefetch
                : "off"
            }`) +
          `, db ${options.db ?? "memory"})`,
      );
      return c;
    } catch (err) {
      await Promise.all(sockets.map((s) => s.close()));
      if (written && !options.reuse) {
        for (const f of [files.client, files.engine]) await Deno.remove(f).catch(() => {});
      }
      throw err;
    }
  }

  #scheduleShutdown(delayMs: number): void {
    this.#shutdownRequested = true;
    if (this.#shutdownTimer !== undefined) return;
    this.#shutdownTimer = setTimeout(() => {
      this.#shutdownTimer = undefined;
      this.stop().catch((e) => this.logger.error(`stop failed: ${e}`));
    }, delayMs);
  }

  /**
   * Stops everything: heartbeat, scheduler timers, sockets; closes the database and removes
   * the connection files (unless `reuse`). Idempotent.
   *
   * @returns When everything is closed; {@link Controller.closed} resolves too.
   */
  stop(): Promise<void> {
    if (this.#stopping === null) this.#stopping = this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    if (this.#shutdownTimer !== undefined) clearTimeout(this.#shutdownTimer);
    this.#heartbeat.stop();
    this.#tasks?.close();
    this.hub.close();
    await Promise.all(this.#sockets.map((s) => s.close({ linger: 100 })));
    await Promise.allSettled(this.#loops);
    try {
      this.#db.close();
    } catch (err) {
      this.logger.error(`closing the task database: ${err}`);
    }
    if (this.#wroteFiles && !this.#keepFiles) {
      for (const f of [this.connectionFiles.client, this.connectionFiles.engine]) {
        await Deno.remove(f).catch(() => {});
      }
    }
    const dropped = Object.entries(this.stats())
      .filter(([, c]) => c.unsigned + c.invalid + c.duplicate + c.malformed + c.errors > 0)
      .map(([n, c]) =>
        `${n}: ${c.unsigned} unsigned, ${c.invalid} invalid, ${c.duplicate} duplicate, ` +
        `${c.malformed} malformed, ${c.errors} errors`
      );
    if (dropped.length) this.logger.info(`dropped inbound messages: ${dropped.join("; ")}`);
    this.logger.info("Controller stopped");
    this.#resolveClosed();
  }

  /** Same as {@link Controller.stop}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}

function openDb(options: ControllerOptions, profile: string): TaskDb {
  switch (options.db ?? "memory") {
    case "memory":
      return new MemoryDb();
    case "none":
      return new NoDb();
    case "sqlite": {
      const p = options.sqlitePath ?? "tasks.db";
      const path = p === ":memory:" || p.startsWith("/") ? p : `${profile}/${p}`;
      if (path !== ":memory:") Deno.mkdirSync(profile, { recursive: true });
      return new SqliteDb({ path });
    }
    default:
      throw new InvalidOptionError("db", `Unknown db ${JSON.stringify(options.db)}`);
  }
}
