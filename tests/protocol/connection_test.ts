import assert from "node:assert/strict";
import { ConnectionFileError, UnsupportedSchemeError } from "../../src/errors.ts";
import {
  channelUrl,
  type ClientConnectionInfo,
  connectionFileName,
  connectionFilePath,
  connectionUrls,
  disambiguateIp,
  type EngineConnectionInfo,
  findConnectionFile,
  newKey,
  parseConnectionInfo,
  profileDir,
  readConnectionFile,
  securityDir,
  writeConnectionFile,
} from "../../src/protocol/connection.ts";

// PROTOCOL.md §2.2 and §2.3 (real files, key redacted)
const CLIENT: ClientConnectionInfo = {
  ssh: "",
  interface: "tcp://127.0.0.1",
  registration: 37609,
  control: 41447,
  mux: 34145,
  task: 48915,
  task_scheme: "leastload",
  iopub: 48505,
  notification: 47117,
  broadcast: 44973,
  key: "0123abcd-0123456789abcdef01234567",
  curve_serverkey: null,
  location: "vm",
  pack: "json",
  unpack: "json",
  signature_scheme: "hmac-sha256",
};
const ENGINE: EngineConnectionInfo = {
  ssh: "",
  interface: "tcp://127.0.0.1",
  registration: 37609,
  control: 57915,
  mux: 43269,
  task: 37051,
  iopub: 33077,
  hb_ping: 54519,
  hb_pong: 44511,
  broadcast: [48035, 38505],
  key: "0123abcd-0123456789abcdef01234567",
  curve_serverkey: null,
  location: "vm",
  pack: "json",
  unpack: "json",
  signature_scheme: "hmac-sha256",
};

const without = (o: object, k: string) =>
  Object.fromEntries(Object.entries(o).filter(([key]) => key !== k));

Deno.test("newKey makes jupyter_client's 8hex-24hex keys, different each time", () => {
  const a = newKey();
  assert.match(a, /^[0-9a-f]{8}-[0-9a-f]{24}$/);
  assert.notEqual(newKey(), a);
});

Deno.test("connection file names follow ipcontroller[-<cluster_id>]-<kind>.json", () => {
  assert.equal(connectionFileName("client"), "ipcontroller-client.json");
  assert.equal(connectionFileName("engine", ""), "ipcontroller-engine.json");
  assert.equal(
    connectionFileName("client", "1700000000-abcd"),
    "ipcontroller-1700000000-abcd-client.json",
  );
});

Deno.test("profile folders resolve like IPython: explicit dir, then ipythonDir/profile_<name>/security", () => {
  assert.equal(profileDir({ ipythonDir: "/x/ip" }), "/x/ip/profile_default");
  assert.equal(profileDir({ ipythonDir: "/x/ip/", profile: "mpi" }), "/x/ip/profile_mpi");
  assert.equal(profileDir({ profileDir: "/p/q/../r", profile: "ignored" }), "/p/r");
  assert.equal(securityDir({ profileDir: "/p" }), "/p/security");
  assert.equal(
    connectionFilePath({ kind: "engine", ipythonDir: "/i", profile: "x", clusterId: "c" }),
    "/i/profile_x/security/ipcontroller-c-engine.json",
  );
  assert.equal(
    connectionFilePath({ kind: "client", file: "/f.json", profileDir: "/p" }),
    "/f.json",
  );
});

Deno.test("ipythonDir honours IPYTHONDIR, then HOME/.ipython, and expands ~", async () => {
  const script = 'import { ipythonDir, profileDir } from "' +
    new URL("../../src/protocol/connection.ts", import.meta.url).href +
    '"; console.log(JSON.stringify([ipythonDir(), profileDir({ profile: "p" }), profileDir({ profileDir: "~/x" })]));';
  const run = async (env: Record<string, string>) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["eval", script],
      env,
      clearEnv: true,
      stderr: "inherit",
    }).output();
    assert.ok(out.success);
    return JSON.parse(new TextDecoder().decode(out.stdout));
  };
  assert.deepEqual(await run({ HOME: "/home/u" }), [
    "/home/u/.ipython",
    "/home/u/.ipython/profile_p",
    "/home/u/x",
  ]);
  assert.deepEqual(await run({ HOME: "/home/u", IPYTHONDIR: "~/ipd" }), [
    "/home/u/ipd",
    "/home/u/ipd/profile_p",
    "/home/u/x",
  ]);
  assert.deepEqual(await run({ HOME: "/h", IPYTHONDIR: "/abs/dir/" }), [
    "/abs/dir",
    "/abs/dir/profile_p",
    "/h/x",
  ]);
});

Deno.test("parseConnectionInfo accepts the real client and engine files and fills Python's defaults", () => {
  assert.deepEqual(parseConnectionInfo("client", CLIENT), CLIENT);
  assert.deepEqual(parseConnectionInfo("engine", ENGINE), ENGINE);
  const minimal = without(without(without(ENGINE, "ssh"), "curve_serverkey"), "location");
  assert.deepEqual(parseConnectionInfo("engine", { ...minimal, extra: 1 }), {
    ...ENGINE,
    location: null,
  });
});

