/**
 * The shapes the Hub's state and its queries share: the parts of a message the Hub reads, its
 * notifications and registration replies, and each engine's request lists.
 *
 * @module
 */

import type { JsonObject } from "./db/types.ts";

/** The parts of a Jupyter message the Hub reads (already verified and parsed). */
export interface HubMessage {
  /** Message header (`msg_id`, `msg_type`, `session`, `date`, …). */
  header: JsonObject;
  /** Parent header (`{}` if none). */
  parent_header: JsonObject;
  /** Metadata. */
  metadata: JsonObject;
  /** Content. */
  content: JsonObject;
  /**
   * Binary buffers after the content frame; `null` when they were streamed through the
   * controller (cut-through) and not kept: the record then stores `null` and queries that
   * need them fail with `BuffersNotKept`.
   */
  buffers?: Uint8Array[] | null;
}

/** A message the Hub publishes on the notification channel. */
export interface Notification {
  /** `registration_notification` or `unregistration_notification`. */
  msgType: "registration_notification" | "unregistration_notification";
  /** `{id, uuid}`. */
  content: { id: number; uuid: string };
}

/** Content of a successful `registration_reply` (§4.1). */
export interface RegistrationReply {
  /** Assigned engine id. */
  id: number;
  /** `"ok"`. */
  status: "ok";
  /** Heartbeat period in ms. */
  hb_period: number;
  /** Port dictionary plus `interface` (ignored by Python engines). */
  connection_info: JsonObject;
}

/** Per-engine requests: pending and running ones (insertion-ordered msg_ids), finished ones counted. */
export interface EngineQueues {
  /** Pending MUX requests. */
  queue: Set<string>;
  /** Load-balanced tasks dispatched here and not finished. */
  tasks: Set<string>;
  /**
   * How many requests of both kinds finished here, aborted tasks aside, since the last purge
   * that covered this engine (the msg_ids: `HubState.completedByEngine`, the newest only).
   */
  completed: number;
}
