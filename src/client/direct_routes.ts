/**
 * The client's end of the same-host direct path (`src/protocol/messages/direct.ts`): which
 * engines it reaches straight, over one ROUTER connected to each engine's Unix socket when it
 * can reach it (`ipcUsable`), else its loopback port.
 *
 * A direct-view request to an engine that offered an address on this host goes straight to it
 * once the connection is up. Requests to one engine keep their order: the client switches an
 * engine from one path to the other only when nothing it sent that engine on the other path is
 * still unanswered. The last request sent and the last reply received straight, per engine,
 * are what the next Hub query asks the Hub to have recorded first (`direct_sync`).
 *
 * A connection to an engine can drop while both processes live (a transport failure, a protocol
 * error): requests and replies on the wire are then lost, and replies to what the engine had
 * read go nowhere. The msg_ids sent straight and not answered are handed to `lost` (the
 * client fetches those results from the Hub, which the engine still sends its records to:
 * `direct_recovery.ts`); the next Hub query waits for the last of them to be recorded. The
 * connection is made again, and what is sent meanwhile waits for it.
 *
 * @module
 */

import {
  type DirectAddress,
  hostIdentity,
  ipcsUsable,
  ipcUsable,
} from "../protocol/messages/direct.ts";
import { createSocket, type Frames, type Socket } from "../zmtp/mod.ts";
import { GatherPlacement } from "./gather_placement.ts";

/** Per engine: its address, unanswered requests per path, and the path in use. */
interface Route {
  url: string;
  viaMux: number;
  /** msg_ids of the requests sent straight and not answered. */
  sent: Set<string>;
  direct: boolean;
}

/** Options of {@linkcode DirectRoutes}. */
export interface DirectRoutesOptions {
  /** Starts reading the ROUTER, once it exists. */
  read: (socket: Socket) => void;
  /** Where trouble is reported. */
  warn: (message: string) => void;
  /**
   * An engine's connection dropped with these requests sent straight and not answered (in the
   * order sent).
   */
  lost?: (uuid: string, msgIds: string[]) => void;
  /**
   * Ask the Hub for the engines' addresses again: an engine was announced without one (ours
   * send theirs once registered, and a busy machine can delay it past the announcement).
   */
  lookAgain?: () => void;
}

/** When to ask again for an address not yet known: 1, 2, then 4 s after the announcement. */
const LOOK_AGAIN_MS = 1000;
const LOOK_AGAIN_TRIES = 3;

const decoder = new TextDecoder();

/** Routes MUX requests straight to same-host engines where it keeps their order. */
export class DirectRoutes {
  readonly #o: DirectRoutesOptions;
  readonly #routes = new Map<string, Route>();
  /** Per engine: the last request sent straight and the last reply received straight. */
  readonly #last = new Map<string, [request: string, reply: string]>();
  /** Gathers whose parts go straight into one array (`gather_placement.ts`). */
  readonly #placement = new GatherPlacement();
  #socket: Socket | undefined;
  #lookAgain: ReturnType<typeof setTimeout> | undefined;
  #closing = false;

  /** @param options Reader and logger. */
  constructor(options: DirectRoutesOptions) {
    this.#o = options;
  }

