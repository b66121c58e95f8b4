/**
 * Slurm launcher (`slurm_launcher.ts`): the batch scripts it writes, checked by exact content,
 * and submission/cancellation through fake `sbatch`/`scancel` programs found on `PATH`,
 * which record their arguments (and the submitted script). A real single-node Slurm runs the
 * engines in `slurm_cluster_test.ts`.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { IppError } from "../../src/errors.ts";
import { IPP_MAIN } from "../../src/cluster/local_launcher.ts";
import {
  cancelSlurmJob,
  launchSlurmEngines,
  slurmBatchScript,
  slurmControllerScript,
  submitSlurmJob,
} from "../../src/cluster/slurm_launcher.ts";

const MAIN = decodeURIComponent(new URL(IPP_MAIN).pathname);

/** Assert that `p` rejects with an `IppError` whose message matches `pattern`. */
async function assertRejectsIpp(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (e) => e instanceof IppError && pattern.test(e.message));
}

/**
 * A folder holding fake `sbatch` and `scancel`: each appends its arguments, one line per
 * call, to `<dir>/<name>.log`; sbatch also copies the script it got and prints `sbatchOut`
 * (exit status `sbatchStatus`).
 */
async function fakeSlurm(
  { sbatchOut = "4242;cluster1", sbatchStatus = 0 } = {},
): Promise<{ dir: string; env: Record<string, string>; log(name: string): string[] }> {
  const dir = await Deno.makeTempDir({ prefix: "ipp-fake-slurm-" });
  const sbatch = [
    "#!/bin/sh",
    `echo "$*" >> '${dir}/sbatch.log'`,
    `for a; do last=$a; done; cp "$last" '${dir}/submitted.sbatch'`,
    `[ ${sbatchStatus} -eq 0 ] || { echo "sbatch: error: invalid partition" >&2; exit ${sbatchStatus}; }`,
    `echo '${sbatchOut}'`,
  ].join("\n");
  const scancel = `#!/bin/sh\necho "$*" >> '${dir}/scancel.log'\n`;
  await Deno.writeTextFile(join(dir, "sbatch"), sbatch, { mode: 0o755 });
  await Deno.writeTextFile(join(dir, "scancel"), scancel, { mode: 0o755 });
  return {
    dir,
    env: { PATH: `${dir}:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}` },
    log(name: string): string[] {
      try {
        return Deno.readTextFileSync(join(dir, `${name}.log`)).split("\n").filter((l) => l);
      } catch {
        return [];
      }
    },
  };
}

Deno.test("slurmBatchScript writes ntasks, job name, output and an srun of the engines", () => {
  const script = slurmBatchScript({
    n: 4,
    engineFile: "/shared/profile/security/ipcontroller-abc-engine.json",
    deno: "/usr/bin/deno",
    ippMain: "/srv/ipp/src/cli/main.ts",
  });
  assert.equal(
    script,
    [
      "#!/bin/sh",
      "#SBATCH --job-name=ipp-engine",
      "#SBATCH --ntasks=4",
      "#SBATCH --output=ipp-engine-%j.out",
      "srun /usr/bin/deno run -A --quiet /srv/ipp/src/cli/main.ts engine " +
      "--file=/shared/profile/security/ipcontroller-abc-engine.json",
      "",
    ].join("\n"),
  );
});

Deno.test("slurmBatchScript adds partition, time, account and extra directives, and quotes", () => {
  const script = slurmBatchScript({
    n: 2,
    engineFile: "/my files/engine.json",
    engineArgs: ["--log-level=DEBUG", "--work-dir=/it's here"],
    jobName: "ipp engines",
    output: "/logs/%x-%j.out",
    partition: "debug",
    time: "1:30:00",
    account: "proj42",
    directives: ["--qos=low", "--mem-per-cpu=1G"],
    deno: "/opt/deno",
    ippMain: "/srv/ipp/src/cli/main.ts",
  });
  assert.equal(
    script,
    [
      "#!/bin/sh",
      '#SBATCH --job-name="ipp engines"',
      "#SBATCH --ntasks=2",
      "#SBATCH --output=/logs/%x-%j.out",
      "#SBATCH --partition=debug",
      "#SBATCH --time=1:30:00",
      "#SBATCH --account=proj42",
      "#SBATCH --qos=low",
      "#SBATCH --mem-per-cpu=1G",
      "srun /opt/deno run -A --quiet /srv/ipp/src/cli/main.ts engine " +
      "'--file=/my files/engine.json' --log-level=DEBUG '--work-dir=/it'\\''s here'",
      "",
    ].join("\n"),
  );
});

