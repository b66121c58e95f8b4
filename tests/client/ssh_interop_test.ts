/**
 * The client's SSH tunnel (`ssh_tunnel.ts`) through a real OpenSSH server on loopback: our
 * controller listens on 127.0.0.1 only, and a client given `sshserver` + `sshkey` reaches it
 * with `ssh -N -L` through the sshd the test starts.
 *
 * How the tunnel is decided (`sshServerFor` in `client.ts`, PROTOCOL.md §2.4): an explicit
 * `sshserver` always tunnels, whatever the file says. The copy of the connection file the
 * client reads names a non-local `location` anyway, as a file from a remote controller would;
 * its `interface` stays `tcp://127.0.0.1`, which the forwards resolve on the SSH server's side
 * (`-L 127.0.0.1:<local>:127.0.0.1:<port>`). The test checks that the client's channels go
 * through ssh: an `ssh … -L` child carrying the controller's ports, and a session inside sshd.
 *
 * The client passes `-i` (from `sshkey`) and `-p` (from `sshserver`) itself; only host-key
 * trust for the throw-away host key comes from `sshCommand`, a wrapper that `exec`s the real
 * `/usr/bin/ssh` with `StrictHostKeyChecking=no` (the tunnel has no host-key option of its own).
 * A key that sshd does not accept makes `Client.connect` fail at once with ssh's own message
 * and the server's name.
 *
 * `password` goes through ssh's askpass (`ssh_askpass.ts`). Password authentication for a real
 * account would need a system user with a known password, which tests must not create, so the
 * askpass path is tested with what it also answers: the passphrase of an encrypted `sshkey`
 * (`ssh-keygen -N`). A wrong passphrase, a missing one, and a host-key question each fail at
 * once with ssh's message ("ssh exited", not the tunnel's time-out); no ssh or askpass process
 * outlives `connect` or `close`.
 */

import assert from "node:assert/strict";
import { Client } from "../../src/client/client.ts";
import type { ExecuteReply } from "../../src/client/execute_reply.ts";
import { InvalidOptionError, IppError } from "../../src/errors.ts";
import { descendants, needsSshd, SSH_KEYGEN, Sshd, waitUntil } from "../helpers/sshd.ts";
import { withLocalCluster } from "../helpers/local_cluster.ts";

const ignore = needsSshd();

/**
 * ssh clients of this process that talk to `sshd` (by its port: `deno test --parallel` runs
 * other test files in this same process).
 */
function sshClients(sshd: Sshd): { pid: number; cmdline: string }[] {
  return descendants(Deno.pid).filter((p) =>
    /(^|\/)ssh /.test(p.cmdline) && p.cmdline.includes(` -p ${sshd.port} `)
  );
}

/** askpass helpers (`ssh_askpass.ts`) running under this process. */
function askpassHelpers(): { pid: number; cmdline: string }[] {
  return descendants(Deno.pid).filter((p) => p.cmdline.includes("ipp-askpass-"));
}

/** The environment of a process of this user, from `/proc`. */
function environOf(pid: number): Map<string, string> {
  const entries = Deno.readTextFileSync(`/proc/${pid}/environ`).split("\0").filter(Boolean);
  return new Map(entries.map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]));
}

/** A passphrase with spaces and shell metacharacters, as the helper must pass them verbatim. */
const PASSPHRASE = "correct horse $HOME `id` 'battery' \\n";

/**
 * Runs `connect` and expects it to reject with an {@link IppError} from ssh itself (not the
 * tunnel's time-out), well within the time limit it was given; returns the message.
 */
async function sshRefusal(connect: () => Promise<unknown>, timeoutMs: number): Promise<string> {
  const started = Date.now();
  let message = "";
  await assert.rejects(connect(), (e: Error) => {
    assert.ok(e instanceof IppError, String(e));
    message = e.message;
    return true;
  });
  assert.ok(message.includes("(ssh exited"), message);
  assert.ok(Date.now() - started < timeoutMs, `took ${Date.now() - started} ms: ${message}`);
  return message;
}

/** The engine registers through the tunnel, and an apply and an execute come back. */
async function runsWorkThroughTunnel(client: Client): Promise<void> {
  await waitUntil(() => client.ids.length === 1, 60_000, "the engine to register");
  const e0 = client.engine(0);
  assert.equal(await e0.apply((a: number, b: number) => a * b, 6, 7).get(20_000), 42);
  const reply = (await e0.execute("const k = 40 + 2; k", { silent: false }).get(
    20_000,
  )) as ExecuteReply;
  assert.equal(reply.text, "42");
}

