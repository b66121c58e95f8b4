/**
 * Types of the kernel worker's runtime as the shell queue sees it (`serve.ts`, `shell.ts`):
 * request options, replies (close to Jupyter's reply content, camelCase) and the events user
 * code causes while a request runs (each becomes one IOPub message).
 *
 * @module
 */

import type { ErrorContent, MimeBundle } from "./format.ts";

export type { ErrorContent, MimeBundle };

/** Options of an `execute` (from the `execute_request` content). */
export interface ExecuteOptions {
  /** Id of the request (the `msg_id`): events carry it. Default: a random UUID. */
  requestId?: string;
  /** No `execute_input`/`execute_result`, no new execution count. Default false. */
  silent?: boolean;
  /** Count this cell in history (a new execution count). Default `!silent`; never when silent. */
  storeHistory?: boolean;
  /** Expressions to evaluate after the code, by name (`user_expressions`). */
  userExpressions?: Record<string, string>;
}

/** One evaluated `user_expressions` entry (Jupyter's shape). */
export type UserExpressionResult =
  | { status: "ok"; data: MimeBundle; metadata: Record<string, unknown> }
  | ErrorContent;

/** Reply of a request that never ran: aborted while queued, or dropped as the engine stops. */
export interface AbortedReply {
  /** Always `"aborted"` (PROTOCOL.md §6.5.2). */
  status: "aborted";
}

/** A successful `execute`. */
export interface ExecuteOk {
  /** Always `"ok"`. */
  status: "ok";
  /** This cell's number if it was stored in history, else the current count. */
  executionCount: number;
  /** Each user expression, evaluated after the code (`user_expressions`). */
  userExpressions: Record<string, UserExpressionResult>;
  /** The `execute_result` bundle, when the cell ended in a non-`undefined` expression and was not silent. */
  data?: MimeBundle;
}

/** A failed `execute`: error content plus the Jupyter reply fields. */
export interface ExecuteError extends ErrorContent {
  /** As in {@linkcode ExecuteOk}. */
  executionCount: number;
  /** Always empty on error (as ipykernel does). */
  userExpressions: Record<string, UserExpressionResult>;
}

/** Reply of an `execute`. */
export type ExecuteReply = ExecuteOk | ExecuteError | AbortedReply;

/** A successful `apply`: the serialized result, ready to be the `apply_reply` buffers. */
export interface ApplyOk {
  /** Always `"ok"`. */
  status: "ok";
  /** Serialized result frames (fresh memory, owned by the caller). */
  buffers: Uint8Array[];
  /** Format of the request, which the result uses too: ipp-js, or pickle for Python clients. */
  format: "ipp-js" | "pickle";
}

/** Reply of an `apply`. */
export type ApplyReply = ApplyOk | ErrorContent | AbortedReply;

/** Output on stdout or stderr (IOPub `stream`). */
export interface StreamEvent {
  /** Event kind. */
  type: "stream";
  /** The request that wrote it, or `null` when it cannot be told. */
  requestId: string | null;
  /** `"stdout"` or `"stderr"`. */
  name: "stdout" | "stderr";
  /** The text, possibly several writes joined. */
  text: string;
}

/** `display(value)` in user code (IOPub `display_data`). */
export interface DisplayDataEvent {
  /** Event kind. */
  type: "display_data";
  /** The request that displayed it. */
  requestId: string | null;
  /** The mime bundle. */
  data: MimeBundle;
  /** Display metadata. */
  metadata: Record<string, unknown>;
  /** Transient data (e.g. `display_id`). */
  transient: Record<string, unknown>;
}

/** `publishData(dict)` in user code (IOPub `data_message`, as ipyparallel's `publish_data`). */
export interface DataMessageEvent {
  /** Event kind. */
  type: "data_message";
  /** The request that published it. */
  requestId: string | null;
  /** The dict's keys. */
  keys: string[];
  /** The dict, serialized (ipp-js frames). */
  buffers: Uint8Array[];
}

/** A non-silent execute started (IOPub `execute_input`). */
export interface ExecuteInputEvent {
  /** Event kind. */
  type: "execute_input";
  /** The request. */
  requestId: string;
  /** The code as sent. */
  code: string;
  /** Its execution count. */
  executionCount: number;
}

/** The value of a cell's last expression (IOPub `execute_result`). */
export interface ExecuteResultEvent {
  /** Event kind. */
  type: "execute_result";
  /** The request. */
  requestId: string;
  /** The mime bundle. */
  data: MimeBundle;
  /** Always `{}` for now. */
  metadata: Record<string, unknown>;
  /** The cell's execution count. */
  executionCount: number;
}

/** Everything a kernel reports while it works, in the order it happened. */
export type KernelEvent =
  | StreamEvent
  | DisplayDataEvent
  | DataMessageEvent
  | ExecuteInputEvent
  | ExecuteResultEvent;
