/* Transcript search (#/search): query box, filters, results with highlights, pager. */
import { api } from "../api.js";
import { route } from "../app.js";
import { FILTER_KEYS, filterToken, hasFilters, highlightSpans, queryFilter, withFilter, withoutFilters } from "../query.js";
import { SORTS, searchHash } from "../router.js";
import { S, dom } from "../state.js";
import { STATUSES, tms } from "../store.js";
import { $, $$, STATUS_LABELS, append, clear, enc, fullTime, h, hue, initial } from "../util.js";

// ───────────────────────────── transcript search (#/search) ─────────────────────────────
// API: GET /api/v1/search?q&sort&page&per_page → {total, page, per_page, did_you_mean, results:[…]}.
export const SORT_LABELS = { relevance: "Best match", date: "Newest first" };
export const PER_PAGE = 20;
export const MAX_SNIPPETS = 3;
export const nf = new Intl.NumberFormat("en-US");
export const SR = {
  q: "", sort: "relevance", page: 1,
  key: null, gen: 0, ctrl: null, loading: false, data: null, error: null,
  timer: 0, typing: false, expectKey: null, focusInput: false, focusResults: false, scroll: 0,
  helpOpen: false, suggestions: false,
};

/** Snippet text with highlighted ranges in <mark>: text nodes only, never parsed as HTML. */
export function highlighted(text, ranges) {
  const frag = document.createDocumentFragment();
  const t = typeof text === "string" ? text : "";
  let at = 0;
  for (const [s, e] of highlightSpans(t, ranges)) {
    if (s > at) frag.append(document.createTextNode(t.slice(at, s)));
    const m = document.createElement("mark");
    m.textContent = t.slice(s, e);
    frag.append(m);
    at = e;
  }
  if (at < t.length) frag.append(document.createTextNode(t.slice(at)));
  return frag;
}

// ── route state ──
export const searchKey = (p) => JSON.stringify([p.q, p.sort, p.page]);
/** Navigate to a search. Typing pushes one history entry per burst and then replaces it. */
export function goSearch(patch, { typing = false, force = false } = {}) {
  const next = { q: SR.q, sort: SR.sort, page: SR.page, ...patch };
  const cur = S.route.name === "search" ? S.route : null;
  if (cur && searchKey(cur) === searchKey(next)) {
    if (!typing) SR.typing = false;
    if (force) runSearch(true);
    return;
  }
  const replace = typing && SR.typing;
  SR.typing = typing;
  SR.expectKey = searchKey(next);
  if (replace) { history.replaceState(history.state, "", searchHash(next)); route(); } else location.hash = searchHash(next);
}
export function focusSearch() {
  if (S.route.name === "search" && dom.sInput) { dom.sInput.focus(); dom.sInput.select(); return; }
  SR.focusInput = true;
  location.hash = searchHash(SR);
}

