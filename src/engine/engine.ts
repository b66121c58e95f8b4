/**
 * The engine process's wire side: registers with a controller (Python `ipcontroller` or
 * ours), answers heartbeats and control requests on the main thread, and serves the shell
 * from the kernel worker (`kernel/serve.ts`), which owns the shell and IOPub sockets and
 * runs user JavaScript/TypeScript: a request is read, run and answered in that one thread,
 * and the main thread — heart, control — never waits on user code. Control reaches the
 * worker as messages (`kernel/host.ts`): abort lists, clear and interrupt (both reset the
 * namespace in place), shutdown.
 *
 * Startup, exactly in the order of PROTOCOL.md §4.2 (the controller routes to an engine only
 * after its first pong, so everything else must be connected by then, §3.1):
 *
 * 1. read the engine connection file (waiting for it, §2.1);
 * 2. `registration_request {uuid[, id]}` on a DEALER, identity = uuid (§4.1); no reply within
 *    the timeout → `unregistration_request {id: null}` and a {@link RegistrationError};
 * 3. shell ROUTER (identity uuid, in the kernel worker) → `mux`, `task`, `broadcast[id % n]`,
 *    and the worker's IOPub PUB → `iopub`;
 * 4. control ROUTER (identity uuid) → `control`;
 * 5. IOPub PUB (for control's statuses) → `iopub`, `status: starting`;
 * 6. heart: SUB → `hb_ping`, DEALER (identity uuid) → `hb_pong`, echoing every ping (§4.3),
 *    and a watchdog that gives up on the controller after `maxHeartbeatMisses` checks
 *    of `hb_period + 500` ms without a ping (§4.6).
 *
 * The lifecycle is the XState machine of `engine_machine.ts`
 * (`starting → registering → connecting → running → stopping → stopped | failed`);
 * busy/idle is a word of memory shared with the kernel worker, set while user code runs
 * ({@link Engine.state} reports `running.idle`/`running.busy`).
 * {@link Engine.finished} resolves with the process exit code.
 *
 * @example
 * ```ts ignore
 * import { Engine } from "./engine.ts";
 * const engine = await Engine.start({ find: { profileDir: "/tmp/profile", clusterId: "abc" } });
 * console.log(`engine ${engine.id} (${engine.uuid}) is running`);
 * const exit = await engine.finished; // after a client's shutdown, a signal, or controller loss
 * Deno.exit(exit.exitCode);
 * ```
 *
 * @module
 */

import { createActor } from "xstate";
import {
  ControllerLostError,
  IppError,
  RegistrationError,
  UnsupportedSchemeError,
} from "../errors.ts";
import {
  connectionFilePath,
  connectionUrls,
  type EngineConnectionInfo,
  findConnectionFile,
  type FindConnectionFileOptions,
} from "../protocol/connection.ts";
import { hostIdentity } from "../protocol/messages/direct.ts";
import { Session } from "../protocol/session.ts";
import { createSocket, type Socket } from "../zmtp/mod.ts";
import { Control } from "./control.ts";
import { packRecords } from "./direct.ts";
import { engineLifecycleMachine } from "./engine_machine.ts";
import { Heart } from "./heart.ts";
import { IOPub } from "./iopub.ts";
import { KernelHost } from "./kernel/host.ts";
import { Logger } from "./log.ts";
import { Registrar } from "./registration.ts";
import type { EngineIdentity } from "./replies.ts";

/** Options of {@link Engine.start}. */
export interface EngineOptions {
  /** An already read engine connection file. One of `info` and `find` is required. */
  info?: EngineConnectionInfo;
  /** Where to find the engine connection file (profile, profile dir, cluster id, file, wait). */
  find?: Omit<FindConnectionFileOptions, "kind">;
  /** Override the file's `location` (used to disambiguate `0.0.0.0`, §2.4). */
  location?: string;
  /** Ask the Hub for this engine id (honoured if free). */
  id?: number;
  /** How long to wait for `registration_reply`, in ms. Default 5000 (`IPEngine.timeout`). */
  registrationTimeoutMs?: number;
  /** Missed heartbeat checks before giving up on the controller; 0 = never. Default 50. */
  maxHeartbeatMisses?: number;
  /** Treat every cell as TypeScript. Default false (types stripped when JS does not parse). */
  typescript?: boolean;
  /** Directory relative imports in user code resolve against. Default `Deno.cwd()`. */
  cwd?: string;
  /** The engine uuid (= session id). Default: a new one. */
  uuid?: string;
  /** Logger (stderr, level info, by default). */
  log?: Logger;
  /** Milliseconds `close` waits to flush queued messages. Default 500. */
  lingerMs?: number;
  /**
   * Serve same-host clients of ours straight from a loopback port when the Hub (ours) offers
   * it, so a direct-view call takes two hops instead of four (`src/engine/direct.ts`).
   * Default true.
   */
  direct?: boolean;
  /**
   * Cancels the start (waiting for the file or the registration reply): `start` then rejects
   * with the signal's reason or a {@link RegistrationError}.
   */
  signal?: AbortSignal;
}

