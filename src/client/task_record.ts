/**
 * The plain records behind {@link TaskRegistry} (task_registry.ts): one per task, the queue
 * of replied tasks waiting for their output, and the shared event objects sent to task actors.
 * The settled ones are cached in `settled_results.ts`.
 *
 * @module
 */

import type { TaskActor, TaskEvent, TaskState } from "./actors/task_machine.ts";
import type { Clock } from "./clock.ts";
import type { Metadata } from "./metadata.ts";
import type { TaskResult } from "./result_source.ts";

/** Events without data, shared so the hot path allocates none. */
export const STARTED: TaskEvent = { type: "STARTED" };
export const IOPUB_IDLE: TaskEvent = { type: "IOPUB_IDLE" };
export const OUTPUT_TIMEOUT: TaskEvent = { type: "OUTPUT_TIMEOUT" };
export const ABORT: TaskEvent = { type: "ABORT" };
export const ENGINE_DIED: TaskEvent = { type: "ENGINE_DIED" };
export const TIMEOUT: TaskEvent = { type: "TIMEOUT" };
export const RESUBMITTED: TaskEvent = { type: "RESUBMITTED" };
export const CONTROLLER_LOST: TaskEvent = { type: "CONTROLLER_LOST" };
export const REPLY_OK: TaskEvent = { type: "REPLY", status: "ok", outputComplete: false };
export const REPLY_ERROR: TaskEvent = { type: "REPLY", status: "error", outputComplete: false };
export const REPLY_OK_COMPLETE: TaskEvent = { type: "REPLY", status: "ok", outputComplete: true };
export const REPLY_ERROR_COMPLETE: TaskEvent = {
  type: "REPLY",
  status: "error",
  outputComplete: true,
};

/** Options of `TaskRegistry.track` (task_registry.ts): how one record starts. */
export interface TrackOptions {
  /** uuid of the engine the request went to directly (MUX, broadcast sub-id); none for tasks. */
  engineUuid?: string;
  /** Whether an IOPub `idle` follows the reply (default true; false for coalesced broadcasts). */
  expectOutput?: boolean;
  /** When it was sent, in epoch milliseconds (default: now). */
  submitted?: number;
}

/** One task: its actor while outstanding, then a plain settled record. */
export class TaskRecord {
  state: TaskState;
  value: unknown = undefined;
  error: Error | undefined = undefined;
  successor: string | undefined = undefined;
  hasReply = false;
  /** IOPub `busy` was seen but `STARTED` not yet sent (see the module doc). */
  startedDeferred = false;
  /** IOPub `idle` seen before the reply but not yet sent (see the module doc). */
  idleDeferred = false;
  /** A `REPLY` held until the IOPub `idle` (see the module doc). */
  replyDeferred: "ok" | "error" | null = null;
  /** When the output wait ends (`OUTPUT_TIMEOUT`), while queued for it. */
  outputDeadline = 0;
  /** IOPub output messages (not `status`) recorded for it so far. */
  outputsSeen = 0;
  watchers: ((result: TaskResult) => void)[] | null = null;
  /** The task actor, once its first event was delivered; `null` once final. */
  actor: TaskActor | null | undefined = undefined;
  constructor(
    readonly msgId: string,
    readonly metadata: Metadata,
    readonly engineUuid: string | undefined,
    readonly expectOutput: boolean,
  ) {
    this.state = "pending";
  }
  get final(): boolean {
    return this.actor === null;
  }
}

/**
 * Replied tasks waiting for their IOPub `idle`, in deadline order (each waits the same time),
 * served by one timer for the whole queue instead of one timer per task. The timer stays armed
 * when the queue empties (a direct round trip queues and removes one task per call, and a
 * `setTimeout` costs ~8 µs there); it then fires once, finds nothing due and is not re-armed.
 * {@link OutputWaits.stop} clears it.
 */
export class OutputWaits {
  readonly #waiting = new Map<string, TaskRecord>();
  readonly #clock: Clock;
  readonly #timeoutMs: number;
  readonly #expire: (rec: TaskRecord) => void;
  #timer: unknown = undefined;
  readonly #onTimer = () => this.#sweep();

  /**
   * Creates an empty queue.
   *
   * @param clock Time source.
   * @param timeoutMs How long each task waits.
   * @param expire Called for each task whose wait ended.
   */
  constructor(clock: Clock, timeoutMs: number, expire: (rec: TaskRecord) => void) {
    this.#clock = clock;
    this.#timeoutMs = timeoutMs;
    this.#expire = expire;
  }

  /** Queues a replied task. */
  add(rec: TaskRecord): void {
    rec.outputDeadline = this.#clock.now() + this.#timeoutMs;
    this.#waiting.set(rec.msgId, rec);
    this.#timer ??= this.#clock.setTimeout(this.#onTimer, this.#timeoutMs);
  }

  /** A task settled: it waits no more. */
  delete(msgId: string): void {
    this.#waiting.delete(msgId);
  }

  /** The client closes: the timer is cleared (it would hold the process); `add` re-arms it. */
  stop(): void {
    if (this.#timer === undefined) return;
    this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #sweep(): void {
    this.#timer = undefined;
    const now = this.#clock.now();
    let next: TaskRecord | undefined;
    for (const rec of this.#waiting.values()) {
      if (rec.outputDeadline > now) {
        next = rec;
        break;
      }
      this.#waiting.delete(rec.msgId);
      this.#expire(rec);
    }
    // A watcher run by a settlement above may have queued a task and armed the timer already.
    if (next !== undefined && this.#timer === undefined) {
      this.#timer = this.#clock.setTimeout(this.#onTimer, next.outputDeadline - now);
    }
  }
}
