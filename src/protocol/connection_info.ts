/**
 * The contents of a connection file (PROTOCOL.md §2.2, §2.3): the client and engine shapes,
 * ipcontroller's key order, and validation of parsed JSON.
 *
 * @module
 */

import { ConnectionFileError, UnsupportedSchemeError } from "../errors.ts";

/** Keys common to both files (PROTOCOL.md §2.2, §2.3). */
export interface ConnectionInfoBase {
  /** SSH server for tunnelling, `[user@]host[:port]`; `""` = none. */
  ssh: string;
  /** `transport://ip` of the sockets, e.g. `tcp://127.0.0.1`, `tcp://0.0.0.0`, `tcp://*`. */
  interface: string;
  /** Hub ROUTER: engine registration and client queries (same port in both files). */
  registration: number;
  /** Control relay. */
  control: number;
  /** Direct-execution (MUX) relay. */
  mux: number;
  /** Load-balanced task scheduler. */
  task: number;
  /** IOPub relay (clients SUB here; engines connect a PUB to their side). */
  iopub: number;
  /** HMAC key; `""` means messages are unsigned. */
  key: string;
  /** Z85 CurveZMQ public key of the controller; `null` = no CURVE. */
  curve_serverkey: string | null;
  /** Controller host (its hostname by default); disambiguates `0.0.0.0`/`*`. `null` if absent. */
  location: string | null;
  /** Always `"json"`. */
  pack: "json";
  /** Always `"json"`. */
  unpack: "json";
  /** `"hmac-sha256"` (any `hmac-<hash>` is accepted here; Session decides what it supports). */
  signature_scheme: string;
}

/** `ipcontroller[-X]-client.json` (PROTOCOL.md §2.2). */
export interface ClientConnectionInfo extends ConnectionInfoBase {
  /** Task scheme name (`leastload`, `lru`, `twobin`, `plainrandom`, `weighted`, `pure`, `none`). */
  task_scheme: string;
  /** Hub notification PUB. */
  notification: number;
  /** Root broadcast scheduler: one port. */
  broadcast: number;
}

/** `ipcontroller[-X]-engine.json` (PROTOCOL.md §2.3). */
export interface EngineConnectionInfo extends ConnectionInfoBase {
  /** Heartbeat PUB (engines SUB). */
  hb_ping: number;
  /** Heartbeat ROUTER (engines DEALER). */
  hb_pong: number;
  /** Leaf broadcast scheduler ports; engine `k` uses `broadcast[k % length]`. */
  broadcast: number[];
}

/** Which file: the one clients read or the one engines read. */
export type ConnectionKind = "client" | "engine";

/** The file type for a kind. */
export type ConnectionInfoOf<K extends ConnectionKind> = K extends "client" ? ClientConnectionInfo
  : EngineConnectionInfo;

/** Key order as ipcontroller writes them (so our files diff cleanly against Python's). */
const CLIENT_KEYS = [
  "ssh",
  "interface",
  "registration",
  "control",
  "mux",
  "task",
  "task_scheme",
  "iopub",
  "notification",
  "broadcast",
  "key",
  "curve_serverkey",
  "location",
  "pack",
  "unpack",
  "signature_scheme",
] as const;

const ENGINE_KEYS = [
  "ssh",
  "interface",
  "registration",
  "control",
  "mux",
  "task",
  "iopub",
  "hb_ping",
  "hb_pong",
  "broadcast",
  "key",
  "curve_serverkey",
  "location",
  "pack",
  "unpack",
  "signature_scheme",
] as const;

/**
 * Validate a parsed connection file. Missing optional keys get Python's defaults
 * (`ssh: ""`, `curve_serverkey: null`, `location: null`); unknown keys are dropped.
 *
 * @param kind `"client"` or `"engine"`.
 * @param data The parsed JSON.
 * @param source Where it came from, for messages.
 * @returns The typed, validated info.
 * @throws {ConnectionFileError} naming the file and the bad or missing key.
 * @example
 * ```ts
 * import { parseConnectionInfo } from "./connection.ts";
 * const info = parseConnectionInfo("engine", {
 *   interface: "tcp://127.0.0.1", registration: 1, control: 2, mux: 3, task: 4, iopub: 5,
 *   hb_ping: 6, hb_pong: 7, broadcast: [8, 9], key: "", pack: "json", unpack: "json",
 *   signature_scheme: "hmac-sha256",
 * });
 * info.broadcast; // [8, 9]
 * ```
 */
