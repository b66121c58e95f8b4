/**
 * SSH launcher for the controller (ipyparallel's `SSHControllerLauncher`): runs
 * `ipp controller` on another host with the system `ssh`, in the lifeline wrapper of
 * `ssh_launcher.ts` (closing the ssh client's stdin stops it; killing the client stops it
 * too), then copies its two connection files back, as ipyparallel does with `scp`:
 *
 * - The controller runs with `--profile-dir=<remoteProfileDir> --cluster-id=<id>`. The
 *   remote profile folder defaults to the local one with this machine's home folder stripped
 *   (`/home/me/.ipython/profile_default` → `.ipython/profile_default`, relative to the remote
 *   home), like ipyparallel's `remote_profile_dir`. Stale connection files there are removed
 *   before it starts (unless `--reuse`), so that the copy is of this controller's files.
 * - A second ssh command waits on the remote host until both
 *   `ipcontroller-<id>-client.json` and `-engine.json` exist (the controller writes them
 *   atomically), and prints them; they are written to this cluster's `security/` folder with
 *   mode 0600 (`ssh … cat` rather than `scp`: no second program or port flag to configure).
 * - The controller must listen on an address that this machine and the engines reach
 *   (`controllerArgs: ["--ip=…"]`): the files name the address it listens on.
 *
 * @module
 */

import { homedir } from "node:os";
import { dirname } from "node:path";
import { IppError } from "../errors.ts";
import { connectionFilePath } from "../protocol/connection.ts";
import type { LaunchedProcess } from "./local_launcher.ts";
import type { SshControllerOptions } from "./options.ts";
import { shellQuote, spawnLifeline, sshIppArgs } from "./ssh_launcher.ts";

/**
 * The controller's profile folder on the remote host by default: `profileDir` relative to
 * the home folder when it is inside it (ssh commands start in the remote home), else as is.
 *
 * @param profileDir The profile folder here.
 * @param home This machine's home folder.
 * @returns The remote profile folder.
 */
export function defaultRemoteProfileDir(profileDir: string, home: string = homedir()): string {
  const prefix = home.endsWith("/") ? home : `${home}/`;
  return home && profileDir.startsWith(prefix) ? profileDir.slice(prefix.length) : profileDir;
}

/** Options of {@link launchSshController}. */
export interface SshControllerLaunch {
  /** The remote profile folder. */
  remoteProfileDir: string;
  /** The cluster id. */
  clusterId: string;
  /** Extra `ipp controller` flags. */
  controllerArgs?: string[];
  /** Extra Deno flags for the remote `deno run`. */
  denoArgs?: string[];
  /** Where the ssh client's stdout and stderr go (the controller's log). */
  output?: "inherit" | "null";
}

/** The remote paths of the client and engine connection files. */
export function remoteConnectionFiles(
  remoteProfileDir: string,
  clusterId: string,
): { client: string; engine: string } {
  return {
    client: connectionFilePath({ kind: "client", profileDir: remoteProfileDir, clusterId }),
    engine: connectionFilePath({ kind: "engine", profileDir: remoteProfileDir, clusterId }),
  };
}

/**
 * Start `ipp controller` on `options.host` (see the module doc).
 *
 * @param launch Remote profile folder, cluster id, flags.
 * @param options The controller launcher's options.
 * @returns The ssh client process, standing for the remote controller.
 * @throws {IppError} The host is missing or malformed.
 */
