/**
 * `Cluster` with `engines: { launcher: "ssh" }` (`ssh_launcher.ts`) through a real OpenSSH
 * server on loopback: the controller runs here, the engines run in sshd sessions (the
 * "remote" host is this machine), and stopping — cleanly or by killing the ssh clients —
 * leaves no engine, wrapper or ssh process behind. Processes are counted in `/proc`: remote
 * ones as descendants of the test's sshd, ssh clients as descendants of this test process.
 */

import assert from "node:assert/strict";
import { Cluster } from "../../src/cluster/cluster.ts";
import type { ClusterOptions } from "../../src/cluster/options.ts";
import { IppError } from "../../src/errors.ts";
import { launchSshEngine, shellQuote, sshEngineArgs } from "../../src/cluster/ssh_launcher.ts";
import { exists } from "../helpers/interop.ts";
import { descendants, needsSshd, Sshd, waitUntil } from "../helpers/sshd.ts";

const ignore = needsSshd();

/** `ipp engine` processes running inside sshd's sessions. */
function remoteEngines(sshd: Sshd): number[] {
  return remoteEngineFiles(sshd).map((e) => e.pid);
}

/** Those engines with their connection files (written by the remote wrapper). */
function remoteEngineFiles(sshd: Sshd): { pid: number; file: string }[] {
  return descendants(sshd.pid)
    .filter((p) => /\bmain\.ts engine\b/.test(p.cmdline) && !p.cmdline.startsWith("sh "))
    .map((p) => ({ pid: p.pid, file: /--file=(\S+)/.exec(p.cmdline)![1] }));
}

/**
 * ssh clients of this process that talk to `sshd` (by its port: `deno test --parallel` runs
 * other test files in this same process).
 */
function sshClients(sshd: Sshd): number[] {
  return descendants(Deno.pid)
    .filter((p) => /(^|\/)ssh /.test(p.cmdline) && p.cmdline.includes(` -p ${sshd.port} `))
    .map((p) => p.pid);
}

function options(sshd: Sshd, dir: string, n: number): ClusterOptions {
  return {
    n,
    profileDir: dir,
    clusterId: "ssh-engines",
    controllerArgs: ["--ip=127.0.0.1", "--ping=250"],
    timeoutMs: 60_000,
    engines: {
      launcher: "ssh",
      hosts: [sshd.server],
      sshArgs: sshd.sshOptions,
      deno: Deno.execPath(),
    },
  };
}

Deno.test({
  name: "Cluster starts engines over ssh, maps on them, and stop() leaves no process behind",
  ignore,
  async fn() {
    await using sshd = await Sshd.start();
    const dir = await Deno.makeTempDir({ prefix: "ipp-ssh-engines-" });
    try {
      const cluster = new Cluster(options(sshd, dir, 2));
      let files: string[] = [];
      try {
        const client = await cluster.startAndConnect({ timeout: 30_000, log: () => {} });
        files = remoteEngineFiles(sshd).map((e) => e.file);
        assert.equal(files.length, 2, "both engines run inside sshd sessions");
        assert.ok(files.every(exists));
        assert.equal(sshClients(sshd).length, 2, "one ssh client per engine");
        const pids = await client.directView().apply(() => Deno.pid);
        assert.deepEqual([...pids].sort(), remoteEngines(sshd).sort());
        const lv = client.loadBalancedView();
        const squares = await lv.map((x: number) => x * x, [1, 2, 3, 4, 5, 6, 7, 8]);
        assert.deepEqual(squares, [1, 4, 9, 16, 25, 36, 49, 64]);
      } finally {
        await cluster.stop();
      }
      // A clean stop returns once the remote engines exited (their ssh clients exit after).
      assert.deepEqual(sshClients(sshd), []);
      assert.deepEqual(remoteEngines(sshd), []);
      await waitUntil(() => descendants(sshd.pid).length === 0, 10_000, "sshd's sessions to end");
      assert.deepEqual(files.filter(exists), [], "the remote connection files are removed");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "A killed ssh client takes its remote engine down, and a signal reaches the engine",
  ignore,
  async fn() {
    await using sshd = await Sshd.start();
    const dir = await Deno.makeTempDir({ prefix: "ipp-ssh-engines-" });
    try {
      const events: string[] = [];
      await using cluster = new Cluster({
        ...options(sshd, dir, 1),
        onEvent: (e) => events.push(e.message),
      });
      const client = await cluster.startAndConnect({ timeout: 30_000, log: () => {} });
      assert.equal(await client.engine(0).apply(() => 1 + 1), 2);

      // SIGINT travels on the lifeline and stops the engine (it exits 0 on SIGINT).
      cluster.signalEngines("SIGINT");
      await waitUntil(() => cluster.engineCount === 0, 20_000, "the engine to exit on SIGINT");
      assert.match(events.join("\n"), /engine 0 \(pid \d+\) exited with status 0/);
      await waitUntil(() => descendants(sshd.pid).length === 0, 10_000, "sshd's session to end");

      // SIGKILL kills the ssh client only: the remote side sees EOF and stops the engine.
      await cluster.startEngines(1);
      await waitUntil(() => remoteEngines(sshd).length === 1, 30_000, "a new remote engine");
      const [{ file }] = remoteEngineFiles(sshd);
      cluster.signalEngines("SIGKILL");
      await waitUntil(() => cluster.engineCount === 0, 10_000, "the ssh client to die");
      await waitUntil(() => remoteEngines(sshd).length === 0, 10_000, "the remote engine to stop");
      await waitUntil(() => descendants(sshd.pid).length === 0, 10_000, "sshd's session to end");
      assert.deepEqual(sshClients(sshd), []);
      assert.ok(!exists(file), "the remote connection file is removed");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("sshEngineArgs puts the caller's ssh options first and quotes the remote command", async () => {
  const args = sshEngineArgs("alice@gw:2222", ["--log-level=DEBUG", "it's"], {
    launcher: "ssh",
    hosts: [],
    sshArgs: ["-i", "/k", "-o", "BatchMode=no"],
    deno: "/opt/deno",
    ippMain: "/srv/ipp/src/cli/main.ts",
  });
  assert.deepEqual(args.slice(0, 4), ["-i", "/k", "-o", "BatchMode=no"]);
  assert.deepEqual(args.slice(args.indexOf("-p"), args.indexOf("-p") + 3), [
    "-p",
    "2222",
    "alice@gw",
  ]);
  // The remote login shell splits the command back into the words we meant.
  const words = await new Deno.Command("/bin/sh", {
    args: ["-c", `for w in ${args.at(-1)}; do printf '%s\\0' "$w"; done`],
  }).output();
  const split = new TextDecoder().decode(words.stdout).split("\0").slice(0, -1);
  assert.deepEqual(split.slice(0, 2), ["sh", "-c"]);
  assert.deepEqual(split.slice(3), [
    "ipp-engine",
    "/opt/deno",
    "run",
    "-A",
    "--quiet",
    "/srv/ipp/src/cli/main.ts",
    "engine",
    "--log-level=DEBUG",
    "it's",
  ]);
  assert.equal(shellQuote("a b"), "'a b'");
  assert.throws(() => sshEngineArgs("a:b:c", [], { launcher: "ssh", hosts: [] }), IppError);
  assert.throws(
    () =>
      launchSshEngine({ label: "e", host: "", engineFile: "/nope" }, {
        launcher: "ssh",
        hosts: [],
      }),
    IppError,
  );
});
