/**
 * The engine's wire behaviour, frame by frame, against a scripted fake controller built on
 * our own ZMTP and Session (tests/engine/fake_hub.ts): registration, heartbeat echo, reply
 * routing and metadata (PROTOCOL.md §4, §6.3), IOPub topics and parents (§6.6), control
 * (§6.5), and the command line's exits on registration failure and signals.
 */

import assert from "node:assert/strict";
import { Engine } from "../../src/engine/engine.ts";
import { Logger } from "../../src/engine/log.ts";
import { writeConnectionFile } from "../../src/protocol/connection.ts";
import type { Message } from "../../src/protocol/messages.ts";
import { deserializeResult, packApplyMessage, Reference } from "../../src/protocol/serialize.ts";
import type { Socket } from "../../src/zmtp/mod.ts";
import { engineCommand, parseEngineArgs, UsageError } from "../../src/cli/engine.ts";
import { FakeHub } from "./fake_hub.ts";
import { Proc } from "./procs.ts";

const te = new TextEncoder();
const td = new TextDecoder();
const ROOT = new URL("../../", import.meta.url).pathname;

/** Send a request from "client-1" through a controller-side ROUTER to the engine. */
async function request(
  hub: FakeHub,
  socket: Socket,
  uuid: string,
  msgType: string,
  options: {
    content?: Record<string, unknown>;
    metadata?: Record<string, unknown>;
    buffers?: Uint8Array[];
  } = {},
): Promise<Message> {
  const msg = hub.session.msg(msgType, {
    identities: [uuid, te.encode("client-1")],
    content: (options.content ?? {}) as never,
    metadata: (options.metadata ?? {}) as never,
    buffers: options.buffers,
  });
  await socket.send(hub.session.pack(msg));
  // Through `unknown`: comparing `Message<string>` with `Message` structurally can exceed what
  // the type checker represents (TS2590) depending on which files are checked together.
  return msg as unknown as Message;
}

/** The next message on a controller-side socket, with its routing frames as text. */
async function reply(
  hub: FakeHub,
  socket: Socket,
  ms = 10_000,
): Promise<Message & { routing: string[] }> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const error = new Error("no reply"); // made here, so its stack names the waiting step
  const frames = await Promise.race([
    socket.receive(),
    new Promise<never>((_, rej) => timer = setTimeout(() => rej(error), ms)),
  ]);
  clearTimeout(timer);
  const msg = hub.session.unpack(frames);
  return { ...msg, routing: msg.identities.map((f) => td.decode(f)) };
}

