/**
 * Helpers for the client-core tests: a hand-driven clock, message builders shaped like the
 * captured traffic of PROTOCOL.md §6, and a JSON result decoder.
 *
 * @module
 */

import type { Clock } from "../../src/client/clock.ts";
import type { IncomingMessage, ResultDecoder } from "../../src/client/messages.ts";

/** A clock that only moves when told to; timers fire in due order during `advance`. */
export class ManualClock implements Clock {
  #now: number;
  #next = 1;
  readonly #timers = new Map<number, { at: number; fn: () => void }>();

  constructor(start = Date.UTC(2026, 10, 29, 12, 0, 0)) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): number {
    const id = this.#next++;
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), fn });
    return id;
  }

  clearTimeout(id: number): void {
    this.#timers.delete(id);
  }

  /** Number of timers not yet fired or cleared. */
  get pending(): number {
    return this.#timers.size;
  }

  /** Moves time forward, firing due timers in order (and awaiting microtasks between them). */
  async advance(ms: number): Promise<void> {
    const end = this.#now + ms;
    for (;;) {
      await flush();
      let due: [number, { at: number; fn: () => void }] | undefined;
      for (const entry of this.#timers) {
        if (entry[1].at <= end && (due === undefined || entry[1].at < due[1].at)) due = entry;
      }
      if (due === undefined) break;
      this.#timers.delete(due[0]);
      this.#now = Math.max(this.#now, due[1].at);
      due[1].fn();
    }
    this.#now = end;
    await flush();
  }
}

/** Lets pending promise callbacks run. */
export async function flush(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Encodes a value as one JSON buffer. */
export function jsonBuffer(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

/** Decodes the first buffer as JSON. */
export const jsonDecode: ResultDecoder = (buffers) => ({
  value: JSON.parse(decoder.decode(buffers[0])),
  rest: buffers.slice(1),
});

export const SESSION = "39f93074-505176156e4ad41d6eaa39b4";
export const ENGINE0 = "df465556-660eee72044abd41f0d3737a";
export const ENGINE1 = "6bae2753-3c69c163606659069950a9c3";

let counter = 0;

/** Options of {@link applyReply}. */
export interface ReplyOptions {
  status?: "ok" | "error" | "aborted";
  value?: unknown;
  engine?: string;
  engineInfo?: Record<string, unknown>;
  ename?: string;
  evalue?: string;
  msgType?: "apply_reply" | "execute_reply";
  content?: Record<string, unknown>;
  metadata?: Record<string, unknown>;
  buffers?: Uint8Array[];
  submitted?: string;
  started?: string;
  completed?: string;
}

/** An `apply_reply` (or `execute_reply`) for request `msgId`, per PROTOCOL.md §6.1–§6.4. */
export function reply(msgId: string, o: ReplyOptions = {}): IncomingMessage {
  const status = o.status ?? "ok";
  const engine = o.engine ?? ENGINE0;
  let content: Record<string, unknown> = { status };
  if (status === "error") {
    content = {
      status,
      ename: o.ename ?? "ZeroDivisionError",
      evalue: o.evalue ?? "division by zero",
      traceback: ["Traceback (most recent call last):", "ZeroDivisionError: division by zero"],
      engine_info: o.engineInfo ?? { engine_uuid: engine, engine_id: -1, method: "apply" },
    };
  }
  if (o.msgType === "execute_reply" && status === "ok") {
    content = { status, execution_count: 3, user_expressions: {}, payload: [] };
  }
  return {
    header: {
      msg_id: `${engine}_reply_${++counter}`,
      msg_type: o.msgType ?? "apply_reply",
      session: engine,
      date: o.completed ?? "2026-11-29T12:00:02.000000Z",
    },
    parent_header: {
      msg_id: msgId,
      msg_type: "apply_request",
      session: SESSION,
      date: o.submitted ?? "2026-11-29T12:00:00.000000Z",
    },
    metadata: {
      started: o.started ?? "2026-11-29T12:00:01.000000Z",
      dependencies_met: true,
      engine,
      is_broadcast: false,
      is_coalescing: false,
      original_msg_id: "",
      status,
      ...o.metadata,
    },
    content: { ...content, ...o.content },
    buffers: o.buffers ??
      (status === "ok" && o.msgType !== "execute_reply" ? [jsonBuffer(o.value ?? null)] : []),
  };
}

/** An IOPub message of `msgType` whose parent is request `msgId` (PROTOCOL.md §6.6). */
export function iopub(
  msgId: string,
  msgType: string,
  content: Record<string, unknown>,
  o: { engine?: string; session?: string; buffers?: Uint8Array[] } = {},
): IncomingMessage {
  const engine = o.engine ?? ENGINE0;
  return {
    header: { msg_id: `${engine}_io_${++counter}`, msg_type: msgType, session: engine },
    parent_header: { msg_id: msgId, msg_type: "apply_request", session: o.session ?? SESSION },
    metadata: { engine },
    content,
    buffers: o.buffers ?? [],
  };
}

/** IOPub `status` busy or idle for request `msgId`. */
export function status(msgId: string, state: "busy" | "idle", engine = ENGINE0): IncomingMessage {
  return iopub(msgId, "status", { execution_state: state }, { engine });
}

/** A notification (`registration_notification`, …) with `content`. */
export function notification(msgType: string, content: Record<string, unknown>): IncomingMessage {
  return {
    header: { msg_id: `hub_${++counter}`, msg_type: msgType, session: "hub" },
    parent_header: {},
    metadata: {},
    content,
    buffers: [],
  };
}

/** A Hub query reply to request `msgId`. */
export function queryReply(
  msgId: string,
  msgType: string,
  content: Record<string, unknown>,
): IncomingMessage {
  return {
    header: { msg_id: `hub_${++counter}`, msg_type: msgType, session: "hub" },
    parent_header: { msg_id: msgId, msg_type: msgType.replace("_reply", "_request") },
    metadata: {},
    content,
    buffers: [],
  };
}
