/**
 * MPI launcher for engines (ipyparallel's `MPIEngineSetLauncher`): one
 * `mpiexec -n N deno run -A <ipp main> engine --file=<engine.json> --mpi` process starts all
 * `N` engines, one per rank, so that a single {@link LaunchedProcess} here stands for the
 * whole set.
 *
 * - With `--mpi`, `ipp engine` asks the controller for its MPI rank as its engine id (read
 *   from `OMPI_COMM_WORLD_RANK`, `PMI_RANK` or `PMIX_RANK`), unless `--id` is given: on a
 *   fresh controller, engine ids are the ranks `0…N-1`.
 * - Open MPI is made usable out of the box through its environment variables, which other
 *   MPI implementations ignore: `OMPI_MCA_rmaps_base_oversubscribe=1` (more ranks than cores,
 *   as engines mostly wait), and, when this process runs as root,
 *   `OMPI_ALLOW_RUN_AS_ROOT=1` / `OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1` (the environment form of
 *   `--allow-run-as-root`, which MPICH's `mpiexec` would reject as a flag).
 * - Stopping sends SIGTERM to `mpiexec`, which forwards it to every rank (each engine then
 *   unregisters and exits 0); SIGKILL follows after the grace period of `stopProcess`.
 *   Other signals (`SIGINT`…) are sent to `mpiexec`, which forwards SIGINT-like signals too.
 * - Ranks on other hosts (an `mpiArgs` host file) need Deno and this package at the same
 *   paths as here, and a controller listening on an address they reach.
 *
 * @module
 */

import { IppError } from "../errors.ts";
import { IPP_MAIN, trackChild } from "./local_launcher.ts";
import type { LaunchedProcess } from "./local_launcher.ts";
import type { MpiEnginesOptions } from "./options.ts";

/**
 * Engines started by `mpiexec`: the `engines` option of `ClusterOptions` with
 * `launcher: "mpi"`, where its fields are documented.
 */
export type MpiEngineLauncherOptions = MpiEnginesOptions;

/** Where the `ipp` entry point is on this machine (a path when it is a local file). */
function ippMainPath(): string {
  const url = new URL(IPP_MAIN);
  return url.protocol === "file:" ? decodeURIComponent(url.pathname) : url.href;
}

/**
 * The `mpiexec` command line (without the program) that starts `n` engines.
 *
 * @param n Number of ranks, one engine each.
 * @param engineFile The engine connection file.
 * @param engineArgs Extra `ipp engine` flags.
 * @param options Launcher options (`mpiArgs` go right after `-n N`).
 * @param denoArgs Extra Deno flags for each rank's `deno run`.
 * @returns Arguments for the `mpiexec` program.
 * @throws {IppError} `n` is not a positive integer.
 */
export function mpiexecArgs(
  n: number,
  engineFile: string,
  engineArgs: string[],
  options: Pick<MpiEngineLauncherOptions, "mpiArgs">,
  denoArgs: string[] = [],
): string[] {
  if (!Number.isInteger(n) || n < 1) {
    throw new IppError(`The MPI launcher needs a positive whole number of engines, got ${n}`);
  }
  return [
    "-n",
    String(n),
    ...(options.mpiArgs ?? []),
    Deno.execPath(),
    "run",
    "-A",
    "--quiet",
    ...denoArgs,
    ippMainPath(),
    "engine",
    `--file=${engineFile}`,
    "--mpi",
    ...engineArgs,
  ];
}

/**
 * Environment for `mpiexec`: Open MPI's variables for oversubscription and, as root, for
 * running as root (see the module doc); ignored by other MPI implementations.
 */
export function mpiexecEnv(): Record<string, string> {
  const env: Record<string, string> = { OMPI_MCA_rmaps_base_oversubscribe: "1" };
  if (Deno.uid() === 0) {
    env.OMPI_ALLOW_RUN_AS_ROOT = "1";
    env.OMPI_ALLOW_RUN_AS_ROOT_CONFIRM = "1";
  }
  return env;
}

/** Options of {@link launchMpiEngines}. */
export interface MpiEngineLaunch {
  /** Label used in messages, e.g. `"engines 0-3 (mpiexec)"`. */
  label: string;
  /** Number of engines (MPI ranks). */
  n: number;
  /** The engine connection file. */
  engineFile: string;
  /** Extra `ipp engine` flags. */
  engineArgs?: string[];
  /** Where mpiexec's stdout and stderr go (the engines' logs). */
  output?: "inherit" | "null";
  /** Extra Deno flags for each rank's `deno run`. */
  denoArgs?: string[];
}

/**
 * Start `n` engines with one `mpiexec` process (see the module doc).
 *
 * @param launch How many engines, which connection file, engine flags.
 * @param options The launcher's options (`mpiexec` program and its flags).
 * @returns The `mpiexec` process, standing for all `n` engines.
 * @throws {IppError} `n` is not a positive integer, or `mpiexec` is not found.
 */
export function launchMpiEngines(
  launch: MpiEngineLaunch,
  options: Pick<MpiEngineLauncherOptions, "mpiexec" | "mpiArgs">,
): LaunchedProcess {
  const program = options.mpiexec ?? "mpiexec";
  const output = launch.output ?? "null";
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(program, {
      args: mpiexecArgs(
        launch.n,
        launch.engineFile,
        launch.engineArgs ?? [],
        options,
        launch.denoArgs,
      ),
      stdin: "null",
      stdout: output,
      stderr: output,
      env: mpiexecEnv(),
    }).spawn();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new IppError(
        `${program} not found: install an MPI (Debian: apt-get install openmpi-bin) or give ` +
          "engines.mpiexec",
        { cause: error },
      );
    }
    throw error;
  }
  return trackChild(child, launch.label);
}
