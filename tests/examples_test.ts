import assert from "node:assert/strict";
import { availableParallelism } from "node:os";
import { Cluster } from "../mod.ts";
import { needsPython } from "./helpers/interop.ts";
import { descendants, needsSshd, Sshd, waitUntil } from "./helpers/sshd.ts";

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
  // throws on a mismatch; here we check it got through every step and printed each report.
  const up = stdout.match(/^Cluster up in \d+\.\d{2} s; engines (\[[\d,]*\])$/m);
  assert.ok(up, `no "Cluster up" line in:\n${stdout}`);
  const ids = JSON.parse(up[1]) as number[];
  const engines = availableParallelism();
  assert.deepEqual(ids, Array.from({ length: engines }, (_, i) => i), "one engine per core");

  // Progress, with stdout a pipe (not a terminal): plain lines, one per tenth of the way at
  // most, from 0/20 (before any result) to 20/20, counts never going back; no bar, no "\r".
  const TASKS = 20; // IPP_DEMO_QUICK: primes below 1,000,000 in blocks of 50,000
  assert.match(stdout, new RegExp(`^Counting primes below 1,000,000 in ${TASKS} tasks…$`, "m"));
  const progress = stdout.split("\n").filter((l) => l.startsWith("countPrimes"));
  assert.ok(progress.length >= 2 && progress.length <= 11, `progress lines: ${progress}`);
  const counts = progress.map((l) => {
    const m = l.match(/^countPrimes: (\d+)\/(\d+) tasks, \d+\.\d s$/);
    assert.ok(m, `not a plain progress line: ${JSON.stringify(l)}`);
    assert.equal(Number(m[2]), TASKS, l);
    return Number(m[1]);
  });
  assert.equal(counts[0], 0, `the first report comes before any result: ${progress}`);
  assert.equal(counts.at(-1), TASKS, `the last report shows every task done: ${progress}`);
  for (let i = 1; i < counts.length; i++) {
    assert.ok(counts[i] > counts[i - 1], `each line reports progress: ${progress}`);
  }
  assert.doesNotMatch(stdout, /[\r#]/, "no bar or carriage return when stdout is not a terminal");

  // The speed-up line: its format and a positive number, never a time or speed threshold.
  const speed = stdout.match(
    /^78,498 primes\. Parallel (\d+\.\d{2}) s, serial (\d+\.\d{2}) s: speed-up (\d+\.\d{2})× on (\d+) engines$/m,
  );
  assert.ok(speed, `no speed-up line in:\n${stdout}`);
  const speedUp = Number(speed[3]);
  assert.ok(Number.isFinite(speedUp) && speedUp > 0, `speed-up ${speed[3]} is a positive number`);
  assert.equal(Number(speed[4]), engines);

  assert.match(stdout, /^Scattered 8 MB to \d+ engines, doubled it there, .* \(sum checked\)$/m);

  // The queue status: every engine idle; together they completed the 20 map tasks plus one
  // scatter, one execute and one gather each.
  const queue = stdout.slice(stdout.indexOf("Queue status: {"), stdout.indexOf("\n}\n") + 2);
  assert.ok(queue.startsWith("Queue status: {"), `no queue status in:\n${stdout}`);
  const perEngine = [
    ...queue.matchAll(/^ {2}"(\d+)": \{ queue: 0, completed: (\d+), tasks: 0 \},?$/gm),
  ];
  assert.deepEqual(perEngine.map((m) => Number(m[1])), ids, queue);
  const completed = perEngine.reduce((sum, m) => sum + Number(m[2]), 0);
  assert.equal(completed, TASKS + 3 * engines, queue);
  assert.match(queue, /^ {2}unassigned: 0$/m);
  assert.match(stdout, /Cluster stopped\. Done\./);
});

