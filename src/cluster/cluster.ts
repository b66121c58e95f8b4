/**
 * `Cluster`: start a controller and engines on this machine and connect a client to them,
 * in the model of `ipyparallel.Cluster`.
 *
 * ```ts ignore
 * import { Cluster } from "@ipp/parallel";
 * await using cluster = new Cluster({ n: 4 });
 * const client = await cluster.startAndConnect();
 * console.log(await client.loadBalancedView().map((x: number) => x * x, [1, 2, 3]));
 * ```
 *
 * The controller and every engine are child processes (`ipp controller`, `ipp engine`), so a
 * crashed engine never takes the cluster down. Engines that exit on their own are reported,
 * and restarted when `restart: true` (ipyparallel cannot do that).
 *
 * @module
 */

import { availableParallelism } from "node:os";
import { join } from "node:path";
import { Client } from "../client/client.ts";
import type { ClientOptions } from "../client/client.ts";
import { IppError, TimeoutError } from "../errors.ts";
import { connectionFilePath, findConnectionFile, ipythonDir } from "../protocol/connection.ts";
import { launchIpp, stopProcess } from "./local_launcher.ts";
import type { LaunchedProcess } from "./local_launcher.ts";
import { launchSshEngine } from "./ssh_launcher.ts";
import { launchMpiEngines } from "./mpi_launcher.ts";

/** Options of {@link Cluster}. */
export interface ClusterOptions {
  /** Number of engines `start()` launches (default: the number of cores). */
  n?: number;
  /** Profile name (default `"default"`); ignored when `profileDir` is given. */
  profile?: string;
  /** Explicit profile folder (connection files go to `<profileDir>/security`). */
  profileDir?: string;
  /**
   * Cluster id (default `"<unix time>-<4 random chars>"`, as ipyparallel's `Cluster`);
   * `""` gives the plain `ipcontroller-client.json` that `Client.connect()` finds by default.
   */
  clusterId?: string;
  /** Extra `ipp controller` flags, e.g. `["--ping=1000"]`. */
  controllerArgs?: string[];
  /** Extra `ipp engine` flags. */
  engineArgs?: string[];
  /** Restart engines that exit without being asked to (default false). */
  restart?: boolean;
  /** Show the controller's and engines' logs on this process's stderr (default false). */
  showLogs?: boolean;
  /** Milliseconds to wait for the controller's files and for engines (default 30 000). */
  timeoutMs?: number;
  /** Called with a line for each event worth telling a user (engine exited, restarted…). */
  onEvent?: (line: string) => void;
  /**
   * Where engines run: omitted, on this machine (the default); `{ launcher: "ssh", hosts }`,
   * on other hosts through ssh (`ssh_launcher.ts`; give the controller an `--ip` they reach);
   * `{ launcher: "mpi" }`, as the ranks of one `mpiexec` per `startEngines()` call
   * (`mpi_launcher.ts`; engine ids are the ranks on a fresh controller).
   */
  engines?: {
    /** Selects the SSH launcher. */
    launcher: "ssh";
    /**
     * Hosts, `[user@]host[:port]`; engine `i` goes to `hosts[i % hosts.length]`. Each needs
     * Deno, this package's `src/cli/main.ts` (see `ippMain`) and non-interactive ssh login.
     */
    hosts: string[];
    /** Extra ssh options before the host, e.g. `["-i", key, "-o", "ServerAliveInterval=5"]`. */
    sshArgs?: string[];
    /** The ssh program (default `"ssh"`). */
    sshCommand?: string;
    /** The `deno` program on the remote hosts (default `"deno"`, from the remote PATH). */
    deno?: string;
    /**
     * Path or URL of `src/cli/main.ts` on the remote hosts (default: its path here, right
     * for hosts that share this file system).
     */
    ippMain?: string;
  } | {
    /** Selects the MPI launcher: `mpiexec -n N … ipp engine --mpi`, one engine per rank. */
    launcher: "mpi";
    /** The mpiexec program (default `"mpiexec"`, from the PATH). */
    mpiexec?: string;
    /** Extra mpiexec flags after `-n N`, e.g. `["--hostfile", "hosts"]`. */
    mpiArgs?: string[];
  };
}

interface EngineSlot {
  proc: LaunchedProcess;
  stopping: boolean;
  /** Engines this process stands for: 1, or the ranks of an `mpiexec`. */
  size: number;
}

