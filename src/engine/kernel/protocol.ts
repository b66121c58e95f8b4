/**
 * Messages between an engine's main thread (`host.ts`) and its kernel worker (`serve.ts`).
 * The worker owns the shell and IOPub sockets; the two threads share a small block of memory
 * ({@linkcode Shared}) and exchange only control messages, structured-clone objects, one
 * `postMessage` each:
 *
 * ```
 * main → worker  {t:"serve", …}        {t:"abort", seq, ids}   {t:"clear", seq}
 *                {t:"interrupt", seq, gen}  {t:"close", seq}
 * worker → main  {t:"serving"}  {t:"log", level, message}  {t:"failed", reason}
 *                {t:"iopub", frames}   an IOPub message too large for the handoff block
 *                {t:"cleared", seq}  {t:"interrupted", seq, was}  {t:"closed"}
 * ```
 *
 * @module
 */

/** Start serving an engine's shell and IOPub from the worker (`serve.ts`). */
export interface ServeMsg {
  /** Message kind. */
  t: "serve";
  /** The shared block ({@linkcode Shared}). */
  shared: SharedArrayBuffer;
  /** The block IOPub output is handed over in (`iopub_handoff.ts`). */
  handoff: SharedArrayBuffer;
  /** Where the running request's deferred `busy` is offered to the main thread (`busy_slot.ts`). */
  busy: SharedArrayBuffer;
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
  /**
   * Serve the same-host direct path too (`../direct.ts`): the Hub's registration endpoint,
   * this host's identity, and the size from which buffers are left out of the Hub's records
   * (0: none is). Only when the Hub offered it.
   */
  direct?: { registration: string; host: string; bufferLimit: number };
  /** With `direct`: where its records wait, shared with the main thread (`record_block.ts`). */
  records?: SharedArrayBuffer;
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
  /** Requests started so far (the main thread tells a long request from a new one). */
  REQUESTS: 4,
  /**
   * 1 while the main thread's looks are parked (no request came for a look interval); the next
   * request clears it and notifies (`looks.ts`).
   */
  PARKED: 5,
  /** First interrupt flag slot. */
  FLAGS: 6,
  /** Number of flag slots (reused round robin). */
  SLOTS: 64,
} as const;

/**
 * Values of an interrupt flag slot: {@linkcode Flag.INTERRUPT} stops the running request's
 * loops (each loop body checks its slot and throws when it is set).
 */
export const Flag = { CLEAR: 0, INTERRUPT: 1 } as const;

/** The error reply of a request an engine interrupted (ename `KernelInterrupted`). */
export const INTERRUPTED_ERROR = {
  status: "error",
  ename: "KernelInterrupted",
  evalue: "interrupted: the request was stopped; the namespace was reset (its variables and " +
    "timers are gone)",
  traceback: ["KernelInterrupted: the request was stopped; the namespace was reset"],
} as const;
