import assert from "node:assert/strict";

const root = new URL("..", import.meta.url).pathname;

async function runExample(name: string, env: Record<string, string> = {}) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", `examples/${name}`],
    cwd: root,
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("quickstart starts a cluster, counts primes, moves a Float64Array and stops", async () => {
  const { code, stdout, stderr } = await runExample("quickstart.ts", { IPP_DEMO_QUICK: "1" });
  assert.equal(code, 0, `quickstart failed:\n${stdout}\n${stderr}`);
  // The example checks its own results (parallel = serial prime count, gathered sum) and
  // throws on a mismatch; here we check it got through every step.
  assert.match(stdout, /78,498 primes\. Parallel/);
  assert.match(stdout, /\(sum checked\)/);
  assert.match(stdout, /Queue status:/);
  assert.match(stdout, /Cluster stopped\. Done\./);
});
