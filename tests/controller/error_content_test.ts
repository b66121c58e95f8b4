import assert from "node:assert/strict";
import { errorContent, errorContentFrom, pyRepr } from "../../src/controller/error_content.ts";
import { HubError, NoDataError } from "../../src/errors.ts";

Deno.test("pyRepr quotes like Python's repr", () => {
  assert.equal(pyRepr("abc"), "'abc'");
  assert.equal(pyRepr("it's"), `"it's"`);
  assert.equal(pyRepr(`both ' and "`), `'both \\' and "'`);
  assert.equal(pyRepr([99, "x", null, true]), "[99, 'x', None, True]");
  assert.equal(pyRepr("a\nb"), "'a\\nb'");
});

Deno.test("errorContent has the §6.4 shape with a format_exception-like traceback", () => {
  const c = errorContent("KeyError", "'No such message: x'", "get_results");
  assert.equal(c.status, "error");
  assert.deepEqual(c.engine_info, {});
  assert.equal(c.traceback[0], "Traceback (most recent call last):\n");
  assert.match(
    c.traceback[1],
    /^ {2}File ".*", line \d+, in get_results\n {4}raise KeyError\(\)\n$/,
  );
  assert.equal(c.traceback.at(-1), "KeyError: 'No such message: x'\n");
});

Deno.test("ipyparallel exceptions are qualified in the last traceback line", () => {
  assert.equal(errorContent("TaskTimeout", "").traceback.at(-1), "ipyparallel.error.TaskTimeout\n");
  assert.equal(
    errorContent("EngineError", "Engine 'u' died").traceback.at(-1),
    "ipyparallel.error.EngineError: Engine 'u' died\n",
  );
});

Deno.test("errorContentFrom keeps a HubError's Python name and maps others to RuntimeError", () => {
  assert.equal(
    errorContentFrom(new HubError("IndexError", "No Engines Registered")).ename,
    "IndexError",
  );
  assert.equal(errorContentFrom(new NoDataError()).ename, "NoData");
  const other = errorContentFrom(new TypeError("boom"));
  assert.deepEqual([other.ename, other.evalue], ["RuntimeError", "boom"]);
});
