/**
 * {@link DirectRecovery}: results a dropped direct connection lost (`direct_routes.ts`), fetched
 * from the Hub.
 *
 * An engine of ours sends the Hub a record of every request it reads straight and of every reply
 * it sends back (`direct_records`), whether or not the reply reached the client. So when a
 * client's connection to an engine drops with requests unanswered, the Hub still learns what
 * became of each: this polls the task database for them (`db_request`) until it has each one's
 * reply, rebuilds that reply from the record and hands it on as if it had come on the MUX, so
 * the task settles exactly as it would have (output awaited, errors raised).
 *
 * - The first poll waits until the Hub has recorded the last request lost (`direct_sync`, asked
 *   by `DirectRoutes`). A request the Hub still does not know may not have been read yet (the
 *   engine is busy, and it waits in the connection's buffer), or may have been lost on the
 *   wire. Once {@linkcode LOST_AFTER_MS} passed and the Hub says the engine has nothing queued
 *   or running, the engine has read all there was to read: such a request never ran and will
 *   not, and fails with a {@linkcode RequestLostError}. It is not sent again, as it would run
 *   twice were the engine to read it after all.
 * - Requests the Hub holds as pending are polled until they complete, every 100 ms at first and
 *   then at most every second. A task that settles otherwise meanwhile (its engine died and
 *   the client failed it) is no longer asked about.
 * - A reply whose buffers the Hub did not keep (1 MiB or more: streamed, not recorded) cannot be
 *   rebuilt: its task fails with an error that says so (the Hub's `BuffersNotKept` as its cause).
 * - A Hub that cannot be asked (no task database, or the controller lost) fails them all, saying
 *   why.
 *
 * @module
 */

import { IppError, RemoteError, RequestLostError } from "../errors.ts";
import { type Clock, systemClock } from "./clock.ts";
import type { IncomingMessage, MessageHeader } from "./messages.ts";

/** How long after a connection dropped a request the Hub never recorded is given up. */
export const LOST_AFTER_MS = 10_000;
/** First pause between polls; it doubles up to {@linkcode POLL_MAX_MS}. */
const POLL_FIRST_MS = 100;
const POLL_MAX_MS = 1_000;

/** The fields a poll asks for, and those a reply is rebuilt from. */
const STATUS_KEYS = ["msg_id", "completed"];
const REPLY_KEYS = [
  "msg_id",
  "header",
  "result_header",
  "result_metadata",
  "result_content",
  "result_buffers",
];

/** Records found by a `db_request`, and each one's result buffers. */
interface Found {
  records: Record<string, unknown>[];
  buffers: Uint8Array[][];
}

/** What {@link DirectRecovery} needs from its client. */
export interface DirectRecoveryOptions {
  /** Asks the Hub on the registration channel; rejects with the Hub's error. */
  query: (msgType: string, content: Record<string, unknown>) => Promise<IncomingMessage>;
  /** Whether a task still waits for its reply here. */
  outstanding: (msgId: string) => boolean;
  /** Handles a reply rebuilt from the Hub's record, as one received on the MUX. */
  deliver: (reply: IncomingMessage) => void;
  /** Fails a task whose reply cannot be had. */
  fail: (msgId: string, error: Error) => void;
  /** Whether the client closed (polling stops). */
  closed: () => boolean;
  /** An engine's id (the client's engine table). */
  idOf: (uuid: string) => number | undefined;
  /** Where the drop is reported. */
  warn: (message: string) => void;
  /** Time source (default: the system clock). */
  clock?: Clock;
}

/** Fetches from the Hub the replies that dropped direct connections lost. */
export class DirectRecovery {
  readonly #o: DirectRecoveryOptions;
  readonly #clock: Clock;

  /** @param options The client's Hub link, tasks and logger. */
  constructor(options: DirectRecoveryOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
  }

