/**
 * Client options of issue #6 against a real local cluster (our controller and one of our
 * JavaScript engines, started by `Cluster`): `close({ linger })`, `getResult(jobs, { block,
 * owner })`, `resubmit(jobs, { metadata })`, the `debug` option's actor transitions, and
 * `spin()` being unnecessary.
 */

import assert from "node:assert/strict";
import type { Metadata } from "../../src/client/metadata.ts";
import { ControllerLostError, InvalidOptionError, RemoteError } from "../../src/errors.ts";
import { withConnectedCluster } from "../helpers/local_cluster.ts";
import { waitFor } from "./python_cluster.ts";
import { step } from "../helpers/steps.ts";
import { within } from "../helpers/timing.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

/** A log sink that keeps every line with its level. */
function capture(): { lines: [string, string][]; log: (level: string, message: string) => void } {
  const lines: [string, string][] = [];
  return { lines, log: (level, message) => void lines.push([level, message]) };
}

/** Resolves with `"timeout"` after `ms`, unless `p` settles first (with `"settled"`). */
function settlesWithin(p: Promise<unknown>, ms: number): Promise<"settled" | "timeout"> {
  return within(p.then(() => "settled" as const), ms);
}

Deno.test({
  name: "Client options on our controller: debug transitions, getResult, resubmit, spin, close",
  ...opts,
  async fn(t) {
    await withConnectedCluster(
      // The linger steps cut 32 MiB pushes off mid-message: the controller closes the engine's
      // half-forwarded connection, and what is sent to the engine meanwhile waits for it.
      { n: 1, clusterId: "options", controllerArgs: ["--ping=500"], client: { timeout: 20_000 } },
      async (cluster, client) => {
        const lv = client.loadBalancedView();
        const connected = async (options: Parameters<typeof cluster.connect>[0] = {}) => {
          const c = await cluster.connect({ timeout: 20_000, ...options });
          await cluster.waitForEngines(c, 1);
          return c;
        };

        await step(t, "debug logs task, engine and Hub link actor transitions", async () => {
          const sink = capture();
          const traced = await connected({ debug: true, log: sink.log });
          const ar = traced.loadBalancedView().apply(() => 6 * 7);
          assert.equal(await ar.get(20_000), 42);
          await traced.close();
          const actorLines = sink.lines.filter(([, m]) => m.startsWith("actor "));
          assert.ok(actorLines.every(([level]) => level === "debug"), "all at level debug");
          const has = (line: string) => actorLines.some(([, m]) => m === line);
          const task = `actor task ${ar.msgIds[0]}: `;
          assert.ok(has(`${task}start -> pending (xstate.init)`), "the task actor starts");
          assert.ok(
            actorLines.some(([, m]) => m.startsWith(task) && / -> done \(REPLY\)$/.test(m)),
            `the task actor's final transition, in ${JSON.stringify(actorLines)}`,
          );
          assert.ok(has("actor hub: connecting -> connected (CONNECTED)"), "the Hub link");
          assert.ok(has("actor hub: connected -> closed (CLOSE)"), "closing the Hub link");
          assert.ok(has("actor engine 0: registering -> idle (REGISTERED)"), "the engine");
          // Messages are still logged too.
          assert.ok(sink.lines.some(([, m]) => m.startsWith("send task: ")));
        });

        await step(t, "without debug, no transition (or any debug) line is logged", async () => {
          const sink = capture();
          const quiet = await connected({ log: sink.log });
          assert.equal(await quiet.loadBalancedView().apply(() => 1).get(20_000), 1);
          await quiet.close();
          assert.deepEqual(sink.lines.filter(([level]) => level === "debug"), []);
          assert.deepEqual(sink.lines.filter(([, m]) => m.startsWith("actor ")), []);
        });

        await step(
          t,
          "getResult({ block: true }) gives a promise of the settled value",
          async () => {
            const ar = lv.apply(
              (ms: number) => new Promise((resolve) => setTimeout(() => resolve("late"), ms)),
              300,
            );
            const id = ar.msgIds[0];
            const blocked = client.getResult(id, { block: true });
            assert.ok(blocked instanceof Promise, "a promise, not the AsyncResult");
            assert.ok(client.outstanding.has(id));
            assert.equal(await blocked, "late");
            assert.equal(client.outstanding.has(id), false, "settled when it resolves");
            // A failure rejects, as get() does.
            const bad = lv.apply(() => {
              throw new Error("boom");
            });
            await assert.rejects(client.getResult(bad, { block: true }), RemoteError);
            // Without block (and with block: false): the AsyncResult itself.
            assert.equal(typeof client.getResult(id).ready, "function");
            assert.equal(client.getResult(id, { block: false }).ready(), true);
          },
        );

        await step(t, "getResult({ owner: true }): reading drops the result here", async () => {
          const ar = lv.apply(() => "mine");
          await ar.get(20_000);
          const id = ar.msgIds[0];
          // The default (owner false) leaves the caches alone.
          assert.equal(await client.getResult(id), "mine");
          assert.equal(client.results.get(id)?.value, "mine");
          assert.ok(client.metadata.get(id) !== undefined);

          const owned = client.getResult(id, { owner: true });
          assert.ok(client.results.has(id), "not read yet: still cached");
          assert.equal(await owned, "mine");
          assert.equal(client.results.has(id), false, "read by its owner: gone from results");
          assert.equal(client.metadata.get(id), undefined, "and from metadata");
          // The owner keeps its own copy, and the Hub still has the record.
          assert.equal(await owned.get(), "mine");
          assert.equal((owned.metadata as Metadata).engineId, 0);
          assert.equal(await client.getResult(id).get(20_000), "mine", "fetched from the Hub");

          // block and owner together; a failure read by its owner goes too.
          const two = lv.apply(() => 2);
          const bad = lv.apply(() => {
            throw new Error("owned failure");
          });
          await Promise.all([two.wait(20_000), bad.wait(20_000)]);
          assert.equal(await client.getResult(two, { block: true, owner: true }), 2);
          await assert.rejects(client.getResult(bad, { block: true, owner: true }), RemoteError);
          assert.equal(client.results.has(two.msgIds[0]), false);
          assert.equal(client.results.has(bad.msgIds[0]), false);
        });

        await step(t, "resubmit refuses metadata it cannot send, with the reason", async () => {
          const ar = lv.apply(() => 5);
          await ar.get(20_000);
          const before = await client.hubHistory();
          await assert.rejects(
            client.resubmit(ar, { metadata: { retries: 2 } }),
            (e: Error) => {
              assert.ok(e instanceof TypeError, `a TypeError, got ${e.name}`);
              assert.match(e.message, /resubmit_request carries only msg_ids/);
              assert.match(e.message, /retries/);
              return true;
            },
          );
          assert.deepEqual(await client.hubHistory(), before, "nothing was resubmitted");
          assert.equal(client.outstanding.size, 0);
          // Empty metadata loses nothing: accepted, as no metadata is.
          const [newId] = await client.resubmit(ar, { metadata: {}, block: true });
          assert.equal(await client.getResult(newId).get(20_000), 5);
          const [again] = await client.resubmit(ar, { metadata: null, block: true });
          assert.equal(await client.getResult(again).get(20_000), 5);
        });

        await step(t, "state is current when a task settles, without spin()", async () => {
          assert.deepEqual(client.ids, [0]);
          const ar = client.directView(0).apply(
            () => new Promise((resolve) => setTimeout(() => resolve("spun?"), 200)),
          );
          const id = ar.msgIds[0];
          assert.ok(client.outstanding.has(id));
          // The three no-ops neither settle nor block anything.
          client.spin();
          client.spinThread(10);
          client.stopSpinThread();
          assert.ok(client.outstanding.has(id));
          // When the AsyncResult reports ready, the client's own state already says so.
          const seen = await ar.wait(20_000).then((ready) => ({
            ready,
            outstanding: client.outstanding.has(id),
            value: client.results.get(id)?.value,
            engineId: client.metadata.get(id)?.engineId,
          }));
          assert.deepEqual(seen, { ready: true, outstanding: false, value: "spun?", engineId: 0 });
        });

        await step(
          t,
          "close() rejects a bad linger and stays open; await using closes",
          async () => {
            const c = await connected();
            await assert.rejects(c.close({ linger: -1 }), InvalidOptionError);
            await assert.rejects(c.close({ linger: NaN }), InvalidOptionError);
            assert.equal(c.closed, false);
            assert.equal(await c.loadBalancedView().apply(() => "open").get(20_000), "open");
            {
              await using scoped = c;
              assert.equal(scoped.closed, false);
            }
            assert.equal(c.closed, true);
          },
        );

        await step(t, "close({ linger }) still sends a message queued just before", async () => {
          const sender = await connected();
          const pushed = sender.directView(0).push({ lingerMark: new Uint8Array(32 << 20) });
          await sender.close({ linger: 60_000 });
          // Its reply cannot reach a closed client, but the request itself went out.
          await assert.rejects(pushed.get(1_000), ControllerLostError);
          const markLength = () =>
            client.directView(0).apply(() =>
              (globalThis as { lingerMark?: Uint8Array }).lingerMark?.length ?? 0
            ).get(20_000);
          await waitFor(async () => await markLength() === 32 << 20, 20_000, "the pushed array");
        });

        await step(
          t,
          "close({ linger: 0 }) returns at once, even when nothing can be sent",
          async () => {
            // Through the controller: the same-host direct path would pass it by.
            const dropper = await connected({ direct: false });
            const bounded = await connected({ direct: false });
            const pid = cluster.pids.controller!;
            // A stopped controller reads nothing: queued messages cannot drain.
            Deno.kill(pid, "SIGSTOP");
            let results: ("settled" | "timeout")[];
            try {
              dropper.directView(0).push({ dropMark: new Uint8Array(32 << 20) });
              bounded.directView(0).push({ boundMark: new Uint8Array(32 << 20) });
              results = await Promise.all([
                settlesWithin(dropper.close({ linger: 0 }), 5_000),
                // linger bounds the wait: it gives up when the time is over.
                settlesWithin(bounded.close({ linger: 300 }), 5_000),
              ]);
            } finally {
              Deno.kill(pid, "SIGCONT");
            }
            assert.deepEqual(results, ["settled", "settled"]);
            assert.ok(dropper.closed && bounded.closed);
            // What was cut off mid-message never reaches the engine.
            const marks = await client.directView(0).apply(() => {
              const g = globalThis as { dropMark?: unknown; boundMark?: unknown };
              return [typeof g.dropMark, typeof g.boundMark];
            }).get(20_000);
            assert.deepEqual(marks, ["undefined", "undefined"]);
          },
        );
      },
    );
  },
});
