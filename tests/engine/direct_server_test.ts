/**
 * The engine's end of the direct path (`src/engine/direct.ts`) against a Hub socket of our own
 * ZMTP stack: it tells the Hub where it listens, keeps the records of what it served, and sends
 * them as one batch when the Hub asks (`direct_flush`), not before when its interval is long;
 * a bad message from the Hub is dropped and the server goes on. Its Unix socket is this user's
 * only, a client of ours (`DirectRoutes`) that can reach it uses it and one that cannot the
 * loopback port, and the sockets of engines that were killed are removed when an engine starts.
 * With FFI it binds a split pair too (`ipcs`, `split_ipc.ts`), which a client of ours prefers.
 */

import assert from "node:assert/strict";
import { DirectRoutes } from "../../src/client/direct_routes.ts";
import { DirectServer } from "../../src/engine/direct.ts";
import { createRecordBlock, RecordBlock } from "../../src/engine/kernel/record_block.ts";
import { Logger } from "../../src/engine/log.ts";
import { ownerGone, refuses } from "../../src/engine/stale_sockets.ts";
import { DELIMITER } from "../../src/protocol/frames.ts";
import {
  DIRECT_FLUSH,
  type DirectAddress,
  directIpcPath,
  hostIdentity,
  ipcsUsable,
  ipcUsable,
} from "../../src/protocol/messages/direct.ts";
import { splitIpcAvailable, splitWritePath } from "../../src/zmtp/split_ipc.ts";
import { readRecords } from "../../src/protocol/messages/direct_records.ts";
import { Session } from "../../src/protocol/session.ts";
import { createSocket, type Frames } from "../../src/zmtp/mod.ts";
import { waitFor } from "../client/python_cluster.ts";

const KEY = "5e1d2c3b-4a59-4687-9a0b-1c2d3e4f5a6b";
const enc = new TextEncoder();

