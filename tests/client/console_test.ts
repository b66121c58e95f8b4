/**
 * `ipp console` (`src/cli/console.ts`) run as a child process against our controller and two
 * of our engines, with lines piped into its standard input: local evaluation, `%px`,
 * `%autopx` on and off, `%pxresult`, remote and local errors, `exit`; and its flags.
 */

import assert from "node:assert/strict";
import { parseConsoleArgs } from "../../src/cli/console.ts";
import { withLocalCluster } from "../helpers/local_cluster.ts";

const CONSOLE = new URL("../../src/cli/console.ts", import.meta.url).pathname;
const ROOT = new URL("../../", import.meta.url).pathname;

async function runConsole(
  args: string[],
  input: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CONSOLE, ...args],
    cwd: ROOT,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(input));
  await writer.close();
  const out = await child.output();
  const text = new TextDecoder();
  return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
}

Deno.test("parseConsoleArgs reads connection flags, targets and --autopx; rejects bad ones", () => {
  assert.deepEqual(
    parseConsoleArgs(["--cluster-id=x", "--profile-dir", "/p", "--targets=0,2", "--autopx"]),
    { connect: { clusterId: "x", profileDir: "/p" }, targets: [0, 2], autopx: true },
  );
  assert.deepEqual(parseConsoleArgs(["--targets", "1", "--timeout=2.5"]), {
    connect: { timeout: 2500 },
    targets: 1,
  });
  assert.deepEqual(parseConsoleArgs(["--targets=all"]), { connect: {} });
  assert.throws(() => parseConsoleArgs(["--targets=a,b"]), /--targets must be "all" or engine ids/);
  assert.throws(() => parseConsoleArgs(["--timeout=-1"]), /--timeout must be/);
  assert.throws(() => parseConsoleArgs(["--bogus"]), /unknown option "--bogus"/);
  assert.throws(() => parseConsoleArgs(["--cluster-id"]), /--cluster-id needs a value/);
});

Deno.test({
  name: "ipp console: local lines, %px, %autopx, %pxresult and errors against real engines",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withLocalCluster({ n: 2, clusterId: "console" }, async (cluster) => {
      await cluster.start();
      await cluster.waitForEngines(await cluster.connect(), 2);
      const lines = [
        "const a = 20 + 1",
        "a * 2",
        "%px globalThis.k = 6 * 7",
        "%autopx",
        'console.log("hi from " + 2)',
        "k + 1",
        "%autopx",
        "typeof k",
        "%px nope.x",
        "%pxresult",
        "function sq(x) { return x * x }",
        "sq(a)",
        "await Promise.resolve(5)",
        "rc.ids.length",
        'throw new Error("local boom")',
        "%px",
        "exit",
        "'after exit'",
      ];
      const { code, stdout, stderr } = await runConsole(
        ["--url-file", cluster.clientFile],
        lines.join("\n") + "\n",
      );
      assert.equal(code, 0, stderr);
      // Local lines print their values; remote ones print per engine, as ipyparallel does.
      const expected = [
        /^42$/,
        /^Out\[0:\d+\]: 42$/,
        /^Out\[1:\d+\]: 42$/,
        /^%autopx enabled$/,
        /^\[stdout:0\] $/,
        /^hi from 2$/,
        /^\[stdout:1\] $/,
        /^hi from 2$/,
        /^Out\[0:\d+\]: 43$/,
        /^Out\[1:\d+\]: 43$/,
        /^%autopx disabled$/,
        /^"undefined"$/, // k was defined on the engines only
        /^441$/,
        /^5$/,
        /^2$/,
      ];
      const got = stdout.trimEnd().split("\n");
      assert.equal(got.length, expected.length, stdout);
      expected.forEach((re, i) => assert.match(got[i], re, `line ${i}: ${got[i]}`));
      // The remote error's traceback per engine, twice (%pxresult), then the local failures.
      assert.equal(stderr.match(/^\[0:execute\]$/gm)?.length, 2, stderr);
      assert.equal(stderr.match(/^\[1:execute\]$/gm)?.length, 2, stderr);
      assert.match(stderr, /ReferenceError: nope is not defined/);
      assert.match(stderr, /^Error: local boom$/m);
      assert.match(stderr, /^%px needs code/m);
      assert.doesNotMatch(stdout, /after exit/);
    });
  },
});

Deno.test("ipp console without a controller says why and exits with 1", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ipp-console-" });
  try {
    const { code, stderr } = await runConsole(
      ["--profile-dir", dir, "--cluster-id", "none", "--timeout", "0"],
      "",
    );
    assert.equal(code, 1);
    assert.match(stderr, /^ipp console: .*ipcontroller-none-client\.json/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
