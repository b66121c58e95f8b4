/**
 * The decoded Jupyter message shape the client core consumes (PROTOCOL.md §1.5).
 *
 * The Session (`src/protocol/session.ts`) verifies and decodes each multipart message once;
 * the client core only needs this structural view of it, so the two can evolve separately.
 * Wire names stay verbatim (`msg_id`, `parent_header`), as STYLE.md item 5 asks.
 *
 * @module
 */

/** A Jupyter message header (PROTOCOL.md §1.5). */
export interface MessageHeader {
  /** Unique id of this message. */
  msg_id: string;
  /** Message type, e.g. `"apply_reply"`. */
  msg_type: string;
  /** Session id of the sender. */
  session?: string;
  /** ISO 8601 date the message was made. */
  date?: string;
  /** User name of the sender. */
  username?: string;
  /** Protocol version, `"5.3"`. */
  version?: string;
}

/** One decoded message, as the Session hands it over. */
export interface IncomingMessage {
  /** This message's header. */
  header: MessageHeader;
  /** The header of the request that caused it; `{}` when there is none. */
  parent_header: Partial<MessageHeader>;
  /** Message metadata (reply metadata per PROTOCOL.md §6.3). */
  metadata: Record<string, unknown>;
  /** Message content. */
  content: Record<string, unknown>;
  /** Extra binary frames after the four JSON parts. */
  buffers: Uint8Array[];
}

/**
 * Turns the leading buffers of a result into a value and returns the buffers it did not use,
 * like `ipyparallel.serialize.deserialize_object` (PROTOCOL.md §9.4). Coalesced broadcast
 * replies carry several results back to back, so the decoder is called until no buffer is left.
 */
export type ResultDecoder = (buffers: Uint8Array[]) => { value: unknown; rest: Uint8Array[] };