/** The next message on `socket`, or `null` if none comes within `ms`. */
async function next(socket: { receive(): Promise<Frames> }, ms: number): Promise<Frames | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<null>((r) => (timer = setTimeout(() => r(null), ms)));
  try {
    return await Promise.race([socket.receive(), late]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("direct server: records wait until the Hub asks, then go as one batch", async () => {
  const session = new Session({ key: KEY, session: "engine-uuid" });
  const hub = createSocket("ROUTER", { onProtocolError: () => {} });
  const registration = await hub.bind("tcp://127.0.0.1:0");
  const warnings: string[] = [];
  const log = new Logger({ level: "warn", write: (line) => warnings.push(line) });
  const server = await DirectServer.start({
    session,
    registration,
    host: "this-host",
    bufferLimit: 0,
    block: new RecordBlock(createRecordBlock()),
    log,
    flushMs: 3_600_000,
  });
  let pending: Promise<Frames> | undefined;
  try {
    const [engineSocket, ...address] = (await next(hub, 10_000))!;
    const said = session.unpack(address);
    assert.equal(said.msgType, "direct_address");
    assert.equal(said.content.uuid, "engine-uuid");
    assert.match(String(said.content.url), /^tcp:\/\/127\.0\.0\.1:\d+$/);

    // A request as read on the direct socket (routing id first) and its reply as sent.
    const client = enc.encode("client-peer");
    const request = session.msg("apply_request" as string, { content: {}, identities: [client] });
    const reply = session.msg("apply_reply" as string, {
      content: { status: "ok" },
      parent: request.header,
      buffers: [Uint8Array.of(7, 7)],
      identities: [client],
    });
    server.recordRequest(session.pack(request));
    server.recordReply(session.pack(reply));

    pending = hub.receive();
    assert.equal(await next({ receive: () => pending! }, 300), null, "sent before asked");

    // Not signed with the key: dropped, and the server still answers the next request.
    await hub.send([
      engineSocket,
      enc.encode(DELIMITER),
      enc.encode("0".repeat(64)),
      ...[
        "{}",
        "{}",
        "{}",
        "{}",
      ].map((s) => enc.encode(s)),
    ]);
    await hub.send([engineSocket, ...session.pack(session.msg(DIRECT_FLUSH, { content: {} }))]);
    const [, ...batch] = (await next({ receive: () => pending! }, 10_000))!;
    pending = undefined;
    const sent = session.unpack(batch);
    assert.equal(sent.msgType, "direct_records");
    assert.deepEqual(sent.content, { uuid: "engine-uuid", records: 2 });
    assert.equal(sent.buffers.length, 1);
    const records = readRecords(sent.buffers[0]);
    assert.deepEqual(records.map((r) => [r.kind, r.streamed, r.parts.length]), [
      ["request", false, 4],
      ["reply", false, 5],
    ]);
    const dec = new TextDecoder();
    assert.equal(JSON.parse(dec.decode(records[0].parts[0])).msg_id, request.header.msg_id);
    assert.equal(JSON.parse(dec.decode(records[1].parts[1])).msg_id, request.header.msg_id);
    assert.deepEqual([...records[1].parts[4]], [7, 7]);
    assert.equal(warnings.length, 1, warnings.join(""));
    assert.match(warnings[0], /dropped a bad message from the Hub/);
  } finally {
    await server.close(0);
    await hub.close({ linger: 0 });
    await pending?.catch(() => {});
  }
});

Deno.test("direct server: a Unix socket for this user, preferred by a client that can reach it; killed engines' sockets swept", async () => {
  const uuid = crypto.randomUUID();
  const path = directIpcPath(uuid)!;
  const dir = path.slice(0, path.lastIndexOf("/"));
  // Left by engines that were killed: one whose process is gone, one whose process runs.
  const gone = new Deno.Command("true").spawn();
  await gone.status;
  const running = new Deno.Command("sleep", { args: ["60"] }).spawn();
  const staleFile = `${dir}/ipp-direct-${gone.pid}-${uuid}.sock`;
  const liveFile = `${dir}/ipp-direct-${running.pid}-${uuid}.sock`;
  // And one whose pid a later process has now (made an hour before it started).
  const reusedFile = `${dir}/ipp-direct-${running.pid}-${crypto.randomUUID()}.sock`;
  Deno.writeFileSync(staleFile, new Uint8Array());
  Deno.writeFileSync(liveFile, new Uint8Array());
  Deno.writeFileSync(reusedFile, new Uint8Array());
  const anHourAgo = new Date(Date.now() - 3_600_000);
  Deno.utimeSync(reusedFile, anHourAgo, anHourAgo);
  const session = new Session({ key: KEY, session: uuid });
  const hub = createSocket("ROUTER", { onProtocolError: () => {} });
  const registration = await hub.bind("tcp://127.0.0.1:0");
  const log = new Logger({ level: "warn", write: () => {} });
  const server = await DirectServer.start({
    session,
    registration,
    host: hostIdentity()!,
    bufferLimit: 0,
    block: new RecordBlock(createRecordBlock()),
    log,
  });
  const routes = new DirectRoutes({ read: () => {}, warn: () => {} });
  try {
    assert.throws(() => Deno.statSync(staleFile), Deno.errors.NotFound, "stale socket swept");
    if (Deno.build.os === "linux") {
      assert.throws(() => Deno.statSync(reusedFile), Deno.errors.NotFound, "pid used again");
    }
    assert.ok(Deno.statSync(liveFile).isFile, "a running engine's socket kept");
    const [, ...frames] = (await next(hub, 10_000))!;
    const address = session.unpack(frames).content as unknown as DirectAddress;
    assert.equal(address.ipc, `ipc://${path}`);
    const info = Deno.statSync(path);
    assert.ok(info.isSocket);
    assert.equal(info.mode! & 0o777, 0o600, "owner only");
    assert.ok(ipcUsable(address.ipc));
    // With FFI on Linux (these tests run with it), the split pair too, owner only.
    const split = `${path.slice(0, -".sock".length)}.s.sock`;
    const withSplit = splitIpcAvailable();
    assert.equal(withSplit, Deno.build.os === "linux");
    if (withSplit) {
      assert.equal(address.ipcs, `ipcs://${split}`);
      for (const p of [split, splitWritePath(split)]) {
        assert.equal(Deno.statSync(p).mode! & 0o777, 0o600, `${p}: owner only`);
      }
      assert.ok(ipcsUsable(address.ipcs));
    } else assert.equal(address.ipcs, undefined);

    // Not reachable (no such file, not a socket, not ipc): the loopback port instead.
    assert.equal(ipcUsable(`ipc://${path}.missing`), false);
    assert.equal(ipcsUsable(`ipcs://${path}.missing`), false);
    assert.equal(ipcsUsable(address.ipc), false, "a plain ipc endpoint is not split");
    const plain = await Deno.makeTempFile();
    assert.equal(ipcUsable(`ipc://${plain}`), false);
    await Deno.remove(plain);
    assert.equal(ipcUsable(address.url), false);
    routes.learn("elsewhere", {
      ...address,
      ipc: `ipc://${path}.missing`,
      ipcs: `ipcs://${path}.missing`,
    });
    assert.equal(routes.endpoint("elsewhere"), address.url);
    routes.forget("elsewhere");
    // Without a usable split pair (an engine without FFI), the plain Unix socket.
    routes.learn("no-split", { ...address, ipcs: undefined });
    assert.equal(routes.endpoint("no-split"), address.ipc);
    routes.forget("no-split");

    // A client of ours learns the address, connects over the split pair (else the Unix
    // socket), and its request arrives on the server's socket.
    routes.learn(uuid, address);
    assert.equal(routes.endpoint(uuid), withSplit ? address.ipcs : address.ipc);
    const request = session.pack(session.msg("apply_request" as string, { content: {} }));
    // Through the "MUX" (here the Hub's socket) until the straight connection is up.
    const mux = createSocket("DEALER", {});
    mux.connect(registration);
    try {
      await waitFor(
        async () => {
          await routes.send([enc.encode(uuid), ...request], mux, "m");
          if (routes.engines.length === 1) return true;
          routes.replied(enc.encode(uuid), false, "m"); // as its reply through the MUX would
          return false;
        },
        10_000,
        "the request sent straight",
      );
      const got = session.unpack(await server.socket.receive());
      assert.equal(got.msgType, "apply_request");
    } finally {
      await mux.close({ linger: 0 });
    }
  } finally {
    await routes.close(0);
    await server.close(0);
    await hub.close({ linger: 0 });
    running.kill();
    await running.status;
    for (const f of [staleFile, liveFile, reusedFile]) await Deno.remove(f).catch(() => {});
  }
  assert.throws(() => Deno.statSync(path), Deno.errors.NotFound, "removed on close");
  const split = `${path.slice(0, -".sock".length)}.s.sock`;
  for (const p of [split, splitWritePath(split)]) {
    assert.throws(() => Deno.statSync(p), Deno.errors.NotFound, `${p} removed on close`);
  }
});

Deno.test("stale sockets: connecting is refused where nothing listens (the look used off Linux)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ipp-stale-" });
  try {
    const path = `${dir}/ipp-direct-1-${crypto.randomUUID()}.sock`;
    const live = createSocket("ROUTER", { onProtocolError: () => {} });
    await live.bind(`ipc://${path}`);
    assert.equal(await refuses(path), false, "an engine listens");
    // A socket file nothing listens on, as a killed process leaves it.
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `Deno.listen({ transport: "unix", path: ${JSON.stringify(path + "2")} }); Deno.exit(0)`,
      ],
    });
    await child.output();
    assert.ok(Deno.statSync(path + "2").isSocket, "left behind");
    assert.equal(await refuses(path + "2"), true, "nothing listens");
    const plain = `${dir}/plain`;
    Deno.writeFileSync(plain, new Uint8Array());
    assert.equal(await refuses(plain), false, "not a socket: left alone");
    assert.equal(await refuses(`${dir}/missing`), false);
    await live.close();
    if (Deno.build.os === "linux") {
      // The owner test on Linux: this process is alive and started before the file.
      Deno.writeFileSync(plain, new Uint8Array());
      assert.equal(ownerGone(plain, Deno.pid), false);
      const gone = new Deno.Command("true").spawn();
      await gone.status;
      assert.equal(ownerGone(plain, gone.pid), true);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
