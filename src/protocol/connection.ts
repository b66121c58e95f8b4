/**
 * Connection files (`ipcontroller[-<cluster_id>]-client.json` and `-engine.json`) and
 * IPython profile folders, as ipyparallel 7.1 reads and writes them (PROTOCOL.md §2).
 *
 * - {@linkcode findConnectionFile} locates and waits for a file the way `ipp.Client` and
 *   `ipengine` do: `$IPYTHONDIR` (else `~/.ipython`) / `profile_<name>` / `security/`.
 * - {@linkcode readConnectionFile} / {@linkcode parseConnectionInfo} validate every key
 *   (`pack`/`unpack` must be `"json"`; `broadcast` is one port in the client file and a list
 *   of ports in the engine file).
 * - {@linkcode writeConnectionFile} writes 2-space JSON with mode 0600, atomically.
 * - {@linkcode connectionUrls} turns `interface` + ports into ZeroMQ URLs (§2.4).
 *
 * @module
 */

import { lookup } from "node:dns/promises";
import { homedir, hostname as osHostname, networkInterfaces } from "node:os";
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

// ---------------------------------------------------------------------------
// Profile folders and file names
// ---------------------------------------------------------------------------

function expandUser(p: string): string {
  return p === "~" || p.startsWith("~/") ? home() + p.slice(1) : p;
}

function home(): string {
  return Deno.env.get("HOME") ?? Deno.env.get("USERPROFILE") ?? homedir();
}

function normalize(p: string): string {
  const abs = p.startsWith("/");
  const parts: string[] = [];
  for (const s of p.split("/")) {
    if (s === "" || s === ".") continue;
    if (s === ".." && parts.length && parts[parts.length - 1] !== "..") parts.pop();
    else if (s !== ".." || !abs) parts.push(s);
  }
  return (abs ? "/" : "") + parts.join("/") || (abs ? "/" : ".");
}

/**
 * The IPython directory, as `IPython.paths.get_ipython_dir` finds it: `$IPYTHONDIR`,
 * else the deprecated `$IPYTHON_DIR`, else `~/.ipython`.
 *
 * @returns An absolute or `~`-expanded, normalized path (not created).
 */
export function ipythonDir(): string {
  const env = Deno.env.get("IPYTHONDIR") ?? Deno.env.get("IPYTHON_DIR");
  return normalize(expandUser(env ?? `${home()}/.ipython`));
}

/** Where to look: a profile by name, or an explicit folder. */
export interface ProfileOptions {
  /** Profile name (default `"default"`); the folder is `<ipythonDir>/profile_<name>`. */
  profile?: string;
  /** Explicit profile folder; wins over `profile`. */
  profileDir?: string;
  /** IPython directory; default {@linkcode ipythonDir}(). */
  ipythonDir?: string;
}

/**
 * The profile folder: `profileDir` if given, else `<ipythonDir>/profile_<profile>`.
 *
 * @param options Profile selection.
 * @returns The folder path (not created).
 */
export function profileDir(options: ProfileOptions = {}): string {
  if (options.profileDir) return normalize(expandUser(options.profileDir));
  const base = options.ipythonDir ? normalize(expandUser(options.ipythonDir)) : ipythonDir();
  return `${base}/profile_${options.profile ?? "default"}`;
}

/**
 * The `security/` folder of a profile, where connection files live.
 *
 * @param options Profile selection.
 * @returns The folder path (not created).
 */
export function securityDir(options: ProfileOptions = {}): string {
  return `${profileDir(options)}/security`;
}

/**
 * `ipcontroller-client.json`, or `ipcontroller-<clusterId>-client.json` with a cluster id.
 *
 * @param kind `"client"` or `"engine"`.
 * @param clusterId Cluster id; empty or undefined means none.
 * @returns The file name.
 */
export function connectionFileName(kind: ConnectionKind, clusterId?: string): string {
  return clusterId ? `ipcontroller-${clusterId}-${kind}.json` : `ipcontroller-${kind}.json`;
}

