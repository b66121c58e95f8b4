/**
 * The `%px` magic as a tagged template (`` await view.px`x = 1` ``): run code, not silent, on
 * a view's engines, then print what they printed and displayed, as IPython does after `%px`.
 *
 * @module
 */

import { IppError } from "../errors.ts";
import type { AsyncResult } from "./async_result.ts";
import { processOutput } from "./display.ts";
import type { TextOutput } from "./display.ts";
import type { View } from "./view_base.ts";

/** Runs `px` cells for one view and remembers the last result (for `pxResult`). */
export class PxRunner {
  readonly #view: View;
  readonly #out: TextOutput;
  #last: AsyncResult<unknown> | undefined;

  /**
   * Creates the object; see the class documentation.
   *
   * @param view The view the code runs on.
   * @param output Where output is printed (default: the process's stdout/stderr).
   */
  constructor(view: View, output: TextOutput = processOutput) {
    this.#view = view;
    this.#out = output;
  }

  /**
   * Executes `code` (not silent) and prints the outputs; a remote error is printed and
   * rethrown.
   *
   * @param code The cell.
   * @returns The `ExecuteReply` (or list). (Not the AsyncResult: a promise of a thenable
   *   would unwrap it.)
   */
  async run(code: string): Promise<unknown> {
    const ar = this.#view.executeAsync(code, { silent: false });
    this.#last = ar;
    await ar.wait();
    this.#print(ar);
    return await ar.get();
  }

  /**
   * Prints the last cell's output again.
   *
   * @throws {IppError} Nothing ran yet.
   */
  printLast(): void {
    if (this.#last === undefined) throw new IppError("No px result yet: run view.px`…` first");
    this.#print(this.#last);
  }

  #print(ar: AsyncResult<unknown>): void {
    ar.displayOutputs({ groupby: "engine" });
    const mds = Array.isArray(ar.metadata) ? ar.metadata : [ar.metadata];
    for (const md of mds) {
      if (md.status !== "error" || md.error === null) continue;
      const e = md.error;
      const tb = e.traceback.length ? e.traceback.join("\n") : `${e.ename}: ${e.evalue}`;
      this.#out.stderr(`[${md.engineId ?? " "}:execute]\n${tb}\n`);
    }
  }
}
