/**
 * A mixed fleet: our controller with one Deno engine (started by `Cluster`) and one Python
 * `ipengine` (ipyparallel 7.1, started here with `/usr/bin/python3 -m ipyparallel.engine`),
 * used from two clients at once:
 *
 * - a Python `ipyparallel.Client` (a script run by this example) sees both engines, runs
 *   Python on the Python engine and JavaScript on the Deno engine, and shows that a pickled
 *   Python function sent to the Deno engine is refused cleanly (`UnsupportedSerialization`);
 * - our `Client` executes Python code on the Python engine and JavaScript on the Deno engine,
 *   and applies `Reference("len")` on the Python engine with the `"pickle"` serializer.
 *
 * Every outcome is checked; a wrong one throws (non-zero exit). When `/usr/bin/python3`
 * cannot import ipyparallel the example prints why and exits 0 with "skipped" (install
 * `python3-ipyparallel python3-zmq`).
 *
 * ```sh
 * deno run -A examples/mixed_fleet.ts
 * ```
 *
 * @module
 */

import { Cluster, Reference } from "../mod.ts";
import type { ExecuteReply } from "../mod.ts";

const PYTHON = "/usr/bin/python3";

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`check failed: ${what}`);
}

function pythonHasIpyparallel(): boolean {
  try {
    return new Deno.Command(PYTHON, {
      args: ["-c", "import ipyparallel, zmq"],
      stdout: "null",
      stderr: "null",
    }).outputSync().success;
  } catch {
    return false; // no /usr/bin/python3 at all
  }
}

/** The Python client: sees both engines, runs work on each, sends a pickle to the Deno one. */
const PYTHON_CLIENT = String.raw`
import json, sys
import ipyparallel as ipp

url_file, py_id, js_id = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
# (7.1 ignores the url_file= keyword: the file is the first positional argument)
rc = ipp.Client(url_file, timeout=20)
rc.wait_for_engines(2, timeout=30)
out = {"ids": sorted(rc.ids)}

# Python on the Python engine: a lambda travels as a pickle.
out["py_apply"] = rc[py_id].apply_sync(lambda a, b: f"{a} + {b} = {a + b} in Python", 20, 22)

# JavaScript on the Deno engine: execute takes code in the engine's own language.
ar = rc[js_id].execute("globalThis.fromPython = [1, 2, 3].map((x) => x * 10); fromPython.length", silent=False, block=False)
ar.get(timeout=20)
ar.wait_for_output(5)
out["js_execute_result"] = ar.execute_result["data"]["text/plain"] if ar.execute_result else None

# A pickled Python function cannot run on a JavaScript engine: a clean error, not a crash.
try:
    rc[js_id].apply_sync(len, [1, 2, 3])
    out["pickle_error"] = None
except Exception as e:
    err = e.elist[0] if isinstance(e, ipp.error.CompositeError) else (e.ename, e.evalue)
    out["pickle_error"] = {"ename": err[0], "evalue": err[1]}

# The Deno engine still serves afterwards.
ar = rc[js_id].execute("fromPython.reduce((a, b) => a + b)", silent=False, block=False)
ar.get(timeout=20)
ar.wait_for_output(5)
out["js_after"] = ar.execute_result["data"]["text/plain"] if ar.execute_result else None
rc.close()
print(json.dumps(out))
`;

if (!pythonHasIpyparallel()) {
  console.log(
    `skipped: ${PYTHON} cannot import ipyparallel (apt-get install -y python3-ipyparallel ` +
      "python3-zmq)",
  );
  Deno.exit(0);
}

