/**
 * Reading a `result_reply` (PROTOCOL.md §5.3) into outcomes for {@link AsyncHubResult}: the
 * Hub's stored records become the same values, errors and {@link Metadata} a live reply gives
 * (ipyparallel `Client.result_status(status_only=False)`).
 *
 * @module
 */

import { TaskAborted } from "../errors.ts";
import type { HubOutcome, HubPoll } from "./async_hub_result.ts";
import { ExecuteReply } from "./execute_reply.ts";
import type { IncomingMessage, ResultDecoder } from "./messages.ts";
import type { DisplayContent } from "./metadata.ts";
import { Metadata } from "./metadata.ts";
import type { EngineIdOf } from "./reply_errors.ts";
import { remoteErrorOf, replyErrorOf } from "./reply_errors.ts";

/** Options of {@link parseResultReply}. */
export interface ParseResultReplyOptions {
  /** Turns `apply_reply` result buffers into values (PROTOCOL.md §9.4). */
  decode: ResultDecoder;
  /** Engine id look-up by uuid (the client's engine table). */
  engineIdOf?: EngineIdOf;
}

/**
 * Turns a `result_reply` with `status_only: false` into a {@link HubPoll}. The buffers of all
 * completed `apply_reply` records come concatenated in sorted msg_id order, and are consumed
 * in that order.
 *
 * @param reply The decoded `result_reply` (its status is `"ok"`; the Hub link rejects others).
 * @param options Decoder and engine look-up.
 * @returns Pending msg_ids and the completed outcomes.
 *
 * @example
 * ```ts
 * import { parseResultReply } from "./hub_results.ts";
 * const poll = parseResultReply({
 *   header: { msg_id: "r", msg_type: "result_reply" },
 *   parent_header: { msg_id: "q" },
 *   metadata: {},
 *   content: { status: "ok", pending: ["b"], completed: [] },
 *   buffers: [],
 * }, { decode: (b) => ({ value: b, rest: [] }) });
 * console.log(poll.pending); // ["b"]
 * ```
 */
export function parseResultReply(
  reply: IncomingMessage,
  options: ParseResultReplyOptions,
): HubPoll {
  const content = reply.content;
  const pending = Array.isArray(content.pending) ? content.pending.map(String) : [];
  const completedIds = Array.isArray(content.completed) ? content.completed.map(String) : [];
  const completed: Record<string, HubOutcome> = {};
  let buffers = reply.buffers;
  for (const msgId of [...completedIds].sort()) {
    const record = content[msgId] as Record<string, unknown> | undefined;
    if (record === undefined) continue; // status_only reply: nothing to rebuild
    const outcome = outcomeOf(msgId, record, buffers, options);
    buffers = outcome.rest;
    completed[msgId] = outcome.outcome;
  }
  return { pending, completed };
}

function outcomeOf(
  msgId: string,
  record: Record<string, unknown>,
  buffers: Uint8Array[],
  options: ParseResultReplyOptions,
): { outcome: HubOutcome; rest: Uint8Array[] } {
  const header = (record.header ?? {}) as Record<string, unknown>;
  const resultHeader = (record.result_header ?? {}) as Record<string, unknown>;
  const resultMeta = (record.result_metadata ?? {}) as Record<string, unknown>;
  const resultContent = (record.result_content ?? {}) as Record<string, unknown>;
  const md = new Metadata(msgId, dateOf(header.date));
  md.started = dateOf(resultMeta.started);
  md.completed = dateOf(resultHeader.date);
  md.received = dateOf(record.received);
  md.status = typeof resultContent.status === "string" ? resultContent.status : null;
  md.isBroadcast = resultMeta.is_broadcast === true;
  md.isCoalescing = resultMeta.is_coalescing === true;
  md.follow = Array.isArray(resultMeta.follow) ? resultMeta.follow : [];
  md.after = Array.isArray(resultMeta.after) ? resultMeta.after : [];
  if (typeof resultMeta.engine === "string") {
    md.engineUuid = resultMeta.engine;
    md.engineId = options.engineIdOf?.(resultMeta.engine) ?? null;
  }
  applyIo(md, record.io, options.engineIdOf);

  const status = resultContent.status;
  if (status === "ok") {
    if (resultHeader.msg_type === "execute_reply") {
      return {
        outcome: { value: new ExecuteReply(msgId, resultContent, md), metadata: md },
        rest: buffers,
      };
    }
    try {
      const { value, rest } = options.decode(buffers);
      return { outcome: { value, metadata: md }, rest };
    } catch (error) {
      return { outcome: { error: error as Error, metadata: md }, rest: [] };
    }
  }
  if (status === "aborted") {
    return { outcome: { error: new TaskAborted(msgId), metadata: md }, rest: buffers };
  }
  return {
    outcome: { error: replyErrorOf(resultContent, options.engineIdOf), metadata: md },
    rest: buffers,
  };
}

/** The record's `io` dict: captured output as the Hub stored it (PROTOCOL.md §5.3). */
function applyIo(md: Metadata, io: unknown, engineIdOf: EngineIdOf | undefined): void {
  if (io === null || typeof io !== "object") return;
  const d = io as Record<string, unknown>;
  if (typeof d.stdout === "string") md.stdout = d.stdout;
  if (typeof d.stderr === "string") md.stderr = d.stderr;
  if (typeof d.execute_input === "string") md.executeInput = d.execute_input;
  if (d.execute_result && typeof d.execute_result === "object") {
    md.executeResult = d.execute_result as DisplayContent;
  }
  if (d.error && typeof d.error === "object") {
    md.error = remoteErrorOf(d.error as Record<string, unknown>, engineIdOf);
  }
  if (Array.isArray(d.outputs)) md.outputs = d.outputs as DisplayContent[];
}

function dateOf(value: unknown): Date | null {
  return typeof value === "string" && value ? new Date(value) : null;
}
