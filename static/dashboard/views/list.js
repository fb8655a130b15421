/* The inbox: filters, counts, the conversation list and its rows. */
import { api } from "../api.js";
import { presenceDot } from "../presence.js";
import { inboxPath } from "../router.js";
import { S, agentName, dom, matchesFilter, rowNodes, storeSummary } from "../state.js";
import { STATUSES, VIEWS, activity, listable } from "../store.js";
import { $, $$, LS, STATUS_LABELS, VIEW_LABELS, append, clear, clock, contactName, duration, fail, fullTime, h, hue, initial, lsSet, relTime } from "../util.js";

// ───────────────────────────── conversation list ─────────────────────────────
export function inboxHash() { return inboxPath(S.filter); }

export function setFilter(view, status) {
  const v = VIEWS.includes(view) ? view : S.filter.view;
  const st = STATUSES.includes(status) ? status : S.filter.status;
  const changed = v !== S.filter.view || st !== S.filter.status;
  S.filter = { view: v, status: st };
  lsSet(LS.filter, JSON.stringify(S.filter));
  renderFilters();
  if (changed || !S.list.loaded) loadList({ reset: true, clear: changed });
}
export function changeFilter(view, status) {
  if (S.route.name === "inbox") location.hash = `#/inbox?view=${view}&status=${status}`;
  else setFilter(view, status);
}

export async function loadList({ reset = false, clear: wipe = false } = {}) {
  const L = S.list;
  if (!reset && (L.loading || !L.cursor)) return;
  const gen = reset ? ++L.gen : L.gen;
  L.loading = true;
  if (wipe) { L.ids = []; L.cursor = null; L.counts = null; L.loaded = false; }
  renderList();
  const q = new URLSearchParams({ view: S.filter.view, status: S.filter.status, limit: "50" });
  if (!reset && L.cursor) q.set("before", L.cursor);
  try {
    const r = await api(`/conversations?${q}`);
    if (gen !== L.gen) return;
    const ids = [];
    for (const s of r.conversations || []) { const m = storeSummary(s); if (m) ids.push(m.id); }
    L.ids = reset ? ids : L.ids.concat(ids.filter((id) => !L.ids.includes(id)));
    L.cursor = r.next_cursor || null;
    if (r.counts) L.counts = r.counts;
    L.loaded = true; L.error = null;
  } catch (e) {
    if (gen !== L.gen) return;
    L.error = e.message;
    if (e.status !== 401) fail(e);
  } finally {
    if (gen === L.gen) { L.loading = false; renderList(); renderFilters(); }
  }
}

export let countsTimer = 0;
export function scheduleCounts() {
  clearTimeout(countsTimer);
  countsTimer = setTimeout(async () => {
    const q = new URLSearchParams({ view: S.filter.view, status: S.filter.status, limit: "1" });
    const gen = S.list.gen;
    try {
      const r = await api(`/conversations?${q}`);
      if (gen === S.list.gen && r.counts) { S.list.counts = r.counts; renderFilters(); }
    } catch (_) { /* counts are cosmetic */ }
  }, 1200);
}

/** Insert, move or remove a summary in the visible list according to the filter. */
export function placeInList(s, { top = false } = {}) {
  const L = S.list;
  const idx = L.ids.indexOf(s.id);
  const ok = listable(s) && matchesFilter(s);
  if (!ok) {
    if (idx >= 0) { L.ids.splice(idx, 1); renderList(); }
    return;
  }
  if (idx >= 0 && !top) { renderList(); return; }
  if (idx >= 0) L.ids.splice(idx, 1);
  let at = 0;
  if (!top) {
    const a = activity(s);
    at = L.ids.findIndex((id) => { const o = S.sums.get(id); return !o || activity(o) <= a; });
    if (at < 0) {
      if (L.cursor) { renderList(); return; } // older than what is loaded: paging will bring it
      at = L.ids.length;
    }
  }
  L.ids.splice(at, 0, s.id);
  renderList();
}

