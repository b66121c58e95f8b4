/**
 * A client that only connects: no native addon, no FFI, no child processes — the shape a
 * Deno Deploy worker (or any sandbox that refuses native code) needs. ZeroMQ's wire protocol
 * is TypeScript here (`src/zmtp/`), so talking to a cluster is plain TCP through
 * `Deno.connect`; the only other thing the client needs is the controller's connection file.
 *
 * It does not start a cluster: it connects to one started elsewhere, found by
 * `IPP_PROFILE_DIR` and `IPP_CLUSTER_ID` (`tests/examples_test.ts` starts one, or use
 * `ipp cluster start -n 2 --daemonize --profile-dir=… --cluster-id=…`), runs some work, checks
 * the results (a wrong one throws), and closes its connection, leaving the cluster running.
 *
 * Minimal permissions (the test runs exactly this):
 *
 * ```sh
 * IPP_PROFILE_DIR=/path/to/profile IPP_CLUSTER_ID=deploy \
 *   deno run --deny-ffi --deny-run --deny-write --allow-net=127.0.0.1 \
 *     --allow-read=/path/to/profile --allow-env=IPP_PROFILE_DIR,IPP_CLUSTER_ID \
 *     examples/deploy_client.ts
 * ```
 *
 * - `--allow-net`: the controller's TCP ports (its address in the connection file);
 * - `--allow-read`: the connection file (`<profile>/security/ipcontroller-<id>-client.json`);
 * - `--allow-env`: the two variables above.
 *
 * On Deno Deploy the same code runs with network access to the controller and the
 * connection file shipped with the deployment (its `key` is the cluster's secret).
 *
 * @module
 */

import { Client } from "../mod.ts";

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`check failed: ${what}`);
}

const profileDir = Deno.env.get("IPP_PROFILE_DIR");
const clusterId = Deno.env.get("IPP_CLUSTER_ID") ?? "";
if (!profileDir) {
  console.error(
    "Set IPP_PROFILE_DIR (and IPP_CLUSTER_ID) to a running cluster's profile folder and id, " +
      "e.g. after `deno task ipp cluster start -n 2 --daemonize --profile-dir=/tmp/p " +
      "--cluster-id=deploy`",
  );
  Deno.exit(2);
}

const ffi = await Deno.permissions.query({ name: "ffi" });
const run = await Deno.permissions.query({ name: "run" });
console.log(`Permissions: ffi ${ffi.state}, run ${run.state} (no native code, no processes)`);

const t0 = performance.now();
// Without env access to $USER, message headers carry the username "username", as in Python.
await using client = await Client.connect({ profileDir, clusterId, timeout: 20_000 });
const ids = client.ids;
check(ids.length >= 1, "at least one engine registered");
console.log(
  `Connected to cluster "${clusterId}" in ${(performance.now() - t0).toFixed(0)} ms; ` +
    `engines ${JSON.stringify(ids)}`,
);

// Load-balanced work.
const lview = client.loadBalancedView();
const squares = await lview.map((x: number) => x * x, Array.from({ length: 10 }, (_, i) => i));
check(squares.join() === "0,1,4,9,16,25,36,49,64,81", `map: ${squares}`);
console.log(`load-balanced map of x * x over 0..9 → ${JSON.stringify(squares)}`);

// Direct work on every engine, with a typed array travelling as raw bytes.
const dv = client.directView();
const norms = await dv.apply(
  (v: Float64Array) => Math.hypot(...v),
  new Float64Array([3, 4, 12]),
) as number[];
check(norms.length === ids.length && norms.every((n) => n === 13), `apply: ${norms}`);
console.log(
  `apply(Math.hypot, Float64Array [3, 4, 12]) on every engine → ${JSON.stringify(norms)}`,
);

// Code executed remotely, with its output captured and sent back.
const ar = client.engine(0).execute("console.log('hello from', Deno.version.deno); 6 * 7", {
  silent: false,
});
const reply = await ar;
check(String(reply).endsWith(": 42"), `execute result: ${reply}`);
console.log(`execute on engine ${ids[0]}: stdout ${JSON.stringify(ar.stdout)}; ${reply}`);

console.log("Done: the client closes; the cluster keeps running.");
