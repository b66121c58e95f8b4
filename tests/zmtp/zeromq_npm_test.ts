/**
 * A short exchange with `npm:zeromq` (libzmq as a native addon). Kept to a few dozen messages:
 * under Deno that addon stalls after some hundreds of round trips (DESIGN.md, deviations).
 */

import assert from "node:assert/strict";
import { createSocket } from "../../src/zmtp/mod.ts";
import { b, s, until, within } from "./helpers.ts";

let zmq: typeof import("zeromq") | undefined;

/**
 * Wait until an npm:zeromq socket has a message before calling its `receive()`: under Deno a
 * `receive()` that has to wait for data never resolves (its delayed-resolution path does not run).
 */
async function readable(sock: { readable: boolean }): Promise<void> {
  await until(() => sock.readable, 5_000, "npm:zeromq socket readable");
}
try {
  zmq = await import("zeromq");
} catch (e) {
  console.warn(`skipping npm:zeromq tests: ${(e as Error).message}`);
}

Deno.test({
  name: "DEALER exchanges 20 messages with an npm:zeromq ROUTER",
  ignore: zmq === undefined,
  async fn() {
    const router = new zmq!.Router();
    try {
      await router.bind("tcp://127.0.0.1:*");
      await using dealer = createSocket("DEALER", { identity: "deno" });
      dealer.connect(router.lastEndpoint!);
      for (let i = 0; i < 20; i++) {
        await dealer.send([b(`ping ${i}`)]);
        await readable(router);
        const [id, body] = await within(router.receive(), 5_000, `ping ${i}`);
        assert.equal(s(id), "deno");
        assert.equal(s(body), `ping ${i}`);
        await router.send([id, b(`pong ${i}`)]);
        assert.equal(s((await within(dealer.receive(), 5_000, `pong ${i}`))[0]), `pong ${i}`);
      }
    } finally {
      router.close();
    }
  },
});

Deno.test({
  name: "ROUTER exchanges 20 messages with an npm:zeromq DEALER",
  ignore: zmq === undefined,
  async fn() {
    await using router = createSocket("ROUTER");
    const ep = await router.bind("tcp://127.0.0.1:0");
    const dealer = new zmq!.Dealer({ routingId: "node" });
    try {
      dealer.connect(ep);
      for (let i = 0; i < 20; i++) {
        await dealer.send(`ping ${i}`);
        const [id, body] = await within(router.receive(), 5_000, `ping ${i}`);
        assert.equal(s(id), "node");
        await router.send([id, b(`pong ${s(body)}`)]);
        await readable(dealer);
        const [reply] = await within(dealer.receive(), 5_000, `pong ${i}`);
        assert.equal(new TextDecoder().decode(reply), `pong ping ${i}`);
      }
    } finally {
      dealer.close();
    }
  },
});
