/* Sending messages: the outbox (outbox.js) wired to the socket, localStorage and the view. */
import { ingestMessage } from "./live.js";
import { ackedMessage, newSend, pending, persisted, restore, sendFailed, sendFrame } from "./outbox.js";
import { Sock } from "./socket.js";
import { S } from "./state.js";
import { LS, ME, lsGet, lsSet, uuid } from "./util.js";
import { renderMessages } from "./views/messages.js";

export function saveOutbox() {
  lsSet(LS.outbox + (ME.id || "me"), persisted(S.outbox));
}
export function loadOutbox() {
  restore(S.outbox, lsGet(LS.outbox + (ME.id || "me")));
}
export function queueSend(convId, text, priv) {
  const o = newSend(uuid(), convId, text, priv);
  S.outbox.set(o.cmid, o);
  saveOutbox();
  transmit(o);
}
export function transmit(o) {
  o.error = null;
  o.status = Sock.send(sendFrame(o)) ? "sending" : "queued";
  if (S.conv && S.conv.id === o.convId) renderMessages();
}
export function flushOutbox() {
  for (const o of pending(S.outbox)) transmit(o);
}
export function onAck(f) {
  const o = S.outbox.get(f.client_msg_id);
  if (!o) return;
  S.outbox.delete(o.cmid);
  saveOutbox();
  ingestMessage(ackedMessage(o, f, ME.id));
}
export function onSendError(f) {
  const o = S.outbox.get(f.ref);
  if (!o) return;
  const wait = sendFailed(o, f);
  if (wait != null) {
    setTimeout(() => { if (S.outbox.get(o.cmid) === o && o.status === "retrying") transmit(o); }, wait);
  } else {
    saveOutbox();
  }
  if (S.conv && S.conv.id === o.convId) renderMessages();
}
