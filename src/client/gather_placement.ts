/**
 * Gathered parts received straight into the joined array (`MPI_Gatherv`'s way), so that
 * `gather` needs no copy to join them.
 *
 * A gather pulls one part from each engine. Each part's size is known once the header of its
 * large frame arrives. So the first part's frame waits, holding only its own connection
 * (`placeFrames` of the direct ROUTER, where each engine has a connection of its own), until
 * every part's size is known. Then one array is allocated for all of them, and each part is
 * read into its place. `joinParts` then finds the parts side by side and makes no copy.
 *
 * Whatever does not fit the plan gives up on it for the whole gather: the parts then get
 * arrays of their own and are joined by copying, as before. For example, a reply without a
 * large frame (an error, a small value), a second large frame in one reply, or a part not
 * under way within {@link GATHER_WAIT_MS}.
 *
 * @module
 */

import { delimiterIndex } from "../protocol/frames.ts";
import { keyBytes, type Peeked, peekStrings } from "../protocol/peek.ts";
import { largeBytes } from "../zmtp/large_bytes.ts";

/** Parts smaller than this are not placed (their join costs little). */
export const PLACE_MIN = 1 << 20;
/**
 * How long a part's frame waits for the other parts to start, in milliseconds: a gather queued
 * behind a long task on one engine must not hold the others' connections.
 */
export const GATHER_WAIT_MS = 100;

const MSG_ID = keyBytes("msg_id");

/** One gather: its parts' sizes as they come (in request order), and who waits. */
interface Gather {
  readonly sizes: (number | undefined)[];
  readonly waiting: ((place: Uint8Array | undefined) => void)[];
  /** Replies not yet received. */
  open: number;
  /** Given up: parts get arrays of their own. */
  off: boolean;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/** The gathers whose parts are to be received into one array, by request msg_id. */
export class GatherPlacement {
  readonly #byMsgId = new Map<string, [Gather, number]>();
  readonly #waitMs: number;
  readonly #peeked: Peeked[] = [null, null];

  /** @param waitMs See {@link GATHER_WAIT_MS}. */
  constructor(waitMs = GATHER_WAIT_MS) {
    this.#waitMs = waitMs;
  }

  /** Requests whose replies are still expected. */
  get size(): number {
    return this.#byMsgId.size;
  }

  /**
   * Place the parts of a gather's replies, one request per engine, in join order.
   * @param msgIds The pull requests, in order; fewer than two are not placed.
   */
  add(msgIds: readonly string[]): void {
    if (msgIds.length < 2) return;
    const g: Gather = {
      sizes: msgIds.map(() => undefined),
      waiting: [],
      open: msgIds.length,
      off: false,
      timer: undefined,
    };
    msgIds.forEach((id, i) => this.#byMsgId.set(id, [g, i]));
  }

  /**
   * A `placeFrames` for the socket the replies arrive on (see `FramePlacer`).
   * @param frames The reply's frames so far (routing id, delimiter, signature, header, parent…).
   * @param size The size of its large frame about to be read.
   * @returns Its place in the joined array (maybe once the other parts' sizes are known), or
   *   `undefined` for an array of its own.
   */
  place(
    frames: readonly Uint8Array[],
    size: number,
  ): Uint8Array | undefined | Promise<Uint8Array | undefined> {
    if (this.#byMsgId.size === 0 || size < PLACE_MIN) return undefined;
    let d: number;
    try {
      d = delimiterIndex(frames);
    } catch {
      return undefined;
    }
    // Delimiter, signature, header, parent header: the parent names the request.
    if (frames.length < d + 4) return undefined;
    const out = this.#peeked;
    if (!peekStrings(frames[d + 3], MSG_ID, null, out) || out[0] === null) return undefined;
    const entry = this.#byMsgId.get(out[0]);
    if (entry === undefined) return undefined;
    const [g, i] = entry;
    if (g.off || g.sizes[i] !== undefined) {
      this.#giveUp(g); // a second large frame: the parts are not one array each
      return undefined;
    }
    g.sizes[i] = size;
    if (g.sizes.every((s) => s !== undefined)) return this.#allocate(g, i);
    g.timer ??= setTimeout(() => this.#giveUp(g), this.#waitMs);
    return new Promise((resolve) => g.waiting[i] = resolve);
  }

  /**
   * A reply arrived whole (after its large frame was placed, or without one).
   * @param parentId Its request's msg_id.
   */
  replied(parentId: unknown): void {
    if (typeof parentId !== "string") return;
    const entry = this.#byMsgId.get(parentId);
    if (entry === undefined) return;
    const [g, i] = entry;
    this.#byMsgId.delete(parentId);
    if (g.sizes[i] === undefined) this.#giveUp(g);
    if (--g.open === 0) clearTimeout(g.timer);
  }

  /**
   * Forget a gather's requests that will get no reply here (a lost connection, a closed client).
   * @param msgIds The requests.
   */
  drop(msgIds: Iterable<string>): void {
    for (const id of msgIds) {
      const entry = this.#byMsgId.get(id);
      if (entry === undefined) continue;
      this.#giveUp(entry[0]);
      this.replied(id);
    }
  }

  /** Forget every gather (the client is closing). */
  dropAll(): void {
    this.drop([...this.#byMsgId.keys()]);
  }

  #allocate(g: Gather, own: number): Uint8Array {
    clearTimeout(g.timer);
    const sizes = g.sizes as number[];
    const joined = largeBytes(sizes.reduce((n, s) => n + s, 0));
    let mine!: Uint8Array;
    let at = 0;
    for (let i = 0; i < sizes.length; i++) {
      const part = joined.subarray(at, at + sizes[i]);
      at += sizes[i];
      if (i === own) mine = part;
      else g.waiting[i]?.(part);
    }
    g.waiting.length = 0;
    return mine;
  }

  #giveUp(g: Gather): void {
    if (g.off) return;
    g.off = true;
    clearTimeout(g.timer);
    for (const resolve of g.waiting) resolve?.(undefined);
    g.waiting.length = 0;
  }
}
