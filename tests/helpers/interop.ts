/**
 * Shared test helpers for tests that need real peers (Python's pyzmq, jupyter_client and
 * ipyparallel, OpenSSH, MPI, Slurm, from Debian). With `IPP_INTEROP=1` (set by `.ci/run`) a
 * missing peer is a failure; otherwise such tests are skipped with a message saying what to
 * install.
 *
 * @module
 */

/** The Python interpreter that has Debian's packages. */
export const PYTHON = "/usr/bin/python3";

/** True when interop tests must run (CI). */
export const INTEROP_REQUIRED = Deno.env.get("IPP_INTEROP") === "1";

const cache = new Map<string, boolean>();

/** Whether `/usr/bin/python3` can import every module in `modules`. */
export function pythonHas(...modules: string[]): boolean {
  const key = modules.join(",");
  const known = cache.get(key);
  if (known !== undefined) return known;
  let ok = false;
  try {
    const out = new Deno.Command(PYTHON, {
      args: ["-c", modules.map((m) => `import ${m}`).join(";")],
      stdout: "null",
      stderr: "null",
    }).outputSync();
    ok = out.success;
  } catch {
    ok = false;
  }
  cache.set(key, ok);
  return ok;
}

/** Whether a file exists (programs are looked up by absolute path). */
export function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

const warned = new Set<string>();

/**
 * `ignore` value for `Deno.test` of tests that need a peer: `false` when `missing` is `null`;
 * else a skip with one message per kind of test, unless `IPP_INTEROP=1`, where the missing peer
 * fails the run.
 *
 * @param tests What is skipped, e.g. `"sshd tests"`.
 * @param missing What is missing and how to install it, or `null` when the peer is there.
 * @returns Whether to skip.
 * @throws {Error} With `IPP_INTEROP=1`, when `missing` is not `null`.
 */
export function skipUnlessPresent(tests: string, missing: string | null): boolean {
  if (missing === null) return false;
  if (INTEROP_REQUIRED) throw new Error(`IPP_INTEROP=1 but ${missing}`);
  if (!warned.has(tests)) {
    warned.add(tests);
    console.warn(`skipping ${tests}: ${missing} (IPP_INTEROP=1 makes them mandatory)`);
  }
  return true;
}

/** `ignore` value for `Deno.test` of a test that needs Python modules (see `skipUnlessPresent`). */
export function needsPython(...modules: string[]): boolean {
  return skipUnlessPresent(
    `interop tests (${modules.join(", ")})`,
    pythonHas(...modules) ? null : `${PYTHON} cannot import ${modules.join(",")}: ` +
      "apt-get install -y python3-ipyparallel python3-zmq",
  );
}
