/** The deadline of {@link step}: a step that never finishes fails with its name. */

import assert from "node:assert/strict";
import { step } from "./steps.ts";

/** A context whose `step` runs the definition and reports its error instead of failing. */
function recorder(): { t: Deno.TestContext; errors: Error[] } {
  const errors: Error[] = [];
  const t = {
    step: (def: Deno.TestStepDefinition) =>
      Promise.resolve(def.fn(t)).then(() => true, (e: Error) => {
        errors.push(e);
        return false;
      }),
  } as unknown as Deno.TestContext;
  return { t, errors };
}

Deno.test("step: a step that never finishes fails after its limit, naming it", async () => {
  const { t, errors } = recorder();
  const t0 = Date.now();
  assert.equal(await step(t, "waits forever", () => new Promise<void>(() => {}), 100), false);
  assert.ok(Date.now() - t0 >= 90);
  assert.match(errors[0].message, /step "waits forever" did not finish within 100 ms/);
});

Deno.test("step: a step in time passes; its error and definition fields pass through", async () => {
  const { t, errors } = recorder();
  assert.equal(await step(t, "quick", async () => {}, 1000), true);
  assert.equal(await step(t, { name: "def", fn: () => {} }), true);
  assert.equal(
    await step(t, "throws", () => {
      throw new Error("own error");
    }),
    false,
  );
  assert.equal(errors[0].message, "own error");
});
