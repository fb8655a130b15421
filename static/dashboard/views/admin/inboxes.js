/* Admin page: inboxes (widget settings, business hours, install snippet). */
import { api } from "../../api.js";
import { S } from "../../state.js";
import { $$, DAYS, clear, enc, fail, h, toast, uid } from "../../util.js";
import { adminShell, adminUnavailable, checkField, copyText, field, submitting } from "./admin.js";

// ── admin: inboxes ──
export async function renderAdminInboxes(selectId) {
  adminShell("Inboxes", h("p", { class: "muted", text: "Loading…" }));
  let inboxes;
  try { inboxes = (await api("/inboxes")).inboxes || []; } catch (e) { adminUnavailable("Inboxes", e); return; }
  if (S.route.name !== "admin" || S.route.section !== "inboxes") return;
  const editor = h("div", { class: "inbox-editor" });
  const list = h("ul", { class: "inbox-list", "aria-label": "Inboxes" });
  const select = (ib) => {
    for (const b of $$("button", list)) b.setAttribute("aria-current", String(b.dataset.id === ib.id));
    clear(editor).append(inboxForm(ib, (saved) => { Object.assign(ib, saved); renderAdminInboxes(ib.id); }));
  };
  for (const ib of inboxes) {
    list.append(h("li", {}, h("button", { type: "button", class: "inbox-list__btn", dataset: { id: ib.id }, "aria-current": "false", onclick: () => select(ib) },
      h("span", { class: "swatch", style: { background: /^#[0-9a-f]{6}$/i.test(ib.color) ? ib.color : "#888888" }, "aria-hidden": "true" }),
      h("span", { text: ib.name }), botChip(ib))));
  }
  const newName = h("input", { type: "text", class: "input", required: true, maxlength: "80", placeholder: "e.g. Website" });
  const create = h("form", { class: "form form--inline", "aria-label": "New inbox", onsubmit: async (e) => {
    e.preventDefault();
    submitting(create, true);
    try { const r = await api("/inboxes", { method: "POST", body: { name: newName.value.trim() } }); toast("Inbox created", "info", 2000); renderAdminInboxes(r.inbox && r.inbox.id); } catch (err) { fail(err); submitting(create, false); }
  } }, field("New inbox name", newName), h("button", { type: "submit", class: "btn btn--primary", text: "Add inbox" }));
  adminShell("Inboxes", h("div", { class: "split" }, h("div", { class: "card" }, list, create), editor));
  const first = inboxes.find((i) => i.id === selectId) || inboxes[0];
  if (first) select(first); else editor.append(h("p", { class: "card muted", text: "No inbox yet. Create one to get a widget snippet." }));
}

/** The inbox's bot mode: `bot_mode` from the server, or the older `bot_enabled` flag. */
export const botMode = (ib) => (["off", "shadow", "on"].includes(ib.bot_mode) ? ib.bot_mode : ib.bot_enabled ? "on" : "off");
function botChip(ib) {
  const m = botMode(ib);
  if (m === "on") return h("span", { class: "chip chip--bot", text: "Bot" });
  if (m === "shadow") return h("span", { class: "chip chip--bot chip--shadow", text: "Bot (shadow)" });
  return null;
}

export function inboxForm(ib, onSaved) {
  const name = h("input", { type: "text", class: "input", required: true, maxlength: "80", value: ib.name || "" });
  const color = h("input", { type: "color", class: "input input--color", value: /^#[0-9a-f]{6}$/i.test(ib.color) ? ib.color.toLowerCase() : "#2f5fd0" });
  const greeting = h("textarea", { class: "input", rows: "2", value: ib.greeting || "" });
  const offline = h("textarea", { class: "input", rows: "2", value: ib.offline_message || "" });
  const askEmail = h("input", { type: "checkbox", checked: !!ib.ask_email });
  const origins = h("textarea", { class: "input mono", rows: "3", value: (ib.allowed_origins || []).join("\n"), placeholder: "https://www.example.com" });
  const bh = ib.business_hours;
  const bhOn = h("input", { type: "checkbox", checked: !!bh });
  const offset = h("input", { type: "number", class: "input input--num", step: "15", min: "-840", max: "840", value: String(bh ? bh.utc_offset_minutes || 0 : -new Date().getTimezoneOffset()) });
  const dayRows = DAYS.map(([key, label]) => {
    const span = bh && bh.days && bh.days[key];
    const on = h("input", { type: "checkbox", id: uid("day"), checked: !!span });
    const open = h("input", { type: "time", class: "input", id: uid("open"), value: span ? span[0] : "09:00" });
    const close = h("input", { type: "time", class: "input", id: uid("close"), value: span ? span[1] : "17:00" });
    const tr = h("tr", {},
      h("th", { scope: "row" }, h("span", { class: "check" }, on, h("label", { for: on.id, text: label }))),
      h("td", {}, h("label", { class: "sr-only", for: open.id, text: `${label} opens at` }), open),
      h("td", {}, h("label", { class: "sr-only", for: close.id, text: `${label} closes at` }), close));
    return { key, on, open, close, tr };
  });
  const bhTable = h("table", { class: "table table--compact" }, h("caption", { class: "sr-only", text: "Opening hours per weekday" }),
    h("thead", {}, h("tr", {}, h("th", { scope: "col", text: "Day" }), h("th", { scope: "col", text: "Opens" }), h("th", { scope: "col", text: "Closes" }))),
    h("tbody", {}, dayRows.map((r) => r.tr)));
  const bhBox = h("fieldset", { class: "fieldset", disabled: !bh }, h("legend", { text: "Opening hours" }),
    field("UTC offset in minutes", offset, `Your browser is at ${-new Date().getTimezoneOffset()} (e.g. 60 = UTC+1). Days left unchecked are closed.`), bhTable);
  bhOn.addEventListener("change", () => { bhBox.disabled = !bhOn.checked; });
  const idReq = h("input", { type: "checkbox", checked: !!ib.identity_required });
  const secret = h("input", { type: "text", class: "input mono", readOnly: true, value: ib.identity_secret || "", placeholder: "none", "aria-label": "Identity secret" });
  const rotate = h("button", { type: "button", class: "btn btn--ghost", text: ib.identity_secret ? "Rotate" : "Generate", onclick: async () => {
    if (ib.identity_secret && !window.confirm("Rotate the identity secret? User hashes made with the old secret stop working.")) return;
    try { const r = await api(`/inboxes/${enc(ib.id)}/rotate-identity-secret`, { method: "POST" }); ib.identity_secret = r.inbox.identity_secret; secret.value = ib.identity_secret || ""; rotate.textContent = "Rotate"; toast("Identity secret rotated", "info", 2500); } catch (e) { fail(e); }
  } });
  const snippet = h("textarea", { class: "input mono", rows: "3", readOnly: true, value: ib.snippet || "", "aria-label": "Install snippet" });
  const turns0 = parseInt(ib.bot_max_turns, 10);
  const mode0 = botMode(ib);
  const botMode_ = h("select", { id: uid("bot"), class: "input", name: "bot_mode", dataset: { testid: "bot-mode" } },
    h("option", { value: "off", text: "Off", selected: mode0 === "off" }),
    h("option", { value: "shadow", text: "Shadow — drafts for agents, sends nothing", selected: mode0 === "shadow" }),
    h("option", { value: "on", text: "On — answers customers first", selected: mode0 === "on" }));
  const botTurns = h("input", { type: "number", id: uid("f"), class: "input input--num", name: "bot_max_turns", min: "1", max: "20", step: "1", required: true,
    value: String(turns0 >= 1 && turns0 <= 20 ? turns0 : 3), disabled: mode0 === "off", dataset: { testid: "bot-max-turns" } });
  botMode_.addEventListener("change", () => { botTurns.disabled = botMode_.value === "off"; });
  const botBox = h("fieldset", { class: "fieldset" }, h("legend", { text: "AI assistant" }),
    h("div", { class: "field" }, h("label", { for: botMode_.id, text: "First-line bot" }), botMode_),
    h("p", { class: "hint", id: `${botMode_.id}-hint`, text: "On: new conversations are answered first by a bot that uses the knowledge base; it hands the conversation to your team when it cannot help or the customer asks for a person. Shadow: conversations go to your team as usual; the bot only shows agents what it would have answered, so you can rate it (figures on the Knowledge base page) before turning it on." }),
    h("div", { class: "field bot-turns" }, h("label", { for: botTurns.id, text: "Bot answers before handing off" }), botTurns,
      h("p", { class: "hint", text: "1 to 20." })));
  botMode_.setAttribute("aria-describedby", `${botMode_.id}-hint`);
  const form = h("form", { class: "card form", "aria-label": `Edit inbox ${ib.name}`, dataset: { testid: "inbox-form" }, onsubmit: async (e) => {
    e.preventDefault();
    const days = {};
    for (const r of dayRows) if (r.on.checked) {
      if (!r.open.value || !r.close.value) { toast(`Set opening and closing times for ${r.key}.`); r.open.focus(); return; }
      days[r.key] = [r.open.value, r.close.value];
    }
    const body = {
      name: name.value.trim(), color: color.value, greeting: greeting.value, offline_message: offline.value,
      ask_email: askEmail.checked,
      allowed_origins: origins.value.split("\n").map((s) => s.trim().replace(/\/+$/, "")).filter(Boolean),
      business_hours: bhOn.checked ? { utc_offset_minutes: parseInt(offset.value, 10) || 0, days } : null,
      identity_required: idReq.checked,
      bot_mode: botMode_.value,
    };
    const turns = Number(botTurns.value);
    if (Number.isInteger(turns) && turns >= 1 && turns <= 20) body.bot_max_turns = turns;
    else if (botMode_.value !== "off") { toast("Bot answers before handing off: enter a whole number from 1 to 20."); botTurns.focus(); return; }
    submitting(form, true);
    try { const r = await api(`/inboxes/${enc(ib.id)}`, { method: "PATCH", body }); toast("Inbox saved", "info", 2000); onSaved(r.inbox || body); } catch (err) { fail(err); submitting(form, false); }
  } },
  h("h2", { class: "card__title", text: ib.name }),
  h("div", { class: "grid" }, field("Name", name), field("Color", color)),
  field("Greeting", greeting, "Shown when a visitor opens the chat."),
  field("Offline message", offline, "Shown outside business hours or when nobody is online."),
  checkField("Ask for the visitor's email before chatting", askEmail),
  field("Allowed websites (origins), one per line", origins, "Leave empty to allow any website."),
  checkField("Limit to business hours", bhOn), bhBox,
  h("fieldset", { class: "fieldset" }, h("legend", { text: "Identity verification" }),
    checkField("Require a valid user hash for identified users", idReq),
    h("div", { class: "field" }, h("span", { class: "label", text: "Identity secret" }), h("div", { class: "row" }, secret, rotate,
      h("button", { type: "button", class: "btn btn--ghost", text: "Copy", onclick: () => copyText(secret.value, secret) })),
    h("p", { class: "hint", text: "user_hash = hex HMAC-SHA256(secret, user_id), computed on your server." }))),
  botBox,
  h("div", { class: "field" }, h("span", { class: "label", text: "Install snippet" }), snippet,
    h("div", { class: "row" }, h("button", { type: "button", class: "btn btn--ghost", dataset: { testid: "copy-snippet" }, text: "Copy snippet", onclick: () => copyText(snippet.value, snippet) }),
      h("span", { class: "hint", text: "Paste before </body> on your website." }))),
  h("div", { class: "row" }, h("button", { type: "submit", class: "btn btn--primary", text: "Save inbox" })));
  return form;
}
