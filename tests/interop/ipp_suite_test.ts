/**
 * ipyparallel 7.1's own test suite (Python client and engines) run through our controller:
 * `/usr/bin/python3 -m pytest` on the suite's files with `ipp_controller_plugin.py`, which
 * makes the suite's set-up start `deno run -A src/cli/controller.ts` instead of
 * `python -m ipyparallel.controller` (the suite adds `--profile=iptest --log-level=10
 * --ping=250 --dictdb`).
 *
 * `IPP_SUITE_FILES="test_view.py test_asyncresult.py …"` runs other files of the suite.
 */
import assert from "node:assert/strict";
import { needsPython, PYTHON } from "../helpers/interop.ts";

const HERE = new URL("./", import.meta.url).pathname;
const CONTROLLER = new URL("../../src/cli/controller.ts", import.meta.url).pathname;
const DEFAULT_FILES = ["test_client.py", "test_lbview.py", "test_dependency.py", "test_db.py"];

/**
 * Tests deselected on purpose, by node id, with the reason. None today: every test of the
 * four files passes through our controller (the full default set of `ipp-suite/run` too).
 */
const DESELECT: Record<string, string> = {};

const ignore = needsPython("ipyparallel", "pytest", "pytest_timeout");

function suiteDir(): string {
  const out = new Deno.Command(PYTHON, {
    args: [
      "-c",
      "import ipyparallel.tests, os; print(os.path.dirname(ipyparallel.tests.__file__))",
    ],
    stdout: "piped",
  }).outputSync();
  return new TextDecoder().decode(out.stdout).trim();
}

Deno.test({
  name: "ipyparallel's test_client/test_lbview/test_dependency/test_db pass through our controller",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = suiteDir();
    const files = (Deno.env.get("IPP_SUITE_FILES")?.split(/\s+/).filter(Boolean) ?? DEFAULT_FILES)
      .map((f) => `${dir}/${f}`);
    const work = await Deno.makeTempDir({ prefix: "ipp-suite-" });
    const log = `${work}/pytest.log`;
    const args = [
      "-m",
      "pytest",
      "-q",
      "-p",
      "ipp_controller_plugin",
      "-p",
      "no:cacheprovider",
      "--timeout=90",
      "-W",
      "ignore::DeprecationWarning",
      ...Object.keys(DESELECT).flatMap((id) => ["--deselect", `${dir}/${id}`]),
      ...files,
    ];
    const home = Deno.env.get("HOME") ?? "/root";
    // setsid: pytest, the controller and engines it starts share one process group we can kill.
    const child = new Deno.Command("sh", {
      args: ["-c", 'exec setsid "$0" "$@" >"$IPP_TEST_LOG" 2>&1', PYTHON, ...args],
      cwd: work,
      env: {
        IPP_CONTROLLER_CMD: `${Deno.execPath()} run -A ${CONTROLLER}`,
        PYTHONPATH: HERE,
        HOME: work,
        DENO_DIR: Deno.env.get("DENO_DIR") ?? `${home}/.cache/deno`,
        DENO_NO_UPDATE_CHECK: "1",
        IPP_TEST_LOG: log,
      },
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    try {
      const timer = setTimeout(() => {
        try {
          Deno.kill(-child.pid, "SIGKILL");
        } catch { /* gone */ }
      }, 20 * 60_000);
      await child.status;
      clearTimeout(timer);
      const text = await Deno.readTextFile(log);
      const summary = text.trim().split("\n").reverse().find((l) =>
        /\d+ (passed|failed)/.test(l)
      ) ??
        "";
      const count = (what: string) => Number(new RegExp(`(\\d+) ${what}`).exec(summary)?.[1] ?? 0);
      console.log(`ipp suite through our controller: ${summary}`);
      const failed = count("failed") + count("errors?");
      assert.equal(failed, 0, text.slice(-8000));
      assert.ok(count("passed") > 0, text.slice(-4000));
    } finally {
      try {
        Deno.kill(-child.pid, "SIGKILL");
      } catch { /* already gone */ }
      await child.status;
      await Deno.remove(work, { recursive: true }).catch(() => {});
    }
  },
});
