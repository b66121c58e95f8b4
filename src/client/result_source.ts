/**
 * The seam between the AsyncResult family and whatever settles tasks: the local
 * {@link TaskRegistry}, or the Hub polled for results (`AsyncHubResult`).
 *
 * @module
 */

import type { FinalTaskState } from "./actors/task_machine.ts";
import type { Metadata } from "./metadata.ts";

/** A settled task as results see it: a plain record, alive as long as someone holds it. */
export interface TaskResult {
  /** The request's msg_id. */
  readonly msgId: string;
  /** How it ended. */
  readonly state: FinalTaskState;
  /** The value, when `state` is `"done"`. */
  readonly value: unknown;
  /** The failure, when `state` is `"failed"` or `"aborted"`. */
  readonly error: Error | undefined;
  /** Metadata of the request. */
  readonly metadata: Metadata;
  /** The msg_id it was resubmitted as, when `state` is `"resubmitted"`. */
  readonly successor: string | undefined;
}

/** Where AsyncResults find their tasks' outcomes. */
export interface ResultSource {
  /**
   * The metadata of a known request (partial while it is outstanding).
   * @throws {UnknownTaskError} The msg_id is unknown here.
   */
  metadataOf(msgId: string): Metadata;
  /**
   * The settled result, following resubmissions to the final successor; `undefined` while the
   * task (or its successor) is outstanding.
   * @throws {UnknownTaskError} The msg_id is unknown here.
   */
  resultOf(msgId: string): TaskResult | undefined;
  /**
   * Calls `callback` once when the task (following resubmissions) settles.
   * @returns A function that cancels the subscription.
   */
  onSettled(msgId: string, callback: (result: TaskResult) => void): () => void;
  /** Says these results were read, so a bounded cache may drop them first. */
  markConsumed?(msgIds: readonly string[]): void;
  /**
   * Counts settled tasks relabelled `resubmitted` (their successor now stands for them): when
   * it changes, holders of settled results look for such results and follow the successors.
   */
  readonly resubmissions?: number;
}

/** What the AsyncResult family needs from the client: how to abort, and how to flush input. */
export interface ClientSide {
  /** Asks the engines to abort these requests (an `abort_request` on control, §6.5.2). */
  abort(msgIds: string[]): void | Promise<void>;
  /** Processes whatever input has arrived, before a result's state is read. */
  spin?(): void;
  /**
   * Drops settled results from the client's `results` and `metadata` look-ups (an owning
   * AsyncResult read them: `getResult(jobs, { owner: true })`); outstanding ones stay.
   */
  forget?(msgIds: readonly string[]): void;
}