export function buildSearchView() {
  if (dom.searchView) return;
  const input = h("input", {
    type: "search", id: "search-input", class: "input search__input", dataset: { testid: "search-input" },
    autocomplete: "off", spellcheck: "false", enterkeyhint: "search", maxlength: "1000",
    placeholder: "e.g. refund tag:billing after:2024-01-01", "aria-describedby": "search-error search-kbd",
    oninput: () => {
      clearTimeout(SR.timer);
      SR.timer = setTimeout(() => { SR.timer = 0; goSearch({ q: input.value.trim(), page: 1 }, { typing: true }); }, 300);
    },
  });
  const form = h("form", { class: "search__form", role: "search", novalidate: true, onsubmit: (e) => {
    e.preventDefault();
    clearTimeout(SR.timer); SR.timer = 0;
    goSearch({ q: input.value.trim(), page: 1 }, { force: true });
  } });
  const helpToggle = h("button", { type: "button", class: "btn btn--ghost search__help-toggle", "aria-expanded": "false",
    "aria-controls": "search-help", dataset: { testid: "search-help-toggle" }, onclick: () => toggleSearchHelp() },
  h("span", { "aria-hidden": "true", class: "search__help-icon", text: "?" }), h("span", { text: "Syntax" }));
  const help = buildSearchHelp();
  const error = h("p", { id: "search-error", class: "search__error", role: "alert", dataset: { testid: "search-error" }, hidden: true });
  append(form, [
    h("label", { for: "search-input", class: "search__label", text: "Search conversations" }),
    h("div", { class: "search__bar" }, input,
      h("button", { type: "submit", class: "btn btn--primary", text: "Search" }),
      h("div", { class: "search__help-wrap" }, helpToggle, help)),
    error,
    h("p", { id: "search-kbd", class: "hint", text: "Words, \"phrases\", OR, -exclude and filters such as tag:billing. Press / anywhere to search." })]);

  // Filter controls: each edits one `key:value` token of the query text.
  const ctl = {};
  const mk = (key, label, el, hint) => {
    el.id = `search-f-${key}`;
    el.dataset.filter = key;
    el.addEventListener("change", () => applyFilter(key, el.value));
    ctl[key] = el;
    const kids = [h("label", { for: el.id, text: label }), el];
    if (hint) kids.push(h("span", { class: "sr-only", text: hint }));
    return h("div", { class: "field search__field" }, kids);
  };
  const statusSel = h("select", { class: "select", dataset: { testid: "search-status" } },
    h("option", { value: "", text: "Any" }), STATUSES.map((st) => h("option", { value: st, text: STATUS_LABELS[st] })));
  const listTags = h("datalist", { id: "search-dl-tag" });
  const listInbox = h("datalist", { id: "search-dl-inbox" });
  const listAgent = h("datalist", { id: "search-dl-agent" });
  const txt = (key, ph, list, type = "text") => h("input", { type, class: "input", placeholder: ph, list, autocomplete: "off", spellcheck: "false",
    dataset: { testid: `search-${key}` },
    onkeydown: (e) => { if (e.key === "Enter") { e.preventDefault(); applyFilter(key, e.target.value); } } });
  const filters = h("details", { class: "search__filters" },
    h("summary", { class: "search__filters-title" }, "Filters", h("span", { class: "search__filters-count", "aria-hidden": "true" })),
    h("div", { class: "search__grid" },
      mk("status", "Status", statusSel),
      mk("tag", "Tag", txt("tag", "billing", "search-dl-tag")),
      mk("customer", "Customer email", txt("customer", "name@example.com", null, "email")),
      mk("inbox", "Inbox", txt("inbox", "Website", "search-dl-inbox")),
      mk("agent", "Agent", txt("agent", "Agent name or email", "search-dl-agent")),
      mk("after", "After", h("input", { type: "date", class: "input", dataset: { testid: "search-after" } }), "Conversations from this date on (YYYY-MM-DD)"),
      mk("before", "Before", h("input", { type: "date", class: "input", dataset: { testid: "search-before" } }), "Conversations before this date (YYYY-MM-DD)")),
    h("div", { class: "row search__filter-actions" },
      h("button", { type: "button", class: "btn btn--ghost btn--small", dataset: { testid: "search-clear-filters" }, text: "Clear filters", onclick: () => {
        const q = withoutFilters(input.value);
        input.value = q; clearTimeout(SR.timer); SR.timer = 0;
        goSearch({ q, page: 1 });
      } })),
    listTags, listInbox, listAgent);
  filters.open = !window.matchMedia("(max-width: 760px)").matches;

  const sort = h("select", { id: "search-sort", class: "select", dataset: { testid: "search-sort" },
    onchange: () => goSearch({ sort: sort.value, page: 1 }) },
  SORTS.map((s) => h("option", { value: s, text: SORT_LABELS[s] })));
  const count = h("p", { class: "search__count", id: "search-count", "aria-live": "polite", "aria-atomic": "true", dataset: { testid: "search-count" } });
  const dym = h("p", { class: "search__dym", hidden: true });
  const state = h("div", { class: "search__state", dataset: { testid: "search-state" } });
  const results = h("ol", { class: "search__results", dataset: { testid: "search-results" }, "aria-label": "Search results", tabindex: "-1" });
  const pager = h("nav", { class: "pager", "aria-label": "Result pages", hidden: true });

  dom.searchView = h("div", { class: "view view-search", hidden: true, tabindex: "-1" },
    h("div", { class: "search" },
      h("h1", { class: "search__title", text: "Search" }),
      form, filters,
      h("div", { class: "search__head" }, count,
        h("div", { class: "search__sort" }, h("label", { for: "search-sort", text: "Sort" }), sort)),
      dym, state, results, pager));
  Object.assign(dom, { sInput: input, sError: error, sHelp: help, sHelpToggle: helpToggle, sFilters: filters, sCtl: ctl,
    sSort: sort, sCount: count, sDym: dym, sState: state, sResults: results, sPager: pager,
    sLists: { tag: listTags, inbox: listInbox, agent: listAgent } });
  document.addEventListener("pointerdown", (e) => {
    if (SR.helpOpen && !help.contains(e.target) && !helpToggle.contains(e.target)) closeSearchHelp();
  }, true);
}

