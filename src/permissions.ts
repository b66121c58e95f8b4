/**
 * Permission checks that never prompt, shared by every layer (an unasked-for read, env lookup
 * or FFI call would prompt on a terminal).
 *
 * @module
 */

/**
 * Whether a permission is granted, asked without prompting.
 * @param d The permission.
 * @returns Whether it is granted (`false` where permissions cannot be queried).
 *
 * @example
 * ```ts
 * import { granted } from "./permissions.ts";
 * if (granted({ name: "env", variable: "TMPDIR" })) console.log(Deno.env.get("TMPDIR"));
 * ```
 */
export function granted(d: Deno.PermissionDescriptor): boolean {
  try {
    return Deno.permissions.querySync(d).state === "granted";
  } catch {
    return false;
  }
}

/**
 * An environment variable's value, read only where the env permission is granted (never prompts).
 * @param variable Its name.
 * @returns The value, or `undefined` when unset or not readable.
 *
 * @example
 * ```ts
 * import { envValue } from "./permissions.ts";
 * if (envValue("IPP_PREFAULT") === "0") console.log("off");
 * ```
 */
export function envValue(variable: string): string | undefined {
  return granted({ name: "env", variable }) ? Deno.env.get(variable) : undefined;
}

/**
 * Why a Linux-only path through libc by FFI, turned off by `variable=0`, cannot run here; `null`
 * when it may. Never prompts.
 * @param variable The switch's environment variable.
 * @returns `not Linux`, `no FFI here`, `<variable>=0`, `no FFI permission`, or `null`.
 *
 * @example
 * ```ts
 * import { linuxFfiBlocker } from "./permissions.ts";
 * console.log(linuxFfiBlocker("IPP_PREFAULT")); // "no FFI permission" without --allow-ffi
 * ```
 */
export function linuxFfiBlocker(variable: string): string | null {
  if (Deno.build.os !== "linux") return "not Linux";
  if (typeof Deno.dlopen !== "function") return "no FFI here";
  if (envValue(variable) === "0") return `${variable}=0`;
  if (!granted({ name: "ffi" })) return "no FFI permission";
  return null;
}
