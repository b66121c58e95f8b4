/**
 * The same-host direct path: our extension of the protocol, spoken only between our
 * controller, our engines and our client (PROTOCOL.md has no such thing; ipyparallel's peers
 * never see any of it).
 *
 * A direct-view request normally travels client → controller (MUX) → engine and its reply
 * back the same way: four hops. An engine of ours that registered with a Hub of ours also
 * listens on a loopback port and, where it can, a Unix socket; a client of ours on the same
 * host sends its direct-view requests there and gets the replies straight back (two hops),
 * over the Unix socket when it may use it. The Hub still records every such task:
 * the engine sends it copies of the requests and replies it served that way, in batches
 * (`direct_records`). A client that asks the Hub something names, per engine, the last request
 * it sent and the last reply it received straight (`direct_sync`); the Hub asks those engines
 * for their records at once (`direct_flush`) and answers once it has recorded those, so queue
 * status, task records and results read to that client as if every task had gone through the
 * Hub. (Another client may ask early: unasked, records wait at most `RECORD_FLUSH_MS` in the
 * engine.)
 * The records also make the path safe against a connection that drops while both ends live:
 * the client fetches the replies it lost from the Hub (`src/client/direct_recovery.ts`).
 *
 * | where | key or message | shape |
 * | --- | --- | --- |
 * | `registration_reply` content | {@linkcode DIRECT_OFFER} | the Hub takes `direct_*` messages: the size from which buffers are left out of records (0: none is) |
 * | engine → Hub, registration socket | {@linkcode DIRECT_ADDRESS} | {@linkcode DirectAddress} |
 * | Hub → engine, to the socket `direct_address` came from | {@linkcode DIRECT_FLUSH} | `{}`: send the records now |
 * | engine → Hub, registration socket | {@linkcode DIRECT_RECORDS} | {@linkcode DirectRecordsContent}; buffers: the records (layout in `direct_records.ts`), then any large part carried on its own |
 * | `connection_reply` content | {@linkcode DIRECT_OFFER} | `{[engine uuid]: DirectAddress}` |
 * | `registration_notification` content | {@linkcode DIRECT_OFFER} | {@linkcode DirectAddress} |
 * | client → Hub, any query's content | {@linkcode DIRECT_SYNC} | `{[engine uuid]: [request msg_id or "", reply's msg_id or ""]}` |
 *
 * @module
 */

import { granted } from "../../permissions.ts";
import { splitIpcAvailable, splitWritePath } from "../../zmtp/split_ipc.ts";

/** Key of the offer (`registration_reply`) and of engine addresses (Hub → clients). */
export const DIRECT_OFFER = "direct";
/** Engine → Hub: where the engine listens for direct requests. */
export const DIRECT_ADDRESS = "direct_address";
/** Engine → Hub: copies of requests and replies served on the direct path. */
export const DIRECT_RECORDS = "direct_records";
/** Hub → engine: send the records kept so far now (a query waits for them). */
export const DIRECT_FLUSH = "direct_flush";
/** Client → Hub, in a query's content: the last request sent and reply received straight, per engine. */
export const DIRECT_SYNC = "direct_sync";

/** Where an engine listens for direct requests, and which host that address is good on. */
export interface DirectAddress {
  /** The engine's uuid (only in {@linkcode DIRECT_ADDRESS}). */
  uuid?: string;
  /** A loopback ZMTP endpoint, `tcp://127.0.0.1:<port>`. */
  url: string;
  /**
   * The same listener's Unix socket, `ipc://<path>`, when the engine could bind one: preferred
   * by a client that may read and write that path (a round trip of our ZMTP sockets took ~78 µs
   * over it against 92–123 over loopback TCP here).
   */
  ipc?: string;
  /**
   * The same listener's split Unix socket pair, `ipcs://<path>` (`src/zmtp/split_ipc.ts`), when
   * the engine could bind one: preferred over `ipc` by a client that may use it.
   */
  ipcs?: string;
  /** The engine host's identity ({@linkcode hostIdentity}): only a client with the same uses it. */
  host: string;
}

