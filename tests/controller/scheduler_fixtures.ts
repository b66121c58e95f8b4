/**
 * Shared set-up of the task scheduler tests: a scheduler on a manual clock whose actions are
 * collected and read back compactly.
 *
 * @module
 */

import { ManualClock } from "../../src/controller/clock.ts";
import {
  type SchedulerAction,
  TaskScheduler,
  type TaskSchedulerOptions,
} from "../../src/controller/task_scheduler.ts";

type Action = SchedulerAction<string, string>;

/**
 * A scheduler on a manual clock, with `take()` returning the actions since the last call as
 * "dispatch t1→e0", "relay t1", "fail t1 TaskTimeout".
 */
export function setup(opts: Partial<TaskSchedulerOptions<string, string>> = {}) {
  const clock = new ManualClock(0);
  const actions: Action[] = [];
  const s = new TaskScheduler<string, string>({ emit: (a) => actions.push(a), clock, ...opts });
  /** Actions since the last call, compactly: "dispatch t1→e0", "relay t1", "fail t1 TaskTimeout". */
  const take = (): string[] => {
    const out = actions.splice(0).filter((a) => a.type !== "track").map((a) => {
      switch (a.type) {
        case "dispatch":
          return `dispatch ${a.msgId}→${a.engine}`;
        case "relay":
          return `relay ${a.msgId}${a.success ? "" : " (error)"}`;
        case "fail":
          return `fail ${a.msgId} ${a.reason}`;
      }
      return "";
    });
    return out;
  };
  return { s, clock, actions, take };
}

/** A success reply's content. */
export const ok = { status: "ok" };
/** An error reply's content. */
export const err = { status: "error" };
