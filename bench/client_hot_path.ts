/**
 * Per-task client overhead (serialize, sign, task actor, queue on the socket), measured
 * against a scripted controller that swallows requests, so only the client's work counts.
 * Not a test: run `deno run -A bench/client_hot_path.ts`.
 *
 * @module
 */

import { Client, Reference } from "../src/client/client.ts";
import { FakeController } from "../tests/client/fake_controller.ts";

const N = Number(Deno.args[0] ?? 5_000);
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
console.log(`(${N} tasks per case after 2000 warm-up tasks, fresh client per case)`);
await client!.close();
await fake.stop();
