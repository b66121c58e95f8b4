/**
 * Slurm launchers (ipyparallel's `SlurmEngineSetLauncher`, `SlurmControllerLauncher`). For
 * engines: writes a batch script that runs `n` engines as the tasks of one job step, submits
 * it with `sbatch --parsable`, and stops the job with `scancel <job id>`.
 *
 * ```sh
 * #!/bin/sh
 * #SBATCH --job-name=ipp-engine
 * #SBATCH --ntasks=4
 * #SBATCH --output=ipp-engine-%j.out
 * #SBATCH --partition=debug          # when given, likewise --time and --account
 * #SBATCH --qos=low                  # each of `directives`, verbatim
 * srun /usr/bin/deno run -A --quiet /srv/ipp/src/cli/main.ts engine --file=/…/engine.json
 * ```
 *
 * The engines run on the job's nodes, so `deno`, this package's `src/cli/main.ts` and the
 * engine connection file must be at the same paths there (a shared file system, or give
 * `deno` and `ippMain`), and the controller must listen on an address they reach
 * (`ipp controller --ip=…`).
 *
 * `Cluster` uses it through `engines: { launcher: "slurm", … }`: each `startEngines(n)` submits
 * one job of `n` engines, `stopEngines()` cancels the jobs, and a job that ends on its own is
 * noticed through `squeue` (when there is one) and reported. With
 * `controller: { launcher: "slurm", … }` the controller is a one-task job of its own
 * (`slurmControllerScript`: `exec deno run … ipp controller --profile-dir=… --cluster-id=…`)
 * that writes its connection files to the shared profile folder.
 *
 * Tests: the scripts are checked by content, submission and cancellation against fake
 * `sbatch`/`scancel` programs that record their arguments, and a `Cluster` runs engines and
 * a controller through a real single-node Slurm (munge, `slurmctld` and `slurmd` started by
 * the test, `tests/cluster/slurm_cluster.ts`) when Debian's `slurm-wlm` and `munge` are
 * installed.
 *
 * @module
 */

import { join } from "node:path";
import { IppError } from "../errors.ts";
import { IPP_MAIN } from "./local_launcher.ts";
import type { LaunchedProcess } from "./local_launcher.ts";
import { shellQuote } from "./ssh_launcher.ts";

/** What goes into the batch script. */
export interface SlurmScriptOptions {
  /** Number of engines: `#SBATCH --ntasks=n`, one engine per task. */
  n: number;
  /** The engine connection file (as the job's nodes see it). */
  engineFile: string;
  /** Extra `ipp engine` flags. */
  engineArgs?: string[];
  /** `--job-name` (default `"ipp-engine"`). */
  jobName?: string;
  /** `--output`, a Slurm file pattern (default `"ipp-engine-%j.out"`, in the submit folder). */
  output?: string;
  /** `--partition`, when given. */
  partition?: string;
  /** `--time`, a Slurm time limit (`"30"`, `"1:00:00"`, `"2-00:00:00"`…), when given. */
  time?: string;
  /** `--account`, when given. */
  account?: string;
  /** More directives, each written as `#SBATCH <directive>`, e.g. `["--qos=low"]`. */
  directives?: string[];
  /** The `deno` program on the job's nodes (default: this process's `Deno.execPath()`). */
  deno?: string;
  /** Path or URL of `src/cli/main.ts` on the job's nodes (default: its path here). */
  ippMain?: string;
  /** Extra Deno flags for the engines' `deno run`. */
  denoArgs?: string[];
}

/** Quote a directive value for sbatch when it holds spaces; refuse line breaks. */
function directiveValue(name: string, value: string): string {
  if (/[\r\n]/.test(value)) {
    throw new IppError(`Slurm ${name} must be on one line, got ${JSON.stringify(value)}`);
  }
  return /\s/.test(value) ? `"${value.replaceAll('"', '\\"')}"` : value;
}

