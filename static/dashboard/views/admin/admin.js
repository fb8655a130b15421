/* Admin pages: shared form helpers and renderAdmin(section). */
import { dom } from "../../state.js";
import { $$, ME, clear, h, toast, uid } from "../../util.js";
import { renderAdminAgents } from "./agents.js";
import { renderAdminCanned } from "./canned.js";
import { renderAdminInboxes } from "./inboxes.js";
import { renderAdminKb } from "./kb.js";

// ───────────────────────────── admin: shared helpers ─────────────────────────────
export function field(label, input, hint) {
  if (!input.id) input.id = uid("f");
  const kids = [h("label", { for: input.id, text: label }), input];
  if (hint) { const hid = `${input.id}-hint`; input.setAttribute("aria-describedby", hid); kids.push(h("p", { class: "hint", id: hid, text: hint })); }
  return h("div", { class: "field" }, kids);
}
export function checkField(label, input) {
  if (!input.id) input.id = uid("f");
  return h("div", { class: "field field--check" }, input, h("label", { for: input.id, text: label }));
}
export async function copyText(text, el) {
  try { await navigator.clipboard.writeText(text); toast("Copied to the clipboard", "info", 2000); } catch (_) {
    if (el && el.select) { el.focus(); el.select(); }
    let ok = false;
    try { ok = document.execCommand("copy"); } catch (__) { ok = false; }
    toast(ok ? "Copied to the clipboard" : "Press Ctrl+C (⌘C) to copy the selected text", ok ? "info" : "error", 3000);
  }
}
export function adminShell(title, ...kids) {
  return clear(dom.adminView).append(h("div", { class: "admin" }, h("h1", { class: "admin__title", text: title }), kids));
}
export function adminUnavailable(title, e) {
  adminShell(title, h("p", { class: "card", text: e.status === 404 ? "This server does not provide this page yet." : e.status === 403 ? "Only admins can open this page." : `Could not load: ${e.message}` }));
}
export function submitting(form, on) { for (const b of $$("button, input, select, textarea", form)) if (on) { b.dataset.wasDisabled = b.disabled ? "1" : ""; b.disabled = true; } else b.disabled = b.dataset.wasDisabled === "1"; }

export function renderAdmin(section) {
  if (section === "kb") { renderAdminKb(); return; } // agents may read the knowledge base
  if (ME.role !== "admin") { adminShell("Admin", h("p", { class: "card", text: "Only admins can open this page." })); return; }
  if (section === "inboxes") renderAdminInboxes();
  else if (section === "canned") renderAdminCanned();
  else renderAdminAgents();
}
