/**
 * The Client against the real Python `ipcontroller` and against ours, with two Python
 * `ipengine`s (PROTOCOL.md §11.3): connection, engines, execute with output, Hub queries,
 * results of other clients, abort, resubmit, time-outs, shutdown and controller loss. Every
 * scenario runs once per controller, named in the test name.
 */

import assert from "node:assert/strict";
import { Client, Reference } from "../../src/client/client.ts";
import type { ExecuteReply } from "../../src/client/execute_reply.ts";
import {
  ConnectionFileError,
  ControllerLostError,
  RemoteError,
  TaskAborted,
  TimeoutError,
} from "../../src/errors.ts";
import { needsPython, PYTHON } from "../helpers/interop.ts";
import { needsSshd, Sshd } from "../helpers/sshd.ts";
import { CONTROLLERS, PythonCluster, waitFor } from "./python_cluster.ts";
import { step } from "../helpers/steps.ts";

const ignore = needsPython("ipyparallel");
const opts = { sanitizeOps: false, sanitizeResources: false };

async function connected(cluster: PythonCluster, engines = 2): Promise<Client> {
  const client = await Client.connect({ ...cluster.connectOptions, timeout: 20_000 });
  // Python engines register at the Hub's next heartbeat (3 s) after their own start-up, which
  // under the whole parallel suite once took longer than 30 s (the engines' logs were empty).
  await cluster.waitForEngines(client, engines, 60_000);
  return client;
}

