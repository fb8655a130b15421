/* The live store of this page (see store.js for its shape and merge rules) and the helpers that
 * read it with the signed-in agent in mind. */
import { inFilter, mergeSummary, newStore } from "./store.js";
import { LS, ME, lsGet, parseJSON } from "./util.js";

export const S = newStore({
  filter: parseJSON(lsGet(LS.filter)),
  myPresence: lsGet(LS.presence),
  notify: lsGet(LS.notify) === "1",
  contactPanel: lsGet(LS.contact) !== "0",
});
export const dom = {};          // persistent shell nodes
export const rowNodes = new Map();

export function agentName(id) {
  if (!id) return "Unassigned";
  if (id === ME.id) return "You";
  const a = S.agents.get(id);
  return (a && (a.name || a.email)) || "Agent";
}
export function presenceOf(id) {
  if (S.presenceLive) return S.presence.get(id) || "offline";
  const a = S.agents.get(id);
  return (a && a.status) || "offline";
}
/** Whether a summary belongs in the list as it is filtered now. */
export function matchesFilter(s) { return inFilter(s, S.filter, ME.id); }

export function storeSummary(s) { return mergeSummary(S.sums, s); }
