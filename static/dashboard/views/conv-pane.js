/* The open conversation's pane: header (assign, status, snooze), contact panel. */
import { api } from "../api.js";
import { fetchSummary } from "../live.js";
import { PRES_GLYPH } from "../presence.js";
import { S, agentName, dom, presenceOf, storeSummary } from "../state.js";
import { STATUSES } from "../store.js";
import { $, LS, ME, STATUS_LABELS, announce, clear, clock, contactName, enc, fail, fullTime, h, hue, initial, lsSet, relTime, safeHttpUrl, toast, uid } from "../util.js";
import { stopSuggest, suggestReply, summarize } from "./assist.js";
import { autosize, closeCanned, onComposerInput, onComposerKey, setNoteMode, submitComposer } from "./composer.js";
import { loadOlder } from "./conversation.js";
import { botChip, inboxHash, placeInList, scheduleCounts } from "./list.js";

// ── conversation pane DOM ──
export function renderEmptyConvPane() {
  if (!dom.convPane) return;
  clear(dom.convPane).append(h("div", { class: "placeholder" },
    h("p", { class: "placeholder__title", text: "No conversation selected" }),
    h("p", { text: "Pick a conversation from the list. Shortcuts: j / k next / previous, c focus the reply box, Esc closes popups." })));
  clear(dom.contactPane);
  dom.layout.classList.remove("show-contact-sm");
}

export function showConvError(c, msg) {
  if (!c.dom) return;
  $(".conv-loading", c.dom.pane)?.remove();
  clear(c.dom.body).append(h("div", { class: "placeholder" }, h("p", { class: "placeholder__title", text: msg }),
    h("a", { href: inboxHash(), class: "btn btn--ghost", text: "Back to the inbox" })));
}

