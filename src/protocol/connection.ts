/**
 * Connection files (`ipcontroller[-<cluster_id>]-client.json` and `-engine.json`) and
 * IPython profile folders, as ipyparallel 7.1 reads and writes them (PROTOCOL.md §2).
 *
 * - {@linkcode findConnectionFile} locates and waits for a file the way `ipp.Client` and
 *   `ipengine` do: `$IPYTHONDIR` (else `~/.ipython`) / `profile_<name>` / `security/`.
 * - {@linkcode readConnectionFile} / {@linkcode parseConnectionInfo} validate every key
 *   (`pack`/`unpack` must be `"json"`; `broadcast` is one port in the client file and a list
 *   of ports in the engine file).
 * - {@linkcode writeConnectionFile} writes 2-space JSON with mode 0600, atomically.
 * - {@linkcode connectionUrls} turns `interface` + ports into ZeroMQ URLs (§2.4).
 *
 * @module
 */

import { ConnectionFileError } from "../errors.ts";
import {
  type ClientConnectionInfo,
  type ConnectionInfoOf,
  type ConnectionKind,
  type EngineConnectionInfo,
  parseConnectionInfo,
} from "./connection_info.ts";
import { type ConnectionFileOptions, connectionFilePath, securityDir } from "./profile_paths.ts";

export { parseConnectionInfo } from "./connection_info.ts";
export type {
  ClientConnectionInfo,
  ConnectionInfoBase,
  ConnectionInfoOf,
  ConnectionKind,
  EngineConnectionInfo,
} from "./connection_info.ts";
export {
  connectionFileName,
  connectionFilePath,
  ipythonDir,
  profileDir,
  securityDir,
} from "./profile_paths.ts";
export type { ConnectionFileOptions, ProfileOptions } from "./profile_paths.ts";
export { channelUrl, connectionUrls, disambiguateIp } from "./urls.ts";
export type { ClientUrls, EngineUrls, HostFacts } from "./urls.ts";
export { newKey } from "./ids.ts";

/**
 * Read and validate a connection file.
 *
 * @param path The file.
 * @param kind `"client"` or `"engine"`.
 * @returns The validated info.
 * @throws {ConnectionFileError} when missing, unreadable, not JSON, or invalid.
 */
export async function readConnectionFile<K extends ConnectionKind>(
  path: string,
  kind: K,
): Promise<ConnectionInfoOf<K>> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    const missing = e instanceof Deno.errors.NotFound;
    throw new ConnectionFileError(
      missing
        ? `Connection file not found: ${path} (is the controller running? start one with \`ipp controller\` or \`ipcluster start\`)`
        : `Cannot read connection file ${path}: ${(e as Error).message}`,
      [path],
      { cause: e },
    );
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new ConnectionFileError(
      `Connection file ${path} is not valid JSON: ${(e as Error).message}`,
      [path],
      {
        cause: e,
      },
    );
  }
  return parseConnectionInfo(kind, data, path);
}

/**
 * Write a connection file as ipcontroller does — 2-space JSON in ipcontroller's key order,
 * mode 0600 — but atomically (temporary file in the same folder, then rename), so a reader
 * polling for it never sees half a file. Creates the folder (mode 0700) if needed.
 *
 * @param path Destination.
 * @param info The info; validated first.
 * @throws {ConnectionFileError} when `info` is invalid or the file cannot be written.
 */
export async function writeConnectionFile(
  path: string,
  info: ClientConnectionInfo | EngineConnectionInfo,
): Promise<void> {
  const kind: ConnectionKind = Array.isArray(info.broadcast) ? "engine" : "client";
  const valid = parseConnectionInfo(kind, info, path);
  const slash = path.lastIndexOf("/");
  const dir = slash > 0 ? path.slice(0, slash) : slash === 0 ? "/" : ".";
  const tmp = `${dir}/.${path.slice(slash + 1)}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  try {
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    await Deno.writeTextFile(tmp, JSON.stringify(valid, null, 2), { mode: 0o600, createNew: true });
    await Deno.chmod(tmp, 0o600);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw new ConnectionFileError(`Cannot write connection file ${path}: ${(e as Error).message}`, [
      path,
    ], {
      cause: e,
    });
  }
}

/** Options of {@linkcode findConnectionFile}. */
export interface FindConnectionFileOptions extends ConnectionFileOptions {
  /** How long to wait for the file to appear, in ms; `undefined` = no limit, `0` = look once. */
  timeoutMs?: number;
  /** Poll interval in ms (default 100). */
  pollMs?: number;
  /** Cancels the wait (rejects with the signal's reason). */
  signal?: AbortSignal;
}

/**
 * Find, wait for, read and validate a connection file (PROTOCOL.md §2.1). Waits up to
 * `timeoutMs` for the file to appear and to parse (Python's controller writes it in place,
 * so a half-written file is retried until the deadline).
 *
 * @param options Which file, and how long to wait.
 * @returns The path and the validated info.
 * @throws {ConnectionFileError} when it never appears (the message names every path tried,
 *   files for other cluster ids found nearby, and what to run) or is invalid.
 * @throws {RangeError} for a negative `timeoutMs`.
 * @example
 * ```ts ignore
 * import { findConnectionFile } from "./connection.ts";
 * const { path, info } = await findConnectionFile({ kind: "client", clusterId: "abc", timeoutMs: 10_000 });
 * ```
 */
export async function findConnectionFile<K extends ConnectionKind>(
  options: FindConnectionFileOptions & { kind: K },
): Promise<{ path: string; info: ConnectionInfoOf<K> }> {
  const { timeoutMs, pollMs = 100, signal } = options;
  if (timeoutMs !== undefined && !(timeoutMs >= 0)) {
    throw new RangeError(`timeoutMs must be >= 0, got ${timeoutMs}`);
  }
  const path = connectionFilePath(options);
  const tried = [path];
  const deadline = timeoutMs === undefined ? Infinity : Date.now() + timeoutMs;
  let lastError: ConnectionFileError | undefined;
  while (true) {
    signal?.throwIfAborted();
    try {
      return { path, info: await readConnectionFile(path, options.kind) };
    } catch (e) {
      if (!(e instanceof ConnectionFileError)) throw e;
      lastError = e;
    }
    const left = deadline - Date.now();
    if (left <= 0) break;
    await sleep(Math.min(pollMs, left), signal);
  }
  if (await exists(path)) throw lastError;
  const hint = options.file ? "" : await otherClusters(options);
  const waited = timeoutMs ? ` after waiting ${timeoutMs} ms` : "";
  throw new ConnectionFileError(
    `Connection file not found${waited}; tried: ${tried.join(", ")}. ` +
      "Is the controller running? Start one with `ipp controller` or `ipcluster start`" +
      (options.clusterId ? ` (with --cluster-id=${options.clusterId})` : "") +
      (options.profileDir || options.file ? "" : `, or pass profile/profileDir/ipythonDir`) + "." +
      hint,
    tried,
    { cause: lastError },
  );
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

async function otherClusters(options: ConnectionFileOptions): Promise<string> {
  const dir = securityDir(options);
  const suffix = `-${options.kind}.json`;
  const found: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      if (e.name.startsWith("ipcontroller") && e.name.endsWith(suffix)) found.push(e.name);
    }
  } catch {
    return "";
  }
  if (!found.length) return "";
  const ids = found.sort().map((n) =>
    n === `ipcontroller${suffix}` ? "(none)" : n.slice(13, -suffix.length)
  );
  return ` Found in ${dir}: ${found.join(", ")} (cluster ids: ${ids.join(", ")}).`;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
