/**
 * Inbound checks of the controller's sockets (PROTOCOL.md §1.3, §1.4, §1.11): every message
 * that arrives on a channel is verified once, by that channel's own {@link Session} (so each
 * channel has its own replay cache), before it is relayed or inspected. Inspected copies are
 * parsed with `verify: false`, never through a replay cache a second time (§1.4).
 *
 * What is dropped is counted per channel and per reason, and logged (warn for the first few,
 * debug afterwards) — never answered (§1.11: bad signatures get no reply, not even from the Hub).
 *
 * @module
 */

import { MessageFormatError, SignatureError } from "../errors.ts";
import type { Message } from "../protocol/messages.ts";
import { parsePart } from "../protocol/frames.ts";
import { peekMsgType } from "../protocol/peek.ts";
import { Session, type SplitFrames } from "../protocol/session.ts";
import type { JsonObject } from "./db/types.ts";
import type { HubMessage } from "./hub_types.ts";
import type { Logger } from "./logger.ts";

/**
 * The Hub's view of an unpacked message (snake_case parts, as `HubState` reads them).
 *
 * @param msg An unpacked message.
 * @param streamed The relay streamed some of its buffers (cut-through): record them as not kept.
 * @returns The same parts, not copied.
 */
export function toHubMessage(msg: Message, streamed = false): HubMessage {
  return {
    header: msg.header as unknown as JsonObject,
    parent_header: msg.parentHeader as unknown as JsonObject,
    metadata: msg.metadata as JsonObject,
    content: msg.content as JsonObject,
    buffers: streamed ? null : msg.buffers,
  };
}

/** Per-channel counters of {@link InboundChannel}. */
export interface InboundCounters {
  /** Messages received. */
  received: number;
  /** Messages that passed every check. */
  accepted: number;
  /** Dropped: empty signature frame with a keyed session. */
  unsigned: number;
  /** Dropped: HMAC mismatch. */
  invalid: number;
  /** Dropped: signature already seen on this channel (replay). */
  duplicate: number;
  /** Dropped: no delimiter, too few frames, bad JSON or header, missing routing frames. */
  malformed: number;
  /** Verified messages whose handling threw (logged, the controller carries on). */
  errors: number;
}

/** Options of {@link InboundChannel}. */
export interface InboundChannelOptions {
  /** The connection file key (`""` = unsigned). */
  key: string;
  /** Signature scheme (default `hmac-sha256`). */
  signatureScheme?: string;
  /** Where drops are logged. */
  logger: Logger;
  /** Drops logged at warn level before switching to debug (default 5 per channel). */
  warnLimit?: number;
}

function zeroCounters(): InboundCounters {
  return {
    received: 0,
    accepted: 0,
    unsigned: 0,
    invalid: 0,
    duplicate: 0,
    malformed: 0,
    errors: 0,
  };
}

/**
 * One inbound channel: its replay cache, counters and drop logging.
 *
 * @example
 * ```ts
 * const ch = new InboundChannel("mux (client side)", { key: "k", logger: createLogger(30) });
 * const split = ch.verify(frames); // null when dropped (and counted)
 * ```
 */
export class InboundChannel {
  /** Channel name used in logs and stats. */
  readonly name: string;
  /** The counters (live object). */
  readonly counters: InboundCounters = zeroCounters();
  #session: Session;
  #logger: Logger;
  #warnLimit: number;
  #warned = 0;