Deno.test({
  name: "engine: registers, echoes pings from its uuid, and answers with the routing frames, " +
    "metadata and IOPub of PROTOCOL.md §6",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using hub = await FakeHub.start("ok");
    hub.nextId = 3;
    const engine = await Engine.start({ info: hub.info, log: new Logger({ level: "critical" }) });
    try {
      const uuid = engine.uuid;
      assert.equal(engine.id, 3);
      const reg = hub.registrations[0];
      assert.equal(reg.msgType, "registration_request");
      assert.deepEqual(reg.content, { uuid });
      assert.equal(reg.header.session, uuid);
      assert.equal(td.decode(reg.identities[0]), uuid);
      assert.equal(engine.state, "running.idle");

      // heartbeat: frames echoed verbatim, from the uuid identity (§4.3)
      await hub.until(
        () => {
          hub.hbPing.send([te.encode("1.25")]);
          return hub.pongs.length > 0;
        },
        5000,
        "a pong",
      );
      assert.deepEqual(hub.pongs[0].map((f) => td.decode(f)), [uuid, "1.25"]);

      // execute on mux: reply with the routing frames received ([mux_out, client-1]) (§3.3)
      const exec = await request(hub, hub.mux, uuid, "execute_request", {
        content: { code: "console.log('hi'); 6 * 7", silent: false, user_expressions: {} },
      });
      const r1 = await reply(hub, hub.mux);
      assert.deepEqual(r1.routing, [uuid, "client-1"]);
      assert.equal(r1.msgType, "execute_reply");
      assert.deepEqual(r1.parentHeader, exec.header);
      assert.equal(r1.header.session, uuid);
      assert.deepEqual(r1.content, {
        status: "ok",
        execution_count: 1,
        user_expressions: {},
        payload: [],
      });
      const md = r1.metadata as Record<string, unknown>;
      assert.match(String(md.started), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
      assert.deepEqual({ ...md, started: "" }, {
        started: "",
        dependencies_met: true,
        engine: uuid,
        is_broadcast: false,
        is_coalescing: false,
        original_msg_id: "",
        status: "ok",
        // execute_input, stdout and execute_result went out before the reply (checked below)
        iopub_count: 3,
      });
      await hub.until(
        () =>
          hub.iopubMessages.some((m) =>
            m.topic === "engine.3.status" &&
            m.msg.parentHeader.msg_id === exec.msgId &&
            (m.msg.content as { execution_state: string }).execution_state === "idle"
          ),
        5000,
        "idle",
      );
      const io = hub.iopubMessages.filter((m) => m.msg.parentHeader.msg_id === exec.msgId);
      assert.deepEqual(io.map((m) => m.topic), [
        "engine.3.status",
        "engine.3.execute_input",
        "engine.3.stdout",
        "engine.3.execute_result",
        "engine.3.status",
      ]);
      for (const m of io) {
        assert.deepEqual(m.msg.parentHeader, exec.header);
        assert.deepEqual(m.msg.metadata, { engine: uuid });
      }
      assert.deepEqual(io[2].msg.content, { name: "stdout", text: "hi\n" });
      assert.deepEqual(io[3].msg.content, {
        data: { "text/plain": "42" },
        metadata: {},
        execution_count: 1,
      });

      // apply on task with broadcast-style metadata copied into the reply (§6.3)
      const apply = await request(hub, hub.task, uuid, "apply_request", {
        metadata: { is_broadcast: true, is_coalescing: false, original_msg_id: "orig-1" },
        buffers: packApplyMessage((a: number, b: number) => a + b, [2, 3]),
      });
      const r2 = await reply(hub, hub.task);
      assert.deepEqual(r2.routing, [uuid, "client-1"]);
      assert.deepEqual(r2.parentHeader, apply.header);
      assert.equal(r2.msgType, "apply_reply");
      assert.deepEqual(r2.content, { status: "ok" });
      assert.equal(deserializeResult(r2.buffers), 5);
      const md2 = r2.metadata as Record<string, unknown>;
      assert.equal(md2.is_broadcast, true);
      assert.equal(md2.original_msg_id, "orig-1");
      assert.equal(md2.iopub_count, 0, "an apply that printed nothing");

      // a long synchronous cell is announced busy, and its output streams, before it ends
      const long = await request(hub, hub.mux, uuid, "execute_request", {
        content: {
          code: "const t0 = Date.now(); while (Date.now() - t0 < 100) {}; console.log('early');\n" +
            "while (Date.now() - t0 < 600) {}; console.log('late')",
          silent: true,
        },
      });
      const ofLong = () =>
        hub.iopubMessages.filter((m) => m.msg.parentHeader.msg_id === long.msgId);
      let replied = false;
      const longReply = reply(hub, hub.mux).then((r) => (replied = true, r));
      await hub.until(() => ofLong().some((m) => m.topic === "engine.3.stdout"), 5000, "early");
      assert.equal(replied, false, "busy and output are published while the request runs");
      const rLong = await longReply;
      // two stdout messages went out before the reply: a client that has not seen both waits
      assert.equal((rLong.metadata as Record<string, unknown>).iopub_count, 2);
      await hub.until(() => ofLong().length === 4, 5000, "late and idle");
      assert.deepEqual(
        ofLong().map((m) => [m.topic, m.msg.content]),
        [
          ["engine.3.status", { execution_state: "busy" }],
          ["engine.3.stdout", { name: "stdout", text: "early\n" }],
          ["engine.3.stdout", { name: "stdout", text: "late\n" }],
          ["engine.3.status", { execution_state: "idle" }],
        ],
      );

      // a thrown error: content and metadata engine_info (§6.4)
      await request(hub, hub.mux, uuid, "execute_request", {
        content: { code: "null.x", silent: true },
      });
      const r3 = await reply(hub, hub.mux);
      const c3 = r3.content as Record<string, unknown>;
      assert.equal(c3.status, "error");
      assert.equal(c3.ename, "TypeError");
      assert.deepEqual(c3.engine_info, { engine_uuid: uuid, engine_id: 3, method: "execute" });
      assert.deepEqual((r3.metadata as Record<string, unknown>).engine_info, {
        engine_uuid: uuid,
        engine_id: 3,
      });
      assert.equal((r3.metadata as Record<string, unknown>).iopub_count, 1, "the error");

      // control: abort a queued request while another runs (§6.5.2)
      const slow = await request(hub, hub.mux, uuid, "execute_request", {
        content: { code: "const t0 = Date.now(); while (Date.now() - t0 < 500) {}", silent: true },
      });
      const queued = await request(hub, hub.mux, uuid, "apply_request", {
        buffers: packApplyMessage(() => 1),
      });
      await request(hub, hub.control, uuid, "abort_request", {
        content: { msg_ids: [queued.msgId] },
      });
      const ra = await reply(hub, hub.control);
      assert.equal(ra.msgType, "abort_reply");
      assert.deepEqual(ra.content, { status: "ok" });
      const rs = await reply(hub, hub.mux);
      assert.equal(rs.parentHeader.msg_id, slow.msgId);
      const rq = await reply(hub, hub.mux);
      assert.equal(rq.parentHeader.msg_id, queued.msgId);
      assert.equal(rq.msgType, "apply_reply");
      assert.deepEqual(rq.content, { status: "aborted" });
      assert.equal((rq.metadata as Record<string, unknown>).status, "aborted");

      // data_message on topic datapub (§6.6)
      const pub = await request(hub, hub.mux, uuid, "execute_request", {
        content: { code: "publishData({ a: 1, b: [2] })", silent: true },
      });
      await reply(hub, hub.mux);
      await hub.until(
        () => hub.iopubMessages.some((m) => m.topic === "datapub"),
        2000,
        "data_message",
      );
      const data = hub.iopubMessages.find((m) => m.topic === "datapub")!.msg;
      assert.equal(data.msgType, "data_message");
      assert.deepEqual(data.parentHeader, pub.header);
      assert.deepEqual(data.content, { keys: ["a", "b"] });
      assert.deepEqual(deserializeResult(data.buffers), { a: 1, b: [2] });

      // a pulled 16 MB array is sent as it was, though the request queued behind the pull
      // overwrites it (the reply goes out from the array's memory; the next request waits)
      await request(hub, hub.mux, uuid, "execute_request", {
        content: { code: "globalThis.big = new Float64Array(2 ** 21).fill(1)", silent: true },
      });
      await reply(hub, hub.mux);
      const pull = await request(hub, hub.mux, uuid, "apply_request", {
        buffers: packApplyMessage(new Reference("__ipp_pull__"), ["big"]),
      });
      await request(hub, hub.mux, uuid, "execute_request", {
        content: { code: "big.fill(2)", silent: true },
      });
      const rp = await reply(hub, hub.mux);
      assert.equal(rp.parentHeader.msg_id, pull.msgId);
      const pulled = deserializeResult(rp.buffers) as Float64Array;
      assert.equal(pulled.length, 2 ** 21);
      assert.ok(pulled.every((x) => x === 1), "the pulled array is the one before big.fill(2)");
      await reply(hub, hub.mux);

      // interrupt_request stops an endless loop; the namespace is reset
      await request(hub, hub.mux, uuid, "execute_request", {
        content: { code: "globalThis.kept = 1", silent: true },
      });
      await reply(hub, hub.mux);
      await request(hub, hub.mux, uuid, "execute_request", {
        content: { code: "while (true) {}", silent: true },
      });
      await hub.until(() => engine.state === "running.busy", 2000, "busy");
      await request(hub, hub.control, uuid, "interrupt_request");
      const ri = await reply(hub, hub.control);
      assert.equal(ri.msgType, "interrupt_reply");
      const rl = await reply(hub, hub.mux);
      const cl = rl.content as Record<string, unknown>;
      assert.equal(cl.ename, "KernelInterrupted");
      assert.match(String(cl.evalue), /namespace was reset/);
      await request(hub, hub.mux, uuid, "execute_request", {
        content: { code: "", silent: true, user_expressions: { k: "typeof kept" } },
      });
      const ru = (await reply(hub, hub.mux)).content as {
        user_expressions: Record<string, { data: Record<string, string> }>;
      };
      assert.equal(ru.user_expressions.k.data["text/plain"], '"undefined"');
      // ... and a request waiting on a promise that never settles
      await request(hub, hub.mux, uuid, "execute_request", {
        content: { code: "await new Promise(() => {})", silent: true },
      });
      await hub.until(() => engine.state === "running.busy", 2000, "busy");
      await request(hub, hub.control, uuid, "interrupt_request");
      await reply(hub, hub.control);
      const rw = (await reply(hub, hub.mux)).content as Record<string, unknown>;
      assert.equal(rw.ename, "KernelInterrupted");

      // clear_request resets the namespace (§6.5.1): user globals go, replaced runtime globals
      // come back, timers user code started stop
      await request(hub, hub.mux, uuid, "execute_request", {
        content: {
          code: "globalThis.gone = 1; display = 0; globalThis.ticks = 0; " +
            "globalThis.ticker = setInterval(() => globalThis.ticked = ++ticks, 5)",
          silent: true,
        },
      });
      await reply(hub, hub.mux);
      await request(hub, hub.control, uuid, "clear_request");
      const rc = await reply(hub, hub.control);
      assert.equal(rc.msgType, "clear_reply");
      assert.deepEqual(rc.content, { status: "ok" });
      assert.deepEqual(rc.metadata, { engine: uuid });
      await request(hub, hub.mux, uuid, "execute_request", {
        content: {
          code: "await new Promise((r) => setTimeout(r, 50))",
          silent: true,
          user_expressions: { k: "[typeof gone, typeof display, typeof ticked].join()" },
        },
      });
      const rg = (await reply(hub, hub.mux)).content as {
        user_expressions: Record<string, { data: Record<string, string> }>;
      };
      assert.equal(rg.user_expressions.k.data["text/plain"], '"undefined,function,undefined"');

      // kernel_info on control
      await request(hub, hub.control, uuid, "kernel_info_request");
      const rk = await reply(hub, hub.control);
      const ck = rk.content as { implementation: string; language_info: { name: string } };
      assert.equal(ck.implementation, "ipp-deno");
      assert.equal(ck.language_info.name, "javascript");

      // shutdown: control reply, IOPub copy, unregistration, clean exit (§6.5.3)
      const shut = await request(hub, hub.control, uuid, "shutdown_request", {
        content: { restart: false },
      });
      const rsd = await reply(hub, hub.control);
      assert.deepEqual(rsd.content, { status: "ok", restart: false });
      const exit = await engine.finished;
      assert.deepEqual(exit, {
        state: "stopped",
        exitCode: 0,
        reason: "shutdown requested by a client",
        restart: false,
      });
      await hub.until(
        () => hub.iopubMessages.some((m) => m.topic === "engine.3.shutdown"),
        2000,
        "IOPub shutdown_reply",
      );
      const copy = hub.iopubMessages.find((m) => m.topic === "engine.3.shutdown")!;
      assert.equal(copy.msg.msgType, "shutdown_reply");
      assert.deepEqual(copy.msg.parentHeader, shut.header);
      await hub.until(
        () => hub.registrations.some((m) => m.msgType === "unregistration_request"),
        2000,
        "unregistration_request",
      );
      const unreg = hub.registrations.find((m) => m.msgType === "unregistration_request")!;
      assert.deepEqual(unreg.content, { id: 3 });
      assert.equal(engine.state, "stopped");
    } finally {
      await engine.stop();
    }
  },
});

