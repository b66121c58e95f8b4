/**
 * `--help` at every level of the `ipp` command: exit status 0, a usage line and examples, on
 * stdout; an unknown command or flag gets the help on stderr and status 2.
 */

import assert from "node:assert/strict";
import { ipp } from "../helpers/ipp_cli.ts";

const LEVELS: [string[], RegExp][] = [
  [["--help"], /ipp cluster start -n 4 --daemonize/],
  [["-h"], /ipp controller --ip=127\.0\.0\.1/],
  [["cluster", "--help"], /ipp cluster stop/],
  [["cluster", "start", "--help"], /ipp cluster start -n 4 {2,}# foreground/],
  [["cluster", "stop", "--help"], /ipp cluster stop --cluster-id=work/],
  [["controller", "--help"], /ipp controller --cluster-id=demo/],
  [["engine", "--help"], /ipp engine --cluster-id mycluster/],
  [["console", "--help"], /ipp cluster start -n 2 --daemonize && ipp console/],
];

for (const [args, example] of LEVELS) {
  Deno.test(`ipp ${args.join(" ")} prints usage and examples and exits 0`, async () => {
    const { code, stdout, stderr } = await ipp(args);
    assert.equal(code, 0, stderr);
    assert.match(stdout, /^Usage:$/m);
    assert.match(stdout, /^Examples:$/m);
    assert.match(stdout, example);
  });
}

Deno.test("ipp with an unknown command or flag prints the help on stderr and exits 2", async () => {
  const unknown = await ipp(["frobnicate"]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown command "frobnicate"/);
  assert.match(unknown.stderr, /^Examples:$/m);
  const flag = await ipp(["cluster", "start", "--frob"]);
  assert.equal(flag.code, 2);
  assert.match(flag.stderr, /unknown flag "--frob"/);
  const bare = await ipp([]);
  assert.equal(bare.code, 2, "no command is a usage error");
  assert.match(bare.stdout, /^Commands:$/m);
});
