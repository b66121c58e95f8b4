/**
 * The Hub's side of the same-host direct path (`src/protocol/messages/direct.ts`): where each
 * engine of ours listens, the records of the tasks it served straight, and the queries that
 * wait for those records.
 *
 * - `direct_address` from an engine: kept, then sent to clients in `registration_notification`
 *   and `connection_reply` (under `direct`).
 * - `direct_records` from an engine: each request and reply is recorded as if the MUX relay
 *   had seen it (`HubState.muxRequest` / `muxReply`), in the order the engine sent them. An
 *   engine's records come from two sockets (its worker's, and its main thread's while user code
 *   holds the worker), so a reply may come before its request: it is kept until the request
 *   comes (at most {@linkcode EARLY_REPLIES_MAX}), not dropped as the MUX relay's would be.
 * - a query whose content names `direct_sync` (`{engine uuid: [request, reply]}`: the msg_ids
 *   of the last request the client sent straight to each engine and of the last it got a reply
 *   to straight, each or `""`) is answered once each of those is recorded, its engine is gone, or
 *   {@linkcode SYNC_TIMEOUT_MS} passed. Each engine it waits for is asked to send its records
 *   now (`direct_flush`), rather than at the end of its batching interval. Each client's
 *   queries are answered in the order they came: one that waits holds back that client's later
 *   ones, and no other client's.
 *
 * @module
 */

import { MessageFormatError } from "../errors.ts";
import { parsePart } from "../protocol/frames.ts";
import { readRecords } from "../protocol/messages/direct_records.ts";
import {
  DIRECT_SYNC,
  type DirectAddress,
  type DirectRecordsContent,
} from "../protocol/messages/direct.ts";
import type { JsonObject } from "./db/types.ts";
import type { HubState } from "./hub_state.ts";
import type { HubMessage } from "./hub_types.ts";

/** How long a query waits for the records it names before it is answered anyway. */
export const SYNC_TIMEOUT_MS = 5000;

/**
 * Largest batch whose records keep their buffers as views of it (as the socket reader's 64 KiB
 * slabs do): past it a kept buffer is copied rather than hold up to 1 MiB of the batch.
 */
const VIEW_BATCH_MAX = 64 * 1024;

/** Replies kept until their request's record comes; past this, the oldest is dropped. */
export const EARLY_REPLIES_MAX = 10_000;

/** A query held back until the records it names arrive. */
interface Held {
  /** The asking client (its routing identity). */
  who: string;
  sync: [uuid: string, request: string, reply: string][];
  deadline: number;
  answer: () => void;
}

/** Engine addresses, direct records and the queries waiting for them. */
export class DirectHub {
  readonly #hub: HubState;
  readonly #askFlush: (engineSocket: Uint8Array) => void;
  readonly #addresses = new Map<string, DirectAddress>();
  /** Per engine, the routing identity of the socket its records come from. */
  readonly #sockets = new Map<string, Uint8Array>();
  readonly #held: Held[] = [];
  /** Replies recorded before their request, by the request's msg_id: `[engine uuid, reply]`. */
  readonly #early = new Map<string, [string, HubMessage]>();
  #timer: ReturnType<typeof setTimeout> | undefined;

  /**
   * @param hub The Hub state records go to.
   * @param askFlush Sends `direct_flush` to an engine's records socket (its routing identity).
   */
  constructor(hub: HubState, askFlush: (engineSocket: Uint8Array) => void) {
    this.#hub = hub;
    this.#askFlush = askFlush;
  }

  /**
   * An engine's `direct_address`.
   * @param content `{uuid, url, host, ipc?, ipcs?}`.
   * @param socket The routing identity of the socket it came from (where records come from).
   * @returns The engine's uuid, or null when the content is not usable.
   */
  address(content: JsonObject, socket: Uint8Array): string | null {
    const { uuid, url, host, ipc, ipcs } = content;
    if (typeof uuid !== "string" || typeof url !== "string" || typeof host !== "string") {
      return null;
    }
    const address: DirectAddress = { url, host };
    if (typeof ipc === "string") address.ipc = ipc;
    if (typeof ipcs === "string") address.ipcs = ipcs;
    this.#addresses.set(uuid, address);
    this.#sockets.set(uuid, socket);
    return uuid;
  }