export function buildSearchHelp() {
  const rows = [
    ["refund invoice", "Every word must match (any case, accents ignored)"],
    ["\"card declined\"", "This exact phrase"],
    ["refund OR chargeback", "Either word (a OR b OR c chains)"],
    ["-spam", "Leave out matches (works on phrases and filters too)"],
    ["customer:ana@example.com", "The customer's email"],
    ["tag:billing", "Tagged billing"],
    ["status:open", "open, pending, snoozed or resolved"],
    ["inbox:\"EU support\"", "One inbox (quote names with spaces)"],
    ["agent:sam@example.com", "An agent, by email or name"],
    ["after:2024-01-31", "Started on or after this day (UTC, YYYY-MM-DD)"],
    ["before:2024-12-31", "Started before this day"],
  ];
  const dl = h("dl", { class: "search-help__list" });
  for (const [ex, what] of rows) {
    dl.append(h("dt", {}, h("button", { type: "button", class: "search-help__ex", title: "Add to the search",
      "aria-label": `Add ${ex} to the search`, onclick: () => insertExample(ex) }, h("code", { text: ex }))),
    h("dd", { text: what }));
  }
  return h("div", { id: "search-help", class: "popover search-help", role: "dialog", "aria-label": "Search syntax", hidden: true,
    dataset: { testid: "search-help" } },
  h("p", { class: "popover__title", text: "Search syntax" }), dl,
  h("p", { class: "hint", text: "Typos are forgiven: close spellings match too, and \"Did you mean …?\" offers a correction. No wildcards or parentheses. Searches cover subjects, contacts, tags, messages and private notes." }));
}
export function toggleSearchHelp(force) {
  const open = force == null ? !SR.helpOpen : force;
  if (!open) { closeSearchHelp(); return; }
  SR.helpOpen = true;
  dom.sHelp.hidden = false;
  dom.sHelpToggle.setAttribute("aria-expanded", "true");
}
export function closeSearchHelp() {
  if (!SR.helpOpen || !dom.sHelp) return false;
  SR.helpOpen = false;
  const inside = dom.sHelp.contains(document.activeElement);
  dom.sHelp.hidden = true;
  dom.sHelpToggle.setAttribute("aria-expanded", "false");
  if (inside) dom.sHelpToggle.focus();
  return true;
}
export function insertExample(ex) {
  const key = (/^([a-z]+):/.exec(ex) || [])[1];
  const cur = dom.sInput.value.trim();
  const q = key && FILTER_KEYS.includes(key) ? withFilter(cur, key, filterToken(ex).value) : `${cur} ${ex}`.trim();
  dom.sInput.value = q;
  closeSearchHelp();
  dom.sInput.focus();
  clearTimeout(SR.timer); SR.timer = 0;
  goSearch({ q, page: 1 });
}
export function applyFilter(key, value) {
  const q = withFilter(dom.sInput.value.trim(), key, value);
  dom.sInput.value = q;
  clearTimeout(SR.timer); SR.timer = 0;
  goSearch({ q, page: 1 });
}
export function syncFilterControls() {
  let n = 0;
  for (const key of FILTER_KEYS) {
    const el = dom.sCtl[key]; if (!el) continue;
    const v = queryFilter(SR.q, key);
    if (v) n++;
    if (el === document.activeElement && el.tagName !== "SELECT") continue;
    if (el.tagName === "SELECT") {
      const val = v.toLowerCase();
      if (val && !$$("option", el).some((o) => o.value === val)) el.append(h("option", { value: val, text: val }));
      el.value = val;
    } else if (el.type === "date") {
      el.value = /^\d{4}-\d{2}-\d{2}$/.test(v) ? v : "";
    } else el.value = v;
  }
  const c = $(".search__filters-count", dom.sFilters);
  c.textContent = n ? ` (${n})` : "";
  if (n && !dom.sFilters.open && !window.matchMedia("(max-width: 760px)").matches) dom.sFilters.open = true;
}
/** Datalists for tags, inboxes and agents: best effort, once. */
export async function loadSearchSuggestions() {
  if (SR.suggestions) return;
  SR.suggestions = true;
  const fill = (list, items) => { clear(list); for (const [value, label] of items) list.append(h("option", { value, label: label || null })); };
  const agents = [...S.agents.values()].filter((a) => a && a.email);
  fill(dom.sLists.agent, agents.map((a) => [a.email, a.name]));
  const tags = new Set();
  for (const s of S.sums.values()) for (const t of s.tags || []) tags.add(t);
  fill(dom.sLists.tag, [...tags].sort().map((t) => [t]));
  try {
    const r = await api("/inboxes");
    fill(dom.sLists.inbox, (r.inboxes || []).map((ib) => [ib.name]));
  } catch (_) { /* suggestions are optional */ }
  if (!agents.length) {
    try {
      const r = await api("/agents");
      fill(dom.sLists.agent, (r.agents || []).filter((a) => a.email).map((a) => [a.email, a.name]));
    } catch (_) { /* optional */ }
  }
}

