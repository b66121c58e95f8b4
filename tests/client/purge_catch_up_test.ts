/**
 * A Hub may record a result after the client got its reply (Python's Hub learns it from its
 * monitor stream). `purgeHubResults` then asks again while the Hub calls a msg_id pending that
 * this client does not have outstanding; for a task still outstanding here the refusal stands.
 */

import assert from "node:assert/strict";
import { Client } from "../../src/client/client.ts";
import { RemoteError } from "../../src/errors.ts";
import { FakeController } from "./fake_controller.ts";

const pendingAnswer = (id: string) => ({
  status: "error",
  ename: "IndexError",
  evalue: `msg pending: '${id}'`,
  traceback: [],
});

Deno.test("purgeHubResults asks again while the Hub has not recorded a finished result", async () => {
  await using fake = await FakeController.start();
  await using client = await Client.connect({ urlFile: fake.file, timeout: 5000 });
  const before = fake.counts.get("registration")!;
  fake.answers.purge_request = pendingAnswer("done-here");
  const purging = client.purgeHubResults(["done-here"]);
  await fake.waitFor("registration", before + 2); // refused twice
  fake.answers.purge_request = { status: "ok" }; // the Hub caught up
  await purging;
});

Deno.test("purgeHubResults throws at once for a task outstanding here", async () => {
  await using fake = await FakeController.start();
  await using client = await Client.connect({ urlFile: fake.file, timeout: 5000 });
  const ar = client.engine(0).apply(() => 1); // the fake never answers it
  const settled = ar.then(() => {}, () => {}); // failed when the client closes
  const id = ar.msgIds[0];
  const before = fake.counts.get("registration")!;
  fake.answers.purge_request = pendingAnswer(id);
  await assert.rejects(client.purgeHubResults([id]), (e: unknown) => {
    assert.ok(e instanceof RemoteError);
    assert.match(e.message, /msg pending/);
    return true;
  });
  assert.equal(fake.counts.get("registration")! - before, 1, "asked once");
  await client.close();
  await settled;
});
