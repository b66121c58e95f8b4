/**
 * Test steps with a deadline: a step whose awaited reply never comes fails with its name
 * instead of hanging the whole run (a lost request once hung CI for eight minutes). The
 * step's pending work is left behind; the test's `await using` clean-up closes the client and
 * cluster, which rejects it.
 *
 * @module
 */

/** Default limit of one step: far above any step's run time, even on a loaded CI machine. */
export const STEP_LIMIT_MS = 90_000;

/**
 * Runs a step of `t`, failing it if it has not finished within `limitMs`. Takes the same
 * arguments as `t.step` (a name and a function, or a step definition), after `t`.
 *
 * @param t The test context.
 * @param nameOrStep The step's name, or its definition (`name`, `fn`, `ignore`, …).
 * @param fn The step, with a name.
 * @param limitMs Its deadline (default {@link STEP_LIMIT_MS}).
 * @returns Whether the step passed, as `t.step` returns.
 */
export function step(
  t: Deno.TestContext,
  nameOrStep: string | Deno.TestStepDefinition,
  fn?: (t: Deno.TestContext) => void | Promise<void>,
  limitMs = STEP_LIMIT_MS,
): Promise<boolean> {
  const def = typeof nameOrStep === "string" ? { name: nameOrStep, fn: fn! } : nameOrStep;
  const name = def.name;
  const body = def.fn;
  return t.step({
    ...def,
    fn: async (st) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(new Error(`step "${name}" did not finish within ${limitMs} ms (a lost reply?)`)),
          limitMs,
        );
      });
      try {
        await Promise.race([Promise.resolve().then(() => body(st)), late]);
      } finally {
        clearTimeout(timer);
      }
    },
  });
}