/** Called by route() for #/search. */
export function showSearch(r, entering) {
  buildSearchView();
  SR.typing = SR.typing && searchKey(r) === SR.expectKey;
  SR.expectKey = null;
  SR.q = r.q; SR.sort = r.sort; SR.page = r.page;
  if (!SR.timer && dom.sInput.value.trim() !== SR.q) dom.sInput.value = SR.q;
  dom.sSort.value = SR.sort;
  syncFilterControls();
  const restoring = entering && SR.key === searchKey(SR) && !!SR.data;
  runSearch(false);
  if (entering) {
    loadSearchSuggestions();
    if (restoring) dom.searchView.scrollTop = SR.scroll;
    const small = window.matchMedia("(max-width: 760px)").matches;
    if (SR.focusInput || (!restoring && !small)) dom.sInput.focus({ preventScroll: true });
    else dom.searchView.focus({ preventScroll: true });
  }
  SR.focusInput = false;
}
export function leaveSearch() {
  if (dom.searchView) SR.scroll = dom.searchView.scrollTop;
  clearTimeout(SR.timer); SR.timer = 0;
  closeSearchHelp();
}

export async function runSearch(force) {
  const key = searchKey(SR);
  if (!force && key === SR.key && (SR.loading || SR.data)) { renderSearch(); return; }
  SR.key = key;
  if (SR.ctrl) { SR.ctrl.abort(); SR.ctrl = null; }
  const gen = ++SR.gen;
  SR.error = null;
  if (!SR.q) { SR.data = null; SR.loading = false; renderSearch(); return; }
  const ctrl = typeof AbortController === "function" ? new AbortController() : null;
  SR.ctrl = ctrl;
  SR.loading = true;
  renderSearch();
  const params = new URLSearchParams({ q: SR.q, sort: SR.sort, page: String(SR.page), per_page: String(PER_PAGE) });
  try {
    const d = await api(`/search?${params}`, { signal: ctrl ? ctrl.signal : undefined });
    if (gen !== SR.gen) return;
    SR.data = d && typeof d === "object" ? d : { total: 0, results: [] };
  } catch (e) {
    if (gen !== SR.gen || e.code === "aborted") return;
    SR.error = e;
    SR.data = null;
  } finally {
    if (gen === SR.gen) {
      SR.loading = false; SR.ctrl = null;
      renderSearch();
      if (SR.focusResults && SR.data) { SR.focusResults = false; dom.searchView.scrollTop = 0; dom.sResults.focus({ preventScroll: true }); }
    }
  }
}

export function searchErrorText(e) {
  if (e.status === 429) return `Too many searches in a short time. Wait ${e.retryAfter ? `${e.retryAfter} s` : "a moment"} and try again.`;
  if (e.status === 404) return "Search is not available on this server yet.";
  if (e.status === 0) return "Could not reach the server — check your connection and try again.";
  return `Search failed: ${e.message || `error ${e.status}`}`;
}