  /**
   * Creates a channel with an empty replay cache and zero counters.
   * @param name Channel name for logs and stats.
   * @param options Key, scheme and logger.
   */
  constructor(name: string, options: InboundChannelOptions) {
    this.name = name;
    this.#session = new Session({
      key: options.key,
      signatureScheme: options.signatureScheme ?? "hmac-sha256",
    });
    this.#logger = options.logger;
    this.#warnLimit = options.warnLimit ?? 5;
  }

  /**
   * Verifies a received message (signature and replay guard, no JSON parsing), for relays.
   *
   * @param frames The frames as received.
   * @param minIdentities Routing frames required before the delimiter (default 0).
   * @returns The split frames, or null when the message was dropped (counted and logged).
   */
  verify(frames: readonly Uint8Array[], minIdentities = 0): SplitFrames | null {
    this.counters.received++;
    try {
      const split = this.#session.verify(frames);
      if (split.identities.length < minIdentities) {
        this.#drop(
          "malformed",
          `${split.identities.length} routing frame(s), need ${minIdentities}`,
        );
        return null;
      }
      this.counters.accepted++;
      return split;
    } catch (err) {
      this.#dropError(err);
      return null;
    }
  }

  /**
   * Verifies and parses a received message (for handlers that read it, like the Hub).
   *
   * @param frames The frames as received.
   * @param minIdentities Routing frames required before the delimiter (default 0).
   * @returns The message, or null when dropped.
   */
  unpack(frames: readonly Uint8Array[], minIdentities = 0): Message | null {
    this.counters.received++;
    try {
      const msg = this.#session.unpack(frames);
      if (msg.identities.length < minIdentities) {
        this.#drop("malformed", `${msg.identities.length} routing frame(s), need ${minIdentities}`);
        return null;
      }
      this.counters.accepted++;
      return msg;
    } catch (err) {
      this.#dropError(err);
      return null;
    }
  }

  /**
   * Parses a message already verified by {@link InboundChannel.verify}, without touching the
   * replay cache (PROTOCOL.md §1.4). A parse failure is counted as malformed (the message
   * may already have been relayed verbatim, as Python's relays do, but it is not recorded).
   *
   * @param frames The same frames.
   * @returns The message, or null if its JSON is unusable.
   */
  inspect(frames: readonly Uint8Array[]): Message | null {
    try {
      return this.#session.unpack(frames, { verify: false });
    } catch (err) {
      this.#dropError(err);
      return null;
    }
  }

  /**
   * The `msg_type` of a message already verified by {@link InboundChannel.verify}, parsing its
   * header only (for messages a handler ignores by type, without parsing the other parts).
   *
   * @param split What `verify` returned.
   * @returns The type, or null when the header is unusable (not counted here:
   * {@link InboundChannel.inspect} counts it).
   */
  peekType(split: SplitFrames): string | null {
    const peeked = peekMsgType(split.parts[1]); // most headers: no decode, no JSON.parse
    if (peeked !== undefined) return peeked;
    try {
      const header = parsePart(split.parts[1], "header");
      return typeof header.msg_id === "string" && typeof header.msg_type === "string"
        ? header.msg_type
        : null;
    } catch {
      return null;
    }
  }

  /**
   * Records that handling a verified message threw; logs it and carries on.
   *
   * @param err The error.
   * @param what What was being done.
   */
  handlerError(err: unknown, what: string): void {
    this.counters.errors++;
    this.#logger.warn(
      `${this.name}: error while ${what}: ${err instanceof Error ? err.stack : err}`,
    );
  }

  #dropError(err: unknown): void {
    if (err instanceof SignatureError) {
      this.#drop(err.reason === "unsigned" ? "unsigned" : err.reason, err.message);
    } else if (err instanceof MessageFormatError) {
      this.#drop("malformed", err.message);
    } else {
      this.#drop("malformed", String(err));
    }
  }

  #drop(reason: "unsigned" | "invalid" | "duplicate" | "malformed", detail: string): void {
    this.counters[reason]++;
    const line = `${this.name}: dropped a ${reason} message (${detail})`;
    if (this.#warned < this.#warnLimit) {
      this.#warned++;
      this.#logger.warn(
        this.#warned === this.#warnLimit
          ? `${line}; further drops are logged at debug level`
          : line,
      );
    } else this.#logger.debug(line);
  }
}
