import { S, dom } from "./store.js";
import { $$, ME, root } from "./util.js";
import { renderAdmin } from "./views/admin/admin.js";
import { closeConversation, openConversation } from "./views/conversation.js";
import { inboxHash, loadList, setFilter } from "./views/list.js";
import { SORTS, SR, leaveSearch, searchHash, showSearch } from "./views/search.js";

// ───────────────────────────── shell, routing, keyboard ─────────────────────────────
export function parseRoute() {
  const raw = location.hash.replace(/^#/, "") || "/inbox";
  const qi = raw.indexOf("?");
  const path = qi < 0 ? raw : raw.slice(0, qi);
  const qs = qi < 0 ? "" : raw.slice(qi + 1);
  const parts = path.split("/").filter(Boolean);
  const q = new URLSearchParams(qs);
  if (parts[0] === "search") {
    const page = parseInt(q.get("page") || "1", 10);
    return { name: "search", q: (q.get("q") || "").trim(), sort: SORTS.includes(q.get("sort")) ? q.get("sort") : "relevance",
      page: page > 0 ? Math.min(page, 100000) : 1 };
  }
  if (parts[0] === "c" && parts[1]) return { name: "conv", id: decodeURIComponent(parts[1]).toLowerCase() };
  if (parts[0] === "admin") return { name: "admin", section: ["agents", "inboxes", "canned", "kb"].includes(parts[1]) ? parts[1] : ME.role === "admin" ? "agents" : "kb" };
  return { name: "inbox", view: q.get("view"), status: q.get("status") };
}

export function route() {
  let r = parseRoute();
  // The bare "#/search" (main navigation) comes back to the last search.
  if (r.name === "search" && !r.q && SR.q && !/[?&]q=/.test(location.hash)) {
    history.replaceState(history.state, "", searchHash(SR));
    r = parseRoute();
  }
  const prev = S.route;
  S.route = r;
  const navKey = r.name === "admin" ? r.section : r.name === "search" ? "search" : "inbox";
  for (const a of $$("[data-nav]")) {
    if (a.dataset.nav === navKey) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  if (prev.name === "search" && r.name !== "search") leaveSearch();
  if (dom.searchView) dom.searchView.hidden = r.name !== "search";
  if (r.name === "search") {
    closeConversation();
    dom.inboxView.hidden = true; dom.adminView.hidden = true;
    root.classList.remove("has-conv");
    showSearch(r, prev.name !== "search");
    return;
  }
  if (r.name === "admin") {
    closeConversation();
    dom.inboxView.hidden = true; dom.adminView.hidden = false;
    root.classList.remove("has-conv");
    renderAdmin(r.section);
    dom.adminView.focus({ preventScroll: true });
    return;
  }
  dom.inboxView.hidden = false; dom.adminView.hidden = true;
  if (r.name === "inbox") {
    setFilter(r.view || S.filter.view, r.status || S.filter.status);
    closeConversation();
    root.classList.remove("has-conv");
  } else {
    if (!S.list.loaded && !S.list.loading) loadList({ reset: true });
    root.classList.add("has-conv");
    const wasOpen = S.conv && S.conv.id === r.id;
    openConversation(r.id);
    if (!wasOpen && window.matchMedia("(max-width: 760px)").matches && S.conv && S.conv.dom) S.conv.dom.title.focus({ preventScroll: true });
  }
  $$(".back").forEach((b) => b.setAttribute("href", inboxHash()));
}
