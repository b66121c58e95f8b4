/**
 * When a reader polls (`src/zmtp/spin_wait.ts`): it starts polling, stops after misses, starts
 * again after a sleep that ended within the budget, and a budget of 0 never polls; the budget
 * comes from `IPP_SPIN_US` (clamped, a bad value ignored), 200 µs by default, 0 with one CPU.
 */

import assert from "node:assert/strict";
import { DEFAULT_SPIN_MICROS, spinBudgetMicros, SpinWait } from "../../src/zmtp/spin_wait.ts";
import { runScriptJson } from "./helpers.ts";

Deno.test("spin wait: polls until misses outweigh hits, and again after a quick sleep", () => {
  const spin = new SpinWait(200);
  assert.equal(spin.budgetMs, 0.2);
  assert.ok(spin.polling, "a new reader polls");
  spin.polled(false);
  assert.ok(spin.polling, "one miss is not enough");
  spin.polled(false);
  assert.ok(!spin.polling, "two misses in a row stop it");
  spin.slept(0.5);
  assert.ok(!spin.polling, "a sleep longer than the budget says nothing");
  spin.slept(0.15);
  assert.ok(spin.polling, "a sleep within the budget would have been caught");
  for (let i = 0; i < 20; i++) spin.polled(true);
  // The score is capped: four misses in a row stop even a reader that always hit.
  for (let i = 0; i < 3; i++) spin.polled(false);
  assert.ok(spin.polling, "three misses after many hits");
  spin.polled(false);
  assert.ok(!spin.polling, "the fourth stops it");
});

Deno.test("spin wait: a budget of 0 never polls", () => {
  const spin = new SpinWait(0);
  spin.slept(0);
  spin.polled(true);
  assert.ok(!spin.polling);
});

Deno.test({
  name: "spin wait: the budget from IPP_SPIN_US, 200 µs unless set, 0 with one CPU",
  async fn() {
    const url = new URL("../../src/zmtp/spin_wait.ts", import.meta.url).href;
    const source = `import { spinBudgetMicros } from ${JSON.stringify(url)};\n` +
      `console.log(spinBudgetMicros());\n`;
    const run = (env: Record<string, string>) =>
      runScriptJson<number>(source, ["--quiet", "--allow-env"], env);
    if (navigator.hardwareConcurrency < 2) {
      assert.equal(spinBudgetMicros(), 0, "one CPU: no polling");
      return;
    }
    assert.equal(await run({}), DEFAULT_SPIN_MICROS);
    assert.equal(await run({ IPP_SPIN_US: "50" }), 50);
    assert.equal(await run({ IPP_SPIN_US: "0" }), 0);
    assert.equal(await run({ IPP_SPIN_US: "lots" }), DEFAULT_SPIN_MICROS, "a bad value");
    assert.equal(await run({ IPP_SPIN_US: "-5" }), DEFAULT_SPIN_MICROS, "a negative one");
    assert.equal(await run({ IPP_SPIN_US: "999999" }), 10_000, "clamped");
  },
});
