/**
 * What the client keeps per request besides its result: timings, engine, status and the
 * output captured from IOPub (PROTOCOL.md §9.5; ipyparallel's `Client.metadata[msg_id]`).
 *
 * @module
 */

import type { RemoteError } from "../errors.ts";

/** The content of an IOPub `display_data` or `execute_result` message (PROTOCOL.md §6.6). */
export interface DisplayContent {
  /** Mime bundle, e.g. `{"text/plain": "42"}`. */
  data: Record<string, unknown>;
  /** Per-mime metadata. */
  metadata: Record<string, unknown>;
  /** `execute_result` only. */
  execution_count?: number;
  /** `display_data` only. */
  transient?: Record<string, unknown>;
}

// A `\r` not followed by a newline erases back to the start of its line, as a terminal would
// (ipyparallel `_cr_pat = re.compile(r'.*\r(?=[^\n])')`). A trailing `\r` waits for more text.
const CARRIAGE_RETURN = /[^\n]*\r(?=[^\n])/g;

/**
 * Appends stream text to what was captured so far, applying carriage returns.
 *
 * @param previous Text captured so far.
 * @param text New text from an IOPub `stream` message.
 * @returns The combined text.
 *
 * @example
 * ```ts
 * import { appendStreamText } from "./metadata.ts";
 * console.log(appendStreamText("10%\r", "20%\r30%\n")); // "30%\n"
 * ```
 */
export function appendStreamText(previous: string, text: string): string {
  const combined = previous + text;
  return text.includes("\r") || previous.endsWith("\r")
    ? combined.replace(CARRIAGE_RETURN, "")
    : combined;
}

/**
 * Metadata of one request: a fixed set of keys, read and written by property. The object is
 * sealed, so assigning a key that is not listed here throws a `TypeError` (ipyparallel's
 * `Metadata` dict raises `KeyError` likewise). Dates are `Date`s; absent values are `null`.
 *
 * | ipyparallel key | here |
 * | --- | --- |
 * | `msg_id` | `msgId` |
 * | `submitted`, `started`, `completed`, `received` | same names |
 * | `engine_uuid`, `engine_id` | `engineUuid`, `engineId` (lists for a coalesced broadcast) |
 * | `follow`, `after`, `status` | same names |
 * | `is_broadcast`, `is_coalescing` | `isBroadcast`, `isCoalescing` |
 * | `execute_input`, `execute_result`, `error` | `executeInput`, `executeResult`, `error` |
 * | `stdout`, `stderr`, `outputs`, `data` | same names |
 *
 * @example
 * ```ts
 * import { Metadata } from "./metadata.ts";
 * const md = new Metadata("abc_1");
 * md.appendStream("stdout", "hello\n");
 * console.log(md.stdout); // "hello\n"
 * try {
 *   (md as unknown as Record<string, unknown>).colour = "red";
 * } catch (e) {
 *   console.log(e instanceof TypeError); // true
 * }
 * ```
 */
export class Metadata {
  /** The request's msg_id (for a coalesced broadcast, the original msg_id). */
  msgId: string;
  /** When the request was sent (the reply's `parent_header.date` once it arrives). */
  submitted: Date | null = null;
  /** When the engine started it (reply `metadata.started`). */
  started: Date | null = null;
  /** When the engine finished it (reply `header.date`). */
  completed: Date | null = null;
  /** When the reply arrived here. */
  received: Date | null = null;
  /** The engine's uuid (reply `metadata.engine`); a list for a coalesced broadcast. */
  engineUuid: string | string[] | null = null;
  /** The engine's id, looked up from `engineUuid`; a list for a coalesced broadcast. */
  engineId: number | (number | null)[] | null = null;
  /** The reply's `metadata.follow` (engines do not send it, so normally `[]`). */
  follow: unknown[] | null = null;
  /** The reply's `metadata.after` (normally `[]`). */
  after: unknown[] | null = null;
  /** The reply's `content.status`: `"ok"`, `"error"` or `"aborted"`. */
  status: string | null = null;
  /** The request was a broadcast. */
  isBroadcast = false;
  /** The request was a coalescing broadcast (one reply for all engines). */
  isCoalescing = false;
  /** The code of an `execute_request` (IOPub `execute_input`). */
  executeInput: string | null = null;
  /** IOPub `execute_result` content. */
  executeResult: DisplayContent | null = null;
  /** IOPub `error`, as a `RemoteError`. */
  error: RemoteError | null = null;
  /** Captured standard output. */
  stdout = "";
  /** Captured standard error. */
  stderr = "";
  /** IOPub `display_data` contents, in order. */
  outputs: DisplayContent[] = [];
  /** Values published with `data_message`, merged. */
  data: Record<string, unknown> = {};

  /**
   * Creates metadata with every key at its empty value.
   *
   * @param msgId The request's msg_id.
   * @param submitted When it was sent, if known.
   */
  constructor(msgId: string, submitted: Date | null = null) {
    this.msgId = msgId;
    this.submitted = submitted;
    Object.seal(this);
  }

  /**
   * Appends IOPub stream text to `stdout` or `stderr`, applying carriage returns.
   *
   * @param name `"stdout"` or `"stderr"`; other names are ignored.
   * @param text The new text.
   */
  appendStream(name: string, text: string): void {
    if (name === "stdout") this.stdout = appendStreamText(this.stdout, text);
    else if (name === "stderr") this.stderr = appendStreamText(this.stderr, text);
  }

  /**
   * Fills the keys that are still empty here (`null`, `""`, an empty list or object, `false`)
   * from `other`, e.g. a record the Hub kept for the same request.
   *
   * @param other Metadata of the same request from elsewhere.
   */
  fillFrom(other: Metadata): void {
    const mine = this as unknown as Record<string, unknown>;
    const theirs = other as unknown as Record<string, unknown>;
    for (const key of Metadata.keys) {
      const v = mine[key];
      const empty = v === null || v === "" || v === false ||
        (Array.isArray(v) && v.length === 0) ||
        (key === "data" && Object.keys(v as object).length === 0);
      if (empty && key !== "msgId" && theirs[key] !== null) mine[key] = theirs[key];
    }
  }

  /** The keys every `Metadata` has, in ipyparallel's order. */
  static readonly keys: readonly string[] = [
    "msgId",
    "submitted",
    "started",
    "completed",
    "received",
    "engineUuid",
    "engineId",
    "follow",
    "after",
    "status",
    "isBroadcast",
    "isCoalescing",
    "executeInput",
    "executeResult",
    "error",
    "stdout",
    "stderr",
    "outputs",
    "data",
  ];
}