const profileDir = await Deno.makeTempDir({ prefix: "ipp-mixed-fleet-" });
// Python's engine and client get their own HOME/IPYTHONDIR, so nothing lands in ~/.ipython.
const pyEnv = {
  HOME: profileDir,
  IPYTHONDIR: `${profileDir}/ipython`,
  PYTHONUNBUFFERED: "1",
  PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
};
// Engine ids are requested (`--id`), so each engine's kind is known from its id.
const JS_ID = 0;
const PY_ID = 1;
const cluster = new Cluster({
  n: 1,
  profileDir,
  clusterId: "mixed_fleet",
  engineArgs: [`--id=${JS_ID}`],
});
let pyEngine: Deno.ChildProcess | undefined;
try {
  // startAndConnect() in three steps, so that the Python engine (slow to import) starts
  // alongside the Deno engine instead of after it.
  const t0 = performance.now();
  await cluster.startController();
  // The Python engine, in its own process group (setsid) so that its nanny process is
  // stopped with it.
  pyEngine = new Deno.Command("setsid", {
    args: [
      PYTHON,
      "-m",
      "ipyparallel.engine",
      `--file=${cluster.engineFile}`,
      `--IPEngine.id=${PY_ID}`,
      "--log-level=40",
    ],
    env: pyEnv,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  await cluster.startEngines();
  const client = await cluster.connect();
  await cluster.waitForEngines(client, 2);
  const [jsId, pyId] = [JS_ID, PY_ID];
  check(JSON.stringify(client.ids) === "[0,1]", `engine ids ${JSON.stringify(client.ids)}`);
  console.log(
    `Our controller is up with Deno engine ${jsId} and Python ipengine ${pyId} ` +
      `(${((performance.now() - t0) / 1000).toFixed(1)} s)\n`,
  );

  // 1. A Python client on the same controller.
  console.log("1. A Python ipyparallel.Client on our controller:");
  const run = await new Deno.Command(PYTHON, {
    args: ["-c", PYTHON_CLIENT, cluster.clientFile, String(pyId), String(jsId)],
    env: pyEnv,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(run.stdout);
  if (!run.success) {
    throw new Error(
      `the Python client failed:\n${stdout}\n${new TextDecoder().decode(run.stderr)}`,
    );
  }
  const py = JSON.parse(stdout.trim().split("\n").at(-1)!);
  check(JSON.stringify(py.ids) === JSON.stringify([...client.ids].sort()), "Python client ids");
  check(py.py_apply === "20 + 22 = 42 in Python", `Python apply: ${py.py_apply}`);
  check(py.js_execute_result === "3", `JavaScript execute: ${py.js_execute_result}`);
  check(py.pickle_error?.ename === "UnsupportedSerialization", "pickle refused by the Deno engine");
  check(py.js_after === "60", `Deno engine after the pickle: ${py.js_after}`);
  console.log(`   rc.ids = ${JSON.stringify(py.ids)} (both engines)`);
  console.log(`   rc[${pyId}].apply_sync(lambda …) → "${py.py_apply}"`);
  console.log(`   rc[${jsId}].execute("…; fromPython.length") → Out: ${py.js_execute_result}`);
  console.log(`   rc[${jsId}].apply_sync(len, [1, 2, 3]) → ${py.pickle_error.ename}:`);
  console.log(`     ${py.pickle_error.evalue}`);
  console.log(`   the Deno engine still serves: fromPython.reduce(…) → ${py.js_after}\n`);

  // 2. Our client: each engine gets code in its own language.
  console.log("2. Our client, with each engine's language:");
  const pyView = client.directView(pyId);
  const jsView = client.directView(jsId);
  const pyReply = await pyView.execute(
    "import sys\nsquares = [x * x for x in range(5)]\nsum(squares)",
    { silent: false },
  ) as ExecuteReply;
  const jsReply = await jsView.execute(
    "globalThis.cubes = [0, 1, 2, 3, 4].map((x) => x ** 3); cubes.reduce((a, b) => a + b)",
    { silent: false },
  ) as ExecuteReply;
  const pyOut = pyReply.text;
  const jsOut = jsReply.text;
  check(pyOut === "30", `Python execute result ${pyOut}`);
  check(jsOut === "100", `JavaScript execute result ${jsOut}`);
  console.log(`   Python on engine ${pyId}: sum(squares) → ${pyReply}`);
  console.log(`   JavaScript on engine ${jsId}: cubes.reduce(…) → ${jsReply}`);

  // apply on the Python engine: pickles, and a function named on the engine (Reference).
  pyView.serializer = "pickle";
  const n = await pyView.apply(new Reference("len"), [1, 2, 3, 4]);
  const pulled = await pyView.pull("squares");
  check(n === 4, `len on Python: ${n}`);
  check(JSON.stringify(pulled) === "[0,1,4,9,16]", `pull from Python: ${pulled}`);
  console.log(`   apply(Reference("len"), [1, 2, 3, 4]) on engine ${pyId} (pickle) → ${n}`);
  console.log(`   pull("squares") from engine ${pyId} (pickle) → ${JSON.stringify(pulled)}`);
  // …and JavaScript functions on the Deno engine (the default "js" serializer).
  const fromPython = await jsView.apply(() => globalThis.fromPython);
  check(JSON.stringify(fromPython) === "[10,20,30]", "state left by the Python client");
  console.log(
    `   apply(() => globalThis.fromPython) on engine ${jsId} (js) → ${
      JSON.stringify(fromPython)
    } (set by the Python client)`,
  );

  console.log("\nAll mixed-fleet checks passed.");
} finally {
  if (pyEngine) {
    try {
      Deno.kill(-pyEngine.pid, "SIGKILL"); // the whole group: engine and nanny
    } catch { /* already gone */ }
    await pyEngine.status;
  }
  await cluster.stop();
  await Deno.remove(profileDir, { recursive: true }).catch(() => {});
}
console.log("Cluster stopped.");

declare global {
  var fromPython: number[];
}
