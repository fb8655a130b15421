/* The dashboard's entry module (loaded by templates/app.html as /static/<hash>/dashboard/app.js): builds the
 * shell, applies hash routes (route()), global keyboard shortcuts, and starts the socket.
 * Plain JS, no build step, no framework. Contract: docs/ui-contract.md, protocol: docs/protocol.md.
 * Security rule: user data (bodies, names, emails, URLs…) is only ever put in the DOM with
 * textContent / createElement / setAttribute — never innerHTML. */
import { api, setLeaving } from "./api.js";
import { ensureAudio, renderNotifyToggle, toggleNotify } from "./notify.js";
import { loadAgents, renderMyPresence, setMyPresence } from "./presence.js";
import { parseRoute, searchHash } from "./router.js";
import { loadOutbox } from "./sending.js";
import { Sock } from "./socket.js";
import { S, dom, rowNodes } from "./state.js";
import { $, $$, ME, clear, h, isTextField, root } from "./util.js";
import { renderAdmin } from "./views/admin/admin.js";
import { closeCanned } from "./views/composer.js";
import { applyContactVisibility, closeSnooze, popover, renderEmptyConvPane } from "./views/conv-pane.js";
import { Typing, closeConversation, markRead, openConversation } from "./views/conversation.js";
import { buildListPane, inboxHash, loadList, renderFilters, renderList, setFilter, stepConversation } from "./views/list.js";
import { SR, buildSearchView, closeSearchHelp, focusSearch, leaveSearch, showSearch, stepSearchHit } from "./views/search.js";

export function closePopups() {
  let closed = closeCanned();
  closed = closeSnooze() || closed;
  closed = closeSearchHelp() || closed;
  if (dom.layout && dom.layout.classList.contains("show-contact-sm")) {
    dom.layout.classList.remove("show-contact-sm"); applyContactVisibility(); closed = true;
  }
  return closed;
}

export function onGlobalKey(e) {
  if (e.key === "Escape") { if (closePopups()) e.preventDefault(); return; }
  const t = e.target;
  // "/" jumps to the search box — never while typing (the composer's "/shortcut" stays intact).
  if (e.key === "/" && !e.defaultPrevented && !e.ctrlKey && !e.metaKey && !e.altKey && !e.isComposing && !isTextField(t)) {
    e.preventDefault(); focusSearch(); return;
  }
  if (e.defaultPrevented || e.ctrlKey || e.metaKey || S.route.name === "admin") return;
  if (S.route.name === "search") {
    if (e.altKey || e.shiftKey || isTextField(t)) return;
    if (e.key === "j") { e.preventDefault(); stepSearchHit(1); } else if (e.key === "k") { e.preventDefault(); stepSearchHit(-1); }
    return;
  }
  if (e.altKey && (e.key === "ArrowDown" || e.key === "ArrowUp")) {
    if (t && t.tagName === "SELECT") return;
    e.preventDefault(); stepConversation(e.key === "ArrowDown" ? 1 : -1); return;
  }
  if (e.altKey || e.shiftKey || isTextField(t)) return;
  if (e.key === "j") { e.preventDefault(); stepConversation(1); }
  else if (e.key === "k") { e.preventDefault(); stepConversation(-1); }
  else if (e.key === "c" && S.conv && S.conv.dom) { e.preventDefault(); S.conv.dom.composer.focus(); }
}

/** Applies the route in location.hash to the page (hashchange, and once at start). */
export function route() {
  let r = parseRoute(location.hash, ME.role);
  // The bare "#/search" (main navigation) comes back to the last search.
  if (r.name === "search" && !r.q && SR.q && !/[?&]q=/.test(location.hash)) {
    history.replaceState(history.state, "", searchHash(SR));
    r = parseRoute(location.hash, ME.role);
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

export function buildShell() {
  dom.main = $("#main");
  dom.conn = $("#conn");
  dom.presence = $("#presence-toggle");
  dom.notify = $("#notify-toggle");
  if (ME.role === "admin") for (const a of $$("[data-admin-only]")) a.hidden = false;
  ensureKbNav();
  if (dom.conn) dom.conn.addEventListener("click", () => Sock.kick());
  if (dom.presence) dom.presence.addEventListener("click", () => setMyPresence(S.myPresence === "away" ? "online" : "away"));
  if (dom.notify) dom.notify.addEventListener("click", toggleNotify);
  const logout = $("form.logout");
  if (logout) logout.addEventListener("submit", () => { setLeaving(); Typing.stop(); });

  dom.convPane = h("section", { class: "pane pane-conv", "aria-label": "Conversation" });
  dom.contactPane = h("aside", { class: "pane pane-contact", id: "pane-contact", tabindex: "-1", "aria-label": "Contact details" });
  dom.layout = h("div", { class: "layout" }, buildListPane(), dom.convPane, dom.contactPane);
  dom.inboxView = h("div", { class: "view view-inbox" }, dom.layout);
  dom.adminView = h("div", { class: "view view-admin", hidden: true, tabindex: "-1" });
  buildSearchView();
  clear(dom.main).append(dom.inboxView, dom.adminView, dom.searchView);
  renderEmptyConvPane();
  renderFilters();
  renderMyPresence();
  renderNotifyToggle();
  Sock.setState("connecting");
}

/** The "Knowledge base" entry of the main navigation (every agent may read it; admins edit). */
export function ensureKbNav() {
  const nav = $(".mainnav");
  if (!nav) return;
  const a = $("[data-nav=kb]", nav);
  if (a) { a.hidden = false; return; }
  nav.append(h("a", { href: "#/admin/kb", dataset: { nav: "kb", testid: "nav-kb" }, text: "Knowledge base" }));
}

export function start() {
  if (!ME.id) { api("/me").then((m) => { Object.assign(ME, { id: m.agent_id, account_id: m.account_id, role: m.role, name: m.name, email: m.email }); }).catch(() => {}); }
  loadOutbox();
  buildShell();
  window.addEventListener("hashchange", route);
  document.addEventListener("keydown", onGlobalKey);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") { markRead(); if (Sock.state === "offline") Sock.kick(); }
  });
  window.addEventListener("focus", markRead);
  window.addEventListener("online", () => Sock.kick());
  window.addEventListener("resize", applyContactVisibility);
  document.addEventListener("pointerdown", (e) => {
    if (popover && !popover.el.contains(e.target) && e.target !== popover.trigger) closeSnooze();
    if (S.notify) ensureAudio();
  }, true);
  document.addEventListener("keydown", () => { if (S.notify) ensureAudio(); }, { once: true, capture: true });
  setInterval(() => { for (const li of rowNodes.values()) li._sig = null; renderList(); }, 30000);
  setInterval(() => Sock.watchdog(), 5000);
  route();
  loadAgents();
  Sock.connect();
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();
