/* Live frames from the agent socket: hello, messages, conversation changes, typing, read receipts,
 * shadow-mode bot drafts;
 * summaries fetched on demand. */
import { api } from "./api.js";
import { notify } from "./notify.js";
import { renderPresence } from "./presence.js";
import { flushOutbox, onAck, onSendError, saveOutbox } from "./sending.js";
import { Sock } from "./socket.js";
import { S, storeSummary } from "./state.js";
import { applyMessage, listable } from "./store.js";
import { ME, announce, contactName, enc, toast } from "./util.js";
import { patchHead } from "./views/conv-pane.js";
import { Typing, addToConversation, onReplayDone, onResync, renderAgentTyping, setBotTyping, setCustomerTyping, subscribeConv } from "./views/conversation.js";
import { loadList, placeInList, renderList, scheduleCounts } from "./views/list.js";
import { loadDrafts, onBotDraft } from "./views/shadow.js";
import { renderMessages } from "./views/messages.js";

export function onSocketDown() {
  const c = S.conv;
  if (c) {
    c.sub = "none";
    if (c.customerTyping) setCustomerTyping(c, false);
    if (c.botTyping) setBotTyping(c, false);
    c.agentTyping.clear(); renderAgentTyping(c);
  }
  for (const o of S.outbox.values()) if (o.status === "sending" || o.status === "retrying") o.status = "queued";
  if (c) renderMessages();
  Typing.active = false;
}

export function onFrame(f) {
  switch (f.type) {
    case "hello": return onHello(f);
    case "message": return ingestMessage(f);
    case "ack": return onAck(f);
    case "error":
      if (f.ref) return onSendError(f);
      console.warn("switchboard: server error", f.code, f.message);
      return undefined;
    case "replay_done": return onReplayDone(f);
    case "resync": return onResync(f);
    case "typing": return onTyping(f);
    case "read": return onRead(f);
    case "presence":
      S.presence.set(f.agent_id, f.status);
      return renderPresence();
    case "conversation_created": return onConversationCreated(f);
    case "conversation_updated": return onConversationUpdated(f);
    case "bot_draft": return onBotDraft(f); // shadow mode (agents only)
    default: return undefined; // pong and unknown frames are ignored
  }
}

export function onHello(f) {
  Sock.ready = true;
  Sock.setState("online");
  if (Array.isArray(f.presence)) {
    S.presence.clear();
    for (const p of f.presence) S.presence.set(p.agent_id, p.status);
    S.presenceLive = true;
    renderPresence();
  }
  if (S.myPresence === "away") Sock.send({ type: "presence", status: "away" });
  if (S.conv && S.conv.loaded) { subscribeConv(S.conv); loadDrafts(S.conv); }
  flushOutbox();
  if (S.list.loaded) loadList({ reset: true });
  if (Sock.everReady) toast("Reconnected", "info", 2500);
  Sock.everReady = true;
}

// ───────────────────────────── live message handling ─────────────────────────────
export const isMine = (m) => m.sender_type === "agent" && m.sender_id === ME.id;

export function ingestMessage(m) {
  if (!m || !m.conversation_id || typeof m.seq !== "number") return;
  const mine = isMine(m);
  if (mine && m.client_msg_id && S.outbox.has(m.client_msg_id) && !m._synthetic) {
    S.outbox.delete(m.client_msg_id); saveOutbox();
  }
  const c = S.conv;
  const isOpen = c && c.id === m.conversation_id;
  let isNew = true;
  if (isOpen) isNew = addToConversation(c, m);

  // Conversation list / summaries.
  const s = S.sums.get(m.conversation_id);
  if (s) {
    if (!applyToSummary(s, m)) isNew = false;
  } else if (!m._synthetic) {
    // Unknown conversation: fetch its summary; messages arriving meanwhile are applied after.
    if (!lateMsgs.has(m.conversation_id)) lateMsgs.set(m.conversation_id, []);
    lateMsgs.get(m.conversation_id).push(m);
    fetchSummary(m.conversation_id, { reason: "message" });
  }

  if (isNew && m.sender_type === "bot" && m.private && s && s.bot_state === "active") fetchSummary(m.conversation_id, {});
  if (isNew && m.sender_type === "customer" && !m._synthetic) {
    const who = contactName(s && s.contact);
    if (isOpen) announce(`New message from ${who}: ${m.body.slice(0, 140)}`);
    if (!s || !s.assignee_id || s.assignee_id === ME.id) notify(`New message from ${who}`, m.body, m.conversation_id);
  }
}

