// node --test static/dashboard/ — shadow-mode drafts and figures (shadow.js).
import { test } from "node:test";
import assert from "node:assert/strict";
import { draftHeadline, feedbackLabel, feedbackOptions, pct, sourcesLine, statsRows, upsertDraft } from "../shadow.js";

const answer = { id: "d1", message_id: "m1", action: "answer", text: "Reset it under Settings.", sources: [{ slug: "kb-01", title: "Reset your password" }], feedback: "none", feedback_at: null };
const handoff = { id: "d2", message_id: "m2", action: "handoff", reason: "human_requested", reason_text: "the customer asked for a person", sources: [], feedback: "none", feedback_at: null };

test("the card says what the bot would have done", () => {
  assert.equal(draftHeadline(answer), "Bot (shadow) would answer:");
  assert.equal(draftHeadline(handoff), "Bot (shadow) would hand off: the customer asked for a person");
  assert.equal(draftHeadline({ action: "handoff", reason: "not_confident" }), "Bot (shadow) would hand off: not_confident");
  assert.equal(sourcesLine(answer), "Sources: Reset your password");
  assert.equal(sourcesLine(handoff), "");
  assert.equal(sourcesLine({ sources: [{ slug: "a" }, { title: "B" }, null] }), "Sources: a; B");
});

test("a handoff draft offers no 'should have handed off'", () => {
  assert.deepEqual(feedbackOptions(answer).map((f) => f.value), ["up", "down", "should_handoff"]);
  assert.deepEqual(feedbackOptions(handoff).map((f) => f.value), ["up", "down"]);
  assert.equal(feedbackLabel("should_handoff"), "Your team said: Should have handed off");
  assert.equal(feedbackLabel("none"), "");
});

test("the newest rating wins whatever order it arrives in", () => {
  const m = new Map();
  assert.equal(upsertDraft(m, answer), true);
  assert.equal(upsertDraft(m, answer), false, "the same state twice");
  const up = { ...answer, feedback: "up", feedback_at: "2026-12-04T10:00:00Z" };
  const later = { ...answer, feedback: "should_handoff", feedback_at: "2026-12-04T10:00:05Z" };
  assert.equal(upsertDraft(m, later), true);
  assert.equal(upsertDraft(m, up), false, "an older rating arriving late is ignored");
  assert.equal(upsertDraft(m, answer), false, "so is the unrated draft");
  assert.equal(m.get("m1").feedback, "should_handoff");
  assert.equal(upsertDraft(m, { id: "x" }), false, "no message id");
});

test("figures read as percentages, and as a dash with nothing to divide", () => {
  assert.equal(pct(0.625), "63 %");
  assert.equal(pct(1), "100 %");
  assert.equal(pct(null), "—");
  assert.equal(pct(undefined), "—");
  const rows = statsRows({ days: 30, drafts: 8, would_answer: 5, would_answer_rate: 0.625, rated: 6, up: 3, down: 2, should_handoff: 1,
    agreement: 0.5, handoff_rated: 2, handoff_precision: 0.5, handoff_recall: null });
  assert.deepEqual(rows.map((r) => r[0]), ["Drafts", "Would answer", "Rated by agents", "Agreement", "Handoff precision", "Handoff recall"]);
  assert.deepEqual(rows.map((r) => r[1]), ["8", "63 %", "6", "50 %", "50 %", "—"]);
});
