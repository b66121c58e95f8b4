/**
 * `ipp controller`: start a controller (Hub and schedulers) with the flags `ipcontroller`
 * users know. Runs until a client sends `shutdown_request` (exit 0) or SIGINT/SIGTERM (clean
 * shutdown, exit 0); connection files are removed on exit unless `--reuse`.
 *
 * `deno run -A src/cli/controller.ts --help` works on its own too.
 *
 * @module
 */

import { Controller, type ControllerOptions, type DbKind } from "../controller/controller.ts";
import { defaultMaxMisses } from "../controller/heartbeat.ts";
import { createLogger, parseLogLevel } from "../controller/logger.ts";

const HELP = `ipp controller — start an IPython parallel controller (Hub and schedulers)

Usage:
  ipp controller [options]

Options (--flag=value and --flag value both work):
  --profile NAME          profile name (default: default)
  --profile-dir DIR       explicit profile folder (wins over --profile)
  --ipython-dir DIR       IPython folder (default: $IPYTHONDIR or ~/.ipython)
  --cluster-id ID         files are ipcontroller-<ID>-client.json / -engine.json
  --ip IP                 interface for every socket (default 127.0.0.1; 0.0.0.0 or * = all)
  --location HOST         controller host written in the files (default: hostname)
  --ping MS               heartbeat period in ms (default 3000)
  --max-misses N          missed heartbeats before an engine is dead
                          (default floor(500/ping), between 1 and 10)
  --dictdb                in-memory task database (the default)
  --sqlitedb[=FILE]       SQLite task database (default FILE tasks.db in the profile folder)
  --nodb                  no task database (result/history/db/resubmit queries fail)
  --scheme NAME           task scheme: leastload (default), lru, twobin, plainrandom,
                          weighted, pure, none   (also --TaskScheduler.scheme_name=NAME)
  --hwm N                 max outstanding tasks per engine (default 1; 0 = unlimited);
                          giving it turns the adaptive prefetch off
  --prefetch N            tasks a fast engine may hold (default 16; 1 = off, as ipyparallel)
  --prefetch-fast-ms MS   a task is fast when it takes at most MS (default 10)
  --cut-through BYTES     stream frames of at least BYTES through the MUX and control queues
                          instead of storing them (default 1048576; 0 = off: the task
                          database then keeps every buffer for get_result and resubmit)
  --finished-limit N      finished tasks remembered by msg_id (default 1000000; 0 = all, as
                          ipyparallel until a purge); past it the oldest is forgotten as a
                          purge forgets it (queue_status still counts it)
  --reuse                 reuse existing connection files (ports, key) and keep them
  --log-level LEVEL       10/20/30/40/50 or DEBUG/INFO/WARN/ERROR/CRITICAL (default INFO)
  -h, --help              show this help

Other --Class.trait=value flags (as passed by Python tooling) are accepted with a warning;
--HeartMonitor.period, --HeartMonitor.max_heartmonitor_misses, --TaskScheduler.hwm,
--IPController.ip and --IPController.reuse_files are understood.

Examples:
  ipp controller --cluster-id=demo --ping=250
  ipp controller --profile=iptest --log-level=10 --ping=250 --dictdb
  ipp controller --ip=0.0.0.0 --sqlitedb=/var/lib/ipp/tasks.db --scheme=lru --hwm=0
`;

/** Parsed command line. */
interface Parsed {
  options: ControllerOptions;
  logLevel: number;
  help: boolean;
  warnings: string[];
}

class UsageError extends Error {}

const VALUE_FLAGS = new Set([
  "profile",
  "profile-dir",
  "ipython-dir",
  "cluster-id",
  "ip",
  "location",
  "ping",
  "max-misses",
  "scheme",
  "hwm",
  "prefetch",
  "prefetch-fast-ms",
  "cut-through",
  "finished-limit",
  "log-level",
]);
const BOOL_FLAGS = new Set(["dictdb", "nodb", "reuse", "help"]);

/** Python-style trait flags we understand, mapped to our flags. */
const TRAITS: Record<string, string> = {
  "TaskScheduler.scheme_name": "scheme",
  "TaskScheduler.hwm": "hwm",
  "HeartMonitor.period": "ping",
  "HeartMonitor.max_heartmonitor_misses": "max-misses",
  "IPController.ip": "ip",
  "IPController.location": "location",
  "IPController.reuse_files": "reuse",
  "BaseParallelApplication.cluster_id": "cluster-id",
  "BaseIPythonApplication.profile": "profile",
  "ProfileDir.location": "profile-dir",
  "Application.log_level": "log-level",
};

function integer(flag: string, v: string, min: number): number {
  const n = Number(v);
  if (v.trim() === "" || !Number.isInteger(n) || n < min) {
    throw new UsageError(`--${flag} needs an integer ≥ ${min}, got ${JSON.stringify(v)}`);
  }
  return n;
}

