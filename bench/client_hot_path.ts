/**
 * Per-task client overhead (serialize, sign, task record, queue on the socket), measured
 * against a scripted controller that swallows requests, so only the client's work counts; then
 * the receive path: the scripted controller answers every task as our engine answers our
 * client's quiet requests (an `apply_reply` with `iopub_count: 0` and no IOPub `status`, packed
 * before the clock starts; `--status` adds busy and idle, as for ipyparallel's engines) and the
 * time until every AsyncResult settled is the client's receive work plus the scripted side's
 * socket writes.
 * Not a test: run `deno run -A bench/client_hot_path.ts [N] [--status]`.
 *
 * @module
 */

import { Client, Reference } from "../src/client/client.ts";
import type { AsyncResult } from "../src/client/async_result.ts";
import { serializeObject } from "../src/protocol/serialize.ts";
import { Session } from "../src/protocol/session.ts";
import { FakeController } from "../tests/client/fake_controller.ts";

const N = Number(Deno.args.find((a) => !a.startsWith("--")) ?? 5_000);
const withStatus = Deno.args.includes("--status");
const fake = await FakeController.start();
fake.record = false;
const f = (x: number) => x + 1;
let client: Client;

// A fresh client per case: the scripted controller never answers, so tasks stay outstanding
// (one live actor each), and a case must not pay for the garbage of the previous one.
async function measure(
  name: string,
  submit: (i: number) => unknown,
  channel: "task" | "mux",
) {
  await client?.close();
  client = await Client.connect({ urlFile: fake.file, log: () => {}, livenessIntervalMs: 0 });
  for (let i = 0; i < 2000; i++) submit(i); // warm up
  const before = fake.counts.get(channel)!;
  const t0 = performance.now();
  for (let i = 0; i < N; i++) submit(i);
  const t1 = performance.now();
  await fake.waitFor(channel, before + N, 120_000);
  const t2 = performance.now();
  console.log(
    `${name.padEnd(44)} ${((t1 - t0) * 1000 / N).toFixed(1).padStart(6)} µs/task submit, ` +
      `${((t2 - t0) * 1000 / N).toFixed(1).padStart(6)} µs/task until received`,
  );
}

await measure(
  "client.sendApplyRequest(task, fn, [i])",
  (i) => client.sendApplyRequest("task", f, { args: [i] }),
  "task",
);
await measure(
  "lview.apply(fn, i)  (+ AsyncResult)",
  (i) => client.loadBalancedView().apply(f, i),
  "task",
);
await measure("engine(0).apply(fn, i)  (MUX)", (i) => client.engine(0).apply(f, i), "mux");
await measure(
  "sendApplyRequest(task, Reference, pickle)",
  (i) =>
    client.sendApplyRequest("task", new Reference("len"), { args: [[i]], serializer: "pickle" }),
  "task",
);
await measure(
  "sendExecuteRequest(task, code)",
  () => client.sendExecuteRequest("task", "x = 1"),
  "task",
);

// Receive path: answer tasks the way an engine behind the controller does.
const engine = new Session({ key: "fake-key-0123", session: "engine-0-uuid" });
const result = serializeObject(1);
function answers(requests: Uint8Array[][]): { task: Uint8Array[][]; iopub: Uint8Array[][] } {
  const task: Uint8Array[][] = [];
  const iopub: Uint8Array[][] = [];
  for (const frames of requests) {
    const request = fake.session.unpack(frames, { verify: false });
    const parent = request.header;
    const status = (execution_state: "busy" | "idle") =>
      engine.pack(engine.msg("status", {
        identities: ["engine.0.status"],
        parent,
        metadata: { engine: "engine-0-uuid" },
        content: { execution_state },
      }));
    iopub.push(status("busy"));
    const started = new Date().toISOString();
    task.push(
      engine.pack(engine.msg("apply_reply", {
        identities: request.identities,
        parent,
        metadata: {
          status: "ok",
          engine: "engine-0-uuid",
          started,
          dependencies_met: true,
          is_broadcast: false,
          is_coalescing: false,
          original_msg_id: "",
          ...(withStatus ? {} : { iopub_count: 0 }),
        },
        content: { status: "ok" },
        buffers: result,
      })),
    );
    iopub.push(status("idle"));
  }
  return { task, iopub };
}

/** CPU time of this process in ms (Linux `/proc`, 10 ms ticks), or NaN elsewhere. */
function cpuMs(): number {
  try {
    const f = Deno.readTextFileSync("/proc/self/stat").split(") ")[1].split(" ");
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return NaN;
  }
}

async function receive(n: number): Promise<[number, number]> {
  fake.record = true;
  fake.received.get("task")!.length = 0;
  const before = fake.counts.get("task")!;
  const lview = client.loadBalancedView();
  const ars: AsyncResult[] = [];
  for (let i = 0; i < n; i++) ars.push(lview.apply(f, i));
  await fake.waitFor("task", before + n, 120_000);
  const { task, iopub } = answers(fake.received.get("task")!);
  fake.received.get("task")!.length = 0;
  fake.record = false;
  const t0 = performance.now();
  const c0 = cpuMs();
  for (let i = 0; i < n; i++) {
    if (withStatus) fake.iopub.send(iopub[2 * i]);
    fake.send("task", task[i]);
    if (withStatus) fake.iopub.send(iopub[2 * i + 1]);
  }
  await Promise.all(ars.map((ar) => ar.get()));
  return [(performance.now() - t0) * 1000 / n, (cpuMs() - c0) * 1000 / n];
}

await client!.close();
client = await Client.connect({ urlFile: fake.file, log: () => {}, livenessIntervalMs: 0 });
await receive(2000); // warm up
const [perTask, cpuPerTask] = await receive(N);
console.log(
  `${`receive: ${withStatus ? "busy + apply_reply + idle" : "apply_reply"}, settled`.padEnd(44)} ${
    perTask.toFixed(1).padStart(6)
  } µs/task, ${cpuPerTask.toFixed(1).padStart(6)} µs CPU/task (client + scripted sends)`,
);
console.log(`(${N} tasks per case after 2000 warm-up tasks, fresh client per case)`);
await client!.close();
await fake.stop();
