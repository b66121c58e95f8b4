/** Shared fixtures of the Hub tests (not a test file itself). */
import { ManualClock } from "../../src/controller/clock.ts";
import { MemoryDb } from "../../src/controller/db/memory.ts";
import type { TaskDb } from "../../src/controller/db/types.ts";
import { HubState, type HubStateOptions } from "../../src/controller/hub_state.ts";
import type { HubMessage } from "../../src/controller/hub_types.ts";

/** A Hub on a manual clock at 2026-11-29T12:00:00Z with msg_ids `hub_0`, `hub_1`… */
export function makeHub(opts: Partial<HubStateOptions> & { db?: TaskDb } = {}) {
  const clock = new ManualClock(Date.UTC(2026, 10, 29, 12, 0, 0));
  let n = 0;
  const hub = new HubState({
    db: opts.db ?? new MemoryDb(),
    clock,
    newMsgId: () => `hub_${n++}`,
    ...opts,
  });
  return { hub, clock };
}

/** Registers engines and completes their registration; returns their uuids. */
export function withEngines(hub: HubState, count: number): string[] {
  const uuids = Array.from({ length: count }, (_, i) => `uuid-${i}`);
  for (const uuid of uuids) hub.register({ uuid });
  hub.heartsStarted(uuids);
  return uuids;
}

/** A client request message. */
export function request(
  msgId: string,
  msgType = "apply_request",
  extra: Partial<HubMessage> = {},
): HubMessage {
  return {
    header: {
      msg_id: msgId,
      msg_type: msgType,
      session: "client-session",
      username: "u",
      date: "2026-11-29T12:00:01.000001Z",
      version: "5.3",
    },
    parent_header: {},
    metadata: {},
    content: { code: msgId },
    buffers: [new Uint8Array([1])],
    ...extra,
  };
}

/** An engine reply message. */
export function reply(
  parent: string,
  engine: string,
  status = "ok",
  buffers: Uint8Array[] = [],
): HubMessage {
  return {
    header: {
      msg_id: `r-${parent}`,
      msg_type: "apply_reply",
      session: engine,
      date: "2026-11-29T12:00:02.5Z",
    },
    parent_header: { msg_id: parent },
    metadata: { status, engine, started: "2026-11-29T12:00:02Z", dependencies_met: true },
    content: { status },
    buffers,
  };
}