export function buildListPane() {
  const tabs = h("div", { class: "tabs", role: "group", "aria-label": "Conversation view" });
  for (const v of VIEWS) {
    tabs.append(h("button", {
      type: "button", class: "tab", dataset: { view: v, testid: `view-${v}` }, "aria-pressed": "false",
      onclick: () => changeFilter(v, S.filter.status),
    }, h("span", { text: VIEW_LABELS[v] }), " ", h("span", { class: "tab__count", "aria-label": "conversations" })));
  }
  const sel = h("select", { id: "status-filter", class: "select", dataset: { testid: "status-filter" },
    onchange: () => changeFilter(S.filter.view, sel.value) },
  STATUSES.map((st) => h("option", { value: st, text: STATUS_LABELS[st] })));
  dom.tabs = tabs; dom.statusFilter = sel;
  dom.list = h("ul", { class: "convlist", id: "convlist", "aria-label": "Conversations", dataset: { testid: "conv-list" } });
  dom.listEmpty = h("p", { class: "empty", hidden: true });
  dom.loadMore = h("button", { type: "button", class: "btn btn--ghost btn--block load-more", hidden: true, text: "Load more",
    onclick: () => loadList() });
  dom.listScroll = h("div", { class: "pane-list__scroll" }, dom.list, dom.listEmpty, dom.loadMore);
  dom.listScroll.addEventListener("scroll", () => {
    const el = dom.listScroll;
    if (S.list.cursor && !S.list.loading && el.scrollHeight - el.scrollTop - el.clientHeight < 200) loadList();
  }, { passive: true });
  return h("section", { class: "pane pane-list", "aria-label": "Conversation list" },
    h("div", { class: "pane-list__head" },
      h("h1", { class: "pane-title", text: "Inbox" }),
      h("div", { class: "filters" }, tabs,
        h("label", { class: "sr-only", for: "status-filter", text: "Status" }), sel)),
    dom.listScroll);
}

export function renderFilters() {
  if (!dom.tabs) return;
  for (const b of $$(".tab", dom.tabs)) {
    const v = b.dataset.view;
    b.setAttribute("aria-pressed", String(v === S.filter.view));
    const n = S.list.counts && S.list.counts[v];
    $(".tab__count", b).textContent = typeof n === "number" ? String(n) : "";
  }
  dom.statusFilter.value = S.filter.status;
}

export function renderList() {
  if (!dom.list) return;
  const L = S.list;
  const ul = dom.list;
  const keep = new Set();
  let prev = null;
  for (const id of L.ids) {
    const s = S.sums.get(id); if (!s) continue;
    let li = rowNodes.get(id);
    if (!li) { li = buildRow(id); rowNodes.set(id, li); }
    patchRow(li, s);
    keep.add(id);
    const want = prev ? prev.nextSibling : ul.firstChild;
    if (li !== want) ul.insertBefore(li, want);
    prev = li;
  }
  for (const [id, li] of rowNodes) if (!keep.has(id)) { li.remove(); rowNodes.delete(id); }
  const empty = !keep.size;
  dom.listEmpty.hidden = !empty;
  dom.listEmpty.textContent = L.loading ? "Loading…" : L.error ? `Could not load conversations: ${L.error}`
    : `No ${STATUS_LABELS[S.filter.status].toLowerCase()} conversations${S.filter.view === "mine" ? " assigned to you" : S.filter.view === "unassigned" ? " waiting for an agent" : ""}.`;
  dom.loadMore.hidden = !L.cursor;
  dom.loadMore.disabled = L.loading;
  dom.loadMore.textContent = L.loading && L.cursor ? "Loading…" : "Load more";
  renderListSelection();
  renderTitle();
}

export function buildRow(id) {
  const a = h("a", { class: "conv", href: `#/c/${id}` });
  return h("li", { class: "convlist__item", dataset: { testid: "conv-item", id } }, a);
}

