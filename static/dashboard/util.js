/* Shared helpers: constants, the page's data (ME, CSRF, MAX_BODY_BYTES from the server), the h()
 * element factory, time formatting, toasts and the screen-reader announcer. */
import { tms } from "./store.js";

// ───────────────────────────── constants & utilities ─────────────────────────────
export const API = "/api/v1";
export const LS = {
  presence: "switchboard:presence",
  notify: "switchboard:notify",
  filter: "switchboard:filter",
  contact: "switchboard:contact-panel",
  outbox: "switchboard:outbox:",
};
export const VIEW_LABELS = { mine: "Mine", unassigned: "Unassigned", all: "All" };
export const STATUS_LABELS = { open: "Open", pending: "Pending", snoozed: "Snoozed", resolved: "Resolved" };
export const DAYS = [["mon", "Monday"], ["tue", "Tuesday"], ["wed", "Wednesday"], ["thu", "Thursday"],
  ["fri", "Friday"], ["sat", "Saturday"], ["sun", "Sunday"]];
export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const PROPS = new Set(["value", "checked", "disabled", "selected", "hidden", "readOnly", "required", "multiple"]);

export const root = document.body;
export const CSRF = root.dataset.csrf || "";
export const ME = parseJSON(root.dataset.agent) || {};
/** The server's `max_body_bytes` (the page carries it), for the composer's length check. */
export const MAX_BODY_BYTES = Number(root.dataset.maxBodyBytes) || 16384;

export function parseJSON(s) { try { return s ? JSON.parse(s) : null; } catch (_) { return null; } }
export function lsGet(k) { try { return localStorage.getItem(k); } catch (_) { return null; } }
export function lsSet(k, v) {
  try { if (v == null) localStorage.removeItem(k); else localStorage.setItem(k, v); } catch (_) { /* private mode */ }
}
export const $ = (sel, el) => (el || document).querySelector(sel);
export const $$ = (sel, el) => Array.from((el || document).querySelectorAll(sel));
export const enc = encodeURIComponent;

/** Element factory. props: class, text, dataset, on<event>, a few DOM properties, else attributes. */
export function h(tag, props, ...kids) {
  const n = document.createElement(tag);
  if (props) {
    for (const k of Object.keys(props)) {
      const v = props[k];
      if (v == null || v === false) continue;
      if (k === "class") n.className = v;
      else if (k === "text") n.textContent = v;
      else if (k === "dataset") Object.assign(n.dataset, v);
      else if (k === "style") for (const p of Object.keys(v)) n.style.setProperty(p, v[p]);
      else if (k.startsWith("on") && typeof v === "function") n.addEventListener(k.slice(2), v);
      else if (PROPS.has(k)) n[k] = v;
      else n.setAttribute(k, v === true ? "" : String(v));
    }
  }
  append(n, kids);
  return n;
}
export function append(n, kids) {
  for (const c of kids) {
    if (c == null || c === false) continue;
    if (Array.isArray(c)) append(n, c);
    else n.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}
export function clear(n) { while (n.firstChild) n.firstChild.remove(); return n; }
export let uidN = 0;
export const uid = (p) => `${p}-${++uidN}`;

export function uuid() {
  if (window.crypto && typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 15) | 64; b[8] = (b[8] & 63) | 128;
  const x = Array.from(b, (v) => v.toString(16).padStart(2, "0")).join("");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}
export const byteLen = (s) => new TextEncoder().encode(s).length;
export function relTime(v) {
  const t = tms(v); if (!t) return "";
  const d = (Date.now() - t) / 1000;
  if (d < 45) return "now";
  if (d < 3600) return `${Math.max(1, Math.round(d / 60))} min`;
  if (d < 86400) return `${Math.floor(d / 3600)} h`;
  if (d < 7 * 86400) return `${Math.floor(d / 86400)} d`;
  return new Date(t).toLocaleDateString([], { month: "short", day: "numeric" });
}
export function duration(v) {
  const m = Math.max(1, Math.floor((Date.now() - tms(v)) / 60000));
  if (m < 60) return `${m} min`;
  const hr = Math.floor(m / 60);
  if (hr < 24) return `${hr} h${m % 60 ? ` ${m % 60} min` : ""}`;
  return `${Math.floor(hr / 24)} d`;
}
export function clock(v) {
  const t = tms(v); if (!t) return "";
  const d = new Date(t);
  return d.toDateString() === new Date().toDateString()
    ? d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
    : d.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}
export const fullTime = (v) => (tms(v) ? new Date(tms(v)).toLocaleString() : "—");
export function safeHttpUrl(u) {
  try { const x = new URL(u); return x.protocol === "http:" || x.protocol === "https:" ? x.href : null; } catch (_) { return null; }
}
export function isTextField(t) {
  if (!t || !t.tagName) return false;
  if (t.isContentEditable || t.tagName === "TEXTAREA" || t.tagName === "SELECT") return true;
  return t.tagName === "INPUT" && !/^(checkbox|radio|button|submit|reset|color|range)$/.test(t.type);
}
export function contactName(c) { return (c && (c.name || c.email)) || "Visitor"; }
export function initial(s) { return (s || "?").trim().charAt(0).toUpperCase() || "?"; }
export function hue(s) { let x = 0; for (const ch of String(s)) x = (x * 31 + ch.charCodeAt(0)) % 360; return x; }

// ───────────────────────────── feedback: toasts & live region ─────────────────────────────
export function toast(msg, kind = "error", ms = 7000) {
  const box = $("#toasts"); if (!box) return;
  const t = h("div", { class: `toast toast--${kind}`, role: kind === "error" ? "alert" : "status" },
    h("span", { class: "toast__msg", text: msg }),
    h("button", { type: "button", class: "toast__close", "aria-label": "Dismiss", text: "×", onclick: () => t.remove() }));
  box.append(t);
  while (box.children.length > 4) box.firstChild.remove();
  if (ms) setTimeout(() => t.remove(), ms);
}
export function fail(e) {
  if (!e || e.status === 401) return;
  let msg = e.message || "Something went wrong";
  if (e.retryAfter) msg += ` (try again in ${e.retryAfter} s)`;
  toast(msg);
}
export function announce(msg) {
  const a = $("#announcer"); if (!a) return;
  a.append(h("p", { text: msg }));
  while (a.children.length > 5) a.firstChild.remove();
}
