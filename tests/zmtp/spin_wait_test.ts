/**
 * When a reader polls (`src/zmtp/spin_wait.ts`): it starts polling, stops after misses, starts
 * again after a sleep that ended within the budget or a probe that hit, probes ever more rarely
 * while probes miss, and a budget of 0 never polls; the budget comes from `IPP_SPIN_US`
 * (clamped, a bad value ignored), 1 ms by default, 0 with one CPU.
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

/** How many waits go by until `spin` polls again (a probe), counting the polled one. */
function waitsToProbe(spin: SpinWait): number {
  for (let n = 1; n <= 1000; n++) if (spin.poll()) return n;
  throw new Error("no probe in 1000 waits");
}

Deno.test("spin wait: a reader that stopped still probes, ever more rarely while probes miss", () => {
  const spin = new SpinWait(1000);
  assert.ok(spin.poll() && spin.poll(), "a polling reader polls every wait");
  spin.polled(false);
  spin.polled(false);
  assert.ok(!spin.polling, "spent");
  assert.equal(waitsToProbe(spin), 2, "the first probe comes on the second wait");
  spin.polled(false);
  assert.equal(waitsToProbe(spin), 4, "a missed probe doubles the gap");
  spin.polled(false);
  assert.equal(waitsToProbe(spin), 8);
  for (let i = 0; i < 10; i++) spin.polled(false);
  assert.equal(waitsToProbe(spin), 64, "the gap stops at 64 waits");
  spin.polled(false);
  assert.equal(waitsToProbe(spin), 64);
  spin.polled(true);
  assert.ok(spin.polling, "a probe that hit starts polling again");
  assert.ok(spin.poll() && spin.poll());
  spin.polled(false);
  assert.equal(waitsToProbe(spin), 2, "and the next stop probes soon again");
});

Deno.test("spin wait: a budget of 0 never polls", () => {
  const spin = new SpinWait(0);
  spin.slept(0);
  spin.polled(true);
  assert.ok(!spin.polling);
  for (let i = 0; i < 100; i++) assert.ok(!spin.poll(), "nor probes");
});

Deno.test({
  name: "spin wait: the budget from IPP_SPIN_US, 1 ms unless set, 0 with one CPU",
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
