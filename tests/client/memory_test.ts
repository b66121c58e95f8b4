import assert from "node:assert/strict";

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
