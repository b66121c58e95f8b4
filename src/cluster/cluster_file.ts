/**
 * The cluster file: `<profile>/security/cluster-<id>.json`, written by `ipp cluster start`
 * once its engines registered (and again when they change), read by `ipp cluster stop`,
 * `ipp cluster list` and `Cluster.fromFile()`. Its name and snake_case fields follow the file
 * ipyparallel's `Cluster` writes; its content is ours: ids, pids, paths and the flags to
 * start more engines alike.
 *
 * Processes of a cluster found through its file are not children of the reader: they are
 * "adopted" ({@link adoptProcess}), signalled by pid and watched through `/proc`.
 *
 * @module
 */

import { join } from "node:path";
import { IppError } from "../errors.ts";
import type { LaunchedProcess } from "./local_launcher.ts";

/** What `cluster-<id>.json` records about a running cluster. */
export interface ClusterFile {
  /** The cluster id (`""` for the default files). */
  cluster_id: string;
  /** The profile folder. */
  profile_dir: string;
  /** Engines asked for. */
  n: number;
  /** The process that owns the cluster (`ipp cluster start`). */
  pid: number;
  /** The controller's process id (an ssh client for an SSH controller). */
  controller_pid?: number;
  /** The engines' process ids now. */
  engine_pids: number[];
  /** When the cluster became ready (ISO 8601). */
  started: string;
  /** Extra `ipp controller` flags it was started with. */
  controller_args?: string[];
  /** Extra `ipp engine` flags it was started with. */
  engine_args?: string[];
  /** Extra Deno flags it was started with. */
  deno_args?: string[];
  /** Whether crashed engines are restarted. */
  restart?: boolean;
}

/**
 * Path of the cluster file.
 *
 * @param profileDir The profile folder.
 * @param clusterId The cluster id.
 */
export function clusterFilePath(profileDir: string, clusterId: string): string {
  return join(profileDir, "security", `cluster-${clusterId}.json`);
}

/**
 * Read and check a cluster file.
 *
 * @param path The file.
 * @returns Its record.
 * @throws {IppError} The file is missing (naming where it looked and what to run), or is
 *   not a cluster file.
 */
export async function readClusterFile(path: string): Promise<ClusterFile> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new IppError(
        `No cluster file at ${path}: no cluster was started there. Start one with ` +
          "`ipp cluster start --daemonize` (with the same --profile/--profile-dir and " +
          "--cluster-id), or pass the file's path",
        { cause: error },
      );
    }
    throw error;
  }
  let record: ClusterFile;
  try {
    record = JSON.parse(text);
  } catch (error) {
    throw new IppError(`${path} is not JSON`, { cause: error });
  }
  if (
    typeof record !== "object" || record === null || typeof record.cluster_id !== "string" ||
    typeof record.profile_dir !== "string" || !Number.isInteger(record.pid) ||
    !Array.isArray(record.engine_pids)
  ) {
    throw new IppError(
      `${path} is not an ipp cluster file (needs cluster_id, profile_dir, pid, engine_pids)`,
    );
  }
  return record;
}

/**
 * Write a cluster file (mode 0600; atomically, through a temporary file and a rename).
 *
 * @param path The file.
 * @param record What to record.
 */
export async function writeClusterFile(path: string, record: ClusterFile): Promise<void> {
  const tmp = `${path}.${Deno.pid}.tmp`;
  await Deno.writeTextFile(tmp, JSON.stringify(record, null, 2) + "\n", { mode: 0o600 });
  await Deno.rename(tmp, path);
}

/**
 * Whether a process is alive (not a zombie): from `/proc` where there is one, else by
 * sending it SIGCONT (harmless to a running process).
 *
 * @param pid The process id.
 */
export function isAlive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound) || Deno.build.os === "linux") return false;
  }
  try {
    Deno.kill(pid, "SIGCONT");
    return true;
  } catch {
    return false;
  }
}

/**
 * A process that is not a child of this one, as a {@link LaunchedProcess}: signals go by
 * pid; `exited` polls every 100 ms once asked for, and resolves with -1 (the status of
 * another process's child cannot be known).
 *
 * @param pid The process id.
 * @param label Label used in messages.
 */
export function adoptProcess(pid: number, label: string): LaunchedProcess {
  let exited: Promise<number> | undefined;
  return {
    label,
    pid,
    get exited(): Promise<number> {
      return exited ??= (async () => {
        while (isAlive(pid)) await new Promise((r) => setTimeout(r, 100));
        return -1;
      })();
    },
    kill(signal: Deno.Signal = "SIGTERM") {
      if (!isAlive(pid)) return;
      try {
        Deno.kill(pid, signal);
      } catch {
        // Gone meanwhile.
      }
    },
  };
}