/** Where a connection file is, by explicit path or by profile and cluster id. */
export interface ConnectionFileOptions extends ProfileOptions {
  /** Which file. */
  kind: ConnectionKind;
  /** Cluster id (`ipcontroller-<id>-<kind>.json`). */
  clusterId?: string;
  /** Explicit file path; wins over everything else. */
  file?: string;
}

/**
 * The path of a connection file.
 *
 * @param options File selection.
 * @returns `file`, or `<profile>/security/<name>`.
 */
export function connectionFilePath(options: ConnectionFileOptions): string {
  if (options.file) return normalize(expandUser(options.file));
  return `${securityDir(options)}/${connectionFileName(options.kind, options.clusterId)}`;
}

// ---------------------------------------------------------------------------
// Reading, writing, finding
// ---------------------------------------------------------------------------

/**
 * Read and validate a connection file.
 *
 * @param path The file.
 * @param kind `"client"` or `"engine"`.
 * @returns The validated info.
 * @throws {ConnectionFileError} when missing, unreadable, not JSON, or invalid.
 */
export async function readConnectionFile<K extends ConnectionKind>(
  path: string,
  kind: K,
): Promise<ConnectionInfoOf<K>> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    const missing = e instanceof Deno.errors.NotFound;
    throw new ConnectionFileError(
      missing
        ? `Connection file not found: ${path} (is the controller running? start one with \`ipp controller\` or \`ipcluster start\`)`
        : `Cannot read connection file ${path}: ${(e as Error).message}`,
      [path],
      { cause: e },
    );
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new ConnectionFileError(
      `Connection file ${path} is not valid JSON: ${(e as Error).message}`,
      [path],
      {
        cause: e,
      },
    );
  }
  return parseConnectionInfo(kind, data, path);
}

/**
 * Write a connection file as ipcontroller does — 2-space JSON in ipcontroller's key order,
 * mode 0600 — but atomically (temporary file in the same folder, then rename), so a reader
 * polling for it never sees half a file. Creates the folder (mode 0700) if needed.
 *
 * @param path Destination.
 * @param info The info; validated first.
 * @throws {ConnectionFileError} when `info` is invalid or the file cannot be written.
 */
