/** Pins the public names of `src/zmtp/mod.ts`. */

import assert from "node:assert/strict";
import * as zmtp from "../../src/zmtp/mod.ts";

Deno.test("src/zmtp/mod.ts exports createSocket, parseEndpoint and the cut-through tail, and nothing else at runtime", () => {
  assert.deepEqual(Object.keys(zmtp).sort(), [
    "MessageTail",
    "createSocket",
    "parseEndpoint",
    "tailOf",
  ]);
});

Deno.test("createSocket makes every socket type with its type name", async () => {
  const types = ["ROUTER", "DEALER", "PUB", "SUB", "XPUB", "XSUB", "PUSH", "PULL"] as const;
  for (const type of types) {
    await using sock = zmtp.createSocket(type);
    assert.equal(sock.type, type);
    assert.deepEqual(sock.endpoints, []);
    assert.equal(sock.closed, false);
  }
});