Deno.test("slurmBatchScript defaults to this deno and this main.ts, and refuses bad settings", () => {
  const last = slurmBatchScript({ n: 1, engineFile: "/e.json" }).trimEnd().split("\n").at(-1);
  assert.equal(last, `srun ${Deno.execPath()} run -A --quiet ${MAIN} engine --file=/e.json`);
  assert.throws(
    () => slurmBatchScript({ n: 0, engineFile: "/e.json" }),
    (e) => e instanceof IppError && /positive whole number/.test(e.message),
  );
  assert.throws(
    () => slurmBatchScript({ n: 1, engineFile: "/e.json", partition: "a\nrm -rf /" }),
    (e) => e instanceof IppError && /partition must be on one line/.test(e.message),
  );
  assert.throws(
    () => slurmBatchScript({ n: 1, engineFile: "/e.json", directives: ["--qos=x\nreboot"] }),
    (e) => e instanceof IppError && /one line/.test(e.message),
  );
});

Deno.test("launchSlurmEngines writes the script, submits it with sbatch --parsable, and stop() scancels once", async () => {
  const fake = await fakeSlurm();
  const dir = await Deno.makeTempDir({ prefix: "ipp-slurm-" });
  try {
    const job = await launchSlurmEngines({
      n: 3,
      engineFile: "/shared/engine.json",
      dir,
      partition: "debug",
      deno: "/usr/bin/deno",
      ippMain: "/srv/main.ts",
      env: fake.env,
    });
    assert.equal(job.jobId, "4242", "the cluster name after ';' is dropped");
    assert.equal(job.scriptPath, join(dir, "ipp-engine.sbatch"));
    const expected = [
      "#!/bin/sh",
      "#SBATCH --job-name=ipp-engine",
      "#SBATCH --ntasks=3",
      `#SBATCH --output=${dir}/ipp-engine-%j.out`,
      "#SBATCH --partition=debug",
      "srun /usr/bin/deno run -A --quiet /srv/main.ts engine --file=/shared/engine.json",
      "",
    ].join("\n");
    assert.equal(await Deno.readTextFile(job.scriptPath), expected);
    assert.equal(await Deno.readTextFile(join(fake.dir, "submitted.sbatch")), expected);
    assert.deepEqual(fake.log("sbatch"), [`--parsable ${job.scriptPath}`]);
    assert.deepEqual(fake.log("scancel"), []);

    await Promise.all([job.stop(), job.stop()]);
    await job[Symbol.asyncDispose]();
    assert.deepEqual(fake.log("scancel"), ["4242"], "scancel runs once, with the job id");
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(fake.dir, { recursive: true });
  }
});

Deno.test("submitSlurmJob accepts a plain job id and cancelSlurmJob passes it to scancel", async () => {
  const fake = await fakeSlurm({ sbatchOut: "977" });
  try {
    const script = join(fake.dir, "job.sbatch");
    await Deno.writeTextFile(script, "#!/bin/sh\n");
    // Explicit programs, no PATH change.
    const commands = { sbatch: join(fake.dir, "sbatch"), scancel: join(fake.dir, "scancel") };
    assert.equal(await submitSlurmJob(script, commands), "977");
    await cancelSlurmJob("977", commands);
    assert.deepEqual(fake.log("sbatch"), [`--parsable ${script}`]);
    assert.deepEqual(fake.log("scancel"), ["977"]);
  } finally {
    await Deno.remove(fake.dir, { recursive: true });
  }
});

Deno.test("submitSlurmJob rejects with IppError when sbatch fails, prints no id, or is missing", async () => {
  const failing = await fakeSlurm({ sbatchStatus: 1 });
  const garbled = await fakeSlurm({ sbatchOut: "Submitted batch job" });
  try {
    const script = join(failing.dir, "job.sbatch");
    await Deno.writeTextFile(script, "#!/bin/sh\n");
    await assertRejectsIpp(
      submitSlurmJob(script, { env: failing.env }),
      /exited with status 1: sbatch: error: invalid partition/,
    );
    await assertRejectsIpp(submitSlurmJob(script, { env: garbled.env }), /printed no job id/);
    await assertRejectsIpp(
      submitSlurmJob(script, { sbatch: join(failing.dir, "no-such-sbatch") }),
      /not found/,
    );
  } finally {
    await Deno.remove(failing.dir, { recursive: true });
    await Deno.remove(garbled.dir, { recursive: true });
  }
});

Deno.test("slurmControllerScript runs one ipp controller task with exec", () => {
  const script = slurmControllerScript({
    profileDir: "/shared/profile",
    clusterId: "abc",
    controllerArgs: ["--ip=10.0.0.1"],
    partition: "debug",
    deno: "/usr/bin/deno",
    denoArgs: ["--v8-flags=--max-old-space-size=512"],
    ippMain: "/srv/ipp/src/cli/main.ts",
  });
  assert.equal(
    script,
    [
      "#!/bin/sh",
      "#SBATCH --job-name=ipp-controller",
      "#SBATCH --ntasks=1",
      "#SBATCH --output=ipp-controller-%j.out",
      "#SBATCH --partition=debug",
      "exec /usr/bin/deno run -A --quiet --v8-flags=--max-old-space-size=512 " +
      "/srv/ipp/src/cli/main.ts controller --profile-dir=/shared/profile --cluster-id=abc " +
      "--ip=10.0.0.1",
      "",
    ].join("\n"),
  );
});
