/**
 * Which socket types may talk to which, as libzmq's `mechanism_base_t::check_socket_type`
 * decides (RFC 37 §"Socket Semantics"). Peers of types we do not implement (REQ, REP, PAIR)
 * are still accepted where libzmq would accept them.
 *
 * @module
 */

const COMPATIBLE: Record<string, readonly string[]> = {
  REQ: ["REP", "ROUTER"],
  REP: ["REQ", "DEALER"],
  DEALER: ["REP", "DEALER", "ROUTER"],
  ROUTER: ["REQ", "DEALER", "ROUTER"],
  PUB: ["SUB", "XSUB"],
  XPUB: ["SUB", "XSUB"],
  SUB: ["PUB", "XPUB"],
  XSUB: ["PUB", "XPUB"],
  PUSH: ["PULL"],
  PULL: ["PUSH"],
  PAIR: ["PAIR"],
};

/**
 * Whether a socket of type `ours` accepts a peer announcing `peer` in its READY command.
 * @param ours Our socket type.
 * @param peer The peer's `Socket-Type` property.
 * @returns `true` when libzmq would accept the pair.
 */
export function compatibleSocketTypes(ours: string, peer: string): boolean {
  return COMPATIBLE[ours]?.includes(peer) ?? false;
}
