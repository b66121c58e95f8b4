import assert from "node:assert/strict";
import {
  type ClientConnectionInfo,
  connectionUrls,
  type EngineConnectionInfo,
  findConnectionFile,
  newKey,
  readConnectionFile,
  writeConnectionFile,
} from "../../src/protocol/connection.ts";
import { needsPython, PYTHON } from "../helpers/interop.ts";

const ignore = needsPython("ipyparallel", "zmq");

/** A real `ipcontroller` in its own process group (so its scheduler children go with it). */
class Controller implements AsyncDisposable {
  readonly child: Deno.ChildProcess;
  /** Aborts when the controller exits, so waits for its files fail fast with its stderr. */
  readonly exited = new AbortController();
  readonly #stderr: Promise<string>;
  constructor(profileDir: string, home: string, extra: string[] = []) {
    this.child = new Deno.Command("setsid", {
      args: [
        PYTHON,
        "-m",
        "ipyparallel.controller",
        "--ip=127.0.0.1",
        `--profile-dir=${profileDir}`,
        "--cluster-id=t1",
        "--log-level=40",
        ...extra,
      ],
      cwd: home,
      env: { HOME: home, IPYTHONDIR: `${home}/.ipython` },
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    // drained continuously so a chatty controller never blocks on a full pipe
    this.#stderr = new Response(this.child.stderr).text().catch(() => "");
    this.child.status.then(async (s) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const err = await Promise.race([
        this.#stderr,
        new Promise<string>((r) => timer = setTimeout(r, 500, "(stderr still open)")),
      ]);
      clearTimeout(timer);
      this.exited.abort(new Error(`ipcontroller exited (code ${s.code}): ${err}`));
    });
  }
  async [Symbol.asyncDispose]() {
    const pid = this.child.pid;
    const signal = (s: Deno.Signal) => {
      try {
        Deno.kill(-pid, s); // the group setsid made, led by our child
      } catch { /* already gone */ }
    };
    signal("SIGTERM");
    const timer = setTimeout(() => signal("SIGKILL"), 5000);
    await this.child.status;
    clearTimeout(timer);
    signal("SIGKILL"); // stragglers in the group
    await this.#stderr;
  }
}

function freePorts(n: number): number[] {
  const listeners = Array.from(
    { length: n },
    () => Deno.listen({ hostname: "127.0.0.1", port: 0 }),
  );
  const ports = listeners.map((l) => (l.addr as Deno.NetAddr).port);
  for (const l of listeners) l.close();
  return ports;
}

Deno.test({
  name: "connection files written by the real ipcontroller are read and validated",
  ignore,
  async fn() {
    const tmp = await Deno.makeTempDir({ prefix: "ipp-conn-" });
    try {
      await Deno.mkdir(`${tmp}/home/.ipython`, { recursive: true });
      await using controller = new Controller(`${tmp}/profile`, `${tmp}/home`);
      const client = await findConnectionFile({
        kind: "client",
        profileDir: `${tmp}/profile`,
        clusterId: "t1",
        timeoutMs: 60_000,
        signal: controller.exited.signal,
      });
      const engine = await findConnectionFile({
        kind: "engine",
        profileDir: `${tmp}/profile`,
        clusterId: "t1",
        timeoutMs: 10_000,
      });
      assert.equal(client.path, `${tmp}/profile/security/ipcontroller-t1-client.json`);
      // every key Python wrote is typed and kept, in Python's order
      const rawClient = JSON.parse(await Deno.readTextFile(client.path));
      const rawEngine = JSON.parse(await Deno.readTextFile(engine.path));
      assert.deepEqual(client.info, rawClient);
      assert.deepEqual(Object.keys(client.info), Object.keys(rawClient));
      assert.deepEqual(engine.info, rawEngine);
      assert.deepEqual(Object.keys(engine.info), Object.keys(rawEngine));
      assert.equal(typeof client.info.broadcast, "number");
      assert.ok(Array.isArray(engine.info.broadcast) && engine.info.broadcast.length === 2);
      assert.match(client.info.key, /^[0-9a-f]{8}-[0-9a-f]{24}$/);
      assert.equal(client.info.interface, "tcp://127.0.0.1");
      assert.equal(((await Deno.stat(client.path)).mode ?? 0) & 0o777, 0o600);
      const urls = await connectionUrls(client.info);
      assert.equal(urls.registration, `tcp://127.0.0.1:${client.info.registration}`);
      // the registration port is really listening
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: client.info.registration });
      conn.close();
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "connection files we write pass the checks ipyparallel's Client, engine and controller apply",
  ignore,
  async fn() {
    const tmp = await Deno.makeTempDir({ prefix: "ipp-conn-" });
    try {
      const key = newKey();
      const base = {
        ssh: "",
        interface: "tcp://0.0.0.0",
        registration: 40001,
        control: 40002,
        mux: 40003,
        task: 40004,
        iopub: 40005,
        key,
        curve_serverkey: null,
        location: "127.0.0.1",
        pack: "json" as const,
        unpack: "json" as const,
        signature_scheme: "hmac-sha256",
      };
      const client: ClientConnectionInfo = {
        ...base,
        task_scheme: "leastload",
        notification: 40006,
        broadcast: 40007,
      };
      const engine: EngineConnectionInfo = {
        ...base,
        control: 40012,
        hb_ping: 40008,
        hb_pong: 40009,
        broadcast: [40010, 40011],
      };
      const cpath = `${tmp}/security/ipcontroller-w-client.json`;
      const epath = `${tmp}/security/ipcontroller-w-engine.json`;
      await writeConnectionFile(cpath, client);
      await writeConnectionFile(epath, engine);
      const out = await new Deno.Command(PYTHON, {
        args: [
          new URL("./peers/check_connection_files.py", import.meta.url).pathname,
          cpath,
          epath,
        ],
        stderr: "piped",
      }).output();
      assert.ok(out.success, new TextDecoder().decode(out.stderr));
      const py = JSON.parse(new TextDecoder().decode(out.stdout));
      assert.equal(py.ok, true);
      assert.equal(py.client_mode, "0o600");
      assert.equal(py.engine_mode, "0o600");
      assert.equal(py.task_scheme, "leastload");
      assert.equal(py.session_key, key);
      assert.equal(py.client_curve, null);
      // Python derives the same URLs we do
      assert.deepEqual(py.client_urls, { ...(await connectionUrls(client)) });
      assert.deepEqual(py.engine_urls, { ...(await connectionUrls(engine)) });
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});

Deno.test({
  name: "the real ipcontroller --reuse serves the ports of files we wrote",
  ignore,
  async fn() {
    const tmp = await Deno.makeTempDir({ prefix: "ipp-conn-" });
    try {
      await Deno.mkdir(`${tmp}/home/.ipython`, { recursive: true });
      const [
        registration,
        control,
        mux,
        task,
        iopub,
        notification,
        broadcast,
        ec,
        em,
        et,
        ei,
        ping,
        pong,
        b1,
        b2,
      ] = await freePorts(15);
      const common = {
        ssh: "",
        interface: "tcp://127.0.0.1",
        registration,
        key: newKey(),
        curve_serverkey: null,
        location: "localhost",
        pack: "json" as const,
        unpack: "json" as const,
        signature_scheme: "hmac-sha256",
      };
      const client: ClientConnectionInfo = {
        ...common,
        control,
        mux,
        task,
        iopub,
        task_scheme: "leastload",
        notification,
        broadcast,
      };
      const engine: EngineConnectionInfo = {
        ...common,
        control: ec,
        mux: em,
        task: et,
        iopub: ei,
        hb_ping: ping,
        hb_pong: pong,
        broadcast: [b1, b2],
      };
      const sec = `${tmp}/profile/security`;
      await writeConnectionFile(`${sec}/ipcontroller-t1-client.json`, client);
      await writeConnectionFile(`${sec}/ipcontroller-t1-engine.json`, engine);
      await using controller = new Controller(`${tmp}/profile`, `${tmp}/home`, ["--reuse"]);
      // the controller binds exactly the ports from our files
      const deadline = Date.now() + 60_000;
      for (const port of [registration, notification, mux, ping]) {
        while (true) {
          try {
            (await Deno.connect({ hostname: "127.0.0.1", port })).close();
            break;
          } catch (e) {
            controller.exited.signal.throwIfAborted();
            if (Date.now() > deadline) throw e;
            await new Promise((r) => setTimeout(r, 100));
          }
        }
      }
      // and leaves them untouched (reused, not rewritten)
      assert.deepEqual(
        await readConnectionFile(`${sec}/ipcontroller-t1-client.json`, "client"),
        client,
      );
      // a real ipyparallel.Client connects with our client file (key, ports, scheme)
      const py = await new Deno.Command(PYTHON, {
        args: [
          "-c",
          "import sys, ipyparallel as ipp\n" +
          "rc = ipp.Client(sys.argv[1], timeout=30)\n" +
          "print(rc.ids, rc.queue_status()['unassigned'])\n" +
          "rc.close()",
          `${sec}/ipcontroller-t1-client.json`,
        ],
        env: { HOME: `${tmp}/home`, IPYTHONDIR: `${tmp}/home/.ipython` },
        stderr: "piped",
      }).output();
      assert.ok(py.success, new TextDecoder().decode(py.stderr));
      assert.equal(new TextDecoder().decode(py.stdout).trim(), "[] 0");
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});
