/**
 * The Client's own API against a real cluster of our controller (`ipp controller`) and three
 * of our JavaScript engines (no Python): `sendApplyRequest`/`sendExecuteRequest`, `metadata`
 * and `results`, `purgeLocalResults`, `block`, the connect options `username`, `key` and
 * `profile`, the Hub queries (`resultStatus`, `hubHistory`, `wait`, the `purge*` family),
 * and engine selection (`engine`, `engines(start, stop, step)`, `directView("all")` following
 * an engine that joins later). DirectView's methods are in `direct_view_live_test.ts`.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { Client } from "../../src/client/client.ts";
import type { ExecuteReply } from "../../src/client/execute_reply.ts";
import type { Metadata } from "../../src/client/metadata.ts";
import {
  ConnectionFileError,
  ControllerLostError,
  InvalidOptionError,
  OutstandingTasksError,
  RemoteError,
} from "../../src/errors.ts";
import { withLocalCluster } from "../helpers/local_cluster.ts";
import { waitFor } from "./python_cluster.ts";
import { step } from "../helpers/steps.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const T = 20_000; // limit of every remote result: a lost message fails, not hangs
const CLUSTER_ID = "apilive";

/** Resolves with `ms` after `ms` milliseconds (runs on an engine: no closure). */
const sleep = (ms: number) => new Promise<number>((r) => setTimeout(() => r(ms), ms));