/** How an engine ended. */
export interface EngineExit {
  /** `"stopped"` (clean) or `"failed"`. */
  state: "stopped" | "failed";
  /** The process exit code: 0 clean, 1 controller lost, 255 registration failure. */
  exitCode: number;
  /** Why it ended. */
  reason: string;
  /**
   * A client asked for a restart (`shutdown_request` with `restart: true`): the engine has
   * unregistered like any shut-down engine, and whoever runs it starts a new one in its place
   * (`ipp engine` does, in the same process, asking for the same id).
   */
  restart: boolean;
}

/** Exit code when registration fails or times out (as ipengine). */
export const EXIT_REGISTRATION_FAILED = 255;
/** Exit code when the controller stopped answering heartbeats. */
export const EXIT_CONTROLLER_LOST = 1;

/** A running engine. Create it with {@link Engine.start}. */
export class Engine implements AsyncDisposable {
  readonly #o: EngineOptions;
  readonly #log: Logger;
  readonly #actor = createActor(engineLifecycleMachine);
  #session!: Session;
  #registrar: Registrar | undefined;
  #kernel: KernelHost | undefined;
  #controlSocket: Socket | undefined;
  #iopubSocket: Socket | undefined;
  /** The main thread's IOPub publisher (control's statuses, a held request's `busy`). */
  #iopub: IOPub | undefined;
  #heart: Heart | undefined;
  #identity: EngineIdentity | undefined;
  #loops: Promise<void>[] = [];
  #stopping: Promise<EngineExit> | undefined;
  #restart = false;
  #resolveFinished!: (exit: EngineExit) => void;
  /** Resolves when the engine has stopped or failed, with the process exit code. */
  readonly finished: Promise<EngineExit>;

