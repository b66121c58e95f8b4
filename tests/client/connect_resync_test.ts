/**
 * An engine that registers between the client's `connection_reply` and its subscription
 * reaching the controller is announced to nobody (PUB/SUB drops it). The scripted controller
 * makes that window certain: its second `connection_reply` lists an engine the first did not,
 * and no notification is ever sent for it. The client must still see it.
 */

import assert from "node:assert/strict";
import { Client } from "../../mod.ts";
import { FakeController } from "./fake_controller.ts";

Deno.test("Client.connect asks again once subscribed and sees an engine whose notification it missed", async () => {
  await using fake = await FakeController.start();
  fake.engines = { "0": "engine-0-uuid" };
  fake.onConnectionReply = (count) => {
    // The engine registers right after the first reply; its notification goes unseen.
    if (count === 1) fake.engines = { ...fake.engines, "1": "engine-1-uuid" };
  };
  await using client = await Client.connect({ urlFile: fake.file, timeout: 5000 });
  assert.deepEqual(client.ids, [0, 1]);
});
