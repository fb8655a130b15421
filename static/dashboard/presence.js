/* Presence: the agent's own online/away switch and the other agents' dots. */
import { api } from "./api.js";
import { Sock } from "./socket.js";
import { S, dom, presenceOf } from "./state.js";
import { $, $$, LS, ME, h, lsSet } from "./util.js";
import { fillAssignOptions } from "./views/conv-pane.js";
import { renderList } from "./views/list.js";
import { renderMessages } from "./views/messages.js";

// ───────────────────────────── presence ─────────────────────────────
export function setMyPresence(st) {
  S.myPresence = st;
  lsSet(LS.presence, st === "away" ? "away" : null);
  Sock.send({ type: "presence", status: st });
  renderMyPresence();
}
export function renderMyPresence() {
  const b = dom.presence; if (!b) return;
  b.dataset.status = S.myPresence;
  b.setAttribute("aria-pressed", String(S.myPresence === "away"));
  $(".presence__label", b).textContent = S.myPresence === "away" ? "Away" : "Online";
  b.setAttribute("aria-label", `Your status: ${S.myPresence}. Switch to ${S.myPresence === "away" ? "online" : "away"}`);
}
export function presenceDot(id) {
  const st = presenceOf(id);
  return h("span", { class: `pdot pdot--${st}`, dataset: { presenceFor: id }, title: st, role: "img", "aria-label": st });
}
export function renderPresence() {
  for (const n of $$("[data-presence-for]")) {
    const st = presenceOf(n.dataset.presenceFor);
    n.className = `pdot pdot--${st}`; n.title = st; n.setAttribute("aria-label", st);
  }
  for (const n of $$("[data-presence-text]")) n.textContent = presenceOf(n.dataset.presenceText);
  if (S.conv && S.conv.dom && document.activeElement !== S.conv.dom.assign) fillAssignOptions(S.conv);
}
export const PRES_GLYPH = { online: "●", away: "◐", offline: "○" };

export async function loadAgents() {
  try {
    const r = await api("/agents");
    S.agents.clear();
    for (const a of r.agents || []) S.agents.set(a.id, a);
  } catch (e) { console.warn("switchboard: agents", e.message); }
  if (!S.agents.has(ME.id) && ME.id) S.agents.set(ME.id, { id: ME.id, name: ME.name, email: ME.email, role: ME.role, active: true });
  renderList();
  if (S.conv && S.conv.dom) { fillAssignOptions(S.conv); renderMessages(); }
}
