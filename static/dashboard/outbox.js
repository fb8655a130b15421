import { ingestMessage } from "./live.js";
import { Sock } from "./socket.js";
import { S } from "./store.js";
import { LS, ME, lsGet, lsSet, parseJSON, uuid } from "./util.js";
import { renderMessages } from "./views/messages.js";

// ───────────────────────────── outbox (un-acked sends) ─────────────────────────────
export function saveOutbox() {
  const items = [...S.outbox.values()].map((o) => ({ ...o, status: o.status === "failed" ? "failed" : "queued" }));
  lsSet(LS.outbox + (ME.id || "me"), items.length ? JSON.stringify(items) : null);
}
export function loadOutbox() {
  const items = parseJSON(lsGet(LS.outbox + (ME.id || "me")));
  if (Array.isArray(items)) for (const o of items) if (o && o.cmid && o.convId) S.outbox.set(o.cmid, o);
}
export function queueSend(convId, text, priv) {
  const o = { cmid: uuid(), convId, body: text, private: !!priv, status: "queued", error: null,
    createdAt: new Date().toISOString(), tries: 0 };
  S.outbox.set(o.cmid, o);
  saveOutbox();
  transmit(o);
}
export function transmit(o) {
  o.error = null;
  o.status = Sock.send({ type: "send", conversation_id: o.convId, client_msg_id: o.cmid, body: o.body, private: o.private })
    ? "sending" : "queued";
  if (S.conv && S.conv.id === o.convId) renderMessages();
}
export function flushOutbox() {
  for (const o of S.outbox.values()) if (o.status !== "failed") transmit(o);
}
export function onAck(f) {
  const o = S.outbox.get(f.client_msg_id);
  if (!o) return;
  S.outbox.delete(o.cmid);
  saveOutbox();
  // A duplicate ack has no message frame, and the frame may race the ack: record the message now.
  ingestMessage({ id: f.id, conversation_id: f.conversation_id || o.convId, seq: f.seq, client_msg_id: o.cmid,
    sender_type: "agent", sender_id: ME.id, private: o.private, body: o.body, created_at: o.createdAt, _synthetic: true });
}
export function onSendError(f) {
  const o = S.outbox.get(f.ref);
  if (!o) return;
  o.tries = (o.tries || 0) + 1;
  if (f.retryable && o.tries < 6) {
    o.status = "retrying"; o.error = f.message;
    const wait = f.retry_after ? f.retry_after * 1000 : Math.min(15000, 1000 * 2 ** o.tries);
    setTimeout(() => { if (S.outbox.get(o.cmid) === o && o.status === "retrying") transmit(o); }, wait);
  } else {
    o.status = "failed"; o.error = f.message || "Not sent";
    saveOutbox();
  }
  if (S.conv && S.conv.id === o.convId) renderMessages();
}