Deno.test("parseConnectionInfo names each missing or malformed required key", () => {
  const required = Object.keys(CLIENT).filter((k) =>
    !["ssh", "curve_serverkey", "location"].includes(k)
  );
  for (const k of required) {
    assert.throws(() => parseConnectionInfo("client", without(CLIENT, k), "/x/c.json"), (e) => {
      assert.ok(e instanceof ConnectionFileError);
      assert.match(e.message, new RegExp(`"${k}"|${k}`));
      assert.deepEqual(e.paths, ["/x/c.json"]);
      return true;
    });
  }
  for (const k of ["hb_ping", "hb_pong", "broadcast"]) {
    assert.throws(() => parseConnectionInfo("engine", without(ENGINE, k)), new RegExp(k));
  }
  assert.throws(
    () => parseConnectionInfo("client", { ...CLIENT, mux: "1" }),
    /"mux" must be a port/,
  );
  assert.throws(
    () => parseConnectionInfo("client", { ...CLIENT, mux: 70000 }),
    ConnectionFileError,
  );
  assert.throws(
    () => parseConnectionInfo("client", { ...CLIENT, interface: "127.0.0.1" }),
    /interface/,
  );
  assert.throws(() => parseConnectionInfo("client", ENGINE), /engine file, not a client file/);
  assert.throws(() => parseConnectionInfo("engine", CLIENT), /client file, not an engine file/);
  assert.throws(
    () => parseConnectionInfo("engine", { ...ENGINE, broadcast: [] }),
    /non-empty list/,
  );
  assert.throws(() => parseConnectionInfo("client", [1]), /not a JSON object/);
  assert.throws(() => parseConnectionInfo("client", { ...CLIENT, location: 5 }), /location/);
});

Deno.test("pack/unpack other than json and non-HMAC schemes are refused", () => {
  for (const bad of [{ pack: "pickle" }, { unpack: "msgpack" }, { signature_scheme: "md5" }]) {
    assert.throws(() => parseConnectionInfo("client", { ...CLIENT, ...bad }), (e) => {
      assert.ok(e instanceof ConnectionFileError);
      assert.ok(e.cause instanceof UnsupportedSchemeError);
      return true;
    });
  }
});

