// node --test static/dashboard/ — how server data merges into the store (store.js).
import { test } from "node:test";
import assert from "node:assert/strict";
import { activity, addMessage, applyMessage, filterFrom, inFilter, listable, maxSeq, mergeSummary, minSeq, newStore, tms } from "../store.js";

test("a saved filter is validated; unknown values fall back to all/open", () => {
  assert.deepEqual(filterFrom({ view: "mine", status: "snoozed" }), { view: "mine", status: "snoozed" });
  assert.deepEqual(filterFrom({ view: "everything", status: "<img>" }), { view: "all", status: "open" });
  assert.deepEqual(filterFrom(null), { view: "all", status: "open" });
  const S = newStore({ filter: { view: "unassigned" }, myPresence: "busy", notify: true, contactPanel: false });
  assert.deepEqual(S.filter, { view: "unassigned", status: "open" });
  assert.equal(S.myPresence, "online");
  assert.equal(S.notify, true);
  assert.equal(S.contactPanel, false);
  assert.equal(newStore().contactPanel, true);
});

test("merging a summary keeps the known object (views hold it) and updates its fields", () => {
  const sums = new Map();
  const first = mergeSummary(sums, { id: "c1", status: "open", unread: 2 });
  const again = mergeSummary(sums, { id: "c1", status: "resolved" });
  assert.equal(again, first);
  assert.deepEqual(first, { id: "c1", status: "resolved", unread: 2 });
  assert.equal(mergeSummary(sums, { status: "open" }), null);
  assert.equal(mergeSummary(sums, null), null);
  assert.equal(sums.size, 1);
});

test("the filter: status first, then mine / unassigned / all", () => {
  const s = { status: "open", assignee_id: "me" };
  assert.equal(inFilter(s, { view: "all", status: "open" }, "me"), true);
  assert.equal(inFilter(s, { view: "mine", status: "open" }, "me"), true);
  assert.equal(inFilter(s, { view: "mine", status: "open" }, "you"), false);
  assert.equal(inFilter(s, { view: "unassigned", status: "open" }, "me"), false);
  assert.equal(inFilter({ status: "open" }, { view: "unassigned", status: "open" }, "me"), true);
  assert.equal(inFilter(s, { view: "all", status: "pending" }, "me"), false);
  assert.equal(inFilter(null, { view: "all", status: "open" }, "me"), false);
});

test("listable and activity", () => {
  assert.equal(listable({}), false);
  assert.equal(listable({ last_seq: 1 }), true);
  assert.equal(listable({ last_message: { seq: 1 } }), true);
  assert.equal(activity({ created_at: "2026-01-01T00:00:00Z" }), tms("2026-01-01T00:00:00Z"));
  assert.equal(activity({ created_at: "2026-01-01T00:00:00Z", last_message_at: "2026-02-01T00:00:00Z" }), tms("2026-02-01T00:00:00Z"));
  assert.equal(tms("garbage"), 0);
});

const msg = (seq, extra = {}) => ({ seq, body: `m${seq}`, sender_type: "customer", sender_id: null, private: false,
  created_at: `2026-12-04T10:00:0${seq}Z`, ...extra });

test("a customer message bumps unread, sets waiting_since and asks for a recount of a new conversation", () => {
  const s = { id: "c", status: "open", last_seq: 0 };
  assert.deepEqual(applyMessage(s, msg(1)), { recount: true });
  assert.equal(s.unread, 1);
  assert.equal(s.last_seq, 1);
  assert.equal(s.waiting_since, "2026-12-04T10:00:01Z");
  assert.equal(s.last_message.body, "m1");
  assert.deepEqual(applyMessage(s, msg(2), { read: true }), { recount: false });
  assert.equal(s.unread, 1, "read while the agent looks at it");
  assert.equal(s.waiting_since, "2026-12-04T10:00:01Z", "waiting since the first unanswered message");
});

test("an old or repeated message changes nothing", () => {
  const s = { id: "c", status: "open" };
  applyMessage(s, msg(3));
  const before = JSON.stringify(s);
  assert.equal(applyMessage(s, msg(3)), null);
  assert.equal(applyMessage(s, msg(2)), null);
  assert.equal(JSON.stringify(s), before);
});

test("a public agent reply clears waiting_since; a private note or system message does not", () => {
  const s = { id: "c", status: "open" };
  applyMessage(s, msg(1));
  applyMessage(s, msg(2, { sender_type: "agent", private: true }));
  assert.equal(s.waiting_since, "2026-12-04T10:00:01Z");
  applyMessage(s, msg(3, { sender_type: "system" }));
  assert.equal(s.waiting_since, "2026-12-04T10:00:01Z");
  applyMessage(s, msg(4, { sender_type: "agent" }));
  assert.equal(s.waiting_since, null);
});

test("a customer writing into a resolved or snoozed conversation changes the counts", () => {
  for (const status of ["resolved", "snoozed"]) {
    const s = { id: "c", status, last_seq: 4, last_message: { seq: 4 } };
    assert.deepEqual(applyMessage(s, msg(5)), { recount: true }, status);
  }
});

test("messages of the open conversation: seq order, a real message replaces its synthetic copy", () => {
  const c = { msgs: new Map(), sub: "live", resume: 0 };
  assert.equal(minSeq(c), 0);
  assert.deepEqual(addMessage(c, msg(2)), { isNew: true });
  assert.equal(addMessage(c, msg(2)), null, "a duplicate");
  assert.deepEqual(addMessage(c, msg(5, { _synthetic: true })), { isNew: true });
  assert.equal(c.resume, 2, "a synthetic message (from an ack) does not move the resume cursor");
  assert.deepEqual(addMessage(c, msg(5, { id: "real" })), { isNew: false });
  assert.equal(c.msgs.get(5).id, "real");
  assert.equal(c.msgs.get(5)._synthetic, false);
  assert.equal(c.resume, 5);
  assert.equal(maxSeq(c), 5);
  assert.equal(minSeq(c), 2);
  const off = { msgs: new Map(), sub: "none", resume: 0 };
  addMessage(off, msg(9));
  assert.equal(off.resume, 0, "not subscribed: the cursor stays");
});
