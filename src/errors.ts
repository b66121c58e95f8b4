/**
 * Every error this package throws, one class per failure (STYLE.md item 8).
 *
 * Each class sets `name` to its class name and keeps its data on fields, so callers can
 * branch on `instanceof` or on `name` and read the details without parsing messages.
 * The remote family (`RemoteError` and below) mirrors `ipyparallel.error`.
 *
 * @module
 */

/** Base class of every error thrown by this package. */
export class IppError extends Error {
  /**
   * Create an error with a message and an optional cause.
   *
   * @param message What went wrong, and where useful what to do about it.
   * @param options `cause` is passed through to `Error`.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

// ---------------------------------------------------------------------------
// Wire and message layer
// ---------------------------------------------------------------------------

/** A multipart message could not be parsed (missing delimiter, too few frames, bad JSON…). */
export class MessageFormatError extends IppError {
  /** Short machine-readable reason, e.g. `"no-delimiter"`, `"too-few-frames"`, `"bad-json"`. */
  readonly reason: string;
  /**
   * Create a MessageFormatError for a message that could not be parsed.
   *
   * @param reason Short machine-readable reason.
   * @param message Human-readable explanation.
   * @param options `cause` is passed through.
   */
  constructor(reason: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.reason = reason;
  }
}

/** A message failed HMAC verification: unsigned, wrong signature, or a replayed signature. */
export class SignatureError extends IppError {
  /** `"unsigned"`, `"invalid"` or `"duplicate"`. */
  readonly reason: "unsigned" | "invalid" | "duplicate";
  /**
   * Create a SignatureError for a message that failed verification.
   *
   * @param reason Which check failed.
   * @param message Human-readable explanation.
   */
  constructor(reason: "unsigned" | "invalid" | "duplicate", message: string) {
    super(message);
    this.reason = reason;
  }
}

/** The signature scheme (or pack/unpack setting) is not one this implementation supports. */
export class UnsupportedSchemeError extends IppError {
  /** The rejected scheme, e.g. `"hmac-whirlpool"` or `"pickle"`. */
  readonly scheme: string;
  /**
   * Create an UnsupportedSchemeError for a rejected scheme.
   *
   * @param scheme The rejected scheme.
   * @param message Human-readable explanation.
   */
  constructor(scheme: string, message?: string) {
    super(message ?? `Unsupported signature scheme: ${JSON.stringify(scheme)}`);
    this.scheme = scheme;
  }
}

/** An option has a value this implementation cannot use (wrong type, out of range, bad format). */
export class InvalidOptionError extends IppError {
  /** The option's name as the caller spelled it, e.g. `"digestHistorySize"`. */
  readonly option: string;
  /**
   * Create an InvalidOptionError for an option with an unusable value.
   *
   * @param option The option's name.
   * @param message Human-readable explanation, saying what values are accepted.
   */
  constructor(option: string, message: string) {
    super(message);
    this.option = option;
  }
}

/** A payload could not be serialized or deserialized. */
export class SerializationError extends IppError {}

/**
 * A payload was produced by another serializer (for example a Python pickle reached a
 * JavaScript engine, or our JSON format reached a Python one). PROTOCOL.md §9.2.
 */
export class UnsupportedSerialization extends SerializationError {
  /** What the payload looked like: `"pickle"`, `"ipp-js"` or `"unknown"`. */
  readonly format: string;
  /**
   * Create an UnsupportedSerialization error for a payload in another format.
   *
   * @param format The detected format.
   * @param message Human-readable explanation.
   */
  constructor(format: string, message: string) {
    super(message);
    this.format = format;
  }
}

/** A connection file is missing, unreadable, or lacks required keys. */
export class ConnectionFileError extends IppError {
  /** Every path that was tried, in order. */
  readonly paths: string[];
  /**
   * Create a ConnectionFileError naming every path that was tried.
   *
   * @param message Human-readable explanation, naming the paths and what to run.
   * @param paths Every path that was tried.
   * @param options `cause` is passed through.
   */
  constructor(message: string, paths: string[], options?: ErrorOptions) {
    super(message, options);
    this.paths = paths;
  }
}

// ---------------------------------------------------------------------------
// Transport layer
// ---------------------------------------------------------------------------

/** A ZMTP peer violated the protocol (bad greeting, oversized frame, bad command…). */
export class ZmtpProtocolError extends IppError {}

/** An endpoint string could not be parsed or is not supported. */
export class EndpointError extends IppError {
  /** The endpoint as given. */
  readonly endpoint: string;
  /**
   * Create an EndpointError for an endpoint that cannot be used.
   *
   * @param endpoint The endpoint as given.
   * @param message Human-readable explanation.
   */
  constructor(endpoint: string, message: string) {
    super(message);
    this.endpoint = endpoint;
  }
}

/** An operation was attempted on a socket that is closed. */
export class SocketClosedError extends IppError {}

/** A ROUTER socket with `mandatory` set was asked to send to an unknown identity. */
export class HostUnreachableError extends IppError {}

/** A wait ran out of time. */
export class TimeoutError extends IppError {
  /** The limit that expired, in milliseconds. */
  readonly timeoutMs: number;
  /**
   * Create a TimeoutError for a wait that ran out of time.
   *
   * @param message What was being waited for.
   * @param timeoutMs The limit that expired, in milliseconds.
   */
  constructor(message: string, timeoutMs: number) {
    super(message);
    this.timeoutMs = timeoutMs;
  }
}

// ---------------------------------------------------------------------------
// Remote family (mirrors ipyparallel.error)
// ---------------------------------------------------------------------------

/** Where a remote error happened, as engines report it (PROTOCOL.md §6.4). */
export interface EngineInfo {
  /** The engine's uuid. */
  engineUuid?: string;
  /** The engine's integer id (Python engines send -1 here; see PROTOCOL.md §10 #4). */
  engineId?: number;
  /** `"execute"` or `"apply"`. */
  method?: string;
}

/** An exception raised in user code on an engine, or by the controller on its behalf. */
export class RemoteError extends IppError {
  /** The remote exception's class name, e.g. `"TypeError"` or `"ZeroDivisionError"`. */
  readonly ename: string;
  /** The remote exception's message. */
  readonly evalue: string;
  /** The remote traceback, one string per line as the engine sent it. */
  readonly traceback: string[];
  /** Which engine raised it; empty for controller-generated errors. */
  readonly engineInfo: EngineInfo;
  /**
   * Create a RemoteError from the engine's reply.
   *
   * @param ename Remote exception class name.
   * @param evalue Remote exception message.
   * @param traceback Remote traceback lines.
   * @param engineInfo Which engine raised it.
   */
  constructor(
    ename: string,
    evalue: string,
    traceback: string[] = [],
    engineInfo: EngineInfo = {},
  ) {
    super(evalue ? `${ename}: ${evalue}` : ename);
    this.ename = ename;
    this.evalue = evalue;
    this.traceback = traceback;
    this.engineInfo = engineInfo;
  }
}

/** Several remote errors from one multi-engine operation. */
export class CompositeError extends IppError {
  /** The individual errors, in engine order. */
  readonly errors: RemoteError[];
  /**
   * Create a CompositeError from the individual remote errors.
   *
   * @param message Summary.
   * @param errors The individual errors.
   */
  constructor(message: string, errors: RemoteError[]) {
    super(message);
    this.errors = errors;
  }
}

/** An engine died (or was shut down) while it held a task. */
export class EngineError extends IppError {}

/**
 * A request sent straight to an engine on this host was lost with its connection before the
 * engine read it: it did not run (ours only; ipyparallel has no direct path).
 */
export class RequestLostError extends IppError {}

/** A task was aborted before it ran. */
export class TaskAborted extends IppError {
  /** The aborted task's msg_id. */
  readonly msgId: string;
  /**
   * Create a TaskAborted error for an aborted task.
   *
   * @param msgId The aborted task's msg_id.
   */
  constructor(msgId: string) {
    super(`Task aborted: ${msgId}`);
    this.msgId = msgId;
  }
}

/** A load-balanced task waited in the scheduler longer than its `timeout`. */
export class TaskTimeout extends IppError {}

/** A task's function-level dependency check failed on an engine. */
export class UnmetDependency extends IppError {}

/** A task's dependencies can never be met. */
export class ImpossibleDependency extends UnmetDependency {}

/** A task named a dependency the scheduler has never seen. */
export class InvalidDependency extends ImpossibleDependency {}

/** No engines are registered with the controller. */
export class NoEnginesRegistered extends IppError {}

/** The controller is gone or never answered. */
export class ControllerLostError extends IppError {}

// ---------------------------------------------------------------------------
// Controller (Hub) errors, reported to clients as Python exceptions (PROTOCOL.md §6.4)
// ---------------------------------------------------------------------------

/**
 * A failure inside the controller that is sent to clients as an error content dict.
 * `ename`/`evalue` are what a Python Hub would put on the wire (`KeyError`, `IndexError`…).
 */
export class HubError extends IppError {
  /** Python exception class name sent as `ename`, e.g. `"KeyError"`. */
  readonly ename: string;
  /** Python `str(exception)` sent as `evalue` (a `KeyError` quotes its message). */
  readonly evalue: string;
  /**
   * @param ename Python exception class name.
   * @param evalue Python `str(exception)`.
   * @param message Human-readable explanation (defaults to `ename: evalue`).
   * @param options `cause` is passed through.
   */
  constructor(ename: string, evalue: string, message?: string, options?: ErrorOptions) {
    super(message ?? `${ename}: ${evalue}`, options);
    this.ename = ename;
    this.evalue = evalue;
  }
}

/** A task record was asked for by msg_id and is not in the database (Python `KeyError`). */
export class NoSuchRecord extends HubError {
  /** The msg_id that was asked for. */
  readonly msgId: string;
  /**
   * @param msgId The msg_id that was asked for.
   * @param evalue Python `str(KeyError)`; defaults to `'No such msg_id: <id>'` quoted.
   */
  constructor(msgId: string, evalue?: string) {
    super("KeyError", evalue ?? `'No such msg_id: ${msgId}'`);
    this.msgId = msgId;
  }
}

/** A task record was dropped by the in-memory database's size limits (PROTOCOL.md §8.3). */
export class RecordCulled extends NoSuchRecord {
  /** @param msgId The culled record's msg_id. */
  constructor(msgId: string) {
    super(msgId, `'Record ${msgId} has been culled for size (raise the memory db limits)'`);
  }
}

/** A record with this msg_id already exists (`add` is not an upsert). */
export class DuplicateRecord extends HubError {
  /** The duplicated msg_id. */
  readonly msgId: string;
  /** @param msgId The duplicated msg_id. */
  constructor(msgId: string) {
    super("KeyError", `'Already have msg_id ${msgId}'`);
    this.msgId = msgId;
  }
}

/**
 * The `NoDb` backend was asked for data it never stores (PROTOCOL.md §8.3). Python calls this
 * `NoData`, a `KeyError`.
 */
export class NoDataError extends HubError {
  constructor() {
    super(
      "NoData",
      "NoDB backend doesn't store any data. ",
      "NoDB backend doesn't store any data (start the controller with a memory or SQLite " +
        "task database to enable results, history and resubmission)",
    );
  }
}

/** A task-database query used an unknown operator or record key (PROTOCOL.md §8.2). */
export class QueryError extends HubError {
  /**
   * @param evalue Python-style `str(KeyError)` naming the bad operator or key.
   * @param message Human-readable explanation.
   */
  constructor(evalue: string, message?: string) {
    super("KeyError", evalue, message);
  }
}

// ---------------------------------------------------------------------------
// Client results
// ---------------------------------------------------------------------------

/** A result was read (value, timing) before it was ready. */
export class NotReadyError extends IppError {}

/** A msg_id has no task and no cached result here (never sent, purged or evicted). */
export class UnknownTaskError extends IppError {
  /** The msg_id that was asked for. */
  readonly msgId: string;
  /**
   * Names the unknown msg_id.
   *
   * @param msgId The msg_id that was asked for.
   * @param message Human-readable explanation, saying where else to look.
   */
  constructor(msgId: string, message?: string) {
    super(
      message ??
        `No task or cached result for msg_id ${msgId} (never sent by this client, purged, or ` +
          `evicted by maxCachedResults; fetch it from the Hub instead)`,
    );
    this.msgId = msgId;
  }
}

/** An operation that needs finished tasks (such as purging results) met outstanding ones. */
export class OutstandingTasksError extends IppError {
  /** The msg_ids that are still outstanding. */
  readonly msgIds: string[];
  /**
   * Names the outstanding msg_ids.
   *
   * @param msgIds The msg_ids that are still outstanding.
   * @param message Human-readable explanation.
   */
  constructor(msgIds: string[], message?: string) {
    super(
      message ??
        `Cannot purge outstanding tasks: ${msgIds.join(", ")} (wait for them or abort them first)`,
    );
    this.msgIds = msgIds;
  }
}

/**
 * Load-balanced scheduling metadata is malformed (non-string dependency ids,
 * `success=false, failure=false`, `targets` not a list…). The scheduler fails such a task with
 * `InvalidDependency` (PROTOCOL.md §7.1, §7.3).
 */
export class MalformedDependency extends IppError {}

// ---------------------------------------------------------------------------
// Engine
// ---------------------------------------------------------------------------

/** An engine could not register with the controller (PROTOCOL.md §4.1). */
export class RegistrationError extends IppError {
  /** `"timeout"`: no `registration_reply` in time; `"rejected"`: the Hub answered with an error. */
  readonly reason: "timeout" | "rejected";
  /**
   * @param reason Which way registration failed.
   * @param message Human-readable explanation, saying what to check.
   * @param options `cause` is passed through.
   */
  constructor(reason: "timeout" | "rejected", message: string, options?: ErrorOptions) {
    super(message, options);
    this.reason = reason;
  }
}
