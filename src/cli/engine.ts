/**
 * `ipp engine`: start an engine that registers with a controller (Python `ipcontroller` or
 * `ipp controller`) and runs JavaScript/TypeScript. Flags follow `ipengine`'s; the
 * `--IPEngine.*`-style traitlet flags Python tooling passes are accepted and ignored with a
 * warning.
 *
 * @example
 * ```ts ignore
 * import { engineCommand } from "./engine.ts";
 * Deno.exit(await engineCommand(["--profile-dir", "/tmp/profile", "--cluster-id", "abc"]));
 * ```
 *
 * @module
 */

import { ConnectionFileError, RegistrationError } from "../errors.ts";
import { Engine, type EngineExit, EXIT_REGISTRATION_FAILED } from "../engine/engine.ts";
import { Logger, type LogLevel, parseLogLevel } from "../engine/log.ts";

const HELP = `ipp engine — start an engine that runs JavaScript/TypeScript for a controller

Usage:
  ipp engine [options]

Finding the controller (the engine connection file, ipcontroller[-<cluster-id>]-engine.json):
  --file <path>                 the engine connection file to use
  --profile <name>              IPython profile (default: default)
  --profile-dir <dir>           profile folder (default: <ipython-dir>/profile_<profile>)
  --ipython-dir <dir>           IPython folder (default: $IPYTHONDIR or ~/.ipython)
  --cluster-id <id>             cluster id of the controller (default: none)
  --wait-for-url-file <s>       seconds to wait for the file to appear (default: 10)
  --location <host>             controller host, to resolve an interface of 0.0.0.0

Registration and heartbeat:
  --id <n>                      ask for this engine id (granted if free)
  --mpi                         started by mpiexec: without --id, ask for the MPI rank
                                (OMPI_COMM_WORLD_RANK, PMI_RANK or PMIX_RANK) as the id
  --timeout <s>                 seconds to wait for the registration reply (default: 5)
  --max-heartbeat-misses <n>    exit after n heartbeat checks without a ping from the
                                controller (default: 50; 0 = never)

Kernel:
  --typescript                  treat every cell as TypeScript (default: only when a cell
                                does not parse as JavaScript)
  --work-dir <dir>              directory relative imports resolve against (default: cwd)
  --no-direct                   do not serve clients on this host straight from a loopback
                                port (the same-host direct path; default: served when the
                                controller is ours)

Other:
  --log-level <level>           DEBUG, INFO, WARN, ERROR, CRITICAL or 10..50 (default: INFO)
  -h, --help                    show this help

Both --flag=value and --flag value work. Flags of the form --IPEngine.x=y or
--InteractiveShell.x=y (passed by Python's ipcluster) are ignored with a warning.

Examples:
  ipp engine --profile-dir ~/.ipython/profile_default --cluster-id 1700000000-abcd
  ipp engine --file ~/.ipython/profile_default/security/ipcontroller-engine.json
  ipp engine --cluster-id mycluster --timeout=10 --log-level=DEBUG

A client's shutdown with restart (rc.shutdown({ restart: true })) does not exit: a new
engine (fresh kernel and namespace) registers from this process, asking for the same id.

Exit status: 0 after a shutdown request or SIGINT/SIGTERM, 1 when the controller went away
or the connection file was not found, 2 for bad flags, 255 when registration failed.
`;

/** Parsed `ipp engine` flags. */
export interface EngineFlags {
  /** `--file`. */
  file?: string;
  /** `--profile`. */
  profile?: string;
  /** `--profile-dir`. */
  profileDir?: string;
  /** `--ipython-dir`. */
  ipythonDir?: string;
  /** `--cluster-id`. */
  clusterId?: string;
  /** `--wait-for-url-file`, seconds. */
  waitForUrlFile: number;
  /** `--location`. */
  location?: string;
  /** `--id`. */
  id?: number;
  /** `--mpi`: without `--id`, the MPI rank is the requested id (see {@link mpiRank}). */
  mpi?: boolean;
  /** `--timeout`, seconds. */
  timeout: number;
  /** `--max-heartbeat-misses`. */
  maxHeartbeatMisses: number;
  /** `--log-level`. */
  logLevel: LogLevel;
  /** `--typescript`. */
  typescript: boolean;
  /** Not `--no-direct`. */
  direct: boolean;
  /** `--work-dir`. */
  workDir?: string;
  /** `--help`. */
  help: boolean;
  /** Ignored traitlet-style flags. */
  ignored: string[];
}

