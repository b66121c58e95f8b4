/**
 * The options of `Cluster` (`ClusterOptions`), its launchers' options and the events it
 * reports (`ClusterEvent`), in one place so that each launcher can name its own part.
 *
 * @module
 */

/** The ssh settings every SSH launcher (engines or controller) takes. */
export interface SshSettings {
  /** Extra ssh options before the host, e.g. `["-i", key, "-o", "ServerAliveInterval=5"]`. */
  sshArgs?: string[];
  /** The ssh program (default `"ssh"`). */
  sshCommand?: string;
  /** The `deno` program on the remote host (default `"deno"`, from the remote PATH). */
  deno?: string;
  /**
   * Path or URL of `src/cli/main.ts` on the remote host (default: its path here, right for
   * hosts that share this file system).
   */
  ippMain?: string;
}

/** Engines on other hosts through ssh, one ssh client per engine (`ssh_launcher.ts`). */
export interface SshEnginesOptions extends SshSettings {
  /** Selects the SSH launcher. */
  launcher: "ssh";
  /**
   * Hosts, `[user@]host[:port]`; engine `i` goes to `hosts[i % hosts.length]`. Each needs
   * Deno, this package's `src/cli/main.ts` (see `ippMain`) and non-interactive ssh login.
   */
  hosts: string[];
}

/** Engines as the ranks of one `mpiexec` per `startEngines()` call (`mpi_launcher.ts`). */
export interface MpiEnginesOptions {
  /** Selects the MPI launcher: `mpiexec -n N … ipp engine --mpi`, one engine per rank. */
  launcher: "mpi";
  /** The mpiexec program (default `"mpiexec"`, from the PATH). */
  mpiexec?: string;
  /** Extra mpiexec flags after `-n N`, e.g. `["--hostfile", "hosts"]`. */
  mpiArgs?: string[];
}

/** The Slurm settings of both Slurm launchers (engines and controller). */
export interface SlurmSettings {
  /** `#SBATCH --partition`, when given. */
  partition?: string;
  /** `#SBATCH --time` (`"30"`, `"1:00:00"`…), when given. */
  time?: string;
  /** `#SBATCH --account`, when given. */
  account?: string;
  /** More `#SBATCH` directives, verbatim, e.g. `["--qos=low"]`. */
  directives?: string[];
  /** `#SBATCH --job-name` (default `"ipp-engine"` or `"ipp-controller"`). */
  jobName?: string;
  /** The sbatch program (default `"sbatch"`). */
  sbatch?: string;
  /** The scancel program (default `"scancel"`). */
  scancel?: string;
  /** The squeue program, used to notice a job that ended (default `"squeue"`). */
  squeue?: string;
  /** Extra environment for the Slurm programs, e.g. `{ SLURM_CONF: "/etc/slurm/x.conf" }`. */
  env?: Record<string, string>;
  /** The `deno` program on the job's nodes (default: this process's `Deno.execPath()`). */
  deno?: string;
  /** Path or URL of `src/cli/main.ts` on the job's nodes (default: its path here). */
  ippMain?: string;
}

/**
 * Engines as the tasks of one Slurm batch job per `startEngines()` call
 * (`slurm_launcher.ts`). The job's nodes need Deno, this package and the profile folder at
 * the same paths as here (a shared file system), and a controller address they reach.
 */
export interface SlurmEnginesOptions extends SlurmSettings {
  /** Selects the Slurm launcher: `sbatch` a script whose `srun` starts the engines. */
  launcher: "slurm";
}

/**
 * The controller as a one-task Slurm batch job (`slurm_launcher.ts`); it writes its
 * connection files to the profile folder, which must be shared with this machine, and must
 * listen on an address this machine and the engines reach (`controllerArgs: ["--ip=…"]`).
 */
export interface SlurmControllerOptions extends SlurmSettings {
  /** Selects the Slurm launcher. */
  launcher: "slurm";
}

/**
 * The controller on another host through ssh (ipyparallel's `SSHControllerLauncher`,
 * `ssh_controller.ts`): `ipp controller` runs there in the profile folder `remoteProfileDir`,
 * and its two connection files are copied back into this cluster's profile folder once they
 * exist. It must listen on an address this machine and the engines reach (`controllerArgs:
 * ["--ip=…"]`).
 */