Deno.test({
  name: "Client.connect with sshserver and sshkey reaches a loopback controller through sshd",
  ignore,
  async fn() {
    await using sshd = await Sshd.start();
    await withLocalCluster(
      { n: 1, clusterId: "ssh-interop", controllerArgs: ["--ping=250"] },
      async (cluster, dir) => {
        await cluster.start();
        const info = JSON.parse(await Deno.readTextFile(cluster.clientFile));
        assert.equal(info.interface, "tcp://127.0.0.1");
        const remoteFile = `${dir}/remote-client.json`;
        await Deno.writeTextFile(
          remoteFile,
          JSON.stringify({ ...info, location: "ipp-controller.example.invalid", ssh: "" }),
        );
        const sshCommand = await sshd.sshWrapper();
        {
          await using client = await Client.connect({
            urlFile: remoteFile,
            sshserver: sshd.server,
            sshkey: sshd.keyFile,
            sshCommand,
            timeout: 30_000,
            log: () => {},
          });

          const tunnels = sshClients(sshd);
          assert.equal(tunnels.length, 1, "one ssh process for every channel");
          const args = tunnels[0].cmdline;
          assert.match(
            args,
            new RegExp(`-L 127\\.0\\.0\\.1:\\d+:127\\.0\\.0\\.1:${info.registration}`),
          );
          assert.match(args, new RegExp(`-i ${sshd.keyFile}`));
          // The user, host and port of `sshserver` ([user@]host[:port]) become `-p port user@host`;
          // ssh never prompts; one forward per controller port the client uses.
          assert.ok(args.endsWith(` ${sshd.host}`), args);
          assert.match(args, new RegExp(` -p ${sshd.port} `));
          assert.match(args, / -o BatchMode=yes /);
          assert.equal(args.match(/ -L /g)?.length, 7, args);
          assert.ok(descendants(sshd.pid).length > 0, "sshd serves a session for the tunnel");

          await runsWorkThroughTunnel(client);
          const status = await client.queueStatus();
          assert.deepEqual(Object.keys(status).sort(), ["0", "unassigned"]);
          assert.equal((status as Record<number, { completed: number }>)[0].completed, 2);
        }
        await waitUntil(() => sshClients(sshd).length === 0, 10_000, "the ssh tunnel to exit");
        await waitUntil(
          () => descendants(sshd.pid).length === 0,
          10_000,
          "sshd's session to end",
        );
      },
    );
  },
});

Deno.test({
  name: "Client.connect through sshd with a key sshd does not accept fails naming the server",
  ignore,
  async fn() {
    await using sshd = await Sshd.start();
    await withLocalCluster({ n: 0, clusterId: "ssh-bad-key" }, async (cluster, dir) => {
      await cluster.startController();
      const wrongKey = `${dir}/not_authorized`;
      const keygen = await new Deno.Command(SSH_KEYGEN, {
        args: ["-q", "-t", "ed25519", "-N", "", "-f", wrongKey],
      }).output();
      assert.ok(keygen.success);
      await assert.rejects(
        Client.connect({
          urlFile: cluster.clientFile,
          sshserver: sshd.server,
          sshkey: wrongKey,
          sshCommand: await sshd.sshWrapper(),
          timeout: 30_000,
        }),
        (e: Error) => {
          assert.ok(e instanceof IppError);
          // "ssh exited": ssh's own refusal, not a time-out waiting for the forwards.
          assert.ok(
            e.message.includes(`SSH tunnel to ${sshd.server} failed (ssh exited`),
            e.message,
          );
          assert.match(e.message, /Permission denied/);
          assert.ok(e.message.includes(`ssh ${sshd.host}`), e.message);
          return true;
        },
      );
      assert.equal(sshClients(sshd).length, 0, "no ssh process is left behind");
    });
  },
});

