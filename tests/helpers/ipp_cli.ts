/**
 * Running the `ipp` command line in tests, and finding the processes it left behind.
 *
 * @module
 */

import { processes } from "./sshd.ts";

/** Path of `src/cli/main.ts`. */
export const IPP_MAIN = new URL("../../src/cli/main.ts", import.meta.url).pathname;

/** What one `ipp` run printed and how it exited. */
export interface IppRun {
  /** Exit status. */
  code: number;
  /** Standard output. */
  stdout: string;
  /** Standard error. */
  stderr: string;
}

/**
 * Runs `deno run -A --quiet src/cli/main.ts ...args` to its end.
 * @param args The `ipp` arguments.
 * @param env Extra environment variables (the rest is inherited).
 * @returns Its status and output.
 */
export async function ipp(args: string[], env?: Record<string, string>): Promise<IppRun> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", IPP_MAIN, ...args],
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/**
 * Pids of live (not zombie) processes whose command line mentions `needle`.
 * @param needle Text to look for, e.g. a test's temporary folder.
 * @returns The pids.
 */
export function processesMentioning(needle: string): number[] {
  return processes().filter((p) => p.cmdline.includes(needle)).map((p) => p.pid);
}

/**
 * SIGKILLs every process whose command line mentions `needle` (a test's clean-up).
 * @param needle Text to look for, e.g. a test's temporary folder.
 */
export function killProcessesMentioning(needle: string): void {
  for (const pid of processesMentioning(needle)) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch { /* gone */ }
  }
}
