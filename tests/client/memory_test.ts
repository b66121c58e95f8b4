/**
 * The client's memory stays bounded: the task registry alone over 200,000 tasks, and end to
 * end — a client in a subprocess running 200,000 items through a load-balanced map against
 * our controller and two of our engines. Heap figures come from subprocesses started with
 * `--v8-flags=--expose-gc`, after full collections.
 */

import assert from "node:assert/strict";
import { withLocalCluster } from "../helpers/local_cluster.ts";

// The figures come from a subprocess started with --v8-flags=--expose-gc, so they are heap
// sizes after full collections, not after whatever the collector happened to do.
const probe = new URL("./memory_probe.ts", import.meta.url);
const root = new URL("../../", import.meta.url);

interface Figures {
  tasks: number;
  heapGrowthBytes: number;
  cached: number;
  evicted: number;
  outstanding: number;
  perTaskUs: number;
}

async function measure(tasks: number, cap: number): Promise<Figures> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--v8-flags=--expose-gc",
      decodeURIComponent(probe.pathname),
      String(tasks),
      String(cap),
    ],
    cwd: decodeURIComponent(root.pathname),
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  return JSON.parse(text.trim().split("\n").at(-1)!);
}

Deno.test({
  name: "registry memory stays bounded over 200,000 consumed tasks with maxCachedResults",
  async fn() {
    const [capped, uncapped] = await Promise.all([
      measure(200_000, 1000),
      measure(20_000, Infinity),
    ]);
    console.log(
      `capped: ${capped.tasks} tasks, heap +${(capped.heapGrowthBytes / 1024).toFixed(0)} KiB, ` +
        `${capped.perTaskUs.toFixed(1)} µs/task; uncapped: ${uncapped.tasks} tasks, heap +` +
        `${(uncapped.heapGrowthBytes / 1024 / 1024).toFixed(1)} MiB ` +
        `(${(uncapped.heapGrowthBytes / uncapped.tasks).toFixed(0)} B/result)`,
    );
    assert.equal(capped.outstanding, 0);
    assert.equal(capped.cached, 1000);
    // Generous bound: 1000 cached results at about 1 KiB each, plus 7 MiB for heap noise.
    // Keeping all 200,000 results would take about 200 times the per-result figure below.
    assert.ok(capped.heapGrowthBytes < 8 * 1024 * 1024, `grew ${capped.heapGrowthBytes} B`);
    // The probe does see retained results: without a cap, growth is proportional to tasks.
    assert.ok(uncapped.heapGrowthBytes / uncapped.tasks > 200);
    assert.ok(uncapped.heapGrowthBytes > capped.heapGrowthBytes);
  },
});

const e2eProbe = new URL("./memory_e2e_probe.ts", import.meta.url);

interface E2eFigures {
  items: number;
  chunksize: number;
  messages: number;
  consumed: number;
  heapGrowthBytes: number;
  history: number;
  outstanding: number;
  seconds: number;
}

async function measureEndToEnd(
  items: number,
  chunksize: number,
  options: { maxCachedResults?: number; maxHistory?: number },
): Promise<E2eFigures> {
  return await withLocalCluster({ n: 2, clusterId: "memory" }, async (cluster) => {
    await cluster.start();
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--v8-flags=--expose-gc",
        decodeURIComponent(e2eProbe.pathname),
        cluster.clientFile,
        String(items),
        String(chunksize),
        JSON.stringify(options),
      ],
      cwd: decodeURIComponent(root.pathname),
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    return JSON.parse(text.trim().split("\n").at(-1)!);
  });
}

function report(f: E2eFigures): string {
  return `${f.items} items in ${f.messages} tasks (chunksize ${f.chunksize}): client heap +` +
    `${(f.heapGrowthBytes / 1024 / 1024).toFixed(1)} MiB, history ${f.history}, ` +
    `${f.seconds.toFixed(1)} s`;
}

Deno.test({
  name: "client heap grows < 16 MiB over 200,000 items through a load-balanced imap (e2e)",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    // 200,000 items in chunks of 20: 10,000 tasks, every result consumed. What the client
    // may keep: 1000 cached results (maxCachedResults), 10,000 msg_ids of history (~0.7 MiB,
    // under maxHistory), the Session's replay guard (3 signatures per task, at most 65,536).
    const f = await measureEndToEnd(200_000, 20, { maxCachedResults: 1000 });
    console.log(report(f));
    assert.equal(f.consumed, 200_000);
    assert.equal(f.outstanding, 0);
    assert.ok(f.heapGrowthBytes < 16 * 1024 * 1024, `grew ${f.heapGrowthBytes} B`);
  },
});

Deno.test({
  name: "client heap grows < 32 MiB over 200,000 one-item load-balanced tasks, default options",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    // 200,000 tasks: the default caps are all reached — 10,000 cached results, 100,000 msg_ids
    // of history (trimmed by eighths), 65,536 replay-guard signatures.
    const f = await measureEndToEnd(200_000, 1, {});
    console.log(report(f));
    assert.equal(f.consumed, 200_000);
    assert.equal(f.outstanding, 0);
    assert.ok(f.history <= 100_000);
    assert.ok(f.heapGrowthBytes < 32 * 1024 * 1024, `grew ${f.heapGrowthBytes} B`);
  },
});
