/* The knowledge base page: articles (admins edit) and a retrieval test. */
import { ApiError, api } from "../../api.js";
import { S } from "../../state.js";
import { tms } from "../../store.js";
import { $, ME, clear, enc, fail, fullTime, h, initial, safeHttpUrl, toast, uid } from "../../util.js";
import { shadowStatsCard } from "../shadow.js";
import { adminShell, adminUnavailable, field, submitting } from "./admin.js";

// ── admin: knowledge base ──
// Every agent can read the articles and test retrieval; only admins see the editor.
// API: GET/POST /kb/articles, PUT/DELETE /kb/articles/{id}, GET /kb/search?q&limit.
export const KB = { articles: [], editing: null, viewing: null, searchGen: 0 };
export const kbTags = (v) => [...new Set(String(v || "").split(",").map((t) => t.trim()).filter(Boolean))];
export const kbDate = (v) => (tms(v) ? h("time", { datetime: v, title: fullTime(v), text: new Date(tms(v)).toLocaleDateString([], { year: "numeric", month: "short", day: "numeric" }) }) : "—");

export async function renderAdminKb() {
  adminShell("Knowledge base", h("p", { class: "muted", text: "Loading…" }));
  let articles;
  try {
    const res = await api("/kb/articles");
    articles = res.articles || [];
    KB.intents = res.bot_intents || "";
  } catch (e) { adminUnavailable("Knowledge base", e); return; }
  if (S.route.name !== "admin" || S.route.section !== "kb") return;
  KB.articles = articles.filter((a) => a && a.id);
  KB.editing = null; KB.viewing = null;
  buildKbPage();
}

export function buildKbPage() {
  const admin = ME.role === "admin";
  const d = {};
  KB.dom = d;
  d.list = h("div", { class: "kb-list" });
  d.side = h("div", { class: "kb-side" });
  adminShell("Knowledge base",
    h("p", { class: "muted kb-intro", text: admin
      ? "Articles the first-line bot and “Suggest reply” draw their answers from. Write the body in Markdown; headings split an article into passages."
      : "Articles the first-line bot and “Suggest reply” draw their answers from. Only admins can edit them." }),
    h("p", { class: "muted kb-intents", dataset: { testid: "kb-intents" }, text: KB.intents === "sentence-model"
      ? "The bot reads what customers want by meaning (the built-in sentence model)."
      : "The sentence model is not installed: the bot reads what customers want with word rules only (run scripts/install-models on the server)." }),
    kbSearchCard(),
    shadowStatsCard(),
    d.list,
    d.side);
  renderKbList();
  if (admin) renderKbEditor(null, false);
}

export function renderKbList() {
  const d = KB.dom; if (!d) return;
  const admin = ME.role === "admin";
  const items = KB.articles.slice().sort((a, b) => String(a.title).localeCompare(String(b.title)));
  const box = clear(d.list);
  if (!items.length) {
    box.append(h("p", { class: "card muted", dataset: { testid: "kb-empty" }, text: admin ? "No article yet. Add the answers to your customers' common questions below." : "No article yet." }));
    return;
  }
  const tbody = h("tbody");
  for (const a of items) {
    const current = (KB.editing && KB.editing.id === a.id) || (KB.viewing && KB.viewing.id === a.id);
    tbody.append(h("tr", { dataset: { testid: "kb-row", id: a.id }, class: current ? "is-current" : null },
      h("td", {}, h("button", { type: "button", class: "link-btn kb-open", dataset: { testid: "kb-open" }, "aria-current": current ? "true" : null,
        title: admin ? "Edit this article" : "Read this article", text: a.title || a.slug || "(untitled)", onclick: () => openKbArticle(a.id) })),
      h("td", { class: "mono kb-slug", text: a.slug || "" }),
      h("td", {}, (Array.isArray(a.tags) ? a.tags : []).map((t) => h("span", { class: "chip chip--tag", text: t }))),
      h("td", { class: "nowrap" }, kbDate(a.updated_at || a.created_at)),
      admin ? h("td", { class: "nowrap" },
        h("button", { type: "button", class: "btn btn--danger btn--small", dataset: { testid: "kb-row-delete" }, text: "Delete",
          "aria-label": `Delete ${a.title}`, onclick: () => deleteKbArticle(a) })) : null));
  }
  box.append(h("div", { class: "card card--flush table-wrap" }, h("table", { class: "table" },
    h("caption", { class: "sr-only", text: "Knowledge-base articles" }),
    h("thead", {}, h("tr", {}, ["Title", "Slug", "Tags", "Updated", admin ? "Actions" : null].filter(Boolean).map((t) => h("th", { scope: "col", text: t })))),
    tbody)));
}

