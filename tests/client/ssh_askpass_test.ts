/**
 * The askpass helper of `ssh_askpass.ts` on its own, run as ssh runs it (the prompt as its
 * only argument, the secret in its environment), and the encrypted-key check that words the
 * tunnel's errors. ssh_interop_test.ts runs it under a real ssh and sshd.
 */

import assert from "node:assert/strict";
import { isEncryptedKey, SECRET_ENV, SshAskpass } from "../../src/client/ssh_askpass.ts";
import { needsSshd, SSH, SSH_KEYGEN } from "../helpers/sshd.ts";

const ignore = needsSshd();

const SECRET = "p4ss w0rd $HOME `id` 'q' \\n";

/** Runs the helper with `prompt` as ssh does; returns its exit code and stdout. */
async function ask(askpass: SshAskpass, prompt: string): Promise<{ code: number; out: string }> {
  const out = await new Deno.Command(askpass.path, {
    args: [prompt],
    env: askpass.env(),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, out: new TextDecoder().decode(out.stdout) };
}

Deno.test({
  name: "SshAskpass answers password and passphrase prompts only, from ssh's environment",
  ignore,
  async fn() {
    const askpass = await SshAskpass.create(SECRET, SSH);
    try {
      const env = askpass.env();
      assert.equal(env.SSH_ASKPASS, askpass.path);
      assert.equal(env.SSH_ASKPASS_REQUIRE, "force");
      assert.equal(env[SECRET_ENV], SECRET);
      // The helper holds no secret, and only its owner can reach it.
      assert.ok(!(await Deno.readTextFile(askpass.path)).includes("w0rd"));
      assert.equal((await Deno.stat(askpass.path)).mode! & 0o777, 0o700);
      assert.equal((await Deno.stat(askpass.path.replace(/\/askpass$/, ""))).mode! & 0o777, 0o700);

      for (
        const prompt of [
          "Enter passphrase for key '/home/u/.ssh/id_ed25519': ",
          "u@gateway's password: ",
          "Password: ",
        ]
      ) {
        assert.deepEqual(await ask(askpass, prompt), { code: 0, out: `${SECRET}\n` }, prompt);
      }
      for (
        const prompt of [
          "Are you sure you want to continue connecting (yes/no/[fingerprint])? ",
          "Verification code: ",
        ]
      ) {
        assert.deepEqual(await ask(askpass, prompt), { code: 1, out: "" }, prompt);
      }
    } finally {
      await askpass.remove();
    }
    assert.equal(await Deno.stat(askpass.path).catch(() => null), null);
    await askpass.remove(); // idempotent
  },
});

Deno.test({
  name: "isEncryptedKey tells passphrase-protected keys from clear ones",
  ignore,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "ipp-keys-" });
    try {
      const keygen = async (name: string, args: string[]) => {
        const out = await new Deno.Command(SSH_KEYGEN, {
          args: ["-q", ...args, "-f", `${dir}/${name}`],
        }).output();
        assert.ok(out.success, new TextDecoder().decode(out.stderr));
        return `${dir}/${name}`;
      };
      assert.equal(await isEncryptedKey(await keygen("clear", ["-t", "ed25519", "-N", ""])), false);
      assert.equal(
        await isEncryptedKey(await keygen("enc", ["-t", "ed25519", "-N", "pw-12345"])),
        true,
      );
      const pem = ["-t", "rsa", "-b", "2048", "-m", "PEM"];
      assert.equal(await isEncryptedKey(await keygen("pem", [...pem, "-N", ""])), false);
      assert.equal(await isEncryptedKey(await keygen("pem-enc", [...pem, "-N", "pw-12345"])), true);
      assert.equal(await isEncryptedKey(`${dir}/missing`), false);
      assert.equal(await isEncryptedKey(`${dir}/enc.pub`), false);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
