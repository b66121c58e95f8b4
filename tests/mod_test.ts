import assert from "node:assert/strict";
import * as mod from "../mod.ts";

// The public runtime names of the package. A change here is a change of the public API:
// update the README's table with it.
const PUBLIC_NAMES = [
  "AsyncHubResult",
  "AsyncMapResult",
  "AsyncResult",
  "BroadcastView",
  "Client",
  "ClientCore",
  "Cluster",
  "CompositeError",
  "ConnectionFileError",
  "ControllerLostError",
  "DirectView",
  "EndpointError",
  "EngineError",
  "ExecuteReply",
  "HostUnreachableError",
  "HubQueries",
  "ImpossibleDependency",
  "InvalidDependency",
  "IppError",
  "LoadBalancedView",
  "MessageFormatError",
  "Metadata",
  "NoEnginesRegistered",
  "ParallelFunction",
  "PxRunner",
  "Reference",
  "RemoteError",
  "RemoteFunction",
  "RequestLostError",
  "SerializationError",
  "Session",
  "SignatureError",
  "SocketClosedError",
  "TaskAborted",
  "TaskTimeout",
  "TimeoutError",
  "UnmetDependency",
  "UnsupportedSchemeError",
  "UnsupportedSerialization",
  "View",
  "ZmtpProtocolError",
  "createSocket",
  "deserializeObject",
  "deserializeResult",
  "detectFormat",
  "findConnectionFile",
  "formatDate",
  "packApplyMessage",
  "parseDate",
  "readConnectionFile",
  "serializeObject",
  "unpackApplyMessage",
  "writeConnectionFile",
];

Deno.test("mod.ts exports exactly the pinned public names", () => {
  assert.deepEqual(Object.keys(mod).sort(), [...PUBLIC_NAMES].sort());
});

Deno.test("every error class in mod.ts is named after itself and extends IppError", () => {
  for (const [name, value] of Object.entries(mod)) {
    if (typeof value !== "function" || !(value.prototype instanceof Error)) continue;
    const error = Object.create(value.prototype) as Error;
    assert.ok(error instanceof mod.IppError, `${name} extends IppError`);
  }
  assert.equal(new mod.TaskAborted("m1").name, "TaskAborted");
  assert.equal(new mod.RemoteError("TypeError", "boom").name, "RemoteError");
});

Deno.test("mod.ts loads in a process that denies FFI (no native addon, Deno Deploy shape)", async () => {
  const code = `import * as m from ${JSON.stringify(new URL("../mod.ts", import.meta.url).href)};
    const s = new m.Session({ key: "k" });
    const f = s.pack(s.msg("connection_request", { content: {} }));
    console.log(s.unpack(f).msgType);`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--deny-ffi", "--quiet", code],
    cwd: new URL("..", import.meta.url).pathname,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, stderr);
  assert.equal(new TextDecoder().decode(out.stdout).trim(), "connection_request");
});
