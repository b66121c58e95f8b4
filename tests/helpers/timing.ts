/**
 * Time-bounded waits shared by tests.
 *
 * @module
 */

/**
 * `p`'s value, or `"timeout"` when it does not settle within `ms`.
 * @param p The promise.
 * @param ms Milliseconds to wait.
 * @returns Its value, or `"timeout"`.
 */
export function within<T>(p: Promise<T>, ms: number): Promise<T | "timeout"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    p,
    new Promise<"timeout">((r) => timer = setTimeout(() => r("timeout"), ms)),
  ]).finally(() => clearTimeout(timer));
}
