/**
 * `Cluster` with `controller: { launcher: "ssh" }` (`ssh_controller.ts`) through a real
 * OpenSSH server on loopback: the controller runs in an sshd session in its own "remote"
 * profile folder, its connection files are copied back into the local one, engines (local,
 * then over ssh too) register and run work, and stopping leaves no process or file behind.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { Cluster } from "../../src/cluster/cluster.ts";
import { IppError } from "../../src/errors.ts";
import {
  defaultRemoteProfileDir,
  launchSshController,
  remoteConnectionFiles,
} from "../../src/cluster/ssh_controller.ts";
import { exists } from "../helpers/interop.ts";
import { descendants, needsSshd, Sshd, waitUntil } from "../helpers/sshd.ts";

const ignore = needsSshd();

/** `ipp controller` processes running inside sshd's sessions. */
function remoteControllers(sshd: Sshd): number[] {
  return descendants(sshd.pid)
    .filter((p) => /\bmain\.ts controller\b/.test(p.cmdline) && !p.cmdline.startsWith("sh "))
    .map((p) => p.pid);
}

for (const engines of ["local", "ssh"] as const) {
  Deno.test({
    name:
      `Cluster runs its controller over ssh, copies its files back, and ${engines} engines work`,
    ignore,
    async fn() {
      await using sshd = await Sshd.start();
      const local = await Deno.makeTempDir({ prefix: "ipp-ssh-ctl-local-" });
      const remote = await Deno.makeTempDir({ prefix: "ipp-ssh-ctl-remote-" });
      try {
        const cluster = new Cluster({
          n: 2,
          profileDir: local,
          clusterId: "sshctl",
          controllerArgs: ["--ip=127.0.0.1", "--ping=250"],
          timeoutMs: 60_000,
          controller: {
            launcher: "ssh",
            host: sshd.server,
            sshArgs: sshd.sshOptions,
            deno: Deno.execPath(),
            remoteProfileDir: remote,
          },
          engines: engines === "ssh"
            ? {
              launcher: "ssh",
              hosts: [sshd.server],
              sshArgs: sshd.sshOptions,
              deno: Deno.execPath(),
            }
            : undefined,
        });
        const files = remoteConnectionFiles(remote, "sshctl");
        try {
          const client = await cluster.startAndConnect({ timeout: 30_000, log: () => {} });
          assert.equal(remoteControllers(sshd).length, 1, "the controller runs in an sshd session");
          // The local files are copies of the remote controller's.
          for (const kind of ["client", "engine"] as const) {
            const here = kind === "client" ? cluster.clientFile : cluster.engineFile;
            assert.deepEqual(
              JSON.parse(await Deno.readTextFile(here)),
              JSON.parse(await Deno.readTextFile(files[kind])),
            );
            assert.equal((await Deno.stat(here)).mode! & 0o777, 0o600);
          }
          const squares = await client.loadBalancedView().map((x: number) => x * x, [1, 2, 3, 4]);
          assert.deepEqual(squares, [1, 4, 9, 16]);
          assert.equal(new Set(await client.directView().apply(() => Deno.pid)).size, 2);
        } finally {
          await cluster.stop();
        }
        await waitUntil(() => descendants(sshd.pid).length === 0, 10_000, "sshd's sessions to end");
        assert.ok(!exists(cluster.clientFile) && !exists(cluster.engineFile), "local copies gone");
        assert.ok(!exists(files.client) && !exists(files.engine), "remote files gone");
      } finally {
        await Deno.remove(local, { recursive: true });
        await Deno.remove(remote, { recursive: true });
      }
    },
  });
}

Deno.test({
  name: "An SSH controller that cannot start is reported with its status, not as a time-out",
  ignore,
  async fn() {
    await using sshd = await Sshd.start();
    const local = await Deno.makeTempDir({ prefix: "ipp-ssh-ctl-local-" });
    try {
      const cluster = new Cluster({
        n: 1,
        profileDir: local,
        clusterId: "broken",
        controllerArgs: ["--no-such-flag"],
        timeoutMs: 60_000,
        controller: {
          launcher: "ssh",
          host: sshd.server,
          sshArgs: sshd.sshOptions,
          deno: Deno.execPath(),
          remoteProfileDir: join(local, "remote"),
        },
      });
      await assert.rejects(
        cluster.start(),
        (e) =>
          e instanceof IppError &&
          /controller on .* exited with status 2 before writing its connection files/.test(
            e.message,
          ),
      );
      await cluster.stop();
      await waitUntil(() => descendants(sshd.pid).length === 0, 10_000, "sshd's sessions to end");
    } finally {
      await Deno.remove(local, { recursive: true });
    }
  },
});

Deno.test("defaultRemoteProfileDir strips the home folder as ipyparallel does", () => {
  assert.equal(
    defaultRemoteProfileDir("/home/me/.ipython/profile_default", "/home/me"),
    ".ipython/profile_default",
  );
  assert.equal(defaultRemoteProfileDir("/home/me/x", "/home/me/"), "x");
  assert.equal(defaultRemoteProfileDir("/srv/profile", "/home/me"), "/srv/profile");
  assert.equal(defaultRemoteProfileDir("/home/meat/p", "/home/me"), "/home/meat/p");
  assert.throws(
    () =>
      launchSshController({ remoteProfileDir: "p", clusterId: "" }, { launcher: "ssh", host: "" }),
    IppError,
  );
});