export function buildConvPane(c) {
  const d = {};
  c.dom = d;
  const titleId = uid("convtitle");
  d.title = h("h2", { class: "conv-head__name", id: titleId, tabindex: "-1", text: "Loading…" });
  d.subText = h("span");
  d.bot = h("span", { class: "conv-head__bot" });
  d.sub = h("p", { class: "conv-head__sub" }, d.subText, d.bot);
  d.assign = h("select", { class: "select", id: uid("assign"), dataset: { testid: "assign" }, onchange: () => assignTo(d.assign.value || null) });
  d.assignMe = h("button", { type: "button", class: "btn btn--ghost assign-me", text: "Assign to me", onclick: () => assignTo(ME.id) });
  d.status = h("select", { class: "select", id: uid("status"), dataset: { testid: "status-select" }, onchange: onStatusSelect },
    STATUSES.map((st) => h("option", { value: st, text: STATUS_LABELS[st] })));
  d.resolve = h("button", { type: "button", class: "btn btn--primary", dataset: { testid: "resolve" }, text: "Resolve", onclick: () => setStatus("resolved") });
  d.reopen = h("button", { type: "button", class: "btn btn--primary", dataset: { testid: "reopen" }, text: "Reopen", hidden: true, onclick: () => setStatus("open") });
  d.pending = h("button", { type: "button", class: "btn btn--ghost", dataset: { testid: "pending" }, text: "Mark pending", onclick: () => setStatus("pending") });
  d.snooze = h("button", { type: "button", class: "btn btn--ghost", dataset: { testid: "snooze" }, "aria-haspopup": "dialog", "aria-expanded": "false", text: "Snooze…", onclick: () => openSnooze(d.snooze) });
  d.summarize = h("button", { type: "button", class: "btn btn--ghost", dataset: { testid: "summarize" }, text: "Summarize",
    title: "Summarize this conversation for a quick catch-up", onclick: () => summarize() });
  d.contactBtn = h("button", { type: "button", class: "btn btn--ghost contact-toggle", "aria-controls": "pane-contact", "aria-expanded": "false", text: "Contact", onclick: toggleContact });
  const head = h("header", { class: "conv-head" },
    h("a", { class: "btn btn--ghost back", href: inboxHash(), "aria-label": "Back to conversations", text: "‹ Back" }),
    h("div", { class: "conv-head__title" }, d.title, d.sub),
    d.contactBtn,
    h("div", { class: "conv-head__actions" },
      h("label", { class: "sr-only", for: d.assign.id, text: "Assignee" }), d.assign, d.assignMe,
      h("label", { class: "sr-only", for: d.status.id, text: "Status" }), d.status,
      d.resolve, d.reopen, d.pending, d.snooze, d.summarize));

  d.older = h("button", { type: "button", class: "btn btn--ghost btn--small load-older", hidden: true, text: "Load older messages", onclick: loadOlder });
  d.list = h("ol", { class: "msgs", dataset: { testid: "messages" }, "aria-label": "Messages" });
  d.scroller = h("div", { class: "msgs-scroll", tabindex: "0", role: "region", "aria-labelledby": titleId }, d.older, d.list);
  d.scroller.addEventListener("scroll", () => {
    if (d.scroller.scrollTop < 60 && c.hasMore && !c.loadingOlder) loadOlder();
    if (d.scroller.scrollHeight - d.scroller.scrollTop - d.scroller.clientHeight < 80) d.jump.hidden = true;
  }, { passive: true });
  d.jump = h("button", { type: "button", class: "btn btn--primary btn--small jump", hidden: true, text: "New messages ↓",
    onclick: () => { d.scroller.scrollTop = d.scroller.scrollHeight; d.jump.hidden = true; } });
  d.typingSlot = h("div", { class: "typing-slot", "aria-hidden": "false" });

  // Composer
  const taId = uid("composer");
  d.canned = h("ul", { class: "canned", id: uid("canned"), role: "listbox", "aria-label": "Canned responses", hidden: true, dataset: { testid: "canned-popup" } });
  d.composer = h("textarea", {
    id: taId, class: "composer__input", rows: "2", dataset: { testid: "composer" },
    placeholder: "Reply… (Enter to send, Shift+Enter for a new line, / for canned responses)",
    "aria-autocomplete": "list", "aria-controls": d.canned.id, "aria-describedby": `${taId}-mode`,
  });
  d.composer.value = S.drafts.get(c.id) || "";
  d.composer.addEventListener("keydown", onComposerKey);
  d.composer.addEventListener("input", onComposerInput);
  d.composer.addEventListener("blur", () => setTimeout(() => { if (document.activeElement !== d.composer) closeCanned(); }, 150));
  d.modeLabel = h("span", { class: "composer__mode", id: `${taId}-mode`, text: "Reply to the customer" });
  d.noteToggle = h("button", { type: "button", class: "btn btn--ghost note-toggle", dataset: { testid: "note-toggle" }, "aria-pressed": "false", text: "Private note",
    onclick: () => setNoteMode(c, !c.note) });
  d.sendBtn = h("button", { type: "submit", class: "btn btn--primary", dataset: { testid: "send" }, text: "Send" });
  d.suggestBtn = h("button", { type: "button", class: "btn btn--ghost suggest-btn", dataset: { testid: "suggest-reply" },
    title: "Draft a reply from the knowledge base into the reply box (you review it before sending)", onclick: () => suggestReply() },
  h("span", { class: "suggest-btn__icon", "aria-hidden": "true", text: "✦" }), h("span", { class: "suggest-btn__label", text: "Suggest reply" }));
  d.stopBtn = h("button", { type: "button", class: "btn btn--ghost", dataset: { testid: "suggest-stop" }, hidden: true, text: "Stop",
    "aria-label": "Stop the suggestion", onclick: () => stopSuggest(c) });
  d.aiInfo = h("div", { class: "composer__ai", role: "status" });
  d.form = h("form", { class: "composer", onsubmit: (e) => { e.preventDefault(); submitComposer(); } },
    d.canned,
    h("div", { class: "composer__top" }, h("label", { for: taId, class: "composer__label" }, d.modeLabel)),
    d.composer,
    d.aiInfo,
    h("div", { class: "composer__bar" }, d.noteToggle, d.suggestBtn, d.stopBtn,
      h("span", { class: "composer__hint", text: "Enter sends · Shift+Enter new line · / canned" }), d.sendBtn));

  d.summarySlot = h("div", { class: "summary-slot" });
  d.body = h("div", { class: "conv-body" }, d.summarySlot, d.scroller, d.jump, d.typingSlot, d.form);
  d.pane = dom.convPane;
  clear(d.pane).append(head, h("p", { class: "conv-loading", text: "Loading conversation…" }), d.body);
  clear(dom.contactPane).append(h("p", { class: "muted pad", text: "Loading…" }));
  fillAssignOptions(c);
  patchHead();
  autosize(d.composer);
  applyContactVisibility();
}

export function fillAssignOptions(c) {
  const sel = c.dom.assign;
  const s = S.sums.get(c.id);
  const cur = (s && s.assignee_id) || "";
  clear(sel).append(h("option", { value: "", text: "Unassigned" }));
  const agents = [...S.agents.values()].filter((a) => a.active !== false || a.id === cur)
    .sort((a, b) => (a.id === ME.id ? -1 : b.id === ME.id ? 1 : String(a.name).localeCompare(String(b.name))));
  for (const a of agents) {
    const st = presenceOf(a.id);
    sel.append(h("option", { value: a.id, text: `${PRES_GLYPH[st]} ${a.name || a.email}${a.id === ME.id ? " (you)" : ""} — ${st}` }));
  }
  if (cur && !S.agents.has(cur)) sel.append(h("option", { value: cur, text: "Other agent" }));
  sel.value = cur;
}