/** A command-line mistake (exit status 2). */
export class UsageError extends Error {
  /**
   * A usage error.
   * @param message What is wrong and what to do.
   */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

const VALUE_FLAGS = new Set([
  "file",
  "profile",
  "profile-dir",
  "ipython-dir",
  "cluster-id",
  "wait-for-url-file",
  "location",
  "id",
  "timeout",
  "max-heartbeat-misses",
  "log-level",
  "work-dir",
]);
const BOOL_FLAGS = new Set(["typescript", "help", "mpi"]);
// ipengine spells some flags with underscores; accept those too.
const ALIASES: Record<string, string> = {
  "profile_dir": "profile-dir",
  "ipython_dir": "ipython-dir",
  "cluster_id": "cluster-id",
  "log_level": "log-level",
  "url_file": "file",
  "url-file": "file",
  "wait_for_url_file": "wait-for-url-file",
  "max_heartbeat_misses": "max-heartbeat-misses",
  "work_dir": "work-dir",
};

function number(flag: string, text: string, integer: boolean, min: number): number {
  const n = Number(text);
  if (text.trim() === "" || !Number.isFinite(n) || (integer && !Number.isInteger(n)) || n < min) {
    throw new UsageError(
      `--${flag} needs ${integer ? "an integer" : "a number"} >= ${min}, got ${
        JSON.stringify(text)
      }`,
    );
  }
  return n;
}

/**
 * Parse `ipp engine` arguments.
 *
 * @param args The arguments after `engine`.
 * @returns The flags.
 * @throws {UsageError} for unknown flags, missing values and bad numbers.
 * @example
 * ```ts
 * import { parseEngineArgs } from "./engine.ts";
 * parseEngineArgs(["--cluster-id=abc", "--timeout", "10"]).timeout; // 10
 * ```
 */
export function parseEngineArgs(args: string[]): EngineFlags {
  const flags: EngineFlags = {
    waitForUrlFile: 10,
    timeout: 5,
    maxHeartbeatMisses: 50,
    logLevel: "info",
    typescript: false,
    direct: true,
    help: false,
    ignored: [],
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "-h") {
      flags.help = true;
      continue;
    }
    if (!arg.startsWith("--")) {
      throw new UsageError(`unexpected argument ${JSON.stringify(arg)} (see ipp engine --help)`);
    }
    const eq = arg.indexOf("=");
    let name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
    // Traitlet configuration (--IPEngine.timeout=10, --InteractiveShell.colors=nocolor…).
    if (/^[A-Z][A-Za-z0-9]*\.[A-Za-z_][A-Za-z0-9_.]*$/.test(name)) {
      flags.ignored.push(arg);
      if (eq < 0 && i + 1 < args.length && !args[i + 1].startsWith("--")) {
        flags.ignored[flags.ignored.length - 1] += ` ${args[++i]}`;
      }
      continue;
    }
    name = ALIASES[name] ?? name;
    if (name === "no-direct" && eq < 0) {
      flags.direct = false;
      continue;
    }
    if (BOOL_FLAGS.has(name)) {
      if (eq >= 0) {
        const v = arg.slice(eq + 1).toLowerCase();
        if (!["true", "false", "1", "0", "yes", "no"].includes(v)) {
          throw new UsageError(`--${name} takes no value or true/false, got ${arg.slice(eq + 1)}`);
        }
        (flags as unknown as Record<string, boolean>)[name] = ["true", "1", "yes"].includes(v);
      } else (flags as unknown as Record<string, boolean>)[name] = true;
      continue;
    }
    if (!VALUE_FLAGS.has(name)) {
      throw new UsageError(
        `unknown flag ${arg.slice(0, eq < 0 ? undefined : eq)} ` +
          "(see ipp engine --help for the flags)",
      );
    }
    let value: string;
    if (eq >= 0) value = arg.slice(eq + 1);
    else {
      if (i + 1 >= args.length) throw new UsageError(`--${name} needs a value`);
      value = args[++i];
    }
    switch (name) {
      case "file":
        flags.file = value;
        break;
      case "profile":
        flags.profile = value;
        break;
      case "profile-dir":
        flags.profileDir = value;
        break;
      case "ipython-dir":
        flags.ipythonDir = value;
        break;
      case "cluster-id":
        flags.clusterId = value;
        break;
      case "location":
        flags.location = value;
        break;
      case "work-dir":
        flags.workDir = value;
        break;
      case "wait-for-url-file":
        flags.waitForUrlFile = number(name, value, false, 0);
        break;
      case "timeout":
        flags.timeout = number(name, value, false, 0);
        break;
      case "id":
        flags.id = number(name, value, true, 0);
        break;
      case "max-heartbeat-misses":
        flags.maxHeartbeatMisses = number(name, value, true, 0);
        break;
      case "log-level":
        try {
          flags.logLevel = parseLogLevel(value);
        } catch (e) {
          throw new UsageError((e as Error).message);
        }
        break;
    }
  }
  return flags;
}