Deno.test("writeConnectionFile writes 2-space JSON in ipcontroller's key order, mode 0600, atomically", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/profile_default/security/ipcontroller-x-engine.json`;
    await writeConnectionFile(path, { ...ENGINE, broadcast: [1, 2] });
    const text = await Deno.readTextFile(path);
    assert.equal(text, JSON.stringify({ ...ENGINE, broadcast: [1, 2] }, null, 2));
    assert.ok(text.startsWith('{\n  "ssh": "",\n  "interface": "tcp://127.0.0.1",'));
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    assert.equal((await Deno.stat(`${dir}/profile_default/security`)).mode! & 0o777, 0o700);
    assert.deepEqual(await readConnectionFile(path, "engine"), { ...ENGINE, broadcast: [1, 2] });
    // overwrite in place, leaving no temporary files behind
    await writeConnectionFile(path, ENGINE);
    assert.deepEqual(await readConnectionFile(path, "engine"), ENGINE);
    const names = [];
    for await (const e of Deno.readDir(`${dir}/profile_default/security`)) names.push(e.name);
    assert.deepEqual(names, ["ipcontroller-x-engine.json"]);
    // client keys come out in ipcontroller's order too
    const cpath = `${dir}/c.json`;
    const shuffled = Object.fromEntries(
      Object.entries(CLIENT).reverse(),
    ) as unknown as ClientConnectionInfo;
    await writeConnectionFile(cpath, shuffled);
    assert.deepEqual(Object.keys(JSON.parse(await Deno.readTextFile(cpath))), Object.keys(CLIENT));
    await assert.rejects(
      writeConnectionFile(cpath, { ...CLIENT, pack: "pickle" as "json" }),
      ConnectionFileError,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("readConnectionFile reports missing, unreadable and non-JSON files as ConnectionFileError", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await assert.rejects(
      readConnectionFile(`${dir}/nope.json`, "client"),
      /not found: .*nope\.json.*ipp controller/,
    );
    await Deno.writeTextFile(`${dir}/bad.json`, "{");
    await assert.rejects(readConnectionFile(`${dir}/bad.json`, "client"), /not valid JSON/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("findConnectionFile names the path it tried, what to run, and other cluster ids nearby", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await writeConnectionFile(
      `${dir}/profile_default/security/ipcontroller-other-client.json`,
      CLIENT,
    );
    await assert.rejects(
      findConnectionFile({ kind: "client", ipythonDir: dir, timeoutMs: 0 }),
      (e) => {
        assert.ok(e instanceof ConnectionFileError);
        const expected = `${dir}/profile_default/security/ipcontroller-client.json`;
        assert.deepEqual(e.paths, [expected]);
        assert.ok(e.message.includes(expected), e.message);
        assert.match(e.message, /ipp controller/);
        assert.match(e.message, /ipcluster start/);
        assert.match(e.message, /cluster ids: other/);
        return true;
      },
    );
    await assert.rejects(
      findConnectionFile({
        kind: "engine",
        file: `${dir}/given.json`,
        clusterId: "zz",
        timeoutMs: 30,
      }),
      (e) =>
        e instanceof ConnectionFileError && e.paths[0] === `${dir}/given.json` &&
        /after waiting 30 ms/.test(e.message),
    );
    const found = await findConnectionFile({
      kind: "client",
      ipythonDir: dir,
      clusterId: "other",
      timeoutMs: 0,
    });
    assert.deepEqual(found.info, CLIENT);
    await assert.rejects(
      findConnectionFile({ kind: "client", ipythonDir: dir, timeoutMs: -1 }),
      RangeError,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("findConnectionFile waits for a file that appears, and retries a half-written one", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/security/ipcontroller-w-engine.json`;
    await Deno.mkdir(`${dir}/security`);
    const waiting = findConnectionFile({
      kind: "engine",
      profileDir: dir,
      clusterId: "w",
      timeoutMs: 10_000,
      pollMs: 10,
    });
    // the Python controller writes in place: a reader can see a truncated file first
    await Deno.writeTextFile(path, '{"ssh": "", "interf');
    await new Promise((r) => setTimeout(r, 50));
    await Deno.writeTextFile(path, JSON.stringify(ENGINE));
    const { path: got, info } = await waiting;
    assert.equal(got, path);
    assert.deepEqual(info, ENGINE);
    // an invalid file that stays invalid gives its own error, not "not found"
    await Deno.writeTextFile(path, JSON.stringify({ ...ENGINE, pack: "pickle" }));
    await assert.rejects(
      findConnectionFile({ kind: "engine", file: path, timeoutMs: 20, pollMs: 5 }),
      /Unsupported pack/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("findConnectionFile stops waiting when its signal aborts", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const ac = new AbortController();
    const p = findConnectionFile({
      kind: "client",
      profileDir: dir,
      signal: ac.signal,
      pollMs: 10,
    });
    setTimeout(() => ac.abort(new Error("stop")), 30);
    await assert.rejects(p, /stop/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("channelUrl joins tcp with ':' and ipc with '-' like IPController.construct_url", () => {
  assert.equal(channelUrl("tcp://127.0.0.1", 5555), "tcp://127.0.0.1:5555");
  assert.equal(channelUrl("ipc:///tmp/ipp", 5), "ipc:///tmp/ipp-5");
});

Deno.test("disambiguateIp maps 0.0.0.0 and * by location as ipyparallel.util does", async () => {
  const facts = {
    hostname: "me",
    localIps: ["127.0.0.1", "10.0.0.5"],
    resolve: (h: string) =>
      Promise.resolve(({ me2: "10.0.0.5", far: "10.9.9.9" } as Record<string, string>)[h]),
  };
  assert.equal(await disambiguateIp("10.1.2.3", "far", facts), "10.1.2.3");
  assert.equal(await disambiguateIp("0.0.0.0", null, facts), "127.0.0.1");
  assert.equal(await disambiguateIp("*", "", facts), "127.0.0.1");
  assert.equal(await disambiguateIp("*", "me", facts), "127.0.0.1");
  assert.equal(await disambiguateIp("0.0.0.0", "me2", facts), "127.0.0.1");
  assert.equal(await disambiguateIp("0.0.0.0", "10.0.0.5", facts), "127.0.0.1");
  assert.equal(await disambiguateIp("0.0.0.0", "far", facts), "10.9.9.9");
  assert.equal(await disambiguateIp("0.0.0.0", "10.7.7.7", facts), "10.7.7.7");
  assert.equal(await disambiguateIp("0.0.0.0", "unknown-host", facts), "unknown-host");
});

Deno.test("connectionUrls builds every channel URL of client and engine files", async () => {
  const facts = { hostname: "vm", localIps: ["127.0.0.1"] };
  assert.deepEqual(await connectionUrls({ ...CLIENT, interface: "tcp://*" }, { facts }), {
    registration: "tcp://127.0.0.1:37609",
    control: "tcp://127.0.0.1:41447",
    mux: "tcp://127.0.0.1:34145",
    task: "tcp://127.0.0.1:48915",
    iopub: "tcp://127.0.0.1:48505",
    notification: "tcp://127.0.0.1:47117",
    broadcast: "tcp://127.0.0.1:44973",
  });
  const e = await connectionUrls({ ...ENGINE, interface: "tcp://0.0.0.0" }, {
    location: "10.3.3.3",
    facts,
  });
  assert.equal(e.hb_ping, "tcp://10.3.3.3:54519");
  assert.deepEqual(e.broadcast, ["tcp://10.3.3.3:48035", "tcp://10.3.3.3:38505"]);
  const ipc = await connectionUrls({ ...ENGINE, interface: "ipc:///tmp/c" });
  assert.equal(ipc.registration, "ipc:///tmp/c-37609");
  assert.deepEqual(ipc.broadcast, ["ipc:///tmp/c-48035", "ipc:///tmp/c-38505"]);
});
