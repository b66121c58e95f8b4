/**
 * Local process launcher: runs `ipp controller` and `ipp engine` as child processes of this
 * one, with `deno run -A`, and stops them with signals.
 *
 * @module
 */

/** The `ipp` entry point next to this file, as a URL `deno run` accepts. */
export const IPP_MAIN: string = new URL("../cli/main.ts", import.meta.url).href;

/** A child process started by a launcher. */
export interface LaunchedProcess {
  /** What it is, for messages: `"controller"` or `"engine 3"`. */
  readonly label: string;
  /** Process id here; undefined for a batch job (Slurm), which has a `jobId` instead. */
  readonly pid?: number;
  /** The batch system's job id, for a Slurm job. */
  readonly jobId?: string;
  /** Resolves with the exit code when the process ends. */
  readonly exited: Promise<number>;
  /** Send a signal (ignored once the process has ended). */
  kill(signal?: Deno.Signal): void;
}

/** Options for {@link launchIpp}. */
export interface LaunchOptions {
  /** Label used in messages. */
  label: string;
  /** Where stdout and stderr go: inherited from this process or discarded (default). */
  output?: "inherit" | "null";
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** Extra Deno flags before the program, e.g. `["--v8-flags=--max-old-space-size=512"]`. */
  denoArgs?: string[];
}

/**
 * Start `deno run -A --quiet [denoArgs…] <ipp main> <args…>` as a child process.
 *
 * @param args Arguments after the program, e.g. `["engine", "--file=…"]`.
 * @param options Label, output handling, environment and Deno flags.
 * @returns The running process.
 */
export function launchIpp(args: string[], options: LaunchOptions): LaunchedProcess {
  const output = options.output ?? "null";
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", ...(options.denoArgs ?? []), IPP_MAIN, ...args],
    stdin: "null",
    stdout: output,
    stderr: output,
    env: options.env,
  }).spawn();
  return trackChild(child, options.label);
}

/**
 * Wrap a spawned child as a {@link LaunchedProcess}: its exit code, and a `kill` that is a
 * no-op once it has ended.
 *
 * @param child The spawned process.
 * @param label Label used in messages.
 * @returns The running process.
 */
export function trackChild(child: Deno.ChildProcess, label: string): LaunchedProcess {
  let done = false;
  const exited = child.status.then((s) => {
    done = true;
    return s.code;
  });
  return {
    label,
    pid: child.pid,
    exited,
    kill(signal: Deno.Signal = "SIGTERM") {
      if (done) return;
      try {
        child.kill(signal);
      } catch {
        // Already gone: nothing to stop.
      }
    },
  };
}

/**
 * Stop a process: SIGTERM, then SIGKILL if it is still running after `graceMs`.
 *
 * @param proc The process.
 * @param graceMs How long to wait for a clean exit.
 * @returns The exit code.
 */
export async function stopProcess(proc: LaunchedProcess, graceMs = 3000): Promise<number> {
  proc.kill("SIGTERM");
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"late">((resolve) => {
    timer = setTimeout(() => resolve("late"), graceMs);
  });
  const first = await Promise.race([proc.exited, late]);
  clearTimeout(timer);
  if (first === "late") proc.kill("SIGKILL");
  return await proc.exited;
}