export async function writeConnectionFile(
  path: string,
  info: ClientConnectionInfo | EngineConnectionInfo,
): Promise<void> {
  const kind: ConnectionKind = Array.isArray(info.broadcast) ? "engine" : "client";
  const valid = parseConnectionInfo(kind, info, path);
  const slash = path.lastIndexOf("/");
  const dir = slash > 0 ? path.slice(0, slash) : slash === 0 ? "/" : ".";
  const tmp = `${dir}/.${path.slice(slash + 1)}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  try {
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    await Deno.writeTextFile(tmp, JSON.stringify(valid, null, 2), { mode: 0o600, createNew: true });
    await Deno.chmod(tmp, 0o600);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw new ConnectionFileError(`Cannot write connection file ${path}: ${(e as Error).message}`, [
      path,
    ], {
      cause: e,
    });
  }
}

/** Options of {@linkcode findConnectionFile}. */
export interface FindConnectionFileOptions extends ConnectionFileOptions {
  /** How long to wait for the file to appear, in ms; `undefined` = no limit, `0` = look once. */
  timeoutMs?: number;
  /** Poll interval in ms (default 100). */
  pollMs?: number;
  /** Cancels the wait (rejects with the signal's reason). */
  signal?: AbortSignal;
}

/**
 * Find, wait for, read and validate a connection file (PROTOCOL.md §2.1). Waits up to
 * `timeoutMs` for the file to appear and to parse (Python's controller writes it in place,
 * so a half-written file is retried until the deadline).
 *
 * @param options Which file, and how long to wait.
 * @returns The path and the validated info.
 * @throws {ConnectionFileError} when it never appears (the message names every path tried,
 *   files for other cluster ids found nearby, and what to run) or is invalid.
 * @throws {RangeError} for a negative `timeoutMs`.
 * @example
 * ```ts ignore
 * import { findConnectionFile } from "./connection.ts";
 * const { path, info } = await findConnectionFile({ kind: "client", clusterId: "abc", timeoutMs: 10_000 });
 * ```
 */
export async function findConnectionFile<K extends ConnectionKind>(
  options: FindConnectionFileOptions & { kind: K },
): Promise<{ path: string; info: ConnectionInfoOf<K> }> {
  const { timeoutMs, pollMs = 100, signal } = options;
  if (timeoutMs !== undefined && !(timeoutMs >= 0)) {
    throw new RangeError(`timeoutMs must be >= 0, got ${timeoutMs}`);
  }
  const path = connectionFilePath(options);
  const tried = [path];
  const deadline = timeoutMs === undefined ? Infinity : Date.now() + timeoutMs;
  let lastError: ConnectionFileError | undefined;
  while (true) {
    signal?.throwIfAborted();
    try {
      return { path, info: await readConnectionFile(path, options.kind) };
    } catch (e) {
      if (!(e instanceof ConnectionFileError)) throw e;
      lastError = e;
    }
    const left = deadline - Date.now();
    if (left <= 0) break;
    await sleep(Math.min(pollMs, left), signal);
  }
  if (await exists(path)) throw lastError;
  const hint = options.file ? "" : await otherClusters(options);
  const waited = timeoutMs ? ` after waiting ${timeoutMs} ms` : "";
  throw new ConnectionFileError(
    `Connection file not found${waited}; tried: ${tried.join(", ")}. ` +
      "Is the controller running? Start one with `ipp controller` or `ipcluster start`" +
      (options.clusterId ? ` (with --cluster-id=${options.clusterId})` : "") +
      (options.profileDir || options.file ? "" : `, or pass profile/profileDir/ipythonDir`) + "." +
      hint,
    tried,
    { cause: lastError },
  );
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

async function otherClusters(options: ConnectionFileOptions): Promise<string> {
  const dir = securityDir(options);
  const suffix = `-${options.kind}.json`;
  const found: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      if (e.name.startsWith("ipcontroller") && e.name.endsWith(suffix)) found.push(e.name);
    }
  } catch {
    return "";
  }
  if (!found.length) return "";
  const ids = found.sort().map((n) =>
    n === `ipcontroller${suffix}` ? "(none)" : n.slice(13, -suffix.length)
  );
  return ` Found in ${dir}: ${found.join(", ")} (cluster ids: ${ids.join(", ")}).`;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

// ---------------------------------------------------------------------------
// Keys and URLs
// ---------------------------------------------------------------------------

/**
 * A new HMAC key in the default format of `jupyter_client.session.new_id`:
 * 8 hex digits, `-`, 24 hex digits (16 random bytes).
 *
 * @returns e.g. `"1a2b3c4d-5e6f708192a3b4c5d6e7f809"`.
 */
export function newKey(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8)}`;
}

/**
 * Join an interface and a port as the controller binds them: `tcp://ip:port`, but
 * `ipc://path-port` for IPC (PROTOCOL.md §2.4; `IPController.construct_url`).
 *
 * @param iface `transport://address`.
 * @param port Port number.
 * @returns The URL.
 */
export function channelUrl(iface: string, port: number): string {
  const transport = iface.slice(0, iface.indexOf("://"));
  return `${iface}${transport === "ipc" ? "-" : ":"}${port}`;
}

/** Injectable host facts for {@linkcode disambiguateIp} (tests). */
export interface HostFacts {
  /** This machine's hostname (default `os.hostname()`). */
  hostname?: string;
  /** This machine's IP addresses (default: every interface address). */
  localIps?: string[];
  /** Resolve a hostname to an IP (default `dns.lookup`); `undefined` when unknown. */
  resolve?: (host: string) => Promise<string | undefined>;
}

