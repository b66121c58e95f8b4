/**
 * Generic JSON and envelope types (PROTOCOL.md §1.5) and the content pieces every channel
 * shares: the error dict, `aborted`/`ok` replies and MIME bundles (PROTOCOL.md §6.4).
 *
 * @module
 */

/** Any JSON object, as `JSON.parse` returns it. */
export type JsonObject = { [key: string]: unknown };

/** An object with no keys (`{}` on the wire). */
export type EmptyObject = { [key: string]: never };

/** The protocol version every header carries (PROTOCOL.md §1.9). */
export const PROTOCOL_VERSION = "5.3";

/**
 * A message header (PROTOCOL.md §1.5), keys in the order Python emits them.
 *
 * @typeParam T The message type.
 */
export type MessageHeader<T extends string = string> = {
  /** Unique id, `<session>_<pid>_<counter>` when we make it (§1.7). */
  msg_id: string;
  /** The message type, e.g. `"apply_request"`. */
  msg_type: T;
  /** The sender's user name; not interpreted. */
  username: string;
  /** The sender's session id; for engines, the engine uuid. */
  session: string;
  /** ISO-8601 UTC timestamp, `YYYY-MM-DDTHH:MM:SS.ffffffZ` (§1.8). */
  date: string;
  /** Always `"5.3"`. */
  version: string;
};

/** A `parent_header` that is empty, as on requests and on registration replies/notifications. */
export type EmptyHeader = { [K in keyof MessageHeader]?: undefined };

/** A `parent_header`: a verbatim copy of the request's header, or `{}` (PROTOCOL.md §1.5). */
export type ParentHeader = MessageHeader | EmptyHeader;

/** The signature and the four JSON frames exactly as received (PROTOCOL.md §1.1). */
export type RawParts = {
  /** The signature frame (ASCII hex, or empty). */
  signature: Uint8Array;
  /** The packed header. */
  header: Uint8Array;
  /** The packed parent header. */
  parentHeader: Uint8Array;
  /** The packed metadata. */
  metadata: Uint8Array;
  /** The packed content. */
  content: Uint8Array;
};

/** Where an error happened, as engines put it in error content (PROTOCOL.md §6.4). */
export type EngineInfoContent = {
  /** The engine's uuid. */
  engine_uuid: string;
  /** The engine id; Python engines send -1 here (PROTOCOL.md §10 #4). */
  engine_id: number;
  /** `"execute"` or `"apply"`. */
  method?: "execute" | "apply" | string;
};

/**
 * The error content of every error reply (PROTOCOL.md §6.4). Controller-generated errors use
 * `engine_info: {}`; a non-empty `engine_info` must name an engine the client knows.
 */
export type ErrorContent = {
  /** Always `"error"`. */
  status: "error";
  /** Exception class name, e.g. `"ZeroDivisionError"`, `"EngineError"`, `"TaskTimeout"`. */
  ename: string;
  /** `str(exception)`. */
  evalue: string;
  /** Traceback lines. */
  traceback: string[];
  /** Where it happened; `{}` from the controller. */
  engine_info: EngineInfoContent | EmptyObject;
};

/** The content of a reply to an aborted request (PROTOCOL.md §6.5.2). */
export type AbortedContent = {
  /** Always `"aborted"`. */
  status: "aborted";
};

/** A successful reply that carries nothing but its status. */
export type OkContent = {
  /** Always `"ok"`. */
  status: "ok";
};

/** A MIME bundle: MIME type to representation (`{"text/plain": "3"}`). */
export type MimeBundle = { [mime: string]: unknown };