/** The local path of the `ipp` entry point (a URL when it is not a local file). */
function ippMainPath(): string {
  const url = new URL(IPP_MAIN);
  return url.protocol === "file:" ? decodeURIComponent(url.pathname) : url.href;
}

/**
 * The batch script that runs `n` engines (see the module doc for its shape).
 *
 * @param options Engines, connection file and `#SBATCH` settings.
 * @returns The script's text.
 * @throws {IppError} `n` is not a positive integer, or a setting holds a line break.
 */
export function slurmBatchScript(options: SlurmScriptOptions): string {
  const { n } = options;
  if (!Number.isInteger(n) || n < 1) {
    throw new IppError(`The Slurm launcher needs a positive whole number of engines, got ${n}`);
  }
  const lines = header(options, "ipp-engine", n);
  const command = [
    "srun",
    ...denoCommand(options),
    "engine",
    `--file=${options.engineFile}`,
    ...(options.engineArgs ?? []),
  ];
  lines.push(command.map(shellQuote).join(" "));
  return lines.join("\n") + "\n";
}

/** What goes into the controller's batch script. */
export interface SlurmControllerScriptOptions
  extends Omit<SlurmScriptOptions, "n" | "engineFile" | "engineArgs"> {
  /** The profile folder (as the job's node sees it): the connection files go there. */
  profileDir: string;
  /** The cluster id. */
  clusterId: string;
  /** Extra `ipp controller` flags. */
  controllerArgs?: string[];
}

/**
 * The batch script that runs the controller: one task, `ipp controller` run directly
 * (`--job-name` defaults to `"ipp-controller"`, `--output` to `"ipp-controller-%j.out"`).
 *
 * @param options Profile folder, cluster id, flags and `#SBATCH` settings.
 * @returns The script's text.
 * @throws {IppError} A setting holds a line break.
 */
export function slurmControllerScript(options: SlurmControllerScriptOptions): string {
  const lines = header(options, "ipp-controller", 1);
  const command = [
    ...denoCommand(options),
    "controller",
    `--profile-dir=${options.profileDir}`,
    ...(options.clusterId ? [`--cluster-id=${options.clusterId}`] : []),
    ...(options.controllerArgs ?? []),
  ];
  // exec: scancel's SIGTERM goes straight to the controller, which removes its files.
  lines.push(`exec ${command.map(shellQuote).join(" ")}`);
  return lines.join("\n") + "\n";
}

/** The `#!` line and `#SBATCH` directives of a script. */
function header(
  options: Omit<SlurmScriptOptions, "n" | "engineFile">,
  role: string,
  ntasks: number,
): string[] {
  const lines = [
    "#!/bin/sh",
    `#SBATCH --job-name=${directiveValue("jobName", options.jobName ?? role)}`,
    `#SBATCH --ntasks=${ntasks}`,
    `#SBATCH --output=${directiveValue("output", options.output ?? `${role}-%j.out`)}`,
  ];
  if (options.partition !== undefined) {
    lines.push(`#SBATCH --partition=${directiveValue("partition", options.partition)}`);
  }
  if (options.time !== undefined) {
    lines.push(`#SBATCH --time=${directiveValue("time", options.time)}`);
  }
  if (options.account !== undefined) {
    lines.push(`#SBATCH --account=${directiveValue("account", options.account)}`);
  }
  for (const d of options.directives ?? []) {
    if (/[\r\n]/.test(d)) {
      throw new IppError(`A Slurm directive must be on one line, got ${JSON.stringify(d)}`);
    }
    lines.push(`#SBATCH ${d}`);
  }
  return lines;
}

/** `deno run -A --quiet [denoArgs…] <main.ts>` as the job's nodes run it. */
function denoCommand(options: Pick<SlurmScriptOptions, "deno" | "denoArgs" | "ippMain">) {
  return [
    options.deno ?? Deno.execPath(),
    "run",
    "-A",
    "--quiet",
    ...(options.denoArgs ?? []),
    options.ippMain ?? ippMainPath(),
  ];
}

