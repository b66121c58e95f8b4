/**
 * A one-line progress bar on a terminal, plain lines otherwise (logs, CI, pipes).
 *
 * @module
 */

/** Options of {@link Progress}. */
export interface ProgressOptions {
  /** Where to draw (default: stderr). */
  writer?: { writeSync(p: Uint8Array): number; isTerminal(): boolean };
  /** Bar width in characters (default 30). */
  width?: number;
}

/** Progress toward a known total. */
export class Progress {
  readonly #label: string;
  readonly #total: number;
  readonly #writer: { writeSync(p: Uint8Array): number; isTerminal(): boolean };
  readonly #tty: boolean;
  readonly #width: number;
  readonly #encoder = new TextEncoder();
  #lastPlain = -1;
  #done = false;

  /**
   * @param label Shown before the bar, e.g. `"engines"`.
   * @param total The count that means done.
   * @param options Where to draw and how wide.
   */
  constructor(label: string, total: number, options: ProgressOptions = {}) {
    this.#label = label;
    this.#total = Math.max(total, 0);
    this.#writer = options.writer ?? Deno.stderr;
    this.#tty = this.#writer.isTerminal();
    this.#width = options.width ?? 30;
  }

  /**
   * Show the current count. On a terminal the bar is redrawn in place; otherwise a line is
   * written at each whole tenth of the way (and at the end).
   * @param count Items done so far.
   */
  update(count: number): void {
    if (this.#done) return;
    const total = this.#total || 1;
    const fraction = Math.min(count / total, 1);
    if (this.#tty) {
      const filled = Math.round(fraction * this.#width);
      const bar = "█".repeat(filled) + "░".repeat(this.#width - filled);
      this.#write(`\r${this.#label} ${bar} ${count}/${this.#total}`);
    } else {
      const tenth = Math.floor(fraction * 10);
      if (tenth !== this.#lastPlain) {
        this.#lastPlain = tenth;
        this.#write(`${this.#label}: ${count}/${this.#total}\n`);
      }
    }
  }

  /** End the bar (a newline on a terminal). Idempotent. */
  done(): void {
    if (this.#done) return;
    this.#done = true;
    if (this.#tty) this.#write("\n");
  }

  #write(text: string): void {
    const bytes = this.#encoder.encode(text);
    let off = 0;
    while (off < bytes.length) off += this.#writer.writeSync(bytes.subarray(off));
  }
}
