/**
 * The engine's kernel: a persistent JavaScript/TypeScript namespace in a worker, with
 * `execute`, `apply`, interrupt and clear. See `kernel.ts` for the design.
 *
 * @module
 */

export { Kernel } from "./kernel.ts";
export type { ApplyOptions, ExecuteOptions, KernelOptions } from "./kernel.ts";
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
  ExecuteReply,
  ExecuteResultEvent,
  KernelEvent,
  MimeBundle,
  StartedEvent,
  StreamEvent,
  UserExpressionResult,
} from "./types.ts";
