/**
 * Load balancing of mixed long and short tasks with and without the scheduler's adaptive
 * prefetch (`ControllerOptions.prefetch`, `src/controller/prefetch.ts`): what prefetch costs
 * when a long task lands on an engine that was fast. Not a test: nothing is asserted.
 *
 * Each case starts our controller in this process (so the option can be set), two
 * `ipp engine` processes and a client, warms the engines with short tasks, then submits in
 * one burst a long task followed by many short ones, and reports the makespan and how many
 * short tasks ended up queued behind the long one on its engine.
 *
 * Run `deno run -A bench/lb_mixed.ts [longMs=1000] [shorts=300] [rounds=2]`.
 *
 * @module
 */

import { Controller, DEFAULT_PREFETCH } from "../src/controller/controller.ts";
import { Client } from "../src/client/client.ts";
import { IPP_MAIN } from "../src/cluster/local_launcher.ts";
import { createLogger } from "../src/controller/logger.ts";

const longMs = Number(Deno.args[0] ?? 1000);
const shorts = Number(Deno.args[1] ?? 300);
const rounds = Number(Deno.args[2] ?? 2);

function spin(ms: number): number {
  const end = Date.now() + ms;
  let n = 0;
  while (Date.now() < end) n++;
  return n;
}

async function run(prefetch: number) {
  const profileDir = await Deno.makeTempDir({ prefix: "ipp-lb-mixed-" });
  const clusterId = `mixed${prefetch}`;
  const controller = await Controller.start({
    profileDir,
    clusterId,
    prefetch,
    logger: createLogger(40),
  });
  const engines = [0, 1].map(() =>
    new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--quiet",
        IPP_MAIN,
        "engine",
        `--file=${controller.connectionFiles.engine}`,
      ],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn()
  );
  const client = await Client.connect({ profileDir, clusterId });
  try {
    while (client.ids.length < 2) await new Promise((r) => setTimeout(r, 20));
    const lview = client.loadBalancedView();
    for (let r = 0; r < rounds; r++) {
      const warm = [];
      for (let i = 0; i < 200; i++) warm.push(lview.apply(spin, 0));
      for (const ar of warm) await ar;
      const t0 = performance.now();
      const long = lview.apply(spin, longMs);
      const ars = [];
      for (let i = 0; i < shorts; i++) ars.push(lview.apply(spin, 0));
      let longDone = 0;
      const done: number[] = [];
      await Promise.all([
        (async () => {
          await long;
          longDone = performance.now();
        })(),
        ...ars.map(async (ar, i) => {
          await ar;
          done[i] = performance.now();
        }),
      ]);
      const longEngine = long.engineId;
      let behind = 0;
      for (let i = 0; i < shorts; i++) {
        if (ars[i].engineId === longEngine && done[i] >= longDone) behind++;
      }
      const shortsDone = Math.max(...done) - t0;
      console.log(
        `prefetch ${String(prefetch).padStart(2)}: makespan ${
          ((Math.max(longDone, ...done) - t0) / 1000).toFixed(3)
        } s, last short done at ${(shortsDone / 1000).toFixed(3)} s, ` +
          `${behind} of ${shorts} short tasks waited behind the ${longMs} ms task`,
      );
    }
  } finally {
    await client.close();
    await controller.stop();
    for (const e of engines) {
      try {
        e.kill("SIGTERM");
      } catch { /* gone */ }
      await e.status;
    }
    await Deno.remove(profileDir, { recursive: true }).catch(() => {});
  }
}

for (const p of [1, 4, DEFAULT_PREFETCH]) await run(p);
