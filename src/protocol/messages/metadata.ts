/**
 * Message metadata shapes: engine replies, task submissions, dependencies and broadcasts
 * (PROTOCOL.md §6.3, §7.1, §7.7, §7.9).
 *
 * @module
 */

/** `[engine_uuid, engine_id]`, as broadcast targets are written (§7.9). */
export type EngineTarget = [uuid: string, id: number];

/**
 * Metadata of `execute_reply` and `apply_reply` from an engine (PROTOCOL.md §6.3). `status`
 * must be present: the Python task scheduler drops replies without it.
 */
export type ReplyMetadata = {
  /** When the engine started the request (ISO date). */
  started: string;
  /** `false` when the request raised `UnmetDependency`. */
  dependencies_met: boolean;
  /** The engine uuid. */
  engine: string;
  /** Copied from the request metadata (default `false`). */
  is_broadcast: boolean;
  /** Copied from the request metadata (default `false`). */
  is_coalescing: boolean;
  /** Copied from the request metadata (default `""`). */
  original_msg_id: string;
  /** The reply's outcome. */
  status: "ok" | "error" | "aborted";
  /** Only on errors: the engine's real id. */
  engine_info?: {
    /** Engine uuid. */
    engine_uuid: string;
    /** Engine id. */
    engine_id: number;
  };
  /** Added by broadcast schedulers on coalesced replies (§7.9). */
  broadcast_targets?: EngineTarget[] | string[];
};

/**
 * Metadata of a reply the task scheduler fabricates for a task stranded on a dead engine
 * (PROTOCOL.md §7.6). Other scheduler-generated failures (§7.7) carry `{}`.
 */
export type StrandedTaskMetadata = {
  /** Always `"error"`. */
  status: "error";
  /** The dead engine's uuid. */
  engine: string;
  /** When the reply was fabricated (ISO date). */
  date: string;
};

/** A dependency set in its dict form (PROTOCOL.md §7.1, §7.3). */
export type DependencySpec = {
  /** msg_ids depended on. */
  dependencies: string[];
  /** All (`true`) or any (`false`) of them. */
  all: boolean;
  /** Successful completion satisfies the dependency. */
  success: boolean;
  /** Failed completion satisfies the dependency. */
  failure: boolean;
};

/** A dependency: a msg_id list (= all, success, not failure) or a {@link DependencySpec}. */
export type Dependency = string[] | DependencySpec;

/**
 * Metadata of a load-balanced submission (PROTOCOL.md §7.1). Python sends every key; the
 * scheduler reads each with a default, so `{}` is valid too.
 */
export type TaskSubmitMetadata = {
  /** Time dependency. */
  after: Dependency;
  /** Location dependency. */
  follow: Dependency;
  /** Seconds a task may wait in the scheduler queue; `0`/`null` = no limit. */
  timeout: number | null;
  /** Engine uuids the task may run on; `[]` = any. */
  targets: string[];
  /** How many times to re-run elsewhere after a failure. */
  retries: number;
};

/**
 * Request metadata key of our client (an extension; Python engines and schedulers ignore
 * it): `true` says the client completes the result at the reply from its `iopub_count` and
 * needs no IOPub `status` for a request that publishes nothing else. Our engines then send
 * neither `busy` nor `idle` for such a request (`src/engine/shell.ts`).
 */
export const QUIET_STATUS = "quiet_status";

/** Metadata of a broadcast submission, as the client sends it and schedulers rewrite it (§7.9). */
export type BroadcastRequestMetadata = {
  /** The engines to run on. */
  targets: EngineTarget[];
  /** Always `true`. */
  is_broadcast: true;
  /** One combined reply instead of one per engine. */
  is_coalescing: boolean;
  /** Set by the schedulers: the client's msg_id. */
  original_msg_id?: string;
};

/** Metadata that names the sending engine (IOPub, control replies; PROTOCOL.md §6.5, §6.6). */
export type EngineMetadata = {
  /** The engine uuid. */
  engine: string;
};
