import assert from "node:assert/strict";
import { join } from "node:path";
import { Client } from "../../mod.ts";
import { ipp, IPP_MAIN, killProcessesMentioning, processesMentioning } from "../helpers/ipp_cli.ts";

async function until(check: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return check();
}

Deno.test({
  name:
    "ipp cluster start --daemonize, Client.connect(), ipp cluster stop leave no process or file",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const home = await Deno.makeTempDir({ prefix: "ipp-cli-" });
    const ipyDir = join(home, ".ipython");
    const env = { HOME: home, IPYTHONDIR: ipyDir };
    const profile = join(ipyDir, "profile_default");
    const security = join(profile, "security");
    try {
      const start = await ipp(["cluster", "start", "-n", "2", "--daemonize"], env);
      assert.equal(start.code, 0, start.stderr);
      assert.match(start.stdout, /cluster \(default\) started: 2 engines/);
      assert.ok(processesMentioning(profile).length >= 3, "controller and engines run");

      // A script finds the cluster with no arguments beyond where IPython's folder is.
      const client = await Client.connect({ ipythonDir: ipyDir, timeout: 10_000 });
      try {
        assert.deepEqual(client.ids, [0, 1]);
        const squares = await client.loadBalancedView().map((x: number) => x * x, [1, 2, 3]);
        assert.deepEqual(squares, [1, 4, 9]);
      } finally {
        await client.close();
      }

      const list = await ipp(["cluster", "list"], env);
      assert.equal(list.code, 0, list.stderr);
      assert.match(list.stdout, /default\s+\(default\)\s+2\s+running/);

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
