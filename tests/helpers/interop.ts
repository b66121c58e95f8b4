/**
 * Shared test helpers for tests that need real Python peers (pyzmq, jupyter_client,
 * ipyparallel from Debian). With `IPP_INTEROP=1` (set by `.ci/run`) a missing peer is a
 * failure; otherwise such tests are skipped with a message saying what to install.
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

const warned = new Set<string>();

/**
 * `ignore` value for `Deno.test` of a test that needs Python modules: skips with a clear
 * message when they are missing, unless `IPP_INTEROP=1`, where the missing peer fails the run.
 */
export function needsPython(...modules: string[]): boolean {
  if (pythonHas(...modules)) return false;
  const key = modules.join(",");
  if (INTEROP_REQUIRED) {
    throw new Error(
      `IPP_INTEROP=1 but ${PYTHON} cannot import ${key}: ` +
        "apt-get install -y python3-ipyparallel python3-zmq",
    );
  }
  if (!warned.has(key)) {
    warned.add(key);
    console.warn(
      `skipping interop tests: ${PYTHON} cannot import ${key} ` +
        "(apt-get install -y python3-ipyparallel python3-zmq; IPP_INTEROP=1 makes them mandatory)",
    );
  }
  return true;
}
