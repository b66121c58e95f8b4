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
 * The controller and every engine are child processes (`ipp controller`, `ipp engine`; or
 * ssh clients, an `mpiexec`, a Slurm job, see `ClusterOptions.engines` and `.controller`),
 * so a crashed engine never takes the cluster down. Engines that exit on their own are
 * reported through `onEvent` ({@link ClusterEvent}), and those that crash (non-zero status)
 * are restarted when `restart: true` (ipyparallel cannot do that). `Cluster.fromFile()` finds
 * a cluster that `ipp cluster start` runs.
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
import { launchSlurmController, launchSlurmEngines, slurmJobProcess } from "./slurm_launcher.ts";
import {
  defaultRemoteProfileDir,
  fetchSshConnectionFiles,
  launchSshController,
} from "./ssh_controller.ts";
import { adoptProcess, clusterFilePath, isAlive, readClusterFile } from "./cluster_file.ts";
import type { ClusterEvent, ClusterOptions } from "./options.ts";

/** Where {@link Cluster.fromFile} looks: a file, or the profile and id that name it. */
export interface ClusterFromFileOptions {
  /** The cluster file (default `<profileDir>/security/cluster-<clusterId>.json`). */
  clusterFile?: string;
  /** Profile name (default `"default"`); ignored when `profileDir` is given. */
  profile?: string;
  /** Explicit profile folder. */
  profileDir?: string;
  /** IPython folder (default `$IPYTHONDIR` or `~/.ipython`). */
  ipythonDir?: string;
  /** Cluster id (default `""`, what `ipp cluster start` uses without `--cluster-id`). */
  clusterId?: string;
  /** Options for what this `Cluster` does from now on (events, restart, time-outs…). */
  options?: Omit<ClusterOptions, "profile" | "profileDir" | "clusterId">;
}

interface EngineSlot {
  proc: LaunchedProcess;
  stopping: boolean;
  /** Engines this process stands for: 1, or the ranks of an `mpiexec` or a Slurm job. */
  size: number;
}

