/**
 * What a reply becomes on the client: its `Metadata` fields (PROTOCOL.md §9.5) and its value
 * (an `ExecuteReply`, a decoded apply result, or one value per engine for a coalesced
 * broadcast, §7.9); and what IOPub output adds to the metadata (§6.6).
 *
 * @module
 */

import { ExecuteReply } from "./execute_reply.ts";
import type { IncomingMessage, ResultDecoder } from "./messages.ts";
import type { DisplayContent, Metadata } from "./metadata.ts";
import { TaskAborted } from "../errors.ts";
import { isEmpty, remoteErrorOf, replyErrorOf } from "./reply_errors.ts";

/** Context of {@link fillReplyMetadata}. */
export interface ReplyContext {
  /** The reply is one coalesced broadcast reply (engines in `broadcast_targets`). */
  coalesced: boolean;
  /** Local time the reply arrived, in ms since the epoch. */
  receivedMs: number;
  /** Engine id look-up by uuid. */
  engineIdOf?: (uuid: string) => number | undefined;
}

/**
 * Fills a task's metadata from its reply (PROTOCOL.md §9.5).
 *
 * @param md The task's metadata.
 * @param msg The reply.
 * @param ctx Coalescing, arrival time, engine look-up.
 */
export function fillReplyMetadata(md: Metadata, msg: IncomingMessage, ctx: ReplyContext): void {
  const meta = msg.metadata;
  md.received = new Date(ctx.receivedMs);
  md.status = String(msg.content.status);
  md.isBroadcast = meta.is_broadcast === true;
  md.isCoalescing = meta.is_coalescing === true;
  md.follow = Array.isArray(meta.follow) ? meta.follow : [];
  md.after = Array.isArray(meta.after) ? meta.after : [];
  if (ctx.coalesced) {
    const targets = Array.isArray(meta.broadcast_targets) ? meta.broadcast_targets : [];
    md.engineUuid = targets.map((t) => String((t as unknown[])[0]));
    md.engineId = targets.map((t) => {
      const id = (t as unknown[])[1];
      return typeof id === "number" ? id : null;
    });
  } else if (typeof meta.engine === "string") {
    md.engineUuid = meta.engine;
    md.engineId = ctx.engineIdOf?.(meta.engine) ?? null;
  }
  const submitted = msg.parent_header.date;
  if (submitted) md.submitted = new Date(submitted);
  if (typeof meta.started === "string") md.started = new Date(meta.started);
  if (msg.header.date) md.completed = new Date(msg.header.date);
}

/**
 * The value of a successful reply.
 *
 * @param msgId The task's msg_id.
 * @param msg The reply.
 * @param md The task's metadata (kept by an `ExecuteReply`).
 * @param coalesced One coalesced broadcast reply: decode one value per engine.
 * @param decode Result decoder for the reply's buffers.
 * @returns The value.
 */
export function replyValue(
  msgId: string,
  msg: IncomingMessage,
  md: Metadata,
  coalesced: boolean,
  decode: ResultDecoder,
): unknown {
  if (msg.header.msg_type === "execute_reply") return new ExecuteReply(msgId, msg.content, md);
  if (!coalesced) return decode(msg.buffers).value;
  const values: unknown[] = [];
  let rest = msg.buffers;
  while (rest.length > 0) {
    const next = decode(rest);
    values.push(next.value);
    rest = next.rest;
  }
  return values;
}

/** What a reply means for its task: the task actor's `REPLY` fields, and a value or an error. */
export interface ReplyOutcome {
  /** `REPLY.status`. */
  status: "ok" | "error" | "aborted";
  /** `REPLY.outputComplete`: no IOPub `idle` is to be awaited. */
  outputComplete: boolean;
  /** The value of an `ok` reply that decoded. */
  value?: unknown;
  /** The error of any other reply (or of a value that did not decode). */
  error?: Error;
}

/**
 * Reads a reply's status, value or error (PROTOCOL.md §9.5, §6.6).
 *
 * @param msgId The task's msg_id.
 * @param msg The reply.
 * @param md The task's metadata (kept by an `ExecuteReply`).
 * @param options Coalescing, whether output is expected, the decoder and engine look-up.
 * @returns The outcome.
 */
export function replyOutcome(
  msgId: string,
  msg: IncomingMessage,
  md: Metadata,
  options: {
    coalesced: boolean;
    expectOutput: boolean;
    /** IOPub outputs (not `status`) already recorded for the task (default 0). */
    outputsSeen?: number;
    decode: ResultDecoder;
    engineIdOf?: (uuid: string) => number | undefined;
  },
): ReplyOutcome {
  const content = msg.content;
  const status = content.status;
  // Our engines count the outputs they published before the reply (`iopub_count`): once that
  // many are recorded, nothing more is due and the `idle` need not be awaited. Python engines
  // do not send the count.
  const count = msg.metadata.iopub_count;
  const allSeen = typeof count === "number" && count <= (options.outputsSeen ?? 0);
  const outputComplete = !options.expectOutput || allSeen;
  if (status === "ok") {
    try {
      const value = replyValue(msgId, msg, md, options.coalesced, options.decode);
      return { status: "ok", outputComplete, value };
    } catch (error) {
      return { status: "error", outputComplete: true, error: error as Error };
    }
  }
  if (status === "aborted") {
    return { status: "aborted", outputComplete: true, error: new TaskAborted(msgId) };
  }
  return {
    status: "error",
    // An error the engine did not raise (scheduler, Hub) has no output to wait for (§6.6).
    outputComplete: outputComplete || isEmpty(content.engine_info),
    error: replyErrorOf(content, options.engineIdOf),
  };
}

/**
 * Records one IOPub output message (`stream`, `error`, `execute_input`, `display_data`,
 * `execute_result`, `data_message`; PROTOCOL.md §6.6) in its request's metadata. Other
 * types are ignored (`status` drives the task actor instead).
 *
 * @param md The request's metadata.
 * @param msg The IOPub message.
 * @param decode Decoder for `data_message` buffers.
 * @param engineIdOf Engine id look-up by uuid (for `error`).
 */
export function recordOutput(
  md: Metadata,
  msg: IncomingMessage,
  decode: ResultDecoder,
  engineIdOf?: (uuid: string) => number | undefined,
): void {
  const content = msg.content;
  switch (msg.header.msg_type) {
    case "stream":
      md.appendStream(String(content.name), String(content.text ?? ""));
      return;
    case "error":
      md.error = remoteErrorOf(content, engineIdOf);
      return;
    case "execute_input":
      md.executeInput = String(content.code ?? "");
      return;
    case "display_data":
      md.outputs.push(content as unknown as DisplayContent);
      return;
    case "execute_result":
      md.executeResult = content as unknown as DisplayContent;
      return;
    case "data_message": {
      const { value } = decode(msg.buffers);
      if (value !== null && typeof value === "object") Object.assign(md.data, value);
      return;
    }
  }
}
