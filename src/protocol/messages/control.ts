/**
 * Control channel messages (PROTOCOL.md §6.5).
 *
 * @module
 */

import type { EmptyObject, ErrorContent, OkContent } from "./common.ts";

/** `clear_request` content: empty (§6.5.1). */
export type ClearRequestContent = EmptyObject;

/** `clear_reply` content (§6.5.1). */
export type ClearReplyContent = OkContent | ErrorContent;

/** `abort_request` content (§6.5.2): always a list; empty = abort queued execute requests. */
export type AbortRequestContent = {
  /** The msg_ids to abort. */
  msg_ids: string[];
};

/** `abort_reply` content (§6.5.2). */
export type AbortReplyContent = OkContent | ErrorContent;

/** `signal_request` content (§6.5.4). */
export type SignalRequestContent = {
  /** Signal number or name, e.g. `2` or `"SIGINT"`. */
  sig: number | string;
};

/**
 * The reply to `signal_request` (§6.5.4). The Python nanny sends it with msg_type
 * `"_request"` (PROTOCOL.md §10 #5); ours use `"signal_reply"`. Clients look only at
 * `parent_header.msg_id` and `status`.
 */
export type SignalReplyContent = OkContent | ErrorContent;

/** `kernel_info_request` content: empty (Jupyter spec, §6.5.5). */
export type KernelInfoRequestContent = EmptyObject;

/** `kernel_info_reply` content (Jupyter spec, §6.5.5). */
export type KernelInfoReplyContent = {
  /** Always `"ok"`. */
  status: "ok";
  /** `"5.3"`. */
  protocol_version: string;
  /** e.g. `"ipython"`, or ours. */
  implementation: string;
  /** Version of the implementation. */
  implementation_version: string;
  /** The language the engine runs. */
  language_info: {
    /** Language name. */
    name: string;
    /** Language version. */
    version: string;
    /** Anything else (mimetype, file_extension, …). */
    [key: string]: unknown;
  };
  /** Banner text. */
  banner: string;
  /** Help links. */
  help_links?: Array<{ text: string; url: string }>;
};
