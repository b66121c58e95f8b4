/** The typed message unions of src/protocol/messages.ts, used through a Session. */
import assert from "node:assert/strict";
import {
  type ApplyReplyContent,
  type ErrorContent,
  isAbortedContent,
  isErrorContent,
  isHeader,
  isMessageType,
  type KnownMessage,
  type Message,
  PROTOCOL_VERSION,
  type ReplyMetadata,
  replyTypeFor,
  type TaskRecord,
  type TaskSubmitMetadata,
} from "../../src/protocol/messages.ts";
import { Session } from "../../src/protocol/session.ts";

const ERROR: ErrorContent = {
  status: "error",
  ename: "ZeroDivisionError",
  evalue: "division by zero",
  traceback: ["line 1"],
  engine_info: {
    engine_uuid: "df465556-660eee72044abd41f0d3737a",
    engine_id: -1,
    method: "execute",
  },
};

Deno.test("isErrorContent() recognises §6.4 error dicts and nothing else", () => {
  assert.equal(isErrorContent(ERROR), true);
  assert.equal(isErrorContent({ ...ERROR, engine_info: {} }), true);
  for (
    const c of [{ status: "ok" }, { status: "aborted" }, { status: "error" }, null, "error", []]
  ) {
    assert.equal(isErrorContent(c), false, JSON.stringify(c));
  }
});

Deno.test("isAbortedContent() recognises aborted replies only", () => {
  assert.equal(isAbortedContent({ status: "aborted" }), true);
  assert.equal(isAbortedContent({ status: "ok" }), false);
  assert.equal(isAbortedContent(undefined), false);
});

Deno.test("isHeader() tells a real parent header from {}", () => {
  const s = new Session();
  assert.equal(isHeader(s.header("x")), true);
  assert.equal(isHeader({}), false);
  assert.equal(isHeader(null), false);
});

Deno.test("replyTypeFor() maps _request to _reply as Python engines do", () => {
  assert.equal(replyTypeFor("apply_request"), "apply_reply");
  assert.equal(replyTypeFor("kernel_info_request"), "kernel_info_reply");
  assert.equal(replyTypeFor("signal_request"), "signal_reply");
  assert.equal(replyTypeFor("ping"), "ping_reply");
  assert.equal(PROTOCOL_VERSION, "5.3");
});

Deno.test("isMessageType() narrows an unpacked message to its content type", () => {
  const engine = new Session({ key: "k" });
  const client = new Session({ key: "k" });
  const request = engine.unpack(client.pack(client.msg("apply_request")));
  const metadata: ReplyMetadata = {
    started: "2026-11-29T12:06:35.433721Z",
    dependencies_met: true,
    engine: engine.session,
    is_broadcast: false,
    is_coalescing: false,
    original_msg_id: "",
    status: "error",
    engine_info: { engine_uuid: engine.session, engine_id: 0 },
  };
  const frames = engine.pack(engine.reply(request, { content: ERROR, metadata }));
  const msg: Message = client.unpack(frames);
  assert.ok(isMessageType(msg, "apply_reply"));
  // Typed access after narrowing: content is ApplyReplyContent.
  const content: ApplyReplyContent = msg.content;
  assert.ok(isErrorContent(content));
  assert.equal(content.ename, "ZeroDivisionError");
  assert.equal(isMessageType(msg, "execute_reply"), false);
});

Deno.test("a KnownMessage union switches on msgType", () => {
  const s = new Session();
  const describe = (m: KnownMessage): string => {
    switch (m.msgType) {
      case "stream":
        return `${m.content.name}: ${m.content.text}`;
      case "status":
        return m.content.execution_state;
      case "registration_notification":
        return `engine ${m.content.id} = ${m.content.uuid}`;
      default:
        return m.msgType;
    }
  };
  assert.equal(
    describe(s.msg("stream", { content: { name: "stdout", text: "hi" } })),
    "stdout: hi",
  );
  assert.equal(describe(s.msg("status", { content: { execution_state: "idle" } })), "idle");
  assert.equal(
    describe(s.msg("registration_notification", { content: { id: 1, uuid: "u" } })),
    "engine 1 = u",
  );
  assert.equal(describe(s.msg("clear_request")), "clear_request");
});

Deno.test("typed metadata and records round trip through pack and unpack unchanged", () => {
  const s = new Session({ key: "k" });
  const submit: TaskSubmitMetadata = {
    after: { dependencies: ["a_1_0"], all: true, success: true, failure: false },
    follow: [],
    timeout: null,
    targets: [],
    retries: 1,
  };
  const header = s.header("execute_request");
  const record: Omit<TaskRecord, "buffers" | "result_buffers"> = {
    msg_id: header.msg_id,
    header,
    metadata: {},
    content: { code: "3", silent: false },
    submitted: header.date,
    client_uuid: s.session,
    engine_uuid: "e",
    queue: "mux",
    started: null,
    completed: null,
    received: null,
    resubmitted: null,
    result_header: null,
    result_metadata: null,
    result_content: null,
    execute_input: "3",
    execute_result: { data: { "text/plain": "3" }, metadata: {}, execution_count: 1 },
    error: null,
    stdout: "",
    stderr: "",
  };
  const request = s.msg("apply_request", { metadata: submit });
  const reply = s.msg("db_reply", {
    content: { status: "ok", records: [record], buffer_lens: null, result_buffer_lens: null },
  });
  const r = new Session({ key: "k" });
  assert.deepEqual(r.unpack(s.pack(request)).metadata, submit);
  assert.deepEqual(r.unpack(s.pack(reply)).content, reply.content);
});
