import assert from "node:assert/strict";
import { ExecuteReply } from "../../src/client/execute_reply.ts";
import { appendStreamText, Metadata } from "../../src/client/metadata.ts";

Deno.test("Metadata has exactly the PROTOCOL.md §9.5 keys with empty defaults", () => {
  const md = new Metadata("m1");
  assert.deepEqual(Object.keys(md).sort(), [...Metadata.keys].sort());
  assert.equal(md.msgId, "m1");
  assert.equal(md.submitted, null);
  assert.equal(md.stdout, "");
  assert.deepEqual(md.outputs, []);
  assert.deepEqual(md.data, {});
  assert.equal(md.isBroadcast, false);
});

Deno.test("Metadata: setting an unknown key throws TypeError", () => {
  const md = new Metadata("m1");
  assert.throws(() => {
    (md as unknown as Record<string, unknown>).engine_uuid = "x";
  }, TypeError);
  assert.equal("engine_uuid" in md, false);
  md.engineUuid = "ok"; // known keys are writable
  assert.equal(md.engineUuid, "ok");
});

Deno.test("Metadata: keys cannot be deleted", () => {
  const md = new Metadata("m1");
  assert.throws(() => {
    delete (md as unknown as Record<string, unknown>).stdout;
  }, TypeError);
});

Deno.test("stream text: a carriage return erases back to the previous newline", () => {
  assert.equal(appendStreamText("", "a\rb"), "b");
  assert.equal(appendStreamText("line1\n", "50%\r100%\n"), "line1\n100%\n");
  assert.equal(appendStreamText("x\n10%\r", "20%"), "x\n20%");
  // a trailing \r waits: the next text decides
  assert.equal(appendStreamText("", "10%\r"), "10%\r");
  // \r\n is a line ending, not an erase
  assert.equal(appendStreamText("", "a\r\nb"), "a\r\nb");
  assert.equal(appendStreamText("plain ", "text"), "plain text");
});

Deno.test("Metadata.appendStream() routes stdout and stderr and ignores other names", () => {
  const md = new Metadata("m");
  md.appendStream("stdout", "o1\r");
  md.appendStream("stdout", "o2\n");
  md.appendStream("stderr", "e\n");
  md.appendStream("other", "x");
  assert.equal(md.stdout, "o2\n");
  assert.equal(md.stderr, "e\n");
});

function jupyterDisplay(value: object): unknown {
  return (value as Record<symbol, () => unknown>)[Symbol.for("Jupyter.display")]();
}

function executeReply(text: string | undefined, engineId: number | null = 3, count = 1) {
  const md = new Metadata("m1");
  md.engineId = engineId;
  if (text !== undefined) {
    md.executeResult = {
      data: { "text/plain": text, "text/html": `<b>${text}</b>` },
      metadata: {},
      execution_count: count,
    };
  }
  return new ExecuteReply("m1", { status: "ok", execution_count: count }, md);
}

Deno.test("ExecuteReply reads like Out[engine:count]: value", () => {
  const r = executeReply("42", 3, 1);
  assert.equal(String(r), "Out[3:1]: 42");
  assert.equal(r.executionCount, 1);
  assert.equal(r.text, "42");
  assert.equal(r.msgId, "m1");
});

Deno.test("ExecuteReply puts a multi-line value on its own line", () => {
  assert.equal(String(executeReply("a\nb", 0, 2)), "Out[0:2]: \na\nb");
});

Deno.test("ExecuteReply without a value is empty text and an empty bundle", () => {
  const r = executeReply(undefined);
  assert.equal(String(r), "");
  assert.deepEqual(r.data, {});
  assert.deepEqual(jupyterDisplay(r), {});
});

Deno.test("ExecuteReply's Jupyter display is the mime bundle with the Out line as text", () => {
  const bundle = jupyterDisplay(executeReply("42"));
  assert.deepEqual(bundle, { "text/plain": "Out[3:1]: 42", "text/html": "<b>42</b>" });
});

Deno.test("ExecuteReply inspects as <ExecuteReply[n]: text>, cut at 32 characters", () => {
  assert.equal(Deno.inspect(executeReply("42")), "<ExecuteReply[1]: 42>");
  const long = "x".repeat(40);
  assert.equal(Deno.inspect(executeReply(long)), `<ExecuteReply[1]: ${"x".repeat(29)}...>`);
});

Deno.test("ExecuteReply.mimeBundle() equals its Jupyter display", () => {
  const r = executeReply("7");
  assert.deepEqual(r.mimeBundle(), jupyterDisplay(r));
});

Deno.test("ExecuteReply of an unknown engine shows a blank id", () => {
  assert.equal(String(executeReply("1", null)), "Out[ :1]: 1");
});