export function openKbArticle(id) {
  const a = KB.articles.find((x) => x.id === id);
  if (!a) { toast("This article no longer exists."); return; }
  if (ME.role === "admin") {
    if (KB.dirty && KB.dirty() && !window.confirm("Discard your unsaved changes to this article?")) return;
    renderKbEditor(a, true);
  } else renderKbViewer(a);
  renderKbList();
}

/** Read-only article (agents). */
export function renderKbViewer(a) {
  KB.viewing = a;
  const side = clear(KB.dom.side);
  const href = safeHttpUrl(a.url);
  const titleId = uid("kbv");
  const card = h("article", { class: "card kb-article", dataset: { testid: "kb-article", id: a.id }, "aria-labelledby": titleId, tabindex: "-1" },
    h("div", { class: "kb-article__head" },
      h("h2", { class: "card__title", id: titleId, text: a.title }),
      h("button", { type: "button", class: "btn btn--ghost btn--small", text: "Close", onclick: () => { KB.viewing = null; clear(side); renderKbList(); } })),
    h("p", { class: "kb-article__meta" },
      h("span", { class: "mono", text: a.slug }),
      (Array.isArray(a.tags) ? a.tags : []).map((t) => h("span", { class: "chip chip--tag", text: t })),
      h("span", { class: "muted" }, "Updated ", kbDate(a.updated_at)),
      href ? h("a", { href, target: "_blank", rel: "noopener noreferrer nofollow", text: "Public page ↗", title: a.url }) : null),
    h("div", { class: "kb-article__body prewrap", text: a.body || "" }));
  side.append(card);
  card.focus({ preventScroll: true });
  card.scrollIntoView({ block: "nearest" });
}

