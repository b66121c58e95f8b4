/**
 * {@link HubQueries}: the client's questions to the Hub on the registration channel
 * (PROTOCOL.md §5) — queue status, result status, history, the task database, purging,
 * resubmission and fetching results this client did not receive itself.
 *
 * @module
 */

import { InvalidOptionError, RemoteError } from "../errors.ts";
import type { Session } from "../protocol/session.ts";
import type { HubLink } from "./actors/hub_link_machine.ts";
import { AsyncHubResult, HubResultSource } from "./async_hub_result.ts";
import type { HubOutcome } from "./async_hub_result.ts";
import { AsyncResult } from "./async_result.ts";
import { type Clock, systemClock } from "./clock.ts";
import { decodeResult } from "./decode.ts";
import type { EngineTable } from "./engine_table.ts";
import { parseResultReply } from "./hub_results.ts";
import type { ClientSide } from "./result_source.ts";
import type { Targets } from "./targets.ts";
import type { TaskRegistry } from "./task_registry.ts";
import type { RemoteValue } from "./view_base.ts";

/** One engine's counts in a `queue_reply` (lists of msg_ids with `verbose`). */
export interface EngineQueue {
  /** Pending direct (MUX) requests. */
  queue: number | string[];
  /** Finished requests. */
  completed: number | string[];
  /** Load-balanced tasks dispatched to the engine and not finished. */
  tasks: number | string[];
}

/** A `queue_reply`: per engine id, plus `unassigned` load-balanced tasks. */
export type QueueStatus = Record<number, EngineQueue> & { unassigned: number | string[] };

/** A `result_reply`, with outcomes of completed requests when not `statusOnly`. */
export interface ResultStatus {
  /** msg_ids the Hub still waits for. */
  pending: string[];
  /** msg_ids that completed. */
  completed: string[];
  /** Values or errors of the completed ones (empty with `statusOnly`). */
  results: Record<string, HubOutcome>;
}

/** A TaskRecord as `dbQuery` returns it: dates as `Date`s, buffers as `Uint8Array`s. */
export type DbRecord = Record<string, unknown>;

/** What {@link HubQueries} needs from its client. */
export interface HubQueriesDeps {
  /** The Hub link. */
  hub: HubLink;
  /** The client's tasks. */
  tasks: TaskRegistry;
  /** The client's engines. */
  engines: EngineTable;
  /** The client's history (mutable: purging forgets entries). */
  history: string[];
  /** Abort and spin for AsyncResults. */
  clientSide: ClientSide;
  /** The client's Session. */
  session: Session;
  /** Resolves a target selection against the registered engines. */
  resolveTargets: (targets: Targets | undefined) => number[];
  /** Time source of the purge retries (default the system clock). */
  clock?: Clock;
}

/** How long a purge waits for the Hub to record results this client already has. */
const HUB_CATCH_UP_MS = 2000;
/** Pause between those purge attempts. */
const HUB_CATCH_UP_POLL_MS = 20;

/** The msg_id of a Hub's "still pending" refusal (`IndexError: msg pending: '<id>'`, §5.6). */
function pendingIdOf(error: unknown): string | undefined {
  if (!(error instanceof RemoteError) || error.ename !== "IndexError") return undefined;
  return /^msg pending: '(.+)'$/.exec(error.evalue)?.[1];
}

const DATE_KEYS = ["submitted", "started", "completed", "received"];

/** The Hub queries of one client. */
export class HubQueries {
  readonly #d: HubQueriesDeps;

  /**
   * Binds the queries to a client's parts.
   *
   * @param deps The Hub link, registry, engines and history.
   */
  constructor(deps: HubQueriesDeps) {
    this.#d = deps;
  }