  /**
   * Starts fetching the replies to requests a dropped connection lost.
   * @param uuid The engine.
   * @param msgIds The requests sent straight to it and not answered.
   * @returns Resolves once each of them settled, failed, or the client closed.
   */
  recover(uuid: string, msgIds: string[]): Promise<void> {
    const o = this.#o;
    o.warn(
      `the direct connection to ${this.#name(uuid)} dropped with ${msgIds.length} ` +
        `request(s) unanswered: fetching their results from the Hub`,
    );
    return this.#poll(uuid, msgIds).catch((error) => {
      if (o.closed()) return;
      this.#failAll(msgIds, (id) =>
        new IppError(
          `The reply to ${id} was lost with the direct connection to ${this.#name(uuid)}, ` +
            `and the Hub could not be asked for it: ${(error as Error).message}`,
          { cause: error },
        ));
    });
  }

  /** Fails those of `msgIds` still outstanding, each with its own error. */
  #failAll(msgIds: string[], error: (msgId: string) => Error): void {
    for (const id of msgIds) if (this.#o.outstanding(id)) this.#o.fail(id, error(id));
  }

  async #poll(uuid: string, msgIds: string[]): Promise<void> {
    const o = this.#o;
    const start = this.#clock.now();
    let left = msgIds;
    for (let pause = 0;; pause = Math.min(POLL_MAX_MS, Math.max(POLL_FIRST_MS, 2 * pause))) {
      if (pause > 0) await new Promise((r) => this.#clock.setTimeout(r, pause));
      if (o.closed()) return;
      left = left.filter((id) => o.outstanding(id));
      if (left.length === 0) return;
      const { records } = await this.#find(left, STATUS_KEYS);
      const known = new Map(records.map((r) => [String(r.msg_id), r]));
      const done = left.filter((id) => known.get(id)?.completed != null);
      if (done.length > 0) await this.#deliver(done);
      const unknown = left.filter((id) => !known.has(id));
      if (unknown.length === 0 || this.#clock.now() - start < LOST_AFTER_MS) continue;
      if (await this.#busy(uuid)) continue;
      this.#failAll(unknown, (id) =>
        new RequestLostError(
          `Request ${id} was lost with the direct connection to ${this.#name(uuid)} before ` +
            `the engine read it: it did not run. Send it again.`,
        ));
    }
  }

  /** Whether the Hub holds requests queued or running on the engine (or cannot say). */
  async #busy(uuid: string): Promise<boolean> {
    const id = this.#o.idOf(uuid);
    if (id === undefined) return false; // gone: its tasks fail with it
    const reply = await this.#o.query("queue_request", { targets: [id], verbose: false });
    const q = reply.content[String(id)] as { queue?: unknown; tasks?: unknown } | undefined;
    return q === undefined || q.queue !== 0 || q.tasks !== 0;
  }

  #name(uuid: string): string {
    return `engine ${this.#o.idOf(uuid) ?? uuid}`;
  }

  /**
   * Rebuilds the replies of completed requests from their records and hands them on; fails
   * those the Hub kept without their buffers.
   */
  async #deliver(msgIds: string[]): Promise<void> {
    let found: Found;
    try {
      found = await this.#find(msgIds, REPLY_KEYS);
    } catch (error) {
      if (!(error instanceof RemoteError) || error.ename !== "BuffersNotKept") throw error;
      // One of them cannot be rebuilt: ask for each alone, and fail that one.
      if (msgIds.length > 1) {
        for (const id of msgIds) await this.#deliver([id]);
        return;
      }
      return this.#o.fail(
        msgIds[0],
        new IppError(
          `The reply to ${msgIds[0]} was lost with its direct connection, and the Hub cannot ` +
            `give it back: ${error.evalue}`,
          { cause: error },
        ),
      );
    }
    const { records, buffers } = found;
    for (let i = 0; i < records.length; i++) {
      const r = records[i];
      if (!this.#o.outstanding(String(r.msg_id))) continue;
      this.#o.deliver({
        header: r.result_header as MessageHeader,
        parent_header: r.header as Partial<MessageHeader>,
        metadata: (r.result_metadata ?? {}) as Record<string, unknown>,
        content: (r.result_content ?? {}) as Record<string, unknown>,
        buffers: buffers[i],
      });
    }
  }

  /** The Hub's records of these msg_ids (those it has), with each one's result buffers. */
  async #find(msgIds: string[], keys: string[]): Promise<Found> {
    const reply = await this.#o.query("db_request", { query: { msg_id: { $in: msgIds } }, keys });
    const records = (reply.content.records ?? []) as Record<string, unknown>[];
    const lens = reply.content.result_buffer_lens as number[] | null;
    const buffers: Uint8Array[][] = [];
    let at = 0;
    for (let i = 0; i < records.length; i++) {
      const n = lens?.[i] ?? 0;
      buffers.push(reply.buffers.slice(at, at + n));
      at += n;
    }
    return { records, buffers };
  }
}