/** Admin editor: a new article (a = null) or an existing one. */
export function renderKbEditor(a, focus) {
  KB.editing = a;
  const side = clear(KB.dom.side);
  const inp = (name, props) => h("input", Object.assign({ type: "text", class: "input", name, autocomplete: "off", spellcheck: "false" }, props));
  const fTitle = inp("title", { required: true, maxlength: "200", spellcheck: "true", value: a ? a.title : "" });
  const fSlug = inp("slug", { class: "input mono", maxlength: "80", pattern: "[a-z0-9._\\-]{1,80}", placeholder: "made from the title", value: a ? a.slug : "" });
  const fTags = inp("tags", { placeholder: "billing, refunds", value: a && Array.isArray(a.tags) ? a.tags.join(", ") : "" });
  const fUrl = inp("url", { type: "url", maxlength: "500", placeholder: "https://help.example.com/refunds", value: a && a.url ? a.url : "" });
  const fBody = h("textarea", { class: "input mono kb-body", name: "body", rows: "14", required: true, spellcheck: "true", value: a ? a.body : "" });
  const err = h("p", { class: "form-error", role: "alert", dataset: { testid: "kb-form-error" }, hidden: true });
  const fields = { title: fTitle, slug: fSlug, tags: fTags, url: fUrl, body: fBody };
  const snapshot = () => JSON.stringify([fTitle.value, fSlug.value, fTags.value, fUrl.value, fBody.value]);
  const initial = snapshot();
  KB.dirty = () => fTitle.isConnected && snapshot() !== initial;
  const showError = (msg, fieldName) => {
    err.textContent = msg; err.hidden = false;
    for (const [k, el] of Object.entries(fields)) if (k === fieldName) el.setAttribute("aria-invalid", "true"); else el.removeAttribute("aria-invalid");
    if (fields[fieldName]) fields[fieldName].focus();
  };
  const submit = h("button", { type: "submit", class: "btn btn--primary", dataset: { testid: "kb-save" }, text: a ? "Save changes" : "Add article" });
  const form = h("form", { class: "card form kb-form", dataset: { testid: "kb-form", id: a ? a.id : "" }, "aria-label": a ? `Edit article ${a.title}` : "New article",
    onsubmit: async (e) => {
      e.preventDefault();
      err.hidden = true;
      const body = { title: fTitle.value.trim(), body: fBody.value, tags: kbTags(fTags.value), url: fUrl.value.trim() || null };
      const slug = fSlug.value.trim().toLowerCase();
      if (slug) body.slug = slug;
      if (!body.title) { showError("Give the article a title.", "title"); return; }
      if (!body.body.trim()) { showError("The article body is empty.", "body"); return; }
      if (slug && !/^[a-z0-9._-]{1,80}$/.test(slug)) { showError("Slugs use a–z, 0–9, '-', '_' and '.' (up to 80).", "slug"); return; }
      if (body.url && !safeHttpUrl(body.url)) { showError("The URL must start with http:// or https://.", "url"); return; }
      submitting(form, true);
      try {
        const saved = a
          ? await api(`/kb/articles/${enc(a.id)}`, { method: "PUT", body })
          : await api("/kb/articles", { method: "POST", body });
        const art = saved && saved.article ? saved.article : saved;
        if (!art || !art.id) throw new ApiError(0, "invalid_response", "Unexpected answer from the server.");
        KB.articles = KB.articles.filter((x) => x.id !== art.id).concat([art]);
        toast(a ? "Article saved" : "Article added", "info", 2000);
        renderKbEditor(art, false);
        renderKbList();
        const t = $("[name=title]", KB.dom.side); if (t) t.focus();
      } catch (ex) {
        submitting(form, false);
        if (ex.status === 401) return;
        let which = null;
        if (ex.code === "conflict" || ex.status === 409) which = "slug";
        else { const m = /\b(title|slug|body|url|tags?)\b/i.exec(ex.message || ""); if (m) which = m[1].toLowerCase().replace(/^tag$/, "tags"); }
        showError(ex.code === "conflict" || ex.status === 409 ? ex.message || "Another article already uses this slug." : ex.message || "Could not save the article.", which);
      }
    } },
  h("div", { class: "kb-form__head" },
    h("h2", { class: "card__title", text: a ? `Edit: ${a.title}` : "New article" }),
    a ? h("button", { type: "button", class: "btn btn--ghost btn--small", dataset: { testid: "kb-new" }, text: "New article", onclick: () => {
      if (KB.dirty() && !window.confirm("Discard your unsaved changes to this article?")) return;
      renderKbEditor(null, true); renderKbList();
    } }) : null),
  h("div", { class: "grid kb-form__grid" },
    field("Title", fTitle),
    field("Slug", fSlug, "Stable id, e.g. refund-policy. Left empty, it is made from the title."),
    field("Tags", fTags, "Comma-separated."),
    field("Public URL (optional)", fUrl, "Shown as the source link when set.")),
  field("Body (Markdown)", fBody, "Plain Markdown. Keep one topic per article; ## headings make good passages."),
  err,
  h("div", { class: "row" }, submit,
    a ? h("button", { type: "button", class: "btn btn--danger", dataset: { testid: "kb-delete" }, text: "Delete", onclick: () => deleteKbArticle(a) }) : null,
    a ? h("span", { class: "hint" }, "Updated ", kbDate(a.updated_at)) : null));
  for (const el of Object.values(fields)) el.addEventListener("input", () => el.removeAttribute("aria-invalid"));
  side.append(form);
  if (focus) { fTitle.focus({ preventScroll: true }); form.scrollIntoView({ block: "nearest" }); }
}

