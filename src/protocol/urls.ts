/**
 * ZeroMQ URLs of the controller's channels: `interface` + port, with `0.0.0.0`/`*`
 * disambiguated against the file's `location` (PROTOCOL.md §2.4).
 *
 * @module
 */

import { lookup } from "node:dns/promises";
import { hostname as osHostname, networkInterfaces } from "node:os";
import type { ClientConnectionInfo, EngineConnectionInfo } from "./connection_info.ts";

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