  private constructor(options: EngineOptions) {
    this.#o = options;
    this.#log = options.log ?? new Logger();
    this.finished = new Promise((resolve) => this.#resolveFinished = resolve);
    this.#actor.subscribe((s) => this.#log.debug(`state: ${JSON.stringify(s.value)}`));
    this.#actor.start();
  }

  /**
   * Find the connection file, register, connect and start serving.
   *
   * @param options Connection file, id, time-outs, kernel settings, logger.
   * @returns The running engine.
   * @throws {ConnectionFileError} when the connection file does not appear in time.
   * @throws {RegistrationError} when registration times out (after sending
   *   `unregistration_request {id: null}`) or the Hub refuses it.
   * @throws {UnsupportedSchemeError} for CurveZMQ connection files.
   */
  static async start(options: EngineOptions): Promise<Engine> {
    const engine = new Engine(options);
    try {
      await engine.#start();
    } catch (e) {
      await engine.#teardown();
      const code = e instanceof RegistrationError ? EXIT_REGISTRATION_FAILED : 1;
      engine.#actor.send({
        type: "FAIL",
        reason: String((e as Error).message ?? e),
        exitCode: code,
      });
      engine.#finish();
      throw e;
    }
    return engine;
  }

  /** The engine uuid (session id and routing identity). */
  get uuid(): string {
    return this.#session.session;
  }

  /** The engine id the Hub assigned. */
  get id(): number {
    return this.#identity?.id ?? -1;
  }

  /** The lifecycle state, e.g. `"running.busy"`. */
  get state(): string {
    const v = this.#actor.getSnapshot().value as string;
    if (v !== "running") return v;
    return this.#kernel?.busy ? "running.busy" : "running.idle";
  }

  /** Heartbeat pings echoed so far. */
  get heartbeats(): number {
    return this.#heart?.beats ?? 0;
  }

  /**
   * Stop cleanly: queued and running requests are answered `aborted`, then
   * `unregistration_request {id}` is sent and every socket closed. Idempotent.
   *
   * @param reason Why (logged, and in {@link EngineExit.reason}).
   * @param exitCode The process exit code to report. Default 0.
   * @returns How the engine ended.
   */
  stop(reason = "stopped", exitCode = 0): Promise<EngineExit> {
    return this.#stop(reason, exitCode, false);
  }

  /** Same as {@link Engine.stop}, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop("disposed");
  }

  async #start(): Promise<void> {
    const o = this.#o;
    const log = this.#log;
    let info = o.info;
    if (info === undefined) {
      if (o.find === undefined) throw new IppError("Engine.start needs `info` or `find`");
      const path = connectionFilePath({ ...o.find, kind: "engine" });
      const wait = o.find.timeoutMs === undefined ? "no limit" : `${o.find.timeoutMs / 1000} s`;
      log.info(`looking for ${path} (waiting up to ${wait})`);
      const found = await findConnectionFile({ ...o.find, kind: "engine", signal: o.signal });
      log.info(`loading connection file ${found.path}`);
      info = found.info;
    }
    if (info.curve_serverkey) {
      throw new UnsupportedSchemeError(
        "curve",
        "This controller uses CurveZMQ (curve_serverkey is set), which the Deno engine does " +
          "not support yet: start the controller without IPP_ENABLE_CURVE",
      );
    }
    if (info.ssh) {
      log.warn(
        `the connection file asks for an SSH tunnel via ${info.ssh}, which this engine does ` +
          "not make: connecting directly",
      );
    }
    this.#actor.send({ type: "FOUND" });
    this.#session = new Session({
      key: info.key,
      signatureScheme: info.signature_scheme,
      session: o.uuid,
    });
    const urls = await connectionUrls(info, { location: o.location });

    // The kernel's worker loads while we register: it must serve before the first pong.
    const kernel = KernelHost.spawn({
      log,
      cwd: o.cwd,
      typescript: o.typescript,
      // Output of a long synchronous cell, handed over by the worker while it is held.
      publish: (frames) => {
        const socket = this.#iopubSocket;
        return socket?.send(frames).catch((e) => {
          if (!socket.closed) log.warn(`IOPub message not sent: ${e}`);
        });
      },
      // The busy of a request that holds the worker (a long synchronous loop), sent by us.
      busyFrames: (parent) => this.#iopub?.statusFrames("busy", parent),
      records: (batch) => {
        try {
          this.#registrar?.send(packRecords(this.#session, batch));
        } catch (e) {
          log.error(`cannot pack direct_records: ${e}`);
        }
      },
    });
    this.#kernel = kernel;

    this.#registrar = new Registrar(this.#session, urls.registration, log);
    let reg;
    try {
      reg = await this.#registrar.register({
        id: o.id,
        timeoutMs: o.registrationTimeoutMs ?? 5000,
        signal: o.signal,
      });
    } catch (e) {
      if (e instanceof RegistrationError && e.reason === "timeout") {
        await this.#registrar.unregister(null);
      }
      throw e;
    }
    const id = reg.id;
    this.#identity = { uuid: this.uuid, id };
    log.name = `IPEngine.${id}`;
    log.info(`registered as engine ${id} (heartbeat period ${reg.hbPeriod} ms)`);
    this.#actor.send({ type: "REGISTERED", id, hbPeriod: reg.hbPeriod });

    const protocolError = (what: string) => (reason: string, peer: string) =>
      log.warn(`${what} connection to ${peer} dropped: ${reason}`);

    // §4.2 step 1: the worker's shell ROUTER to mux, task and this engine's broadcast leaf,
    // and its IOPub PUB.
    const shellUrls = [urls.mux, urls.task];
    if (urls.broadcast.length > 0) shellUrls.push(urls.broadcast[id % urls.broadcast.length]);
    await kernel.serve({
      key: info.key,
      signatureScheme: info.signature_scheme,
      uuid: this.uuid,
      id,
      // Distinct msg_ids for the worker's session (same session id, same process).
      msgIdPid: Deno.pid + 4_000_000,
      shell: shellUrls,
      direct: this.#directOption(reg.direct, urls.registration),
      iopub: urls.iopub,
      lingerMs: o.lingerMs ?? 500,
    });
    // Step 2: control ROUTER.
    const controlSocket = createSocket("ROUTER", {
      identity: this.uuid,
      sendHwm: 0,
      receiveHwm: 0,
      onProtocolError: protocolError("control"),
    });
    this.#controlSocket = controlSocket;
    controlSocket.connect(urls.control);
    // Step 3: IOPub PUB.
    const iopubSocket = createSocket("PUB", {
      identity: this.uuid,
      sendHwm: 0,
      onProtocolError: protocolError("IOPub"),
    });
    this.#iopubSocket = iopubSocket;
    iopubSocket.connect(urls.iopub);
    const iopub = new IOPub(this.#session, iopubSocket, log);
    iopub.id = id;
    this.#iopub = iopub;
    iopub.status("starting");

    const control = new Control({
      session: this.#session,
      engine: this.#identity,
      log,
      kernel,
      iopub,
      typescript: o.typescript ?? false,
      stop: (reason, code, restart) => void this.#stop(reason, code, false, restart),
    });
    this.#loops.push(
      this.#serve(controlSocket, "control", (m) => {
        control.handle(controlSocket, m).catch((e) => log.error(`control: ${e}`));
      }),
    );

    // Step 4: the heart, last.
    const maxMisses = o.maxHeartbeatMisses ?? 50;
    this.#heart = new Heart({
      uuid: this.uuid,
      pingUrl: urls.hb_ping,
      pongUrl: urls.hb_pong,
      hbPeriod: reg.hbPeriod,
      maxMisses,
      log,
      onLost: (misses, period) => {
        const error = new ControllerLostError(
          `controller went away: no heartbeat for ${misses} checks of ${period} ms ` +
            `(${((misses * period) / 1000).toFixed(1)} s); unregistering and exiting`,
        );
        log.critical(error.message);
        void this.#stop(error.message, EXIT_CONTROLLER_LOST, true);
      },
    });
    this.#heart.start();
    if (maxMisses > 0) {
      log.info(`watching the controller's heartbeat every ${this.#heart.checkPeriodMs} ms`);
    }
    this.#actor.send({ type: "CONNECTED" });
    log.info(`engine ${id} is running (JavaScript/TypeScript kernel, uuid ${this.uuid})`);
  }

  async #serve(
    socket: Socket,
    name: string,
    handle: (m: ReturnType<Session["unpack"]>) => void,
  ): Promise<void> {
    try {
      for await (const frames of socket) {
        let msg;
        try {
          // raw: the request's header frame is reused verbatim as the parent of its replies.
          msg = this.#session.unpack(frames, { raw: true });
        } catch (e) {
          this.#log.warn(`dropped a bad message on ${name}: ${e}`);
          continue;
        }
        this.#log.debug(`${name}: ${msg.msgType} ${msg.msgId}`);
        try {
          handle(msg);
        } catch (e) {
          this.#log.error(`${name}: ${msg.msgType} ${msg.msgId} failed: ${e}`);
        }
      }
    } catch (e) {
      if (!socket.closed) this.#log.error(`${name} socket failed: ${e}`);
    }
  }

  /** What the worker needs to serve the direct path, when it should. */
  #directOption(bufferLimit: number | undefined, registration: string) {
    if (bufferLimit === undefined || this.#o.direct === false) return undefined;
    const host = hostIdentity();
    return host === null ? undefined : { registration, host, bufferLimit };
  }

  #stop(reason: string, exitCode: number, failed: boolean, restart = false): Promise<EngineExit> {
    if (this.#stopping) return this.#stopping;
    this.#restart = restart;
    this.#actor.send({ type: "STOP", reason, exitCode });
    this.#stopping = (async () => {
      this.#log.info(`stopping: ${reason}`);
      try {
        await this.#teardown();
      } catch (e) {
        this.#log.error(`error while stopping: ${e}`);
      }
      this.#actor.send(failed ? { type: "FAIL", reason, exitCode } : { type: "STOPPED" });
      return this.#finish();
    })();
    return this.#stopping;
  }

  #finish(): EngineExit {
    const snap = this.#actor.getSnapshot();
    const exit: EngineExit = {
      state: snap.value === "failed" ? "failed" : "stopped",
      exitCode: snap.context.exitCode ?? 0,
      reason: snap.context.reason ?? "stopped",
      restart: this.#restart && snap.value !== "failed",
    };
    this.#actor.stop();
    this.#resolveFinished(exit);
    return exit;
  }

  /** Abort work, unregister, close everything. Safe on a partly started engine. */
  async #teardown(): Promise<void> {
    const linger = this.#o.lingerMs ?? 500;
    this.#heart?.stopWatching();
    // Queued requests are answered `aborted`, the running one stopped, the worker's sockets
    // flushed and closed.
    await this.#kernel?.close(linger + 2000);
    if (this.#identity) await this.#registrar?.unregister(this.#identity.id);
    await Promise.all([
      this.#controlSocket?.close({ linger }),
      this.#iopubSocket?.close({ linger }),
      this.#registrar?.close(linger),
      this.#heart?.close(),
    ]);
    await withTimeout(Promise.all(this.#loops), 1000);
  }
}

function withTimeout(p: Promise<unknown>, ms: number): Promise<unknown> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([p, new Promise((r) => timer = setTimeout(r, ms))]).finally(() =>
    clearTimeout(timer)
  );
}
