/**
 * A user's script for a cluster started with `ipp cluster start` (run by
 * `cluster_cli_test.ts` as its own process, `deno run -A`): `Client.connect()` finds the
 * cluster through `$IPYTHONDIR` (the default profile, no cluster id), waits for the number of
 * engines given as its first argument, runs work on every engine and prints one JSON line:
 * `{ ids, pids, squares, selfPid }`. Every wait has a time-out, so a lost message makes it
 * exit non-zero rather than hang.
 *
 * @module
 */

import { Client } from "../../mod.ts";

const engines = Number(Deno.args[0] ?? "4");
const WAIT_MS = 30_000;

await using client = await Client.connect({ timeout: 10_000 });
const deadline = Date.now() + WAIT_MS;
while (client.ids.length < engines) {
  if (Date.now() > deadline) {
    throw new Error(`${engines} engines not seen in ${WAIT_MS} ms: ${JSON.stringify(client.ids)}`);
  }
  await new Promise((r) => setTimeout(r, 100));
}

// One task on each engine: its process id.
const pids = await client.directView().apply(() => Deno.pid).get(WAIT_MS);
// And a load-balanced map across them.
const squares = await client.loadBalancedView().map((x: number) => x * x, [1, 2, 3, 4, 5, 6, 7, 8])
  .get(WAIT_MS);
console.log(JSON.stringify({ ids: client.ids, pids, squares, selfPid: Deno.pid }));
