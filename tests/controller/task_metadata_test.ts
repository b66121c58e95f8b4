import assert from "node:assert/strict";
import { MET } from "../../src/controller/dependency.ts";
import { parseTaskMetadata } from "../../src/controller/task_metadata.ts";

Deno.test("parseTaskMetadata applies the defaults of §7.1 to {} and null", () => {
  for (const md of [{}, null, undefined]) {
    assert.deepEqual(parseTaskMetadata(md), {
      after: MET,
      follow: MET,
      targets: null,
      retries: 0,
      timeoutMs: 0,
    });
  }
});

Deno.test("parseTaskMetadata reads the client's full metadata", () => {
  const md = parseTaskMetadata({
    after: { dependencies: ["a"], all: true, success: true, failure: false },
    follow: ["b"],
    timeout: 1.5,
    targets: ["e0", "e1"],
    retries: 2,
    extra: "ignored",
  });
  assert.deepEqual([...md.after.ids], ["a"]);
  assert.deepEqual([...md.follow.ids], ["b"]);
  assert.equal(md.timeoutMs, 1500);
  assert.deepEqual([...md.targets!], ["e0", "e1"]);
  assert.equal(md.retries, 2);
});

Deno.test("parseTaskMetadata: timeout 0 or null means none; numeric strings are numbers", () => {
  assert.equal(parseTaskMetadata({ timeout: 0 }).timeoutMs, 0);
  assert.equal(parseTaskMetadata({ timeout: null }).timeoutMs, 0);
  assert.equal(parseTaskMetadata({ timeout: "0.25" }).timeoutMs, 250);
  assert.equal(parseTaskMetadata({ retries: "3" as unknown as number }).retries, 3);
  assert.equal(parseTaskMetadata({ retries: -1 }).retries, 0);
});

Deno.test("parseTaskMetadata rejects targets that are not a list of uuids", () => {
  assert.throws(
    () => parseTaskMetadata({ targets: "e0" as unknown as string[] }),
  );
  assert.throws(
    () => parseTaskMetadata({ targets: [0] as unknown as string[] }),
  );
});
