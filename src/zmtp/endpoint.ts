/**
 * ZeroMQ endpoint strings: `tcp://host:port` and `ipc://path`, parsed and opened with
 * `Deno.listen`/`Deno.connect`; and our own `ipcs://path`, one connection over two Unix sockets
 * each written by FFI (`split_ipc.ts`; only our peers speak it).
 *
 * @module
 */

import { EndpointError } from "../errors.ts";
import { dialSplit, SplitListener } from "./split_ipc.ts";

/** A parsed endpoint. */
export type Endpoint =
  | { transport: "tcp"; host: string; port: number }
  | { transport: "ipc" | "ipcs"; path: string };

/**
 * Parse an endpoint string.
 *
 * `tcp://*:port` (bind only) means every IPv4 interface; a port of `*` or `0` (bind only) picks
 * a free port. IPv6 hosts are written in brackets: `tcp://[::1]:5555`.
 *
 * @param endpoint The endpoint as given by the user.
 * @param forBind Whether it is for `bind` (wildcards allowed) rather than `connect`.
 * @returns The parsed endpoint.
 * @throws {EndpointError} On an unknown transport, a missing host or port, or a bad port.
 */
export function parseEndpoint(endpoint: string, forBind: boolean): Endpoint {
  const m = /^([a-z]+):\/\/(.*)$/.exec(endpoint);
  if (!m) {
    throw new EndpointError(
      endpoint,
      `Invalid endpoint ${JSON.stringify(endpoint)} (expected tcp://host:port or ipc://path)`,
    );
  }
  const [, transport, rest] = m;
  if (transport === "ipc" || transport === "ipcs") {
    if (rest === "" || rest.startsWith("@")) {
      throw new EndpointError(
        endpoint,
        `Unsupported ipc endpoint ${
          JSON.stringify(endpoint)
        } (give a file path; abstract sockets are not supported)`,
      );
    }
    return { transport, path: rest };
  }
  if (transport !== "tcp") {
    throw new EndpointError(
      endpoint,
      `Unsupported transport ${JSON.stringify(transport)} in ${
        JSON.stringify(endpoint)
      } (use tcp:// or ipc://)`,
    );
  }
  const colon = rest.lastIndexOf(":");
  if (colon <= 0) {
    throw new EndpointError(endpoint, `Missing host or port in ${JSON.stringify(endpoint)}`);
  }
  let host = rest.slice(0, colon);
  const portText = rest.slice(colon + 1);
  if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1);
  if (host === "*") {
    if (!forBind) {
      throw new EndpointError(endpoint, `Cannot connect to wildcard host in ${endpoint}`);
    }
    host = "0.0.0.0";
  }
  let port: number;
  if (portText === "*" || portText === "0") {
    if (!forBind) throw new EndpointError(endpoint, `Cannot connect to port ${portText}`);
    port = 0;
  } else if (/^[0-9]{1,5}$/.test(portText) && Number(portText) <= 65535 && Number(portText) > 0) {
    port = Number(portText);
  } else {
    throw new EndpointError(endpoint, `Invalid port ${JSON.stringify(portText)} in ${endpoint}`);
  }
  if (host === "") throw new EndpointError(endpoint, `Missing host in ${endpoint}`);
  return { transport: "tcp", host, port };
}

/** Format a TCP address as an endpoint string (IPv6 hosts in brackets). */
export function formatTcp(host: string, port: number): string {
  return host.includes(":") ? `tcp://[${host}]:${port}` : `tcp://${host}:${port}`;
}

/** Human-readable label of a connection's remote side, for log messages. */
export function describeAddr(addr: Deno.Addr, fallback: string): string {
  if (addr.transport === "tcp" || addr.transport === "udp") {
    return formatTcp(addr.hostname, addr.port);
  }
  if (addr.transport === "unix" || addr.transport === "unixpacket") {
    return addr.path ? `ipc://${addr.path}` : fallback;
  }
  return fallback;
}

/** Open a stream connection to a parsed endpoint. */
export function dial(ep: Endpoint): Promise<Deno.Conn> {
  if (ep.transport === "tcp") return Deno.connect({ hostname: ep.host, port: ep.port });
  if (ep.transport === "ipcs") return dialSplit(ep.path) as Promise<unknown> as Promise<Deno.Conn>;
  return Deno.connect({ transport: "unix", path: ep.path });
}

/** A listener and the endpoint it really listens on. */
export interface Bound {
  /** The listener. */
  listener: Deno.Listener;
  /** The resolved endpoint (real port, never 0). */
  endpoint: string;
  /** For ipc: the socket files to remove on close. */
  paths?: string[];
}

/**
 * Listen on a parsed endpoint. For ipc, a stale socket file at the path is removed first, as
 * libzmq does.
 * @throws {EndpointError} When the address cannot be bound.
 */
export function listen(ep: Endpoint, given: string): Bound {
  try {
    if (ep.transport === "tcp") {
      const listener = Deno.listen({ hostname: ep.host, port: ep.port });
      const a = listener.addr as Deno.NetAddr;
      return { listener, endpoint: formatTcp(ep.host, a.port) };
    }
    try {
      Deno.removeSync(ep.path);
    } catch {
      // nothing to remove
    }
    if (ep.transport === "ipcs") {
      const split = new SplitListener(ep.path);
      const listener = split as unknown as Deno.Listener;
      return { listener, endpoint: `ipcs://${ep.path}`, paths: split.paths };
    }
    const listener = Deno.listen({ transport: "unix", path: ep.path });
    return { listener, endpoint: `ipc://${ep.path}`, paths: [ep.path] };
  } catch (e) {
    const err = new EndpointError(given, `Cannot bind ${given}: ${(e as Error).message}`);
    (err as { cause?: unknown }).cause = e;
    throw err;
  }
}