/** A controller plus engines on this machine. */
export class Cluster implements AsyncDisposable {
  /** Engines `start()` launches. */
  readonly n: number;
  /** This cluster's id (part of the connection file names). */
  readonly clusterId: string;
  /** The profile folder holding `security/` and the connection files. */
  readonly profileDir: string;
  readonly #options: ClusterOptions;
  #controller: LaunchedProcess | undefined;
  readonly #engines: EngineSlot[] = [];
  readonly #clients: Client[] = [];
  #stopped = false;
  /** Engines launched so far (spreads SSH engines over their hosts). */
  #launched = 0;

  /**
   * Describe a cluster; nothing starts until `start()`.
   * @param options See {@link ClusterOptions}.
   */
  constructor(options: ClusterOptions = {}) {
    this.#options = options;
    this.n = options.n ?? availableParallelism();
    this.clusterId = options.clusterId ?? defaultClusterId();
    this.profileDir = options.profileDir ??
      join(ipythonDir(), `profile_${options.profile ?? "default"}`);
  }

  /** Path of the client connection file. */
  get clientFile(): string {
    return connectionFilePath({
      kind: "client",
      profileDir: this.profileDir,
      clusterId: this.clusterId,
    });
  }

  /** Path of the engine connection file. */
  get engineFile(): string {
    return connectionFilePath({
      kind: "engine",
      profileDir: this.profileDir,
      clusterId: this.clusterId,
    });
  }

