/**
 * Loopback ports for tests: a free port to give a peer, and whether something listens there.
 *
 * @module
 */

/**
 * A TCP port on 127.0.0.1 that was free a moment ago (bound, read, released).
 * @returns The port number.
 */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/**
 * Whether a TCP connection to 127.0.0.1:`port` is accepted now.
 * @param port The port.
 * @returns true when something listens there.
 */
export async function accepts(port: number): Promise<boolean> {
  try {
    (await Deno.connect({ hostname: "127.0.0.1", port })).close();
    return true;
  } catch {
    return false;
  }
}
