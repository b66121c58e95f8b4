/**
 * Text output of the AsyncResult family: re-printing captured streams with engine prefixes
 * (`[stdout:0] …`, as ipyparallel's `display_outputs`) and progress lines for
 * `waitInteractive` — a bar redrawn in place on a terminal, plain lines otherwise.
 *
 * @module
 */

import type { Clock } from "./clock.ts";
import type { Metadata } from "./metadata.ts";
import type { TaskResult } from "./result_source.ts";

/** Where text goes. The defaults write to the process's stdout and stderr. */
export interface TextOutput {
  /** Writes to standard output. */
  stdout(text: string): void;
  /** Writes to standard error. */
  stderr(text: string): void;
  /** Whether standard output is a terminal (a progress bar can be redrawn in place). */
  isTerminal(): boolean;
}

const encoder = new TextEncoder();

/**
 * The process's own stdout and stderr (`Deno.stdout.isTerminal()` decides the progress style).
 *
 * @example
 * ```ts
 * import { processOutput } from "./display.ts";
 * processOutput.stdout("hello\n");
 * ```
 */
export const processOutput: TextOutput = {
  stdout: (text) => writeAll(Deno.stdout, text),
  stderr: (text) => writeAll(Deno.stderr, text),
  isTerminal: () => Deno.stdout.isTerminal(),
};

function writeAll(stream: { writeSync(p: Uint8Array): number }, text: string): void {
  let bytes = encoder.encode(text);
  while (bytes.length > 0) bytes = bytes.subarray(stream.writeSync(bytes));
}

/**
 * Re-prints stream text under a prefix, the way ipyparallel's `_display_stream` does: the prefix
 * is printed once per run of text from the same source, on its own line.
 */
export class StreamPrinter {
  #lastPrefix = "";
  #trailingNewline = true;

  /**
   * Prints captured text under its prefix.
   *
   * @param text Captured text; nothing happens when it is empty.
   * @param prefix e.g. `"[stdout:0] "`; `""` for none.
   * @param write Where to write.
   */
  print(text: string, prefix: string, write: (text: string) => void): void {
    if (!text) return;
    let head = "";
    if (prefix && prefix !== this.#lastPrefix) {
      this.#lastPrefix = prefix;
      head = (this.#trailingNewline ? "" : "\n") + prefix + "\n";
    }
    this.#trailingNewline = text.endsWith("\n");
    write(head + text);
  }
}

/**
 * One progress report: `label: [#####-----] 5/10 tasks, 1.2 s`.
 *
 * @param label What is being waited for.
 * @param done How many are finished.
 * @param total How many there are.
 * @param elapsedMs Time since the wait began.
 * @param width Width of the bar in characters; 0 for no bar.
 */
export function progressLine(
  label: string,
  done: number,
  total: number,
  elapsedMs: number,
  width: number,
): string {
  const seconds = (elapsedMs / 1000).toFixed(1);
  const counts = `${done}/${total} tasks, ${seconds} s`;
  if (width <= 0) return `${label}: ${counts}`;
  const filled = total === 0 ? width : Math.round((done / total) * width);
  return `${label}: [${"#".repeat(filled)}${"-".repeat(width - filled)}] ${counts}`;
}

/** What {@link showProgress} watches: an AsyncResult. */
export interface ProgressSource {
  /** Name shown before the counts. */
  readonly fname: string;
  /** Number of requests. */
  readonly length: number;
  /** Number settled so far. */
  readonly progress: number;
  /** Whether all settled. */
  ready(): boolean;
  /** Resolves when all settled or after `timeoutMs`. */
  wait(timeoutMs?: number): Promise<boolean>;
}

/**
 * `AsyncResult.waitInteractive`: reports progress until everything settled or `timeoutMs`
 * passed — a bar redrawn in place on a terminal, else a plain line per tenth of the way (logs
 * and CI stay short).
 *
 * @param ar What to watch.
 * @param clock Time source.
 * @param out Where reports go.
 * @param options `intervalMs` between reports (default 1000), `timeoutMs` limit.
 * @returns Whether everything settled.
 */
export async function showProgress(
  ar: ProgressSource,
  clock: Clock,
  out: TextOutput,
  options: { intervalMs?: number; timeoutMs?: number },
): Promise<boolean> {
  const interval = options.intervalMs ?? 1000;
  const terminal = out.isTerminal();
  const start = clock.now();
  let shownTenth = -1;
  const report = () => {
    const done = ar.progress;
    const elapsed = clock.now() - start;
    if (terminal) {
      out.stdout(`\r${progressLine(ar.fname, done, ar.length, elapsed, 30)}`);
      return;
    }
    const tenth = ar.length === 0 ? 10 : Math.floor((done / ar.length) * 10);
    if (tenth !== shownTenth) {
      shownTenth = tenth;
      out.stdout(progressLine(ar.fname, done, ar.length, elapsed, 0) + "\n");
    }
  };
  while (!ar.ready()) {
    report();
    const left = options.timeoutMs === undefined
      ? interval
      : Math.min(interval, options.timeoutMs - (clock.now() - start));
    if (left <= 0) break;
    await ar.wait(left);
  }
  report();
  if (terminal) out.stdout("\n");
  return ar.ready();
}

/**
 * `AsyncResult.displayOutputs`: stdout and stderr with `[stdout:<engine>]` prefixes, then the
 * text of display outputs and execute results.
 *
 * @param mds Each request's metadata.
 * @param results Each request's settled result.
 * @param single One request (no prefixes).
 * @param out Where text goes.
 * @param groupby `"type"` (all stdout, then all stderr…, the default) or `"engine"`.
 * @throws {RangeError} Another `groupby`.
 */
export function printOutputs(
  mds: readonly Metadata[],
  results: readonly TaskResult[],
  single: boolean,
  out: TextOutput,
  groupby: "type" | "engine" = "type",
): void {
  const printer = new StreamPrinter();
  const label = (kind: string, i: number) => single ? "" : `[${kind}:${mds[i].engineId ?? " "}] `;
  const printStreams = (i: number, which: "stdout" | "stderr") =>
    printer.print(mds[i][which], label(which, i), which === "stdout" ? out.stdout : out.stderr);
  const printRich = (i: number) => {
    for (const display of mds[i].outputs) {
      const text = display.data["text/plain"];
      if (typeof text === "string") out.stdout(`${label("output", i)}${text}\n`);
    }
    const r = results[i];
    if (r.state === "done" && mds[i].executeResult !== null) {
      const text = String(r.value);
      if (text) out.stdout(text + "\n");
    }
  };
  if (groupby === "engine") {
    mds.forEach((_, i) => {
      printStreams(i, "stdout");
      printStreams(i, "stderr");
      printRich(i);
    });
  } else if (groupby === "type") {
    mds.forEach((_, i) => printStreams(i, "stdout"));
    mds.forEach((_, i) => printStreams(i, "stderr"));
    mds.forEach((_, i) => printRich(i));
  } else {
    throw new RangeError(`groupby must be "type" or "engine", got ${groupby}`);
  }
}