/** The Slurm programs to use. */
export interface SlurmCommands {
  /** The sbatch program (default `"sbatch"`, from the PATH). */
  sbatch?: string;
  /** The scancel program (default `"scancel"`, from the PATH). */
  scancel?: string;
  /** The squeue program (default `"squeue"`, from the PATH). */
  squeue?: string;
  /** Extra environment for both, e.g. `SLURM_CONF`, or a `PATH` to find them on. */
  env?: Record<string, string>;
}

async function run(
  program: string,
  args: string[],
  what: string,
  env: Record<string, string> | undefined,
): Promise<string> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(program, {
      args,
      env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new IppError(`${program} not found: ${what} needs Slurm's client programs`, {
        cause: error,
      });
    }
    throw error;
  }
  const decoder = new TextDecoder();
  if (!out.success) {
    throw new IppError(
      `${what} failed: ${program} ${args.join(" ")} exited with status ${out.code}: ` +
        decoder.decode(out.stderr).trim(),
    );
  }
  return decoder.decode(out.stdout);
}

/**
 * Submit a batch script with `sbatch --parsable <script>`.
 *
 * @param scriptPath The batch script.
 * @param commands Which sbatch to run.
 * @returns The job id (`sbatch --parsable` prints `<id>` or `<id>;<cluster>`).
 * @throws {IppError} sbatch is missing, failed, or printed no job id.
 */
export async function submitSlurmJob(
  scriptPath: string,
  commands: SlurmCommands = {},
): Promise<string> {
  const printed = await run(
    commands.sbatch ?? "sbatch",
    ["--parsable", scriptPath],
    "Submitting the engines' Slurm job",
    commands.env,
  );
  const m = /^(\d+)(?:;\S*)?$/m.exec(printed.trim());
  if (m === null) {
    throw new IppError(
      `sbatch --parsable printed no job id (expected "<id>" or "<id>;<cluster>"): ` +
        JSON.stringify(printed.trim()),
    );
  }
  return m[1];
}

/**
 * Cancel a job with `scancel <job id>`.
 *
 * @param jobId The job id from {@link submitSlurmJob}.
 * @param commands Which scancel to run.
 * @throws {IppError} scancel is missing or failed.
 */
export async function cancelSlurmJob(jobId: string, commands: SlurmCommands = {}): Promise<void> {
  await run(commands.scancel ?? "scancel", [jobId], `Cancelling Slurm job ${jobId}`, commands.env);
}

/** Options of {@link launchSlurmEngines}. */
export interface SlurmEngineLaunch extends SlurmScriptOptions, SlurmCommands {
  /** Folder for the batch script, `ipp-engine.sbatch` (and, by default, the job's output). */
  dir: string;
}

/** A submitted job (engines or controller). */
export interface SlurmEngineJob extends AsyncDisposable {
  /** The Slurm job id. */
  readonly jobId: string;
  /** The batch script that was submitted. */
  readonly scriptPath: string;
  /** Cancel the job (`scancel`); only the first call runs it. */
  stop(): Promise<void>;
}

/**
 * Write the batch script to `dir` and submit it: `n` engines as one Slurm job.
 *
 * @param launch Engines, `#SBATCH` settings, programs, and the script's folder.
 * @returns The submitted job; `stop()` (or `await using`) cancels it.
 * @throws {IppError} Bad settings, or sbatch failed.
 * @example
 * ```ts ignore
 * await using job = await launchSlurmEngines({
 *   n: 8, engineFile: cluster.engineFile, dir: cluster.profileDir, partition: "debug",
 * });
 * console.log(`engines job ${job.jobId}`);
 * ```
 */
export function launchSlurmEngines(launch: SlurmEngineLaunch): Promise<SlurmEngineJob> {
  return submitScript(
    launch.dir,
    "ipp-engine",
    slurmBatchScript({ ...launch, output: launch.output ?? join(launch.dir, "ipp-engine-%j.out") }),
    launch,
  );
}

/** Options of {@link launchSlurmController}. */
export interface SlurmControllerLaunch extends SlurmControllerScriptOptions, SlurmCommands {
  /** Folder for the batch script, `ipp-controller.sbatch` (and, by default, the output). */
  dir: string;
}