export function renderSearch() {
  if (!dom.searchView) return;
  const { data, error, loading } = SR;
  const bad = !!(error && (error.status === 400 || error.code === "invalid"));
  dom.sError.hidden = !bad;
  dom.sError.textContent = bad ? error.message || "This search could not be understood." : "";
  if (bad) dom.sInput.setAttribute("aria-invalid", "true"); else dom.sInput.removeAttribute("aria-invalid");

  // Count (aria-live): only change it when there is something new to say.
  let countText = "";
  if (data && !loading) {
    const total = Math.max(0, Number(data.total) || 0);
    const per = Math.max(1, Number(data.per_page) || PER_PAGE);
    const pages = Math.max(1, Math.ceil(total / per));
    const page = Math.max(1, Number(data.page) || SR.page);
    countText = `${nf.format(total)} conversation${total === 1 ? "" : "s"}`;
    if (pages > 1) countText += ` · page ${nf.format(page)} of ${nf.format(pages)}`;
  } else if (loading) countText = dom.sCount.textContent;
  if (dom.sCount.textContent !== countText) dom.sCount.textContent = countText;

  // Did you mean …?
  clear(dom.sDym);
  const dymText = data && typeof data.did_you_mean === "string" && data.did_you_mean.trim() && data.did_you_mean.trim() !== SR.q ? data.did_you_mean.trim() : "";
  dom.sDym.hidden = !dymText;
  if (dymText) {
    dom.sDym.append(h("button", { type: "button", class: "link-btn search__dym-btn", dataset: { testid: "did-you-mean" },
      onclick: () => { dom.sInput.value = dymText; clearTimeout(SR.timer); SR.timer = 0; goSearch({ q: dymText, page: 1 }); } },
    "Did you mean ", h("strong", { text: dymText }), "?"));
  }

  // Loading / error / empty states.
  const st = clear(dom.sState);
  st.removeAttribute("role");
  dom.sResults.setAttribute("aria-busy", String(loading));
  dom.sResults.classList.toggle("is-stale", loading && !!data);
  if (loading && !data) {
    st.setAttribute("role", "status");
    st.append(h("p", { class: "search__loading", dataset: { testid: "search-loading" } }, h("span", { class: "spinner", "aria-hidden": "true" }), "Searching…"));
  } else if (error && !bad) {
    st.append(h("div", { class: "search__fail", role: "alert", dataset: { testid: "search-failed" } },
      h("p", { text: searchErrorText(error) }),
      h("button", { type: "button", class: "btn btn--small", text: "Try again", onclick: () => runSearch(true) })));
  } else if (!SR.q && !bad) {
    st.append(h("div", { class: "search__intro" },
      h("p", { class: "placeholder__title", text: "Search all conversations" }),
      h("p", { class: "muted", text: "Find customer messages, replies and private notes by words, phrases, tags, customers, inboxes, agents and dates. Open “Syntax” for examples." })));
  } else if (data && !loading && !(data.results || []).length) {
    const beyond = (Number(data.total) || 0) > 0 && SR.page > 1;
    st.append(h("div", { class: "search__empty", dataset: { testid: "search-empty" } },
      h("p", { class: "placeholder__title", text: beyond ? "No results on this page." : "No conversations match this search." }),
      beyond ? h("button", { type: "button", class: "btn btn--small", text: "Go to the first page", onclick: () => goSearch({ page: 1 }) })
        : h("p", { class: "muted", text: "Check the spelling, use fewer or more general words, or remove a filter." }),
      !beyond && hasFilters(SR.q) ? h("button", { type: "button", class: "btn btn--small", text: "Search without filters", onclick: () => {
        const q = withoutFilters(SR.q); dom.sInput.value = q; goSearch({ q, page: 1 });
      } }) : null));
  }

  // Results.
  const ul = dom.sResults;
  if (!loading || !data) {
    clear(ul);
    const rs = data && !error && Array.isArray(data.results) ? data.results : [];
    for (const r of rs) if (r && r.conversation_id) ul.append(buildHit(r));
  }
  ul.hidden = !ul.firstChild;
  renderPager();
}

