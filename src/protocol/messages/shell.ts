/**
 * Execution requests and replies on the MUX and task channels (PROTOCOL.md §6.1, §6.2).
 *
 * @module
 */

import type {
  AbortedContent,
  EmptyObject,
  ErrorContent,
  JsonObject,
  MimeBundle,
  OkContent,
} from "./common.ts";

/** `apply_request` content: always `{}`; the function and arguments travel in buffers (§6.1). */
export type ApplyRequestContent = EmptyObject;

/** `apply_reply` content (§6.1): ok (result in buffers), error, or aborted. */
export type ApplyReplyContent = OkContent | ErrorContent | AbortedContent;

/** `execute_request` content (§6.2); `code` and `silent` are mandatory for Python engines. */
export type ExecuteRequestContent = {
  /** Source to run. */
  code: string;
  /** Suppress output and do not count the execution. */
  silent: boolean;
  /** Expressions to evaluate after the code, by name. */
  user_expressions?: { [name: string]: string };
  /** Default `!silent`. */
  store_history?: boolean;
  /** Default `false`. */
  allow_stdin?: boolean;
  /** Default `true`: abort queued execute requests after an error. */
  stop_on_error?: boolean;
};

/** One evaluated user expression in an `execute_reply` (§6.2). */
export type UserExpressionResult =
  | {
    /** Evaluation succeeded. */
    status: "ok";
    /** The value's representations. */
    data: MimeBundle;
    /** Representation metadata. */
    metadata: JsonObject;
  }
  | {
    /** Evaluation failed. */
    status: "error";
    /** Exception class name. */
    ename: string;
    /** Exception message. */
    evalue: string;
    /** Traceback lines. */
    traceback: string[];
  };

/** The fields an `execute_reply` has besides its status (§6.2). */
export type ExecuteReplyFields = {
  /** The engine's execution counter after this request. */
  execution_count: number;
  /** Results of the requested user expressions. */
  user_expressions: { [name: string]: UserExpressionResult };
  /** Payloads (unused by ipyparallel). */
  payload: unknown[];
};

/** `execute_reply` content (§6.2): ok or error (both with the execute fields), or aborted. */
export type ExecuteReplyContent =
  | (OkContent & ExecuteReplyFields)
  | (ErrorContent & ExecuteReplyFields)
  | AbortedContent;
