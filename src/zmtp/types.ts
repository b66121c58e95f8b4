/**
 * The transport seam: what every layer above `src/zmtp/` may use of a ZeroMQ-style socket.
 *
 * A message is a multipart list of `Uint8Array` frames. Our ZMTP 3.1 implementation
 * ({@link https://rfc.zeromq.org/spec/37/ | RFC 37}) satisfies this interface; another backend
 * (WebSocket, `npm:zeromq` where it works) can be plugged in by implementing it too.
 *
 * @module
 */

/** One multipart message: each element is one ZMTP frame. */
export type Frames = Uint8Array[];

/** The socket types we implement, with libzmq's semantics. */
export type SocketType =
  | "ROUTER"
  | "DEALER"
  | "PUB"
  | "SUB"
  | "XPUB"
  | "XSUB"
  | "PUSH"
  | "PULL";

/** Options for {@link createSocket}; every field has libzmq's default unless noted. */
export interface SocketOptions {
  /** Routing id announced in the READY handshake (`ZMQ_ROUTING_ID`). */
  identity?: Uint8Array | string;
  /**
   * Outgoing high-water mark in messages per peer (`ZMQ_SNDHWM`, default 1000; 0 = unlimited).
   * At the mark DEALER and PUSH make `send` wait, PUB and ROUTER drop.
   */
  sendHwm?: number;
  /** Incoming high-water mark in messages (`ZMQ_RCVHWM`, default 1000; 0 = unlimited). */
  receiveHwm?: number;
  /** Milliseconds `close()` waits to flush queued messages (default 0 here, not libzmq's -1). */
  linger?: number;
  /** First reconnect delay in milliseconds (`ZMQ_RECONNECT_IVL`, default 100). */
  reconnectInterval?: number;
  /** Upper bound of the exponential reconnect back-off (default 5000 ms). */
  reconnectIntervalMax?: number;
  /**
   * ROUTER: how long, in milliseconds, a peer whose connection this socket closed because a
   * message forwarded to it was cut short by its sender is waited for (default 10,000).
   * Messages routed to it meanwhile, and those queued behind the cut message, are kept and
   * sent once it reconnects with the same identity; after the wait they are dropped, and
   * `onProtocolError` is told how many.
   */
  peerReturnHold?: number;
  /** ROUTER: reject a send to an unknown identity with `HostUnreachableError` (`ZMQ_ROUTER_MANDATORY`). */
  mandatory?: boolean;
  /**
   * Largest accepted frame body, and total size of a multipart message, in bytes; a bigger
   * length field drops the connection before anything is allocated (default 2 GiB).
   */
  maxMessageSize?: number;
  /**
   * Cut-through (default 0 = off; else at least 65,536): a received message frame of at least
   * this many bytes is not buffered whole. The message is delivered as soon as that frame
   * starts, as the frames received so far followed by a `MessageTail` (a zero-length
   * `Uint8Array` subclass standing for the rest, see `tail.ts`), which the receiver must
   * forward with `send` on a ROUTER, DEALER or PUSH socket (streamed as it arrives, in bounded
   * memory), `collect()` or `discard()`. Only for receivers written for it (relays); ROUTER,
   * DEALER and PULL sockets stream, the others ignore the option.
   */
  cutThrough?: number;
  /**
   * Received frames of at least this many bytes (default 0 = never; else at least 65,536) are
   * backed by a `SharedArrayBuffer`, so a Worker can be given them without a copy or a transfer
   * and can send them back the same way. Such frames cannot be passed to `TextDecoder` as they
   * are (it rejects shared views): use it for binary buffers only.
   */
  sharedFrames?: number;
  /**
   * Chooses where a large received message frame goes (one of at least 64 KiB that is not yet in
   * the read buffer; see {@link FramePlacer}). Without it each gets a new array of its own.
   */
  placeFrames?: FramePlacer;
  /**
   * Milliseconds a new connection has to complete the ZMTP handshake before it is dropped
   * (`ZMQ_HANDSHAKE_IVL`, default 30000; 0 = no limit).
   */
  handshakeTimeout?: number;
  /** Log a dropped connection's reason (default: `console.warn`). Pass `() => {}` to silence. */
  onProtocolError?: (reason: string, peer: string) => void;
  /**
   * Told when a connection that completed its handshake closes, for whatever reason (the peer
   * left, the transport failed, a protocol error, this socket closing). A ROUTER passes the
   * peer's routing id, other types `null`. Messages in flight on it may be lost; a connecting
   * socket reconnects.
   */
  onPeerGone?: (routingId: Uint8Array | null) => void;
}

