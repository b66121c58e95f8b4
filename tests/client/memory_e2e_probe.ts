/**
 * End-to-end memory probe: a real client connects to a running controller with our engines,
 * runs many small tasks through a load-balanced `imap`, consumes every result, and prints the
 * client's heap growth (`heapUsed + external`, after full collections) over a baseline taken
 * after a warm-up, as JSON. Started by `memory_test.ts` in a subprocess with
 * `--v8-flags=--expose-gc`.
 *
 * Arguments: `<client connection file> <items> <chunksize> [client options as JSON]`.
 *
 * @module
 */
import { Client } from "../../src/client/client.ts";

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with --v8-flags=--expose-gc");
const [urlFile, itemsArg, chunkArg, optionsArg] = Deno.args;
const items = Number(itemsArg ?? 200_000);
const chunksize = Number(chunkArg ?? 20);
const options = JSON.parse(optionsArg ?? "{}") as {
  maxCachedResults?: number;
  maxHistory?: number;
};

function heap(): number {
  gc!();
  gc!();
  const m = Deno.memoryUsage();
  return m.heapUsed + m.external;
}

function* range(n: number): Generator<number> {
  for (let i = 0; i < n; i++) yield i;
}

const client = await Client.connect({ ...options, urlFile, timeout: 30_000 });
try {
  const deadline = Date.now() + 60_000;
  while (client.ids.length < 2) {
    if (Date.now() > deadline) throw new Error(`only ${client.ids.length} engines registered`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const view = client.loadBalancedView();
  const run = async (n: number): Promise<number> => {
    let sum = 0;
    let count = 0;
    for await (
      const v of view.imap<number>((x: number) => x + 1, range(n), {
        chunksize,
        maxOutstanding: 64,
      })
    ) {
      sum += v;
      count++;
    }
    if (count !== n || sum !== n * (n + 1) / 2) throw new Error(`lost results: ${count}/${n}`);
    return count;
  };
  // Warm-up: JIT, socket buffers, one cache's worth of settled results.
  await run(Math.min(items, 20 * chunksize * 50));
  const before = heap();
  const t0 = performance.now();
  const consumed = await run(items);
  const seconds = (performance.now() - t0) / 1000;
  const after = heap();
  console.log(JSON.stringify({
    items,
    chunksize,
    options,
    messages: Math.ceil(items / chunksize),
    consumed,
    heapGrowthBytes: after - before,
    baselineBytes: before,
    history: client.history.length,
    outstanding: client.outstanding.size,
    seconds,
  }));
} finally {
  await client.close();
}