export async function deleteKbArticle(a) {
  if (!window.confirm(`Delete the article “${a.title}”? The bot and suggested replies stop using it.`)) return;
  try {
    await api(`/kb/articles/${enc(a.id)}`, { method: "DELETE" });
    KB.articles = KB.articles.filter((x) => x.id !== a.id);
    toast("Article deleted", "info", 2000);
    if (KB.editing && KB.editing.id === a.id) renderKbEditor(null, false);
    renderKbList();
  } catch (e) { if (e.status === 404) { KB.articles = KB.articles.filter((x) => x.id !== a.id); renderKbList(); } fail(e); }
}

/** "What would the bot find for this question?" */
export function kbSearchCard() {
  const input = h("input", { type: "search", id: uid("kbq"), class: "input", name: "q", maxlength: "500", autocomplete: "off",
    placeholder: "e.g. How do I get a refund?", dataset: { testid: "kb-search-input" } });
  const results = h("div", { class: "kb-results", dataset: { testid: "kb-results" }, "aria-live": "polite" });
  const btn = h("button", { type: "submit", class: "btn btn--primary", dataset: { testid: "kb-search" }, text: "Search" });
  const form = h("form", { class: "card form kb-search", role: "search", "aria-label": "Test the knowledge base", onsubmit: async (e) => {
    e.preventDefault();
    const q = input.value.trim();
    if (!q) { clear(results); input.focus(); return; }
    const gen = ++KB.searchGen;
    results.setAttribute("aria-busy", "true");
    clear(results).append(h("p", { class: "muted" }, h("span", { class: "spinner", "aria-hidden": "true" }), " Searching…"));
    let hits = null, err = null;
    try { hits = ((await api(`/kb/search?${new URLSearchParams({ q, limit: "5" })}`)) || {}).hits || []; } catch (ex) { err = ex; }
    if (gen !== KB.searchGen || !results.isConnected) return;
    results.removeAttribute("aria-busy");
    clear(results);
    if (err) { results.append(h("p", { class: "form-error", dataset: { testid: "kb-search-error" }, text: `Search failed: ${err.message}` })); return; }
    if (!hits.length) { results.append(h("p", { class: "muted", dataset: { testid: "kb-no-hits" }, text: "No article matches — the bot would have nothing to answer from and would hand this question to an agent." })); return; }
    results.append(h("p", { class: "sr-only", text: `${hits.length} passage${hits.length === 1 ? "" : "s"} found` }),
      h("ol", { class: "kb-hits" }, hits.filter((x) => x && x.article).map((x) => {
        const art = x.article;
        const href = safeHttpUrl(art.url);
        const score = Number(x.score);
        return h("li", { class: "kb-hit", dataset: { testid: "kb-hit", id: art.id || "" } },
          h("div", { class: "kb-hit__top" },
            KB.articles.some((y) => y.id === art.id)
              ? h("button", { type: "button", class: "link-btn kb-hit__title", text: art.title || art.slug, onclick: () => openKbArticle(art.id) })
              : h("strong", { class: "kb-hit__title", text: art.title || art.slug }),
            x.heading ? h("span", { class: "kb-hit__heading", text: `§ ${x.heading}` }) : null,
            Number.isFinite(score) ? h("span", { class: "chip", dataset: { testid: "kb-score" }, title: "Retrieval score (higher is closer)", text: `score ${score.toFixed(2)}` }) : null,
            href ? h("a", { href, target: "_blank", rel: "noopener noreferrer nofollow", text: "page ↗", title: art.url }) : null),
          x.snippet ? h("p", { class: "kb-hit__snippet prewrap", text: x.snippet }) : null);
      })));
  } },
  h("h2", { class: "card__title", text: "Test a question" }),
  h("label", { for: input.id, class: "label", text: "What would the bot find for this question?" }),
  h("div", { class: "row kb-search__bar" }, input, btn),
  results);
  return form;
}
