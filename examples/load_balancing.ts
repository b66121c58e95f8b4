/**
 * Load balancing: a task graph with `after` dependencies, `follow` (run where another task
 * ran), `retries` (a task that fails on a poisoned engine succeeds on another), `timeout` (a
 * task queued behind an unmet dependency fails with `TaskTimeout`), `ImpossibleDependency`
 * (a task that depends on a failed one), and `imap` with `maxOutstanding` (a lazy map that
 * keeps a bounded number of tasks in flight). Every outcome is checked; a wrong one throws.
 *
 * ```sh
 * deno run -A examples/load_balancing.ts
 * ```
 *
 * @module
 */

import { Cluster, ImpossibleDependency, RemoteError, TaskTimeout } from "../mod.ts";
import type { AsyncResult, Metadata } from "../mod.ts";

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`check failed: ${what}`);
}

// Globals of the engines' namespaces that the remote functions below use (set by push or
// by earlier tasks). Remote functions travel as source: they see the engine's globals, not
// this script's variables.
declare global {
  var engineName: string;
  var poisoned: boolean;
  var attempts: number;
  var carried: number;
}

/** Sleeps `ms` on the engine, then returns `label` and the engine it ran on. */
async function step(label: string, ms: number): Promise<string> {
  await new Promise((r) => setTimeout(r, ms));
  return `${label}@${engineName}`;
}

function meta(ar: AsyncResult<unknown>): Metadata {
  return ar.metadata as Metadata;
}

