/**
 * IOPub message contents (PROTOCOL.md §6.6).
 *
 * @module
 */

import type { EmptyObject, EngineInfoContent, JsonObject, MimeBundle } from "./common.ts";

/** IOPub `status` content. */
export type StatusContent = {
  /** Engine state; `idle` with the request as parent marks its output complete. */
  execution_state: "starting" | "busy" | "idle";
};

/** IOPub `stream` content. */
export type StreamContent = {
  /** Which stream. */
  name: "stdout" | "stderr";
  /** The text written. */
  text: string;
};

/** IOPub `execute_input` content. */
export type ExecuteInputContent = {
  /** The code being run. */
  code: string;
  /** Its execution count. */
  execution_count: number;
};

/** IOPub `execute_result` content. */
export type ExecuteResultContent = {
  /** The result's representations. */
  data: MimeBundle;
  /** Representation metadata. */
  metadata: JsonObject;
  /** Its execution count. */
  execution_count: number;
};

/** IOPub `display_data` content. */
export type DisplayDataContent = {
  /** The displayed representations. */
  data: MimeBundle;
  /** Representation metadata. */
  metadata: JsonObject;
  /** Transient data (display ids). */
  transient?: JsonObject;
};

/**
 * IOPub `error` content: no `status`; `engine_info` only on the second of the two error
 * messages a Python engine publishes for an apply error (PROTOCOL.md §10 #15).
 */
export type IopubErrorContent = {
  /** Traceback lines. */
  traceback: string[];
  /** Exception class name. */
  ename: string;
  /** Exception message. */
  evalue: string;
  /** Where it happened. */
  engine_info?: EngineInfoContent | EmptyObject;
};

/** IOPub `data_message` content: the keys of the published dict, serialized in buffers (§6.6). */
export type DataMessageContent = {
  /** Names of the published values. */
  keys: string[];
};