Deno.test({
  name: "Client.connect with an encrypted sshkey and its passphrase as password runs work",
  ignore,
  async fn() {
    await using sshd = await Sshd.start();
    const key = await sshd.newKey("id_encrypted", { passphrase: PASSPHRASE });
    await withLocalCluster(
      { n: 1, clusterId: "ssh-askpass", controllerArgs: ["--ping=250"] },
      async (cluster) => {
        await cluster.start();
        const sshCommand = await sshd.sshWrapper();
        {
          await using client = await Client.connect({
            urlFile: cluster.clientFile,
            sshserver: sshd.server,
            sshkey: key,
            password: PASSPHRASE,
            sshCommand,
            timeout: 30_000,
            log: () => {},
          });
          const tunnels = sshClients(sshd);
          assert.equal(tunnels.length, 1, "one ssh process for every channel");
          const { pid, cmdline } = tunnels[0];
          // The secret reaches the helper through ssh's environment, never a command line.
          assert.ok(!cmdline.includes("horse"), cmdline);
          assert.match(cmdline, / -o BatchMode=no -o NumberOfPasswordPrompts=1 /);
          assert.ok(cmdline.includes(`-i ${key}`), cmdline);
          const env = environOf(pid);
          assert.equal(env.get("SSH_ASKPASS_REQUIRE"), "force");
          assert.equal(env.get("IPP_SSH_ASKPASS_SECRET"), PASSPHRASE);
          // ssh authenticated before the forwards opened: the helper is already removed.
          const helper = env.get("SSH_ASKPASS")!;
          assert.match(helper, /ipp-askpass-/);
          assert.equal(await Deno.stat(helper).catch(() => null), null, `${helper} removed`);
          assert.equal(askpassHelpers().length, 0);

          await runsWorkThroughTunnel(client);
          const all = client.directView();
          assert.deepEqual(await all.map((x: number) => x + 1, [1, 2, 3]), [2, 3, 4]);
        }
        await waitUntil(() => sshClients(sshd).length === 0, 10_000, "the ssh tunnel to exit");
        assert.equal(askpassHelpers().length, 0, "no askpass helper is left");
        await waitUntil(
          () => descendants(sshd.pid).length === 0,
          10_000,
          "sshd's session to end",
        );
      },
    );
  },
});

Deno.test({
  name: "Client.connect with a wrong passphrase, no passphrase, or a host-key question fails " +
    "at once with ssh's message",
  ignore,
  async fn() {
    await using sshd = await Sshd.start();
    const key = await sshd.newKey("id_encrypted", { passphrase: PASSPHRASE });
    await withLocalCluster({ n: 0, clusterId: "ssh-askpass-bad" }, async (cluster) => {
      await cluster.startController();
      const sshCommand = await sshd.sshWrapper();
      const timeout = 30_000;
      const base = { urlFile: cluster.clientFile, sshserver: sshd.server, sshkey: key, timeout };

      // One attempt (NumberOfPasswordPrompts=1), then ssh's own refusal.
      let message = await sshRefusal(
        () => Client.connect({ ...base, password: "not the passphrase", sshCommand }),
        timeout,
      );
      assert.match(message, /Permission denied/);
      assert.ok(message.includes(`check password: it unlocks sshkey ${key}`), message);
      assert.ok(!message.includes("not the passphrase"), "the secret is not in the message");

      // Without a password ssh stays in BatchMode: no prompt, no hang, and a hint.
      message = await sshRefusal(() => Client.connect({ ...base, sshCommand }), timeout);
      assert.match(message, /Permission denied/);
      assert.ok(
        message.includes(`sshkey ${key} is encrypted: give its passphrase as password`),
        message,
      );

      // An unknown host key: the helper refuses the "yes/no" question (ssh reads "no") rather
      // than answering it with the password, which ssh would ask again and again.
      message = await sshRefusal(
        async () =>
          Client.connect({
            ...base,
            password: PASSPHRASE,
            sshCommand: await sshd.sshWrapper({ askHostKey: true }),
          }),
        timeout,
      );
      assert.match(message, /Host key verification failed/);

      // A password with nothing to tunnel through is a mistake, not something to ignore.
      await assert.rejects(
        Client.connect({ urlFile: cluster.clientFile, password: PASSPHRASE, timeout }),
        (e: Error) => {
          assert.ok(e instanceof InvalidOptionError && e.option === "password", String(e));
          assert.match(e.message, /reached directly: give sshserver/);
          return true;
        },
      );

      assert.equal(sshClients(sshd).length, 0, "no ssh process is left behind");
      assert.equal(askpassHelpers().length, 0, "no askpass helper is left behind");
      await waitUntil(() => descendants(sshd.pid).length === 0, 10_000, "sshd's sessions to end");
    });
  },
});