  /** Uuids of the engines requests currently go to straight. */
  get engines(): string[] {
    return [...this.#routes].filter(([, r]) => r.direct).map(([uuid]) => uuid);
  }

  /**
   * Where requests to an engine go when they go straight.
   * @param uuid The engine.
   * @returns Its Unix socket or loopback endpoint, or undefined when it is not on this host.
   */
  endpoint(uuid: string): string | undefined {
    return this.#routes.get(uuid)?.url;
  }

  /**
   * An engine's address from the Hub: connect to it when it is on this host. Announced without
   * one, the Hub is asked again (`lookAgain`) 1, 2 and 4 s later.
   * @param uuid The engine.
   * @param address What the Hub sent (checked here; `undefined`: none).
   */
  learn(uuid: string, address: unknown): void {
    const a = address as Partial<DirectAddress> | null;
    if (a === undefined) this.#askAgain(0);
    if (typeof a?.url !== "string" || typeof a.host !== "string") return;
    if (a.host !== hostIdentity() || !a.url.startsWith("tcp://127.0.0.1:")) return;
    const url = ipcsUsable(a.ipcs) ? a.ipcs : ipcUsable(a.ipc) ? a.ipc : a.url;
    const known = this.#routes.get(uuid);
    if (known?.url === url) return;
    if (known !== undefined) this.forget(uuid);
    this.#socket ??= this.#open();
    this.#socket.connect(url);
    this.#routes.set(uuid, { url, viaMux: 0, sent: new Set(), direct: false });
  }

  /**
   * The engine left: stop connecting to it.
   * @param uuid The engine.
   */
  forget(uuid: string): void {
    const r = this.#routes.get(uuid);
    if (r === undefined) return;
    this.#routes.delete(uuid);
    this.#last.delete(uuid);
    this.#socket?.disconnect(r.url);
  }

  /**
   * Sends a MUX request, straight when it can.
   * @param frames `[engine_uuid, DELIM, ...]`.
   * @param mux The MUX socket.
   * @param msgId The request's msg_id.
   * @returns Resolves when queued.
   */
  send(frames: Frames, mux: Socket, msgId: string): Promise<void> {
    if (this.#routes.size === 0) return mux.send(frames);
    const uuid = decoder.decode(frames[0]);
    const r = this.#routes.get(uuid);
    if (r === undefined) return mux.send(frames);
    const socket = this.#socket!;
    const up = socket.hasPeer?.(uuid) ?? false;
    // Connection gone: the controller's path from here (what went straight is lost with it).
    // Back straight only once every request sent through the controller is answered.
    if (r.direct && !up) r.direct = false;
    else if (!r.direct && up && r.viaMux === 0) r.direct = true;
    if (!r.direct) {
      r.viaMux++;
      return mux.send(frames);
    }
    r.sent.add(msgId);
    this.#mark(uuid, 0, msgId);
    return socket.send(frames).catch(() => {
      // The connection went in between (`mandatory`): the MUX still reaches the engine.
      r.sent.delete(msgId);
      r.viaMux++;
      r.direct = false;
      return mux.send(frames);
    });
  }

  /**
   * Counts a reply received from an engine.
   * @param engine The reply's first frame (the engine uuid).
   * @param direct Whether it came straight.
   * @param parentId Its request's msg_id, when known.
   */
  replied(engine: Uint8Array, direct: boolean, parentId: unknown): void {
    if (this.#placement.size > 0) this.#placement.replied(parentId);
    if (this.#routes.size === 0) return;
    const uuid = decoder.decode(engine);
    const r = this.#routes.get(uuid);
    if (r === undefined) return;
    if (!direct) {
      if (r.viaMux > 0) r.viaMux--;
      return;
    }
    if (typeof parentId !== "string") return;
    r.sent.delete(parentId);
    this.#mark(uuid, 1, parentId);
  }

  /**
   * Receive a gather's parts straight into one array (`gather_placement.ts`), when every one of
   * its requests went straight (each engine's reply then comes on a connection of its own).
   * @param requests `[engine uuid, msg_id]` of each pull, in join order.
   */
  placeGather(requests: readonly [string, string][]): void {
    // Each reply on a connection of its own: a part waiting for the others' sizes must not
    // hold up one of them.
    const straight = new Set(requests.map(([uuid]) => uuid)).size === requests.length &&
      requests.every(([uuid, msgId]) => this.#routes.get(uuid)?.sent.has(msgId) === true);
    if (straight) this.#placement.add(requests.map(([, msgId]) => msgId));
  }

  /**
   * What the next Hub query must have the Hub record first; taken once.
   * @returns `{engine uuid: [request msg_id or "", reply's msg_id or ""]}`, or undefined when
   *   nothing went straight since the last.
   */
  takeSync(): Record<string, [string, string]> | undefined {
    if (this.#last.size === 0) return undefined;
    const sync = Object.fromEntries(this.#last);
    this.#last.clear();
    return sync;
  }

  /**
   * Closes the ROUTER.
   * @param linger Milliseconds to flush queued messages.
   */
  async close(linger: number): Promise<void> {
    this.#closing = true;
    clearTimeout(this.#lookAgain);
    this.#placement.dropAll();
    await this.#socket?.close({ linger });
  }

  /** A connection closed: what was sent straight on it and not answered is lost. */
  #gone(routingId: Uint8Array | null): void {
    if (this.#closing || routingId === null) return;
    const uuid = decoder.decode(routingId);
    const r = this.#routes.get(uuid);
    if (r === undefined || r.sent.size === 0) return;
    const ids = [...r.sent];
    r.sent.clear();
    this.#placement.drop(ids);
    // The next Hub query (the first of the recovery) waits until the Hub has the last of them,
    // or knows the engine is gone, or its time is up (direct_hub.ts).
    this.#mark(uuid, 0, ids[ids.length - 1]);
    this.#o.lost?.(uuid, ids);
  }

  /** Asks for addresses again (`lookAgain`), `tries` times so far since the last announcement. */
  #askAgain(tries: number): void {
    const ask = this.#o.lookAgain;
    if (ask === undefined || this.#closing || tries >= LOOK_AGAIN_TRIES) return;
    clearTimeout(this.#lookAgain);
    this.#lookAgain = setTimeout(() => {
      ask();
      this.#askAgain(tries + 1);
    }, LOOK_AGAIN_MS << tries);
    Deno.unrefTimer(this.#lookAgain);
  }

  /** Notes, for the next Hub query, the last request sent (0) or reply received (1) straight. */
  #mark(uuid: string, which: 0 | 1, msgId: string): void {
    const last = this.#last.get(uuid);
    if (last !== undefined) last[which] = msgId;
    else this.#last.set(uuid, which === 0 ? [msgId, ""] : ["", msgId]);
  }

  #open(): Socket {
    const socket = createSocket("ROUTER", {
      sendHwm: 0,
      receiveHwm: 0,
      mandatory: true,
      onProtocolError: (reason, peer) =>
        this.#o.warn(`direct connection to ${peer} dropped: ${reason}`),
      onPeerGone: (id) => this.#gone(id),
      placeFrames: (frames, size) => this.#placement.place(frames, size),
    });
    this.#o.read(socket);
    return socket;
  }
}