/**
 * Chooses where a large received message frame goes. Called with the frames of its message
 * received so far (on a ROUTER the first is the peer's routing id) and the size of the frame
 * about to be read. Returns an array of exactly `size` bytes to receive it into (a view into a
 * larger array is fine: several frames can land side by side in one array), `undefined` for a
 * new array of its own, or a promise of either. While such a promise is pending, that
 * connection reads nothing more (the socket's other connections go on), so settle it soon. A
 * frame is offered once; a returned array of another size is ignored.
 */
export type FramePlacer = (
  frames: readonly Uint8Array[],
  size: number,
) => Uint8Array | undefined | Promise<Uint8Array | undefined>;

/** A ZeroMQ-compatible socket. */
export interface Socket extends AsyncIterable<Frames>, AsyncDisposable {
  /** The socket type. */
  readonly type: SocketType;
  /** Resolved endpoints this socket is bound to (e.g. `tcp://127.0.0.1:40123`). */
  readonly endpoints: readonly string[];
  /** `true` once `close()` has been called. */
  readonly closed: boolean;
  /**
   * Whether the socket has at least one peer and every peer it knows of has completed its
   * handshake (a connecting socket's endpoints are all connected). Optional: a transport that
   * cannot tell leaves it out.
   */
  readonly connected?: boolean;
  /**
   * ROUTER: whether a peer with this routing id has completed its handshake, i.e. whether a
   * message addressed to it now would be delivered rather than dropped. Optional: a transport
   * that cannot tell leaves it out.
   */
  hasPeer?(routingId: Uint8Array | string): boolean;
  /**
   * Listen on an endpoint: `tcp://host:port` (port `0` or `*` picks a free one), `ipc://path`,
   * or `ipcs://path` (split IPC between our own peers, `split_ipc.ts`).
   * @returns The resolved endpoint.
   */
  bind(endpoint: string): Promise<string>;
  /** Connect to an endpoint; reconnects with back-off until closed. Returns at once. */
  connect(endpoint: string): void;
  /** Stop connecting to an endpoint given to {@link Socket.connect}. */
  disconnect(endpoint: string): void;
  /**
   * Queue a message. Resolves at once while the queue is under its high-water mark, and
   * otherwise when room is made (DEALER, PUSH) — or drops (PUB, ROUTER) as libzmq does.
   * Frames are sent as given, without copying (the promise may resolve while they are still
   * queued): treat them as immutable once passed to `send`.
   */
  send(frames: Frames): Promise<void>;
  /** Receive the next message. Rejects with `SocketClosedError` once the socket is closed. */
  receive(): Promise<Frames>;
  /**
   * The next message if one has already been received, without waiting (`undefined` when none
   * is queued or the socket is closed). Lets a reader handle a burst in one turn, so that the
   * replies it sends are written together.
   */
  tryReceive?(): Frames | undefined;
  /**
   * Whether {@link Socket.whenSent} can vouch for the messages queued now: every pipe that holds
   * queued messages has a live connection (a pipe whose peer is away keeps its messages, and
   * the memory they point at, until a reconnect).
   */
  readonly sendTrackable?: boolean;
  /**
   * Resolves once every message queued so far has been written to the kernel (or its
   * connection dropped, or the socket closed). After it, the memory of the frames passed to
   * `send` may be changed again: the way to send a caller's buffer without copying it.
   */
  whenSent?(): Promise<void>;
  /**
   * Change {@link SocketOptions.cutThrough} (for the relay that consumes the messages, which
   * knows it handles tails); applies to frames that start from now on.
   */
  setCutThrough?(minFrameSize: number): void;
  /** SUB/XSUB: subscribe to a prefix (`""` = everything). */
  subscribe(prefix?: Uint8Array | string): void;
  /** SUB/XSUB: drop a subscription. */
  unsubscribe(prefix?: Uint8Array | string): void;
  /**
   * Close the socket and every connection. With `linger` > 0, waits up to that many
   * milliseconds for queued messages to be written. Idempotent.
   */
  close(options?: { linger?: number }): Promise<void>;
}
