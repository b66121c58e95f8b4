/**
 * Slurm launcher for engines (ipyparallel's `SlurmEngineSetLauncher`): writes a batch script
 * that runs `n` engines as the tasks of one job step, submits it with `sbatch --parsable`,
 * and stops the job with `scancel <job id>`.
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
 * Tests: the scripts are checked by content, and submission and cancellation against fake
 * `sbatch`/`scancel` programs that record their arguments. A real single-node Slurm
 * (`slurmctld` + `slurmd` + munge) is not started in CI: too heavy to bring up reliably
 * there, so the launcher has not been run against a real Slurm by the test suite.
 *
 * @module
 */

import { join } from "node:path";
import { IppError } from "../errors.ts";
import { IPP_MAIN } from "./local_launcher.ts";
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
  const lines = [
    "#!/bin/sh",
    `#SBATCH --job-name=${directiveValue("jobName", options.jobName ?? "ipp-engine")}`,
    `#SBATCH --ntasks=${n}`,
    `#SBATCH --output=${directiveValue("output", options.output ?? "ipp-engine-%j.out")}`,
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
  const command = [
    "srun",
    options.deno ?? Deno.execPath(),
    "run",
    "-A",
    "--quiet",
    options.ippMain ?? ippMainPath(),
    "engine",
    `--file=${options.engineFile}`,
    ...(options.engineArgs ?? []),
  ];
  lines.push(command.map(shellQuote).join(" "));
  return lines.join("\n") + "\n";
}

/** The Slurm programs to use. */
export interface SlurmCommands {
  /** The sbatch program (default `"sbatch"`, from the PATH). */
  sbatch?: string;
  /** The scancel program (default `"scancel"`, from the PATH). */
  scancel?: string;
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

/** A submitted engines job. */
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
export async function launchSlurmEngines(launch: SlurmEngineLaunch): Promise<SlurmEngineJob> {
  const scriptPath = join(launch.dir, "ipp-engine.sbatch");
  const script = slurmBatchScript({
    ...launch,
    output: launch.output ?? join(launch.dir, "ipp-engine-%j.out"),
  });
  await Deno.writeTextFile(scriptPath, script, { mode: 0o700 });
  const jobId = await submitSlurmJob(scriptPath, launch);
  let stopping: Promise<void> | undefined;
  const stop = () => stopping ??= cancelSlurmJob(jobId, launch);
  return { jobId, scriptPath, stop, [Symbol.asyncDispose]: stop };
}
