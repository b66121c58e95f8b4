/**
 * The engine's kernel: a persistent JavaScript/TypeScript namespace in a Web Worker that owns
 * the engine's shell and IOPub sockets.
 *
 * - `host.ts` ({@linkcode KernelHost}, main thread) starts the worker (`worker.ts`), forwards
 *   control (abort, clear, interrupt, close) and reads the busy flag; messages in
 *   `protocol.ts`.
 * - `serve.ts` (in the worker) reads shell requests, runs them through the shell queue
 *   (`../shell.ts`) and answers them, publishing output on IOPub, all in that one thread.
 * - `runtime.ts` runs user code: REPL semantics (`rewrite.ts`, TypeScript via
 *   `strip_types.ts`), `apply` of functions and `Reference`s (`codec.ts`), push and pull,
 *   output capture (`capture.ts`), mime bundles and tracebacks (`format.ts`), and the
 *   in-place namespace reset of clear and interrupt (`namespace.ts`).
 *
 * @module
 */

export { KernelHost } from "./host.ts";
export type { KernelHostOptions, ServeOptions } from "./host.ts";
export type {
  AbortedReply,
  ApplyOk,
  ApplyReply,
  DataMessageEvent,
  DisplayDataEvent,
  ErrorContent,
  ExecuteError,
  ExecuteInputEvent,
  ExecuteOk,
  ExecuteOptions,
  ExecuteReply,
  ExecuteResultEvent,
  KernelEvent,
  MimeBundle,
  StreamEvent,
  UserExpressionResult,
} from "./types.ts";
