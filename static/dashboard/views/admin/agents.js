/* Admin page: agents (list, roles, invitations). */
import { api } from "../../api.js";
import { presenceDot } from "../../presence.js";
import { S, dom, presenceOf } from "../../state.js";
import { $, ME, clear, enc, fail, h, toast } from "../../util.js";
import { adminShell, adminUnavailable, copyText, field, submitting } from "./admin.js";

// ── admin: agents ──
export async function renderAdminAgents() {
  adminShell("Agents", h("p", { class: "muted", text: "Loading…" }));
  let agents;
  try { agents = (await api("/agents")).agents || []; } catch (e) { adminUnavailable("Agents", e); return; }
  if (S.route.name !== "admin" || S.route.section !== "agents") return;
  for (const a of agents) S.agents.set(a.id, a);
  const tbody = h("tbody");
  const table = h("table", { class: "table" },
    h("caption", { class: "sr-only", text: "Agents" }),
    h("thead", {}, h("tr", {}, ["Agent", "Status", "Role", "Max open", "Active", ""].map((t) => h("th", { scope: "col", text: t })))),
    tbody);
  const sorted = agents.slice().sort((a, b) => String(a.name).localeCompare(String(b.name)));
  for (const a of sorted) tbody.append(agentRow(a));
  adminShell("Agents", inviteForm(), h("div", { class: "card card--flush table-wrap" }, table));
}

export function agentRow(a) {
  const self = a.id === ME.id;
  const patch = async (body, ctl) => {
    try {
      const r = await api(`/agents/${enc(a.id)}`, { method: "PATCH", body });
      Object.assign(a, r.agent || body); S.agents.set(a.id, a);
      toast("Saved", "info", 1500);
      return true;
    } catch (e) { fail(e); if (ctl) ctl(); return false; }
  };
  const role = h("select", { class: "select", "aria-label": `Role of ${a.name}`, disabled: self },
    h("option", { value: "agent", text: "Agent" }), h("option", { value: "admin", text: "Admin" }));
  role.value = a.role;
  role.addEventListener("change", () => patch({ role: role.value }, () => { role.value = a.role; }));
  const max = h("input", { type: "number", class: "input input--num", min: "0", max: "999", value: a.max_open == null ? "" : String(a.max_open), "aria-label": `Maximum open conversations for ${a.name}`, placeholder: "∞" });
  max.addEventListener("change", () => {
    const v = max.value.trim() === "" ? null : Math.max(0, parseInt(max.value, 10) || 0);
    patch({ max_open: v }, () => { max.value = a.max_open == null ? "" : String(a.max_open); });
  });
  const activeLabel = h("span", { class: a.active ? "status status--open" : "status status--resolved", text: a.active ? "Active" : "Deactivated" });
  const toggle = h("button", { type: "button", class: a.active ? "btn btn--danger btn--small" : "btn btn--ghost btn--small", disabled: self,
    text: a.active ? "Deactivate" : "Reactivate", title: self ? "You cannot deactivate yourself" : null,
    onclick: async () => {
      if (a.active && !window.confirm(`Deactivate ${a.name}? They are signed out immediately and cannot log in.`)) return;
      if (await patch({ active: !a.active })) renderAdminAgents();
    } });
  return h("tr", { dataset: { testid: "agent-row", id: a.id } },
    h("td", {}, h("div", { class: "who" }, h("strong", { text: a.name || "—" }), h("span", { class: "muted", text: a.email }))),
    h("td", {}, presenceDot(a.id), " ", h("span", { class: "muted", dataset: { presenceText: a.id }, text: presenceOf(a.id) })),
    h("td", {}, role), h("td", {}, max), h("td", {}, activeLabel), h("td", {}, toggle));
}

export function inviteForm() {
  const email = h("input", { type: "email", class: "input", name: "email", required: true, autocomplete: "off" });
  const name = h("input", { type: "text", class: "input", name: "name", required: true, maxlength: "120", autocomplete: "off" });
  const role = h("select", { class: "select", name: "role" }, h("option", { value: "agent", text: "Agent" }), h("option", { value: "admin", text: "Admin" }));
  const pw = h("input", { type: "text", class: "input", name: "password", autocomplete: "new-password" });
  const result = h("div", { class: "result", "aria-live": "polite" });
  const form = h("form", { class: "card form", "aria-label": "Invite agent", onsubmit: async (e) => {
    e.preventDefault();
    const body = { email: email.value.trim(), name: name.value.trim(), role: role.value };
    if (pw.value) body.password = pw.value;
    submitting(form, true);
    try {
      const r = await api("/agents", { method: "POST", body });
      if (r.agent) S.agents.set(r.agent.id, r.agent);
      form.reset();
      const out = h("input", { class: "input mono", readOnly: true, value: r.password || body.password || "", "aria-label": "Password for the new agent" });
      clear(result).append(h("div", { class: "callout", dataset: { testid: "invite-result" } },
        h("p", {}, h("strong", { text: `${body.name} can now sign in as ${body.email}.` })),
        r.password ? h("p", { text: "Their password is shown only once — copy it and share it securely:" }) : null,
        r.password ? h("div", { class: "row" }, out, h("button", { type: "button", class: "btn btn--ghost", text: "Copy", onclick: () => copyText(out.value, out) })) : null));
      const tbody = $(".table tbody", dom.adminView);
      if (tbody && r.agent) tbody.append(agentRow(r.agent));
    } catch (err) { fail(err); } finally { submitting(form, false); }
  } },
  h("h2", { class: "card__title", text: "Invite agent" }),
  h("div", { class: "grid" }, field("Email", email), field("Name", name), field("Role", role),
    field("Password (optional)", pw, "Leave empty to generate one.")),
  h("button", { type: "submit", class: "btn btn--primary", text: "Create agent" }), result);
  return form;
}