export function launchSshController(
  launch: SshControllerLaunch,
  options: SshControllerOptions,
): LaunchedProcess {
  if (!options.host) {
    throw new IppError("No host for an SSH controller: give controller.host, [user@]host[:port]");
  }
  const controllerArgs = launch.controllerArgs ?? [];
  const files = remoteConnectionFiles(launch.remoteProfileDir, launch.clusterId);
  const reuse = controllerArgs.some((a) => a === "--reuse" || a.startsWith("--IPController.reuse"));
  const args = sshIppArgs(
    options.host,
    [
      "controller",
      `--profile-dir=${launch.remoteProfileDir}`,
      ...(launch.clusterId ? [`--cluster-id=${launch.clusterId}`] : []),
      ...controllerArgs,
    ],
    options,
    {
      denoArgs: launch.denoArgs,
      before: reuse ? undefined : `rm -f ${shellQuote(files.client)} ${shellQuote(files.engine)}`,
    },
  );
  return spawnLifeline(options.sshCommand ?? "ssh", args, {
    label: `controller on ${options.host}`,
    output: launch.output,
  });
}

/** Options of {@link fetchSshConnectionFiles}. */
export interface SshFetch {
  /** The remote profile folder. */
  remoteProfileDir: string;
  /** The cluster id. */
  clusterId: string;
  /** Where to write the files here. */
  local: { client: string; engine: string };
  /** How long to wait for the files on the remote host. */
  timeoutMs: number;
  /** Aborts the wait (the controller exited). */
  signal?: AbortSignal;
}

/** Waits for both files ($1, $2) for at most $3 tenths of a second, then prints them. */
const FETCH = [
  `i=0`,
  `while [ ! -s "$1" ] || [ ! -s "$2" ]; do`,
  `  [ "$i" -ge "$3" ] && { echo "no connection files at $1 and $2" >&2; exit 3; }`,
  `  sleep 0.1; i=$((i+1))`,
  `done`,
  `cat "$1" && printf '\\0' && cat "$2"`,
].join("\n");

/**
 * Wait until the remote controller's connection files exist, then copy them here (mode
 * 0600, folder created 0700).
 *
 * @param fetch Remote folder and cluster id, local destinations, time limit.
 * @param options The controller launcher's options (host and ssh settings).
 * @throws {IppError} The files did not appear in time, ssh failed, or `signal` aborted.
 */
export async function fetchSshConnectionFiles(
  fetch: SshFetch,
  options: SshControllerOptions,
): Promise<void> {
  const remote = remoteConnectionFiles(fetch.remoteProfileDir, fetch.clusterId);
  const tenths = Math.max(1, Math.ceil(fetch.timeoutMs / 100));
  const full = sshIppArgs(options.host, [], options);
  // Keep ssh's options and destination; replace the wrapper command with the fetch script.
  const args = [
    ...full.slice(0, -1),
    ["sh", "-c", FETCH, "ipp-fetch", remote.client, remote.engine, String(tenths)]
      .map(shellQuote).join(" "),
  ];
  const child = new Deno.Command(options.sshCommand ?? "ssh", {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const abort = () => {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
  };
  fetch.signal?.addEventListener("abort", abort);
  let out: Deno.CommandOutput;
  try {
    out = await child.output();
  } finally {
    fetch.signal?.removeEventListener("abort", abort);
  }
  const where = `${options.host}:${dirname(remote.client)}`;
  if (fetch.signal?.aborted) {
    throw new IppError(`Stopped waiting for the controller's connection files at ${where}`);
  }
  if (!out.success) {
    throw new IppError(
      `Could not copy the controller's connection files from ${where} (ssh exited with status ` +
        `${out.code}): ${new TextDecoder().decode(out.stderr).trim()}`,
    );
  }
  const text = new TextDecoder().decode(out.stdout);
  const cut = text.indexOf("\0");
  const parts = { client: text.slice(0, cut), engine: text.slice(cut + 1) };
  for (const kind of ["client", "engine"] as const) {
    try {
      JSON.parse(parts[kind]);
    } catch (error) {
      throw new IppError(`The ${kind} connection file copied from ${where} is not JSON`, {
        cause: error,
      });
    }
    const path = fetch.local[kind];
    await Deno.mkdir(dirname(path), { recursive: true, mode: 0o700 });
    await Deno.writeTextFile(path, parts[kind], { mode: 0o600 });
  }
}
