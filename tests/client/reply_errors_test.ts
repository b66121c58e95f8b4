import assert from "node:assert/strict";
import {
  EngineError,
  ImpossibleDependency,
  InvalidDependency,
  RemoteError,
  TaskTimeout,
} from "../../src/errors.ts";
import { replyErrorOf } from "../../src/client/reply_errors.ts";

const schedulerError = (ename: string) => ({
  status: "error",
  ename,
  evalue: "",
  traceback: [`${ename}\n`],
  engine_info: {},
});

Deno.test("scheduler failures get their own error classes with the RemoteError as cause", () => {
  const cases = [
    ["ImpossibleDependency", ImpossibleDependency],
    ["InvalidDependency", InvalidDependency],
    ["TaskTimeout", TaskTimeout],
    ["EngineError", EngineError],
  ] as const;
  for (const [ename, cls] of cases) {
    const e = replyErrorOf(schedulerError(ename));
    assert.ok(e instanceof cls, `${ename} → ${e.constructor.name}`);
    assert.ok(e.cause instanceof RemoteError);
    assert.equal((e.cause as RemoteError).ename, ename);
  }
  // InvalidDependency is a kind of ImpossibleDependency, as in ipyparallel.
  assert.ok(replyErrorOf(schedulerError("InvalidDependency")) instanceof ImpossibleDependency);
});

Deno.test("an engine's error (engine_info set) stays a RemoteError, whatever its name", () => {
  const e = replyErrorOf({
    ...schedulerError("ImpossibleDependency"),
    engine_info: { engine_uuid: "u", engine_id: 0, method: "apply" },
  });
  assert.ok(e instanceof RemoteError);
  assert.ok(!(e instanceof ImpossibleDependency));
});
