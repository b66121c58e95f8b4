/** Loopback ports handed to peers (the SSH tunnel's local ends, the test helpers' peers). */

import assert from "node:assert/strict";
import { accepts, freeLoopbackPort } from "../../src/client/ssh_tunnel.ts";

Deno.test("freeLoopbackPort: successive ports differ, lie below the ephemeral range, and bind", async () => {
  const ports = Array.from({ length: 200 }, () => freeLoopbackPort());
  assert.equal(new Set(ports).size, ports.length, "no port handed out twice");
  for (const p of ports) assert.ok(p >= 20_000 && p < 32_000, `port ${p}`);
  // Two taken before either is bound (as a Slurm config needs) can both be bound.
  const a = Deno.listen({ hostname: "127.0.0.1", port: ports[0] });
  const b = Deno.listen({ hostname: "127.0.0.1", port: ports[1] });
  assert.ok(await accepts(ports[0]));
  a.close();
  b.close();
  assert.ok(!(await accepts(ports[0])));
});
