/* Admin page: canned responses. */
import { api } from "../../api.js";
import { S } from "../../state.js";
import { enc, fail, h, toast } from "../../util.js";
import { adminShell, adminUnavailable, field, submitting } from "./admin.js";

// ── admin: canned responses ──
export async function renderAdminCanned() {
  adminShell("Canned responses", h("p", { class: "muted", text: "Loading…" }));
  let items;
  try { items = (await api("/canned")).canned || []; } catch (e) { adminUnavailable("Canned responses", e); return; }
  if (S.route.name !== "admin" || S.route.section !== "canned") return;
  items.sort((a, b) => a.shortcut.localeCompare(b.shortcut));
  S.canned = items.slice();
  let editing = null;
  const shortcut = h("input", { type: "text", class: "input mono", required: true, pattern: "[a-z0-9_\\-]{1,32}", maxlength: "32", placeholder: "shipping", autocomplete: "off" });
  const text = h("textarea", { class: "input", rows: "4", required: true });
  const title = h("h2", { class: "card__title", text: "Add a canned response" });
  const submit = h("button", { type: "submit", class: "btn btn--primary", text: "Add" });
  const cancel = h("button", { type: "button", class: "btn btn--ghost", hidden: true, text: "Cancel", onclick: () => edit(null) });
  const edit = (it) => {
    editing = it;
    shortcut.value = it ? it.shortcut : ""; text.value = it ? it.body : "";
    title.textContent = it ? `Edit /${it.shortcut}` : "Add a canned response";
    submit.textContent = it ? "Save" : "Add"; cancel.hidden = !it;
    if (it) shortcut.focus();
  };
  const form = h("form", { class: "card form", "aria-label": "Canned response", onsubmit: async (e) => {
    e.preventDefault();
    const body = { shortcut: shortcut.value.trim().toLowerCase().replace(/^\//, ""), body: text.value };
    if (!/^[a-z0-9_-]{1,32}$/.test(body.shortcut)) { toast("Shortcuts use a–z, 0–9, _ and - (up to 32)."); shortcut.focus(); return; }
    if (!body.body.trim()) { toast("The response text is empty."); text.focus(); return; }
    submitting(form, true);
    try {
      if (editing) await api(`/canned/${enc(editing.id)}`, { method: "PATCH", body });
      else await api("/canned", { method: "POST", body });
      S.canned = null;
      toast("Saved", "info", 1500);
      renderAdminCanned();
    } catch (err) { fail(err); submitting(form, false); }
  } }, title,
  field("Shortcut", shortcut, "Agents type /shortcut in the reply box. Lowercase letters, digits, _ and -."),
  field("Response", text), h("div", { class: "row" }, submit, cancel));
  const tbody = h("tbody");
  for (const it of items) {
    tbody.append(h("tr", { dataset: { testid: "canned-row", id: it.id } },
      h("td", { class: "mono", text: `/${it.shortcut}` }),
      h("td", { class: "prewrap", text: it.body }),
      h("td", { class: "nowrap" },
        h("button", { type: "button", class: "btn btn--ghost btn--small", text: "Edit", "aria-label": `Edit /${it.shortcut}`, onclick: () => edit(it) }), " ",
        h("button", { type: "button", class: "btn btn--danger btn--small", text: "Delete", "aria-label": `Delete /${it.shortcut}`, onclick: async () => {
          if (!window.confirm(`Delete /${it.shortcut}?`)) return;
          try { await api(`/canned/${enc(it.id)}`, { method: "DELETE" }); S.canned = null; renderAdminCanned(); } catch (e) { fail(e); }
        } }))));
  }
  const table = items.length
    ? h("div", { class: "card card--flush table-wrap" }, h("table", { class: "table" }, h("caption", { class: "sr-only", text: "Canned responses" }),
      h("thead", {}, h("tr", {}, h("th", { scope: "col", text: "Shortcut" }), h("th", { scope: "col", text: "Response" }), h("th", { scope: "col", text: "Actions" }))), tbody))
    : h("p", { class: "card muted", text: "No canned responses yet." });
  adminShell("Canned responses", form, table);
}
