/**
 * The controller's sockets and connection files (PROTOCOL.md §2, §3.1, §3.4): binding every
 * channel with unlimited high-water marks (on the ports of existing files with `--reuse`), and
 * building the client and engine connection info and the `connection_info` of registration
 * replies from the bound ports.
 *
 * @module
 */

import { createSocket, type Socket, type SocketType } from "../zmtp/mod.ts";
import {
  type ClientConnectionInfo,
  type EngineConnectionInfo,
  readConnectionFile,
} from "../protocol/connection.ts";
import { InvalidOptionError } from "../errors.ts";
import type { JsonObject } from "./db/types.ts";
import type { Logger } from "./logger.ts";

/** Bound ports, as written in the connection files. */
export interface ControllerPorts {
  /** Query/registration ROUTER. */
  registration: number;
  /** Notification PUB. */
  notification: number;
  /** MUX client side / engine side. */
  mux: [number, number];
  /** Control client side / engine side. */
  control: [number, number];
  /** Task client side / engine side. */
  task: [number, number];
  /** IOPub client-side PUB / engine-side SUB. */
  iopub: [number, number];
  /** Broadcast root. */
  broadcast: number;
  /** Broadcast leaves (engine side). */
  broadcastLeaves: number[];
  /** Heartbeat PUB. */
  hbPing: number;
  /** Heartbeat ROUTER. */
  hbPong: number;
}

/** A bound socket and its port. */
export interface BoundSocket {
  /** The socket. */
  socket: Socket;
  /** The port it is bound on. */
  port: number;
}

/** Every socket of the controller (§3.1), bound. */
export interface ControllerSockets {
  /** Hub query/registration ROUTER. */
  query: BoundSocket;
  /** Hub notification PUB. */
  notification: BoundSocket;
  /** MUX client side (`mux_in`). */
  muxIn: BoundSocket;
  /** MUX engine side (`mux_out`). */
  muxOut: BoundSocket;
  /** Control client side. */
  ctlIn: BoundSocket;
  /** Control engine side. */
  ctlOut: BoundSocket;
  /** Task client side. */
  taskIn: BoundSocket;
  /** Task engine side (a DEALER with the `pure` scheme). */
  taskOut: BoundSocket;
  /** IOPub client-side PUB. */
  iopubOut: BoundSocket;
  /** IOPub engine-side SUB. */
  iopubIn: BoundSocket;
  /** Broadcast root ROUTER. */
  bcRoot: BoundSocket;
  /** Broadcast leaf ROUTERs. */
  leaves: BoundSocket[];
  /** Heartbeat PUB. */
  hbPing: BoundSocket;
  /** Heartbeat ROUTER. */
  hbPong: BoundSocket;
  /** All of them, for closing. */
  all: Socket[];
}

/** Existing connection files, for `--reuse`. */
export interface ReusedFiles {
  /** The client file. */
  client: ClientConnectionInfo;
  /** The engine file. */
  engine: EngineConnectionInfo;
}

/**
 * Reads both connection files for `--reuse` (§2.1).
 *
 * @param files Their paths.
 * @returns Their content, or null when they are missing or unreadable (start fresh).
 * @throws {InvalidOptionError} When key, registration, pack, unpack or signature scheme differ.
 */
export async function readReusable(
  files: { client: string; engine: string },
): Promise<ReusedFiles | null> {
  let reused: ReusedFiles;
  try {
    reused = {
      client: await readConnectionFile(files.client, "client"),
      engine: await readConnectionFile(files.engine, "engine"),
    };
  } catch {
    return null; // nothing to reuse yet: fresh files, kept on exit
  }
  for (const k of ["key", "registration", "pack", "unpack", "signature_scheme"] as const) {
    if (reused.client[k] !== reused.engine[k]) {
      throw new InvalidOptionError(
        "reuse",
        `--reuse: ${k} differs between ${files.client} and ${files.engine} ` +
          "(remove both files to start fresh)",
      );
    }
  }
  return reused;
}

function portOf(endpoint: string): number {
  return Number(endpoint.slice(endpoint.lastIndexOf(":") + 1));
}

/**
 * Binds every controller socket on `ip` (port 0 = any free port, or the reused file's port),
 * with unlimited high-water marks (§3.1). Python's socket identities are kept (`mux_in`,
 * `task_out`, `sub_scheduler_0x`…): engines see them as routing frames.
 *
 * @param o Interface, task scheme, leaf count, reused files, logger.
 * @returns The bound sockets; on failure every socket opened so far is closed.
 */