export function parseConnectionInfo<K extends ConnectionKind>(
  kind: K,
  data: unknown,
  source = `${kind} connection info`,
): ConnectionInfoOf<K> {
  const fail = (what: string): never => {
    throw new ConnectionFileError(
      `Invalid ${kind} connection file ${source}: ${what} ` +
        "(if it is left over from an older controller, remove it and start the controller again)",
      [source],
    );
  };
  if (data === null || typeof data !== "object" || Array.isArray(data)) fail("not a JSON object");
  const d = data as Record<string, unknown>;
  const str = (k: string, optional?: string): string => {
    const v = d[k];
    if (v === undefined && optional !== undefined) return optional;
    if (typeof v !== "string") {
      fail(`"${k}" must be a string, got ${v === undefined ? "nothing" : JSON.stringify(v)}`);
    }
    return v as string;
  };
  const port = (k: string, v: unknown = d[k]) => {
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 65535) {
      fail(`"${k}" must be a port number, got ${v === undefined ? "nothing" : JSON.stringify(v)}`);
    }
    return v as number;
  };
  for (const k of ["pack", "unpack"] as const) {
    const v = str(k);
    if (v !== "json") {
      throw new ConnectionFileError(
        `Unsupported ${k} ${JSON.stringify(v)} in ${source}: only "json" is supported ` +
          "(start the controller with the default Session packer)",
        [source],
        { cause: new UnsupportedSchemeError(v, `Unsupported ${k}: ${JSON.stringify(v)}`) },
      );
    }
  }
  const scheme = str("signature_scheme");
  if (!scheme.startsWith("hmac-")) {
    throw new ConnectionFileError(
      `Unsupported signature_scheme ${JSON.stringify(scheme)} in ${source}`,
      [source],
      { cause: new UnsupportedSchemeError(scheme) },
    );
  }
  const iface = str("interface");
  if (!/^[a-z][a-z0-9+.-]*:\/\/./i.test(iface)) {
    fail(`"interface" must look like tcp://ip, got ${JSON.stringify(iface)}`);
  }
  const curve = d.curve_serverkey;
  if (curve !== undefined && curve !== null && typeof curve !== "string") {
    fail('"curve_serverkey" must be a string or null');
  }
  const location = d.location;
  if (location !== undefined && location !== null && typeof location !== "string") {
    fail('"location" must be a string or null');
  }
  const base: ConnectionInfoBase = {
    ssh: str("ssh", ""),
    interface: iface,
    registration: port("registration"),
    control: port("control"),
    mux: port("mux"),
    task: port("task"),
    iopub: port("iopub"),
    key: str("key"),
    curve_serverkey: (curve ?? null) as string | null,
    location: (location ?? null) as string | null,
    pack: "json",
    unpack: "json",
    signature_scheme: scheme,
  };
  if (kind === "client") {
    if (Array.isArray(d.broadcast)) {
      fail('"broadcast" is a list: this is an engine file, not a client file');
    }
    const info: ClientConnectionInfo = {
      ...base,
      task_scheme: str("task_scheme"),
      notification: port("notification"),
      broadcast: port("broadcast"),
    };
    return ordered(info, CLIENT_KEYS) as ConnectionInfoOf<K>;
  }
  if (!Array.isArray(d.broadcast) || d.broadcast.length === 0) {
    fail(
      typeof d.broadcast === "number"
        ? '"broadcast" is one port: this is a client file, not an engine file'
        : '"broadcast" must be a non-empty list of ports',
    );
  }
  const info: EngineConnectionInfo = {
    ...base,
    hb_ping: port("hb_ping"),
    hb_pong: port("hb_pong"),
    broadcast: (d.broadcast as unknown[]).map((p, i) => port(`broadcast[${i}]`, p)),
  };
  return ordered(info, ENGINE_KEYS) as ConnectionInfoOf<K>;
}

function ordered<T extends object>(info: T, keys: readonly string[]): T {
  const out: Record<string, unknown> = {};
  for (const k of keys) out[k] = (info as Record<string, unknown>)[k];
  return out as T;
}