  /** Process ids of the controller and the engines running now. */
  get pids(): { controller?: number; engines: number[] } {
    return { controller: this.#controller?.pid, engines: this.#engines.map((s) => s.proc.pid) };
  }

  /** Number of engines running now (the ranks of an `mpiexec` count one each). */
  get engineCount(): number {
    return this.#engines.reduce((sum, s) => sum + s.size, 0);
  }

  /**
   * Start the controller, wait for its connection files, then start `n` engines.
   * @throws {IppError} The controller exited before writing its files.
   * @throws {ConnectionFileError} The files did not appear in time.
   */
  async start(): Promise<void> {
    await this.startController();
    await this.startEngines(this.n);
  }

  /** Start the controller alone and wait until its connection files exist. */
  async startController(): Promise<void> {
    if (this.#controller) return;
    this.#stopped = false;
    const proc = launchIpp([
      "controller",
      `--profile-dir=${this.profileDir}`,
      ...(this.clusterId ? [`--cluster-id=${this.clusterId}`] : []),
      ...(this.#options.controllerArgs ?? []),
    ], { label: "controller", output: this.#options.showLogs ? "inherit" : "null" });
    this.#controller = proc;
    const gone = new AbortController();
    proc.exited.then(() => gone.abort());
    try {
      await findConnectionFile({
        kind: "engine",
        profileDir: this.profileDir,
        clusterId: this.clusterId,
        timeoutMs: this.#options.timeoutMs ?? 30_000,
        signal: gone.signal,
      });
    } catch (error) {
      if (gone.signal.aborted) {
        this.#controller = undefined;
        throw new IppError(
          `The controller exited with status ${await proc.exited} before writing its connection ` +
            "files (run with showLogs: true to see why)",
          { cause: error },
        );
      }
      throw error;
    }
  }

  /**
   * Start engines that register with this cluster's controller.
   * @param n How many (default: the cluster's `n`).
   */
  startEngines(n: number = this.n): Promise<void> {
    if (!this.#controller) {
      return Promise.reject(new IppError("Start the controller first (cluster.start())"));
    }
    if (this.#options.engines?.launcher === "mpi") {
      if (n > 0) this.#launchEngine(n);
      return Promise.resolve();
    }
    for (let i = 0; i < n; i++) this.#launchEngine();
    return Promise.resolve();
  }

  /** Launch one engine, or `size` engines as the ranks of one `mpiexec` (MPI launcher). */
  #launchEngine(size = 1): void {
    const output = this.#options.showLogs ? "inherit" : "null";
    const mpi = this.#options.engines;
    if (mpi?.launcher === "mpi") {
      const first = this.engineCount;
      const label = `engines ${first}-${first + size - 1} (mpiexec)`;
      this.#watchEngine(
        launchMpiEngines({
          label,
          n: size,
          engineFile: this.engineFile,
          engineArgs: this.#options.engineArgs,
          output,
        }, mpi),
        label,
        size,
      );
      return;
    }
    const label = `engine ${this.#engines.length}`;
    const ssh = this.#options.engines;
    const proc = ssh?.launcher === "ssh"
      ? launchSshEngine({
        label,
        host: ssh.hosts[this.#launched++ % ssh.hosts.length],
        engineFile: this.engineFile,
        engineArgs: this.#options.engineArgs,
        output,
      }, ssh)
      : launchIpp(
        ["engine", `--file=${this.engineFile}`, ...(this.#options.engineArgs ?? [])],
        { label, output },
      );
    this.#watchEngine(proc, label, 1);
  }

  /** Track an engine process; report its exit and restart it when asked to. */
  #watchEngine(proc: LaunchedProcess, label: string, size: number): void {
    const slot: EngineSlot = { proc, stopping: false, size };
    this.#engines.push(slot);
    proc.exited.then((code) => {
      const at = this.#engines.indexOf(slot);
      if (at >= 0) this.#engines.splice(at, 1);
      if (slot.stopping || this.#stopped) return;
      this.#options.onEvent?.(`${label} (pid ${proc.pid}) exited with status ${code}`);
      if (this.#options.restart && this.#controller) {
        this.#options.onEvent?.(`restarting ${label}`);
        this.#launchEngine(size);
      }
    });
  }

  /** Stop every engine (SIGTERM, then SIGKILL after 3 s). */
  async stopEngines(): Promise<void> {
    const slots = [...this.#engines];
    for (const s of slots) s.stopping = true;
    await Promise.all(slots.map((s) => stopProcess(s.proc)));
  }

  /** Stop every engine and start as many again. */
  async restartEngines(): Promise<void> {
    const count = this.engineCount;
    await this.stopEngines();
    await this.startEngines(count);
  }

  /**
   * Send a signal to every engine process.
   * @param signal For example `"SIGINT"`.
   */
  signalEngines(signal: Deno.Signal): void {
    for (const s of this.#engines) s.proc.kill(signal);
  }

  /**
   * Connect a client to this cluster's controller. Clients made here are closed by `stop()`.
   * @param options Client options (the connection file is this cluster's).
   */
  async connect(options: Omit<ClientOptions, "profileDir" | "clusterId"> = {}): Promise<Client> {
    const client = await Client.connect({
      ...options,
      profileDir: this.profileDir,
      clusterId: this.clusterId,
    });
    this.#clients.push(client);
    return client;
  }

  /**
   * `start()`, then `connect()`, then wait until `n` engines are registered.
   * @param options Client options.
   * @throws {TimeoutError} Fewer than `n` engines registered within `timeoutMs`.
   */
  async startAndConnect(
    options: Omit<ClientOptions, "profileDir" | "clusterId"> = {},
  ): Promise<Client> {
    await this.start();
    const client = await this.connect(options);
    await this.waitForEngines(client, this.n);
    return client;
  }

  /**
   * Wait until a client sees at least `n` engines.
   * @param client A connected client.
   * @param n Engines to wait for.
   * @param onProgress Called with the count each time it changes.
   */
  async waitForEngines(
    client: Client,
    n: number,
    onProgress?: (count: number) => void,
  ): Promise<void> {
    const timeoutMs = this.#options.timeoutMs ?? 30_000;
    const deadline = Date.now() + timeoutMs;
    let last = -1;
    while (client.ids.length < n) {
      if (client.ids.length !== last) onProgress?.(last = client.ids.length);
      if (Date.now() > deadline) {
        throw new TimeoutError(
          `Only ${client.ids.length} of ${n} engines registered within ${timeoutMs} ms`,
          timeoutMs,
        );
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    onProgress?.(client.ids.length);
  }

  /** Close clients made by `connect()`, stop engines, then the controller. Idempotent. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.all(this.#clients.splice(0).map((c) => c.close()));
    await this.stopEngines();
    const controller = this.#controller;
    this.#controller = undefined;
    if (controller) await stopProcess(controller);
  }

  /** Same as {@link Cluster.stop}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}

/** `"<unix time>-<4 random chars>"`, the shape ipyparallel's Cluster uses. */
function defaultClusterId(): string {
  const chars = "abcdefghijklmnopqrstuvwxyz0123456789";
  let tail = "";
  for (let i = 0; i < 4; i++) tail += chars[Math.floor(Math.random() * chars.length)];
  return `${Math.floor(Date.now() / 1000)}-${tail}`;
}