const profileDir = await Deno.makeTempDir({ prefix: "ipp-load-balancing-" });
const cluster = new Cluster({ n: 2, profileDir, clusterId: "load_balancing" });
try {
  const client = await cluster.startAndConnect();
  console.log(`Cluster up with engines ${JSON.stringify(client.ids)}\n`);
  // Give each engine its name, so tasks can say where they ran.
  await Promise.all(client.ids.map((id) => client.engine(id).push({ engineName: `e${id}` })));
  const lview = client.loadBalancedView();

  // 1. A task graph: a → (b, c) → d. `after` holds a task back until its dependencies finish.
  console.log("1. Task graph a → (b, c) → d with `after`:");
  const a = lview.apply(step, "a", 200);
  const b = lview.applyWith(step, ["b", 150], { after: a });
  const c = lview.applyWith(step, ["c", 150], { after: a });
  const d = lview.applyWith(step, ["d", 10], { after: [b, c] });
  const labels = await Promise.all([a, b, c, d].map((ar) => ar.get(10_000)));
  const [ma, mb, mc, md] = [a, b, c, d].map(meta);
  check(mb.started! >= ma.completed! && mc.started! >= ma.completed!, "b and c after a");
  check(md.started! >= mb.completed! && md.started! >= mc.completed!, "d after b and c");
  const t0 = ma.started!.getTime();
  for (const [ar, m] of [[a, ma], [b, mb], [c, mc], [d, md]] as const) {
    const at = (x: Date | null) => String(x!.getTime() - t0).padStart(4);
    console.log(`   ${await ar}: ran ${at(m.started)}–${at(m.completed)} ms`);
  }
  check(labels.map((l) => l.split("@")[0]).join() === "a,b,c,d", "graph results");

  // 2. `follow`: run where another task ran (state left in that engine's namespace).
  console.log("2. `follow` runs a task on the engine of another:");
  const producer = lview.apply(() => {
    globalThis.carried = 41;
    return engineName;
  });
  const consumer = lview.applyWith(() => `${carried + 1} on ${engineName}`, [], {
    follow: producer,
  });
  const where = await producer;
  const got = await consumer;
  check(got === `42 on ${where}`, `follow: ${got} vs ${where}`);
  check(meta(consumer).engineId === meta(producer).engineId, "same engine id");
  console.log(`   producer ran on ${where}; follower read its state: "${got}"`);

  // 3. `retries`: engine 0 is poisoned, so a task that lands there fails; with retries: 1 the
  // scheduler re-runs it on another engine. A task pinned to engine 1 keeps engine 1 busy so
  // that the least-loaded scheduler sends the flaky task to engine 0 first.
  console.log("3. `retries` re-runs a failed task elsewhere:");
  const [id0, id1] = client.ids;
  await client.directView().push({ poisoned: false, attempts: 0 });
  await client.engine(id0).push({ poisoned: true });
  const busy = lview.applyWith(step, ["busy", 500], { targets: [id1] });
  const flaky = lview.applyWith(
    () => {
      if (poisoned) {
        globalThis.attempts++;
        throw new Error(`engine ${engineName} is poisoned`);
      }
      return `succeeded on ${engineName}`;
    },
    [],
    { retries: 1 },
  );
  const flakyResult = await flaky.get(10_000);
  await busy;
  const failedThere = await client.engine(id0).pull("attempts");
  check(flakyResult === `succeeded on e${id1}`, `retry result ${flakyResult}`);
  check(failedThere === 1, `one failed attempt on engine ${id0}, got ${failedThere}`);
  console.log(`   failed once on e${id0} (attempts there: ${failedThere}), then ${flakyResult}`);

  // 4. `timeout`: a task queued behind an unmet dependency gives up after `timeout` ms.
  console.log("4. `timeout` fails a task that waits too long in the queue:");
  const slow = lview.apply(step, "slow", 1500);
  const impatient = lview.applyWith(step, ["impatient", 0], { after: slow, timeout: 300 });
  let timedOut: unknown;
  try {
    await impatient.get(10_000);
  } catch (e) {
    timedOut = e;
  }
  check(timedOut instanceof TaskTimeout, `expected TaskTimeout, got ${timedOut}`);
  console.log(
    `   ${(timedOut as Error).name} after ${impatient.elapsed.toFixed(0)} ms, while its ` +
      `dependency was still running (it finished later: "${await slow}")`,
  );

  // 5. ImpossibleDependency: depending (on success) on a task that failed.
  console.log("5. A task that depends on a failed task can never run:");
  const broken = lview.apply(() => {
    throw new RangeError("this task fails");
  });
  const dependent = lview.applyWith(step, ["never", 0], { after: broken });
  let brokenError: unknown;
  let impossible: unknown;
  await broken.get(10_000).catch((e) => brokenError = e);
  await dependent.get(10_000).catch((e) => impossible = e);
  check(brokenError instanceof RemoteError && brokenError.ename === "RangeError", "task error");
  // The scheduler's failure has its own class, with the scheduler's RemoteError as `cause`.
  check(
    impossible instanceof ImpossibleDependency,
    `expected ImpossibleDependency, got ${impossible}`,
  );
  const impossibleName = (impossible as Error).name;
  console.log(`   the failed task: ${(brokenError as Error).message}`);
  console.log(`   its dependent failed without running: ${impossibleName}`);

  // 6. imap: a lazy map over a generator with at most `maxOutstanding` tasks in flight.
  console.log("6. `imap` with maxOutstanding: 3 over a lazy generator of 20 items:");
  let produced = 0;
  let received = 0;
  let maxInFlight = 0;
  const items = function* () {
    for (let i = 0; i < 20; i++) {
      produced++;
      yield i;
    }
  };
  const squares: number[] = [];
  const t6 = performance.now();
  for await (
    const sq of lview.imap(
      async (x: number) => {
        await new Promise((r) => setTimeout(r, 20));
        return x * x;
      },
      items(),
      { maxOutstanding: 3 },
    )
  ) {
    // Items taken from the generator whose results were not yet received were in flight.
    maxInFlight = Math.max(maxInFlight, produced - received);
    received++;
    squares.push(sq as number);
  }
  check(squares.join() === Array.from({ length: 20 }, (_, i) => i * i).join(), "imap results");
  check(maxInFlight <= 3, `imap had ${maxInFlight} tasks in flight (max 3)`);
  console.log(
    `   ${squares.length} squares in order in ${(performance.now() - t6).toFixed(0)} ms; ` +
      `at most ${maxInFlight} tasks were in flight at once`,
  );

  console.log("\nAll load-balancing checks passed.");
} finally {
  await cluster.stop();
  await Deno.remove(profileDir, { recursive: true }).catch(() => {});
}
console.log("Cluster stopped.");
