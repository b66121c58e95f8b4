/**
 * In-place reset of the kernel worker's namespace (its global object), for the engine's
 * `clear_request` and interrupts, where replacing the worker is not an option (the worker
 * owns the engine's shell and IOPub connections).
 *
 * A {@linkcode Namespace} remembers every own property of `globalThis` when it is created
 * (after the runtime has defined its globals) and wraps the timer functions so it knows the
 * timers user code started. {@linkcode Namespace.reset} then deletes every global added
 * since, restores built-in globals user code replaced, and cancels those timers. What it
 * cannot undo: changes made inside built-in objects (`Array.prototype.x = …`), resources user
 * code opened (files, servers), and imported modules, which stay loaded with their state.
 *
 * @module
 */

type TimerId = ReturnType<typeof setTimeout>;

/** A snapshot of the global object and the timers user code started since. */
export class Namespace {
  readonly #baseline = new Map<PropertyKey, PropertyDescriptor>();
  readonly #timers = new Set<TimerId>();
  readonly #clearTimeout = globalThis.clearTimeout;
  readonly #clearInterval = globalThis.clearInterval;

  /**
   * Snapshot the global object now and start tracking timers.
   * @param isUserCode Whether the code calling a timer function right now is user code
   *   (only those timers are cancelled by a reset).
   */
  constructor(isUserCode: () => boolean) {
    const timers = this.#timers;
    const g = globalThis as unknown as Record<string, unknown>;
    const wrap = (name: "setTimeout" | "setInterval", once: boolean) => {
      const original = globalThis[name] as (...a: unknown[]) => TimerId;
      const wrapped = (callback: unknown, delay?: number, ...args: unknown[]) => {
        if (!isUserCode() || typeof callback !== "function") {
          return original(callback, delay, ...args);
        }
        const id: TimerId = original(
          (...a: unknown[]) => {
            if (once) timers.delete(id);
            return (callback as (...a: unknown[]) => unknown)(...a);
          },
          delay,
          ...args,
        );
        timers.add(id);
        return id;
      };
      Object.defineProperty(g, name, { value: wrapped, writable: true, configurable: true });
    };
    wrap("setTimeout", true);
    wrap("setInterval", false);
    for (const name of ["clearTimeout", "clearInterval"] as const) {
      const original = globalThis[name] as (id?: TimerId) => void;
      Object.defineProperty(g, name, {
        value: (id?: TimerId) => {
          if (id !== undefined) timers.delete(id);
          original(id);
        },
        writable: true,
        configurable: true,
      });
    }
    for (const key of Reflect.ownKeys(globalThis)) {
      this.#baseline.set(key, Object.getOwnPropertyDescriptor(globalThis, key)!);
    }
  }

  /** Delete the globals added since the snapshot, restore replaced ones, cancel user timers. */
  reset(): void {
    for (const id of this.#timers) {
      this.#clearTimeout(id);
      this.#clearInterval(id);
    }
    this.#timers.clear();
    for (const key of Reflect.ownKeys(globalThis)) {
      const was = this.#baseline.get(key);
      const now = Object.getOwnPropertyDescriptor(globalThis, key);
      if (now === undefined || !now.configurable) continue;
      if (was === undefined) {
        delete (globalThis as Record<PropertyKey, unknown>)[key];
      } else if (!sameDescriptor(was, now)) {
        Object.defineProperty(globalThis, key, was);
      }
    }
    for (const [key, was] of this.#baseline) {
      if (!Object.hasOwn(globalThis, key)) Object.defineProperty(globalThis, key, was);
    }
  }
}

function sameDescriptor(a: PropertyDescriptor, b: PropertyDescriptor): boolean {
  return a.value === b.value && a.get === b.get && a.set === b.set &&
    a.writable === b.writable && a.enumerable === b.enumerable;
}