export async function bindSockets(o: {
  ip: string;
  scheme: string;
  leaves: number;
  reused: ReusedFiles | null;
  logger: Logger;
}): Promise<ControllerSockets> {
  const all: Socket[] = [];
  const bindIp = o.ip === "0.0.0.0" ? "*" : o.ip;
  const make = async (type: SocketType, port = 0, identity?: string): Promise<BoundSocket> => {
    const s = createSocket(type, {
      sendHwm: 0,
      receiveHwm: 0,
      identity,
      onProtocolError: (reason, peer) => o.logger.debug(`zmtp: dropped ${peer}: ${reason}`),
    });
    all.push(s);
    return { socket: s, port: portOf(await s.bind(`tcp://${bindIp}:${port}`)) };
  };
  try {
    const rc = o.reused?.client;
    const re = o.reused?.engine;
    const query = await make("ROUTER", rc?.registration);
    const notification = await make("PUB", rc?.notification);
    const muxIn = await make("ROUTER", rc?.mux, "mux_in");
    const muxOut = await make("ROUTER", re?.mux, "mux_out");
    const ctlIn = await make("ROUTER", rc?.control, "control_in");
    const ctlOut = await make("ROUTER", re?.control, "control_out");
    const taskIn = await make("ROUTER", rc?.task, "task_in");
    const taskOut = await make(o.scheme === "pure" ? "DEALER" : "ROUTER", re?.task, "task_out");
    const iopubOut = await make("PUB", rc?.iopub);
    const iopubIn = await make("SUB", re?.iopub);
    const bcRoot = await make("ROUTER", rc?.broadcast, "sub_scheduler_0");
    const leaves: BoundSocket[] = [];
    const leafPorts = re?.broadcast.length === o.leaves ? re.broadcast : [];
    for (let i = 0; i < o.leaves; i++) {
      leaves.push(await make("ROUTER", leafPorts[i], `sub_scheduler_0${i}`));
    }
    const hbPing = await make("PUB", re?.hb_ping);
    const hbPong = await make("ROUTER", re?.hb_pong);
    return {
      query,
      notification,
      muxIn,
      muxOut,
      ctlIn,
      ctlOut,
      taskIn,
      taskOut,
      iopubOut,
      iopubIn,
      bcRoot,
      leaves,
      hbPing,
      hbPong,
      all,
    };
  } catch (err) {
    await Promise.all(all.map((s) => s.close()));
    throw err;
  }
}

const PORT_KEYS = ["registration", "control", "mux", "task", "iopub"] as const;

/**
 * The connection files' content (§2.2, §2.3) and the registration reply's `connection_info`
 * (§4.1) for bound sockets.
 *
 * @param b The bound sockets.
 * @param o Interface URL prefix (`tcp://ip`), key, location and task scheme.
 * @returns Client info, engine info, `connection_info` and the ports.
 */
export function connectionInfos(
  b: ControllerSockets,
  o: { iface: string; key: string; location: string; scheme: string },
): {
  clientInfo: ClientConnectionInfo;
  engineInfo: EngineConnectionInfo;
  connectionInfo: JsonObject;
  ports: ControllerPorts;
} {
  const common = {
    ssh: "",
    interface: o.iface,
    key: o.key,
    curve_serverkey: null,
    location: o.location,
    pack: "json" as const,
    unpack: "json" as const,
    signature_scheme: "hmac-sha256",
  };
  const engineInfo: EngineConnectionInfo = {
    ...common,
    registration: b.query.port,
    control: b.ctlOut.port,
    mux: b.muxOut.port,
    task: b.taskOut.port,
    iopub: b.iopubIn.port,
    hb_ping: b.hbPing.port,
    hb_pong: b.hbPong.port,
    broadcast: b.leaves.map((l) => l.port),
  };
  const clientInfo: ClientConnectionInfo = {
    ...common,
    registration: b.query.port,
    control: b.ctlIn.port,
    mux: b.muxIn.port,
    task: b.taskIn.port,
    task_scheme: o.scheme,
    iopub: b.iopubOut.port,
    notification: b.notification.port,
    broadcast: b.bcRoot.port,
  };
  // Ordered like Python's ipcontroller-engine.json.
  const connectionInfo: JsonObject = { interface: o.iface };
  for (const k of PORT_KEYS) connectionInfo[k] = engineInfo[k];
  connectionInfo.hb_ping = engineInfo.hb_ping;
  connectionInfo.hb_pong = engineInfo.hb_pong;
  connectionInfo.broadcast = engineInfo.broadcast;
  const ports: ControllerPorts = {
    registration: b.query.port,
    notification: b.notification.port,
    mux: [b.muxIn.port, b.muxOut.port],
    control: [b.ctlIn.port, b.ctlOut.port],
    task: [b.taskIn.port, b.taskOut.port],
    iopub: [b.iopubOut.port, b.iopubIn.port],
    broadcast: b.bcRoot.port,
    broadcastLeaves: b.leaves.map((l) => l.port),
    hbPing: b.hbPing.port,
    hbPong: b.hbPong.port,
  };
  return { clientInfo, engineInfo, connectionInfo, ports };
}
