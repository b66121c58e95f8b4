/**
 * The floor's role processes (`bench/floor.ts` starts this file with `--role=`): a controller that
 * only pipes or forwards bytes, and engines that only answer. Each prints its TCP port once it
 * listens (and its Unix socket, when asked for one, exists).
 *
 * @module
 */

import {
  accept,
  connect,
  forward,
  mapShm,
  message,
  pipe,
  PULL,
  PUSH,
  Reader,
  SHM_PULL,
  SHM_PUSH,
  touch,
  WARM,
  writeAll,
  Writer,
  writeShm,
} from "./wire.ts";

/** The controller's role: client shell ↔ engine shell, engine IOPub → client IOPub. */
async function relay(l: Deno.TcpListener): Promise<void> {
  const c = await accept(l, ["S", "I", "s", "i"]);
  await Promise.all([
    pipe(c.get("S")!, c.get("s")!),
    pipe(c.get("s")!, c.get("S")!),
    pipe(c.get("i")!, c.get("I")!),
  ]);
}

/** The engine's role: answers each request; a one-byte request `P` asks for the bulk message. */
async function engine(shell: Deno.Conn, iopub: Deno.Conn, bytes: number): Promise<void> {
  const busy = message(450);
  const reply = message(600);
  const idle = message(450);
  const ack = message(8);
  const bulk = message(bytes);
  const reader = new Reader(shell);
  let warm: Uint8Array | undefined;
  for (;;) {
    const req = await reader.next(warm).catch(() => null);
    if (req === null) return;
    if (req[0] === PULL) await writeAll(shell, bulk);
    else if (req[0] === WARM) {
      warm = new Uint8Array(bytes).fill(3);
      await writeAll(shell, ack);
    } else if (req[0] === PUSH) await writeAll(shell, ack);
    else if (req[0] === SHM_PUSH) {
      const got = mapShm(new TextDecoder().decode(req.subarray(1)), bytes);
      touch(got.view);
      await writeAll(shell, ack);
      got.unmap();
    } else if (req[0] === SHM_PULL) {
      const path = new TextEncoder().encode(writeShm(bulk.subarray(4)));
      const m = message(1 + path.length, SHM_PULL);
      m.set(path, 5);
      await writeAll(shell, m);
    } else {
      await writeAll(iopub, busy);
      await writeAll(shell, reply);
      await writeAll(iopub, idle);
    }
  }
}

/**
 * The controller's role for load balancing: requests from the client's task connection are
 * dealt to the two engines in turn; replies and IOPub messages go back to the client.
 */
async function lbRelay(l: Deno.TcpListener): Promise<void> {
  const c = await accept(l, ["T", "J", "a", "A", "b", "B"]);
  const replies = new Writer(c.get("T")!);
  const iopub = new Writer(c.get("J")!);
  const engines = [new Writer(c.get("a")!), new Writer(c.get("b")!)];
  let next = 0;
  await Promise.all([
    forward(c.get("T")!, (m) => {
      engines[next].push(m);
      next ^= 1;
    }),
    forward(c.get("a")!, (m) => replies.push(m)),
    forward(c.get("b")!, (m) => replies.push(m)),
    forward(c.get("A")!, (m) => iopub.push(m)),
    forward(c.get("B")!, (m) => iopub.push(m)),
  ]);
}

/** A load-balanced engine: `busy`, reply and `idle` for each request, queued as it answers. */
async function lbEngine(shell: Deno.Conn, iopub: Deno.Conn): Promise<void> {
  const busy = message(450).subarray(4);
  const reply = message(600).subarray(4);
  const idle = message(450).subarray(4);
  const shellOut = new Writer(shell);
  const iopubOut = new Writer(iopub);
  await forward(shell, () => {
    iopubOut.push(busy);
    shellOut.push(reply);
    iopubOut.push(idle);
  });
}

/**
 * Runs one role: listens, prints the port, then serves. The engine role answers through the relay
 * at `relayPort`, straight over TCP and over the Unix socket `ipc`.
 */
async function child(
  role: string,
  relayPort: number,
  bytes: number,
  hello?: string,
  ipc?: string,
): Promise<void> {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  // The Unix socket exists before the port is printed: the parent connects once it reads it.
  const ul = ipc === undefined ? undefined : Deno.listen({ transport: "unix", path: ipc });
  console.log((l.addr as Deno.NetAddr).port);
  if (role === "relay") return await relay(l);
  if (role === "lbrelay") return await lbRelay(l);
  if (role === "bulkengine") {
    // Scatter/gather's engines: a Unix socket only.
    const u = await accept(ul!, ["S", "I"]);
    return await engine(u.get("S")!, u.get("I")!, bytes);
  }
  if (role === "lbengine") {
    const h = hello ?? "aA";
    return await lbEngine(await connect(relayPort, h[0]), await connect(relayPort, h[1]));
  }
  const shell = await connect(relayPort, "s");
  const iopub = await connect(relayPort, "i");
  const direct = accept(l, ["S", "I"]);
  const overIpc = ul === undefined ? undefined : accept(ul, ["S", "I"]);
  const done = engine(shell, iopub, bytes);
  const d = await direct;
  const served = [done, engine(d.get("S")!, d.get("I")!, bytes)];
  const u = await overIpc;
  if (u !== undefined) served.push(engine(u.get("S")!, u.get("I")!, bytes));
  await Promise.all(served);
}

if (import.meta.main) {
  const arg = (k: string) => Deno.args.find((a) => a.startsWith(`--${k}=`))?.split("=")[1];
  const role = arg("role");
  if (role === undefined) throw new Error("floor: start bench/floor.ts; this file runs its roles");
  await child(role, Number(arg("relay") ?? 0), Number(arg("bytes") ?? 0), arg("hello"), arg("ipc"));
}
