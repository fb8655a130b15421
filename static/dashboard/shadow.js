/* Shadow mode, pure part: what a draft card says, which verdicts it offers, merging drafts that
 * arrive by API and by socket, and the KB page's figures. No DOM, no imports: unit-tested with
 * `node --test` (test/shadow.test.js). The DOM side is views/shadow.js. */

export const FEEDBACK = [
  { value: "up", label: "👍", name: "Good draft" },
  { value: "down", label: "👎", name: "Bad draft" },
  { value: "should_handoff", label: "Should have handed off", name: "Should have handed off" },
];

/** The verdicts a draft offers: a draft that hands off cannot also "miss" a handoff. */
export function feedbackOptions(d) {
  return FEEDBACK.filter((f) => !(d && d.action === "handoff" && f.value === "should_handoff"));
}

/** The card's headline: what the bot would have done. */
export function draftHeadline(d) {
  if (d && d.action === "handoff") return `Bot (shadow) would hand off: ${d.reason_text || d.reason || "no reason given"}`;
  return "Bot (shadow) would answer:";
}

/** "Sources: A; B" (titles), or "" without sources. */
export function sourcesLine(d) {
  const titles = ((d && Array.isArray(d.sources)) ? d.sources : []).map((s) => s && (s.title || s.slug)).filter(Boolean);
  return titles.length ? `Sources: ${titles.join("; ")}` : "";
}

/** The words for the chosen verdict ("" when none). */
export function feedbackLabel(value) {
  const f = FEEDBACK.find((x) => x.value === value);
  return f ? `Your team said: ${f.name}` : "";
}

/**
 * Keeps the newest state of each draft in `byMessage` (message id → draft): a rating that comes
 * later (by API or socket, in either order) replaces an older one, never the other way round.
 * Returns true when `d` changed what is stored.
 */
export function upsertDraft(byMessage, d) {
  if (!d || !d.id || !d.message_id) return false;
  const cur = byMessage.get(d.message_id);
  if (cur && stamp(cur) > stamp(d)) return false;
  if (cur && stamp(cur) === stamp(d) && cur.feedback === d.feedback) return false;
  byMessage.set(d.message_id, d);
  return true;
}
const stamp = (d) => (d.feedback_at ? Date.parse(d.feedback_at) || 0 : 0);

/** "62 %", or "—" while nothing is there to divide. */
export function pct(x) {
  return typeof x === "number" && Number.isFinite(x) ? `${Math.round(x * 100)} %` : "—";
}

/** The KB page's figures as [label, value, hint] rows. */
export function statsRows(s) {
  const n = (v) => (typeof v === "number" ? String(v) : "0");
  return [
    ["Drafts", n(s.drafts), `customer messages the bot saw in the last ${s.days || 30} days`],
    ["Would answer", pct(s.would_answer_rate), `${n(s.would_answer)} of ${n(s.drafts)} drafts answer instead of handing off`],
    ["Rated by agents", n(s.rated), `${n(s.up)} 👍 · ${n(s.down)} 👎 · ${n(s.should_handoff)} should have handed off`],
    ["Agreement", pct(s.agreement), "👍 among rated drafts"],
    ["Handoff precision", pct(s.handoff_precision), `👍 among ${n(s.handoff_rated)} rated handoffs`],
    ["Handoff recall", pct(s.handoff_recall), "good handoffs among all the handoffs agents wanted"],
  ];
}
