/**
 * Runs many tasks through a {@link TaskRegistry} the way a client would (track, busy, reply,
 * idle, read through an AsyncResult) and prints the heap growth as JSON. Started by
 * `memory_test.ts` in a subprocess with `--v8-flags=--expose-gc`, so the figure is measured
 * after full collections. Arguments: `<tasks> <maxCachedResults|Infinity>`.
 *
 * @module
 */
import { AsyncResult } from "../../src/client/async_result.ts";
import { TaskRegistry } from "../../src/client/task_registry.ts";
import { jsonBuffer, jsonDecode, reply, status } from "./helpers.ts";

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with --v8-flags=--expose-gc");
const total = Number(Deno.args[0] ?? 200_000);
const cap = Number(Deno.args[1] ?? 1000);

const tasks = new TaskRegistry({ decode: jsonDecode, maxCachedResults: cap });
const payload = jsonBuffer(42);
const BATCH = 100;
let seq = 0;

async function batch(): Promise<void> {
  const ids: string[] = [];
  for (let i = 0; i < BATCH; i++) {
    const id = `39f93074-505176156e4ad41d6eaa39b4_${seq++}`;
    tasks.track(id);
    ids.push(id);
  }
  const ar = new AsyncResult<number[]>(tasks, ids);
  for (const id of ids) {
    tasks.handleIopub(status(id, "busy"));
    tasks.handleReply(reply(id, { buffers: [payload] }));
    tasks.handleIopub(status(id, "idle"));
  }
  const values = await ar.get();
  if (values.length !== BATCH) throw new Error("lost results");
}

for (let i = 0; i < 20; i++) await batch(); // warm up, fill the JIT
gc();
const before = Deno.memoryUsage().heapUsed;
const t0 = performance.now();
for (let done = 0; done < total; done += BATCH) await batch();
const perTaskUs = (performance.now() - t0) / total * 1000;
gc();
const after = Deno.memoryUsage().heapUsed;
console.log(JSON.stringify({
  tasks: total,
  maxCachedResults: String(cap),
  heapGrowthBytes: after - before,
  cached: tasks.cachedCount,
  evicted: tasks.evictedCount,
  outstanding: tasks.outstanding.size,
  perTaskUs,
}));
