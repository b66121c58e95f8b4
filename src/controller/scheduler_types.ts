/**
 * The task scheduler's public types: its options, the actions it emits and the reply status
 * it reads (see `task_scheduler.ts`).
 *
 * @module
 */

import type { Clock } from "./clock.ts";
import type { ErrorContent } from "./error_content.ts";
import type { Scheme, SchemeName } from "./schemes.ts";

/** Why the scheduler failed a task itself. */
export type FailureReason =
  | "ImpossibleDependency"
  | "InvalidDependency"
  | "TaskTimeout"
  | "EngineError";

/** What the scheduler asks its wiring to do; see the module doc. */
export type SchedulerAction<P, R> =
  | { type: "dispatch"; msgId: string; engine: string; payload: P }
  | { type: "track"; msgId: string; engine: string }
  | { type: "relay"; msgId: string; engine: string; success: boolean; reply: R }
  | {
    type: "fail";
    msgId: string;
    reason: FailureReason;
    content: ErrorContent;
    payload: P;
    engine?: string;
  };

/** Where a task is in the scheduler. */
export type TaskState = "blocked" | "waiting" | "ready" | "running" | "completed" | "failed";

/** Options of `TaskScheduler`. */
export interface TaskSchedulerOptions<P, R> {
  /** Receives every action, in order. Must not throw. */
  emit: (action: SchedulerAction<P, R>) => void;
  /** Scheme name or function (default `leastload`). */
  scheme?: SchemeName | Scheme;
  /** Max outstanding tasks per engine (default 1; 0 = unlimited). */
  hwm?: number;
  /**
   * Max outstanding tasks per engine while it is proven fast (adaptive prefetch, see
   * `prefetch.ts`; default 1 = off: `hwm` alone applies).
   */
  prefetch?: number;
  /** A task served within this many ms counts as fast for prefetch (default 10). */
  prefetchFastMs?: number;
  /** Uniform [0, 1) source for random schemes (default `Math.random`). */
  rng?: () => number;
  /** Time source (default the system clock). */
  clock?: Clock;
  /** Delay before tasks stranded on a dead engine fail (default 5000 ms). */
  strandedDelayMs?: number;
}

/** Status fields of an engine's reply that the scheduler reads. */
export interface ReplyStatus {
  /** Reply `metadata.status` (`"ok"`, `"error"`, `"aborted"`). */
  status: string;
  /** Reply `metadata.dependencies_met` (default true). */
  dependenciesMet?: boolean;
}
