import assert from "node:assert/strict";
import { MalformedDependency } from "../../src/errors.ts";
import {
  isMet,
  isMetOn,
  isUnreachable,
  MET,
  parseDependency,
  reduceDependency,
  spansEngines,
} from "../../src/controller/dependency.ts";

const S = (...xs: string[]) => new Set(xs);

Deno.test("parseDependency: null, a string, a list and the dict form", () => {
  assert.equal(parseDependency(null), MET);
  assert.equal(parseDependency([]), MET);
  assert.deepEqual(parseDependency("a").ids, S("a"));
  const list = parseDependency(["a", "b"]);
  assert.deepEqual([list.all, list.success, list.failure], [true, true, false]);
  const dict = parseDependency({ dependencies: ["a"], all: false, success: false, failure: true });
  assert.deepEqual([dict.all, dict.success, dict.failure], [false, false, true]);
});

Deno.test("parseDependency rejects non-string ids and success=failure=false", () => {
  assert.throws(() => parseDependency([1]), MalformedDependency);
  assert.throws(
    () => parseDependency({ dependencies: ["a"], success: false }),
  );
});

Deno.test("met and unreachable follow the definitions of §7.3", () => {
  const done = S("ok1", "ok2");
  const failed = S("bad");
  const all = parseDependency(["ok1", "bad"]);
  assert.equal(isMet(all, done, failed), false);
  assert.equal(isUnreachable(all, done, failed), true);
  const any = parseDependency({ dependencies: ["ok1", "bad"], all: false });
  assert.equal(isMet(any, done, failed), true);
  assert.equal(isUnreachable(any, done, failed), false);
  const anyFailed = parseDependency({ dependencies: ["bad", "pending"], all: false });
  assert.equal(isUnreachable(anyFailed, done, failed), false);
  const both = parseDependency({ dependencies: ["ok1", "bad"], success: true, failure: true });
  assert.equal(isMet(both, done, failed), true);
  const onlyFail = parseDependency({ dependencies: ["ok1"], success: false, failure: true });
  assert.equal(isUnreachable(onlyFail, done, failed), true);
  assert.equal(isMet(MET, done, failed), true);
  assert.equal(isUnreachable(MET, done, failed), false);
});

Deno.test("reduceDependency drops satisfied ids of an all-dependency and returns MET when done", () => {
  const d = reduceDependency(parseDependency(["a", "b"]), S("a"), S());
  assert.deepEqual(d.ids, S("b"));
  assert.equal(reduceDependency(parseDependency(["a"]), S("a"), S()), MET);
  const anyDep = parseDependency({ dependencies: ["a", "b"], all: false });
  assert.equal(reduceDependency(anyDep, S(), S()), anyDep);
});

Deno.test("isMetOn checks follow against the tasks that finished on that engine", () => {
  const dest = new Map([["a", "e0"], ["b", "e1"]]);
  const follow = parseDependency(["a"]);
  assert.equal(isMetOn(follow, "e0", S("a", "b"), S(), dest), true);
  assert.equal(isMetOn(follow, "e1", S("a", "b"), S(), dest), false);
  const anyOf = parseDependency({ dependencies: ["a", "b"], all: false });
  assert.equal(isMetOn(anyOf, "e1", S("a", "b"), S(), dest), true);
  assert.equal(isMetOn(MET, "e9", S(), S(), dest), true);
});

Deno.test("spansEngines: an all-follow on tasks from two engines can never be met", () => {
  const dest = new Map([["a", "e0"], ["b", "e1"], ["c", "e0"]]);
  assert.equal(spansEngines(parseDependency(["a", "b"]), S("a", "b"), S(), dest), true);
  assert.equal(spansEngines(parseDependency(["a", "c"]), S("a", "c"), S(), dest), false);
  assert.equal(spansEngines(parseDependency(["a", "b"]), S("a"), S("b"), dest), false);
  const anyOf = parseDependency({ dependencies: ["a", "b"], all: false });
  assert.equal(spansEngines(anyOf, S("a", "b"), S(), dest), false);
});