/** Environment variables holding the MPI rank: Open MPI, MPICH/Intel MPI (PMI), PMIx. */
const RANK_VARIABLES = ["OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK"];

/**
 * This process's MPI rank, from the variables `mpiexec` sets (Open MPI, MPICH, PMIx).
 *
 * @param env The environment to read (default: this process's).
 * @returns The rank.
 * @throws {UsageError} No rank variable is set (not started by `mpiexec`) or it is not a
 * non-negative integer.
 * @example
 * ```ts
 * import { mpiRank } from "./engine.ts";
 * mpiRank({ OMPI_COMM_WORLD_RANK: "3" }); // 3
 * ```
 */
export function mpiRank(env: Record<string, string | undefined> = Deno.env.toObject()): number {
  const name = RANK_VARIABLES.find((v) => env[v] !== undefined);
  if (name === undefined) {
    throw new UsageError(
      `--mpi needs an MPI rank in the environment (${RANK_VARIABLES.join(", ")}): ` +
        "start the engine with mpiexec, or give --id instead",
    );
  }
  const rank = Number(env[name]);
  if (!/^\d+$/.test(env[name]!) || !Number.isSafeInteger(rank)) {
    throw new UsageError(
      `${name} must be a non-negative integer, got ${JSON.stringify(env[name])}`,
    );
  }
  return rank;
}

/**
 * Run `ipp engine`: find the connection file, register, serve until a shutdown request, a
 * signal (SIGINT, SIGTERM: unregister, then exit 0) or the controller going away.
 *
 * @param args The arguments after `engine`.
 * @returns The process exit status (see the help text).
 */
export async function engineCommand(args: string[]): Promise<number> {
  let flags: EngineFlags;
  try {
    flags = parseEngineArgs(args);
    if (flags.mpi && flags.id === undefined && !flags.help) flags.id = mpiRank();
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`ipp engine: ${e.message}`);
    return 2;
  }
  if (flags.help) {
    console.log(HELP);
    return 0;
  }
  const log = new Logger({ level: flags.logLevel });
  for (const f of flags.ignored) log.warn(`ignoring ${f} (Python traitlet configuration)`);

  // Signals are handled from the start: while starting they cancel the wait, then they stop
  // the engine cleanly (unregistration first).
  const cancel = new AbortController();
  let engine: Engine | undefined;
  let received: Deno.Signal | undefined;
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  const handlers = signals.map((sig) => {
    const handler = () => {
      received ??= sig;
      if (engine) void engine.stop(`received ${sig}`, 0);
      else cancel.abort(new Error(`received ${sig}`));
    };
    Deno.addSignalListener(sig, handler);
    return [sig, handler] as const;
  });
  // A client's `shutdown({ restart: true })` ends an engine with `exit.restart`: a fresh one
  // (new kernel, new uuid) registers in its place from this process, asking for the same id.
  let id = flags.id;
  try {
    for (;;) {
      const exit = await runOnce(id);
      if (typeof exit === "number") return exit;
      if (!exit.restart || received) {
        if (exit.state === "failed") log.critical(`engine exiting: ${exit.reason}`);
        else log.info(`engine exiting: ${exit.reason}`);
        return exit.exitCode;
      }
      id = engine!.id;
      log.info(`engine ${id} restarting: a new kernel registers in its place`);
      engine = undefined;
    }
  } finally {
    for (const [sig, handler] of handlers) Deno.removeSignalListener(sig, handler);
  }

  /** One engine's life: its exit, or the exit status when it could not start. */
  async function runOnce(id: number | undefined): Promise<EngineExit | number> {
    try {
      engine = await Engine.start({
        find: {
          file: flags.file,
          profile: flags.profile,
          profileDir: flags.profileDir,
          ipythonDir: flags.ipythonDir,
          clusterId: flags.clusterId,
          timeoutMs: flags.waitForUrlFile * 1000,
        },
        location: flags.location,
        id,
        registrationTimeoutMs: flags.timeout * 1000,
        maxHeartbeatMisses: flags.maxHeartbeatMisses,
        typescript: flags.typescript,
        direct: flags.direct,
        cwd: flags.workDir,
        log,
        signal: cancel.signal,
      });
    } catch (e) {
      if (received) {
        log.info(`received ${received} while starting; exiting`);
        return 0;
      }
      if (e instanceof RegistrationError) {
        log.critical(e.message);
        return EXIT_REGISTRATION_FAILED;
      }
      if (e instanceof ConnectionFileError) {
        log.critical(e.message);
        return 1;
      }
      log.critical(`could not start the engine: ${(e as Error)?.message ?? e}`);
      return 1;
    }
    if (received) void engine.stop(`received ${received}`, 0);
    return await engine.finished;
  }
}

if (import.meta.main) {
  Deno.exit(await engineCommand(Deno.args));
}
