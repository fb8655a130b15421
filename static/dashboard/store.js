import { LS, ME, STATUSES, VIEWS, lsGet, parseJSON, tms } from "./util.js";

// ───────────────────────────── store ─────────────────────────────
export const savedFilter = parseJSON(lsGet(LS.filter)) || {};
export const S = {
  route: { name: "inbox" },
  filter: {
    view: VIEWS.includes(savedFilter.view) ? savedFilter.view : "all",
    status: STATUSES.includes(savedFilter.status) ? savedFilter.status : "open",
  },
  list: { ids: [], cursor: null, counts: null, loading: false, loaded: false, gen: 0, error: null },
  sums: new Map(),        // conversation id → Summary (everything we have seen)
  agents: new Map(),      // agent id → agent
  presence: new Map(),    // agent id → online|away|offline (from the socket)
  presenceLive: false,    // true once a hello roster arrived
  conv: null,             // the open conversation (see openConversation)
  canned: null, cannedPromise: null, cannedOff: false,
  outbox: new Map(),      // client_msg_id → {cmid, convId, body, private, status, error, createdAt, tries}
  drafts: new Map(),
  myPresence: lsGet(LS.presence) === "away" ? "away" : "online",
  notify: lsGet(LS.notify) === "1",
  contactPanel: lsGet(LS.contact) !== "0",
};
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
export const listable = (s) => !!(s && (s.last_message || (s.last_seq || 0) > 0));
export function matchesFilter(s) {
  const f = S.filter;
  if (!s || s.status !== f.status) return false;
  if (f.view === "mine") return s.assignee_id === ME.id;
  if (f.view === "unassigned") return !s.assignee_id;
  return true;
}
export const activity = (s) => tms(s.last_message_at) || tms(s.created_at);

export function storeSummary(s) {
  if (!s || !s.id) return null;
  const old = S.sums.get(s.id);
  const merged = old ? Object.assign(old, s) : s;
  S.sums.set(s.id, merged);
  return merged;
}