export function patchHead() {
  const c = S.conv; if (!c || !c.dom) return;
  const d = c.dom;
  const s = S.sums.get(c.id);
  const contact = (c.detail && c.detail.contact) || (s && s.contact);
  d.title.textContent = c.loaded || s ? contactName(contact) : "Loading…";
  if (!s) return;
  const bits = [s.inbox_name, STATUS_LABELS[s.status] || s.status];
  if (s.status === "snoozed" && s.snoozed_until) bits.push(`until ${clock(s.snoozed_until)}`);
  d.subText.textContent = bits.filter(Boolean).join(" · ");
  clear(d.bot).append(botChip(s.bot_state) || "");
  d.status.value = s.status;
  const resolved = s.status === "resolved";
  d.resolve.hidden = resolved;
  d.reopen.hidden = !(resolved || s.status === "snoozed" || s.status === "pending");
  d.pending.hidden = s.status === "pending";
  d.assignMe.hidden = s.assignee_id === ME.id;
  if (document.activeElement !== d.assign) fillAssignOptions(c);
}

export async function assignTo(agentId) {
  const c = S.conv; if (!c) return;
  // Taking an unassigned conversation is a claim: if a colleague took it a moment ago, the
  // server refuses (409) instead of silently taking it from them.
  const cur = S.sums.get(c.id);
  const claim = agentId === ME.id && !(cur && cur.assignee_id);
  const body = claim ? { agent_id: agentId, only_if_unassigned: true } : { agent_id: agentId };
  try {
    const r = await api(`/conversations/${enc(c.id)}/assign`, { method: "POST", body });
    applySummary(r.conversation);
    toast(agentId ? `Assigned to ${agentName(agentId) === "You" ? "you" : agentName(agentId)}` : "Unassigned", "info", 2500);
  } catch (e) {
    if (claim && e.status === 409) {
      const x = await fetchSummary(c.id, {});
      toast(x && x.assignee_id ? `Already taken by ${agentName(x.assignee_id)}` : "Already assigned", "info", 4000);
    } else fail(e);
    patchHead();
  }
}

export async function setStatus(status, until) {
  const c = S.conv; if (!c) return;
  const payload = { status };
  if (until) payload.snoozed_until = until;
  try {
    const r = await api(`/conversations/${enc(c.id)}/status`, { method: "POST", body: payload });
    applySummary(r.conversation);
    toast(status === "snoozed" ? `Snoozed until ${clock(until)}` : `Marked ${STATUS_LABELS[status].toLowerCase()}`, "info", 2500);
    announce(`Conversation ${status}`);
  } catch (e) { fail(e); patchHead(); }
}

export function applySummary(sum) {
  const s = storeSummary(sum);
  if (!s) return;
  placeInList(s, {});
  scheduleCounts();
  if (S.conv && S.conv.id === s.id) patchHead();
}

export function onStatusSelect() {
  const c = S.conv; if (!c) return;
  const v = c.dom.status.value;
  const s = S.sums.get(c.id);
  if (v === "snoozed") { c.dom.status.value = s ? s.status : "open"; openSnooze(c.dom.snooze); return; }
  if (!s || s.status !== v) setStatus(v);
}