/** A controller plus engines, started here or found through a cluster file. */
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
  /** Engine processes launched so far: labels them and spreads SSH engines over hosts. */
  #launched = 0;
  /** For a cluster found through its file: the owning process and the file. */
  #owner: { pid: number; file: string } | undefined;
  /** Connection files copied from an SSH controller's host (removed by `stop()`). */
  #copiedFiles: string[] = [];

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

  /**
   * Process ids here of the controller and the engines running now (for SSH launchers,
   * their ssh clients; a Slurm job has none, see `jobIds`).
   */
  get pids(): { controller?: number; engines: number[] } {
    return {
      controller: this.#controller?.pid,
      engines: this.#engines.flatMap((s) => s.proc.pid === undefined ? [] : [s.proc.pid]),
    };
  }

  /** Slurm job ids of the engines running now. */
  get jobIds(): string[] {
    return this.#engines.flatMap((s) => s.proc.jobId === undefined ? [] : [s.proc.jobId]);
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

  /**
   * Start the controller alone and wait until its connection files exist (for an SSH
   * controller: until they exist on its host, then copy them here).
   * @throws {IppError} The controller exited before writing its files.
   * @throws {ConnectionFileError} The files did not appear in time.
   */
  async startController(): Promise<void> {
    if (this.#controller) return;
    this.#stopped = false;
    const output = this.#options.showLogs ? "inherit" : "null";
    const where = this.#options.controller;
    const ssh = where?.launcher === "ssh" ? where : undefined;
    const remoteProfileDir = ssh?.remoteProfileDir ?? defaultRemoteProfileDir(this.profileDir);
    let proc: LaunchedProcess;
    if (where?.launcher === "slurm") {
      // A job may wait in the queue: stale files would be taken for this controller's.
      const reuse = (this.#options.controllerArgs ?? []).includes("--reuse");
      if (!reuse) {
        for (const f of [this.clientFile, this.engineFile]) await Deno.remove(f).catch(() => {});
      }
      await Deno.mkdir(join(this.profileDir, "security"), { recursive: true, mode: 0o700 });
      const job = await launchSlurmController({
        ...where,
        profileDir: this.profileDir,
        clusterId: this.clusterId,
        controllerArgs: this.#options.controllerArgs,
        denoArgs: this.#options.denoArgs,
        dir: join(this.profileDir, "security"),
      });
      proc = slurmJobProcess(job, `controller job ${job.jobId}`, where);
    } else if (ssh) {
      proc = launchSshController({
        remoteProfileDir,
        clusterId: this.clusterId,
        controllerArgs: this.#options.controllerArgs,
        denoArgs: this.#options.denoArgs,
        output,
      }, ssh);
    } else if (where === undefined) {
      proc = launchIpp([
        "controller",
        `--profile-dir=${this.profileDir}`,
        ...(this.clusterId ? [`--cluster-id=${this.clusterId}`] : []),
        ...(this.#options.controllerArgs ?? []),
      ], { label: "controller", output, denoArgs: this.#options.denoArgs });
    } else {
      throw new IppError(
        `Unknown controller launcher ${JSON.stringify(where.launcher)} (ssh or slurm)`,
      );
    }
    this.#controller = proc;
    const gone = new AbortController();
    proc.exited.then((code) => {
      gone.abort();
      if (this.#controller !== proc || this.#stopped) return;
      this.#controller = undefined;
      const what = proc.pid === undefined ? proc.label : `${proc.label} (pid ${proc.pid})`;
      this.#report({
        type: "controllerExited",
        pid: proc.pid,
        code,
        message: `${what} exited with status ${code}`,
      });
    });
    const timeoutMs = this.#options.timeoutMs ?? 30_000;
    try {
      if (ssh) {
        const local = { client: this.clientFile, engine: this.engineFile };
        this.#copiedFiles = [local.client, local.engine];
        await fetchSshConnectionFiles({
          remoteProfileDir,
          clusterId: this.clusterId,
          local,
          timeoutMs,
          signal: gone.signal,
        }, ssh);
      }
      await findConnectionFile({
        kind: "engine",
        profileDir: this.profileDir,
        clusterId: this.clusterId,
        timeoutMs,
        signal: gone.signal,
      });
    } catch (error) {
      if (gone.signal.aborted) {
        this.#controller = undefined;
        throw new IppError(
          `The ${proc.label} exited with status ${await proc.exited} before writing its ` +
            "connection files (run with showLogs: true to see why)",
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
  async startEngines(n: number = this.n): Promise<void> {
    if (!this.#controller) {
      throw new IppError("Start the controller first (cluster.start())");
    }
    const launcher = this.#options.engines?.launcher;
    if (launcher === "mpi" || launcher === "slurm") {
      if (n > 0) await this.#launchEngine(n);
      return;
    }
    for (let i = 0; i < n; i++) await this.#launchEngine();
  }

  /**
   * Launch one engine, or `size` engines as the ranks of one `mpiexec` (MPI launcher) or the
   * tasks of one job (Slurm launcher).
   * @returns The new process.
   */
  async #launchEngine(size = 1): Promise<LaunchedProcess> {
    const output = this.#options.showLogs ? "inherit" : "null";
    const denoArgs = this.#options.denoArgs;
    const slurm = this.#options.engines;
    if (slurm?.launcher === "slurm") {
      const job = await launchSlurmEngines({
        ...slurm,
        n: size,
        engineFile: this.engineFile,
        engineArgs: this.#options.engineArgs,
        denoArgs,
        dir: join(this.profileDir, "security"),
      });
      const proc = slurmJobProcess(job, `engines job ${job.jobId} (${size} tasks)`, slurm);
      this.#watchEngine(proc, size);
      return proc;
    }
    const mpi = this.#options.engines;
    if (mpi?.launcher === "mpi") {
      const first = this.engineCount;
      const proc = launchMpiEngines({
        label: `engines ${first}-${first + size - 1} (mpiexec)`,
        n: size,
        engineFile: this.engineFile,
        engineArgs: this.#options.engineArgs,
        output,
        denoArgs,
      }, mpi);
      this.#watchEngine(proc, size);
      return proc;
    }
    const index = this.#launched++;
    const label = `engine ${index}`;
    const ssh = this.#options.engines;
    const proc = ssh?.launcher === "ssh"
      ? launchSshEngine({
        label,
        host: ssh.hosts[index % ssh.hosts.length],
        engineFile: this.engineFile,
        engineArgs: this.#options.engineArgs,
        output,
        denoArgs,
      }, ssh)
      : launchIpp(
        ["engine", `--file=${this.engineFile}`, ...(this.#options.engineArgs ?? [])],
        { label, output, denoArgs },
      );
    this.#watchEngine(proc, 1);
    return proc;
  }

  /**
   * Track an engine process; when it ends without being asked to, report it
   * (`engineExited`) and, if it crashed (non-zero status) and `restart` is set, launch a
   * replacement (`engineRestarted`).
   */
  #watchEngine(proc: LaunchedProcess, size: number): void {
    const slot: EngineSlot = { proc, stopping: false, size };
    this.#engines.push(slot);
    proc.exited.then(async (code) => {
      const at = this.#engines.indexOf(slot);
      if (at >= 0) this.#engines.splice(at, 1);
      if (slot.stopping || this.#stopped) return;
      const crashed = code !== 0;
      const restarting = crashed && (this.#options.restart ?? false) &&
        this.#controller !== undefined;
      const what = proc.pid === undefined ? proc.label : `${proc.label} (pid ${proc.pid})`;
      const exited = (restarting: boolean, message: string) =>
        this.#report({
          type: "engineExited",
          label: proc.label,
          pid: proc.pid,
          code,
          crashed,
          restarting,
          message,
        });
      exited(
        restarting,
        `${what} ${crashed ? "crashed" : "exited"} with status ${code}` +
          (restarting ? "; restarting it" : ""),
      );
      if (!restarting) return;
      try {
        const next = await this.#launchEngine(size);
        // stop() may have begun while a Slurm job was being submitted.
        if (this.#stopped) {
          await stopProcess(next);
          return;
        }
        this.#report({
          type: "engineRestarted",
          label: next.label,
          pid: next.pid,
          message: `${next.label} started (pid ${next.pid}) in place of ${proc.label}`,
        });
      } catch (error) {
        exited(false, `restarting ${proc.label} failed: ${(error as Error).message}`);
      }
    });
  }

  /**
   * Stop every engine (SIGTERM, then SIGKILL after 3 s; a Slurm job is cancelled), those
   * started here and, for a cluster found through its file, those its owner started.
   */
  async stopEngines(): Promise<void> {
    const slots = [...this.#engines];
    for (const s of slots) s.stopping = true;
    await Promise.all(slots.map(async (s) => {
      await stopProcess(s.proc);
      const at = this.#engines.indexOf(s);
      if (at >= 0) this.#engines.splice(at, 1);
    }));
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

  /**
   * Close clients made by `connect()`, stop engines, then the controller (and remove
   * connection files copied from an SSH controller's host). For a cluster found through its
   * file, also stop the process that owns it (`ipp cluster start`; SIGTERM, up to 10 s) and
   * remove the file. Idempotent.
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.all(this.#clients.splice(0).map((c) => c.close()));
    const owner = this.#owner;
    this.#owner = undefined;
    if (owner && isAlive(owner.pid)) {
      // The owner stops its controller and engines; what it leaves is stopped below.
      await stopProcess(adoptProcess(owner.pid, "ipp cluster"), 10_000);
    }
    await this.stopEngines();
    const controller = this.#controller;
    this.#controller = undefined;
    if (controller) await stopProcess(controller);
    for (const f of this.#copiedFiles.splice(0)) await Deno.remove(f).catch(() => {});
    if (owner) await Deno.remove(owner.file).catch(() => {});
  }

  /**
   * A `Cluster` for one that is already running, from the cluster file
   * `ipp cluster start` writes (`<profile>/security/cluster-<id>.json`), in the model of
   * ipyparallel's `Cluster.from_file()`. It can `connect()`, `stopEngines()`,
   * `startEngines()` (engines started here belong to this process), `signalEngines()` and
   * `stop()` — which also stops the `ipp cluster start` process and removes the file — on
   * processes it did not start. Crashes of those are reported by their owner, not here.
   *
   * @param where The file's path, or where to find it (default: the default profile and
   *   cluster id `""`).
   * @returns The cluster, its controller and engines adopted.
   * @throws {IppError} No file there (the message names the path and what to run), or not a
   *   cluster file.
   * @example
   * ```ts ignore
   * // after `ipp cluster start -n 4 --daemonize --cluster-id=work`
   * const cluster = await Cluster.fromFile({ clusterId: "work" });
   * const client = await cluster.connect();
   * // …
   * await cluster.stop(); // like `ipp cluster stop --cluster-id=work`
   * ```
   */
  static async fromFile(where: string | ClusterFromFileOptions = {}): Promise<Cluster> {
    const options = typeof where === "string" ? { clusterFile: where } : where;
    const profileDir = options.profileDir ??
      join(options.ipythonDir ?? ipythonDir(), `profile_${options.profile ?? "default"}`);
    const file = options.clusterFile ?? clusterFilePath(profileDir, options.clusterId ?? "");
    const record = await readClusterFile(file);
    const cluster = new Cluster({
      n: record.n,
      controllerArgs: record.controller_args,
      engineArgs: record.engine_args,
      denoArgs: record.deno_args,
      restart: record.restart,
      ...options.options,
      profileDir: record.profile_dir,
      clusterId: record.cluster_id,
    });
    cluster.#owner = { pid: record.pid, file };
    if (record.controller_pid !== undefined) {
      cluster.#controller = adoptProcess(record.controller_pid, "controller");
    }
    for (const pid of record.engine_pids) {
      cluster.#engines.push({
        proc: adoptProcess(pid, `engine (pid ${pid})`),
        stopping: false,
        size: 1,
      });
    }
    return cluster;
  }

  /** Pass an event to `onEvent`, or write its message to stderr when there is none. */
  #report(event: ClusterEvent): void {
    if (this.#options.onEvent) this.#options.onEvent(event);
    else console.error(`ipp cluster: ${event.message}`);
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
