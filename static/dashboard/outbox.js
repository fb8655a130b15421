/* The outbox, pure part: messages the agent sent that the server has not acknowledged yet, kept
 * in a Map (client_msg_id → item) that survives reloads (localStorage) and socket drops. No DOM,
 * no socket: unit-tested with `node --test` (test/outbox.test.js). The glue is in sending.js. */

/** Tries before a retryable error becomes "failed" (the agent can still retry by hand). */
export const MAX_TRIES = 6;

/** A new item, "queued" until the socket takes it. */
export function newSend(cmid, convId, body, priv, now = new Date()) {
  return { cmid, convId, body, private: !!priv, status: "queued", error: null, createdAt: now.toISOString(), tries: 0 };
}

/** The `send` frame for an item (protocol.md: the client_msg_id makes resends idempotent). */
export function sendFrame(o) {
  return { type: "send", conversation_id: o.convId, client_msg_id: o.cmid, body: o.body, private: o.private };
}

/** What to store: JSON of every item (in flight counts as queued: it is sent again on load), or
 * null when the outbox is empty (the key is removed). */
export function persisted(outbox) {
  const items = [...outbox.values()].map((o) => ({ ...o, status: o.status === "failed" ? "failed" : "queued" }));
  return items.length ? JSON.stringify(items) : null;
}

/** Loads stored items (untrusted JSON) into `outbox`; malformed entries are skipped. */
export function restore(outbox, json) {
  let items = null;
  try { items = json ? JSON.parse(json) : null; } catch (_) { items = null; }
  if (Array.isArray(items)) for (const o of items) if (o && o.cmid && o.convId) outbox.set(o.cmid, o);
  return outbox;
}

/** The items to (re)send when the socket is up: everything but the failed ones. */
export function pending(outbox) {
  return [...outbox.values()].filter((o) => o.status !== "failed");
}

/** The message an ack stands for: a duplicate ack has no message frame, and the frame may race
 * the ack, so the dashboard records it at once (marked synthetic until the real frame comes). */
export function ackedMessage(o, f, meId) {
  return { id: f.id, conversation_id: f.conversation_id || o.convId, seq: f.seq, client_msg_id: o.cmid,
    sender_type: "agent", sender_id: meId, private: o.private, body: o.body, created_at: o.createdAt, _synthetic: true };
}

/** Applies a send error frame to item `o`: the delay in ms before trying again, or null when
 * the item is now "failed" (not retryable, or too many tries). */
export function sendFailed(o, f) {
  o.tries = (o.tries || 0) + 1;
  if (f.retryable && o.tries < MAX_TRIES) {
    o.status = "retrying"; o.error = f.message;
    return f.retry_after ? f.retry_after * 1000 : Math.min(15000, 1000 * 2 ** o.tries);
  }
  o.status = "failed"; o.error = f.message || "Not sent";
  return null;
}