  /**
   * An engine left: its address, records socket and replies kept for requests not recorded
   * are forgotten.
   * @param uuid The engine.
   */
  forget(uuid: string): void {
    this.#addresses.delete(uuid);
    this.#sockets.delete(uuid);
    for (const [id, [engine]] of this.#early) if (engine === uuid) this.#early.delete(id);
  }

  /**
   * Where an engine listens, for a `registration_notification`.
   * @param uuid The engine.
   * @returns Its address, if it sent one.
   */
  addressOf(uuid: string): DirectAddress | undefined {
    return this.#addresses.get(uuid);
  }

  /**
   * The addresses of registered engines, for a `connection_reply`.
   * @returns `{uuid: address}`.
   */
  addresses(): Record<string, DirectAddress> {
    const out: Record<string, DirectAddress> = {};
    for (const { uuid } of this.#hub.engines()) {
      const a = this.#addresses.get(uuid);
      if (a !== undefined) out[uuid] = a;
    }
    return out;
  }

  /**
   * An engine's `direct_records`: each record into the Hub's tables, then the queries that
   * were waiting for them.
   * @param content The engine's uuid.
   * @param buffers The records (`direct_records.ts`), then any part carried on its own.
   * @throws {MessageFormatError} The batch is not in the layout (nothing of it is recorded),
   *   or a part is not JSON (nothing after it is recorded).
   */
  records(content: JsonObject, buffers: readonly Uint8Array[]): void {
    const { uuid } = content as unknown as DirectRecordsContent;
    if (typeof uuid !== "string" || buffers.length === 0) {
      throw new MessageFormatError(
        "bad-direct-records",
        "direct_records needs the engine's uuid and the records in a buffer",
      );
    }
    const batch = buffers[0];
    // A kept buffer of a large batch is copied, so that it does not hold the whole batch.
    const copy = batch.byteLength > VIEW_BATCH_MAX;
    try {
      for (const { kind, streamed, parts } of readRecords(batch, buffers.slice(1))) {
        if (parts.length < 4) continue;
        const msg: HubMessage = {
          header: parsePart(parts[0], "header"),
          parent_header: parsePart(parts[1], "parent_header"),
          metadata: parsePart(parts[2], "metadata"),
          content: parsePart(parts[3], "content"),
          buffers: streamed
            ? null
            : parts.slice(4).map((b) => copy && b.buffer === batch.buffer ? b.slice() : b),
        };
        if (kind === "request") this.#request(uuid, msg);
        else this.#reply(uuid, msg);
      }
    } finally {
      this.#release();
    }
  }

  /**
   * Answer a query now, or once the direct records it names are in.
   * @param who The asking client (its routing identity, as text).
   * @param content The query's content (`direct_sync` is read and removed).
   * @param answer Answers it.
   */
  query(who: string, content: JsonObject, answer: () => void): void {
    const raw = content[DIRECT_SYNC];
    delete content[DIRECT_SYNC];
    const sync: Held["sync"] = [];
    if (raw !== null && typeof raw === "object" && !Array.isArray(raw)) {
      for (const [uuid, ids] of Object.entries(raw)) {
        if (!Array.isArray(ids)) continue;
        const [request, reply] = ids;
        if (typeof request === "string" && typeof reply === "string") {
          sync.push([uuid, request, reply]);
        }
      }
    }
    if (!this.#held.some((h) => h.who === who) && this.#synced(sync)) return answer();
    this.#held.push({ who, sync, deadline: Date.now() + SYNC_TIMEOUT_MS, answer });
    for (const entry of sync) {
      const socket = this.#sockets.get(entry[0]);
      if (socket !== undefined && !this.#recorded(entry)) this.#askFlush(socket);
    }
    this.#arm();
  }

  /** Drops the held queries (the Hub's socket closed: they cannot be answered). */
  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#held.length = 0;
  }

  #request(uuid: string, msg: HubMessage): void {
    this.#hub.muxRequest(uuid, msg);
    if (this.#early.size === 0) return;
    const id = msg.header.msg_id;
    const early = typeof id === "string" ? this.#early.get(id) : undefined;
    if (early === undefined) return;
    this.#early.delete(id as string);
    this.#hub.muxReply(early[0], early[1]);
  }

  #reply(uuid: string, msg: HubMessage): void {
    const id = msg.parent_header.msg_id;
    const hub = this.#hub;
    if (typeof id === "string" && !hub.pending.has(id) && !hub.allCompleted.has(id)) {
      if (this.#early.size >= EARLY_REPLIES_MAX) {
        this.#early.delete(this.#early.keys().next().value!);
      }
      this.#early.set(id, [uuid, msg]);
      return;
    }
    hub.muxReply(uuid, msg);
  }

  #synced(sync: Held["sync"]): boolean {
    return sync.every((entry) => this.#recorded(entry));
  }

  /** Whether what a query names of one engine is recorded (or the engine is gone). */
  #recorded([uuid, request, reply]: Held["sync"][number]): boolean {
    const hub = this.#hub;
    if (hub.idOf(uuid) === undefined) return true;
    if (request !== "" && !hub.pending.has(request) && !hub.allCompleted.has(request)) {
      return false;
    }
    return reply === "" || hub.allCompleted.has(reply);
  }

  #release(): void {
    if (this.#held.length === 0) return;
    const now = Date.now();
    const waiting = new Set<string>();
    const ready: Held[] = [];
    const kept = this.#held.filter((h) => {
      if (!waiting.has(h.who) && (h.deadline <= now || this.#synced(h.sync))) {
        ready.push(h);
        return false;
      }
      waiting.add(h.who);
      return true;
    });
    this.#held.splice(0, this.#held.length, ...kept);
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (kept.length > 0) this.#arm();
    for (const h of ready) h.answer();
  }

  #arm(): void {
    if (this.#timer !== undefined) return;
    const first = Math.min(...this.#held.map((h) => h.deadline));
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#release();
    }, Math.max(0, first - Date.now()));
  }
}
