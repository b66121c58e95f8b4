/**
 * SSH launcher for engines (ipyparallel's `SSHEngineSetLauncher`): runs `ipp engine` on
 * other hosts with the system `ssh`, one `ssh` client process per engine, so that a
 * {@link LaunchedProcess} here stands for an engine there. The controller's SSH launcher
 * (`ssh_controller.ts`) runs `ipp controller` in the same wrapper, without the file.
 *
 * How it works, per engine:
 *
 * - `ssh [sshArgs] -T -o BatchMode=yes [-p port] [user@]host sh -c '<wrapper>' …` runs a small
 *   POSIX `sh` wrapper on the remote host (no tty: `ssh -tt` needs one here). The command is
 *   quoted for a POSIX login shell on the remote side (sh, bash, dash, zsh).
 * - The engine connection file travels on the ssh client's **stdin**, as its first line (the
 *   file's JSON on one line): the wrapper writes it to a `mktemp` file (mode 0600: it holds
 *   the HMAC key) on the remote host, removed when the wrapper exits. No `scp`, and nothing
 *   left to clean up through a second connection. The remote engine connects to the file's
 *   `interface`/`location`, so the controller must listen on an address the remote host
 *   reaches (`ipp controller --ip=…`; loopback when the "remote" host is this machine).
 * - The rest of stdin is the engine's **lifeline**: the wrapper starts the engine in the
 *   background and reads stdin. A line `INT` (or any signal name) is sent to the engine as a
 *   signal; end of file (the ssh client's stdin closed, the ssh client killed, this process
 *   gone, or the connection lost) sends SIGTERM, then SIGKILL after 5 s. The wrapper exits
 *   with the engine's status, which ends the ssh session. So no remote process outlives its
 *   ssh client, even without a tty (sshd sends no SIGHUP then).
 *
 * `kill("SIGTERM")` closes the ssh client's stdin (a clean stop: the returned process exits
 * once the remote engine has exited); `kill("SIGKILL")` kills the ssh client (the remote side
 * sees end of file and stops the engine on its own); other signals are forwarded. (The engine
 * is a background job of `sh`, which starts it with SIGINT and SIGQUIT ignored; `ipp engine`
 * installs its own handlers, so it still gets them.)
 *
 * @module
 */

import { IppError } from "../errors.ts";
import type { LaunchedProcess } from "./local_launcher.ts";
import type { SshEnginesOptions, SshSettings } from "./options.ts";

/** Engines started on other hosts over SSH: the `engines` option of `ClusterOptions`. */
export type SshEngineLauncherOptions = SshEnginesOptions;

/** Where the `ipp` entry point is on this machine (as a path when it is a local file). */
const LOCAL_MAIN = new URL("../cli/main.ts", import.meta.url);

/**
 * The remote wrapper (POSIX sh). `$@` is the program's command line. With `withFile`, line 1
 * of stdin is a connection file, written to a temporary file passed as `--file=…`; the other
 * lines are signal names; EOF stops the program.
 */
function wrapper(withFile: boolean, before?: string): string {
  return [
    ...(before ? [before] : []),
    ...(withFile
      ? [
        `f=$(mktemp "\${TMPDIR:-/tmp}/ipp-engine-XXXXXXXX") || exit 70`,
        `trap 'rm -f "$f"' EXIT`,
        `IFS= read -r line || { echo "ipp ssh launcher: no connection file on stdin" >&2; exit 70; }`,
        `printf '%s\\n' "$line" > "$f"`,
      ]
      : []),
    // Background jobs get /dev/null as stdin unless redirected: keep the lifeline on fd 3.
    `exec 3<&0 </dev/null`,
    withFile ? `"$@" --file="$f" &` : `"$@" &`,
    `e=$!`,
    `{ while IFS= read -r sig <&3; do kill -s "$sig" "$e"; done; kill -TERM "$e"; ` +
    `i=0; while kill -0 "$e" && [ "$i" -lt 50 ]; do sleep 0.1; i=$((i+1)); done; ` +
    `kill -KILL "$e"; } >/dev/null 2>&1 &`,
    `w=$!`,
    // The program keeps the channel's stdout/stderr. The shell lets go of them: a job message
    // ("Terminated") written to a lost connection would kill it by SIGPIPE before its EXIT trap.
    `exec 3<&- >/dev/null 2>&1`,
    `wait "$e"`,
    `code=$?`,
    // The program is reaped: end the watcher before it could signal a reused pid.
    `kill "$w" 2>/dev/null`,
    `exit "$code"`,
  ].join("\n");
}

/** Quote a word for a POSIX shell (ssh runs its command through the remote login shell). */
export function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/**
 * Split `[user@]host[:port]` into the ssh destination and the port.
 *
 * @throws {IppError} The host is malformed.
 */
export function parseSshHost(host: string): { destination: string; port?: string } {
  const m = /^((?:[^@:\s]+@)?[^:@\s]+)(?::(\d+))?$/.exec(host);
  if (m === null) throw new IppError(`SSH engine host must be [user@]host[:port], got ${host}`);
  return { destination: m[1], port: m[2] };
}

/**
 * The ssh command line (without the program) that runs `ipp <command> …` on `host` inside
 * the lifeline wrapper (see the module doc).
 *
 * @param host `[user@]host[:port]`.
 * @param ippArgs The `ipp` arguments, e.g. `["engine", "--log-level=DEBUG"]`.
 * @param options Launcher options.
 * @param extra `denoArgs`: Deno flags before the program; `withFile`: the first stdin line
 *   is a connection file for `--file` (engines); `before`: a shell command run first.
 * @returns Arguments for the ssh program.
 * @throws {IppError} The host is malformed.
 */
