/**
 * Messages between the kernel's main-thread side (`kernel.ts`) and its worker (`worker.ts`).
 * Structured-clone objects, one `postMessage` each; binary frames travel as transferred
 * `ArrayBuffer`s (see {@linkcode ownedFrames}).
 *
 * ```
 * main → worker  {t:"init", flag, cwd}                      once, first
 *                {t:"exec", rid, code, silent, count, name, expressions, ts}
 *                {t:"apply", rid, name, frames}             frames transferred
 * worker → main  {t:"ready"}                                after init
 *                {t:"events", events}                        output flushed mid-task
 *                {t:"done", rid, reply, events}              events first, then the reply
 * ```
 *
 * @module
 */

import type { ApplyReply, ExecuteReply, KernelEvent } from "./types.ts";

/** First message: the interrupt flag (shared memory) and the working directory. */
export interface InitMsg {
  /** Message kind. */
  t: "init";
  /** `SharedArrayBuffer` of one `Int32`: set to 1 by `interrupt()`. */
  flag: SharedArrayBuffer;
  /** Directory against which relative imports resolve. */
  cwd: string;
}

/** Run a cell. */
export interface ExecMsg {
  /** Message kind. */
  t: "exec";
  /** Request id (for events). */
  rid: string;
  /** The code. */
  code: string;
  /** No `execute_result` when true. */
  silent: boolean;
  /** Execution count of this cell (for `execute_result`). */
  count: number;
  /** Source name for stack traces. */
  name: string;
  /** `user_expressions`. */
  expressions: Record<string, string>;
  /** Strip TypeScript types first (else only when the code does not parse as JavaScript). */
  ts: boolean;
}

/** Run a function call from `apply_request` buffers. */
export interface ApplyMsg {
  /** Message kind. */
  t: "apply";
  /** Request id. */
  rid: string;
  /** Source name for the function in stack traces. */
  name: string;
  /** The request's buffers. */
  frames: Uint8Array[];
}

/** Main → worker. */
export type ToWorker = InitMsg | ExecMsg | ApplyMsg;

/** Worker → main. */
export type FromWorker =
  | { t: "ready" }
  | { t: "events"; events: KernelEvent[] }
  | { t: "done"; rid: string; reply: ExecuteReply | ApplyReply; events: KernelEvent[] };

/**
 * Make frames safe to post: a large frame that is exactly its whole `ArrayBuffer` is
 * transferred as it is (when `adopt`), any other large one is copied into fresh memory and
 * that copy transferred (a view into a larger or shared buffer must not detach its
 * neighbours, and structured clone would copy the whole buffer). Small frames are cloned.
 *
 * @param frames Frames to send.
 * @param adopt Whether whole-buffer frames may be transferred as they are (detaching the caller's).
 * @returns The frames to post and the buffers to put in the transfer list.
 */
export function ownedFrames(
  frames: Uint8Array[],
  adopt: boolean,
): { frames: Uint8Array[]; transfer: ArrayBuffer[] } {
  const out: Uint8Array[] = [];
  const transfer: ArrayBuffer[] = [];
  let seen: Set<ArrayBufferLike> | undefined;
  for (const f of frames) {
    const whole = f.byteOffset === 0 && f.byteLength === f.buffer.byteLength &&
      f.buffer instanceof ArrayBuffer;
    if (f.byteLength < TRANSFER_MIN) {
      // Cloning a small frame is cheaper than transferring it; clone only its own bytes.
      out.push(whole ? f : f.slice());
      continue;
    }
    seen ??= new Set();
    const g = adopt && whole && !seen.has(f.buffer) ? f : f.slice();
    seen.add(g.buffer);
    out.push(g);
    transfer.push(g.buffer as ArrayBuffer);
  }
  return { frames: out, transfer };
}

/** Frames smaller than this are cloned (copied) rather than transferred. */
const TRANSFER_MIN = 16 * 1024;
