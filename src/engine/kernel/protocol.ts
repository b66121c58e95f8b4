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
 * An engine's worker (`host.ts` ↔ `serve.ts`) gets `{t:"serve", …}` instead of `init` and then
 * owns the shell and IOPub sockets; the two threads share a small block of memory
 * ({@linkcode Shared}) and exchange only control messages:
 *
 * ```
 * main → worker  {t:"serve", …}        {t:"abort", seq, ids}   {t:"clear", seq}
 *                {t:"interrupt", seq, gen}  {t:"close", seq}
 * worker → main  {t:"serving"}  {t:"log", level, message}  {t:"failed", reason}
 *                {t:"iopub", frames}   IOPub messages to send while user code holds the worker
 *                {t:"cleared", seq}  {t:"interrupted", seq, was}  {t:"closed"}
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

/** Start serving an engine's shell and IOPub from the worker (`serve.ts`). */
export interface ServeMsg {
  /** Message kind. */
  t: "serve";
  /** The shared block ({@linkcode Shared}). */
  shared: SharedArrayBuffer;
  /** Directory against which relative imports resolve. */
  cwd: string;
  /** Treat every cell as TypeScript. */
  typescript: boolean;
  /** The connection key. */
  key: string;
  /** The signature scheme, e.g. `hmac-sha256`. */
  signatureScheme: string;
  /** The engine uuid: session id and shell identity. */
  uuid: string;
  /** The engine id (IOPub topics, replies). */
  id: number;
  /** The number written into this thread's msg_ids (distinct from the main thread's pid). */
  msgIdPid: number;
  /** Shell endpoints to connect: mux, task and this engine's broadcast leaf. */
  shell: string[];
  /** The IOPub endpoint. */
  iopub: string;
  /** Least severe log level worth posting. */
  logLevel: "debug" | "info" | "warn" | "error" | "critical";
  /** Milliseconds closing waits to flush queued messages. */
  lingerMs: number;
  /** Control messages sent before this one ({@linkcode Shared.SEQ}). */
  seq: number;
}

/** Control of a serving worker (after `serve`); `seq` matches {@linkcode Shared.SEQ}. */
export type ServeControl =
  | { t: "abort"; seq: number; ids: string[] }
  | { t: "clear"; seq: number }
  | { t: "interrupt"; seq: number; gen: number }
  | { t: "close"; seq: number };

/** Serving worker → main. */
export type FromServe =
  | { t: "serving" }
  | { t: "log"; level: "debug" | "info" | "warn" | "error" | "critical"; message: string }
  | { t: "iopub"; frames: Uint8Array[] }
  | { t: "failed"; reason: string }
  | { t: "cleared"; seq: number; error?: string }
  | { t: "interrupted"; seq: number; was: boolean }
  | { t: "closed" };

/**
 * Indexes into the `Int32Array` over the shared block of a serving worker. Words
 * `FLAGS..FLAGS+SLOTS-1` are interrupt flags: compiled user code checks slot `GEN`; an
 * interrupt sets it, and the reset that follows moves `GEN` to the next (cleared) slot, so
 * code of the old namespace still sees its flag set.
 */
export const Shared = {
  /**
   * 1 while a request's user code runs (the engine is busy, an interrupt has something to
   * stop); back to 0 before its reply is sent.
   */
  RUNNING: 0,
  /** The current interrupt flag slot. */
  GEN: 1,
  /** Control messages sent so far (the worker waits for those in flight between requests). */
  SEQ: 2,
  /** 1 once the engine stops: a request stopped by the flag is answered `aborted`. */
  CLOSING: 3,
  /** First interrupt flag slot. */
  FLAGS: 4,
  /** Number of flag slots (reused round robin). */
  SLOTS: 64,
} as const;

/** The error reply of a request an engine interrupted (ename `KernelInterrupted`). */
export const INTERRUPTED_ERROR = {
  status: "error",
  ename: "KernelInterrupted",
  evalue: "interrupted: the request was stopped; the namespace was reset (its variables and " +
    "timers are gone)",
  traceback: ["KernelInterrupted: the request was stopped; the namespace was reset"],
} as const;

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