/**
 * Content of {@linkcode DIRECT_RECORDS}. The message's first buffer holds the records, in the
 * order the engine received the requests and sent the replies, in the layout of
 * `direct_records.ts` (each with its kind, whether its buffers were left out, and its parts:
 * header, parent header, metadata, content, then its buffers); a part too large to copy into it
 * is one of the buffers after it, in order.
 */
export interface DirectRecordsContent {
  /** The engine's uuid. */
  uuid: string;
  /** How many records the first buffer holds. */
  records: number;
}

let identity: string | null | undefined;

/**
 * This machine's identity for the direct path: host name and boot id, so that two containers
 * or VMs that share a host name do not take each other's loopback for their own.
 *
 * @returns The identity, or `null` when it cannot be read (no `--allow-sys`, Deno Deploy):
 *   then the direct path is not used.
 */
export function hostIdentity(): string | null {
  if (identity !== undefined) return identity;
  // Asked first: an unasked-for read or `Deno.hostname()` would prompt on a terminal.
  identity = null;
  if (!granted({ name: "sys", kind: "hostname" })) return identity;
  const bootFile = "/proc/sys/kernel/random/boot_id";
  let boot = "";
  if (granted({ name: "read", path: bootFile })) {
    try {
      boot = Deno.readTextFileSync(bootFile).trim();
    } catch {
      // Not Linux: the host name alone.
    }
  }
  try {
    identity = `${Deno.hostname()}/${boot}`;
  } catch {
    identity = null;
  }
  return identity;
}

/** Names of engines' Unix sockets ({@linkcode directIpcPath}); group 1 is the process id. */
export const DIRECT_IPC_NAME: RegExp = /^ipp-direct-(\d+)-[^/]+\.sock$/;

/**
 * Where an engine binds its Unix socket for the direct path: the temporary directory
 * (`$TMPDIR`, else `/tmp`), named by the engine's process id and uuid.
 *
 * @param uuid The engine's uuid.
 * @returns The path, or `null` when there is none to use: Windows, no permission to create it
 *   (asked without prompting), or a path too long for a socket address.
 */
export function directIpcPath(uuid: string): string | null {
  if (Deno.build.os === "windows") return null;
  let dir = "/tmp";
  if (granted({ name: "env", variable: "TMPDIR" })) dir = Deno.env.get("TMPDIR") || dir;
  const path = `${dir.replace(/\/+$/, "")}/ipp-direct-${Deno.pid}-${uuid}.sock`;
  // A socket address holds 104 bytes on macOS, 108 on Linux, with the terminating NUL.
  if (new TextEncoder().encode(path).length >= 104) return null;
  if (!granted({ name: "read", path }) || !granted({ name: "write", path })) return null;
  return path;
}

/**
 * Whether this process can reach an engine's Unix socket: the endpoint names a socket file this
 * process sees, may read and write (asked without prompting), and that belongs to this user
 * when the user id can be read. A client that cannot uses the engine's loopback port.
 *
 * @param endpoint The `ipc` of a {@linkcode DirectAddress}.
 * @returns Whether to connect to it.
 */
export function ipcUsable(endpoint: unknown): endpoint is string {
  if (typeof endpoint !== "string" || !endpoint.startsWith("ipc:///")) return false;
  return socketUsable(endpoint.slice("ipc://".length));
}

/**
 * Whether this process can reach an engine's split Unix socket pair: as {@linkcode ipcUsable}
 * for both of its files, and this process may use split IPC (FFI on Linux).
 *
 * @param endpoint The `ipcs` of a {@linkcode DirectAddress}.
 * @returns Whether to connect to it.
 */
export function ipcsUsable(endpoint: unknown): endpoint is string {
  if (typeof endpoint !== "string" || !endpoint.startsWith("ipcs:///")) return false;
  const path = endpoint.slice("ipcs://".length);
  return splitIpcAvailable() && socketUsable(path) && socketUsable(splitWritePath(path));
}

function socketUsable(path: string): boolean {
  if (Deno.build.os === "windows") return false;
  if (!granted({ name: "read", path }) || !granted({ name: "write", path })) return false;
  try {
    const info = Deno.statSync(path);
    if (!info.isSocket) return false;
    return !granted({ name: "sys", kind: "uid" }) || info.uid === Deno.uid();
  } catch {
    return false;
  }
}
