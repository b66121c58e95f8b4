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