export interface SshControllerOptions extends SshSettings {
  /** Selects the SSH launcher. */
  launcher: "ssh";
  /** `[user@]host[:port]`. */
  host: string;
  /**
   * The profile folder on the host (default: `profileDir` with this machine's home folder
   * stripped, so relative to the remote home, as ipyparallel does).
   */
  remoteProfileDir?: string;
}

/** Options of `Cluster`. */
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
  /**
   * Extra Deno flags for every process the cluster launches (controller and engines, local
   * or remote), placed before the program: `deno run -A --quiet <denoArgs…> main.ts …`. For
   * example `["--v8-flags=--max-old-space-size=4096"]` or
   * `["--cpu-prof", "--cpu-prof-dir=/tmp/prof"]`.
   */
  denoArgs?: string[];
  /**
   * Restart engines that crash, i.e. exit with a non-zero status without being asked to
   * stop (default false). Engines that exit with status 0 (a client's shutdown request,
   * SIGINT) are reported but not restarted. ipyparallel cannot do that.
   */
  restart?: boolean;
  /** Show the controller's and engines' logs on this process's stderr (default false). */
  showLogs?: boolean;
  /** Milliseconds to wait for the controller's files and for engines (default 30 000). */
  timeoutMs?: number;
  /**
   * Called for each event worth telling a user: an engine (or the controller) exited without
   * being asked to, an engine was restarted. See {@link ClusterEvent}; `event.message` is a
   * one-line description. Without this option, each event's message is written to stderr
   * (`ipp cluster: engine 1 (pid 4242) crashed with status 137; restarting it`).
   */
  onEvent?: (event: ClusterEvent) => void;
  /**
   * Where engines run: omitted, on this machine (the default); `{ launcher: "ssh", hosts }`,
   * on other hosts through ssh (give the controller an `--ip` they reach);
   * `{ launcher: "mpi" }`, as the ranks of one `mpiexec` per `startEngines()` call (engine ids
   * are the ranks on a fresh controller); `{ launcher: "slurm" }`, as one Slurm job per
   * `startEngines()` call.
   */
  engines?: SshEnginesOptions | MpiEnginesOptions | SlurmEnginesOptions;
  /**
   * Where the controller runs: omitted, on this machine (the default);
   * `{ launcher: "ssh", host }`, on another host through ssh, its connection files copied back;
   * `{ launcher: "slurm" }`, as a Slurm job on a node sharing the profile folder.
   */
  controller?: SshControllerOptions | SlurmControllerOptions;
}

/**
 * Something that happened to a cluster's processes, passed to `ClusterOptions.onEvent`.
 *
 * - `engineExited`: an engine process (or an `mpiexec`, or a Slurm job) ended without being
 *   asked to. `crashed` is true for a non-zero status (128 + n after signal n, so 137 after
 *   `kill -9`); `restarting` tells whether a replacement is being launched.
 * - `engineRestarted`: the replacement was launched (`pid` is the new process).
 * - `controllerExited`: the controller ended without being asked to; engines are left as
 *   they are (they exit on their own once they miss its heartbeats).
 */
export type ClusterEvent =
  | {
    type: "engineExited";
    /** The engine's label, e.g. `"engine 3"`. */
    label: string;
    /** Its process id here (ssh client, mpiexec…); undefined for a Slurm job. */
    pid?: number;
    /** Exit status. */
    code: number;
    /** A non-zero status. */
    crashed: boolean;
    /** Whether it is being restarted (`restart: true` and crashed). */
    restarting: boolean;
    /** One line for a log. */
    message: string;
  }
  | {
    type: "engineRestarted";
    /** The new engine's label. */
    label: string;
    /** Its process id. */
    pid?: number;
    /** One line for a log. */
    message: string;
  }
  | {
    type: "controllerExited";
    /** Its process id here (undefined for a Slurm job). */
    pid?: number;
    /** Exit status. */
    code: number;
    /** One line for a log. */
    message: string;
  };
