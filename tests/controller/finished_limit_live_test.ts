/**
 * A controller that remembers a bounded number of finished tasks (`--finished-limit`), and
 * purges that reach the task scheduler: a real controller, engines and client on loopback.
 */

import assert from "node:assert/strict";
import { RemoteError } from "../../mod.ts";
import { withConnectedCluster } from "../helpers/local_cluster.ts";
import { step } from "../helpers/steps.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const T = 20_000;
const LIMIT = 20;

function remoteName(e: unknown): string {
  if (e instanceof RemoteError) return e.ename;
  if (e instanceof Error && e.cause instanceof RemoteError) return e.cause.ename;
  return String(e);
}

Deno.test({
  name:
    "finished tasks past --finished-limit are forgotten, counted, and purges reach the scheduler",
  ...opts,
  async fn(t) {
    await withConnectedCluster(
      {
        n: 1, // one engine: tasks finish in the order they were sent
        clusterId: "finished-limit",
        controllerArgs: [`--finished-limit=${LIMIT}`],
        client: { timeout: T },
      },
      async (_cluster, client) => {
        const lv = client.loadBalancedView();
        const ars = Array.from({ length: 50 }, (_, i) => lv.apply((x: number) => x * 2, i));
        assert.deepEqual(
          await Promise.all(ars.map((a) => a.get(T))),
          Array.from({ length: 50 }, (_, i) => i * 2),
        );
        const ids = ars.map((a) => a.msgIds[0]);
        const depends = (after: string) => lv.applyWith(() => "ran", [], { after }).get(T);

        await step(t, "counts stay exact; the lists hold the newest", async () => {
          const counts = await client.queueStatus() as unknown as Record<
            number,
            { completed: number }
          >;
          assert.equal(counts[0].completed, 50);
          const lists = await client.queueStatus("all", { verbose: true }) as unknown as Record<
            number,
            { completed: string[] }
          >;
          assert.deepEqual(lists[0].completed, ids.slice(-LIMIT));
        });

        await step(
          t,
          "a dependency on a forgotten task is invalid; on a remembered one it runs",
          async () => {
            await assert.rejects(depends(ids[0]), (e) => remoteName(e) === "InvalidDependency");
            assert.equal(await depends(ids.at(-1)!), "ran");
          },
        );

        await step(t, "after a purge the scheduler has forgotten the purged tasks", async () => {
          const recent = lv.apply(() => "recent");
          await recent.get(T);
          assert.equal(await depends(recent.msgIds[0]), "ran");
          await client.purgeHubResults("all");
          await assert.rejects(
            depends(recent.msgIds[0]),
            (e) => remoteName(e) === "InvalidDependency",
          );
          const counts = await client.queueStatus() as unknown as Record<
            number,
            { completed: number }
          >;
          // The failed dependent above finished after the purge; nothing before it is counted.
          assert.ok(counts[0].completed <= 1);
        });
      },
    );
  },
});
