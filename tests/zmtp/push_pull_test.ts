/** PUSH and PULL, Deno↔Deno. */

import assert from "node:assert/strict";
import { createSocket } from "../../src/zmtp/mod.ts";
import { b, s, within } from "./helpers.ts";

Deno.test("PUSH round-robins messages across connected PULL sockets", async () => {
  await using p1 = createSocket("PULL");
  await using p2 = createSocket("PULL");
  await using push = createSocket("PUSH");
  push.connect(await p1.bind("tcp://127.0.0.1:0"));
  push.connect(await p2.bind("tcp://127.0.0.1:0"));
  for (let i = 0; i < 10; i++) await push.send([b(String(i))]);
  const got1: string[] = [];
  const got2: string[] = [];
  for (let i = 0; i < 5; i++) {
    got1.push(s((await within(p1.receive(), 5_000, "p1"))[0]));
    got2.push(s((await within(p2.receive(), 5_000, "p2"))[0]));
  }
  assert.deepEqual(got1, ["0", "2", "4", "6", "8"]);
  assert.deepEqual(got2, ["1", "3", "5", "7", "9"]);
});

Deno.test("PULL fair-queues messages from several PUSH sockets, each in order", async () => {
  await using pull = createSocket("PULL");
  const ep = await pull.bind("tcp://127.0.0.1:0");
  await using a = createSocket("PUSH");
  await using c = createSocket("PUSH");
  a.connect(ep);
  c.connect(ep);
  for (let i = 0; i < 50; i++) {
    await a.send([b("a"), b(String(i))]);
    await c.send([b("c"), b(String(i))]);
  }
  const seen = { a: [] as number[], c: [] as number[] };
  for (let i = 0; i < 100; i++) {
    const [who, n] = await within(pull.receive(), 5_000, "message");
    seen[s(who) as "a" | "c"].push(Number(s(n)));
  }
  const expected = Array.from({ length: 50 }, (_, i) => i);
  assert.deepEqual(seen.a, expected);
  assert.deepEqual(seen.c, expected);
});

Deno.test("PUSH waits at the high-water mark until the peer exists, then delivers", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const ep = `ipc://${dir}/pull.sock`;
    await using push = createSocket("PUSH", { sendHwm: 2, reconnectInterval: 10 });
    push.connect(ep);
    await push.send([b("1")]);
    await push.send([b("2")]);
    let third = false;
    const pending = push.send([b("3")]).then(() => (third = true));
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(third, false, "third send waits at sendHwm 2");
    await using pull = createSocket("PULL");
    await pull.bind(ep);
    for (const want of ["1", "2", "3"]) {
      assert.equal(s((await within(pull.receive(), 5_000, want))[0]), want);
    }
    await pending;
    assert.equal(third, true);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