Deno.test("data_movement moves objects, typed arrays, References and rich values", async () => {
  const { code, stdout, stderr } = await runExample("data_movement.ts");
  assert.equal(code, 0, `data_movement failed:\n${stdout}\n${stderr}`);
  assert.match(stdout, /push\/pull of an object to 2 engines: .* \(equal: yes\)/);
  assert.match(stdout, /pull\("config\.steps\.length \* 10"\) → \[30,30\]/);
  assert.match(stdout, /push of a Float64Array \(16\.0 MB\) \+ Int32Array to engine 0/);
  assert.match(stdout, /parts \[\["Float64Array",500000\],\["Float64Array",500000\]\]/);
  assert.match(stdout, /gathered back: 1,000,000 items, .* \(values checked\)/);
  assert.match(stdout, /apply\(sum, Reference\("part"\), 0\.5\) → .* \(no data sent\)/);
  assert.match(
    stdout,
    /on the engine \["Date","bigint","Set",3\]; back here big = 1180591620717411303425n/,
  );
  assert.match(stdout, /All data-movement checks passed\./);
  assert.match(stdout, /Cluster stopped\./);
});

Deno.test("load_balancing shows after, follow, retries, timeout, ImpossibleDependency, imap", async () => {
  const { code, stdout, stderr } = await runExample("load_balancing.ts");
  assert.equal(code, 0, `load_balancing failed:\n${stdout}\n${stderr}`);
  for (const label of ["a", "b", "c", "d"]) {
    assert.match(stdout, new RegExp(`^   ${label}@e\\d: ran `, "m"));
  }
  assert.match(stdout, /producer ran on (e\d); follower read its state: "42 on \1"/);
  assert.match(stdout, /failed once on e0 \(attempts there: 1\), then succeeded on e1/);
  assert.match(stdout, /TaskTimeout after \d+ ms, while its dependency was still running/);
  assert.match(stdout, /the failed task: RangeError: this task fails/);
  assert.match(stdout, /its dependent failed without running: ImpossibleDependency/);
  assert.match(stdout, /20 squares in order in \d+ ms; at most [123] tasks were in flight/);
  assert.match(stdout, /All load-balancing checks passed\./);
  assert.match(stdout, /Cluster stopped\./);
});

Deno.test({
  name: "mixed_fleet: a Python engine and client share our controller with a Deno engine",
  ignore: needsPython("ipyparallel"),
  async fn() {
    const { code, stdout, stderr } = await runExample("mixed_fleet.ts");
    assert.equal(code, 0, `mixed_fleet failed:\n${stdout}\n${stderr}`);
    assert.doesNotMatch(stdout, /skipped/);
    assert.match(stdout, /Deno engine 0 and Python ipengine 1/);
    assert.match(stdout, /rc\.ids = \[0,1\] \(both engines\)/);
    assert.match(stdout, /rc\[1\]\.apply_sync\(lambda …\) → "20 \+ 22 = 42 in Python"/);
    assert.match(stdout, /rc\[0\]\.execute\(.*\) → Out: 3/);
    assert.match(stdout, /rc\[0\]\.apply_sync\(len, \[1, 2, 3\]\) → UnsupportedSerialization:/);
    assert.match(stdout, /this engine runs JavaScript/);
    assert.match(stdout, /Python on engine 1: sum\(squares\) → Out\[1:\d+\]: 30/);
    assert.match(stdout, /JavaScript on engine 0: cubes\.reduce\(…\) → Out\[0:\d+\]: 100/);
    assert.match(stdout, /apply\(Reference\("len"\), \[1, 2, 3, 4\]\) on engine 1 \(pickle\) → 4/);
    assert.match(stdout, /→ \[10,20,30\] \(set by the Python client\)/);
    assert.match(stdout, /All mixed-fleet checks passed\./);
  },
});

