/**
 * Loopback ports for tests: a free port to give a peer, and whether something listens there
 * (the same functions the SSH tunnel uses).
 *
 * @module
 */

export { accepts, freeLoopbackPort as freePort } from "../../src/client/ssh_tunnel.ts";
