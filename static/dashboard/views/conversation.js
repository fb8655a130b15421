/* The open conversation: its state, subscription and replay, older pages, read marks, typing. */
import { api } from "../api.js";
import { closePopups } from "../app.js";
import { isMine, viewingConversation } from "../live.js";
import { Sock } from "../socket.js";
import { S, agentName, storeSummary } from "../state.js";
import { addMessage, maxSeq, minSeq } from "../store.js";
import { $, ME, UUID_RE, contactName, enc, fail, h } from "../util.js";
import { cancelSuggest } from "./assist.js";
import { buildConvPane, patchHead, renderContact, renderEmptyConvPane, showConvError } from "./conv-pane.js";
import { renderList, renderListSelection } from "./list.js";
import { renderMessages, renderOlderButton } from "./messages.js";
import { loadDrafts } from "./shadow.js";

// ───────────────────────────── open conversation ─────────────────────────────
export let convGen = 0;

export function newConvState(id) {
  return {
    id, gen: ++convGen, msgs: new Map(), nodes: new Map(), hasMore: false, loadingOlder: false,
    resume: 0, sub: "none", loaded: false, myRead: 0, customerRead: 0, readTimer: 0,
    customerTyping: false, customerTypingTimer: 0, agentTyping: new Map(), note: false, detail: null, dom: null,
    botTyping: false, botTypingTimer: 0, suggest: null, summarizing: false, drafts: new Map(), draftBusy: null,
  };
}

export async function openConversation(id, force) {
  if (!force && S.conv && S.conv.id === id) return;
  closeConversation();
  const c = newConvState(id);
  S.conv = c;
  buildConvPane(c);
  renderListSelection();
  if (!UUID_RE.test(id)) { showConvError(c, "Conversation not found."); return; }
  try {
    const [detail, page] = await Promise.all([
      api(`/conversations/${enc(id)}`),
      api(`/conversations/${enc(id)}/messages?limit=50`),
    ]);
    if (S.conv !== c) return;
    c.detail = detail;
    const s = storeSummary(detail.conversation);
    if (s && detail.contact && !s.contact) s.contact = { id: detail.contact.id, name: detail.contact.name, email: detail.contact.email };
    for (const r of detail.read || []) {
      if (r.reader_type === "customer") c.customerRead = Math.max(c.customerRead, r.seq);
      if (r.reader_type === "agent" && r.reader_id === ME.id) c.myRead = Math.max(c.myRead, r.seq);
    }
    const msgs = page.messages || [];
    for (const m of msgs) addToConversation(c, m);
    c.hasMore = !!page.has_more;
    c.resume = msgs.reduce((mx, m) => Math.max(mx, m.seq), 0);
    c.loaded = true;
    $(".conv-loading", c.dom.pane)?.remove();
    patchHead();
    renderContact(c);
    renderMessages({ toBottom: true });
    subscribeConv(c);
    markRead();
    loadDrafts(c);
  } catch (e) {
    if (S.conv !== c) return;
    showConvError(c, e.status === 404 ? "Conversation not found." : `Could not open the conversation: ${e.message}`);
  }
}

export function closeConversation() {
  const c = S.conv;
  if (!c) return;
  closePopups();
  cancelSuggest(c);
  if (c.dom) {
    const v = c.dom.composer.value;
    if (v.trim()) S.drafts.set(c.id, v); else S.drafts.delete(c.id);
  }
  Typing.stop();
  if (c.sub !== "none") Sock.send({ type: "unsubscribe", conversation_id: c.id });
  clearTimeout(c.readTimer); clearTimeout(c.customerTypingTimer); clearTimeout(c.botTypingTimer);
  for (const t of c.agentTyping.values()) clearTimeout(t);
  S.conv = null;
  renderEmptyConvPane();
  renderListSelection();
}

export function subscribeConv(c) {
  if (!c || !c.loaded) return;
  if (Sock.send({ type: "subscribe", conversation_id: c.id, after_seq: c.resume })) c.sub = "replaying";
}
export function onReplayDone(f) {
  const c = S.conv;
  if (!c || c.id !== f.conversation_id) return;
  c.sub = "live";
  c.resume = Math.max(c.resume, f.last_seq || 0);
  markRead();
}
export function onResync(f) {
  const c = S.conv;
  if (!c || c.id !== f.conversation_id) return;
  c.sub = "none";
  if (/beyond/i.test(f.reason || "")) { openConversation(c.id, true); return; }
  c.resume = Math.min(c.resume, f.last_seq || 0);
  setTimeout(() => { if (S.conv === c) subscribeConv(c); }, 500);
}

