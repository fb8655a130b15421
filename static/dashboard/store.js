/* The dashboard's store, pure part: the state's shape and how what the server sends (summaries,
 * messages) merges into it. No DOM, no network, no imports: unit-tested with `node --test`
 * (test/store.test.js). The live instance and its DOM-facing helpers are in state.js. */

export const VIEWS = ["mine", "unassigned", "all"];
export const STATUSES = ["open", "pending", "snoozed", "resolved"];

/** A timestamp (ISO string) in ms since the epoch; 0 when missing or unreadable. */
export const tms = (v) => { const t = Date.parse(v || ""); return Number.isNaN(t) ? 0 : t; };

/** The list filter from a saved (untrusted) value: unknown views and statuses fall back. */
export function filterFrom(saved) {
  const s = saved || {};
  return {
    view: VIEWS.includes(s.view) ? s.view : "all",
    status: STATUSES.includes(s.status) ? s.status : "open",
  };
}

/** A fresh store. `prefs` are the agent's saved choices (filter, presence, notify, contact panel). */
export function newStore(prefs = {}) {
  return {
    route: { name: "inbox" },
    filter: filterFrom(prefs.filter),
    list: { ids: [], cursor: null, counts: null, loading: false, loaded: false, gen: 0, error: null },
    sums: new Map(),        // conversation id → Summary (everything we have seen)
    agents: new Map(),      // agent id → agent
    presence: new Map(),    // agent id → online|away|offline (from the socket)
    presenceLive: false,    // true once a hello roster arrived
    conv: null,             // the open conversation (see openConversation)
    canned: null, cannedPromise: null, cannedOff: false,
    outbox: new Map(),      // client_msg_id → {cmid, convId, body, private, status, error, createdAt, tries}
    drafts: new Map(),
    myPresence: prefs.myPresence === "away" ? "away" : "online",
    notify: !!prefs.notify,
    contactPanel: prefs.contactPanel !== false,
  };
}

/** Shown in the list: a conversation with at least one message. */
export const listable = (s) => !!(s && (s.last_message || (s.last_seq || 0) > 0));
/** The list's sort key: the last message, else the creation time. */
export const activity = (s) => tms(s.last_message_at) || tms(s.created_at);

/** Whether summary `s` belongs in the list filtered by `f` ({view, status}) for agent `meId`. */
export function inFilter(s, f, meId) {
  if (!s || s.status !== f.status) return false;
  if (f.view === "mine") return s.assignee_id === meId;
  if (f.view === "unassigned") return !s.assignee_id;
  return true;
}

/** Merges a summary from the server into `sums` (id → summary), keeping the object identity of a
 * known one (views hold it). Returns the stored summary, or null for a value without an id. */
export function mergeSummary(sums, s) {
  if (!s || !s.id) return null;
  const old = sums.get(s.id);
  const merged = old ? Object.assign(old, s) : s;
  sums.set(s.id, merged);
  return merged;
}

/** Updates summary `s` with message `m`. null when `s` already had it; else `{recount}`: the
 * filter counts may have changed. `read`: the agent is looking at it (no unread bump). */
export function applyMessage(s, m, { read = false, now = () => new Date().toISOString() } = {}) {
  if (!(m.seq > (s.last_seq || 0) || !s.last_message)) return null;
  let recount = !listable(s);
  s.last_seq = Math.max(s.last_seq || 0, m.seq);
  s.last_message = { seq: m.seq, body: m.body, sender_type: m.sender_type, sender_id: m.sender_id, private: m.private, created_at: m.created_at };
  s.last_message_at = m.created_at || now();
  if (m.sender_type === "customer") {
    if (!s.waiting_since) s.waiting_since = m.created_at;
    if (!read) s.unread = (s.unread || 0) + 1;
    if (s.status === "resolved" || s.status === "snoozed") recount = true;
  } else if (!m.private && m.sender_type !== "system") {
    s.waiting_since = null;
  }
  return { recount };
}

/** Adds message `m` to the open conversation `c` (`c.msgs`: seq → message). A real message
 * replaces a synthetic one (made from an ack) at the same seq. null when nothing changed; else
 * `{isNew}`: false when it only replaced a synthetic copy. */
export function addMessage(c, m) {
  const old = c.msgs.get(m.seq);
  if (old && !old._synthetic) return null;
  c.msgs.set(m.seq, old ? Object.assign({}, m, { _synthetic: false }) : m);
  if (c.sub !== "none" && !m._synthetic) c.resume = Math.max(c.resume, m.seq);
  return { isNew: !old };
}

export function maxSeq(c) { let mx = 0; for (const k of c.msgs.keys()) if (k > mx) mx = k; return mx; }
export function minSeq(c) { let mn = Infinity; for (const k of c.msgs.keys()) if (k < mn) mn = k; return mn === Infinity ? 0 : mn; }