function parse(args: string[]): Parsed {
  const o: ControllerOptions = {};
  const warnings: string[] = [];
  let logLevel = 20;
  let help = false;
  let db: DbKind | undefined;
  const setDb = (kind: DbKind) => {
    if (db !== undefined && db !== kind) {
      throw new UsageError(`--dictdb, --sqlitedb and --nodb are exclusive (got ${db} and ${kind})`);
    }
    db = kind;
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "-h") {
      help = true;
      continue;
    }
    if (!arg.startsWith("--")) throw new UsageError(`Unexpected argument ${JSON.stringify(arg)}`);
    const eq = arg.indexOf("=");
    let name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
    let value: string | undefined = eq < 0 ? undefined : arg.slice(eq + 1);
    if (name.includes(".")) {
      const mapped = TRAITS[name];
      if (mapped === undefined) {
        warnings.push(`ignoring unsupported option ${arg}`);
        if (value === undefined && i + 1 < args.length && !args[i + 1].startsWith("--")) i++;
        continue;
      }
      name = mapped;
      if (name === "reuse") {
        if (value !== undefined && !/^(true|1)$/i.test(value)) continue;
        value = undefined;
      }
    }
    name = name.replaceAll("_", "-");
    if (name === "sqlitedb") {
      setDb("sqlite");
      if (value !== undefined) o.sqlitePath = value;
      continue;
    }
    if (BOOL_FLAGS.has(name)) {
      if (value !== undefined) throw new UsageError(`--${name} takes no value`);
      if (name === "help") help = true;
      else if (name === "dictdb") setDb("memory");
      else if (name === "nodb") setDb("none");
      else if (name === "reuse") o.reuse = true;
      continue;
    }
    if (!VALUE_FLAGS.has(name)) {
      throw new UsageError(`Unknown option ${arg} (see --help)`);
    }
    if (value === undefined) {
      if (i + 1 >= args.length) throw new UsageError(`--${name} needs a value`);
      value = args[++i];
    }
    switch (name) {
      case "profile":
        o.profile = value;
        break;
      case "profile-dir":
        o.profileDir = value;
        break;
      case "ipython-dir":
        o.ipythonDir = value;
        break;
      case "cluster-id":
        o.clusterId = value;
        break;
      case "ip":
        o.ip = value;
        break;
      case "location":
        o.location = value;
        break;
      case "ping":
        o.pingMs = integer(name, value, 1);
        break;
      case "max-misses":
        o.maxMisses = integer(name, value, 0);
        break;
      case "scheme":
        o.scheme = value as ControllerOptions["scheme"];
        break;
      case "hwm":
        o.hwm = integer(name, value, 0);
        break;
      case "prefetch":
        o.prefetch = integer(name, value, 0);
        break;
      case "prefetch-fast-ms":
        o.prefetchFastMs = integer(name, value, 0);
        break;
      case "cut-through":
        o.cutThrough = integer(name, value, 0);
        break;
      case "finished-limit":
        o.finishedLimit = integer(name, value, 0);
        break;
      case "log-level":
        try {
          logLevel = parseLogLevel(value);
        } catch (e) {
          throw new UsageError((e as Error).message);
        }
        break;
    }
  }
  if (db !== undefined) o.db = db;
  return { options: o, logLevel, help, warnings };
}

/**
 * Runs `ipp controller` until the controller stops.
 *
 * @param args The arguments after `controller`.
 * @returns The exit code: 0 after a shutdown request or a signal, 2 for a usage error, 1 when
 *   the controller cannot start.
 * @example
 * ```ts
 * const code = await controllerCommand(["--cluster-id=demo", "--ping=250"]);
 * ```
 */
export async function controllerCommand(args: string[]): Promise<number> {
  let parsed: Parsed;
  try {
    parsed = parse(args);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`ipp controller: ${e.message}`);
    return 2;
  }
  if (parsed.help) {
    console.log(HELP);
    return 0;
  }
  const logger = createLogger(parsed.logLevel);
  for (const w of parsed.warnings) logger.warn(w);
  let controller: Controller;
  try {
    controller = await Controller.start({ ...parsed.options, logger });
  } catch (e) {
    logger.error(`could not start the controller: ${e instanceof Error ? e.message : e}`);
    return 1;
  }
  if (parsed.options.maxMisses === undefined) {
    logger.debug(`heartbeat miss limit ${defaultMaxMisses(parsed.options.pingMs ?? 3000)}`);
  }
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  const onSignal = () => {
    logger.info("signal received: shutting down");
    controller.stop();
  };
  for (const s of signals) {
    try {
      Deno.addSignalListener(s, onSignal);
    } catch {
      // not supported on this platform
    }
  }
  try {
    await controller.closed;
  } finally {
    for (const s of signals) {
      try {
        Deno.removeSignalListener(s, onSignal);
      } catch {
        // ignore
      }
    }
  }
  return 0;
}

if (import.meta.main) {
  Deno.exit(await controllerCommand(Deno.args));
}