  /**
   * Queue status per engine (`queue_request`, §5.2).
   *
   * @param targets Engines (default all); one id gives just that engine's entry.
   * @param options `verbose`: msg_id lists instead of counts.
   * @returns Counts (or lists) by engine id, plus `unassigned`.
   * @throws {RemoteError} The Hub refused (unknown engine, no engines).
   */
  async queueStatus(
    targets?: Targets,
    options: { verbose?: boolean } = {},
  ): Promise<QueueStatus | EngineQueue> {
    const ids = targets === undefined || targets === "all" ? null : this.#d.resolveTargets(targets);
    const reply = await this.#d.hub.query("queue_request", {
      targets: ids,
      verbose: options.verbose ?? false,
    });
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(reply.content)) {
      if (k === "status") continue;
      out[k === "unassigned" ? k : Number(k)] = v;
    }
    if (typeof targets === "number") return out[targets] as EngineQueue;
    return out as QueueStatus;
  }

  /**
   * Whether requests are pending or completed at the Hub, and their outcomes
   * (`result_request`, §5.3).
   *
   * @param msgIds The msg_ids.
   * @param options `statusOnly` (default true): skip the outcomes.
   * @returns Pending and completed ids, and outcomes.
   * @throws {RemoteError} An id is unknown to the Hub (`KeyError`).
   */
  async resultStatus(
    msgIds: string[],
    options: { statusOnly?: boolean } = {},
  ): Promise<ResultStatus> {
    const statusOnly = options.statusOnly ?? true;
    const reply = await this.#d.hub.query("result_request", {
      msg_ids: msgIds,
      status_only: statusOnly,
    });
    const c = reply.content;
    const pending = ((c.pending ?? []) as unknown[]).map(String);
    const completed = ((c.completed ?? []) as unknown[]).map(String);
    const results = statusOnly ? {} : this.#parse(reply).completed;
    return { pending, completed, results };
  }

  /**
   * msg_ids of every request the Hub recorded, by submission time (`history_request`, §5.4).
   *
   * @returns The msg_ids.
   */
  async hubHistory(): Promise<string[]> {
    const reply = await this.#d.hub.query("history_request", {});
    return ((reply.content.history ?? []) as unknown[]).map(String);
  }

  /**
   * Queries the Hub's task database (`db_request`, §5.5, §8.2), e.g.
   * `{ msg_id: { $in: ids } }` or `{ completed: { $ne: null } }`.
   *
   * @param query A Mongo-style query (dates may be `Date`s).
   * @param keys Record keys to return (default: all but buffers); `buffers` and
   *   `result_buffers` come back as `Uint8Array` lists.
   * @returns The records, dates as `Date`s.
   * @throws {RemoteError} Bad operator, or a database that stores nothing.
   */
  async dbQuery(query: Record<string, unknown>, keys?: string[]): Promise<DbRecord[]> {
    const reply = await this.#d.hub.query("db_request", {
      query: JSON.parse(JSON.stringify(query)),
      keys: keys ?? null,
    });
    const c = reply.content;
    const records = (c.records ?? []) as DbRecord[];
    const bufferLens = c.buffer_lens as number[] | null;
    const resultLens = c.result_buffer_lens as number[] | null;
    let at = 0;
    records.forEach((rec, i) => {
      if (bufferLens) {
        rec.buffers = reply.buffers.slice(at, at + bufferLens[i]);
        at += bufferLens[i];
      }
      if (resultLens) {
        rec.result_buffers = reply.buffers.slice(at, at + resultLens[i]);
        at += resultLens[i];
      }
      for (const k of DATE_KEYS) {
        if (typeof rec[k] === "string" && rec[k]) rec[k] = new Date(rec[k] as string);
      }
    });
    return records;
  }

  /**
   * Results by msg_id, fetched from the Hub when this client does not track them (another
   * client's tasks, evicted or resubmitted ones), else from here. `await` the result to block.
   *
   * @param msgIds The msg_ids.
   * @param single Whether the caller named one job (a single result, not a list).
   * @param options `owner`: reading the result drops it from the client's caches.
   * @returns An AsyncResult (local) or AsyncHubResult.
   */
  getResult(
    msgIds: string[],
    single: boolean,
    options: { owner?: boolean } = {},
  ): AsyncResult<RemoteValue> {
    const ids = single ? msgIds[0] : msgIds;
    const local = msgIds.every((id) => this.#known(id));
    const common = { client: this.#d.clientSide, owner: options.owner };
    return local
      ? new AsyncResult(this.#d.tasks, ids, common)
      : new AsyncHubResult(this.#fetch, ids, { ...common, local: this.#d.tasks });
  }

  /**
   * Runs requests again under new msg_ids (`resubmit_request`, §5.7). The Hub drops their
   * scheduler flags and sends them itself, so their replies go to the Hub: the new tasks are
   * tracked here and their outcomes polled from the Hub (`result_request`) until they settle.
   * The old msg_ids follow their successors: an AsyncResult over an old one gives the new
   * result once it is in.
   *
   * @param msgIds The msg_ids to resubmit.
   * @returns The new msg_ids, in the order of `msgIds`.
   * @throws {RemoteError} An id is unknown to the Hub.
   */
  async resubmit(msgIds: string[]): Promise<string[]> {
    const reply = await this.#d.hub.query("resubmit_request", { msg_ids: msgIds });
    const map = (reply.content.resubmitted ?? {}) as Record<string, string>;
    this.#d.tasks.resubmitted(map);
    this.#settleFromHub(Object.values(map));
    return msgIds.map((id) => map[id]).filter((id) => id !== undefined);
  }

  /**
   * Drops completed records at the Hub (`purge_request`, §5.6).
   *
   * The Hub records a result from its monitor stream, which can trail the reply this client
   * got (Python's Hub does): a msg_id the Hub still calls pending but that is not outstanding
   * here is asked about again for up to 2 s before the refusal is thrown.
   *
   * @param msgIds msg_ids or `"all"`.
   * @param targets Also every completed record from these engines.
   * @throws {RemoteError} A msg_id is still pending, or an engine is unknown.
   */
  async purgeHubResults(msgIds: string[] | "all", targets: Targets | [] = []): Promise<void> {
    const d = this.#d;
    const engineIds = isEmptyTargets(targets) ? [] : d.resolveTargets(targets as Targets);
    if (msgIds !== "all" && msgIds.length === 0 && engineIds.length === 0) {
      throw new InvalidOptionError("jobs", 'purgeHubResults needs msg_ids, "all" or targets');
    }
    const clock = d.clock ?? systemClock;
    const deadline = clock.now() + HUB_CATCH_UP_MS;
    for (;;) {
      try {
        await d.hub.query("purge_request", { msg_ids: msgIds, engine_ids: engineIds });
        return;
      } catch (error) {
        const pending = pendingIdOf(error);
        if (
          pending === undefined || d.tasks.outstanding.has(pending) || clock.now() >= deadline
        ) throw error;
        await new Promise((r) => clock.setTimeout(r, HUB_CATCH_UP_POLL_MS));
      }
    }
  }

  /**
   * Forgets results cached here.
   *
   * @param msgIds msg_ids or `"all"`.
   * @param targets Also every result from these engines.
   * @throws {OutstandingTasksError} One of them is still outstanding.
   */
  purgeLocalResults(msgIds: string[] | "all", targets: Targets | [] = []): void {
    const d = this.#d;
    if (msgIds === "all") {
      d.tasks.purge("all");
      return;
    }
    const ids = new Set(msgIds);
    if (!isEmptyTargets(targets)) {
      const uuids = new Set(d.resolveTargets(targets as Targets).map((t) => d.engines.uuidOf(t)));
      for (const id of d.history) {
        if (d.tasks.outstanding.has(id)) continue;
        try {
          const uuid = d.tasks.metadataOf(id).engineUuid;
          if (typeof uuid === "string" && uuids.has(uuid)) ids.add(id);
        } catch {
          // evicted already
        }
      }
    }
    d.tasks.purge([...ids]);
  }

  /** Polls the Hub until these tracked tasks completed there, and settles them here. */
  #settleFromHub(msgIds: string[]): void {
    if (msgIds.length === 0) return;
    const hub = new HubResultSource(this.#fetch);
    let left = msgIds.length;
    for (const id of msgIds) {
      hub.onSettled(id, (r) => {
        this.#d.tasks.settleFromHub(id, r);
        if (--left === 0) hub.release();
      });
    }
    hub.acquire();
  }

  #known(msgId: string): boolean {
    try {
      this.#d.tasks.metadataOf(msgId);
      return true;
    } catch {
      return false;
    }
  }

  #parse(reply: Parameters<typeof parseResultReply>[0]) {
    return parseResultReply(reply, {
      decode: decodeResult,
      engineIdOf: (uuid) => this.#d.engines.idOf(uuid),
    });
  }

  readonly #fetch = async (ids: string[]) => {
    const reply = await this.#d.hub.query("result_request", { msg_ids: ids, status_only: false });
    return this.#parse(reply);
  };
}

function isEmptyTargets(targets: Targets | []): boolean {
  return Array.isArray(targets) && targets.length === 0;
}
