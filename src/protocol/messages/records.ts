/**
 * The Hub's task record (PROTOCOL.md §8.1), in its wire form.
 *
 * @module
 */

import type { JsonObject, MessageHeader } from "./common.ts";
import type { DisplayDataContent, ExecuteResultContent, IopubErrorContent } from "./iopub.ts";
import type { ReplyMetadata } from "./metadata.ts";

/**
 * One Hub record per MUX or load-balanced request (PROTOCOL.md §8.1), in its wire form: dates
 * are ISO strings, and `buffers`/`result_buffers` are binary (sent as message buffers by
 * `db_reply`, never inside the JSON).
 */
export type TaskRecord = {
  /** The request's msg_id. */
  msg_id: string;
  /** The request header. */
  header: MessageHeader;
  /** The request metadata. */
  metadata: JsonObject;
  /** The request content. */
  content: JsonObject;
  /** The request buffers. */
  buffers: Uint8Array[];
  /** `header.date` of the request. */
  submitted: string | null;
  /** `header.session` of the request. */
  client_uuid: string;
  /** The engine that ran it; `""` for scheduler-failed tasks. */
  engine_uuid: string | null;
  /** Which scheduler queue it went through. */
  queue: "mux" | "task";
  /** Reply `metadata.started`. */
  started: string | null;
  /** Reply `header.date`. */
  completed: string | null;
  /** Hub clock when the reply was seen. */
  received: string | null;
  /** New msg_id after a resubmit. */
  resubmitted: string | null;
  /**
   * The reply header; for MUX requests failed by the Hub after an engine died,
   * `{"engine": uuid, "date": …}`.
   */
  result_header: MessageHeader | JsonObject | null;
  /** The reply metadata. */
  result_metadata: ReplyMetadata | JsonObject | null;
  /** The reply content. */
  result_content: JsonObject | null;
  /** The reply buffers. */
  result_buffers: Uint8Array[] | null;
  /** IOPub `execute_input` code. */
  execute_input: string | null;
  /** IOPub `execute_result` content. */
  execute_result: ExecuteResultContent | null;
  /** Last IOPub `error` content. */
  error: IopubErrorContent | null;
  /** Last IOPub `display_data` content (only visible through `db_request`). */
  display_data?: DisplayDataContent | null;
  /** Collected standard output. */
  stdout: string;
  /** Collected standard error. */
  stderr: string;
};