Deno.test({
  name: "deploy_client connects with --deny-ffi and only net, read and env permissions",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const profileDir = await Deno.makeTempDir({ prefix: "ipp-deploy-" });
    const cluster = new Cluster({ n: 2, profileDir, clusterId: "deploy" });
    try {
      const client = await cluster.startAndConnect();
      await client.close();
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--quiet",
          "--deny-ffi",
          "--deny-run",
          "--deny-write",
          "--allow-net=127.0.0.1",
          `--allow-read=${profileDir}`,
          "--allow-env=IPP_PROFILE_DIR,IPP_CLUSTER_ID",
          "examples/deploy_client.ts",
        ],
        cwd: root,
        env: { IPP_PROFILE_DIR: profileDir, IPP_CLUSTER_ID: "deploy" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const dec = new TextDecoder();
      const stdout = dec.decode(out.stdout);
      assert.equal(out.code, 0, `deploy_client failed:\n${stdout}\n${dec.decode(out.stderr)}`);
      assert.match(stdout, /Permissions: ffi denied, run denied/);
      assert.match(stdout, /Connected to cluster "deploy" in \d+ ms; engines \[0,1\]/);
      assert.match(
        stdout,
        /load-balanced map of x \* x over 0\.\.9 → \[0,1,4,9,16,25,36,49,64,81\]/,
      );
      assert.match(stdout, /on every engine → \[13,13\]/);
      assert.match(stdout, /stdout "hello from \d+\.\d+\.\d+\\n"; Out\[0:\d+\]: 42/);
      assert.match(stdout, /Done: the client closes; the cluster keeps running\./);
      // The cluster is still there for other clients.
      const again = await cluster.connect();
      assert.deepEqual(await again.directView().apply(() => 1), [1, 1]);
    } finally {
      await cluster.stop();
      await Deno.remove(profileDir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name: "ssh_cluster runs engines over ssh (a real sshd on loopback), maps on them and stops",
  ignore: needsSshd(),
  async fn() {
    await using sshd = await Sshd.start();
    const { code, stdout, stderr } = await runExample("ssh_cluster.ts", {
      IPP_SSH_HOST: sshd.host,
      IPP_SSH_PORT: String(sshd.port),
      IPP_SSH_KEY: sshd.keyFile,
      IPP_SSH_OPTIONS:
        "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR",
      IPP_SSH_DENO: Deno.execPath(),
    });
    assert.equal(code, 0, `ssh_cluster failed:\n${stdout}\n${stderr}`);
    assert.match(stdout, /Cluster up with engines \[0,1\]/);
    assert.match(stdout, /engine 0: pid \d+ on /);
    assert.match(stdout, /π ≈ 3\.1\d* from 1,600,000 samples on 2 SSH engines/);
    assert.match(stdout, /All SSH-cluster checks passed\./);
    assert.match(stdout, /Cluster stopped: the ssh sessions and remote engines are gone\./);
    assert.doesNotMatch(stdout, /event:/, "no engine exited unexpectedly");
    await waitUntil(() => descendants(sshd.pid).length === 0, 10_000, "sshd's sessions to end");
  },
});

Deno.test("ssh_cluster without a host says what to give and exits 2", async () => {
  const { code, stdout, stderr } = await runExample("ssh_cluster.ts", { IPP_SSH_HOST: "" });
  assert.equal(code, 2, stdout);
  assert.match(stderr, /no SSH host\. Give --host \[user@\]host \(or IPP_SSH_HOST\)/);
});

Deno.test("the README's Use example runs as written (against this checkout's mod.ts)", async () => {
  const readme = await Deno.readTextFile(`${root}README.md`);
  const code = readme.match(/## Use\n\n```ts\n([\s\S]*?)```/)?.[1];
  assert.ok(code, "the README has a ts block under ## Use");
  assert.match(code, /from "@ipp\/parallel";/);
  const dir = await Deno.makeTempDir({ prefix: "ipp-readme-" });
  try {
    const file = `${dir}/use.ts`;
    await Deno.writeTextFile(
      file,
      code.replace('"@ipp/parallel"', JSON.stringify(`${root}mod.ts`)) +
        "console.log(JSON.stringify(squares), joined.constructor.name, joined.length);\n",
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--quiet", `--config=${root}deno.json`, file],
      cwd: dir,
      env: { IPYTHONDIR: dir },
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(120_000),
    }).output();
    const dec = new TextDecoder();
    const stdout = dec.decode(out.stdout);
    assert.equal(out.code, 0, `${stdout}\n${dec.decode(out.stderr)}`);
    assert.deepEqual(stdout.trim().split("\n"), [
      "[ 11, 11, 11, 11 ]",
      "[1,4,9,16] Float64Array 1000000",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
