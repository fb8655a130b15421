// node --test static/dashboard/ — the outbox's pure rules (outbox.js).
import { test } from "node:test";
import assert from "node:assert/strict";
import { MAX_TRIES, ackedMessage, newSend, pending, persisted, restore, sendFailed, sendFrame } from "../outbox.js";

const when = new Date("2026-12-04T10:00:00Z");

test("a new send is queued, private only when asked, and becomes an idempotent send frame", () => {
  const o = newSend("m-1", "c-1", "Hello", 0, when);
  assert.deepEqual(o, { cmid: "m-1", convId: "c-1", body: "Hello", private: false, status: "queued", error: null,
    createdAt: "2026-12-04T10:00:00.000Z", tries: 0 });
  assert.equal(newSend("m-2", "c-1", "note", "yes", when).private, true);
  assert.deepEqual(sendFrame(o), { type: "send", conversation_id: "c-1", client_msg_id: "m-1", body: "Hello", private: false });
});

test("persisting stores in-flight items as queued, keeps failed ones, and an empty outbox as null", () => {
  const box = new Map();
  assert.equal(persisted(box), null);
  const a = { ...newSend("a", "c", "one", false, when), status: "sending" };
  const b = { ...newSend("b", "c", "two", false, when), status: "retrying" };
  const c = { ...newSend("c", "c", "three", false, when), status: "failed", error: "Too long" };
  for (const o of [a, b, c]) box.set(o.cmid, o);
  const saved = JSON.parse(persisted(box));
  assert.deepEqual(saved.map((o) => [o.cmid, o.status]), [["a", "queued"], ["b", "queued"], ["c", "failed"]]);
  assert.equal(a.status, "sending", "the live items are not changed");
});

test("restore round-trips and skips malformed or hostile input", () => {
  const box = new Map([["a", newSend("a", "c", "one", false, when)]]);
  const back = restore(new Map(), persisted(box));
  assert.deepEqual([...back.values()], [...box.values()]);
  for (const junk of [null, "", "not json", "{}", "42", '[null, 1, {"cmid": "x"}, {"convId": "y"}]']) {
    assert.equal(restore(new Map(), junk).size, 0, String(junk));
  }
});

test("pending is every item but the failed ones, in order", () => {
  const box = new Map();
  for (const [id, st] of [["a", "queued"], ["b", "failed"], ["c", "sending"], ["d", "retrying"]]) {
    box.set(id, { ...newSend(id, "c", id, false, when), status: st });
  }
  assert.deepEqual(pending(box).map((o) => o.cmid), ["a", "c", "d"]);
});

test("an ack stands for the agent's message, marked synthetic until the real frame", () => {
  const o = newSend("m-1", "c-1", "Hi", true, when);
  const m = ackedMessage(o, { type: "ack", client_msg_id: "m-1", id: "msg-9", seq: 7 }, "agent-1");
  assert.deepEqual(m, { id: "msg-9", conversation_id: "c-1", seq: 7, client_msg_id: "m-1", sender_type: "agent",
    sender_id: "agent-1", private: true, body: "Hi", created_at: "2026-12-04T10:00:00.000Z", _synthetic: true });
  assert.equal(ackedMessage(o, { id: "x", seq: 1, conversation_id: "c-2" }, "a").conversation_id, "c-2");
});

test("retryable errors back off (or wait Retry-After) until MAX_TRIES, then fail", () => {
  const o = newSend("m", "c", "x", false, when);
  const waits = [];
  for (;;) {
    const w = sendFailed(o, { retryable: true, message: "Slow down" });
    if (w == null) break;
    assert.equal(o.status, "retrying");
    assert.equal(o.error, "Slow down");
    waits.push(w);
  }
  assert.deepEqual(waits, [2000, 4000, 8000, 15000, 15000]);
  assert.equal(waits.length, MAX_TRIES - 1);
  assert.equal(o.status, "failed");
  assert.equal(o.tries, MAX_TRIES);

  const r = newSend("r", "c", "x", false, when);
  assert.equal(sendFailed(r, { retryable: true, retry_after: 3 }), 3000);
});

test("a non-retryable error fails at once, with a default message", () => {
  const o = newSend("m", "c", "x", false, when);
  assert.equal(sendFailed(o, { retryable: false }), null);
  assert.equal(o.status, "failed");
  assert.equal(o.error, "Not sent");
});