// ── snooze popover ──
export let popover = null;
export function closeSnooze() {
  if (!popover) return false;
  const { el, trigger } = popover;
  popover = null;
  el.remove();
  trigger.setAttribute("aria-expanded", "false");
  if (document.activeElement === document.body || el.contains(document.activeElement)) trigger.focus();
  return true;
}
export function openSnooze(trigger) {
  if (popover) { closeSnooze(); return; }
  const now = new Date();
  const inHour = new Date(now.getTime() + 3600e3);
  const tomorrow = new Date(now); tomorrow.setDate(now.getDate() + 1); tomorrow.setHours(9, 0, 0, 0);
  const nextWeek = new Date(now); nextWeek.setDate(now.getDate() + (((8 - now.getDay()) % 7) || 7)); nextWeek.setHours(9, 0, 0, 0);
  const pick = (d) => { closeSnooze(); setStatus("snoozed", d.toISOString()); };
  const inputId = uid("snooze-at");
  const input = h("input", { type: "datetime-local", id: inputId, class: "input", min: toLocalInput(new Date(now.getTime() + 60e3)) });
  const el = h("div", { class: "popover", role: "dialog", "aria-label": "Snooze until", dataset: { testid: "snooze-menu" } },
    h("p", { class: "popover__title", text: "Snooze until" }),
    h("button", { type: "button", class: "menu-item", text: `In 1 hour (${clock(inHour.toISOString())})`, onclick: () => pick(inHour) }),
    h("button", { type: "button", class: "menu-item", text: `Tomorrow, ${clock(tomorrow.toISOString())}`, onclick: () => pick(tomorrow) }),
    h("button", { type: "button", class: "menu-item", text: `Next week, ${clock(nextWeek.toISOString())}`, onclick: () => pick(nextWeek) }),
    h("form", { class: "popover__custom", onsubmit: (e) => {
      e.preventDefault();
      const d = new Date(input.value);
      if (!input.value || Number.isNaN(d.getTime()) || d.getTime() <= Date.now()) { toast("Pick a date and time in the future."); input.focus(); return; }
      pick(d);
    } },
    h("label", { for: inputId, text: "Custom" }), input, h("button", { type: "submit", class: "btn btn--primary btn--small", text: "Snooze" })));
  trigger.after(el);
  trigger.setAttribute("aria-expanded", "true");
  popover = { el, trigger };
  $("button", el).focus();
}
export function toLocalInput(d) {
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

// ── contact panel ──
export function toggleContact() {
  const narrow = window.matchMedia("(max-width: 1199px)").matches;
  if (narrow) dom.layout.classList.toggle("show-contact-sm");
  else { S.contactPanel = !S.contactPanel; lsSet(LS.contact, S.contactPanel ? null : "0"); }
  applyContactVisibility();
  if (dom.layout.classList.contains("show-contact-sm")) dom.contactPane.focus();
}
export function applyContactVisibility() {
  dom.layout.classList.toggle("hide-contact", !S.contactPanel);
  const narrow = window.matchMedia("(max-width: 1199px)").matches;
  const shown = narrow ? dom.layout.classList.contains("show-contact-sm") : S.contactPanel;
  if (S.conv && S.conv.dom) S.conv.dom.contactBtn.setAttribute("aria-expanded", String(shown));
}

export function renderContact(c) {
  const p = clear(dom.contactPane);
  const det = c.detail || {};
  const k = det.contact || {};
  const s = S.sums.get(c.id) || {};
  const row = (label, value) => [h("dt", { text: label }), h("dd", { text: value == null || value === "" ? "—" : String(value) })];
  p.append(
    h("div", { class: "contact__head" },
      h("span", { class: "avatar avatar--lg", style: { "--h": String(hue(k.id || c.id)) }, "aria-hidden": "true", text: initial(contactName(k)) }),
      h("div", {}, h("h2", { class: "contact__name", text: contactName(k) }), k.email ? h("p", { class: "muted", text: k.email }) : null),
      h("button", { type: "button", class: "btn btn--ghost contact__close", "aria-label": "Close contact details", text: "×",
        onclick: () => { dom.layout.classList.remove("show-contact-sm"); applyContactVisibility(); c.dom.contactBtn.focus(); } })),
    h("dl", { class: "props" },
      row("Name", k.name), row("Email", k.email), row("External ID", k.external_id),
      row("First seen", k.created_at ? fullTime(k.created_at) : null), row("Last seen", k.last_seen_at ? fullTime(k.last_seen_at) : null),
      row("Inbox", s.inbox_name), row("Started", s.created_at ? fullTime(s.created_at) : null)));

  const pages = Array.isArray(k.pages) ? k.pages : [];
  const pl = h("ul", { class: "pages" });
  for (const pg of pages.slice(0, 50)) {
    const href = safeHttpUrl(pg.url);
    const label = pg.title || pg.url || "(untitled)";
    const link = href
      ? h("a", { href, target: "_blank", rel: "noopener noreferrer nofollow", text: label, title: pg.url })
      : h("span", { text: label, title: pg.url || "" });
    pl.append(h("li", {}, link, pg.at ? h("time", { class: "muted", datetime: pg.at, text: ` ${relTime(pg.at)}` }) : null));
  }
  p.append(h("h3", { class: "section-title", text: "Pages visited" }), pages.length ? pl : h("p", { class: "muted", text: "No pages recorded." }));

  const past = Array.isArray(det.past_conversations) ? det.past_conversations : [];
  const ul = h("ul", { class: "past" });
  for (const pc of past) {
    ul.append(h("li", {}, h("a", { href: `#/c/${enc(pc.id)}`, class: "past__link", dataset: { testid: "past-conversation" } },
      h("span", { class: `status status--${pc.status}`, text: STATUS_LABELS[pc.status] || pc.status }),
      h("span", { text: ` ${fullTime(pc.last_message_at || pc.created_at)}` }),
      h("span", { class: "muted", text: ` · ${pc.last_seq || 0} messages` }))));
  }
  p.append(h("h3", { class: "section-title", text: "Past conversations" }), past.length ? ul : h("p", { class: "muted", text: "None." }));
}