/**
 * Turn `0.0.0.0` / `*` into a connectable address, as `ipyparallel.util.disambiguate_ip_address`:
 * no location → `127.0.0.1`; location is this host's name or one of its IPs → `127.0.0.1`;
 * otherwise the location's IP (or the location itself when it does not resolve). Other
 * addresses are returned unchanged.
 *
 * @param ip The interface address.
 * @param location The file's `location`.
 * @param facts Host facts (for tests).
 * @returns The address to connect to.
 */
export async function disambiguateIp(
  ip: string,
  location?: string | null,
  facts: HostFacts = {},
): Promise<string> {
  if (ip !== "0.0.0.0" && ip !== "*") return ip;
  if (!location) return "127.0.0.1";
  const hostname = facts.hostname ?? osHostname();
  if (location === hostname) return "127.0.0.1";
  const resolve = facts.resolve ?? (async (h: string) => {
    try {
      return (await lookup(h, { family: 4 })).address;
    } catch {
      return undefined;
    }
  });
  const locIp = /^\d+\.\d+\.\d+\.\d+$/.test(location)
    ? location
    : (await resolve(location)) ?? location;
  const local = facts.localIps ?? localIps();
  return local.includes(locIp) ? "127.0.0.1" : locIp;
}

function localIps(): string[] {
  const out = ["127.0.0.1"];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) out.push(a.address);
  }
  return out;
}

/** Channel URLs of a client file. */
export interface ClientUrls {
  /** Hub query / registration. */
  registration: string;
  /** Control relay. */
  control: string;
  /** MUX relay. */
  mux: string;
  /** Task scheduler. */
  task: string;
  /** IOPub relay. */
  iopub: string;
  /** Hub notifications. */
  notification: string;
  /** Root broadcast scheduler. */
  broadcast: string;
}

/** Channel URLs of an engine file. */
export interface EngineUrls {
  /** Hub registration. */
  registration: string;
  /** Control relay. */
  control: string;
  /** MUX relay. */
  mux: string;
  /** Task scheduler. */
  task: string;
  /** IOPub relay. */
  iopub: string;
  /** Heartbeat PUB. */
  hb_ping: string;
  /** Heartbeat ROUTER. */
  hb_pong: string;
  /** Leaf broadcast schedulers. */
  broadcast: string[];
}

/**
 * Every channel URL of a connection file, with `0.0.0.0`/`*` disambiguated against
 * `location` (PROTOCOL.md §2.4).
 *
 * @param info A validated connection file.
 * @param options `location` overrides the file's (engines' `--location`); `facts` for tests.
 * @returns URLs by channel (`broadcast` is a list for engine files).
 * @example
 * ```ts
 * import { connectionUrls } from "./connection.ts";
 * // const urls = await connectionUrls(info); urls.registration === "tcp://127.0.0.1:37609"
 * ```
 */
export async function connectionUrls<I extends ClientConnectionInfo | EngineConnectionInfo>(
  info: I,
  options: { location?: string | null; facts?: HostFacts } = {},
): Promise<I extends EngineConnectionInfo ? EngineUrls : ClientUrls> {
  const sep = info.interface.indexOf("://");
  const transport = info.interface.slice(0, sep);
  let addr = info.interface.slice(sep + 3);
  if (transport === "tcp") {
    addr = await disambiguateIp(
      addr,
      options.location !== undefined ? options.location : info.location,
      options.facts,
    );
  }
  const iface = `${transport}://${addr}`;
  const out: Record<string, string | string[]> = {};
  const keys = Array.isArray(info.broadcast)
    ? ["registration", "control", "mux", "task", "iopub", "hb_ping", "hb_pong"]
    : ["registration", "control", "mux", "task", "iopub", "notification", "broadcast"];
  for (const k of keys) out[k] = channelUrl(iface, (info as unknown as Record<string, number>)[k]);
  if (Array.isArray(info.broadcast)) {
    out.broadcast = info.broadcast.map((p) => channelUrl(iface, p));
  }
  return out as unknown as I extends EngineConnectionInfo ? EngineUrls : ClientUrls;
}
