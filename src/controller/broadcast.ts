/**
 * The broadcast scheduler (PROTOCOL.md §3.5.3, §7.9), flattened into one process: the root
 * ROUTER (client side) and one leaf ROUTER per engine-side `broadcast` port. An engine with id
 * `n` connected to leaf `n % leaves`, so its requests go out on exactly that socket.
 *
 * Request: for each target `[uuid, id]` of `metadata.targets`, the header's `msg_id` becomes
 * `<original>_<uuid>`, `metadata.original_msg_id` the original msg_id and `metadata.targets`
 * `[[uuid, id]]`; the parent and content frames are kept byte for byte, header and metadata
 * re-serialized and the message re-signed (§1.3). Sent as `[uuid, client_id, DELIM, …]`.
 *
 * Replies, non-coalescing: verified and relayed upward unchanged as `[client_id, DELIM, …]`
 * (no engine identity frame). Coalescing: once every target has answered, one message built
 * from the last reply received — its header, parent and content kept, metadata with
 * `broadcast_targets: [[uuid, id], …]`, buffers concatenated in target order — re-signed and
 * sent up. Broadcast traffic is not recorded by the Hub (quirk #14, as observed).
 *
 * @module
 */

import type { Frames, Socket } from "../zmtp/mod.ts";
import type { Session } from "../protocol/session.ts";
import type { JsonObject } from "./db/types.ts";
import type { InboundChannel } from "./inbound.ts";
import type { Logger } from "./logger.ts";
import { pump, sendQuiet, text, utf8 } from "./pump.ts";

const DELIM = utf8("<IDS|MSG>");

/** Options of {@link BroadcastScheduler}. */
export interface BroadcastOptions {
  /** Client-side root ROUTER. */
  root: Socket;
  /** Engine-side leaf ROUTERs, in the order of the engine file's `broadcast` list. */
  leaves: Socket[];
  /** Checks of client requests. */
  fromClients: InboundChannel;
  /** Checks of engine replies, one per leaf. */
  fromEngines: InboundChannel[];
  /** Signs rewritten messages. */
  session: Session;
  /** Current engine id of a uuid (the Hub's registry); falls back to the client's id. */
  idOf: (uuid: string) => number | undefined;
  /** Logger. */
  logger: Logger;
}

interface Coalescing {
  client: Uint8Array;
  targets: [string, number][];
  replies: Map<
    string,
    {
      header: Uint8Array;
      parent: Uint8Array;
      metadata: JsonObject;
      content: Uint8Array;
      buffers: Frames;
    }
  >;
}

const encoder = new TextEncoder();
const json = (v: unknown) => encoder.encode(JSON.stringify(v));

/** The broadcast scheduler. */
export class BroadcastScheduler {
  /** Receive loops; settle when the sockets close. */
  readonly done: Promise<void>;
  #o: BroadcastOptions;
  #coalescing = new Map<string, Coalescing>();

  /**
   * Starts serving broadcast requests.
   * @param options Sockets, checks, session and the engine registry.
   */
  constructor(options: BroadcastOptions) {
    this.#o = options;
    this.done = Promise.all([
      pump(
        options.root,
        (f) => this.#fromClient(f),
        (e) => options.fromClients.handlerError(e, "broadcasting"),
      ),
      ...options.leaves.map((leaf, i) =>
        pump(
          leaf,
          (f) => this.#fromEngine(i, f),
          (e) => options.fromEngines[i].handlerError(e, "relaying a broadcast reply"),
        )
      ),
    ]).then(() => {});
  }

  /** Number of coalesced requests still waiting for replies. */
  get waiting(): number {
    return this.#coalescing.size;
  }

  /**
   * An engine left: coalesced requests still waiting for it are forgotten (the Python client
   * fabricates the EngineError itself, §7.9 quirks).
   *
   * @param uuid The engine's uuid.
   */
  engineLeft(uuid: string): void {
    for (const [id, c] of this.#coalescing) {
      if (c.targets.some(([u]) => u === uuid) && !c.replies.has(uuid)) this.#coalescing.delete(id);
    }
  }

  #fromClient(frames: Frames): void {
    const { fromClients, session, leaves, idOf, logger } = this.#o;
    const split = fromClients.verify(frames, 1);
    if (split === null) return;
    const msg = fromClients.inspect(frames);
    if (msg === null) return;
    const md = msg.metadata as JsonObject;
    const targets = parseTargets(md.targets);
    if (targets === null) {
      logger.warn(`broadcast ${msg.msgId}: metadata.targets must be [[uuid, id], …]; dropped`);
      return;
    }
    const original = typeof md.original_msg_id === "string" && md.original_msg_id
      ? md.original_msg_id
      : msg.msgId;
    const header = msg.header as unknown as JsonObject;
    const [, , parent, , content, ...buffers] = split.parts;
    const client = split.identities[0];
    const coalescing = md.is_coalescing === true;
    const resolved: [string, number][] = targets.map(([uuid, id]) => [uuid, idOf(uuid) ?? id]);
    if (coalescing && resolved.length) {
      this.#coalescing.set(original, { client, targets: resolved, replies: new Map() });
    }
    for (const [uuid, id] of resolved) {
      const h = json({ ...header, msg_id: `${original}_${uuid}` });
      const m = json({ ...md, original_msg_id: original, targets: [[uuid, id]] });
      const signature = utf8(session.sign([h, parent, m, content]));
      const leaf = leaves[((id % leaves.length) + leaves.length) % leaves.length];
      sendQuiet(leaf, [utf8(uuid), client, DELIM, signature, h, parent, m, content, ...buffers]);
    }
  }

  #fromEngine(leaf: number, frames: Frames): void {
    const inbound = this.#o.fromEngines[leaf];
    const split = inbound.verify(frames, 2);
    if (split === null) return;
    const msg = inbound.inspect(frames);
    if (msg === null) return;
    const md = msg.metadata as JsonObject;
    const original = typeof md.original_msg_id === "string" ? md.original_msg_id : "";
    const c = md.is_coalescing === true ? this.#coalescing.get(original) : undefined;
    if (c === undefined) {
      sendQuiet(this.#o.root, frames.slice(1)); // [client_id, DELIM, …]: no engine frame
      return;
    }
    const uuid = text(frames[0]);
    if (!c.targets.some(([u]) => u === uuid)) return;
    const [, header, parent, , content, ...buffers] = split.parts;
    c.replies.set(uuid, { header, parent, metadata: md, content, buffers });
    if (c.replies.size < c.targets.length) return;
    this.#coalescing.delete(original);
    // §7.9: the last reply's parts, broadcast_targets, buffers in target order.
    const last = c.replies.get(uuid)!;
    const m = json({ ...last.metadata, broadcast_targets: c.targets });
    const signature = utf8(this.#o.session.sign([last.header, last.parent, m, last.content]));
    const all = c.targets.flatMap(([u]) => c.replies.get(u)!.buffers);
    sendQuiet(this.#o.root, [
      c.client,
      DELIM,
      signature,
      last.header,
      last.parent,
      m,
      last.content,
      ...all,
    ]);
  }
}

/** `[[uuid, id], …]` with string uuids and integer ids, or null. */
function parseTargets(v: unknown): [string, number][] | null {
  if (!Array.isArray(v)) return null;
  const out: [string, number][] = [];
  for (const t of v) {
    if (!Array.isArray(t) || typeof t[0] !== "string" || t[0] === "") return null;
    const id = typeof t[1] === "number" && Number.isInteger(t[1]) ? t[1] : 0;
    out.push([t[0], id]);
  }
  return out;
}