Deno.test({
  name: "Client.connect names every path it tried when there is no connection file",
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      await assert.rejects(
        Client.connect({ profileDir: dir, clusterId: "nope", timeout: 0 }),
        (e: Error) => {
          assert.ok(e instanceof ConnectionFileError);
          assert.match(e.message, /ipcontroller-nope-client\.json/);
          assert.match(e.message, /controller/);
          return true;
        },
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

for (const { kind, label } of CONTROLLERS) {
  Deno.test({
    name: `Client works against the controller with Python engines ${label}`,
    ignore,
    ...opts,
    async fn(t) {
      await using cluster = await PythonCluster.start({ controller: kind, engines: 2 });
      await using client = await connected(cluster);
      const dv = client.directView();
      dv.serializer = "pickle";

      await step(t, "ids follow registrations", () => {
        assert.deepEqual(client.ids, [0, 1]);
        assert.ok(client.uuidOf(0));
      });

      await step(t, "execute of Python code captures stdout and execute_result", async () => {
        const ar = client.engine(0).execute("print('hello')\n6 * 7", { silent: false });
        const reply = (await ar) as ExecuteReply;
        assert.equal(reply.text, "42");
        assert.equal(ar.stdout, "hello\n");
        assert.equal(String(reply), `Out[0:${reply.executionCount}]: 42`);
        assert.deepEqual((ar.metadata as { engineId: number }).engineId, 0);
        const all = await dv.execute("x = 5");
        assert.equal((all as unknown[]).length, 2);
      });

      await step(t, "a remote Python error becomes RemoteError / CompositeError", async () => {
        await assert.rejects(client.engine(1).execute("1/0").get(), (e: Error) => {
          assert.ok(e instanceof RemoteError);
          assert.equal(e.ename, "ZeroDivisionError");
          assert.equal(e.engineInfo.engineId, 1);
          return true;
        });
      });

      await step(t, "apply(Reference('len')) with the pickle serializer", async () => {
        const e0 = client.engine(0);
        e0.serializer = "pickle";
        assert.equal(await e0.apply(new Reference("len"), [1, 2, 3]), 3);
        assert.deepEqual(await dv.apply(new Reference("len"), "abcd"), [4, 4]);
      });

      await step(t, "queueStatus, resultStatus, hubHistory, dbQuery", async () => {
        const e0 = client.engine(0);
        e0.serializer = "pickle";
        const ok = e0.apply(new Reference("len"), [1, 2]);
        assert.equal(await ok, 2);
        const msgId = ok.msgIds[0];
        const status = await client.queueStatus();
        assert.ok("unassigned" in status);
        assert.equal(
          typeof (status as Record<number, { completed: number }>)[0].completed,
          "number",
        );
        const one = await client.queueStatus(0, { verbose: true });
        assert.ok(Array.isArray((one as { completed: string[] }).completed));
        const rs = await client.resultStatus(msgId);
        assert.deepEqual(rs.completed, [msgId]);
        const full = await client.resultStatus([msgId], { statusOnly: false });
        assert.equal(full.results[msgId].value, 2);
        const history = await client.hubHistory();
        assert.ok(history.includes(msgId));
        const records = await client.dbQuery({ msg_id: msgId }, [
          "msg_id",
          "completed",
          "client_uuid",
          "result_buffers",
        ]);
        assert.equal(records.length, 1);
        assert.ok(records[0].completed instanceof Date);
        assert.equal(records[0].client_uuid, client.session.session);
        assert.equal((records[0].result_buffers as Uint8Array[]).length, 1);
      });

      await step(t, "getResult of a task submitted by a separate Python client", async () => {
        const msgId = await cluster.python(`
import ipyparallel as ipp
rc = ipp.Client(profile_dir=${JSON.stringify(cluster.profileDir)}, cluster_id=${
          JSON.stringify(cluster.clusterId)
        })
ar = rc[1].apply_async(len, [1, 2, 3, 4])
ar.get(10)
print(ar.msg_ids[0])
rc.close()`);
        assert.ok((await client.hubHistory()).includes(msgId));
        const [rec] = await client.dbQuery({ msg_id: msgId });
        assert.notEqual(rec.client_uuid, client.session.session);
        const ar = client.getResult(msgId);
        assert.equal(await ar.get(10_000), 4);
        assert.equal((ar.metadata as { engineId: number }).engineId, 1);
      });

      await step(t, "Python client sees ours via hub_history, db_query, get_result", async () => {
        const e1 = client.engine(1);
        e1.serializer = "pickle";
        const ar = e1.apply(new Reference("sum"), [1, 2, 3]);
        assert.equal(await ar.get(10_000), 6);
        const msgId = ar.msgIds[0];
        // Python's hub_history and db_query wait without a time-out: the process is killed
        // after 60 s, so a lost reply fails this step instead of hanging it.
        const run = await new Deno.Command(PYTHON, {
          args: [
            "-c",
            `
import json
import ipyparallel as ipp
rc = ipp.Client(profile_dir=${JSON.stringify(cluster.profileDir)}, cluster_id=${
              JSON.stringify(cluster.clusterId)
            })
mid = ${JSON.stringify(msgId)}
iso = lambda d: None if d is None else d.isoformat()
history = rc.hub_history()
records = rc.db_query({'msg_id': mid})
some = rc.db_query({'msg_id': mid}, keys=['completed', 'engine_uuid'])
print(json.dumps({
  'session': rc.session.session,
  'inHistory': mid in history,
  'records': [{
    'msg_id': r['msg_id'],
    'client_uuid': r['client_uuid'],
    'engine_uuid': r['engine_uuid'],
    'msg_type': r['header']['msg_type'],
    'status': r['result_content']['status'],
    'submitted': iso(r['submitted']),
    'started': iso(r['started']),
    'completed': iso(r['completed']),
  } for r in records],
  'someKeys': [sorted(r.keys()) for r in some],
  'result': rc.get_result(mid).get(10),
}))
rc.close()`,
          ],
          env: cluster.env,
          stdout: "piped",
          stderr: "piped",
          signal: AbortSignal.timeout(60_000),
        }).output();
        const text = new TextDecoder();
        const said = `${text.decode(run.stdout)}${text.decode(run.stderr)}`;
        assert.ok(run.success, `python failed (${run.signal ?? run.code}): ${said}`);
        const seen = JSON.parse(text.decode(run.stdout)) as {
          session: string;
          inHistory: boolean;
          records: Record<string, string | null>[];
          someKeys: string[][];
          result: number;
        };
        assert.equal(seen.inHistory, true, `hub_history() lacks ${msgId}`);
        assert.equal(seen.records.length, 1, said);
        const [rec] = seen.records;
        assert.equal(rec.msg_id, msgId);
        assert.equal(rec.client_uuid, client.session.session, "submitted by our client");
        assert.notEqual(rec.client_uuid, seen.session, "not by the Python client");
        assert.equal(rec.engine_uuid, client.uuidOf(1), "ran on engine 1");
        assert.equal(rec.msg_type, "apply_request");
        assert.equal(rec.status, "ok");
        const [submitted, started, completed] = [rec.submitted, rec.started, rec.completed]
          .map((d) => Date.parse(d ?? ""));
        for (const d of [submitted, started, completed]) assert.ok(Number.isFinite(d), said);
        assert.ok(submitted <= started && started <= completed, `dates in order: ${said}`);
        assert.deepEqual(seen.someKeys, [["completed", "engine_uuid", "msg_id"]]);
        assert.equal(seen.result, 6, "get_result() gives our result");
      });

      await step(t, "abort a queued request: TaskAborted", async () => {
        const e0 = client.engine(0);
        e0.serializer = "pickle";
        const slow = e0.execute("import time; time.sleep(1)");
        const queued = e0.apply(new Reference("len"), [1]);
        await client.abort(queued, { targets: 0, block: true });
        await assert.rejects(queued.get(10_000), TaskAborted);
        await slow;
      });

      await step(t, "resubmit runs a task again; the old AsyncResult follows it", async () => {
        const dv = client.directView();
        dv.serializer = "pickle";
        await dv.execute("import random");
        const e0 = client.engine(0);
        e0.serializer = "pickle";
        const ar = e0.apply(new Reference("random.random"));
        const first = await ar.get(10_000);
        const newIds = await client.resubmit(ar);
        assert.equal(newIds.length, 1);
        assert.notEqual(newIds[0], ar.msgIds[0]);
        const second = await client.getResult(newIds[0]).get(10_000);
        assert.equal(typeof second, "number");
        assert.notEqual(second, first);
        assert.equal(await ar.get(10_000), second, "the old AsyncResult gives the new result");
        assert.deepEqual(await client.getResult(newIds).get(10_000), [second]);
        const len = e0.apply(new Reference("len"), [1, 2, 3, 4, 5]);
        await len;
        await client.resubmit(len, { block: true });
        assert.equal(len.ready(), true);
        assert.equal(await len, 5);
      });

      await step(t, "wait and get honour time-outs; state is current without spin", async () => {
        const ar = client.engine(1).execute("import time; time.sleep(1.5)");
        const id = ar.msgIds[0];
        // No-ops, as in ipyparallel 7.1: they neither settle nor block anything.
        client.spin();
        client.spinThread(10);
        client.stopSpinThread();
        assert.ok(client.outstanding.has(id));
        assert.equal(await client.wait(ar, 100), false);
        assert.equal(await ar.wait(50), false);
        await assert.rejects(ar.get(100), TimeoutError);
        // Why spin is unnecessary: the moment the task settles, the client's state says so.
        const seen = await client.wait(ar, 10_000).then((done) => ({
          done,
          outstanding: client.outstanding.has(id),
          state: client.results.get(id)?.state,
          engineId: client.metadata.get(id)?.engineId,
          ids: client.ids,
        }));
        assert.deepEqual(seen, {
          done: true,
          outstanding: false,
          state: "done",
          engineId: 1,
          ids: [0, 1],
        });
        assert.equal(await client.wait(), true);
        assert.equal(client.outstanding.size, 0);
      });

      await step(t, "purge results here and at the Hub", async () => {
        const e0 = client.engine(0);
        e0.serializer = "pickle";
        const ar = e0.apply(new Reference("len"), [7]);
        await ar;
        const id = ar.msgIds[0];
        assert.ok(client.results.has(id));
        await client.purgeResults(id);
        assert.equal(client.results.get(id), undefined);
        assert.deepEqual(await client.dbQuery({ msg_id: id }), []);
        await client.purgeHubResults([], 1);
        await client.purgeEverything();
        assert.equal(client.history.length, 0);
        assert.deepEqual(await client.hubHistory(), []);
      });

      await step(t, {
        name: "a second client through an SSH tunnel (a real sshd) sees the same engines",
        ignore: needsSshd(),
        fn: async () => {
          await using sshd = await Sshd.start();
          await using tunnelled = await Client.connect({
            ...cluster.connectOptions,
            sshserver: sshd.server,
            sshkey: sshd.keyFile,
            sshCommand: await sshd.sshWrapper(),
            timeout: 20_000,
          });
          assert.deepEqual(tunnelled.ids, client.ids);
          const ar = tunnelled.engine(0).execute("print('via ssh')\n1 + 1", { silent: false });
          assert.equal(((await ar.get(20_000)) as ExecuteReply).text, "2");
          assert.equal(ar.stdout, "via ssh\n");
        },
      });

      await step(t, "clear resets the namespaces", async () => {
        await dv.execute("cleared = 1");
        await client.clear(undefined, { block: true });
        await assert.rejects(dv.execute("cleared").get(), /NameError/);
      });
    },
  });

  Deno.test({
    name: `Client: a controller that dies mid-wait fails waiters with ControllerLostError ${label}`,
    ignore,
    ...opts,
    async fn() {
      await using cluster = await PythonCluster.start({ controller: kind, engines: 1 });
      await using client = await Client.connect({
        ...cluster.connectOptions,
        timeout: 20_000,
        livenessIntervalMs: 200,
        log: () => {},
      });
      await waitFor(() => client.ids.length === 1, 30_000, "an engine");
      const ar = client.engine(0).execute("import time; time.sleep(30)");
      await new Promise((r) => setTimeout(r, 200));
      await cluster.killController();
      const t0 = Date.now();
      await assert.rejects(ar.get(20_000), ControllerLostError);
      assert.ok(Date.now() - t0 < 10_000);
      await assert.rejects(client.queueStatus(), ControllerLostError);
    },
  });

  Deno.test({
    name: `Client.shutdown({hub: true}) stops engines and the controller, then closes ${label}`,
    ignore,
    ...opts,
    async fn() {
      await using cluster = await PythonCluster.start({ controller: kind, engines: 2 });
      const client = await connected(cluster);
      await client.shutdown({ targets: 1, block: true });
      await waitFor(() => client.ids.length === 1, 10_000, "engine 1 to leave");
      await assert.rejects(client.shutdown({ restart: true, hub: true }), /restart and hub/);
      await client.shutdown({ hub: true });
      assert.equal(client.closed, true);
      await client.close();
      const status = await cluster.controllerExit(10_000);
      assert.ok(status, "the controller still runs after shutdown({hub: true})");
      assert.equal(status.code, 0);
    },
  });
}
