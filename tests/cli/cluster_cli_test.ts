import assert from "node:assert/strict";
import { join } from "node:path";
import { ipp, IPP_MAIN, killProcessesMentioning, processesMentioning } from "../helpers/ipp_cli.ts";

/** The user's script: `Client.connect()`, then work on every engine (tests/cli/). */
const WORK_SCRIPT = new URL("./connect_and_work.ts", import.meta.url).pathname;

async function until(check: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return check();
}

Deno.test({
  name: "ipp cluster start -n 4 --daemonize, a script's Client.connect() and work, " +
    "ipp cluster stop leave no process or file",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const home = await Deno.makeTempDir({ prefix: "ipp-cli-" });
    const ipyDir = join(home, ".ipython");
    const env = { HOME: home, IPYTHONDIR: ipyDir };
    const profile = join(ipyDir, "profile_default");
    const security = join(profile, "security");
    try {
      const start = await ipp(["cluster", "start", "-n", "4", "--daemonize"], env);
      assert.equal(start.code, 0, start.stderr);
      assert.match(start.stdout, /cluster \(default\) started: 4 engines/);
      const running = processesMentioning(profile);
      assert.ok(running.length >= 5, `controller and 4 engines run: ${running}`);

      // A separate script, run as a user would from a shell, finds the cluster through
      // $IPYTHONDIR alone and runs work on every engine.
      const script = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--quiet", WORK_SCRIPT, "4"],
        env,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
        signal: AbortSignal.timeout(90_000),
      }).output();
      const dec = new TextDecoder();
      const said = `stdout: ${dec.decode(script.stdout)}\nstderr: ${dec.decode(script.stderr)}`;
      assert.equal(script.code, 0, `the script failed (${script.signal ?? "no signal"})\n${said}`);
      const lines = dec.decode(script.stdout).trim().split("\n");
      assert.equal(lines.length, 1, said);
      const result = JSON.parse(lines[0]) as {
        ids: number[];
        pids: number[];
        squares: number[];
        selfPid: number;
      };
      assert.deepEqual(result.ids, [0, 1, 2, 3], said);
      assert.deepEqual(result.squares, [1, 4, 9, 16, 25, 36, 49, 64], said);
      assert.equal(result.pids.length, 4, said);
      assert.equal(new Set(result.pids).size, 4, `4 distinct engine processes: ${said}`);
      for (const pid of result.pids) {
        assert.ok(Number.isInteger(pid) && pid > 0, said);
        assert.notEqual(pid, result.selfPid, "the work ran in the engines, not in the script");
        assert.ok(running.includes(pid), `engine pid ${pid} is one the cluster started: ${said}`);
      }

      const list = await ipp(["cluster", "list"], env);
      assert.equal(list.code, 0, list.stderr);
      assert.match(list.stdout, /default\s+\(default\)\s+4\s+running/);

      const stop = await ipp(["cluster", "stop"], env);
      assert.equal(stop.code, 0, stop.stderr);
      assert.ok(
        await until(() => processesMentioning(profile).length === 0, 10_000),
        `processes left: ${processesMentioning(profile)}`,
      );
      const left = [...Deno.readDirSync(security)].map((e) => e.name);
      assert.deepEqual(left, [], `files left in ${security}`);
    } finally {
      killProcessesMentioning(home);
      await Deno.remove(home, { recursive: true });
    }
  },
});

Deno.test({
  name: "SIGTERM to a foreground ipp cluster start stops the controller and every engine",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const home = await Deno.makeTempDir({ prefix: "ipp-cli-" });
    const profileDir = join(home, "profile");
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--quiet",
        IPP_MAIN,
        "cluster",
        "start",
        "-n",
        "2",
        "--profile-dir",
        profileDir,
      ],
      env: { HOME: home },
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    try {
      const clusterFile = join(profileDir, "security", "cluster-.json");
      assert.ok(
        await until(() => {
          try {
            return Deno.statSync(clusterFile).isFile;
          } catch {
            return false;
          }
        }, 60_000),
        "cluster became ready",
      );
      assert.ok(processesMentioning(profileDir).length >= 3, "controller and engines run");
      child.kill("SIGTERM");
      const status = await child.status;
      assert.equal(status.code, 0);
      assert.ok(
        await until(() => processesMentioning(profileDir).length === 0, 10_000),
        `orphans: ${processesMentioning(profileDir)}`,
      );
      assert.deepEqual([...Deno.readDirSync(join(profileDir, "security"))].map((e) => e.name), []);
    } finally {
      try {
        child.kill("SIGKILL");
      } catch { /* ended */ }
      await child.stderr.cancel().catch(() => {});
      await child.status;
      killProcessesMentioning(home);
      await Deno.remove(home, { recursive: true });
    }
  },
});
