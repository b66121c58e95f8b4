/**
 * IPython profile folders and connection file names, as `ipp.Client` and `ipengine` find
 * them: `$IPYTHONDIR` (else `~/.ipython`) / `profile_<name>` / `security/` (PROTOCOL.md §2.1).
 *
 * @module
 */

import { homedir } from "node:os";
import type { ConnectionKind } from "./connection_info.ts";

function expandUser(p: string): string {
  return p === "~" || p.startsWith("~/") ? home() + p.slice(1) : p;
}

function home(): string {
  return Deno.env.get("HOME") ?? Deno.env.get("USERPROFILE") ?? homedir();
}

function normalize(p: string): string {
  const abs = p.startsWith("/");
  const parts: string[] = [];
  for (const s of p.split("/")) {
    if (s === "" || s === ".") continue;
    if (s === ".." && parts.length && parts[parts.length - 1] !== "..") parts.pop();
    else if (s !== ".." || !abs) parts.push(s);
  }
  return (abs ? "/" : "") + parts.join("/") || (abs ? "/" : ".");
}

/**
 * The IPython directory, as `IPython.paths.get_ipython_dir` finds it: `$IPYTHONDIR`,
 * else the deprecated `$IPYTHON_DIR`, else `~/.ipython`.
 *
 * @returns An absolute or `~`-expanded, normalized path (not created).
 */
export function ipythonDir(): string {
  const env = Deno.env.get("IPYTHONDIR") ?? Deno.env.get("IPYTHON_DIR");
  return normalize(expandUser(env ?? `${home()}/.ipython`));
}

/** Where to look: a profile by name, or an explicit folder. */
export interface ProfileOptions {
  /** Profile name (default `"default"`); the folder is `<ipythonDir>/profile_<name>`. */
  profile?: string;
  /** Explicit profile folder; wins over `profile`. */
  profileDir?: string;
  /** IPython directory; default {@linkcode ipythonDir}(). */
  ipythonDir?: string;
}

/**
 * The profile folder: `profileDir` if given, else `<ipythonDir>/profile_<profile>`.
 *
 * @param options Profile selection.
 * @returns The folder path (not created).
 */
export function profileDir(options: ProfileOptions = {}): string {
  if (options.profileDir) return normalize(expandUser(options.profileDir));
  const base = options.ipythonDir ? normalize(expandUser(options.ipythonDir)) : ipythonDir();
  return `${base}/profile_${options.profile ?? "default"}`;
}

/**
 * The `security/` folder of a profile, where connection files live.
 *
 * @param options Profile selection.
 * @returns The folder path (not created).
 */
export function securityDir(options: ProfileOptions = {}): string {
  return `${profileDir(options)}/security`;
}

/**
 * `ipcontroller-client.json`, or `ipcontroller-<clusterId>-client.json` with a cluster id.
 *
 * @param kind `"client"` or `"engine"`.
 * @param clusterId Cluster id; empty or undefined means none.
 * @returns The file name.
 */
export function connectionFileName(kind: ConnectionKind, clusterId?: string): string {
  return clusterId ? `ipcontroller-${clusterId}-${kind}.json` : `ipcontroller-${kind}.json`;
}

/** Where a connection file is, by explicit path or by profile and cluster id. */
export interface ConnectionFileOptions extends ProfileOptions {
  /** Which file. */
  kind: ConnectionKind;
  /** Cluster id (`ipcontroller-<id>-<kind>.json`). */
  clusterId?: string;
  /** Explicit file path; wins over everything else. */
  file?: string;
}

/**
 * The path of a connection file.
 *
 * @param options File selection.
 * @returns `file`, or `<profile>/security/<name>`.
 */
export function connectionFilePath(options: ConnectionFileOptions): string {
  if (options.file) return normalize(expandUser(options.file));
  return `${securityDir(options)}/${connectionFileName(options.kind, options.clusterId)}`;
}