/** Returns true when the message was new for this conversation. */
export function addToConversation(c, m) {
  const r = addMessage(c, m);
  if (!r) return false;
  if (m.sender_type === "customer" && c.customerTyping) setCustomerTyping(c, false);
  if (m.sender_type === "bot" && c.botTyping) setBotTyping(c, false);
  if (c.loaded) {
    renderMessages({ incoming: !isMine(m) });
    markRead();
  }
  return r.isNew;
}

export async function loadOlder() {
  const c = S.conv;
  if (!c || !c.loaded || c.loadingOlder || !c.hasMore) return;
  c.loadingOlder = true; renderOlderButton(c);
  try {
    const r = await api(`/conversations/${enc(c.id)}/messages?before_seq=${minSeq(c)}&limit=50`);
    if (S.conv !== c) return;
    for (const m of r.messages || []) if (!c.msgs.has(m.seq)) c.msgs.set(m.seq, m);
    c.hasMore = !!r.has_more;
    renderMessages({ prepend: true });
  } catch (e) { fail(e); } finally { c.loadingOlder = false; renderOlderButton(c); }
}

export function markRead() {
  const c = S.conv;
  if (!c || !c.loaded || !viewingConversation()) return;
  const top = maxSeq(c);
  const s = S.sums.get(c.id);
  if (s && s.unread && top >= (s.last_seq || 0)) { s.unread = 0; renderList(); }
  if (!top || top <= c.myRead) return;
  clearTimeout(c.readTimer);
  c.readTimer = setTimeout(() => {
    if (S.conv !== c || !viewingConversation()) return;
    const seq = maxSeq(c);
    if (seq <= c.myRead) return;
    c.myRead = seq;
    if (!Sock.send({ type: "read", conversation_id: c.id, seq })) {
      api(`/conversations/${enc(c.id)}/read`, { method: "POST", body: { seq } }).catch(() => { c.myRead = 0; });
    }
  }, 300);
}

// ── typing (outgoing) ──
export const Typing = {
  convId: null, priv: false, active: false, sentAt: 0, idle: 0,
  ping(convId, priv) {
    if (this.active && (convId !== this.convId || priv !== this.priv)) this.stop();
    const now = Date.now();
    if (!this.active || now - this.sentAt > 2500) {
      if (Sock.send({ type: "typing", conversation_id: convId, typing: true, private: priv })) {
        this.active = true; this.sentAt = now; this.convId = convId; this.priv = priv;
      }
    }
    clearTimeout(this.idle);
    this.idle = setTimeout(() => this.stop(), 3000);
  },
  stop() {
    clearTimeout(this.idle);
    if (!this.active) return;
    this.active = false;
    Sock.send({ type: "typing", conversation_id: this.convId, typing: false, private: this.priv });
  },
};

// ── typing (incoming) ──
export function setCustomerTyping(c, on) {
  clearTimeout(c.customerTypingTimer);
  c.customerTyping = on;
  if (on) c.customerTypingTimer = setTimeout(() => setCustomerTyping(c, false), 7000);
  if (!c.dom) return;
  const slot = c.dom.typingSlot;
  const cur = $("[data-testid=typing]", slot);
  if (on && !cur) {
    const who = contactName(S.sums.get(c.id) && S.sums.get(c.id).contact);
    slot.prepend(h("div", { class: "typing", dataset: { testid: "typing" } },
      h("span", { class: "typing__dots", "aria-hidden": "true" }, h("i"), h("i"), h("i")),
      h("span", { text: `${who} is typing…` })));
  } else if (!on && cur) cur.remove();
}
export function setBotTyping(c, on) {
  clearTimeout(c.botTypingTimer);
  c.botTyping = on;
  // A model can take a while: the indicator lasts longer than a person's, then expires.
  if (on) c.botTypingTimer = setTimeout(() => setBotTyping(c, false), 20000);
  if (!c.dom) return;
  const slot = c.dom.typingSlot;
  const cur = $("[data-testid=bot-typing]", slot);
  if (on && !cur) {
    slot.prepend(h("div", { class: "typing typing--bot", dataset: { testid: "bot-typing" } },
      h("span", { class: "typing__dots", "aria-hidden": "true" }, h("i"), h("i"), h("i")),
      h("span", { text: "Bot is typing…" })));
  } else if (!on && cur) cur.remove();
}
export function renderAgentTyping(c) {
  if (!c.dom) return;
  const slot = c.dom.typingSlot;
  $(".typing--agent", slot)?.remove();
  if (!c.agentTyping.size) return;
  const names = [...c.agentTyping.keys()].map(agentName).join(", ");
  slot.append(h("div", { class: "typing typing--agent", dataset: { testid: "agent-typing" } },
    h("span", { text: `${names} ${c.agentTyping.size > 1 ? "are" : "is"} also typing…` })));
}
