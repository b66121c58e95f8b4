/**
 * Text output of the AsyncResult family: re-printing captured streams with engine prefixes
 * (`[stdout:0] …`, as ipyparallel's `display_outputs`) and progress lines for
 * `waitInteractive` — a bar redrawn in place on a terminal, plain lines otherwise.
 *
 * @module
 */

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
