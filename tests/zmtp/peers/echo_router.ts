/**
 * A ROUTER that echoes every message back to its sender, for tests that watch a peer process
 * (`split_ipc_test.ts`). Prints `ready` once bound.
 *
 * Usage: `deno run -A tests/zmtp/peers/echo_router.ts <endpoint>`
 *
 * @module
 */

import { createSocket } from "../../../src/zmtp/mod.ts";

const router = createSocket("ROUTER");
await router.bind(Deno.args[0]);
console.log("ready");
for (;;) await router.send(await router.receive());
