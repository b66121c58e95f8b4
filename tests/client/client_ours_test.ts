/**
 * The Client against our controller (`ipp controller`) and two of our JavaScript engines,
 * started by `Cluster` (no Python needed): the history cap (`maxHistory`), resubmitted tasks
 * followed by their old AsyncResults, `gather` joining typed-array parts, and
 * `shutdown({ restart: true })` replacing an engine in place.
 */

import assert from "node:assert/strict";
import { trimHistory } from "../../src/client/submit.ts";
import type { Metadata } from "../../src/client/metadata.ts";
import { InvalidOptionError } from "../../src/errors.ts";
import { withConnectedCluster } from "../helpers/local_cluster.ts";
import { waitForFreshEngine } from "./python_cluster.ts";
import { step } from "../helpers/steps.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

Deno.test("trimHistory drops the oldest eighth at once and keeps at most max", () => {
  const h = Array.from({ length: 17 }, (_, i) => `m${i}`);
  trimHistory(h, 16);
  assert.deepEqual(h, Array.from({ length: 14 }, (_, i) => `m${i + 3}`));
  trimHistory(h, 16);
  assert.equal(h.length, 14, "under the cap: unchanged");
  trimHistory(h, 0);
  assert.deepEqual(h, []);
  const one = ["a", "b"];
  trimHistory(one, 1);
  assert.deepEqual(one, ["b"]);
});

Deno.test({
  name: "Client on our controller and JavaScript engines: history cap, resubmit, gather",
  ...opts,
  async fn(t) {
    await withConnectedCluster(
      {
        n: 2,
        clusterId: "ours",
        controllerArgs: ["--ping=500"],
        client: { timeout: 20_000, maxHistory: 16 },
      },
      async (_cluster, client) => {
        await step(t, "history keeps the newest msg_ids, at most maxHistory", async () => {
          const lv = client.loadBalancedView();
          const ars = Array.from({ length: 40 }, (_, i) => lv.apply((x: number) => x, i));
          assert.deepEqual(await Promise.all(ars.map((ar) => ar.get(20_000))), [
            ...Array(40).keys(),
          ]);
          const sent = ars.map((ar) => ar.msgIds[0]);
          const h = client.history;
          assert.ok(h.length <= 16 && h.length >= 14, `history holds ${h.length}`);
          assert.deepEqual(h, sent.slice(-h.length), "the retained tail, oldest first");
          assert.equal(await client.getResult(-1), 39);
          assert.deepEqual(client.msgIdsOf([0, -1]), [h[0], sent[39]]);
          assert.throws(() => client.msgIdsOf(h.length), InvalidOptionError);
        });

        await step(t, "an old AsyncResult follows its resubmitted task", async () => {
          const lv = client.loadBalancedView();
          const ar = lv.apply(() => Math.random());
          const first = await ar.get(20_000);
          const [newId, ...rest] = await client.resubmit(ar);
          assert.equal(rest.length, 0);
          assert.notEqual(newId, ar.msgIds[0]);
          const second = await ar.get(20_000);
          assert.equal(typeof second, "number");
          assert.notEqual(second, first, "the old AsyncResult gives the new task's result");
          assert.equal(await client.getResult(newId).get(20_000), second);
          assert.equal(client.results.get(ar.msgIds[0])?.value, second);
          assert.equal(client.outstanding.size, 0);

          // A failed task resubmitted with block: its output and result come from the new run.
          await client.directView().execute("globalThis.tries = 0");
          const flaky = lv.apply(() => {
            const g = globalThis as unknown as { tries: number };
            console.log(`try ${++g.tries}`);
            if (g.tries === 1) throw new Error("first try fails");
            return "ok";
          });
          await assert.rejects(flaky.get(20_000), /first try fails/);
          // Both engines count their own tries: make the other engine's first try fail too.
          await client.directView().execute("globalThis.tries = 1");
          await client.resubmit(flaky, { block: true });
          assert.equal(flaky.ready(), true);
          assert.equal(await flaky, "ok");
          assert.equal(flaky.stdout, "try 2\n");
        });

        await step(t, "gather joins typed-array parts into one typed array", async () => {
          const dv = client.directView();
          await dv.scatter("xs", new Float64Array([1, 2, 3, 4, 5]));
          assert.deepEqual(await dv.pull("xs"), [
            new Float64Array([1, 2, 3]),
            new Float64Array([4, 5]),
          ]);
          assert.deepEqual(await dv.gather("xs"), new Float64Array([1, 2, 3, 4, 5]));
          await dv.scatter("ys", [1, 2, 3]);
          assert.deepEqual(await dv.gather("ys"), [1, 2, 3]);
          // flatten: one-item parts are pushed as numbers; numbers alone join into a list.
          await dv.scatter("one", new Int32Array([7, 8]), { flatten: true });
          assert.deepEqual(await dv.pull("one"), [7, 8]);
          assert.deepEqual(await dv.gather("one"), [7, 8]);
          await dv.scatter("three", new Int32Array([7, 8, 9]), { flatten: true });
          assert.deepEqual(await dv.gather("three"), new Int32Array([7, 8, 9]));
        });
      },
    );
  },
});

Deno.test({
  name: "shutdown({ restart: true }): a new kernel registers in place, same id, same process",
  ...opts,
  async fn() {
    await withConnectedCluster(
      { n: 2, clusterId: "restart", controllerArgs: ["--ping=500"], client: { timeout: 20_000 } },
      async (cluster, client) => {
        const pids = [...cluster.pids.engines];
        await client.directView().execute("globalThis.marker = 42");
        const uuidOf = async (id: number) => {
          const ar = client.directView(id).apply(() => null);
          await ar.get(10_000);
          return (ar.metadata as Metadata).engineUuid;
        };
        const before = await uuidOf(0);
        const stuck = client.directView(0).apply(() => new Promise((r) => setTimeout(r, 60_000)));
        await new Promise((r) => setTimeout(r, 200));

        await client.shutdown({ targets: 0, restart: true, block: true });
        // The running task is answered, not lost.
        await assert.rejects(stuck.get(20_000));
        const markerOn = (id: number) =>
          client.directView(id).apply(() => typeof (globalThis as { marker?: number }).marker)
            .get(5_000);
        await waitForFreshEngine(client, 0, "marker");

        assert.deepEqual(client.ids, [0, 1]);
        assert.notEqual(await uuidOf(0), before, "a new engine (uuid) holds id 0");
        assert.equal(await markerOn(1), "number", "engine 1 was not restarted");
        assert.deepEqual(cluster.pids.engines, pids, "the engine processes are the same");
        for (const pid of pids) Deno.kill(pid, "SIGCONT"); // throws if the process is gone

        // Both engines at once, then they still run work.
        await client.directView().execute("globalThis.marker = 7");
        await client.shutdown({ restart: true, block: true });
        await Promise.all([0, 1].map((id) => waitForFreshEngine(client, id, "marker")));
        assert.deepEqual(client.ids, [0, 1]);
        await assert.rejects(client.shutdown({ restart: true, hub: true }), InvalidOptionError);
      },
    );
  },
});
