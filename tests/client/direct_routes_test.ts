/**
 * `DirectRoutes` on its own: an engine announced without a direct address (it sends it once
 * registered, and a busy machine can delay it past the announcement) makes the client ask the
 * Hub again, a bounded number of times, and never after closing.
 */

import assert from "node:assert/strict";
import { DirectRoutes } from "../../src/client/direct_routes.ts";

Deno.test("an engine announced without an address: the Hub is asked again 1 s, then 2 s later", async () => {
  const asked: number[] = [];
  const t0 = Date.now();
  const routes = new DirectRoutes({
    read: () => {},
    warn: () => {},
    lookAgain: () => asked.push(Date.now() - t0),
  });
  routes.learn("engine-a", undefined);
  // An announcement with an address (elsewhere) does not ask.
  routes.learn("engine-b", { url: "tcp://10.0.0.1:5", host: "another-host" });
  await new Promise((r) => setTimeout(r, 3_300));
  assert.equal(asked.length, 2);
  assert.ok(asked[0] >= 950 && asked[1] >= 2_900, `asked at ${asked} ms`);
  await routes.close(0);
  await new Promise((r) => setTimeout(r, 1_200));
  assert.equal(asked.length, 2, "closed: no more asking");
});
