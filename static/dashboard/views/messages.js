/* The open conversation's messages, including un-acked sends from the outbox. */
import { isMine } from "../live.js";
import { saveOutbox, transmit } from "../sending.js";
import { S, agentName } from "../state.js";
import { tms } from "../store.js";
import { $, ME, clear, clock, contactName, fullTime, h } from "../util.js";
import { patchDraft } from "./shadow.js";

// ── messages ──
export function orderedItems(c) {
  const arr = [...c.msgs.values()].sort((a, b) => a.seq - b.seq);
  const pend = [...S.outbox.values()].filter((o) => o.convId === c.id).sort((a, b) => tms(a.createdAt) - tms(b.createdAt));
  for (const o of pend) {
    arr.push({ pending: true, client_msg_id: o.cmid, body: o.body, private: o.private, sender_type: "agent", sender_id: ME.id,
      created_at: o.createdAt, status: o.status, error: o.error });
  }
  return arr;
}

export function renderMessages(opts = {}) {
  const c = S.conv;
  if (!c || !c.dom || !c.loaded) return;
  const { list, scroller } = c.dom;
  const fromBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight;
  const atBottom = fromBottom < 80;
  const keep = new Set();
  let prev = null;
  for (const m of orderedItems(c)) {
    const key = m.pending ? `p:${m.client_msg_id}` : `s:${m.seq}`;
    let node = c.nodes.get(key);
    if (!node && !m.pending && m.client_msg_id && isMine(m)) {
      const pk = `p:${m.client_msg_id}`;
      node = c.nodes.get(pk);
      if (node) { c.nodes.delete(pk); c.nodes.set(key, node); }
    }
    if (!node) { node = buildMsg(m); c.nodes.set(key, node); }
    patchMsg(node, m, c);
    patchDraft(node, m, c);
    keep.add(key);
    const want = prev ? prev.nextSibling : list.firstChild;
    if (node !== want) list.insertBefore(node, want);
    prev = node;
  }
  for (const [k, n] of c.nodes) if (!keep.has(k)) { n.remove(); c.nodes.delete(k); }
  renderOlderButton(c);
  if (opts.prepend) scroller.scrollTop = scroller.scrollHeight - scroller.clientHeight - fromBottom;
  else if (atBottom || opts.toBottom) scroller.scrollTop = scroller.scrollHeight;
  else if (opts.incoming) c.dom.jump.hidden = false;
}

export function renderOlderButton(c) {
  if (!c.dom) return;
  c.dom.older.hidden = !c.hasMore;
  c.dom.older.disabled = c.loadingOlder;
  c.dom.older.textContent = c.loadingOlder ? "Loading…" : "Load older messages";
}

export function authorOf(m, c) {
  if (m.sender_type === "customer") {
    const k = (c.detail && c.detail.contact) || (S.sums.get(c.id) || {}).contact;
    return contactName(k);
  }
  if (m.sender_type === "agent") return m.sender_id === ME.id ? `${ME.name || "You"} (you)` : agentName(m.sender_id);
  if (m.sender_type === "bot") return "Bot";
  return "System";
}

export function buildMsg(m) {
  const li = h("li", { class: "msg", dataset: { testid: "message" } },
    h("div", { class: "msg__meta" }, h("span", { class: "msg__author" }), h("time", { class: "msg__time" })),
    h("div", { class: "msg__body", dataset: { testid: "body" }, text: m.body }),
    h("div", { class: "msg__status" }));
  return li;
}

export function patchMsg(li, m, c) {
  const own = m.sender_type === "agent";
  let status = "";
  if (m.pending) status = m.status === "failed" ? "failed" : m.status === "queued" ? "queued" : m.status === "retrying" ? "retrying" : "sending";
  else if (own) status = !m.private && m.seq <= c.customerRead ? "seen" : "sent";
  const author = authorOf(m, c);
  const sig = [m.seq, status, author, m.created_at, m.error].join("|");
  if (li._sig === sig) return;
  li._sig = sig;
  li.dataset.seq = m.pending ? "" : String(m.seq);
  li.dataset.sender = m.sender_type;
  li.dataset.private = String(!!m.private);
  if (status) li.dataset.status = status; else delete li.dataset.status;
  li.className = `msg msg--${m.sender_type}${m.private ? " msg--note" : ""}${m.pending ? " msg--pending" : ""}${status === "failed" ? " msg--failed" : ""}`;
  $(".msg__author", li).textContent = m.private ? (m.sender_type === "bot" ? "Bot handoff note" : `Note · ${author}`) : author;
  const t = $(".msg__time", li);
  t.textContent = clock(m.created_at); t.dateTime = m.created_at || ""; t.title = fullTime(m.created_at);
  const st = clear($(".msg__status", li));
  if (status === "failed") {
    st.append(h("span", { class: "msg__err", text: `Not sent${m.error ? `: ${m.error}` : ""}` }),
      h("button", { type: "button", class: "link-btn", dataset: { testid: "retry" }, text: "Retry", onclick: () => retrySend(m.client_msg_id) }),
      h("button", { type: "button", class: "link-btn", text: "Discard", onclick: () => discardSend(m.client_msg_id) }));
  } else if (status === "queued") st.textContent = "Waiting for connection…";
  else if (status === "retrying") st.textContent = "Failed, retrying…";
  else if (status === "sending") st.textContent = "Sending…";
  else if (status === "seen") st.textContent = "✓✓ Seen";
  else if (status === "sent") st.textContent = m.private ? "" : "✓ Sent";
}

export function retrySend(cmid) {
  const o = S.outbox.get(cmid);
  if (!o) return;
  o.tries = 0;
  transmit(o);
  saveOutbox();
}
export function discardSend(cmid) {
  S.outbox.delete(cmid); saveOutbox();
  if (S.conv) renderMessages();
}
