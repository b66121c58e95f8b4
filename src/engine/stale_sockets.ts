/**
 * Removing the Unix sockets of the direct path (`directIpcPath`) that killed engines left behind.
 * An engine that closes removes its own; one that is killed cannot, and its name
 * (`ipp-direct-<pid>-<uuid>.sock`) would stay in the temporary directory. Each engine that binds
 * one looks at the others once:
 *
 * - on Linux, a socket is stale when its process is gone, or when the process of that pid started
 *   after the socket was made (the pid was used again), as `/proc` tells; no connection is made;
 * - elsewhere (macOS, the BSDs), when connecting to it is refused: nothing listens there.
 *
 * A file it may not remove (another user's) stays. A sweep that cannot look (no permission to
 * read the directory or `/proc`) removes nothing.
 *
 * @module
 */

import { DIRECT_IPC_NAME } from "../protocol/messages/direct.ts";
import { granted } from "../permissions.ts";
import type { Logger } from "./log.ts";

/** Slack between a socket's time and its process's start, for clocks read two ways. */
const START_SLACK_MS = 10_000;

/**
 * Removes the stale sockets in `dir` (module doc).
 * @param dir The directory engines make their sockets in.
 * @param log Where removals are noted (debug).
 * @returns How many were removed.
 */
export async function sweepStaleSockets(dir: string, log: Logger): Promise<number> {
  if (Deno.build.os === "windows" || !granted({ name: "read", path: dir })) return 0;
  const linux = Deno.build.os === "linux";
  if (linux && !granted({ name: "read", path: "/proc" })) return 0;
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(dir)];
  } catch {
    return 0; // the directory cannot be listed: nothing is swept
  }
  let removed = 0;
  for (const { name } of entries) {
    const pid = DIRECT_IPC_NAME.exec(name)?.[1];
    if (pid === undefined || Number(pid) === Deno.pid) continue;
    const path = `${dir}/${name}`;
    const stale = linux ? ownerGone(path, Number(pid)) : await refuses(path);
    if (!stale) continue;
    try {
      Deno.removeSync(path);
      removed++;
      log.debug(`direct path: removed ${name} (its engine is gone)`);
    } catch {
      // Another user's, or removed meanwhile.
    }
  }
  return removed;
}

/**
 * Linux: whether the process that made the socket at `path` is gone: no process has its pid, or
 * the one that has it started after the socket was last changed.
 * @param path The socket.
 * @param pid The pid in its name.
 * @returns `false` when unsure.
 */
export function ownerGone(path: string, pid: number): boolean {
  let made: number;
  try {
    made = Deno.statSync(path).mtime?.getTime() ?? NaN;
  } catch {
    return false; // removed meanwhile
  }
  const started = processStart(pid);
  if (started === null) return true;
  return started !== undefined && !Number.isNaN(made) && started > made + START_SLACK_MS;
}

/**
 * When a process started, from `/proc` (its start in clock ticks after boot, and the boot time).
 * @returns Milliseconds since the epoch, null when there is no such process, undefined when
 *   `/proc` cannot say.
 */
function processStart(pid: number): number | null | undefined {
  let stat: string;
  try {
    stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch (e) {
    return e instanceof Deno.errors.NotFound ? null : undefined;
  }
  // Fields after the command name (which may hold spaces): state is field 3, starttime 22.
  const ticks = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]);
  const boot = bootTime();
  if (!Number.isFinite(ticks) || boot === undefined) return undefined;
  // Clock ticks are USER_HZ, 100 per second on every Linux this runs on.
  return boot + ticks * 10;
}

let boot: number | undefined;
function bootTime(): number | undefined {
  if (boot !== undefined) return boot;
  try {
    const line = /^btime (\d+)$/m.exec(Deno.readTextFileSync("/proc/stat"));
    if (line !== null) boot = Number(line[1]) * 1000;
  } catch {
    // unreadable: unsure
  }
  return boot;
}

/**
 * Whether connecting to the Unix socket at `path` is refused (nothing listens there). A
 * connection that is made is closed at once, before any greeting, which a listening engine
 * takes silently.
 * @param path The socket.
 * @returns `false` when it is no socket, or when unsure.
 */
export async function refuses(path: string): Promise<boolean> {
  try {
    if (!Deno.statSync(path).isSocket) return false;
    (await Deno.connect({ transport: "unix", path })).close();
    return false;
  } catch (e) {
    return e instanceof Deno.errors.ConnectionRefused;
  }
}