/** Updates a cached summary with a message; false if the summary already had it. */
export function applyToSummary(s, m) {
  const r = applyMessage(s, m, { read: !!(S.conv && S.conv.id === s.id && viewingConversation()) });
  if (!r) return false;
  placeInList(s, { top: true });
  if (r.recount) scheduleCounts();
  return true;
}

export function viewingConversation() {
  return document.visibilityState === "visible" && S.route.name === "conv";
}

export const pendingSummaries = new Map();
export const lateMsgs = new Map(); // conversation id → messages that arrived while its summary was loading
export const staleSummaries = new Set(); // changed while its fetch was in flight: fetch again after
export function fetchSummary(id, opts = {}) {
  if (pendingSummaries.has(id)) { staleSummaries.add(id); return pendingSummaries.get(id); }
  const p = api(`/conversations/${enc(id)}`).then((d) => {
    const s = storeSummary(d.conversation);
    if (!s) return null;
    if (d.contact && !s.contact) s.contact = d.contact;
    const late = lateMsgs.get(id) || [];
    lateMsgs.delete(id);
    for (const m of late.sort((x, y) => x.seq - y.seq)) applyToSummary(s, m);
    placeInList(s, {});
    if (listable(s)) scheduleCounts();
    if (opts.reason === "created" && listable(s)) {
      const who = contactName(s.contact);
      announce(`New conversation from ${who}`);
      notify("New conversation", `${who}${s.last_message ? `: ${s.last_message.body}` : ""}`, s.id);
    }
    return s;
  }).catch((e) => { lateMsgs.delete(id); if (e.status !== 404) console.warn("switchboard: summary", e.message); return null; })
    .finally(() => {
      pendingSummaries.delete(id);
      // The server's summary is the truth (assignee, unread): a change that raced the fetch
      // above is picked up by fetching once more.
      if (staleSummaries.delete(id)) fetchSummary(id, {});
    });
  pendingSummaries.set(id, p);
  return p;
}

export function onConversationCreated(f) { if (f.conversation_id) fetchSummary(f.conversation_id, { reason: "created" }); }

export function onConversationUpdated(f) {
  const s = S.sums.get(f.conversation_id);
  if (!s) {
    fetchSummary(f.conversation_id, {}).then((x) => { if (x && x.assignee_id === ME.id) assignedToMe(x); });
    scheduleCounts();
    return;
  }
  const prevAssignee = s.assignee_id;
  s.status = f.status || s.status;
  s.assignee_id = f.assignee_id || null;
  s.snoozed_until = f.snoozed_until || null;
  if ("bot_state" in f) s.bot_state = f.bot_state || null;
  // Frames without bot_state: a bot conversation changing state may mean a hand-off — refetch.
  else if (s.bot_state === "active") fetchSummary(s.id, {});
  placeInList(s, {});
  scheduleCounts();
  if (S.conv && S.conv.id === s.id) patchHead();
  if (s.assignee_id === ME.id && prevAssignee !== ME.id) assignedToMe(s);
}
export function assignedToMe(s) {
  const who = contactName(s.contact);
  announce(`Conversation with ${who} was assigned to you`);
  notify("Assigned to you", `Conversation with ${who}`, s.id);
}

export function onTyping(f) {
  const c = S.conv;
  if (!c || c.id !== f.conversation_id) return;
  if (f.sender_type === "customer") setCustomerTyping(c, !!f.typing);
  else if (f.sender_type === "bot") setBotTyping(c, !!f.typing);
  else if (f.sender_type === "agent" && f.sender_id !== ME.id) {
    clearTimeout(c.agentTyping.get(f.sender_id));
    if (f.typing) {
      c.agentTyping.set(f.sender_id, setTimeout(() => { c.agentTyping.delete(f.sender_id); renderAgentTyping(c); }, 7000));
    } else c.agentTyping.delete(f.sender_id);
    renderAgentTyping(c);
  }
}

export function onRead(f) {
  const c = S.conv;
  if (f.reader_type === "customer" && c && c.id === f.conversation_id && f.seq > c.customerRead) {
    c.customerRead = f.seq;
    renderMessages();
  }
  if (f.reader_type === "agent" && f.reader_id === ME.id) {
    if (c && c.id === f.conversation_id) c.myRead = Math.max(c.myRead, f.seq);
    const s = S.sums.get(f.conversation_id);
    if (s && s.unread && f.seq >= (s.last_seq || 0)) { s.unread = 0; renderList(); }
  }
}