export function patchRow(li, s) {
  const lm = s.last_message;
  const who = contactName(s.contact);
  const waiting = s.waiting_since && s.status !== "resolved" ? `waiting ${duration(s.waiting_since)}` : "";
  const when = relTime(s.last_message_at || s.created_at);
  const sig = JSON.stringify([who, lm && lm.seq, s.unread, waiting, when, s.assignee_id, s.status, s.snoozed_until,
    s.inbox_name, S.agents.size, s.bot_state]);
  if (li._sig === sig) return;
  li._sig = sig;
  const a = li.firstChild;
  clear(a);
  let prefix = "";
  if (lm) {
    if (lm.private) prefix = lm.sender_type === "bot" ? "Bot note: " : "Note: ";
    else if (lm.sender_type === "agent") prefix = lm.sender_id ? `${agentName(lm.sender_id)}: ` : "Agent: ";
    else if (lm.sender_type === "bot") prefix = "Bot: ";
  }
  const unread = s.unread || 0;
  append(a, [
    h("span", { class: "avatar", style: { "--h": String(hue(s.contact ? s.contact.id : s.id)) }, "aria-hidden": "true", text: initial(who) }),
    h("span", { class: "conv__main" },
      h("span", { class: "conv__top" },
        h("span", { class: "conv__name", text: who }),
        h("time", { class: "conv__time", datetime: s.last_message_at || s.created_at || "", title: fullTime(s.last_message_at || s.created_at), text: when })),
      h("span", { class: "conv__line" },
        prefix ? h("span", { class: "conv__who", text: prefix }) : null,
        h("span", { class: "conv__preview", dataset: { testid: "preview" }, text: lm ? lm.body.replace(/\s+/g, " ").slice(0, 160) : "" })),
      h("span", { class: "conv__meta" },
        s.inbox_name ? h("span", { class: "chip", text: s.inbox_name }) : null,
        botChip(s.bot_state),
        waiting ? h("span", { class: "chip chip--warn", dataset: { testid: "waiting" }, text: waiting }) : null,
        s.status === "snoozed" && s.snoozed_until ? h("span", { class: "chip", text: `until ${clock(s.snoozed_until)}` }) : null,
        h("span", { class: "conv__assignee", dataset: { testid: "assignee" } },
          s.assignee_id ? presenceDot(s.assignee_id) : null, agentName(s.assignee_id)))),
    h("span", { class: "badge", dataset: { testid: "unread" }, hidden: unread === 0, text: String(unread) }),
    unread ? h("span", { class: "sr-only", text: ` ${unread} unread` }) : null]);
  li.classList.toggle("is-unread", unread > 0);
}

/** "Bot" while the first-line bot handles a conversation, "Handed off by bot" after. */
export function botChip(state) {
  if (state === "active") return h("span", { class: "chip chip--bot", dataset: { testid: "bot-state", state }, title: "The first-line bot is answering", text: "Bot" });
  if (state === "handed_off") return h("span", { class: "chip chip--handoff", dataset: { testid: "bot-state", state }, text: "Handed off by bot" });
  return null;
}

export function renderListSelection() {
  const id = S.conv && S.conv.id;
  for (const [rid, li] of rowNodes) {
    const on = rid === id;
    li.classList.toggle("is-active", on);
    if (on) li.firstChild.setAttribute("aria-current", "true"); else li.firstChild.removeAttribute("aria-current");
  }
}

export function renderTitle() {
  let n = 0;
  for (const id of S.list.ids) { const s = S.sums.get(id); if (s && s.unread) n += s.unread; }
  document.title = n ? `(${n}) Switchboard` : "Switchboard";
}

export function stepConversation(dir) {
  const ids = S.list.ids; if (!ids.length) return;
  const cur = S.conv ? ids.indexOf(S.conv.id) : -1;
  const next = cur < 0 ? (dir > 0 ? 0 : ids.length - 1) : Math.min(ids.length - 1, Math.max(0, cur + dir));
  if (ids[next] && (!S.conv || ids[next] !== S.conv.id)) {
    location.hash = `#/c/${ids[next]}`;
    const li = rowNodes.get(ids[next]);
    if (li) { li.firstChild.focus({ preventScroll: true }); li.scrollIntoView({ block: "nearest" }); }
  }
}