async function writeInfo(hub: FakeHub): Promise<{ dir: string; file: string }> {
  const dir = await Deno.makeTempDir({ prefix: "ipp-engine-wire-" });
  const file = `${dir}/ipcontroller-engine.json`;
  await writeConnectionFile(file, hub.info);
  return { dir, file };
}

function cliEngine(args: string[]): Proc {
  return new Proc("deno engine", [
    Deno.execPath(),
    "run",
    "-A",
    "--quiet",
    `${ROOT}src/cli/engine.ts`,
    ...args,
  ], { NO_COLOR: "1" });
}

Deno.test({
  name: "ipp engine: no registration reply → unregistration_request {id: null}, exit 255",
  sanitizeResources: false,
  async fn() {
    await using hub = await FakeHub.start("silent");
    const { dir, file } = await writeInfo(hub);
    try {
      await using proc = cliEngine(["--file", file, "--timeout=1"]);
      const status = await proc.exitWithin(15_000);
      assert.equal(status?.code, 255, proc.stderr);
      assert.match(proc.stderr, /Registration timed out after 1\.0 seconds/);
      await hub.until(() => hub.registrations.length >= 2, 2000, "unregistration_request");
      assert.deepEqual(hub.registrations.map((m) => m.msgType), [
        "registration_request",
        "unregistration_request",
      ]);
      assert.deepEqual(hub.registrations[1].content, { id: null });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "ipp engine: a refused registration exits 255 with the Hub's reason",
  sanitizeResources: false,
  async fn() {
    await using hub = await FakeHub.start("refuse");
    const { dir, file } = await writeInfo(hub);
    try {
      await using proc = cliEngine(["--file", file]);
      const status = await proc.exitWithin(15_000);
      assert.equal(status?.code, 255, proc.stderr);
      assert.match(proc.stderr, /refused the registration: KeyError: "uuid in use"/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "ipp engine: SIGTERM and SIGINT unregister and exit 0",
  sanitizeResources: false,
  async fn() {
    await using hub = await FakeHub.start("ok");
    const { dir, file } = await writeInfo(hub);
    try {
      for (const [i, sig] of (["SIGTERM", "SIGINT"] as const).entries()) {
        await using proc = cliEngine(["--file", file, "--IPEngine.enable_nanny=False"]);
        assert.ok(await proc.waitForStderr(/is running/, 15_000), proc.stderr);
        assert.match(proc.stderr, /ignoring --IPEngine\.enable_nanny=False/);
        proc.signal(sig);
        const status = await proc.exitWithin(10_000);
        assert.equal(status?.code, 0, proc.stderr);
        assert.match(proc.stderr, new RegExp(`received ${sig}`));
        await hub.until(
          () => hub.registrations.filter((m) => m.msgType === "unregistration_request").length > i,
          2000,
          "unregistration_request",
        );
        const unreg = hub.registrations.filter((m) => m.msgType === "unregistration_request")[i];
        assert.deepEqual(unreg.content, { id: i });
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("ipp engine: a missing connection file exits 1 naming the path", async () => {
  await using proc = cliEngine([
    "--file",
    "/nonexistent/ipcontroller-engine.json",
    "--wait-for-url-file=0",
  ]);
  const status = await proc.exitWithin(15_000);
  assert.equal(status?.code, 1, proc.stderr);
  assert.match(proc.stderr, /\/nonexistent\/ipcontroller-engine\.json/);
});

Deno.test("ipp engine: flags take --flag=value and --flag value; traitlet flags are ignored", () => {
  const f = parseEngineArgs([
    "--profile-dir",
    "/p",
    "--cluster-id=abc",
    "--timeout",
    "2.5",
    "--id=4",
    "--log-level=10",
    "--max-heartbeat-misses",
    "0",
    "--IPEngine.enable_nanny=False",
    "--InteractiveShell.colors",
    "nocolor",
    "--typescript",
  ]);
  assert.equal(f.profileDir, "/p");
  assert.equal(f.clusterId, "abc");
  assert.equal(f.timeout, 2.5);
  assert.equal(f.id, 4);
  assert.equal(f.logLevel, "debug");
  assert.equal(f.maxHeartbeatMisses, 0);
  assert.equal(f.typescript, true);
  assert.equal(f.direct, true, "the direct path is served by default");
  assert.equal(parseEngineArgs(["--no-direct"]).direct, false);
  assert.deepEqual(f.ignored, [
    "--IPEngine.enable_nanny=False",
    "--InteractiveShell.colors nocolor",
  ]);
  assert.throws(() => parseEngineArgs(["--bogus"]), UsageError);
  assert.throws(() => parseEngineArgs(["--timeout"]), /needs a value/);
  assert.throws(() => parseEngineArgs(["--id=-1"]), /integer >= 0/);
  assert.throws(() => parseEngineArgs(["--log-level=LOUD"]), /Unknown log level/);
});

Deno.test("ipp engine: unknown flags exit 2; --help lists the flags with examples", async () => {
  const errors: string[] = [];
  const logs: string[] = [];
  const { error, log } = console;
  console.error = (...a: unknown[]) => void errors.push(a.join(" "));
  console.log = (...a: unknown[]) => void logs.push(a.join(" "));
  try {
    assert.equal(await engineCommand(["--bogus=1"]), 2);
    assert.match(errors.join("\n"), /unknown flag --bogus/);
    assert.equal(await engineCommand(["--help"]), 0);
  } finally {
    console.error = error;
    console.log = log;
  }
  const help = logs.join("\n");
  for (
    const flag of [
      "--file",
      "--profile",
      "--profile-dir",
      "--ipython-dir",
      "--cluster-id",
      "--log-level",
      "--timeout",
      "--location",
      "--id",
      "--help",
      "Examples:",
    ]
  ) {
    assert.ok(help.includes(flag), flag);
  }
});

Deno.test("ipp engine: SIGINT while waiting for the connection file exits 0 at once", async () => {
  await using proc = cliEngine(["--file", "/nonexistent/engine.json", "--wait-for-url-file=60"]);
  assert.ok(await proc.waitForStderr(/waiting up to 60 s/, 15_000), proc.stderr);
  proc.signal("SIGINT");
  const status = await proc.exitWithin(5_000);
  assert.equal(status?.code, 0, proc.stderr);
  assert.match(proc.stderr, /received SIGINT while starting/);
});
