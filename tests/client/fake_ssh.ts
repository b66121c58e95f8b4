/**
 * Installs `fake_ssh.py` as an executable `ssh` in a temporary folder, for tunnelling tests
 * on machines without an sshd.
 *
 * @module
 */

/** A fake `ssh` program and where it records its arguments (with `FAKE_SSH_ARGS`). */
export interface FakeSsh {
  /** Path of the executable. */
  command: string;
  /** A path for `FAKE_SSH_ARGS`. */
  argsFile: string;
  /** The temporary folder (remove it when done). */
  dir: string;
}

/** Creates a fake `ssh` executable. */
export async function fakeSsh(): Promise<FakeSsh> {
  const dir = await Deno.makeTempDir({ prefix: "ipp-fake-ssh-" });
  const command = `${dir}/ssh`;
  await Deno.copyFile(new URL("./fake_ssh.py", import.meta.url), command);
  await Deno.chmod(command, 0o755);
  return { command, argsFile: `${dir}/args.json`, dir };
}
