/**
 * {@link ExecuteReply}: the result of a successful `execute_request` (PROTOCOL.md §6.2, §9.5).
 *
 * @module
 */

import type { Metadata } from "./metadata.ts";

/**
 * A finished `execute` on one engine: its `execution_count`, the `execute_result` mime bundle
 * and the request's metadata. `String(reply)` reads like IPython's `Out[<engine>:<count>]: 42`;
 * in a Jupyter notebook (Deno kernel) the reply displays as its mime bundle.
 *
 * @example
 * ```ts
 * import { ExecuteReply } from "./execute_reply.ts";
 * import { Metadata } from "./metadata.ts";
 * const md = new Metadata("m1");
 * md.engineId = 3;
 * md.executeResult = { data: { "text/plain": "42" }, metadata: {}, execution_count: 1 };
 * console.log(String(new ExecuteReply("m1", { execution_count: 1 }, md))); // "Out[3:1]: 42"
 * ```
 */
export class ExecuteReply {
  /** The request's msg_id. */
  readonly msgId: string;
  /** The engine's execution counter for this request (`execute_reply.execution_count`). */
  readonly executionCount: number;
  /** The request's metadata (engine, timings, captured output). */
  readonly metadata: Metadata;
  /** The reply content as received. */
  readonly content: Record<string, unknown>;

  /**
   * Wraps an `execute_reply`.
   *
   * @param msgId The request's msg_id.
   * @param content The `execute_reply` content.
   * @param metadata The request's metadata.
   */
  constructor(msgId: string, content: Record<string, unknown>, metadata: Metadata) {
    this.msgId = msgId;
    this.content = content;
    this.executionCount = typeof content.execution_count === "number" ? content.execution_count : 0;
    this.metadata = metadata;
  }

  /** The `execute_result` mime bundle; `{}` when the code produced no value. */
  get data(): Record<string, unknown> {
    return this.metadata.executeResult?.data ?? {};
  }

  /** The `text/plain` form of the result; `""` when there is none. */
  get text(): string {
    const text = this.data["text/plain"];
    return typeof text === "string" ? text : "";
  }

  /** `Out[<engine id>:<execution count>]: <text/plain>`; `""` when there is no result. */
  toString(): string {
    let text = this.text;
    if (!text) return "";
    // A multi-line repr starts on its own line, as IPython prints it.
    if (text.includes("\n") && !text.startsWith("\n")) text = "\n" + text;
    const engine = this.metadata.engineId ?? " ";
    return `Out[${engine}:${this.executionCount}]: ${text}`;
  }

  /**
   * The rich form: the `execute_result` mime bundle, with `text/plain` replaced by the
   * `Out[…]` line (ipyparallel's `_repr_mimebundle_`).
   *
   * @returns A mime bundle.
   */
  mimeBundle(): Record<string, unknown> {
    const bundle: Record<string, unknown> = { ...this.data };
    if ("text/plain" in bundle) bundle["text/plain"] = this.toString();
    return bundle;
  }

  /** What Deno's Jupyter kernel displays: {@link ExecuteReply.mimeBundle}. */
  [Symbol.for("Jupyter.display")](): Record<string, unknown> {
    return this.mimeBundle();
  }

  /** How `console.log` shows it: `<ExecuteReply[1]: 42>` (text cut at 32 characters). */
  [Symbol.for("Deno.customInspect")](): string {
    let text = this.text;
    if (text.length > 32) text = text.slice(0, 29) + "...";
    return `<ExecuteReply[${this.executionCount}]: ${text}>`;
  }
}