/**
 * Write the controller's batch script to `dir` and submit it.
 *
 * @param launch Profile folder, cluster id, `#SBATCH` settings, programs, the folder.
 * @returns The submitted job; `stop()` cancels it.
 * @throws {IppError} Bad settings, or sbatch failed.
 */
export function launchSlurmController(launch: SlurmControllerLaunch): Promise<SlurmEngineJob> {
  return submitScript(
    launch.dir,
    "ipp-controller",
    slurmControllerScript({
      ...launch,
      output: launch.output ?? join(launch.dir, "ipp-controller-%j.out"),
    }),
    launch,
  );
}

async function submitScript(
  dir: string,
  role: string,
  script: string,
  commands: SlurmCommands,
): Promise<SlurmEngineJob> {
  const scriptPath = join(dir, `${role}.sbatch`);
  await Deno.writeTextFile(scriptPath, script, { mode: 0o700 });
  const jobId = await submitSlurmJob(scriptPath, commands);
  let stopping: Promise<void> | undefined;
  const stop = () => stopping ??= cancelSlurmJob(jobId, commands);
  return { jobId, scriptPath, stop, [Symbol.asyncDispose]: stop };
}

/**
 * Whether a job is still queued or running, from `squeue -h -j <id> -o %T`.
 *
 * @param jobId The job id.
 * @param commands Which squeue to run.
 * @returns True or false; undefined when squeue is missing or failed for another reason.
 */
export async function slurmJobActive(
  jobId: string,
  commands: SlurmCommands = {},
): Promise<boolean | undefined> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(commands.squeue ?? "squeue", {
      args: ["-h", "-j", jobId, "-o", "%T"],
      env: commands.env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch {
    return undefined;
  }
  const text = new TextDecoder().decode(out.stdout).trim();
  if (out.success) return /\S/.test(text) && !/^(COMPLETED|CANCELLED|FAILED|TIMEOUT)/.test(text);
  // A job that left the queue long ago: "slurm_load_jobs error: Invalid job id specified".
  return /invalid job id/i.test(new TextDecoder().decode(out.stderr)) ? false : undefined;
}

/**
 * A submitted job as a `LaunchedProcess` (no pid; `jobId`): SIGTERM or SIGKILL cancel it
 * (`scancel`), other signals go to its steps (`scancel --signal=NAME`); `exited` resolves
 * with 0 once it is cancelled, or once `squeue` (polled every `pollMs`) no longer lists it.
 *
 * @param job The job from {@link launchSlurmEngines}.
 * @param label Label used in messages.
 * @param commands The Slurm programs.
 * @param pollMs How often to ask squeue (default 1000 ms).
 */
export function slurmJobProcess(
  job: SlurmEngineJob,
  label: string,
  commands: SlurmCommands = {},
  pollMs = 1000,
): LaunchedProcess {
  let finish!: (code: number) => void;
  const exited = new Promise<number>((resolve) => finish = resolve);
  let done = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const end = () => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    finish(0);
  };
  const poll = async () => {
    timer = undefined;
    const active = await slurmJobActive(job.jobId, commands);
    if (done) return;
    if (active === false) end();
    else if (active === true) timer = setTimeout(poll, pollMs);
    // undefined: no squeue here; the job is known to end only when cancelled.
  };
  timer = setTimeout(poll, pollMs);
  return {
    label,
    jobId: job.jobId,
    exited,
    kill(signal: Deno.Signal = "SIGTERM") {
      if (done) return;
      if (signal === "SIGTERM" || signal === "SIGKILL") {
        clearTimeout(timer);
        job.stop().catch(() => {}).finally(end);
      } else {
        run(
          commands.scancel ?? "scancel",
          [`--signal=${signal.replace(/^SIG/, "")}`, job.jobId],
          `Signalling Slurm job ${job.jobId}`,
          commands.env,
        ).catch(() => {});
      }
    },
  };
}