export function buildHit(r) {
  const id = String(r.conversation_id);
  const href = `#/c/${enc(id)}`;
  const who = r.contact_name || r.contact_email || "Visitor";
  const title = r.subject || who;
  const tags = Array.isArray(r.tags) ? r.tags.filter((t) => typeof t === "string" && t) : [];
  const snippets = (Array.isArray(r.snippets) ? r.snippets : []).filter((s) => s && typeof s.text === "string").slice(0, MAX_SNIPPETS);
  const dateEl = (v, label) => (tms(v) ? h("span", { class: "hit__date" }, `${label} `,
    h("time", { datetime: v, title: fullTime(v), text: new Date(tms(v)).toLocaleDateString([], { year: "numeric", month: "short", day: "numeric" }) })) : null);
  const li = h("li", { class: "hit", dataset: { testid: "search-hit", id } },
    h("div", { class: "hit__top" },
      h("span", { class: "avatar", style: { "--h": String(hue(r.contact_email || who)) }, "aria-hidden": "true", text: initial(who) }),
      h("div", { class: "hit__heading" },
        h("h2", { class: "hit__title" }, h("a", { class: "hit__link", href, text: title })),
        h("p", { class: "hit__who" },
          r.contact_name && r.contact_name !== title ? h("span", { class: "hit__name", text: r.contact_name }) : null,
          r.contact_email && r.contact_email !== title ? h("span", { class: "hit__email", text: r.contact_email }) : null)),
      r.status ? h("span", { class: `status status--${String(r.status).replace(/[^a-z]/g, "")}`, dataset: { testid: "hit-status" },
        text: STATUS_LABELS[r.status] || String(r.status) }) : null),
    h("div", { class: "hit__meta" },
      r.inbox ? h("span", { class: "chip", title: "Inbox", text: r.inbox }) : null,
      tags.map((t) => h("span", { class: "chip chip--tag", dataset: { testid: "hit-tag" }, text: `#${t}` })),
      r.external_id ? h("span", { class: "chip mono", title: "Imported conversation id", text: r.external_id }) : null,
      dateEl(r.created_at, "Started"),
      r.updated_at && r.updated_at !== r.created_at ? dateEl(r.updated_at, "· Updated") : null),
    snippets.length ? h("ul", { class: "hit__snippets", "aria-label": "Matching messages" }, snippets.map((s) => {
      const note = s.private === true;
      return h("li", { class: note ? "snippet snippet--note" : "snippet", dataset: { testid: "snippet", seq: s.seq == null ? "" : String(s.seq), private: String(note) } },
        note ? h("span", { class: "snippet__label", dataset: { testid: "snippet-note" }, text: "note" }) : null,
        h("span", { class: "snippet__text" }, highlighted(s.text, s.highlights)));
    })) : null);
  li.addEventListener("click", (e) => {
    if (e.defaultPrevented || e.button !== 0 || e.target.closest("a, button, input, select, textarea, summary")) return;
    const sel = window.getSelection && window.getSelection();
    if (sel && !sel.isCollapsed && li.contains(sel.anchorNode)) return; // selecting snippet text
    if (e.ctrlKey || e.metaKey || e.shiftKey) { window.open(href, "_blank", "noopener"); return; }
    location.hash = href;
  });
  return li;
}

export function renderPager() {
  const nav = clear(dom.sPager);
  const d = SR.data;
  if (!d || SR.error) { nav.hidden = true; return; }
  const per = Math.max(1, Number(d.per_page) || PER_PAGE);
  const pages = Math.max(1, Math.ceil((Number(d.total) || 0) / per));
  const cur = Math.max(1, Number(d.page) || SR.page);
  nav.hidden = pages <= 1;
  if (pages <= 1) return;
  const go = (p) => { SR.focusResults = true; goSearch({ page: p }); };
  const list = h("ul", { class: "pager__list" });
  list.append(h("li", {}, h("button", { type: "button", class: "btn btn--small", dataset: { testid: "search-prev" }, disabled: cur <= 1 || SR.loading,
    "aria-label": "Previous page", onclick: () => go(cur - 1) }, h("span", { "aria-hidden": "true", text: "‹ " }), "Prev")));
  const want = new Set([1, 2, pages - 1, pages, cur - 2, cur - 1, cur, cur + 1, cur + 2].filter((p) => p >= 1 && p <= pages));
  let last = 0;
  for (const p of [...want].sort((a, b) => a - b)) {
    if (p - last > 1) list.append(h("li", { class: "pager__gap", "aria-hidden": "true", text: "…" }));
    list.append(h("li", {}, h("button", { type: "button", class: "btn btn--small pager__num", dataset: { testid: "search-page", page: String(p) },
      "aria-label": `Page ${p}`, "aria-current": p === cur ? "page" : null, disabled: SR.loading && p !== cur, onclick: () => { if (p !== cur) go(p); } }, nf.format(p))));
    last = p;
  }
  list.append(h("li", {}, h("button", { type: "button", class: "btn btn--small", dataset: { testid: "search-next" }, disabled: cur >= pages || SR.loading,
    "aria-label": "Next page", onclick: () => go(cur + 1) }, "Next", h("span", { "aria-hidden": "true", text: " ›" }))));
  nav.append(list);
}

export function stepSearchHit(dir) {
  const links = $$(".hit__link", dom.sResults);
  if (!links.length) return;
  const ae = document.activeElement;
  const hit = ae && ae.closest ? ae.closest(".hit") : null;
  const i = hit ? links.indexOf($(".hit__link", hit)) : -1;
  const next = links[i < 0 ? (dir > 0 ? 0 : links.length - 1) : Math.min(links.length - 1, Math.max(0, i + dir))];
  next.focus(); next.closest(".hit").scrollIntoView({ block: "nearest" });
}