export function sshIppArgs(
  host: string,
  ippArgs: string[],
  options: SshSettings,
  extra: { denoArgs?: string[]; withFile?: boolean; before?: string } = {},
): string[] {
  const { destination, port } = parseSshHost(host);
  const main = options.ippMain ??
    (LOCAL_MAIN.protocol === "file:" ? decodeURIComponent(LOCAL_MAIN.pathname) : LOCAL_MAIN.href);
  const remote = [
    "sh",
    "-c",
    wrapper(extra.withFile ?? false, extra.before),
    `ipp-${ippArgs[0] ?? "ipp"}`,
    options.deno ?? "deno",
    "run",
    "-A",
    "--quiet",
    ...(extra.denoArgs ?? []),
    main,
    ...ippArgs,
  ];
  return [
    // First: for `-o`, ssh keeps the first value given, so the caller's options win.
    ...(options.sshArgs ?? []),
    "-T",
    "-o",
    "BatchMode=yes",
    "-o",
    "ServerAliveInterval=15",
    ...(port ? ["-p", port] : []),
    destination,
    remote.map(shellQuote).join(" "),
  ];
}

/**
 * The ssh command line (without the program) that runs one engine on `host`.
 *
 * @param host `[user@]host[:port]`.
 * @param engineArgs Extra `ipp engine` flags.
 * @param options Launcher options.
 * @param denoArgs Extra Deno flags for the remote `deno run`.
 * @returns Arguments for the ssh program.
 */
export function sshEngineArgs(
  host: string,
  engineArgs: string[],
  options: SshEngineLauncherOptions,
  denoArgs: string[] = [],
): string[] {
  return sshIppArgs(host, ["engine", ...engineArgs], options, { denoArgs, withFile: true });
}

/** Options of {@link launchSshEngine}. */
export interface SshEngineLaunch {
  /** Label used in messages, e.g. `"engine 3"`. */
  label: string;
  /** `[user@]host[:port]`. */
  host: string;
  /** The engine connection file on this machine (sent to the remote host). */
  engineFile: string;
  /** Extra `ipp engine` flags. */
  engineArgs?: string[];
  /** Where the ssh client's stdout and stderr go (the remote engine's logs). */
  output?: "inherit" | "null";
  /** Extra Deno flags for the remote `deno run`. */
  denoArgs?: string[];
}

/**
 * Start one engine on a remote host (see the module doc for the protocol).
 *
 * @param launch Which host, which connection file, engine flags.
 * @param options The launcher's options (ssh program and options, remote paths).
 * @returns The ssh client process, standing for the remote engine.
 * @throws {IppError} The host is missing or malformed.
 */
export function launchSshEngine(
  launch: SshEngineLaunch,
  options: SshEngineLauncherOptions,
): LaunchedProcess {
  if (!launch.host) {
    throw new IppError("No host for an SSH engine: give engines.hosts, [user@]host[:port] each");
  }
  const args = sshEngineArgs(launch.host, launch.engineArgs ?? [], options, launch.denoArgs);
  const file = JSON.stringify(JSON.parse(Deno.readTextFileSync(launch.engineFile)));
  return spawnLifeline(options.sshCommand ?? "ssh", args, {
    label: launch.label,
    firstLine: file,
    output: launch.output,
  });
}

/**
 * Spawn an ssh client whose stdin is the lifeline of the wrapper it runs remotely (see the
 * module doc): `kill("SIGTERM")` closes stdin, `kill("SIGKILL")` kills the client, other
 * signals are written as lines.
 *
 * @param program The ssh program.
 * @param args Its arguments (from {@link sshIppArgs}).
 * @param launch Label, optional first stdin line (a connection file), output handling.
 * @returns The ssh client process, standing for the remote program.
 */
export function spawnLifeline(
  program: string,
  args: string[],
  launch: { label: string; firstLine?: string; output?: "inherit" | "null" },
): LaunchedProcess {
  const output = launch.output ?? "null";
  const child = new Deno.Command(program, {
    args,
    stdin: "piped",
    stdout: output,
    stderr: output,
  }).spawn();
  const writer = child.stdin.getWriter();
  const encoder = new TextEncoder();
  let done = false;
  let closed = false;
  // Writes fail once ssh is gone; its exit is reported through `exited`.
  const write = (text: string) => writer.write(encoder.encode(text)).catch(() => {});
  if (launch.firstLine !== undefined) write(`${launch.firstLine}\n`);
  const exited = child.status.then((s) => {
    done = true;
    if (!closed) {
      closed = true;
      writer.close().catch(() => {});
    }
    return s.code;
  });
  return {
    label: launch.label,
    pid: child.pid,
    exited,
    kill(signal: Deno.Signal = "SIGTERM") {
      if (done) return;
      if (signal === "SIGKILL") {
        try {
          child.kill("SIGKILL");
        } catch {
          // Already gone.
        }
      } else if (signal === "SIGTERM") {
        if (closed) return;
        closed = true;
        writer.close().catch(() => {});
      } else if (!closed) {
        write(`${signal.replace(/^SIG/, "")}\n`);
      }
    },
  };
}