Deno.test({
  name: "Client API on our controller and three JavaScript engines",
  ...opts,
  async fn(t) {
    await withLocalCluster(
      { n: 3, clusterId: CLUSTER_ID, controllerArgs: ["--ping=500"] },
      async (cluster, dir) => {
        await cluster.start();
        const client: Client = await cluster.connect({ timeout: T });
        await cluster.waitForEngines(client, 3);
        assert.deepEqual(client.ids, [0, 1, 2]);

        await step(
          t,
          "sendApplyRequest: mux, task and broadcast requests run and are tracked",
          async () => {
            const mux = client.sendApplyRequest("mux", (a: number, b: number) => a * b, {
              args: [6, 7],
              target: 1,
            });
            assert.deepEqual(mux.trackedIds, [mux.msgId]);
            assert.equal(client.history.at(-1), mux.msgId);
            assert.ok(client.outstanding.has(mux.msgId));
            const muxAr = client.asyncResult<number>(mux.msgId);
            assert.equal(await muxAr.get(T), 42);
            assert.equal((muxAr.metadata as Metadata).engineId, 1);

            // kwargs reach a JavaScript function as one last object; metadata reaches the
            // scheduler (its `targets` pins the task to engine 2).
            const task = client.sendApplyRequest(
              "task",
              (a: number, kw: { b: number }) => a + kw.b,
              {
                args: [1],
                kwargs: { b: 2 },
                metadata: { targets: [client.uuidOf(2)], after: [], follow: [], retries: 0 },
              },
            );
            const taskAr = client.asyncResult<number>(task.msgId);
            assert.equal(await taskAr.get(T), 3);
            assert.equal((taskAr.metadata as Metadata).engineId, 2);

            const bc = client.sendApplyRequest("broadcast", (x: number) => x + 1, {
              args: [9],
              broadcastTargets: [0, 2],
            });
            assert.deepEqual(bc.trackedIds, [
              `${bc.msgId}_${client.uuidOf(0)}`,
              `${bc.msgId}_${client.uuidOf(2)}`,
            ]);
            assert.deepEqual(client.history.slice(-2), bc.trackedIds);
            const bcAr = client.asyncResult<number[]>(bc.trackedIds);
            assert.deepEqual(await bcAr.get(T), [10, 10]);
            assert.deepEqual((bcAr.metadata as Metadata[]).map((m) => m.engineId), [0, 2]);

            assert.throws(() => client.sendApplyRequest("mux", () => 1), InvalidOptionError);
            assert.throws(
              () => client.sendApplyRequest("mux", () => 1, { target: 99 }),
              /Engine 99 is not registered/,
            );
          },
        );

        await step(
          t,
          "sendExecuteRequest: silent or not, userExpressions, mux and task",
          async () => {
            const loud = client.sendExecuteRequest("mux", "globalThis.sx = 5; sx * 2", {
              target: 0,
              silent: false,
              userExpressions: { double: "sx * 2", bad: "nope.x" },
            });
            const reply = await client.asyncResult<ExecuteReply>(loud.msgId).get(T);
            assert.equal(reply.text, "10");
            assert.equal(reply.metadata.engineId, 0);
            assert.equal(reply.metadata.executeInput, "globalThis.sx = 5; sx * 2");
            const ue = reply.content.user_expressions as Record<string, Record<string, unknown>>;
            assert.equal(ue.double.status, "ok");
            assert.deepEqual((ue.double.data as Record<string, unknown>)["text/plain"], "10");
            assert.equal(ue.bad.status, "error");
            assert.equal(ue.bad.ename, "ReferenceError");

            // silent (the default): no execute_result, no execute_input.
            const quiet = client.sendExecuteRequest("mux", "sx + 1", { target: 0 });
            const quietReply = await client.asyncResult<ExecuteReply>(quiet.msgId).get(T);
            assert.equal(quietReply.text, "");
            assert.equal(quietReply.metadata.executeInput, null);

            const lb = client.sendExecuteRequest("task", "console.log('via task')", {
              silent: false,
            });
            const lbAr = client.asyncResult<ExecuteReply>(lb.msgId);
            await lbAr.get(T);
            assert.equal(lbAr.stdout, "via task\n");
            assert.ok([0, 1, 2].includes((lbAr.metadata as Metadata).engineId as number));

            const failing = client.sendExecuteRequest("mux", "throw new RangeError('bad x')", {
              target: 1,
            });
            await assert.rejects(
              client.asyncResult(failing.msgId).get(T),
              (e: Error) => e instanceof RemoteError && e.ename === "RangeError",
            );
          },
        );

        await step(
          t,
          "Client.metadata and results: per msg_id; undefined when unknown",
          async () => {
            const ar = client.engine(2).apply(() => {
              console.log("md out");
              console.error("md err");
              return "md";
            });
            assert.equal(await ar.get(T), "md");
            const id = ar.msgIds[0];
            const md = client.metadata.get(id)!;
            assert.equal(md.msgId, id);
            assert.equal(md.engineId, 2);
            assert.equal(md.engineUuid, client.uuidOf(2));
            assert.equal(md.status, "ok");
            assert.equal(md.stdout, "md out\n");
            assert.equal(md.stderr, "md err\n");
            for (const k of ["submitted", "started", "completed", "received"] as const) {
              assert.ok(md[k] instanceof Date, `${k} is a Date`);
            }
            assert.ok(md.started!.getTime() <= md.completed!.getTime());
            assert.equal(client.results.get(id)?.value, "md");
            assert.equal(client.results.get(id)?.state, "done");
            assert.equal(client.metadata.get("no-such-msg-id"), undefined);
            assert.equal(client.results.has("no-such-msg-id"), false);
          },
        );

        await step(
          t,
          "purgeLocalResults: throws while outstanding; by msg_id, target, all",
          async () => {
            const slow = client.engine(0).apply(sleep, 800);
            const on1 = client.engine(1).apply(() => 1);
            const on2 = client.engine(2).apply(() => 2);
            assert.deepEqual(await Promise.all([on1.get(T), on2.get(T)]), [1, 2]);
            const [slowId, id1, id2] = [slow, on1, on2].map((ar) => ar.msgIds[0]);

            assert.throws(() => client.purgeLocalResults(slow), (e: Error) => {
              assert.ok(e instanceof OutstandingTasksError);
              assert.deepEqual(e.msgIds, [slowId]);
              return true;
            });
            assert.throws(() => client.purgeLocalResults("all"), OutstandingTasksError);
            assert.throws(() => client.purgeLocalResults([id1, slowId]), OutstandingTasksError);
            assert.ok(client.results.has(id1), "a refused purge forgets nothing");

            client.purgeLocalResults([], 2); // every settled result from engine 2
            assert.equal(client.results.has(id2), false);
            assert.ok(client.results.has(id1));
            client.purgeLocalResults(id1);
            assert.equal(client.results.has(id1), false);
            // Local only: the Hub still has the record.
            assert.equal((await client.dbQuery({ msg_id: id1 }, ["msg_id"])).length, 1);
            // The AsyncResult keeps its own copy.
            assert.equal(await on1.get(T), 1);

            assert.equal(await slow.get(T), 800);
            client.purgeLocalResults("all");
            assert.equal(client.results.has(slowId), false);
          },
        );

        await step(t, "block: views take the client's; with block, resubmit waits", async () => {
          assert.equal(client.block, false);
          const before = client.directView();
          const lv = client.loadBalancedView();
          assert.equal(before.block, false);
          const ar = lv.apply(async () => {
            await new Promise((r) => setTimeout(r, 400));
            return "slept";
          });
          assert.equal(await ar.get(T), "slept");

          const [free] = await client.resubmit(ar);
          assert.ok(client.outstanding.has(free), "block false: resubmit does not wait");
          assert.equal(await client.wait(free, T), true);
          assert.equal(client.results.get(free)?.value, "slept");

          client.block = true;
          try {
            assert.equal(client.directView().block, true, "a new view takes block");
            assert.equal(client.loadBalancedView().block, true);
            assert.equal(before.block, false, "an existing view keeps its own");
            const [blocked] = await client.resubmit(ar);
            assert.equal(client.outstanding.has(blocked), false, "block true: resubmit waited");
            assert.equal(client.results.get(blocked)?.value, "slept");
            // clear with block: the namespace is cleared when the promise settles.
            await client.directView(1).execute("globalThis.gone = 1").get(T);
            await client.clear(1);
            await assert.rejects(client.engine(1).pull("gone").get(T), RemoteError);
          } finally {
            client.block = false;
          }
        });

        await step(
          t,
          "connect option username: in the Hub's records of the client's tasks",
          async () => {
            await using other = await Client.connect({
              profileDir: dir,
              clusterId: CLUSTER_ID,
              username: "ipp-live-user",
              timeout: T,
            });
            assert.equal(other.session.username, "ipp-live-user");
            const ar = other.engine(0).apply(() => "theirs");
            assert.equal(await ar.get(T), "theirs");
            // Asked by the client that got the result: the Hub has recorded it by then, even
            // if it went the same-host direct path (another client may be a few ms early).
            const [rec] = await other.dbQuery({ msg_id: ar.msgIds[0] }, ["header", "client_uuid"]);
            assert.equal((rec.header as Record<string, unknown>).username, "ipp-live-user");
            assert.equal(rec.client_uuid, other.session.session);
            // Without the option: $USER, else "username".
            const mine = client.engine(0).apply(() => 0);
            await mine.get(T);
            const [own] = await client.dbQuery({ msg_id: mine.msgIds[0] }, ["header"]);
            assert.equal(
              (own.header as Record<string, unknown>).username,
              Deno.env.get("USER") ?? "username",
            );
          },
        );

        await step(
          t,
          "connect option key: overrides the file's; a wrong key gets no reply",
          async () => {
            const info = JSON.parse(await Deno.readTextFile(cluster.clientFile));
            assert.equal(typeof info.key, "string");
            const spoilt = join(dir, "spoilt-client.json");
            await Deno.writeTextFile(spoilt, JSON.stringify({ ...info, key: "not-the-key" }));
            // The file's key is wrong, the option's is right: connects and runs work.
            await using good = await Client.connect({ urlFile: spoilt, key: info.key, timeout: T });
            assert.deepEqual(good.ids, [0, 1, 2]);
            assert.equal(await good.engine(1).apply(() => "keyed").get(T), "keyed");
            // The controller drops what a wrong key signs (no reply, PROTOCOL.md §1.11): the
            // client gives up after `timeout` with ControllerLostError.
            const t0 = Date.now();
            await assert.rejects(
              Client.connect({ urlFile: cluster.clientFile, key: "wrong-key", timeout: 1500 }),
              (e: Error) => {
                assert.ok(e instanceof ControllerLostError, `${e.name}: ${e.message}`);
                assert.match(e.message, /no connection_reply .*within 1500 ms/i);
                // Something listens but stays silent: the message points at the key.
                assert.match(e.message, /did not answer: check that the key/);
                return true;
              },
            );
            assert.ok(Date.now() - t0 >= 1400, "it waited for the time-out");
            await assert.rejects(
              Client.connect({ urlFile: spoilt, timeout: 1000 }),
              ControllerLostError,
              "the file's own wrong key, without the option",
            );
            // The controller is unharmed.
            assert.equal(await client.engine(0).apply(() => "still").get(T), "still");
          },
        );

        await step(t, "connect option profile: finds <ipythonDir>/profile_<name>", async () => {
          const ipython = await Deno.makeTempDir({ prefix: "ipp-ipython-" });
          try {
            await Deno.symlink(dir, join(ipython, "profile_live"));
            await using byName = await Client.connect({
              profile: "live",
              ipythonDir: ipython,
              clusterId: CLUSTER_ID,
              timeout: T,
            });
            assert.equal(
              byName.connectionFile,
              join(ipython, "profile_live", "security", `ipcontroller-${CLUSTER_ID}-client.json`),
            );
            assert.deepEqual(byName.ids, client.ids);
            assert.equal(await byName.engine(2).apply(() => "by profile").get(T), "by profile");
            await assert.rejects(
              Client.connect({
                profile: "nosuch",
                ipythonDir: ipython,
                clusterId: CLUSTER_ID,
                timeout: 200,
              }),
              (e: Error) => {
                assert.ok(e instanceof ConnectionFileError);
                assert.ok(e.paths[0].startsWith(join(ipython, "profile_nosuch", "security")));
                return true;
              },
            );
          } finally {
            await Deno.remove(ipython, { recursive: true });
          }
        });

        await step(t, "resultStatus, hubHistory and wait with our engines", async () => {
          const slow = client.engine(0).apply(sleep, 1500);
          const done = client.engine(1).apply(() => "x");
          assert.equal(await done.get(T), "x");
          const [slowId, doneId] = [slow.msgIds[0], done.msgIds[0]];

          const status = await client.resultStatus([slow, done]);
          assert.deepEqual(status.pending, [slowId]);
          assert.deepEqual(status.completed, [doneId]);
          assert.deepEqual(status.results, {}, "statusOnly is the default");
          const full = await client.resultStatus(doneId, { statusOnly: false });
          assert.deepEqual(full.completed, [doneId]);
          assert.equal(full.results[doneId].value, "x");
          await assert.rejects(
            client.resultStatus("no-such-msg-id"),
            (e: Error) => e instanceof RemoteError && e.ename === "KeyError",
          );

          const history = await client.hubHistory();
          assert.ok(history.includes(slowId) && history.includes(doneId));
          for (const id of client.history.filter((h) => !h.includes("_"))) {
            assert.ok(history.includes(id), `the Hub recorded ${id}`);
          }

          assert.equal(await client.wait(slow, 100), false, "not done within 100 ms");
          assert.equal(await client.wait(undefined, 50), false, "everything outstanding: not yet");
          assert.equal(await client.wait([slow, done], T), true);
          assert.equal(slow.ready(), true);
          assert.equal(await client.wait(), true, "nothing outstanding");
          assert.deepEqual(
            (await client.resultStatus(slow)).completed,
            [slowId],
          );
        });

        await step(
          t,
          "purgeResults, purgeHubResults, purgeEverything with our engines",
          async () => {
            const a = client.engine(0).apply(() => "a");
            const b = client.engine(1).apply(() => "b");
            const c = client.engine(2).apply(() => "c");
            assert.deepEqual(await Promise.all([a, b, c].map((ar) => ar.get(T))), ["a", "b", "c"]);
            const [aId, bId, cId] = [a, b, c].map((ar) => ar.msgIds[0]);
            const hubHas = async (id: string) =>
              (await client.dbQuery({ msg_id: id })).length === 1;

            await client.purgeResults(a);
            assert.equal(client.results.has(aId), false, "purged here");
            assert.equal(await hubHas(aId), false, "and at the Hub");
            assert.equal((await client.hubHistory()).includes(aId), false);

            await client.purgeHubResults(b);
            assert.equal(await hubHas(bId), false);
            assert.equal(
              client.results.get(bId)?.value,
              "b",
              "purgeHubResults keeps local results",
            );

            // By engine: every completed record of engine 2 goes.
            const uuid2 = client.uuidOf(2);
            assert.ok((await client.dbQuery({ engine_uuid: uuid2 }, ["msg_id"])).length > 0);
            await client.purgeHubResults([], 2);
            assert.deepEqual(await client.dbQuery({ engine_uuid: uuid2 }, ["msg_id"]), []);
            assert.equal(await hubHas(cId), false);
            assert.ok(client.results.has(cId));

            await assert.rejects(client.purgeHubResults(), InvalidOptionError);
            const slow = client.engine(0).apply(sleep, 1500);
            // The Hub learns of a request from the MUX relay, which can trail this query.
            await waitFor(
              () => client.resultStatus(slow).then((s) => s.pending.length === 1, () => false),
              T,
              "the Hub to record the pending task",
            );
            await assert.rejects(
              client.purgeHubResults(slow),
              (e: Error) => e instanceof RemoteError && /pending/.test(e.evalue),
            );
            await assert.rejects(client.purgeEverything(), OutstandingTasksError);
            assert.ok(client.history.length > 0, "a refused purgeEverything forgets nothing");
            assert.equal(await slow.get(T), 1500);

            await client.purgeEverything();
            assert.equal(client.history.length, 0);
            assert.deepEqual(await client.hubHistory(), []);
            assert.deepEqual(await client.dbQuery({}, ["msg_id"]), []);
            assert.equal(client.results.has(bId), false);
            // Still usable afterwards.
            assert.equal(await client.engine(0).apply(() => "after").get(T), "after");
            assert.equal(client.history.length, 1);
          },
        );

        await step(t, "engine(i) and engines(start, stop, step) select by position", async () => {
          const idsOf = (v: { targets: unknown }) => v.targets;
          assert.deepEqual(idsOf(client.engines()), [0, 1, 2]);
          assert.deepEqual(idsOf(client.engines(1)), [1, 2]);
          assert.deepEqual(idsOf(client.engines(0, undefined, 2)), [0, 2]);
          assert.deepEqual(idsOf(client.engines(-1)), [2]);
          assert.deepEqual(idsOf(client.engines(undefined, -1)), [0, 1]);
          assert.deepEqual(idsOf(client.engines(5)), []);
          assert.throws(() => client.engines(0, undefined, 0), InvalidOptionError);
          assert.throws(() => client.engine(3), InvalidOptionError);
          assert.equal(client.engine(-1).targets, 2);

          const tail = client.engines(1).apply(() => Deno.pid);
          const pids = await tail.get(T);
          assert.equal(pids.length, 2);
          assert.deepEqual((tail.metadata as Metadata[]).map((m) => m.engineId), [1, 2]);
          const everyPid = await client.engines().apply(() => Deno.pid).get(T);
          assert.deepEqual(pids, everyPid.slice(1));
          const stepped = client.engines(0, undefined, 2).apply(() => Deno.pid);
          assert.deepEqual(await stepped.get(T), [everyPid[0], everyPid[2]]);
          const last = client.engine(-1).apply(() => Deno.pid);
          assert.equal(await last.get(T), everyPid[2], "one engine: a single value");
          assert.equal((last.metadata as Metadata).engineId, 2);
        });

        await step(
          t,
          'directView("all") follows an engine that joins; a list does not',
          async () => {
            const all = client.directView();
            const list = client.directView([0, 1, 2]);
            const sliced = client.engines();
            await cluster.startEngines(1);
            await waitFor(() => client.ids.length === 4, 30_000, "a fourth engine");
            assert.deepEqual(client.ids, [0, 1, 2, 3]);
            assert.deepEqual(all.engineIds, [0, 1, 2, 3]);
            const fromAll = all.apply(() => Deno.pid);
            const pids = await fromAll.get(T);
            assert.equal(pids.length, 4);
            assert.deepEqual([...pids].sort(), [...cluster.pids.engines].sort());
            assert.deepEqual((fromAll.metadata as Metadata[]).map((m) => m.engineId), [0, 1, 2, 3]);
            assert.deepEqual(await list.apply(() => 1).get(T), [1, 1, 1]);
            assert.deepEqual(list.engineIds, [0, 1, 2]);
            assert.deepEqual(await sliced.apply(() => 1).get(T), [1, 1, 1]);
            assert.deepEqual(client.engines().targets, [0, 1, 2, 3], "a new slice sees it");
          },
        );
      },
    );
  },
});
