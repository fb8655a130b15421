/* Shadow mode in the dashboard: the bot's draft under the customer message it answers, with the
 * agents' verdict (👍 / 👎 / "Should have handed off"), live over the `bot_draft` frame; and the
 * figures card of the knowledge-base page. Model text is only ever set as text. Pure logic:
 * ../shadow.js. API: GET /conversations/{id}/bot-drafts, POST /bot-drafts/{id}/feedback,
 * GET /kb/shadow-stats?inbox_id= */
import { api } from "../api.js";
import { draftHeadline, feedbackLabel, feedbackOptions, sourcesLine, statsRows, upsertDraft } from "../shadow.js";
import { S } from "../state.js";
import { $, clear, enc, fail, h, uid } from "../util.js";
import { renderMessages } from "./messages.js";

/** Loads the drafts of the open conversation `c` (after its messages). */
export async function loadDrafts(c) {
  if (!c.drafts) c.drafts = new Map();
  let r;
  try { r = await api(`/conversations/${enc(c.id)}/bot-drafts`); } catch (e) {
    if (e.status !== 404) console.warn("switchboard: drafts", e.message);
    return;
  }
  if (S.conv !== c) return;
  let changed = false;
  for (const d of (r && r.drafts) || []) changed = upsertDraft(c.drafts, d) || changed;
  if (changed) renderMessages();
}

/** A `bot_draft` frame: a new draft or a new verdict, for the open conversation. */
export function onBotDraft(f) {
  const d = f && f.draft;
  const c = S.conv;
  if (!d || !c || c.id !== d.conversation_id) return;
  if (!c.drafts) c.drafts = new Map();
  if (upsertDraft(c.drafts, d)) renderMessages();
}

/** Puts (or refreshes, or removes) the draft card of customer message `m` inside its `li`. */
export function patchDraft(li, m, c) {
  const d = m && m.sender_type === "customer" && m.id && c.drafts ? c.drafts.get(m.id) : null;
  const cur = li._draftCard;
  if (!d) {
    if (cur) { cur.remove(); li._draftCard = null; }
    return;
  }
  const sig = [d.id, d.feedback, d.feedback_at, c.draftBusy === d.id].join("|");
  if (cur && cur._sig === sig) return;
  const card = buildCard(d, c);
  card._sig = sig;
  if (cur) cur.replaceWith(card); else li.append(card);
  li._draftCard = card;
}

function buildCard(d, c) {
  const handoff = d.action === "handoff";
  const headId = uid("draft");
  const busy = c.draftBusy === d.id;
  const buttons = feedbackOptions(d).map((f) => h("button", {
    type: "button", class: `btn btn--small draft-card__fb${d.feedback === f.value ? " is-chosen" : ""}`,
    "aria-pressed": String(d.feedback === f.value), "aria-label": f.name, title: f.name, disabled: busy,
    dataset: { testid: `draft-fb-${f.value}` }, text: f.label, onclick: () => sendFeedback(c, d, f.value),
  }));
  const src = sourcesLine(d);
  return h("section", { class: `draft-card${handoff ? " draft-card--handoff" : ""}`, "aria-labelledby": headId,
    dataset: { testid: "bot-draft", action: d.action, feedback: d.feedback || "none", id: d.id } },
  h("p", { class: "draft-card__head", id: headId, dataset: { testid: "draft-headline" }, text: draftHeadline(d) }),
  handoff ? null : h("div", { class: "draft-card__text", dataset: { testid: "draft-text" }, text: d.text || "" }),
  src ? h("p", { class: "draft-card__sources", dataset: { testid: "draft-sources" }, text: src }) : null,
  h("div", { class: "draft-card__actions", role: "group", "aria-label": "Rate this draft" }, buttons),
  h("p", { class: "draft-card__verdict", "aria-live": "polite", dataset: { testid: "draft-feedback" }, text: feedbackLabel(d.feedback) }));
}

async function sendFeedback(c, d, value) {
  if (c.draftBusy) return;
  c.draftBusy = d.id;
  renderMessages();
  try {
    const r = await api(`/bot-drafts/${enc(d.id)}/feedback`, { method: "POST", body: { feedback: value } });
    if (r && r.draft && c.drafts) upsertDraft(c.drafts, r.draft);
  } catch (e) { fail(e); } finally {
    c.draftBusy = null;
    if (S.conv === c) {
      renderMessages();
      const btn = c.dom && $(`[data-testid=bot-draft][data-id="${d.id}"] [data-testid=draft-fb-${value}]`, c.dom.list);
      if (btn) btn.focus();
    }
  }
}

/** The knowledge-base page's card: how the bot did in shadow on real traffic (30 days). */
export function shadowStatsCard() {
  const body = h("div", { class: "shadow-stats__body", "aria-live": "polite", dataset: { testid: "shadow-stats" } },
    h("p", { class: "muted", text: "Loading…" }));
  const pick = h("select", { class: "input", id: uid("ss"), dataset: { testid: "shadow-stats-inbox" } }, h("option", { value: "", text: "All inboxes" }));
  const load = async () => {
    body.setAttribute("aria-busy", "true");
    let s = null, err = null;
    try { s = ((await api(`/kb/shadow-stats${pick.value ? `?inbox_id=${enc(pick.value)}` : ""}`)) || {}).stats; } catch (e) { err = e; }
    body.removeAttribute("aria-busy");
    if (!body.isConnected && !card.isConnected) return;
    clear(body);
    if (err || !s) { body.append(h("p", { class: "form-error", text: `Could not load the figures: ${err ? err.message : "no data"}` })); return; }
    body.dataset.drafts = String(s.drafts || 0);
    body.dataset.rated = String(s.rated || 0);
    if (!s.drafts) {
      body.append(h("p", { class: "muted", dataset: { testid: "shadow-stats-empty" }, text: "No drafts yet. Set an inbox's bot to “Shadow” (Admin → Inboxes): the bot drafts on real conversations, sends nothing, and your team rates its drafts." }));
      return;
    }
    body.append(h("dl", { class: "shadow-stats__grid" }, statsRows(s).map(([label, value, hint]) =>
      h("div", { class: "shadow-stats__item", dataset: { testid: "shadow-stat", label } },
        h("dt", { text: label }), h("dd", {}, h("strong", { class: "shadow-stats__value", text: value }), h("span", { class: "hint", text: hint }))))));
  };
  pick.addEventListener("change", load);
  const card = h("section", { class: "card shadow-stats", "aria-labelledby": `${pick.id}-h` },
    h("h2", { class: "card__title", id: `${pick.id}-h`, text: "Bot in shadow: the evidence" }),
    h("p", { class: "muted", text: "From real conversations of the last 30 days in shadow mode: what the bot would have done, and what agents said of it." }),
    h("div", { class: "row" }, h("label", { for: pick.id, class: "sr-only", text: "Inbox" }), pick,
      h("button", { type: "button", class: "btn btn--ghost", dataset: { testid: "shadow-stats-refresh" }, text: "Refresh", onclick: load })),
    body);
  api("/inboxes").then((r) => {
    for (const ib of (r && r.inboxes) || []) pick.append(h("option", { value: ib.id, text: `${ib.name}${ib.bot_mode === "shadow" ? " (shadow)" : ""}` }));
  }).catch(() => {});
  load();
  return card;
}
