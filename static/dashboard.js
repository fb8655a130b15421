/* Switchboard agent dashboard. Plain JS, no build step.
 * Contract: docs/ui-contract.md, protocol: docs/protocol.md.
 * Security rule: user data (bodies, names, emails, URLs…) is only ever put in the DOM with
 * textContent / createElement / setAttribute — never innerHTML. */
(() => {
  "use strict";

  // ───────────────────────────── constants & utilities ─────────────────────────────
  const API = "/api/v1";
  const LS = {
    presence: "switchboard:presence",
    notify: "switchboard:notify",
    filter: "switchboard:filter",
    contact: "switchboard:contact-panel",
    outbox: "switchboard:outbox:",
  };
  const VIEWS = ["mine", "unassigned", "all"];
  const VIEW_LABELS = { mine: "Mine", unassigned: "Unassigned", all: "All" };
  const STATUSES = ["open", "pending", "snoozed", "resolved"];
  const STATUS_LABELS = { open: "Open", pending: "Pending", snoozed: "Snoozed", resolved: "Resolved" };
  const DAYS = [["mon", "Monday"], ["tue", "Tuesday"], ["wed", "Wednesday"], ["thu", "Thursday"],
    ["fri", "Friday"], ["sat", "Saturday"], ["sun", "Sunday"]];
  const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
  const MAX_BODY_BYTES = 16384;
  const PROPS = new Set(["value", "checked", "disabled", "selected", "hidden", "readOnly", "required", "multiple"]);

  const root = document.body;
  const CSRF = root.dataset.csrf || "";
  const ME = parseJSON(root.dataset.agent) || {};

  function parseJSON(s) { try { return s ? JSON.parse(s) : null; } catch (_) { return null; } }
  function lsGet(k) { try { return localStorage.getItem(k); } catch (_) { return null; } }
  function lsSet(k, v) {
    try { if (v == null) localStorage.removeItem(k); else localStorage.setItem(k, v); } catch (_) { /* private mode */ }
  }
  const $ = (sel, el) => (el || document).querySelector(sel);
  const $$ = (sel, el) => Array.from((el || document).querySelectorAll(sel));
  const enc = encodeURIComponent;

  /** Element factory. props: class, text, dataset, on<event>, a few DOM properties, else attributes. */
  function h(tag, props, ...kids) {
    const n = document.createElement(tag);
    if (props) {
      for (const k of Object.keys(props)) {
        const v = props[k];
        if (v == null || v === false) continue;
        if (k === "class") n.className = v;
        else if (k === "text") n.textContent = v;
        else if (k === "dataset") Object.assign(n.dataset, v);
        else if (k === "style") for (const p of Object.keys(v)) n.style.setProperty(p, v[p]);
        else if (k.startsWith("on") && typeof v === "function") n.addEventListener(k.slice(2), v);
        else if (PROPS.has(k)) n[k] = v;
        else n.setAttribute(k, v === true ? "" : String(v));
      }
    }
    append(n, kids);
    return n;
  }
  function append(n, kids) {
    for (const c of kids) {
      if (c == null || c === false) continue;
      if (Array.isArray(c)) append(n, c);
      else n.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
  }
  function clear(n) { while (n.firstChild) n.firstChild.remove(); return n; }
  let uidN = 0;
  const uid = (p) => `${p}-${++uidN}`;

  function uuid() {
    if (window.crypto && typeof crypto.randomUUID === "function") return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 15) | 64; b[8] = (b[8] & 63) | 128;
    const x = Array.from(b, (v) => v.toString(16).padStart(2, "0")).join("");
    return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
  }
  const byteLen = (s) => new TextEncoder().encode(s).length;
  const tms = (v) => { const t = Date.parse(v || ""); return Number.isNaN(t) ? 0 : t; };
  function relTime(v) {
    const t = tms(v); if (!t) return "";
    const d = (Date.now() - t) / 1000;
    if (d < 45) return "now";
    if (d < 3600) return `${Math.max(1, Math.round(d / 60))} min`;
    if (d < 86400) return `${Math.floor(d / 3600)} h`;
    if (d < 7 * 86400) return `${Math.floor(d / 86400)} d`;
    return new Date(t).toLocaleDateString([], { month: "short", day: "numeric" });
  }
  function duration(v) {
    const m = Math.max(1, Math.floor((Date.now() - tms(v)) / 60000));
    if (m < 60) return `${m} min`;
    const hr = Math.floor(m / 60);
    if (hr < 24) return `${hr} h${m % 60 ? ` ${m % 60} min` : ""}`;
    return `${Math.floor(hr / 24)} d`;
  }
  function clock(v) {
    const t = tms(v); if (!t) return "";
    const d = new Date(t);
    return d.toDateString() === new Date().toDateString()
      ? d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
      : d.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
  }
  const fullTime = (v) => (tms(v) ? new Date(tms(v)).toLocaleString() : "—");
  function safeHttpUrl(u) {
    try { const x = new URL(u); return x.protocol === "http:" || x.protocol === "https:" ? x.href : null; } catch (_) { return null; }
  }
  function isTextField(t) {
    if (!t || !t.tagName) return false;
    if (t.isContentEditable || t.tagName === "TEXTAREA" || t.tagName === "SELECT") return true;
    return t.tagName === "INPUT" && !/^(checkbox|radio|button|submit|reset|color|range)$/.test(t.type);
  }
  function contactName(c) { return (c && (c.name || c.email)) || "Visitor"; }
  function initial(s) { return (s || "?").trim().charAt(0).toUpperCase() || "?"; }
  function hue(s) { let x = 0; for (const ch of String(s)) x = (x * 31 + ch.charCodeAt(0)) % 360; return x; }

  // ───────────────────────────── feedback: toasts & live region ─────────────────────────────
  function toast(msg, kind = "error", ms = 7000) {
    const box = $("#toasts"); if (!box) return;
    const t = h("div", { class: `toast toast--${kind}`, role: kind === "error" ? "alert" : "status" },
      h("span", { class: "toast__msg", text: msg }),
      h("button", { type: "button", class: "toast__close", "aria-label": "Dismiss", text: "×", onclick: () => t.remove() }));
    box.append(t);
    while (box.children.length > 4) box.firstChild.remove();
    if (ms) setTimeout(() => t.remove(), ms);
  }
  function fail(e) {
    if (!e || e.status === 401) return;
    let msg = e.message || "Something went wrong";
    if (e.retryAfter) msg += ` (try again in ${e.retryAfter} s)`;
    toast(msg);
  }
  function announce(msg) {
    const a = $("#announcer"); if (!a) return;
    a.append(h("p", { text: msg }));
    while (a.children.length > 5) a.firstChild.remove();
  }

  // ───────────────────────────── HTTP API ─────────────────────────────
  class ApiError extends Error {
    constructor(status, code, message, retryAfter) {
      super(message); this.status = status; this.code = code; this.retryAfter = retryAfter;
    }
  }
  let leaving = false;
  function toLogin() {
    if (leaving) return;
    leaving = true;
    location.href = "/login?next=/app";
  }
  async function api(path, opts = {}) {
    const method = opts.method || "GET";
    const headers = { Accept: "application/json" };
    const init = { method, headers, credentials: "same-origin" };
    if (opts.body !== undefined) { headers["Content-Type"] = "application/json"; init.body = JSON.stringify(opts.body); }
    if (method !== "GET" && method !== "HEAD") headers["X-CSRF-Token"] = CSRF;
    if (opts.signal) init.signal = opts.signal;
    let res;
    try { res = await fetch(API + path, init); } catch (_) {
      if (opts.signal && opts.signal.aborted) throw new ApiError(0, "aborted", "Cancelled");
      throw new ApiError(0, "network", "Network error — check your connection.");
    }
    if (res.status === 401) { toLogin(); throw new ApiError(401, "unauthorized", "Session ended"); }
    if (res.status === 204) return null;
    let data = null;
    try { data = await res.json(); } catch (_) { /* empty or not JSON */ }
    if (!res.ok) {
      throw new ApiError(res.status, (data && data.code) || `http_${res.status}`,
        (data && data.message) || `Request failed (${res.status})`, res.headers.get("Retry-After"));
    }
    return data;
  }

  // ───────────────────────────── store ─────────────────────────────
  const savedFilter = parseJSON(lsGet(LS.filter)) || {};
  const S = {
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
  const dom = {};          // persistent shell nodes
  const rowNodes = new Map();

  function agentName(id) {
    if (!id) return "Unassigned";
    if (id === ME.id) return "You";
    const a = S.agents.get(id);
    return (a && (a.name || a.email)) || "Agent";
  }
  function presenceOf(id) {
    if (S.presenceLive) return S.presence.get(id) || "offline";
    const a = S.agents.get(id);
    return (a && a.status) || "offline";
  }
  const listable = (s) => !!(s && (s.last_message || (s.last_seq || 0) > 0));
  function matchesFilter(s) {
    const f = S.filter;
    if (!s || s.status !== f.status) return false;
    if (f.view === "mine") return s.assignee_id === ME.id;
    if (f.view === "unassigned") return !s.assignee_id;
    return true;
  }
  const activity = (s) => tms(s.last_message_at) || tms(s.created_at);

  function storeSummary(s) {
    if (!s || !s.id) return null;
    const old = S.sums.get(s.id);
    const merged = old ? Object.assign(old, s) : s;
    S.sums.set(s.id, merged);
    return merged;
  }

  // ───────────────────────────── outbox (un-acked sends) ─────────────────────────────
  function saveOutbox() {
    const items = [...S.outbox.values()].map((o) => ({ ...o, status: o.status === "failed" ? "failed" : "queued" }));
    lsSet(LS.outbox + (ME.id || "me"), items.length ? JSON.stringify(items) : null);
  }
  function loadOutbox() {
    const items = parseJSON(lsGet(LS.outbox + (ME.id || "me")));
    if (Array.isArray(items)) for (const o of items) if (o && o.cmid && o.convId) S.outbox.set(o.cmid, o);
  }
  function queueSend(convId, text, priv) {
    const o = { cmid: uuid(), convId, body: text, private: !!priv, status: "queued", error: null,
      createdAt: new Date().toISOString(), tries: 0 };
    S.outbox.set(o.cmid, o);
    saveOutbox();
    transmit(o);
  }
  function transmit(o) {
    o.error = null;
    o.status = Sock.send({ type: "send", conversation_id: o.convId, client_msg_id: o.cmid, body: o.body, private: o.private })
      ? "sending" : "queued";
    if (S.conv && S.conv.id === o.convId) renderMessages();
  }
  function flushOutbox() {
    for (const o of S.outbox.values()) if (o.status !== "failed") transmit(o);
  }
  function onAck(f) {
    const o = S.outbox.get(f.client_msg_id);
    if (!o) return;
    S.outbox.delete(o.cmid);
    saveOutbox();
    // A duplicate ack has no message frame, and the frame may race the ack: record the message now.
    ingestMessage({ id: f.id, conversation_id: f.conversation_id || o.convId, seq: f.seq, client_msg_id: o.cmid,
      sender_type: "agent", sender_id: ME.id, private: o.private, body: o.body, created_at: o.createdAt, _synthetic: true });
  }
  function onSendError(f) {
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

  // ───────────────────────────── socket manager ─────────────────────────────
  const Sock = {
    ws: null, ready: false, state: "connecting", attempt: 0, timer: 0, retryAt: 0, openedAt: 0,
    lastRx: 0, pingAt: 0, nonce: 0, everReady: false, connecting: false,

    url() { return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/agent"; },
    async connect() {
      clearTimeout(this.timer); this.timer = 0;
      if (this.ws || this.connecting || leaving) return;
      this.connecting = true;
      this.setState("connecting");
      let token;
      try {
        token = (await api("/auth/socket-token", { method: "POST" })).token;
      } catch (e) {
        this.connecting = false;
        if (e.status !== 401) this.retry();
        return;
      }
      let ws;
      try { ws = new WebSocket(this.url(), ["switchboard.v1", token]); } catch (_) {
        this.connecting = false; this.retry(); return;
      }
      this.connecting = false;
      this.ws = ws; this.ready = false;
      ws.onopen = () => { this.openedAt = Date.now(); this.lastRx = Date.now(); };
      ws.onmessage = (ev) => {
        this.lastRx = Date.now(); this.pingAt = 0;
        const f = typeof ev.data === "string" ? parseJSON(ev.data) : null;
        if (f && typeof f.type === "string") {
          try { onFrame(f); } catch (err) { console.error("switchboard: frame handler failed", f.type, err); }
        }
      };
      ws.onclose = (ev) => { if (this.ws === ws) this.down(ev.code); };
      ws.onerror = () => { /* onclose follows */ };
    },
    down(code) {
      const ws = this.ws;
      this.ws = null; this.ready = false;
      if (ws) { ws.onclose = ws.onmessage = ws.onerror = null; try { ws.close(); } catch (_) { /* ignore */ } }
      onSocketDown();
      if (code === 4003) { toLogin(); return; }
      if (this.openedAt && Date.now() - this.openedAt > 10000) this.attempt = 0;
      this.openedAt = 0;
      this.retry(code);
    },
    retry(code) {
      const base = Math.min(15000, 500 * 2 ** this.attempt);
      this.attempt = Math.min(this.attempt + 1, 10);
      // 1003/1008/1009 mean a client bug: do not hammer the server.
      const delay = [1003, 1008, 1009].includes(code) ? 15000 : base / 2 + Math.random() * base / 2;
      this.retryAt = Date.now() + delay;
      this.setState("offline");
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.connect(), delay);
    },
    /** Reconnect now (user click, browser back online, tab visible). */
    kick() { if (!this.ws && !this.connecting) { this.attempt = 0; this.connect(); } },
    send(frame) {
      if (!this.ws || !this.ready || this.ws.readyState !== 1) return false;
      try { this.ws.send(JSON.stringify(frame)); return true; } catch (_) { return false; }
    },
    /** Browsers cannot see server pings: detect a dead link with an app-level ping when idle. */
    watchdog() {
      if (!this.ws || !this.ready) return;
      const now = Date.now();
      if (this.pingAt && now - this.pingAt > 10000) { this.down(1006); return; }
      if (!this.pingAt && now - this.lastRx > 30000) {
        this.pingAt = now;
        this.send({ type: "ping", nonce: ++this.nonce });
      }
    },
    setState(st) {
      this.state = st;
      const b = dom.conn; if (!b) return;
      b.dataset.state = st;
      const label = st === "online" ? "Live" : st === "connecting" ? "Connecting…" : "Offline — reconnecting";
      $(".conn__label", b).textContent = label;
      b.title = st === "offline" ? "Disconnected. Click to reconnect now." : st === "online" ? "Connected" : "Connecting";
    },
  };

  function onSocketDown() {
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

  function onFrame(f) {
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
      default: return undefined; // pong and unknown frames are ignored
    }
  }

  function onHello(f) {
    Sock.ready = true;
    Sock.setState("online");
    if (Array.isArray(f.presence)) {
      S.presence.clear();
      for (const p of f.presence) S.presence.set(p.agent_id, p.status);
      S.presenceLive = true;
      renderPresence();
    }
    if (S.myPresence === "away") Sock.send({ type: "presence", status: "away" });
    if (S.conv && S.conv.loaded) subscribeConv(S.conv);
    flushOutbox();
    if (S.list.loaded) loadList({ reset: true });
    if (Sock.everReady) toast("Reconnected", "info", 2500);
    Sock.everReady = true;
  }

  // ───────────────────────────── live message handling ─────────────────────────────
  const isMine = (m) => m.sender_type === "agent" && m.sender_id === ME.id;

  function ingestMessage(m) {
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
  function applyToSummary(s, m) {
    if (!(m.seq > (s.last_seq || 0) || !s.last_message)) return false;
    const wasListable = listable(s);
    s.last_seq = Math.max(s.last_seq || 0, m.seq);
    s.last_message = { seq: m.seq, body: m.body, sender_type: m.sender_type, sender_id: m.sender_id, private: m.private, created_at: m.created_at };
    s.last_message_at = m.created_at || new Date().toISOString();
    if (m.sender_type === "customer") {
      if (!s.waiting_since) s.waiting_since = m.created_at;
      if (!(S.conv && S.conv.id === s.id && viewingConversation())) s.unread = (s.unread || 0) + 1;
      if (s.status === "resolved" || s.status === "snoozed") scheduleCounts();
    } else if (!m.private && m.sender_type !== "system") {
      s.waiting_since = null;
    }
    placeInList(s, { top: true });
    if (!wasListable) scheduleCounts();
    return true;
  }

  function viewingConversation() {
    return document.visibilityState === "visible" && S.route.name === "conv";
  }

  const pendingSummaries = new Map();
  const lateMsgs = new Map(); // conversation id → messages that arrived while its summary was loading
  const staleSummaries = new Set(); // changed while its fetch was in flight: fetch again after
  function fetchSummary(id, opts = {}) {
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

  function onConversationCreated(f) { if (f.conversation_id) fetchSummary(f.conversation_id, { reason: "created" }); }

  function onConversationUpdated(f) {
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
  function assignedToMe(s) {
    const who = contactName(s.contact);
    announce(`Conversation with ${who} was assigned to you`);
    notify("Assigned to you", `Conversation with ${who}`, s.id);
  }

  function onTyping(f) {
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

  function onRead(f) {
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

  // ───────────────────────────── notifications & sound ─────────────────────────────
  let audioCtx = null;
  let lastBeep = 0;
  function ensureAudio() {
    if (audioCtx) { if (audioCtx.state === "suspended") audioCtx.resume().catch(() => {}); return; }
    const AC = window.AudioContext || window.webkitAudioContext;
    if (AC) { try { audioCtx = new AC(); } catch (_) { audioCtx = null; } }
  }
  function beep() {
    if (!audioCtx || Date.now() - lastBeep < 1500) return;
    lastBeep = Date.now();
    try {
      const t = audioCtx.currentTime;
      [[880, 0], [1320, 0.13]].forEach(([freq, at]) => {
        const o = audioCtx.createOscillator();
        const g = audioCtx.createGain();
        o.type = "sine"; o.frequency.value = freq;
        g.gain.setValueAtTime(0.0001, t + at);
        g.gain.exponentialRampToValueAtTime(0.18, t + at + 0.015);
        g.gain.exponentialRampToValueAtTime(0.0001, t + at + 0.16);
        o.connect(g); g.connect(audioCtx.destination);
        o.start(t + at); o.stop(t + at + 0.18);
      });
    } catch (_) { /* audio unavailable */ }
  }
  function notify(title, text, convId) {
    if (!S.notify || !document.hidden) return;
    if ("Notification" in window && Notification.permission === "granted") {
      try {
        const n = new Notification(title, { body: String(text || "").slice(0, 160), tag: `switchboard-${convId}` });
        n.onclick = () => { window.focus(); location.hash = `#/c/${convId}`; n.close(); };
      } catch (_) { /* some mobile browsers only allow service-worker notifications */ }
    }
    beep();
  }
  async function toggleNotify() {
    if (S.notify) { S.notify = false; lsSet(LS.notify, null); renderNotifyToggle(); return; }
    if (!("Notification" in window)) { toast("This browser does not support desktop notifications."); return; }
    ensureAudio();
    let perm = Notification.permission;
    if (perm === "default") { try { perm = await Notification.requestPermission(); } catch (_) { perm = "denied"; } }
    if (perm !== "granted") { toast("Notifications are blocked — allow them in the browser's site settings."); return; }
    S.notify = true; lsSet(LS.notify, "1"); renderNotifyToggle();
    toast("Desktop notifications on (when this tab is in the background)", "info", 3000);
  }
  function renderNotifyToggle() {
    const b = dom.notify; if (!b) return;
    b.setAttribute("aria-pressed", String(S.notify));
    $(".notify__label", b).textContent = S.notify ? "Notifications on" : "Notifications off";
  }

  // ───────────────────────────── presence ─────────────────────────────
  function setMyPresence(st) {
    S.myPresence = st;
    lsSet(LS.presence, st === "away" ? "away" : null);
    Sock.send({ type: "presence", status: st });
    renderMyPresence();
  }
  function renderMyPresence() {
    const b = dom.presence; if (!b) return;
    b.dataset.status = S.myPresence;
    b.setAttribute("aria-pressed", String(S.myPresence === "away"));
    $(".presence__label", b).textContent = S.myPresence === "away" ? "Away" : "Online";
    b.setAttribute("aria-label", `Your status: ${S.myPresence}. Switch to ${S.myPresence === "away" ? "online" : "away"}`);
  }
  function presenceDot(id) {
    const st = presenceOf(id);
    return h("span", { class: `pdot pdot--${st}`, dataset: { presenceFor: id }, title: st, role: "img", "aria-label": st });
  }
  function renderPresence() {
    for (const n of $$("[data-presence-for]")) {
      const st = presenceOf(n.dataset.presenceFor);
      n.className = `pdot pdot--${st}`; n.title = st; n.setAttribute("aria-label", st);
    }
    for (const n of $$("[data-presence-text]")) n.textContent = presenceOf(n.dataset.presenceText);
    if (S.conv && S.conv.dom && document.activeElement !== S.conv.dom.assign) fillAssignOptions(S.conv);
  }
  const PRES_GLYPH = { online: "●", away: "◐", offline: "○" };

  async function loadAgents() {
    try {
      const r = await api("/agents");
      S.agents.clear();
      for (const a of r.agents || []) S.agents.set(a.id, a);
    } catch (e) { console.warn("switchboard: agents", e.message); }
    if (!S.agents.has(ME.id) && ME.id) S.agents.set(ME.id, { id: ME.id, name: ME.name, email: ME.email, role: ME.role, active: true });
    renderList();
    if (S.conv && S.conv.dom) { fillAssignOptions(S.conv); renderMessages(); }
  }

  // ───────────────────────────── conversation list ─────────────────────────────
  function inboxHash() { return `#/inbox?view=${S.filter.view}&status=${S.filter.status}`; }

  function setFilter(view, status) {
    const v = VIEWS.includes(view) ? view : S.filter.view;
    const st = STATUSES.includes(status) ? status : S.filter.status;
    const changed = v !== S.filter.view || st !== S.filter.status;
    S.filter = { view: v, status: st };
    lsSet(LS.filter, JSON.stringify(S.filter));
    renderFilters();
    if (changed || !S.list.loaded) loadList({ reset: true, clear: changed });
  }
  function changeFilter(view, status) {
    if (S.route.name === "inbox") location.hash = `#/inbox?view=${view}&status=${status}`;
    else setFilter(view, status);
  }

  async function loadList({ reset = false, clear: wipe = false } = {}) {
    const L = S.list;
    if (!reset && (L.loading || !L.cursor)) return;
    const gen = reset ? ++L.gen : L.gen;
    L.loading = true;
    if (wipe) { L.ids = []; L.cursor = null; L.counts = null; L.loaded = false; }
    renderList();
    const q = new URLSearchParams({ view: S.filter.view, status: S.filter.status, limit: "50" });
    if (!reset && L.cursor) q.set("before", L.cursor);
    try {
      const r = await api(`/conversations?${q}`);
      if (gen !== L.gen) return;
      const ids = [];
      for (const s of r.conversations || []) { const m = storeSummary(s); if (m) ids.push(m.id); }
      L.ids = reset ? ids : L.ids.concat(ids.filter((id) => !L.ids.includes(id)));
      L.cursor = r.next_cursor || null;
      if (r.counts) L.counts = r.counts;
      L.loaded = true; L.error = null;
    } catch (e) {
      if (gen !== L.gen) return;
      L.error = e.message;
      if (e.status !== 401) fail(e);
    } finally {
      if (gen === L.gen) { L.loading = false; renderList(); renderFilters(); }
    }
  }

  let countsTimer = 0;
  function scheduleCounts() {
    clearTimeout(countsTimer);
    countsTimer = setTimeout(async () => {
      const q = new URLSearchParams({ view: S.filter.view, status: S.filter.status, limit: "1" });
      const gen = S.list.gen;
      try {
        const r = await api(`/conversations?${q}`);
        if (gen === S.list.gen && r.counts) { S.list.counts = r.counts; renderFilters(); }
      } catch (_) { /* counts are cosmetic */ }
    }, 1200);
  }

  /** Insert, move or remove a summary in the visible list according to the filter. */
  function placeInList(s, { top = false } = {}) {
    const L = S.list;
    const idx = L.ids.indexOf(s.id);
    const ok = listable(s) && matchesFilter(s);
    if (!ok) {
      if (idx >= 0) { L.ids.splice(idx, 1); renderList(); }
      return;
    }
    if (idx >= 0 && !top) { renderList(); return; }
    if (idx >= 0) L.ids.splice(idx, 1);
    let at = 0;
    if (!top) {
      const a = activity(s);
      at = L.ids.findIndex((id) => { const o = S.sums.get(id); return !o || activity(o) <= a; });
      if (at < 0) {
        if (L.cursor) { renderList(); return; } // older than what is loaded: paging will bring it
        at = L.ids.length;
      }
    }
    L.ids.splice(at, 0, s.id);
    renderList();
  }

  function buildListPane() {
    const tabs = h("div", { class: "tabs", role: "group", "aria-label": "Conversation view" });
    for (const v of VIEWS) {
      tabs.append(h("button", {
        type: "button", class: "tab", dataset: { view: v, testid: `view-${v}` }, "aria-pressed": "false",
        onclick: () => changeFilter(v, S.filter.status),
      }, h("span", { text: VIEW_LABELS[v] }), " ", h("span", { class: "tab__count", "aria-label": "conversations" })));
    }
    const sel = h("select", { id: "status-filter", class: "select", dataset: { testid: "status-filter" },
      onchange: () => changeFilter(S.filter.view, sel.value) },
    STATUSES.map((st) => h("option", { value: st, text: STATUS_LABELS[st] })));
    dom.tabs = tabs; dom.statusFilter = sel;
    dom.list = h("ul", { class: "convlist", id: "convlist", "aria-label": "Conversations", dataset: { testid: "conv-list" } });
    dom.listEmpty = h("p", { class: "empty", hidden: true });
    dom.loadMore = h("button", { type: "button", class: "btn btn--ghost btn--block load-more", hidden: true, text: "Load more",
      onclick: () => loadList() });
    dom.listScroll = h("div", { class: "pane-list__scroll" }, dom.list, dom.listEmpty, dom.loadMore);
    dom.listScroll.addEventListener("scroll", () => {
      const el = dom.listScroll;
      if (S.list.cursor && !S.list.loading && el.scrollHeight - el.scrollTop - el.clientHeight < 200) loadList();
    }, { passive: true });
    return h("section", { class: "pane pane-list", "aria-label": "Conversation list" },
      h("div", { class: "pane-list__head" },
        h("h1", { class: "pane-title", text: "Inbox" }),
        h("div", { class: "filters" }, tabs,
          h("label", { class: "sr-only", for: "status-filter", text: "Status" }), sel)),
      dom.listScroll);
  }

  function renderFilters() {
    if (!dom.tabs) return;
    for (const b of $$(".tab", dom.tabs)) {
      const v = b.dataset.view;
      b.setAttribute("aria-pressed", String(v === S.filter.view));
      const n = S.list.counts && S.list.counts[v];
      $(".tab__count", b).textContent = typeof n === "number" ? String(n) : "";
    }
    dom.statusFilter.value = S.filter.status;
  }

  function renderList() {
    if (!dom.list) return;
    const L = S.list;
    const ul = dom.list;
    const keep = new Set();
    let prev = null;
    for (const id of L.ids) {
      const s = S.sums.get(id); if (!s) continue;
      let li = rowNodes.get(id);
      if (!li) { li = buildRow(id); rowNodes.set(id, li); }
      patchRow(li, s);
      keep.add(id);
      const want = prev ? prev.nextSibling : ul.firstChild;
      if (li !== want) ul.insertBefore(li, want);
      prev = li;
    }
    for (const [id, li] of rowNodes) if (!keep.has(id)) { li.remove(); rowNodes.delete(id); }
    const empty = !keep.size;
    dom.listEmpty.hidden = !empty;
    dom.listEmpty.textContent = L.loading ? "Loading…" : L.error ? `Could not load conversations: ${L.error}`
      : `No ${STATUS_LABELS[S.filter.status].toLowerCase()} conversations${S.filter.view === "mine" ? " assigned to you" : S.filter.view === "unassigned" ? " waiting for an agent" : ""}.`;
    dom.loadMore.hidden = !L.cursor;
    dom.loadMore.disabled = L.loading;
    dom.loadMore.textContent = L.loading && L.cursor ? "Loading…" : "Load more";
    renderListSelection();
    renderTitle();
  }

  function buildRow(id) {
    const a = h("a", { class: "conv", href: `#/c/${id}` });
    return h("li", { class: "convlist__item", dataset: { testid: "conv-item", id } }, a);
  }

  function patchRow(li, s) {
    const lm = s.last_message;
    const who = contactName(s.contact);
    const waiting = s.waiting_since && s.status !== "resolved" ? `waiting ${duration(s.waiting_since)}` : "";
    const when = relTime(s.last_message_at || s.created_at);
    const sig = JSON.stringify([who, lm && lm.seq, s.unread, waiting, when, s.assignee_id, s.status, s.snoozed_until,
      s.inbox_name, S.agents.size, s.bot_state]);
    if (li._sig === sig) return;
    li._sig = sig;
    const a = li.firstChild;
    clear(a);
    let prefix = "";
    if (lm) {
      if (lm.private) prefix = lm.sender_type === "bot" ? "Bot note: " : "Note: ";
      else if (lm.sender_type === "agent") prefix = lm.sender_id ? `${agentName(lm.sender_id)}: ` : "Agent: ";
      else if (lm.sender_type === "bot") prefix = "Bot: ";
    }
    const unread = s.unread || 0;
    append(a, [
      h("span", { class: "avatar", style: { "--h": String(hue(s.contact ? s.contact.id : s.id)) }, "aria-hidden": "true", text: initial(who) }),
      h("span", { class: "conv__main" },
        h("span", { class: "conv__top" },
          h("span", { class: "conv__name", text: who }),
          h("time", { class: "conv__time", datetime: s.last_message_at || s.created_at || "", title: fullTime(s.last_message_at || s.created_at), text: when })),
        h("span", { class: "conv__line" },
          prefix ? h("span", { class: "conv__who", text: prefix }) : null,
          h("span", { class: "conv__preview", dataset: { testid: "preview" }, text: lm ? lm.body.replace(/\s+/g, " ").slice(0, 160) : "" })),
        h("span", { class: "conv__meta" },
          s.inbox_name ? h("span", { class: "chip", text: s.inbox_name }) : null,
          botChip(s.bot_state),
          waiting ? h("span", { class: "chip chip--warn", dataset: { testid: "waiting" }, text: waiting }) : null,
          s.status === "snoozed" && s.snoozed_until ? h("span", { class: "chip", text: `until ${clock(s.snoozed_until)}` }) : null,
          h("span", { class: "conv__assignee", dataset: { testid: "assignee" } },
            s.assignee_id ? presenceDot(s.assignee_id) : null, agentName(s.assignee_id)))),
      h("span", { class: "badge", dataset: { testid: "unread" }, hidden: unread === 0, text: String(unread) }),
      unread ? h("span", { class: "sr-only", text: ` ${unread} unread` }) : null]);
    li.classList.toggle("is-unread", unread > 0);
  }

  /** "Bot" while the first-line bot handles a conversation, "Handed off by bot" after. */
  function botChip(state) {
    if (state === "active") return h("span", { class: "chip chip--bot", dataset: { testid: "bot-state", state }, title: "The first-line bot is answering", text: "Bot" });
    if (state === "handed_off") return h("span", { class: "chip chip--handoff", dataset: { testid: "bot-state", state }, text: "Handed off by bot" });
    return null;
  }

  function renderListSelection() {
    const id = S.conv && S.conv.id;
    for (const [rid, li] of rowNodes) {
      const on = rid === id;
      li.classList.toggle("is-active", on);
      if (on) li.firstChild.setAttribute("aria-current", "true"); else li.firstChild.removeAttribute("aria-current");
    }
  }

  function renderTitle() {
    let n = 0;
    for (const id of S.list.ids) { const s = S.sums.get(id); if (s && s.unread) n += s.unread; }
    document.title = n ? `(${n}) Switchboard` : "Switchboard";
  }

  function stepConversation(dir) {
    const ids = S.list.ids; if (!ids.length) return;
    const cur = S.conv ? ids.indexOf(S.conv.id) : -1;
    const next = cur < 0 ? (dir > 0 ? 0 : ids.length - 1) : Math.min(ids.length - 1, Math.max(0, cur + dir));
    if (ids[next] && (!S.conv || ids[next] !== S.conv.id)) {
      location.hash = `#/c/${ids[next]}`;
      const li = rowNodes.get(ids[next]);
      if (li) { li.firstChild.focus({ preventScroll: true }); li.scrollIntoView({ block: "nearest" }); }
    }
  }

  // ───────────────────────────── open conversation ─────────────────────────────
  let convGen = 0;

  function newConvState(id) {
    return {
      id, gen: ++convGen, msgs: new Map(), nodes: new Map(), hasMore: false, loadingOlder: false,
      resume: 0, sub: "none", loaded: false, myRead: 0, customerRead: 0, readTimer: 0,
      customerTyping: false, customerTypingTimer: 0, agentTyping: new Map(), note: false, detail: null, dom: null,
      botTyping: false, botTypingTimer: 0, suggest: null, summarizing: false,
    };
  }

  async function openConversation(id, force) {
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
    } catch (e) {
      if (S.conv !== c) return;
      showConvError(c, e.status === 404 ? "Conversation not found." : `Could not open the conversation: ${e.message}`);
    }
  }

  function closeConversation() {
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

  function subscribeConv(c) {
    if (!c || !c.loaded) return;
    if (Sock.send({ type: "subscribe", conversation_id: c.id, after_seq: c.resume })) c.sub = "replaying";
  }
  function onReplayDone(f) {
    const c = S.conv;
    if (!c || c.id !== f.conversation_id) return;
    c.sub = "live";
    c.resume = Math.max(c.resume, f.last_seq || 0);
    markRead();
  }
  function onResync(f) {
    const c = S.conv;
    if (!c || c.id !== f.conversation_id) return;
    c.sub = "none";
    if (/beyond/i.test(f.reason || "")) { openConversation(c.id, true); return; }
    c.resume = Math.min(c.resume, f.last_seq || 0);
    setTimeout(() => { if (S.conv === c) subscribeConv(c); }, 500);
  }

  /** Returns true when the message was new for this conversation. */
  function addToConversation(c, m) {
    const old = c.msgs.get(m.seq);
    if (old && !old._synthetic) return false;
    c.msgs.set(m.seq, old ? Object.assign({}, m, { _synthetic: false }) : m);
    if (c.sub !== "none" && !m._synthetic) c.resume = Math.max(c.resume, m.seq);
    if (m.sender_type === "customer" && c.customerTyping) setCustomerTyping(c, false);
    if (m.sender_type === "bot" && c.botTyping) setBotTyping(c, false);
    if (c.loaded) {
      renderMessages({ incoming: !isMine(m) });
      markRead();
    }
    return !old;
  }

  function maxSeq(c) { let mx = 0; for (const k of c.msgs.keys()) if (k > mx) mx = k; return mx; }
  function minSeq(c) { let mn = Infinity; for (const k of c.msgs.keys()) if (k < mn) mn = k; return mn === Infinity ? 0 : mn; }

  async function loadOlder() {
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

  function markRead() {
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
  const Typing = {
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
  function setCustomerTyping(c, on) {
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
  function setBotTyping(c, on) {
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
  function renderAgentTyping(c) {
    if (!c.dom) return;
    const slot = c.dom.typingSlot;
    $(".typing--agent", slot)?.remove();
    if (!c.agentTyping.size) return;
    const names = [...c.agentTyping.keys()].map(agentName).join(", ");
    slot.append(h("div", { class: "typing typing--agent", dataset: { testid: "agent-typing" } },
      h("span", { text: `${names} ${c.agentTyping.size > 1 ? "are" : "is"} also typing…` })));
  }

  // ── conversation pane DOM ──
  function renderEmptyConvPane() {
    if (!dom.convPane) return;
    clear(dom.convPane).append(h("div", { class: "placeholder" },
      h("p", { class: "placeholder__title", text: "No conversation selected" }),
      h("p", { text: "Pick a conversation from the list. Shortcuts: j / k next / previous, c focus the reply box, Esc closes popups." })));
    clear(dom.contactPane);
    dom.layout.classList.remove("show-contact-sm");
  }

  function showConvError(c, msg) {
    if (!c.dom) return;
    $(".conv-loading", c.dom.pane)?.remove();
    clear(c.dom.body).append(h("div", { class: "placeholder" }, h("p", { class: "placeholder__title", text: msg }),
      h("a", { href: inboxHash(), class: "btn btn--ghost", text: "Back to the inbox" })));
  }

  function buildConvPane(c) {
    const d = {};
    c.dom = d;
    const titleId = uid("convtitle");
    d.title = h("h2", { class: "conv-head__name", id: titleId, tabindex: "-1", text: "Loading…" });
    d.subText = h("span");
    d.bot = h("span", { class: "conv-head__bot" });
    d.sub = h("p", { class: "conv-head__sub" }, d.subText, d.bot);
    d.assign = h("select", { class: "select", id: uid("assign"), dataset: { testid: "assign" }, onchange: () => assignTo(d.assign.value || null) });
    d.assignMe = h("button", { type: "button", class: "btn btn--ghost assign-me", text: "Assign to me", onclick: () => assignTo(ME.id) });
    d.status = h("select", { class: "select", id: uid("status"), dataset: { testid: "status-select" }, onchange: onStatusSelect },
      STATUSES.map((st) => h("option", { value: st, text: STATUS_LABELS[st] })));
    d.resolve = h("button", { type: "button", class: "btn btn--primary", dataset: { testid: "resolve" }, text: "Resolve", onclick: () => setStatus("resolved") });
    d.reopen = h("button", { type: "button", class: "btn btn--primary", dataset: { testid: "reopen" }, text: "Reopen", hidden: true, onclick: () => setStatus("open") });
    d.pending = h("button", { type: "button", class: "btn btn--ghost", dataset: { testid: "pending" }, text: "Mark pending", onclick: () => setStatus("pending") });
    d.snooze = h("button", { type: "button", class: "btn btn--ghost", dataset: { testid: "snooze" }, "aria-haspopup": "dialog", "aria-expanded": "false", text: "Snooze…", onclick: () => openSnooze(d.snooze) });
    d.summarize = h("button", { type: "button", class: "btn btn--ghost", dataset: { testid: "summarize" }, text: "Summarize",
      title: "Summarize this conversation for a quick catch-up", onclick: () => summarize() });
    d.contactBtn = h("button", { type: "button", class: "btn btn--ghost contact-toggle", "aria-controls": "pane-contact", "aria-expanded": "false", text: "Contact", onclick: toggleContact });
    const head = h("header", { class: "conv-head" },
      h("a", { class: "btn btn--ghost back", href: inboxHash(), "aria-label": "Back to conversations", text: "‹ Back" }),
      h("div", { class: "conv-head__title" }, d.title, d.sub),
      d.contactBtn,
      h("div", { class: "conv-head__actions" },
        h("label", { class: "sr-only", for: d.assign.id, text: "Assignee" }), d.assign, d.assignMe,
        h("label", { class: "sr-only", for: d.status.id, text: "Status" }), d.status,
        d.resolve, d.reopen, d.pending, d.snooze, d.summarize));

    d.older = h("button", { type: "button", class: "btn btn--ghost btn--small load-older", hidden: true, text: "Load older messages", onclick: loadOlder });
    d.list = h("ol", { class: "msgs", dataset: { testid: "messages" }, "aria-label": "Messages" });
    d.scroller = h("div", { class: "msgs-scroll", tabindex: "0", role: "region", "aria-labelledby": titleId }, d.older, d.list);
    d.scroller.addEventListener("scroll", () => {
      if (d.scroller.scrollTop < 60 && c.hasMore && !c.loadingOlder) loadOlder();
      if (d.scroller.scrollHeight - d.scroller.scrollTop - d.scroller.clientHeight < 80) d.jump.hidden = true;
    }, { passive: true });
    d.jump = h("button", { type: "button", class: "btn btn--primary btn--small jump", hidden: true, text: "New messages ↓",
      onclick: () => { d.scroller.scrollTop = d.scroller.scrollHeight; d.jump.hidden = true; } });
    d.typingSlot = h("div", { class: "typing-slot", "aria-hidden": "false" });

    // Composer
    const taId = uid("composer");
    d.canned = h("ul", { class: "canned", id: uid("canned"), role: "listbox", "aria-label": "Canned responses", hidden: true, dataset: { testid: "canned-popup" } });
    d.composer = h("textarea", {
      id: taId, class: "composer__input", rows: "2", dataset: { testid: "composer" },
      placeholder: "Reply… (Enter to send, Shift+Enter for a new line, / for canned responses)",
      "aria-autocomplete": "list", "aria-controls": d.canned.id, "aria-describedby": `${taId}-mode`,
    });
    d.composer.value = S.drafts.get(c.id) || "";
    d.composer.addEventListener("keydown", onComposerKey);
    d.composer.addEventListener("input", onComposerInput);
    d.composer.addEventListener("blur", () => setTimeout(() => { if (document.activeElement !== d.composer) closeCanned(); }, 150));
    d.modeLabel = h("span", { class: "composer__mode", id: `${taId}-mode`, text: "Reply to the customer" });
    d.noteToggle = h("button", { type: "button", class: "btn btn--ghost note-toggle", dataset: { testid: "note-toggle" }, "aria-pressed": "false", text: "Private note",
      onclick: () => setNoteMode(c, !c.note) });
    d.sendBtn = h("button", { type: "submit", class: "btn btn--primary", dataset: { testid: "send" }, text: "Send" });
    d.suggestBtn = h("button", { type: "button", class: "btn btn--ghost suggest-btn", dataset: { testid: "suggest-reply" },
      title: "Draft a reply from the knowledge base into the reply box (you review it before sending)", onclick: () => suggestReply() },
    h("span", { class: "suggest-btn__icon", "aria-hidden": "true", text: "✦" }), h("span", { class: "suggest-btn__label", text: "Suggest reply" }));
    d.stopBtn = h("button", { type: "button", class: "btn btn--ghost", dataset: { testid: "suggest-stop" }, hidden: true, text: "Stop",
      "aria-label": "Stop the suggestion", onclick: () => stopSuggest(c) });
    d.aiInfo = h("div", { class: "composer__ai", role: "status" });
    d.form = h("form", { class: "composer", onsubmit: (e) => { e.preventDefault(); submitComposer(); } },
      d.canned,
      h("div", { class: "composer__top" }, h("label", { for: taId, class: "composer__label" }, d.modeLabel)),
      d.composer,
      d.aiInfo,
      h("div", { class: "composer__bar" }, d.noteToggle, d.suggestBtn, d.stopBtn,
        h("span", { class: "composer__hint", text: "Enter sends · Shift+Enter new line · / canned" }), d.sendBtn));

    d.summarySlot = h("div", { class: "summary-slot" });
    d.body = h("div", { class: "conv-body" }, d.summarySlot, d.scroller, d.jump, d.typingSlot, d.form);
    d.pane = dom.convPane;
    clear(d.pane).append(head, h("p", { class: "conv-loading", text: "Loading conversation…" }), d.body);
    clear(dom.contactPane).append(h("p", { class: "muted pad", text: "Loading…" }));
    fillAssignOptions(c);
    patchHead();
    autosize(d.composer);
    applyContactVisibility();
  }

  function fillAssignOptions(c) {
    const sel = c.dom.assign;
    const s = S.sums.get(c.id);
    const cur = (s && s.assignee_id) || "";
    clear(sel).append(h("option", { value: "", text: "Unassigned" }));
    const agents = [...S.agents.values()].filter((a) => a.active !== false || a.id === cur)
      .sort((a, b) => (a.id === ME.id ? -1 : b.id === ME.id ? 1 : String(a.name).localeCompare(String(b.name))));
    for (const a of agents) {
      const st = presenceOf(a.id);
      sel.append(h("option", { value: a.id, text: `${PRES_GLYPH[st]} ${a.name || a.email}${a.id === ME.id ? " (you)" : ""} — ${st}` }));
    }
    if (cur && !S.agents.has(cur)) sel.append(h("option", { value: cur, text: "Other agent" }));
    sel.value = cur;
  }

  function patchHead() {
    const c = S.conv; if (!c || !c.dom) return;
    const d = c.dom;
    const s = S.sums.get(c.id);
    const contact = (c.detail && c.detail.contact) || (s && s.contact);
    d.title.textContent = c.loaded || s ? contactName(contact) : "Loading…";
    if (!s) return;
    const bits = [s.inbox_name, STATUS_LABELS[s.status] || s.status];
    if (s.status === "snoozed" && s.snoozed_until) bits.push(`until ${clock(s.snoozed_until)}`);
    d.subText.textContent = bits.filter(Boolean).join(" · ");
    clear(d.bot).append(botChip(s.bot_state) || "");
    d.status.value = s.status;
    const resolved = s.status === "resolved";
    d.resolve.hidden = resolved;
    d.reopen.hidden = !(resolved || s.status === "snoozed" || s.status === "pending");
    d.pending.hidden = s.status === "pending";
    d.assignMe.hidden = s.assignee_id === ME.id;
    if (document.activeElement !== d.assign) fillAssignOptions(c);
  }

  async function assignTo(agentId) {
    const c = S.conv; if (!c) return;
    // Taking an unassigned conversation is a claim: if a colleague took it a moment ago, the
    // server refuses (409) instead of silently taking it from them.
    const cur = S.sums.get(c.id);
    const claim = agentId === ME.id && !(cur && cur.assignee_id);
    const body = claim ? { agent_id: agentId, only_if_unassigned: true } : { agent_id: agentId };
    try {
      const r = await api(`/conversations/${enc(c.id)}/assign`, { method: "POST", body });
      applySummary(r.conversation);
      toast(agentId ? `Assigned to ${agentName(agentId) === "You" ? "you" : agentName(agentId)}` : "Unassigned", "info", 2500);
    } catch (e) {
      if (claim && e.status === 409) {
        const x = await fetchSummary(c.id, {});
        toast(x && x.assignee_id ? `Already taken by ${agentName(x.assignee_id)}` : "Already assigned", "info", 4000);
      } else fail(e);
      patchHead();
    }
  }

  async function setStatus(status, until) {
    const c = S.conv; if (!c) return;
    const payload = { status };
    if (until) payload.snoozed_until = until;
    try {
      const r = await api(`/conversations/${enc(c.id)}/status`, { method: "POST", body: payload });
      applySummary(r.conversation);
      toast(status === "snoozed" ? `Snoozed until ${clock(until)}` : `Marked ${STATUS_LABELS[status].toLowerCase()}`, "info", 2500);
      announce(`Conversation ${status}`);
    } catch (e) { fail(e); patchHead(); }
  }

  function applySummary(sum) {
    const s = storeSummary(sum);
    if (!s) return;
    placeInList(s, {});
    scheduleCounts();
    if (S.conv && S.conv.id === s.id) patchHead();
  }

  function onStatusSelect() {
    const c = S.conv; if (!c) return;
    const v = c.dom.status.value;
    const s = S.sums.get(c.id);
    if (v === "snoozed") { c.dom.status.value = s ? s.status : "open"; openSnooze(c.dom.snooze); return; }
    if (!s || s.status !== v) setStatus(v);
  }

  // ── snooze popover ──
  let popover = null;
  function closeSnooze() {
    if (!popover) return false;
    const { el, trigger } = popover;
    popover = null;
    el.remove();
    trigger.setAttribute("aria-expanded", "false");
    if (document.activeElement === document.body || el.contains(document.activeElement)) trigger.focus();
    return true;
  }
  function openSnooze(trigger) {
    if (popover) { closeSnooze(); return; }
    const now = new Date();
    const inHour = new Date(now.getTime() + 3600e3);
    const tomorrow = new Date(now); tomorrow.setDate(now.getDate() + 1); tomorrow.setHours(9, 0, 0, 0);
    const nextWeek = new Date(now); nextWeek.setDate(now.getDate() + (((8 - now.getDay()) % 7) || 7)); nextWeek.setHours(9, 0, 0, 0);
    const pick = (d) => { closeSnooze(); setStatus("snoozed", d.toISOString()); };
    const inputId = uid("snooze-at");
    const input = h("input", { type: "datetime-local", id: inputId, class: "input", min: toLocalInput(new Date(now.getTime() + 60e3)) });
    const el = h("div", { class: "popover", role: "dialog", "aria-label": "Snooze until", dataset: { testid: "snooze-menu" } },
      h("p", { class: "popover__title", text: "Snooze until" }),
      h("button", { type: "button", class: "menu-item", text: `In 1 hour (${clock(inHour.toISOString())})`, onclick: () => pick(inHour) }),
      h("button", { type: "button", class: "menu-item", text: `Tomorrow, ${clock(tomorrow.toISOString())}`, onclick: () => pick(tomorrow) }),
      h("button", { type: "button", class: "menu-item", text: `Next week, ${clock(nextWeek.toISOString())}`, onclick: () => pick(nextWeek) }),
      h("form", { class: "popover__custom", onsubmit: (e) => {
        e.preventDefault();
        const d = new Date(input.value);
        if (!input.value || Number.isNaN(d.getTime()) || d.getTime() <= Date.now()) { toast("Pick a date and time in the future."); input.focus(); return; }
        pick(d);
      } },
      h("label", { for: inputId, text: "Custom" }), input, h("button", { type: "submit", class: "btn btn--primary btn--small", text: "Snooze" })));
    trigger.after(el);
    trigger.setAttribute("aria-expanded", "true");
    popover = { el, trigger };
    $("button", el).focus();
  }
  function toLocalInput(d) {
    const p = (n) => String(n).padStart(2, "0");
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
  }

  // ── contact panel ──
  function toggleContact() {
    const narrow = window.matchMedia("(max-width: 1199px)").matches;
    if (narrow) dom.layout.classList.toggle("show-contact-sm");
    else { S.contactPanel = !S.contactPanel; lsSet(LS.contact, S.contactPanel ? null : "0"); }
    applyContactVisibility();
    if (dom.layout.classList.contains("show-contact-sm")) dom.contactPane.focus();
  }
  function applyContactVisibility() {
    dom.layout.classList.toggle("hide-contact", !S.contactPanel);
    const narrow = window.matchMedia("(max-width: 1199px)").matches;
    const shown = narrow ? dom.layout.classList.contains("show-contact-sm") : S.contactPanel;
    if (S.conv && S.conv.dom) S.conv.dom.contactBtn.setAttribute("aria-expanded", String(shown));
  }

  function renderContact(c) {
    const p = clear(dom.contactPane);
    const det = c.detail || {};
    const k = det.contact || {};
    const s = S.sums.get(c.id) || {};
    const row = (label, value) => [h("dt", { text: label }), h("dd", { text: value == null || value === "" ? "—" : String(value) })];
    p.append(
      h("div", { class: "contact__head" },
        h("span", { class: "avatar avatar--lg", style: { "--h": String(hue(k.id || c.id)) }, "aria-hidden": "true", text: initial(contactName(k)) }),
        h("div", {}, h("h2", { class: "contact__name", text: contactName(k) }), k.email ? h("p", { class: "muted", text: k.email }) : null),
        h("button", { type: "button", class: "btn btn--ghost contact__close", "aria-label": "Close contact details", text: "×",
          onclick: () => { dom.layout.classList.remove("show-contact-sm"); applyContactVisibility(); c.dom.contactBtn.focus(); } })),
      h("dl", { class: "props" },
        row("Name", k.name), row("Email", k.email), row("External ID", k.external_id),
        row("First seen", k.created_at ? fullTime(k.created_at) : null), row("Last seen", k.last_seen_at ? fullTime(k.last_seen_at) : null),
        row("Inbox", s.inbox_name), row("Started", s.created_at ? fullTime(s.created_at) : null)));

    const pages = Array.isArray(k.pages) ? k.pages : [];
    const pl = h("ul", { class: "pages" });
    for (const pg of pages.slice(0, 50)) {
      const href = safeHttpUrl(pg.url);
      const label = pg.title || pg.url || "(untitled)";
      const link = href
        ? h("a", { href, target: "_blank", rel: "noopener noreferrer nofollow", text: label, title: pg.url })
        : h("span", { text: label, title: pg.url || "" });
      pl.append(h("li", {}, link, pg.at ? h("time", { class: "muted", datetime: pg.at, text: ` ${relTime(pg.at)}` }) : null));
    }
    p.append(h("h3", { class: "section-title", text: "Pages visited" }), pages.length ? pl : h("p", { class: "muted", text: "No pages recorded." }));

    const past = Array.isArray(det.past_conversations) ? det.past_conversations : [];
    const ul = h("ul", { class: "past" });
    for (const pc of past) {
      ul.append(h("li", {}, h("a", { href: `#/c/${enc(pc.id)}`, class: "past__link", dataset: { testid: "past-conversation" } },
        h("span", { class: `status status--${pc.status}`, text: STATUS_LABELS[pc.status] || pc.status }),
        h("span", { text: ` ${fullTime(pc.last_message_at || pc.created_at)}` }),
        h("span", { class: "muted", text: ` · ${pc.last_seq || 0} messages` }))));
    }
    p.append(h("h3", { class: "section-title", text: "Past conversations" }), past.length ? ul : h("p", { class: "muted", text: "None." }));
  }

  // ── messages ──
  function orderedItems(c) {
    const arr = [...c.msgs.values()].sort((a, b) => a.seq - b.seq);
    const pend = [...S.outbox.values()].filter((o) => o.convId === c.id).sort((a, b) => tms(a.createdAt) - tms(b.createdAt));
    for (const o of pend) {
      arr.push({ pending: true, client_msg_id: o.cmid, body: o.body, private: o.private, sender_type: "agent", sender_id: ME.id,
        created_at: o.createdAt, status: o.status, error: o.error });
    }
    return arr;
  }

  function renderMessages(opts = {}) {
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

  function renderOlderButton(c) {
    if (!c.dom) return;
    c.dom.older.hidden = !c.hasMore;
    c.dom.older.disabled = c.loadingOlder;
    c.dom.older.textContent = c.loadingOlder ? "Loading…" : "Load older messages";
  }

  function authorOf(m, c) {
    if (m.sender_type === "customer") {
      const k = (c.detail && c.detail.contact) || (S.sums.get(c.id) || {}).contact;
      return contactName(k);
    }
    if (m.sender_type === "agent") return m.sender_id === ME.id ? `${ME.name || "You"} (you)` : agentName(m.sender_id);
    if (m.sender_type === "bot") return "Bot";
    return "System";
  }

  function buildMsg(m) {
    const li = h("li", { class: "msg", dataset: { testid: "message" } },
      h("div", { class: "msg__meta" }, h("span", { class: "msg__author" }), h("time", { class: "msg__time" })),
      h("div", { class: "msg__body", dataset: { testid: "body" }, text: m.body }),
      h("div", { class: "msg__status" }));
    return li;
  }

  function patchMsg(li, m, c) {
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

  function retrySend(cmid) {
    const o = S.outbox.get(cmid);
    if (!o) return;
    o.tries = 0;
    transmit(o);
    saveOutbox();
  }
  function discardSend(cmid) {
    S.outbox.delete(cmid); saveOutbox();
    if (S.conv) renderMessages();
  }

  // ── composer ──
  function setNoteMode(c, on) {
    c.note = on;
    const d = c.dom;
    d.form.classList.toggle("composer--note", on);
    d.noteToggle.setAttribute("aria-pressed", String(on));
    d.modeLabel.textContent = on ? "Note — not visible to the customer" : "Reply to the customer";
    d.composer.placeholder = on ? "Write a private note for your team…" : "Reply… (Enter to send, Shift+Enter for a new line, / for canned responses)";
    d.sendBtn.textContent = on ? "Add note" : "Send";
    if (Typing.active) Typing.stop();
    d.composer.focus();
  }

  function autosize(ta) {
    ta.style.height = "auto";
    ta.style.height = `${Math.min(ta.scrollHeight + 2, Math.round(window.innerHeight * 0.4))}px`;
  }

  function submitComposer() {
    const c = S.conv;
    if (!c || !c.dom) return;
    const ta = c.dom.composer;
    if (c.suggest) { announce("Wait for the suggestion to finish, or stop it, before sending."); return; }
    const text = ta.value.trim();
    if (!text) return;
    if (byteLen(text) > MAX_BODY_BYTES) { toast("This message is too long (16 KB max). Split it into several messages."); return; }
    Typing.stop();
    queueSend(c.id, text, c.note);
    clear(c.dom.aiInfo);
    ta.value = "";
    S.drafts.delete(c.id);
    autosize(ta);
    closeCanned();
    renderMessages({ toBottom: true });
  }

  function onComposerKey(e) {
    const sc = S.conv;
    if (sc && sc.suggest && e.key === "Escape") { e.preventDefault(); e.stopPropagation(); stopSuggest(sc); return; }
    if (Canned.open) {
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault();
        Canned.idx = (Canned.idx + (e.key === "ArrowDown" ? 1 : -1) + Canned.items.length) % Canned.items.length;
        renderCanned(); return;
      }
      if ((e.key === "Enter" && !e.shiftKey) || e.key === "Tab") { e.preventDefault(); insertCanned(Canned.items[Canned.idx]); return; }
      if (e.key === "Escape") { e.preventDefault(); e.stopPropagation(); closeCanned(); return; }
    }
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing && !e.altKey && !e.ctrlKey && !e.metaKey) {
      e.preventDefault();
      submitComposer();
    }
  }

  function onComposerInput() {
    const c = S.conv; if (!c) return;
    const ta = c.dom.composer;
    autosize(ta);
    if (ta.value.trim()) Typing.ping(c.id, c.note); else Typing.stop();
    updateCanned();
  }

  // ── AI assistance: suggested reply (Server-Sent Events over fetch) and summary ──
  // POST /conversations/{id}/suggest streams `sources`, `delta`…, then `done` or `error`. The draft goes
  // INTO the composer (after what the agent had typed, below a blank line); nothing is ever sent
  // automatically. On failure the composer is put back exactly as it was.

  /** Incremental text/event-stream parser: onEvent(name, data) per blank-line-terminated block. */
  function sseParser(onEvent) {
    let buf = "";
    let lastCR = false;
    const dispatch = (block) => {
      let name = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (!line || line[0] === ":") continue;
        const i = line.indexOf(":");
        const key = i < 0 ? line : line.slice(0, i);
        let v = i < 0 ? "" : line.slice(i + 1);
        if (v[0] === " ") v = v.slice(1);
        if (key === "event") name = v || "message";
        else if (key === "data") data.push(v);
      }
      if (data.length) onEvent(name, data.join("\n"));
    };
    return {
      push(text) {
        if (lastCR && text[0] === "\n") text = text.slice(1); // a CRLF split across two chunks
        lastCR = text.endsWith("\r");
        buf += text.replace(/\r\n?/g, "\n");
        let i;
        while ((i = buf.indexOf("\n\n")) >= 0) { const block = buf.slice(0, i); buf = buf.slice(i + 2); dispatch(block); }
      },
      end() { if (buf.trim()) dispatch(buf); buf = ""; },
    };
  }

  function renderSuggestUi(c) {
    const d = c.dom; if (!d) return;
    const on = !!c.suggest;
    d.suggestBtn.disabled = on;
    d.suggestBtn.setAttribute("aria-busy", String(on));
    $(".suggest-btn__label", d.suggestBtn).textContent = on ? "Suggesting…" : "Suggest reply";
    d.stopBtn.hidden = !on;
    d.sendBtn.disabled = on;
    d.composer.readOnly = on;
    d.composer.setAttribute("aria-busy", String(on));
    d.form.classList.toggle("composer--suggesting", on);
  }

  function setSuggestError(c, detail) {
    const box = c.dom && c.dom.aiInfo; if (!box) return;
    $(".suggest-note--error", box)?.remove();
    if (detail == null) return;
    const note = h("div", { class: "suggest-note suggest-note--error" },
      h("p", { class: "suggest-note__text", role: "alert", dataset: { testid: "suggest-error" }, title: detail || null, text: "Suggestion unavailable" }),
      h("button", { type: "button", class: "suggest-note__close", "aria-label": "Dismiss", text: "×", onclick: () => { note.remove(); c.dom.composer.focus(); } }));
    box.append(note);
  }

  function renderSources(c, data) {
    const box = c.dom && c.dom.aiInfo; if (!box) return;
    $("[data-testid=suggest-sources]", box)?.remove();
    if (!data) return;
    const arts = (Array.isArray(data.articles) ? data.articles : []).filter((a) => a && typeof a.title === "string");
    const p = h("p", { class: "suggest-sources", dataset: { testid: "suggest-sources", source: data.source === "offline" ? "offline" : "llm" } },
      h("span", { class: "suggest-sources__label", text: "Based on: " }));
    if (!arts.length) p.append(h("span", { class: "muted", text: "no knowledge-base article" }));
    arts.forEach((a, i) => {
      if (i) p.append("; ");
      const href = safeHttpUrl(a.url);
      p.append(href ? h("a", { href, target: "_blank", rel: "noopener noreferrer nofollow", text: a.title, title: a.url }) : h("span", { text: a.title }));
    });
    if (data.source === "offline") p.append(h("span", { class: "muted", text: " · offline draft (no AI model)" }));
    box.prepend(p);
  }

  function applySuggestDraft(c, sg) {
    if (S.conv !== c || !c.dom || c.suggest !== sg) return;
    const ta = c.dom.composer;
    ta.value = sg.prefix + sg.text;
    autosize(ta);
    ta.scrollTop = ta.scrollHeight;
  }

  function onSuggestEvent(c, sg, name, raw) {
    if (c.suggest !== sg) return;
    const data = parseJSON(raw);
    if (!data || typeof data !== "object") return;
    if (name === "sources") { sg.sources = data; renderSources(c, data); }
    else if (name === "delta") {
      if (typeof data.text === "string" && data.text) { sg.text += data.text; applySuggestDraft(c, sg); }
    } else if (name === "done") {
      if (typeof data.text === "string") sg.text = data.text;
      sg.done = true;
      applySuggestDraft(c, sg);
    } else if (name === "error") sg.failed = { message: typeof data.message === "string" ? data.message : "" };
  }

  async function suggestReply() {
    const c = S.conv;
    if (!c || !c.dom || !c.loaded || c.suggest) return;
    const ta = c.dom.composer;
    closeCanned();
    const origin = ta.value;
    const kept = origin.replace(/\s+$/, "");
    const sg = { ctrl: typeof AbortController === "function" ? new AbortController() : null, origin,
      prefix: kept ? `${kept}\n\n` : "", text: "", sources: null, done: false, failed: null, stopped: false };
    c.suggest = sg;
    setSuggestError(c, null);
    renderSources(c, null);
    renderSuggestUi(c);
    if (document.activeElement === document.body || document.activeElement === c.dom.suggestBtn) c.dom.stopBtn.focus();
    try {
      const res = await fetch(`${API}/conversations/${enc(c.id)}/suggest`, {
        method: "POST", credentials: "same-origin", signal: sg.ctrl ? sg.ctrl.signal : undefined,
        headers: { Accept: "text/event-stream", "X-CSRF-Token": CSRF },
      });
      if (res.status === 401) { toLogin(); throw new Error("Session ended"); }
      if (!res.ok) {
        let msg = `HTTP ${res.status}`;
        try { const j = await res.json(); if (j && j.message) msg = j.message; } catch (_) { /* not JSON */ }
        throw new Error(msg);
      }
      const parser = sseParser((name, raw) => onSuggestEvent(c, sg, name, raw));
      if (res.body && typeof res.body.getReader === "function") {
        const reader = res.body.getReader();
        const dec = new TextDecoder();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          parser.push(dec.decode(value, { stream: true }));
          if (sg.done || sg.failed || c.suggest !== sg) { reader.cancel().catch(() => {}); break; }
        }
        parser.push(dec.decode());
      } else parser.push(await res.text());
      parser.end();
      if (!sg.done && !sg.failed && !sg.stopped) sg.failed = { message: "The suggestion ended early." };
    } catch (e) {
      if (!sg.stopped && !sg.done && !sg.failed) sg.failed = { message: (e && e.message) || "Network error" };
    }
    finishSuggest(c, sg);
  }

  function finishSuggest(c, sg) {
    if (c.suggest !== sg) return; // cancelled (conversation closed)
    c.suggest = null;
    if (!c.dom) return;
    const ta = c.dom.composer;
    const focusBack = document.activeElement === c.dom.stopBtn || document.activeElement === document.body || document.activeElement === ta;
    const empty = !sg.text.trim();
    if (sg.failed || (sg.done && empty)) {
      ta.value = sg.origin; // keep exactly what the agent had typed
      renderSources(c, null);
      setSuggestError(c, (sg.failed && sg.failed.message) || "The suggestion was empty.");
      announce("Suggestion unavailable");
    } else if (sg.stopped && empty) {
      ta.value = sg.origin;
      renderSources(c, null);
    } else {
      ta.value = sg.prefix + sg.text;
      announce(sg.stopped ? "Suggestion stopped. The partial draft is in the reply box." : "Suggested reply ready in the reply box. Review it before sending.");
    }
    autosize(ta);
    renderSuggestUi(c);
    if (focusBack) { ta.focus(); ta.setSelectionRange(ta.value.length, ta.value.length); }
  }

  function stopSuggest(c) {
    const sg = c && c.suggest; if (!sg) return;
    sg.stopped = true;
    if (sg.ctrl) sg.ctrl.abort();
  }

  /** The conversation is being closed: drop the stream and put the agent's own text back. */
  function cancelSuggest(c) {
    const sg = c && c.suggest; if (!sg) return;
    c.suggest = null;
    sg.stopped = true;
    if (sg.ctrl) sg.ctrl.abort();
    if (c.dom) { c.dom.composer.value = sg.origin; renderSuggestUi(c); }
  }

  async function summarize() {
    const c = S.conv;
    if (!c || !c.dom || !c.loaded || c.summarizing) return;
    const d = c.dom;
    c.summarizing = true;
    d.summarize.disabled = true; d.summarize.textContent = "Summarizing…"; d.summarize.setAttribute("aria-busy", "true");
    let r = null, err = null;
    try {
      r = await api(`/conversations/${enc(c.id)}/summary`, { method: "POST" });
      if (!r || typeof r.summary !== "string" || !r.summary.trim()) throw new ApiError(0, "empty", "The summary was empty.");
    } catch (e) { err = e; }
    c.summarizing = false;
    d.summarize.disabled = false; d.summarize.textContent = "Summarize"; d.summarize.removeAttribute("aria-busy");
    if (S.conv !== c || (err && err.status === 401)) return;
    showSummary(c, err ? null : r, err);
  }

  function showSummary(c, r, err) {
    const slot = clear(c.dom.summarySlot);
    const close = () => { clear(slot); c.dom.summarize.focus(); };
    const closeBtn = h("button", { type: "button", class: "summary__close", dataset: { testid: "summary-close" }, "aria-label": "Dismiss summary", text: "×", onclick: close });
    if (!r) {
      slot.append(h("div", { class: "summary summary--error", dataset: { testid: "summary", state: "error" } },
        h("p", { class: "summary__error", role: "alert", dataset: { testid: "summary-error" }, title: (err && err.message) || null, text: "Summary unavailable" }), closeBtn));
      return;
    }
    const offline = r.source === "offline";
    const titleId = uid("summary");
    slot.append(h("section", { class: "summary", dataset: { testid: "summary", state: "ok", source: offline ? "offline" : "llm" }, "aria-labelledby": titleId },
      h("div", { class: "summary__head" },
        h("h3", { class: "summary__title", id: titleId, text: "Summary" }),
        offline ? h("span", { class: "chip", title: "Made without an AI model (extractive)", text: "offline" }) : null,
        closeBtn),
      h("p", { class: "summary__body", dataset: { testid: "summary-text" }, text: r.summary })));
    announce(`Summary: ${r.summary.slice(0, 300)}`);
  }

  // ── canned responses ──
  const Canned = { open: false, items: [], idx: 0 };
  function getCanned() {
    if (S.canned) return Promise.resolve(S.canned);
    if (S.cannedOff) return Promise.resolve([]);
    if (!S.cannedPromise) {
      S.cannedPromise = api("/canned").then((r) => {
        S.canned = (r.canned || []).slice().sort((a, b) => a.shortcut.localeCompare(b.shortcut));
        return S.canned;
      }).catch((e) => {
        if (e.status === 404) S.cannedOff = true;
        return [];
      }).finally(() => { S.cannedPromise = null; });
    }
    return S.cannedPromise;
  }
  async function updateCanned() {
    const c = S.conv; if (!c) return;
    const ta = c.dom.composer;
    const m = ta.selectionStart === ta.selectionEnd ? /^\/([a-z0-9_-]{0,32})$/i.exec(ta.value.slice(0, ta.selectionStart)) : null;
    if (!m) { closeCanned(); return; }
    const before = ta.value;
    const all = await getCanned();
    if (S.conv !== c || ta.value !== before) return;
    const q = m[1].toLowerCase();
    const items = all.filter((x) => x.shortcut.startsWith(q)).slice(0, 8);
    if (!items.length) { closeCanned(); return; }
    Canned.items = items; Canned.idx = 0; Canned.open = true;
    renderCanned();
  }
  function renderCanned() {
    const c = S.conv; if (!c) return;
    const ul = clear(c.dom.canned);
    Canned.items.forEach((it, i) => {
      const id = `${ul.id}-opt-${i}`;
      ul.append(h("li", { id, role: "option", class: "canned__item", "aria-selected": String(i === Canned.idx), dataset: { testid: "canned-item" },
        onmousedown: (e) => { e.preventDefault(); insertCanned(it); } },
      h("span", { class: "canned__key", text: `/${it.shortcut}` }), h("span", { class: "canned__body", text: it.body.slice(0, 120) })));
    });
    ul.hidden = false;
    c.dom.composer.setAttribute("aria-activedescendant", `${ul.id}-opt-${Canned.idx}`);
    const sel = ul.children[Canned.idx]; if (sel) sel.scrollIntoView({ block: "nearest" });
  }
  function closeCanned() {
    const was = Canned.open;
    Canned.open = false; Canned.items = [];
    const c = S.conv;
    if (c && c.dom) { c.dom.canned.hidden = true; clear(c.dom.canned); c.dom.composer.removeAttribute("aria-activedescendant"); }
    return was;
  }
  function insertCanned(it) {
    const c = S.conv; if (!c || !it) return;
    const ta = c.dom.composer;
    const rest = ta.value.slice(ta.selectionStart);
    ta.value = it.body + rest;
    ta.setSelectionRange(it.body.length, it.body.length);
    closeCanned();
    autosize(ta);
    ta.focus();
    Typing.ping(c.id, c.note);
  }

  // ───────────────────────────── admin: shared helpers ─────────────────────────────
  function field(label, input, hint) {
    if (!input.id) input.id = uid("f");
    const kids = [h("label", { for: input.id, text: label }), input];
    if (hint) { const hid = `${input.id}-hint`; input.setAttribute("aria-describedby", hid); kids.push(h("p", { class: "hint", id: hid, text: hint })); }
    return h("div", { class: "field" }, kids);
  }
  function checkField(label, input) {
    if (!input.id) input.id = uid("f");
    return h("div", { class: "field field--check" }, input, h("label", { for: input.id, text: label }));
  }
  async function copyText(text, el) {
    try { await navigator.clipboard.writeText(text); toast("Copied to the clipboard", "info", 2000); } catch (_) {
      if (el && el.select) { el.focus(); el.select(); }
      let ok = false;
      try { ok = document.execCommand("copy"); } catch (__) { ok = false; }
      toast(ok ? "Copied to the clipboard" : "Press Ctrl+C (⌘C) to copy the selected text", ok ? "info" : "error", 3000);
    }
  }
  function adminShell(title, ...kids) {
    return clear(dom.adminView).append(h("div", { class: "admin" }, h("h1", { class: "admin__title", text: title }), kids));
  }
  function adminUnavailable(title, e) {
    adminShell(title, h("p", { class: "card", text: e.status === 404 ? "This server does not provide this page yet." : e.status === 403 ? "Only admins can open this page." : `Could not load: ${e.message}` }));
  }
  function submitting(form, on) { for (const b of $$("button, input, select, textarea", form)) if (on) { b.dataset.wasDisabled = b.disabled ? "1" : ""; b.disabled = true; } else b.disabled = b.dataset.wasDisabled === "1"; }

  // ── admin: agents ──
  async function renderAdminAgents() {
    adminShell("Agents", h("p", { class: "muted", text: "Loading…" }));
    let agents;
    try { agents = (await api("/agents")).agents || []; } catch (e) { adminUnavailable("Agents", e); return; }
    if (S.route.name !== "admin" || S.route.section !== "agents") return;
    for (const a of agents) S.agents.set(a.id, a);
    const tbody = h("tbody");
    const table = h("table", { class: "table" },
      h("caption", { class: "sr-only", text: "Agents" }),
      h("thead", {}, h("tr", {}, ["Agent", "Status", "Role", "Max open", "Active", ""].map((t) => h("th", { scope: "col", text: t })))),
      tbody);
    const sorted = agents.slice().sort((a, b) => String(a.name).localeCompare(String(b.name)));
    for (const a of sorted) tbody.append(agentRow(a));
    adminShell("Agents", inviteForm(), h("div", { class: "card card--flush table-wrap" }, table));
  }

  function agentRow(a) {
    const self = a.id === ME.id;
    const patch = async (body, ctl) => {
      try {
        const r = await api(`/agents/${enc(a.id)}`, { method: "PATCH", body });
        Object.assign(a, r.agent || body); S.agents.set(a.id, a);
        toast("Saved", "info", 1500);
        return true;
      } catch (e) { fail(e); if (ctl) ctl(); return false; }
    };
    const role = h("select", { class: "select", "aria-label": `Role of ${a.name}`, disabled: self },
      h("option", { value: "agent", text: "Agent" }), h("option", { value: "admin", text: "Admin" }));
    role.value = a.role;
    role.addEventListener("change", () => patch({ role: role.value }, () => { role.value = a.role; }));
    const max = h("input", { type: "number", class: "input input--num", min: "0", max: "999", value: a.max_open == null ? "" : String(a.max_open), "aria-label": `Maximum open conversations for ${a.name}`, placeholder: "∞" });
    max.addEventListener("change", () => {
      const v = max.value.trim() === "" ? null : Math.max(0, parseInt(max.value, 10) || 0);
      patch({ max_open: v }, () => { max.value = a.max_open == null ? "" : String(a.max_open); });
    });
    const activeLabel = h("span", { class: a.active ? "status status--open" : "status status--resolved", text: a.active ? "Active" : "Deactivated" });
    const toggle = h("button", { type: "button", class: a.active ? "btn btn--danger btn--small" : "btn btn--ghost btn--small", disabled: self,
      text: a.active ? "Deactivate" : "Reactivate", title: self ? "You cannot deactivate yourself" : null,
      onclick: async () => {
        if (a.active && !window.confirm(`Deactivate ${a.name}? They are signed out immediately and cannot log in.`)) return;
        if (await patch({ active: !a.active })) renderAdminAgents();
      } });
    return h("tr", { dataset: { testid: "agent-row", id: a.id } },
      h("td", {}, h("div", { class: "who" }, h("strong", { text: a.name || "—" }), h("span", { class: "muted", text: a.email }))),
      h("td", {}, presenceDot(a.id), " ", h("span", { class: "muted", dataset: { presenceText: a.id }, text: presenceOf(a.id) })),
      h("td", {}, role), h("td", {}, max), h("td", {}, activeLabel), h("td", {}, toggle));
  }

  function inviteForm() {
    const email = h("input", { type: "email", class: "input", name: "email", required: true, autocomplete: "off" });
    const name = h("input", { type: "text", class: "input", name: "name", required: true, maxlength: "120", autocomplete: "off" });
    const role = h("select", { class: "select", name: "role" }, h("option", { value: "agent", text: "Agent" }), h("option", { value: "admin", text: "Admin" }));
    const pw = h("input", { type: "text", class: "input", name: "password", autocomplete: "new-password" });
    const result = h("div", { class: "result", "aria-live": "polite" });
    const form = h("form", { class: "card form", "aria-label": "Invite agent", onsubmit: async (e) => {
      e.preventDefault();
      const body = { email: email.value.trim(), name: name.value.trim(), role: role.value };
      if (pw.value) body.password = pw.value;
      submitting(form, true);
      try {
        const r = await api("/agents", { method: "POST", body });
        if (r.agent) S.agents.set(r.agent.id, r.agent);
        form.reset();
        const out = h("input", { class: "input mono", readOnly: true, value: r.password || body.password || "", "aria-label": "Password for the new agent" });
        clear(result).append(h("div", { class: "callout", dataset: { testid: "invite-result" } },
          h("p", {}, h("strong", { text: `${body.name} can now sign in as ${body.email}.` })),
          r.password ? h("p", { text: "Their password is shown only once — copy it and share it securely:" }) : null,
          r.password ? h("div", { class: "row" }, out, h("button", { type: "button", class: "btn btn--ghost", text: "Copy", onclick: () => copyText(out.value, out) })) : null));
        const tbody = $(".table tbody", dom.adminView);
        if (tbody && r.agent) tbody.append(agentRow(r.agent));
      } catch (err) { fail(err); } finally { submitting(form, false); }
    } },
    h("h2", { class: "card__title", text: "Invite agent" }),
    h("div", { class: "grid" }, field("Email", email), field("Name", name), field("Role", role),
      field("Password (optional)", pw, "Leave empty to generate one.")),
    h("button", { type: "submit", class: "btn btn--primary", text: "Create agent" }), result);
    return form;
  }

  // ── admin: inboxes ──
  async function renderAdminInboxes(selectId) {
    adminShell("Inboxes", h("p", { class: "muted", text: "Loading…" }));
    let inboxes;
    try { inboxes = (await api("/inboxes")).inboxes || []; } catch (e) { adminUnavailable("Inboxes", e); return; }
    if (S.route.name !== "admin" || S.route.section !== "inboxes") return;
    const editor = h("div", { class: "inbox-editor" });
    const list = h("ul", { class: "inbox-list", "aria-label": "Inboxes" });
    const select = (ib) => {
      for (const b of $$("button", list)) b.setAttribute("aria-current", String(b.dataset.id === ib.id));
      clear(editor).append(inboxForm(ib, (saved) => { Object.assign(ib, saved); renderAdminInboxes(ib.id); }));
    };
    for (const ib of inboxes) {
      list.append(h("li", {}, h("button", { type: "button", class: "inbox-list__btn", dataset: { id: ib.id }, "aria-current": "false", onclick: () => select(ib) },
        h("span", { class: "swatch", style: { background: /^#[0-9a-f]{6}$/i.test(ib.color) ? ib.color : "#888888" }, "aria-hidden": "true" }),
        h("span", { text: ib.name }), ib.bot_enabled ? h("span", { class: "chip chip--bot", text: "Bot" }) : null)));
    }
    const newName = h("input", { type: "text", class: "input", required: true, maxlength: "80", placeholder: "e.g. Website" });
    const create = h("form", { class: "form form--inline", "aria-label": "New inbox", onsubmit: async (e) => {
      e.preventDefault();
      submitting(create, true);
      try { const r = await api("/inboxes", { method: "POST", body: { name: newName.value.trim() } }); toast("Inbox created", "info", 2000); renderAdminInboxes(r.inbox && r.inbox.id); } catch (err) { fail(err); submitting(create, false); }
    } }, field("New inbox name", newName), h("button", { type: "submit", class: "btn btn--primary", text: "Add inbox" }));
    adminShell("Inboxes", h("div", { class: "split" }, h("div", { class: "card" }, list, create), editor));
    const first = inboxes.find((i) => i.id === selectId) || inboxes[0];
    if (first) select(first); else editor.append(h("p", { class: "card muted", text: "No inbox yet. Create one to get a widget snippet." }));
  }

  function inboxForm(ib, onSaved) {
    const name = h("input", { type: "text", class: "input", required: true, maxlength: "80", value: ib.name || "" });
    const color = h("input", { type: "color", class: "input input--color", value: /^#[0-9a-f]{6}$/i.test(ib.color) ? ib.color.toLowerCase() : "#2f5fd0" });
    const greeting = h("textarea", { class: "input", rows: "2", value: ib.greeting || "" });
    const offline = h("textarea", { class: "input", rows: "2", value: ib.offline_message || "" });
    const askEmail = h("input", { type: "checkbox", checked: !!ib.ask_email });
    const origins = h("textarea", { class: "input mono", rows: "3", value: (ib.allowed_origins || []).join("\n"), placeholder: "https://www.example.com" });
    const bh = ib.business_hours;
    const bhOn = h("input", { type: "checkbox", checked: !!bh });
    const offset = h("input", { type: "number", class: "input input--num", step: "15", min: "-840", max: "840", value: String(bh ? bh.utc_offset_minutes || 0 : -new Date().getTimezoneOffset()) });
    const dayRows = DAYS.map(([key, label]) => {
      const span = bh && bh.days && bh.days[key];
      const on = h("input", { type: "checkbox", id: uid("day"), checked: !!span });
      const open = h("input", { type: "time", class: "input", id: uid("open"), value: span ? span[0] : "09:00" });
      const close = h("input", { type: "time", class: "input", id: uid("close"), value: span ? span[1] : "17:00" });
      const tr = h("tr", {},
        h("th", { scope: "row" }, h("span", { class: "check" }, on, h("label", { for: on.id, text: label }))),
        h("td", {}, h("label", { class: "sr-only", for: open.id, text: `${label} opens at` }), open),
        h("td", {}, h("label", { class: "sr-only", for: close.id, text: `${label} closes at` }), close));
      return { key, on, open, close, tr };
    });
    const bhTable = h("table", { class: "table table--compact" }, h("caption", { class: "sr-only", text: "Opening hours per weekday" }),
      h("thead", {}, h("tr", {}, h("th", { scope: "col", text: "Day" }), h("th", { scope: "col", text: "Opens" }), h("th", { scope: "col", text: "Closes" }))),
      h("tbody", {}, dayRows.map((r) => r.tr)));
    const bhBox = h("fieldset", { class: "fieldset", disabled: !bh }, h("legend", { text: "Opening hours" }),
      field("UTC offset in minutes", offset, `Your browser is at ${-new Date().getTimezoneOffset()} (e.g. 60 = UTC+1). Days left unchecked are closed.`), bhTable);
    bhOn.addEventListener("change", () => { bhBox.disabled = !bhOn.checked; });
    const idReq = h("input", { type: "checkbox", checked: !!ib.identity_required });
    const secret = h("input", { type: "text", class: "input mono", readOnly: true, value: ib.identity_secret || "", placeholder: "none", "aria-label": "Identity secret" });
    const rotate = h("button", { type: "button", class: "btn btn--ghost", text: ib.identity_secret ? "Rotate" : "Generate", onclick: async () => {
      if (ib.identity_secret && !window.confirm("Rotate the identity secret? User hashes made with the old secret stop working.")) return;
      try { const r = await api(`/inboxes/${enc(ib.id)}/rotate-identity-secret`, { method: "POST" }); ib.identity_secret = r.inbox.identity_secret; secret.value = ib.identity_secret || ""; rotate.textContent = "Rotate"; toast("Identity secret rotated", "info", 2500); } catch (e) { fail(e); }
    } });
    const snippet = h("textarea", { class: "input mono", rows: "3", readOnly: true, value: ib.snippet || "", "aria-label": "Install snippet" });
    const turns0 = parseInt(ib.bot_max_turns, 10);
    const botOn = h("input", { type: "checkbox", id: uid("bot"), name: "bot_enabled", checked: !!ib.bot_enabled, dataset: { testid: "bot-enabled" } });
    const botTurns = h("input", { type: "number", id: uid("f"), class: "input input--num", name: "bot_max_turns", min: "1", max: "20", step: "1", required: true,
      value: String(turns0 >= 1 && turns0 <= 20 ? turns0 : 3), disabled: !ib.bot_enabled, dataset: { testid: "bot-max-turns" } });
    botOn.addEventListener("change", () => { botTurns.disabled = !botOn.checked; });
    const botBox = h("fieldset", { class: "fieldset" }, h("legend", { text: "AI assistant" }),
      h("div", { class: "field field--check" }, botOn, h("label", { for: botOn.id, text: "First-line bot" })),
      h("p", { class: "hint", id: `${botOn.id}-hint`, text: "New conversations are answered first by a bot that uses the knowledge base; it hands the conversation to your team when it cannot help or the customer asks for a person." }),
      h("div", { class: "field bot-turns" }, h("label", { for: botTurns.id, text: "Bot answers before handing off" }), botTurns,
        h("p", { class: "hint", text: "1 to 20." })));
    botOn.setAttribute("aria-describedby", `${botOn.id}-hint`);
    const form = h("form", { class: "card form", "aria-label": `Edit inbox ${ib.name}`, dataset: { testid: "inbox-form" }, onsubmit: async (e) => {
      e.preventDefault();
      const days = {};
      for (const r of dayRows) if (r.on.checked) {
        if (!r.open.value || !r.close.value) { toast(`Set opening and closing times for ${r.key}.`); r.open.focus(); return; }
        days[r.key] = [r.open.value, r.close.value];
      }
      const body = {
        name: name.value.trim(), color: color.value, greeting: greeting.value, offline_message: offline.value,
        ask_email: askEmail.checked,
        allowed_origins: origins.value.split("\n").map((s) => s.trim().replace(/\/+$/, "")).filter(Boolean),
        business_hours: bhOn.checked ? { utc_offset_minutes: parseInt(offset.value, 10) || 0, days } : null,
        identity_required: idReq.checked,
        bot_enabled: botOn.checked,
      };
      const turns = Number(botTurns.value);
      if (Number.isInteger(turns) && turns >= 1 && turns <= 20) body.bot_max_turns = turns;
      else if (botOn.checked) { toast("Bot answers before handing off: enter a whole number from 1 to 20."); botTurns.focus(); return; }
      submitting(form, true);
      try { const r = await api(`/inboxes/${enc(ib.id)}`, { method: "PATCH", body }); toast("Inbox saved", "info", 2000); onSaved(r.inbox || body); } catch (err) { fail(err); submitting(form, false); }
    } },
    h("h2", { class: "card__title", text: ib.name }),
    h("div", { class: "grid" }, field("Name", name), field("Color", color)),
    field("Greeting", greeting, "Shown when a visitor opens the chat."),
    field("Offline message", offline, "Shown outside business hours or when nobody is online."),
    checkField("Ask for the visitor's email before chatting", askEmail),
    field("Allowed websites (origins), one per line", origins, "Leave empty to allow any website."),
    checkField("Limit to business hours", bhOn), bhBox,
    h("fieldset", { class: "fieldset" }, h("legend", { text: "Identity verification" }),
      checkField("Require a valid user hash for identified users", idReq),
      h("div", { class: "field" }, h("span", { class: "label", text: "Identity secret" }), h("div", { class: "row" }, secret, rotate,
        h("button", { type: "button", class: "btn btn--ghost", text: "Copy", onclick: () => copyText(secret.value, secret) })),
      h("p", { class: "hint", text: "user_hash = hex HMAC-SHA256(secret, user_id), computed on your server." }))),
    botBox,
    h("div", { class: "field" }, h("span", { class: "label", text: "Install snippet" }), snippet,
      h("div", { class: "row" }, h("button", { type: "button", class: "btn btn--ghost", dataset: { testid: "copy-snippet" }, text: "Copy snippet", onclick: () => copyText(snippet.value, snippet) }),
        h("span", { class: "hint", text: "Paste before </body> on your website." }))),
    h("div", { class: "row" }, h("button", { type: "submit", class: "btn btn--primary", text: "Save inbox" })));
    return form;
  }

  // ── admin: canned responses ──
  async function renderAdminCanned() {
    adminShell("Canned responses", h("p", { class: "muted", text: "Loading…" }));
    let items;
    try { items = (await api("/canned")).canned || []; } catch (e) { adminUnavailable("Canned responses", e); return; }
    if (S.route.name !== "admin" || S.route.section !== "canned") return;
    items.sort((a, b) => a.shortcut.localeCompare(b.shortcut));
    S.canned = items.slice();
    let editing = null;
    const shortcut = h("input", { type: "text", class: "input mono", required: true, pattern: "[a-z0-9_\\-]{1,32}", maxlength: "32", placeholder: "shipping", autocomplete: "off" });
    const text = h("textarea", { class: "input", rows: "4", required: true });
    const title = h("h2", { class: "card__title", text: "Add a canned response" });
    const submit = h("button", { type: "submit", class: "btn btn--primary", text: "Add" });
    const cancel = h("button", { type: "button", class: "btn btn--ghost", hidden: true, text: "Cancel", onclick: () => edit(null) });
    const edit = (it) => {
      editing = it;
      shortcut.value = it ? it.shortcut : ""; text.value = it ? it.body : "";
      title.textContent = it ? `Edit /${it.shortcut}` : "Add a canned response";
      submit.textContent = it ? "Save" : "Add"; cancel.hidden = !it;
      if (it) shortcut.focus();
    };
    const form = h("form", { class: "card form", "aria-label": "Canned response", onsubmit: async (e) => {
      e.preventDefault();
      const body = { shortcut: shortcut.value.trim().toLowerCase().replace(/^\//, ""), body: text.value };
      if (!/^[a-z0-9_-]{1,32}$/.test(body.shortcut)) { toast("Shortcuts use a–z, 0–9, _ and - (up to 32)."); shortcut.focus(); return; }
      if (!body.body.trim()) { toast("The response text is empty."); text.focus(); return; }
      submitting(form, true);
      try {
        if (editing) await api(`/canned/${enc(editing.id)}`, { method: "PATCH", body });
        else await api("/canned", { method: "POST", body });
        S.canned = null;
        toast("Saved", "info", 1500);
        renderAdminCanned();
      } catch (err) { fail(err); submitting(form, false); }
    } }, title,
    field("Shortcut", shortcut, "Agents type /shortcut in the reply box. Lowercase letters, digits, _ and -."),
    field("Response", text), h("div", { class: "row" }, submit, cancel));
    const tbody = h("tbody");
    for (const it of items) {
      tbody.append(h("tr", { dataset: { testid: "canned-row", id: it.id } },
        h("td", { class: "mono", text: `/${it.shortcut}` }),
        h("td", { class: "prewrap", text: it.body }),
        h("td", { class: "nowrap" },
          h("button", { type: "button", class: "btn btn--ghost btn--small", text: "Edit", "aria-label": `Edit /${it.shortcut}`, onclick: () => edit(it) }), " ",
          h("button", { type: "button", class: "btn btn--danger btn--small", text: "Delete", "aria-label": `Delete /${it.shortcut}`, onclick: async () => {
            if (!window.confirm(`Delete /${it.shortcut}?`)) return;
            try { await api(`/canned/${enc(it.id)}`, { method: "DELETE" }); S.canned = null; renderAdminCanned(); } catch (e) { fail(e); }
          } }))));
    }
    const table = items.length
      ? h("div", { class: "card card--flush table-wrap" }, h("table", { class: "table" }, h("caption", { class: "sr-only", text: "Canned responses" }),
        h("thead", {}, h("tr", {}, h("th", { scope: "col", text: "Shortcut" }), h("th", { scope: "col", text: "Response" }), h("th", { scope: "col", text: "Actions" }))), tbody))
      : h("p", { class: "card muted", text: "No canned responses yet." });
    adminShell("Canned responses", form, table);
  }

  // ── admin: knowledge base ──
  // Every agent can read the articles and test retrieval; only admins see the editor.
  // API: GET/POST /kb/articles, PUT/DELETE /kb/articles/{id}, GET /kb/search?q&limit.
  const KB = { articles: [], editing: null, viewing: null, searchGen: 0 };
  const kbTags = (v) => [...new Set(String(v || "").split(",").map((t) => t.trim()).filter(Boolean))];
  const kbDate = (v) => (tms(v) ? h("time", { datetime: v, title: fullTime(v), text: new Date(tms(v)).toLocaleDateString([], { year: "numeric", month: "short", day: "numeric" }) }) : "—");

  async function renderAdminKb() {
    adminShell("Knowledge base", h("p", { class: "muted", text: "Loading…" }));
    let articles;
    try { articles = (await api("/kb/articles")).articles || []; } catch (e) { adminUnavailable("Knowledge base", e); return; }
    if (S.route.name !== "admin" || S.route.section !== "kb") return;
    KB.articles = articles.filter((a) => a && a.id);
    KB.editing = null; KB.viewing = null;
    buildKbPage();
  }

  function buildKbPage() {
    const admin = ME.role === "admin";
    const d = {};
    KB.dom = d;
    d.list = h("div", { class: "kb-list" });
    d.side = h("div", { class: "kb-side" });
    adminShell("Knowledge base",
      h("p", { class: "muted kb-intro", text: admin
        ? "Articles the first-line bot and “Suggest reply” draw their answers from. Write the body in Markdown; headings split an article into passages."
        : "Articles the first-line bot and “Suggest reply” draw their answers from. Only admins can edit them." }),
      kbSearchCard(),
      d.list,
      d.side);
    renderKbList();
    if (admin) renderKbEditor(null, false);
  }

  function renderKbList() {
    const d = KB.dom; if (!d) return;
    const admin = ME.role === "admin";
    const items = KB.articles.slice().sort((a, b) => String(a.title).localeCompare(String(b.title)));
    const box = clear(d.list);
    if (!items.length) {
      box.append(h("p", { class: "card muted", dataset: { testid: "kb-empty" }, text: admin ? "No article yet. Add the answers to your customers' common questions below." : "No article yet." }));
      return;
    }
    const tbody = h("tbody");
    for (const a of items) {
      const current = (KB.editing && KB.editing.id === a.id) || (KB.viewing && KB.viewing.id === a.id);
      tbody.append(h("tr", { dataset: { testid: "kb-row", id: a.id }, class: current ? "is-current" : null },
        h("td", {}, h("button", { type: "button", class: "link-btn kb-open", dataset: { testid: "kb-open" }, "aria-current": current ? "true" : null,
          title: admin ? "Edit this article" : "Read this article", text: a.title || a.slug || "(untitled)", onclick: () => openKbArticle(a.id) })),
        h("td", { class: "mono kb-slug", text: a.slug || "" }),
        h("td", {}, (Array.isArray(a.tags) ? a.tags : []).map((t) => h("span", { class: "chip chip--tag", text: t }))),
        h("td", { class: "nowrap" }, kbDate(a.updated_at || a.created_at)),
        admin ? h("td", { class: "nowrap" },
          h("button", { type: "button", class: "btn btn--danger btn--small", dataset: { testid: "kb-row-delete" }, text: "Delete",
            "aria-label": `Delete ${a.title}`, onclick: () => deleteKbArticle(a) })) : null));
    }
    box.append(h("div", { class: "card card--flush table-wrap" }, h("table", { class: "table" },
      h("caption", { class: "sr-only", text: "Knowledge-base articles" }),
      h("thead", {}, h("tr", {}, ["Title", "Slug", "Tags", "Updated", admin ? "Actions" : null].filter(Boolean).map((t) => h("th", { scope: "col", text: t })))),
      tbody)));
  }

  function openKbArticle(id) {
    const a = KB.articles.find((x) => x.id === id);
    if (!a) { toast("This article no longer exists."); return; }
    if (ME.role === "admin") {
      if (KB.dirty && KB.dirty() && !window.confirm("Discard your unsaved changes to this article?")) return;
      renderKbEditor(a, true);
    } else renderKbViewer(a);
    renderKbList();
  }

  /** Read-only article (agents). */
  function renderKbViewer(a) {
    KB.viewing = a;
    const side = clear(KB.dom.side);
    const href = safeHttpUrl(a.url);
    const titleId = uid("kbv");
    const card = h("article", { class: "card kb-article", dataset: { testid: "kb-article", id: a.id }, "aria-labelledby": titleId, tabindex: "-1" },
      h("div", { class: "kb-article__head" },
        h("h2", { class: "card__title", id: titleId, text: a.title }),
        h("button", { type: "button", class: "btn btn--ghost btn--small", text: "Close", onclick: () => { KB.viewing = null; clear(side); renderKbList(); } })),
      h("p", { class: "kb-article__meta" },
        h("span", { class: "mono", text: a.slug }),
        (Array.isArray(a.tags) ? a.tags : []).map((t) => h("span", { class: "chip chip--tag", text: t })),
        h("span", { class: "muted" }, "Updated ", kbDate(a.updated_at)),
        href ? h("a", { href, target: "_blank", rel: "noopener noreferrer nofollow", text: "Public page ↗", title: a.url }) : null),
      h("div", { class: "kb-article__body prewrap", text: a.body || "" }));
    side.append(card);
    card.focus({ preventScroll: true });
    card.scrollIntoView({ block: "nearest" });
  }

  /** Admin editor: a new article (a = null) or an existing one. */
  function renderKbEditor(a, focus) {
    KB.editing = a;
    const side = clear(KB.dom.side);
    const inp = (name, props) => h("input", Object.assign({ type: "text", class: "input", name, autocomplete: "off", spellcheck: "false" }, props));
    const fTitle = inp("title", { required: true, maxlength: "200", spellcheck: "true", value: a ? a.title : "" });
    const fSlug = inp("slug", { class: "input mono", maxlength: "80", pattern: "[a-z0-9._\\-]{1,80}", placeholder: "made from the title", value: a ? a.slug : "" });
    const fTags = inp("tags", { placeholder: "billing, refunds", value: a && Array.isArray(a.tags) ? a.tags.join(", ") : "" });
    const fUrl = inp("url", { type: "url", maxlength: "500", placeholder: "https://help.example.com/refunds", value: a && a.url ? a.url : "" });
    const fBody = h("textarea", { class: "input mono kb-body", name: "body", rows: "14", required: true, spellcheck: "true", value: a ? a.body : "" });
    const err = h("p", { class: "form-error", role: "alert", dataset: { testid: "kb-form-error" }, hidden: true });
    const fields = { title: fTitle, slug: fSlug, tags: fTags, url: fUrl, body: fBody };
    const snapshot = () => JSON.stringify([fTitle.value, fSlug.value, fTags.value, fUrl.value, fBody.value]);
    const initial = snapshot();
    KB.dirty = () => fTitle.isConnected && snapshot() !== initial;
    const showError = (msg, fieldName) => {
      err.textContent = msg; err.hidden = false;
      for (const [k, el] of Object.entries(fields)) if (k === fieldName) el.setAttribute("aria-invalid", "true"); else el.removeAttribute("aria-invalid");
      if (fields[fieldName]) fields[fieldName].focus();
    };
    const submit = h("button", { type: "submit", class: "btn btn--primary", dataset: { testid: "kb-save" }, text: a ? "Save changes" : "Add article" });
    const form = h("form", { class: "card form kb-form", dataset: { testid: "kb-form", id: a ? a.id : "" }, "aria-label": a ? `Edit article ${a.title}` : "New article",
      onsubmit: async (e) => {
        e.preventDefault();
        err.hidden = true;
        const body = { title: fTitle.value.trim(), body: fBody.value, tags: kbTags(fTags.value), url: fUrl.value.trim() || null };
        const slug = fSlug.value.trim().toLowerCase();
        if (slug) body.slug = slug;
        if (!body.title) { showError("Give the article a title.", "title"); return; }
        if (!body.body.trim()) { showError("The article body is empty.", "body"); return; }
        if (slug && !/^[a-z0-9._-]{1,80}$/.test(slug)) { showError("Slugs use a–z, 0–9, '-', '_' and '.' (up to 80).", "slug"); return; }
        if (body.url && !safeHttpUrl(body.url)) { showError("The URL must start with http:// or https://.", "url"); return; }
        submitting(form, true);
        try {
          const saved = a
            ? await api(`/kb/articles/${enc(a.id)}`, { method: "PUT", body })
            : await api("/kb/articles", { method: "POST", body });
          const art = saved && saved.article ? saved.article : saved;
          if (!art || !art.id) throw new ApiError(0, "invalid_response", "Unexpected answer from the server.");
          KB.articles = KB.articles.filter((x) => x.id !== art.id).concat([art]);
          toast(a ? "Article saved" : "Article added", "info", 2000);
          renderKbEditor(art, false);
          renderKbList();
          const t = $("[name=title]", KB.dom.side); if (t) t.focus();
        } catch (ex) {
          submitting(form, false);
          if (ex.status === 401) return;
          let which = null;
          if (ex.code === "conflict" || ex.status === 409) which = "slug";
          else { const m = /\b(title|slug|body|url|tags?)\b/i.exec(ex.message || ""); if (m) which = m[1].toLowerCase().replace(/^tag$/, "tags"); }
          showError(ex.code === "conflict" || ex.status === 409 ? ex.message || "Another article already uses this slug." : ex.message || "Could not save the article.", which);
        }
      } },
    h("div", { class: "kb-form__head" },
      h("h2", { class: "card__title", text: a ? `Edit: ${a.title}` : "New article" }),
      a ? h("button", { type: "button", class: "btn btn--ghost btn--small", dataset: { testid: "kb-new" }, text: "New article", onclick: () => {
        if (KB.dirty() && !window.confirm("Discard your unsaved changes to this article?")) return;
        renderKbEditor(null, true); renderKbList();
      } }) : null),
    h("div", { class: "grid kb-form__grid" },
      field("Title", fTitle),
      field("Slug", fSlug, "Stable id, e.g. refund-policy. Left empty, it is made from the title."),
      field("Tags", fTags, "Comma-separated."),
      field("Public URL (optional)", fUrl, "Shown as the source link when set.")),
    field("Body (Markdown)", fBody, "Plain Markdown. Keep one topic per article; ## headings make good passages."),
    err,
    h("div", { class: "row" }, submit,
      a ? h("button", { type: "button", class: "btn btn--danger", dataset: { testid: "kb-delete" }, text: "Delete", onclick: () => deleteKbArticle(a) }) : null,
      a ? h("span", { class: "hint" }, "Updated ", kbDate(a.updated_at)) : null));
    for (const el of Object.values(fields)) el.addEventListener("input", () => el.removeAttribute("aria-invalid"));
    side.append(form);
    if (focus) { fTitle.focus({ preventScroll: true }); form.scrollIntoView({ block: "nearest" }); }
  }

  async function deleteKbArticle(a) {
    if (!window.confirm(`Delete the article “${a.title}”? The bot and suggested replies stop using it.`)) return;
    try {
      await api(`/kb/articles/${enc(a.id)}`, { method: "DELETE" });
      KB.articles = KB.articles.filter((x) => x.id !== a.id);
      toast("Article deleted", "info", 2000);
      if (KB.editing && KB.editing.id === a.id) renderKbEditor(null, false);
      renderKbList();
    } catch (e) { if (e.status === 404) { KB.articles = KB.articles.filter((x) => x.id !== a.id); renderKbList(); } fail(e); }
  }

  /** "What would the bot find for this question?" */
  function kbSearchCard() {
    const input = h("input", { type: "search", id: uid("kbq"), class: "input", name: "q", maxlength: "500", autocomplete: "off",
      placeholder: "e.g. How do I get a refund?", dataset: { testid: "kb-search-input" } });
    const results = h("div", { class: "kb-results", dataset: { testid: "kb-results" }, "aria-live": "polite" });
    const btn = h("button", { type: "submit", class: "btn btn--primary", dataset: { testid: "kb-search" }, text: "Search" });
    const form = h("form", { class: "card form kb-search", role: "search", "aria-label": "Test the knowledge base", onsubmit: async (e) => {
      e.preventDefault();
      const q = input.value.trim();
      if (!q) { clear(results); input.focus(); return; }
      const gen = ++KB.searchGen;
      results.setAttribute("aria-busy", "true");
      clear(results).append(h("p", { class: "muted" }, h("span", { class: "spinner", "aria-hidden": "true" }), " Searching…"));
      let hits = null, err = null;
      try { hits = ((await api(`/kb/search?${new URLSearchParams({ q, limit: "5" })}`)) || {}).hits || []; } catch (ex) { err = ex; }
      if (gen !== KB.searchGen || !results.isConnected) return;
      results.removeAttribute("aria-busy");
      clear(results);
      if (err) { results.append(h("p", { class: "form-error", dataset: { testid: "kb-search-error" }, text: `Search failed: ${err.message}` })); return; }
      if (!hits.length) { results.append(h("p", { class: "muted", dataset: { testid: "kb-no-hits" }, text: "No article matches — the bot would have nothing to answer from and would hand this question to an agent." })); return; }
      results.append(h("p", { class: "sr-only", text: `${hits.length} passage${hits.length === 1 ? "" : "s"} found` }),
        h("ol", { class: "kb-hits" }, hits.filter((x) => x && x.article).map((x) => {
          const art = x.article;
          const href = safeHttpUrl(art.url);
          const score = Number(x.score);
          return h("li", { class: "kb-hit", dataset: { testid: "kb-hit", id: art.id || "" } },
            h("div", { class: "kb-hit__top" },
              KB.articles.some((y) => y.id === art.id)
                ? h("button", { type: "button", class: "link-btn kb-hit__title", text: art.title || art.slug, onclick: () => openKbArticle(art.id) })
                : h("strong", { class: "kb-hit__title", text: art.title || art.slug }),
              x.heading ? h("span", { class: "kb-hit__heading", text: `§ ${x.heading}` }) : null,
              Number.isFinite(score) ? h("span", { class: "chip", dataset: { testid: "kb-score" }, title: "Retrieval score (higher is closer)", text: `score ${score.toFixed(2)}` }) : null,
              href ? h("a", { href, target: "_blank", rel: "noopener noreferrer nofollow", text: "page ↗", title: art.url }) : null),
            x.snippet ? h("p", { class: "kb-hit__snippet prewrap", text: x.snippet }) : null);
        })));
    } },
    h("h2", { class: "card__title", text: "Test a question" }),
    h("label", { for: input.id, class: "label", text: "What would the bot find for this question?" }),
    h("div", { class: "row kb-search__bar" }, input, btn),
    results);
    return form;
  }

  function renderAdmin(section) {
    if (section === "kb") { renderAdminKb(); return; } // agents may read the knowledge base
    if (ME.role !== "admin") { adminShell("Admin", h("p", { class: "card", text: "Only admins can open this page." })); return; }
    if (section === "inboxes") renderAdminInboxes();
    else if (section === "canned") renderAdminCanned();
    else renderAdminAgents();
  }

  // ───────────────────────────── transcript search (#/search) ─────────────────────────────
  // API: GET /api/v1/search?q&sort&page&per_page → {total, page, per_page, did_you_mean, results:[…]}.
  const SORTS = ["relevance", "date"];
  const SORT_LABELS = { relevance: "Best match", date: "Newest first" };
  const PER_PAGE = 20;
  const MAX_SNIPPETS = 3;
  // Highlight ranges are [start, end) offsets into a snippet's `text`. The server (Rust, tantivy)
  // counts UTF-8 bytes (src/search); "char" (Unicode scalar values) and "utf16" (JS string
  // indices) are supported too, should the API ever say otherwise.
  const HL_UNIT = "utf8";
  const FILTER_KEYS = ["status", "tag", "customer", "inbox", "agent", "after", "before"];
  const nf = new Intl.NumberFormat("en-US");
  const SR = {
    q: "", sort: "relevance", page: 1,
    key: null, gen: 0, ctrl: null, loading: false, data: null, error: null,
    timer: 0, typing: false, expectKey: null, focusInput: false, focusResults: false, scroll: 0,
    helpOpen: false, suggestions: false,
  };

  /** A JS (UTF-16) index for each offset unit: maps a server offset into `text` to a string index. */
  function offsetMapper(text, unit) {
    if (unit === "utf16") return (o) => o;
    const unitAt = [];
    const jsAt = [];
    let u = 0, j = 0;
    for (const ch of text) {
      unitAt.push(u); jsAt.push(j);
      const cp = ch.codePointAt(0);
      u += unit === "char" ? 1 : cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
      j += ch.length;
    }
    unitAt.push(u); jsAt.push(j);
    // Offsets inside a multi-byte character snap outwards (start down, end up).
    return (o, roundUp) => {
      if (o <= 0) return 0;
      if (o >= u) return j;
      let lo = 0, hi = unitAt.length - 1;
      while (lo < hi) { const mid = (lo + hi + 1) >> 1; if (unitAt[mid] <= o) lo = mid; else hi = mid - 1; }
      return unitAt[lo] === o || !roundUp ? jsAt[lo] : jsAt[lo + 1];
    };
  }
  /** [[start, end), …] in HL_UNIT → sorted, merged, clamped [[start, end), …] in string indices. */
  function highlightSpans(text, ranges, unit = HL_UNIT) {
    if (!Array.isArray(ranges) || !ranges.length || !text) return [];
    const map = offsetMapper(text, unit);
    const spans = [];
    for (const r of ranges) {
      if (!Array.isArray(r) || r.length < 2) continue;
      const a = Number(r[0]), b = Number(r[1]);
      if (!Number.isFinite(a) || !Number.isFinite(b) || b <= a) continue;
      const s = Math.max(0, Math.min(text.length, map(Math.floor(a), false)));
      const e = Math.max(0, Math.min(text.length, map(Math.ceil(b), true)));
      if (e > s) spans.push([s, e]);
    }
    spans.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
    const out = [];
    for (const sp of spans) {
      const last = out[out.length - 1];
      if (last && sp[0] <= last[1]) last[1] = Math.max(last[1], sp[1]); else out.push(sp);
    }
    return out;
  }
  /** Snippet text with highlighted ranges in <mark>: text nodes only, never parsed as HTML. */
  function highlighted(text, ranges) {
    const frag = document.createDocumentFragment();
    const t = typeof text === "string" ? text : "";
    let at = 0;
    for (const [s, e] of highlightSpans(t, ranges)) {
      if (s > at) frag.append(document.createTextNode(t.slice(at, s)));
      const m = document.createElement("mark");
      m.textContent = t.slice(s, e);
      frag.append(m);
      at = e;
    }
    if (at < t.length) frag.append(document.createTextNode(t.slice(at)));
    return frag;
  }

  // ── query text helpers: filter controls edit `key:value` tokens of the query ──
  function splitQuery(q) {
    const toks = [];
    let cur = "", quoted = false;
    for (const ch of String(q || "")) {
      if (ch === "\"") quoted = !quoted;
      if (!quoted && /\s/.test(ch)) { if (cur) toks.push(cur); cur = ""; } else cur += ch;
    }
    if (cur) toks.push(cur);
    return toks;
  }
  function filterToken(tok) {
    const m = /^([a-z]+):(.*)$/i.exec(tok);
    if (!m || !FILTER_KEYS.includes(m[1].toLowerCase())) return null;
    let v = m[2];
    if (v.startsWith("\"")) v = v.slice(1, v.length > 1 && v.endsWith("\"") ? -1 : undefined);
    return { key: m[1].toLowerCase(), value: v };
  }
  function queryFilter(q, key) {
    let v = "";
    for (const t of splitQuery(q)) { const f = filterToken(t); if (f && f.key === key) v = f.value; }
    return v;
  }
  /** The query with every (non-negated) `key:` token removed, then `key:value` appended if value is set. */
  function withFilter(q, key, value) {
    const toks = splitQuery(q).filter((t) => { const f = filterToken(t); return !(f && f.key === key); });
    const v = String(value || "").replace(/"/g, "").trim();
    if (v) toks.push(`${key}:${/\s/.test(v) ? `"${v}"` : v}`);
    return toks.join(" ");
  }
  const hasFilters = (q) => splitQuery(q).some((t) => filterToken(t));
  const withoutFilters = (q) => splitQuery(q).filter((t) => !filterToken(t)).join(" ");

  // ── route state ──
  const searchKey = (p) => JSON.stringify([p.q, p.sort, p.page]);
  function searchHash(p) {
    return `#/search?${new URLSearchParams({ q: p.q || "", sort: p.sort || "relevance", page: String(p.page || 1) })}`;
  }
  /** Navigate to a search. Typing pushes one history entry per burst and then replaces it. */
  function goSearch(patch, { typing = false, force = false } = {}) {
    const next = { q: SR.q, sort: SR.sort, page: SR.page, ...patch };
    const cur = S.route.name === "search" ? S.route : null;
    if (cur && searchKey(cur) === searchKey(next)) {
      if (!typing) SR.typing = false;
      if (force) runSearch(true);
      return;
    }
    const replace = typing && SR.typing;
    SR.typing = typing;
    SR.expectKey = searchKey(next);
    if (replace) { history.replaceState(history.state, "", searchHash(next)); route(); } else location.hash = searchHash(next);
  }
  function focusSearch() {
    if (S.route.name === "search" && dom.sInput) { dom.sInput.focus(); dom.sInput.select(); return; }
    SR.focusInput = true;
    location.hash = searchHash(SR);
  }

  function buildSearchView() {
    if (dom.searchView) return;
    const input = h("input", {
      type: "search", id: "search-input", class: "input search__input", dataset: { testid: "search-input" },
      autocomplete: "off", spellcheck: "false", enterkeyhint: "search", maxlength: "1000",
      placeholder: "e.g. refund tag:billing after:2024-01-01", "aria-describedby": "search-error search-kbd",
      oninput: () => {
        clearTimeout(SR.timer);
        SR.timer = setTimeout(() => { SR.timer = 0; goSearch({ q: input.value.trim(), page: 1 }, { typing: true }); }, 300);
      },
    });
    const form = h("form", { class: "search__form", role: "search", novalidate: true, onsubmit: (e) => {
      e.preventDefault();
      clearTimeout(SR.timer); SR.timer = 0;
      goSearch({ q: input.value.trim(), page: 1 }, { force: true });
    } });
    const helpToggle = h("button", { type: "button", class: "btn btn--ghost search__help-toggle", "aria-expanded": "false",
      "aria-controls": "search-help", dataset: { testid: "search-help-toggle" }, onclick: () => toggleSearchHelp() },
    h("span", { "aria-hidden": "true", class: "search__help-icon", text: "?" }), h("span", { text: "Syntax" }));
    const help = buildSearchHelp();
    const error = h("p", { id: "search-error", class: "search__error", role: "alert", dataset: { testid: "search-error" }, hidden: true });
    append(form, [
      h("label", { for: "search-input", class: "search__label", text: "Search conversations" }),
      h("div", { class: "search__bar" }, input,
        h("button", { type: "submit", class: "btn btn--primary", text: "Search" }),
        h("div", { class: "search__help-wrap" }, helpToggle, help)),
      error,
      h("p", { id: "search-kbd", class: "hint", text: "Words, \"phrases\", OR, -exclude and filters such as tag:billing. Press / anywhere to search." })]);

    // Filter controls: each edits one `key:value` token of the query text.
    const ctl = {};
    const mk = (key, label, el, hint) => {
      el.id = `search-f-${key}`;
      el.dataset.filter = key;
      el.addEventListener("change", () => applyFilter(key, el.value));
      ctl[key] = el;
      const kids = [h("label", { for: el.id, text: label }), el];
      if (hint) kids.push(h("span", { class: "sr-only", text: hint }));
      return h("div", { class: "field search__field" }, kids);
    };
    const statusSel = h("select", { class: "select", dataset: { testid: "search-status" } },
      h("option", { value: "", text: "Any" }), STATUSES.map((st) => h("option", { value: st, text: STATUS_LABELS[st] })));
    const listTags = h("datalist", { id: "search-dl-tag" });
    const listInbox = h("datalist", { id: "search-dl-inbox" });
    const listAgent = h("datalist", { id: "search-dl-agent" });
    const txt = (key, ph, list, type = "text") => h("input", { type, class: "input", placeholder: ph, list, autocomplete: "off", spellcheck: "false",
      dataset: { testid: `search-${key}` },
      onkeydown: (e) => { if (e.key === "Enter") { e.preventDefault(); applyFilter(key, e.target.value); } } });
    const filters = h("details", { class: "search__filters" },
      h("summary", { class: "search__filters-title" }, "Filters", h("span", { class: "search__filters-count", "aria-hidden": "true" })),
      h("div", { class: "search__grid" },
        mk("status", "Status", statusSel),
        mk("tag", "Tag", txt("tag", "billing", "search-dl-tag")),
        mk("customer", "Customer email", txt("customer", "name@example.com", null, "email")),
        mk("inbox", "Inbox", txt("inbox", "Website", "search-dl-inbox")),
        mk("agent", "Agent", txt("agent", "Agent name or email", "search-dl-agent")),
        mk("after", "After", h("input", { type: "date", class: "input", dataset: { testid: "search-after" } }), "Conversations from this date on (YYYY-MM-DD)"),
        mk("before", "Before", h("input", { type: "date", class: "input", dataset: { testid: "search-before" } }), "Conversations before this date (YYYY-MM-DD)")),
      h("div", { class: "row search__filter-actions" },
        h("button", { type: "button", class: "btn btn--ghost btn--small", dataset: { testid: "search-clear-filters" }, text: "Clear filters", onclick: () => {
          const q = withoutFilters(input.value);
          input.value = q; clearTimeout(SR.timer); SR.timer = 0;
          goSearch({ q, page: 1 });
        } })),
      listTags, listInbox, listAgent);
    filters.open = !window.matchMedia("(max-width: 760px)").matches;

    const sort = h("select", { id: "search-sort", class: "select", dataset: { testid: "search-sort" },
      onchange: () => goSearch({ sort: sort.value, page: 1 }) },
    SORTS.map((s) => h("option", { value: s, text: SORT_LABELS[s] })));
    const count = h("p", { class: "search__count", id: "search-count", "aria-live": "polite", "aria-atomic": "true", dataset: { testid: "search-count" } });
    const dym = h("p", { class: "search__dym", hidden: true });
    const state = h("div", { class: "search__state", dataset: { testid: "search-state" } });
    const results = h("ol", { class: "search__results", dataset: { testid: "search-results" }, "aria-label": "Search results", tabindex: "-1" });
    const pager = h("nav", { class: "pager", "aria-label": "Result pages", hidden: true });

    dom.searchView = h("div", { class: "view view-search", hidden: true, tabindex: "-1" },
      h("div", { class: "search" },
        h("h1", { class: "search__title", text: "Search" }),
        form, filters,
        h("div", { class: "search__head" }, count,
          h("div", { class: "search__sort" }, h("label", { for: "search-sort", text: "Sort" }), sort)),
        dym, state, results, pager));
    Object.assign(dom, { sInput: input, sError: error, sHelp: help, sHelpToggle: helpToggle, sFilters: filters, sCtl: ctl,
      sSort: sort, sCount: count, sDym: dym, sState: state, sResults: results, sPager: pager,
      sLists: { tag: listTags, inbox: listInbox, agent: listAgent } });
    document.addEventListener("pointerdown", (e) => {
      if (SR.helpOpen && !help.contains(e.target) && !helpToggle.contains(e.target)) closeSearchHelp();
    }, true);
  }

  function buildSearchHelp() {
    const rows = [
      ["refund invoice", "Every word must match (any case, accents ignored)"],
      ["\"card declined\"", "This exact phrase"],
      ["refund OR chargeback", "Either word (a OR b OR c chains)"],
      ["-spam", "Leave out matches (works on phrases and filters too)"],
      ["customer:ana@example.com", "The customer's email"],
      ["tag:billing", "Tagged billing"],
      ["status:open", "open, pending, snoozed or resolved"],
      ["inbox:\"EU support\"", "One inbox (quote names with spaces)"],
      ["agent:sam@example.com", "An agent, by email or name"],
      ["after:2024-01-31", "Started on or after this day (UTC, YYYY-MM-DD)"],
      ["before:2024-12-31", "Started before this day"],
    ];
    const dl = h("dl", { class: "search-help__list" });
    for (const [ex, what] of rows) {
      dl.append(h("dt", {}, h("button", { type: "button", class: "search-help__ex", title: "Add to the search",
        "aria-label": `Add ${ex} to the search`, onclick: () => insertExample(ex) }, h("code", { text: ex }))),
      h("dd", { text: what }));
    }
    return h("div", { id: "search-help", class: "popover search-help", role: "dialog", "aria-label": "Search syntax", hidden: true,
      dataset: { testid: "search-help" } },
    h("p", { class: "popover__title", text: "Search syntax" }), dl,
    h("p", { class: "hint", text: "Typos are forgiven: close spellings match too, and \"Did you mean …?\" offers a correction. No wildcards or parentheses. Searches cover subjects, contacts, tags, messages and private notes." }));
  }
  function toggleSearchHelp(force) {
    const open = force == null ? !SR.helpOpen : force;
    if (!open) { closeSearchHelp(); return; }
    SR.helpOpen = true;
    dom.sHelp.hidden = false;
    dom.sHelpToggle.setAttribute("aria-expanded", "true");
  }
  function closeSearchHelp() {
    if (!SR.helpOpen || !dom.sHelp) return false;
    SR.helpOpen = false;
    const inside = dom.sHelp.contains(document.activeElement);
    dom.sHelp.hidden = true;
    dom.sHelpToggle.setAttribute("aria-expanded", "false");
    if (inside) dom.sHelpToggle.focus();
    return true;
  }
  function insertExample(ex) {
    const key = (/^([a-z]+):/.exec(ex) || [])[1];
    const cur = dom.sInput.value.trim();
    const q = key && FILTER_KEYS.includes(key) ? withFilter(cur, key, filterToken(ex).value) : `${cur} ${ex}`.trim();
    dom.sInput.value = q;
    closeSearchHelp();
    dom.sInput.focus();
    clearTimeout(SR.timer); SR.timer = 0;
    goSearch({ q, page: 1 });
  }
  function applyFilter(key, value) {
    const q = withFilter(dom.sInput.value.trim(), key, value);
    dom.sInput.value = q;
    clearTimeout(SR.timer); SR.timer = 0;
    goSearch({ q, page: 1 });
  }
  function syncFilterControls() {
    let n = 0;
    for (const key of FILTER_KEYS) {
      const el = dom.sCtl[key]; if (!el) continue;
      const v = queryFilter(SR.q, key);
      if (v) n++;
      if (el === document.activeElement && el.tagName !== "SELECT") continue;
      if (el.tagName === "SELECT") {
        const val = v.toLowerCase();
        if (val && !$$("option", el).some((o) => o.value === val)) el.append(h("option", { value: val, text: val }));
        el.value = val;
      } else if (el.type === "date") {
        el.value = /^\d{4}-\d{2}-\d{2}$/.test(v) ? v : "";
      } else el.value = v;
    }
    const c = $(".search__filters-count", dom.sFilters);
    c.textContent = n ? ` (${n})` : "";
    if (n && !dom.sFilters.open && !window.matchMedia("(max-width: 760px)").matches) dom.sFilters.open = true;
  }
  /** Datalists for tags, inboxes and agents: best effort, once. */
  async function loadSearchSuggestions() {
    if (SR.suggestions) return;
    SR.suggestions = true;
    const fill = (list, items) => { clear(list); for (const [value, label] of items) list.append(h("option", { value, label: label || null })); };
    const agents = [...S.agents.values()].filter((a) => a && a.email);
    fill(dom.sLists.agent, agents.map((a) => [a.email, a.name]));
    const tags = new Set();
    for (const s of S.sums.values()) for (const t of s.tags || []) tags.add(t);
    fill(dom.sLists.tag, [...tags].sort().map((t) => [t]));
    try {
      const r = await api("/inboxes");
      fill(dom.sLists.inbox, (r.inboxes || []).map((ib) => [ib.name]));
    } catch (_) { /* suggestions are optional */ }
    if (!agents.length) {
      try {
        const r = await api("/agents");
        fill(dom.sLists.agent, (r.agents || []).filter((a) => a.email).map((a) => [a.email, a.name]));
      } catch (_) { /* optional */ }
    }
  }

  /** Called by route() for #/search. */
  function showSearch(r, entering) {
    buildSearchView();
    SR.typing = SR.typing && searchKey(r) === SR.expectKey;
    SR.expectKey = null;
    SR.q = r.q; SR.sort = r.sort; SR.page = r.page;
    if (!SR.timer && dom.sInput.value.trim() !== SR.q) dom.sInput.value = SR.q;
    dom.sSort.value = SR.sort;
    syncFilterControls();
    const restoring = entering && SR.key === searchKey(SR) && !!SR.data;
    runSearch(false);
    if (entering) {
      loadSearchSuggestions();
      if (restoring) dom.searchView.scrollTop = SR.scroll;
      const small = window.matchMedia("(max-width: 760px)").matches;
      if (SR.focusInput || (!restoring && !small)) dom.sInput.focus({ preventScroll: true });
      else dom.searchView.focus({ preventScroll: true });
    }
    SR.focusInput = false;
  }
  function leaveSearch() {
    if (dom.searchView) SR.scroll = dom.searchView.scrollTop;
    clearTimeout(SR.timer); SR.timer = 0;
    closeSearchHelp();
  }

  async function runSearch(force) {
    const key = searchKey(SR);
    if (!force && key === SR.key && (SR.loading || SR.data)) { renderSearch(); return; }
    SR.key = key;
    if (SR.ctrl) { SR.ctrl.abort(); SR.ctrl = null; }
    const gen = ++SR.gen;
    SR.error = null;
    if (!SR.q) { SR.data = null; SR.loading = false; renderSearch(); return; }
    const ctrl = typeof AbortController === "function" ? new AbortController() : null;
    SR.ctrl = ctrl;
    SR.loading = true;
    renderSearch();
    const params = new URLSearchParams({ q: SR.q, sort: SR.sort, page: String(SR.page), per_page: String(PER_PAGE) });
    try {
      const d = await api(`/search?${params}`, { signal: ctrl ? ctrl.signal : undefined });
      if (gen !== SR.gen) return;
      SR.data = d && typeof d === "object" ? d : { total: 0, results: [] };
    } catch (e) {
      if (gen !== SR.gen || e.code === "aborted") return;
      SR.error = e;
      SR.data = null;
    } finally {
      if (gen === SR.gen) {
        SR.loading = false; SR.ctrl = null;
        renderSearch();
        if (SR.focusResults && SR.data) { SR.focusResults = false; dom.searchView.scrollTop = 0; dom.sResults.focus({ preventScroll: true }); }
      }
    }
  }

  function searchErrorText(e) {
    if (e.status === 429) return `Too many searches in a short time. Wait ${e.retryAfter ? `${e.retryAfter} s` : "a moment"} and try again.`;
    if (e.status === 404) return "Search is not available on this server yet.";
    if (e.status === 0) return "Could not reach the server — check your connection and try again.";
    return `Search failed: ${e.message || `error ${e.status}`}`;
  }

  function renderSearch() {
    if (!dom.searchView) return;
    const { data, error, loading } = SR;
    const bad = !!(error && (error.status === 400 || error.code === "invalid"));
    dom.sError.hidden = !bad;
    dom.sError.textContent = bad ? error.message || "This search could not be understood." : "";
    if (bad) dom.sInput.setAttribute("aria-invalid", "true"); else dom.sInput.removeAttribute("aria-invalid");

    // Count (aria-live): only change it when there is something new to say.
    let countText = "";
    if (data && !loading) {
      const total = Math.max(0, Number(data.total) || 0);
      const per = Math.max(1, Number(data.per_page) || PER_PAGE);
      const pages = Math.max(1, Math.ceil(total / per));
      const page = Math.max(1, Number(data.page) || SR.page);
      countText = `${nf.format(total)} conversation${total === 1 ? "" : "s"}`;
      if (pages > 1) countText += ` · page ${nf.format(page)} of ${nf.format(pages)}`;
    } else if (loading) countText = dom.sCount.textContent;
    if (dom.sCount.textContent !== countText) dom.sCount.textContent = countText;

    // Did you mean …?
    clear(dom.sDym);
    const dymText = data && typeof data.did_you_mean === "string" && data.did_you_mean.trim() && data.did_you_mean.trim() !== SR.q ? data.did_you_mean.trim() : "";
    dom.sDym.hidden = !dymText;
    if (dymText) {
      dom.sDym.append(h("button", { type: "button", class: "link-btn search__dym-btn", dataset: { testid: "did-you-mean" },
        onclick: () => { dom.sInput.value = dymText; clearTimeout(SR.timer); SR.timer = 0; goSearch({ q: dymText, page: 1 }); } },
      "Did you mean ", h("strong", { text: dymText }), "?"));
    }

    // Loading / error / empty states.
    const st = clear(dom.sState);
    st.removeAttribute("role");
    dom.sResults.setAttribute("aria-busy", String(loading));
    dom.sResults.classList.toggle("is-stale", loading && !!data);
    if (loading && !data) {
      st.setAttribute("role", "status");
      st.append(h("p", { class: "search__loading", dataset: { testid: "search-loading" } }, h("span", { class: "spinner", "aria-hidden": "true" }), "Searching…"));
    } else if (error && !bad) {
      st.append(h("div", { class: "search__fail", role: "alert", dataset: { testid: "search-failed" } },
        h("p", { text: searchErrorText(error) }),
        h("button", { type: "button", class: "btn btn--small", text: "Try again", onclick: () => runSearch(true) })));
    } else if (!SR.q && !bad) {
      st.append(h("div", { class: "search__intro" },
        h("p", { class: "placeholder__title", text: "Search all conversations" }),
        h("p", { class: "muted", text: "Find customer messages, replies and private notes by words, phrases, tags, customers, inboxes, agents and dates. Open “Syntax” for examples." })));
    } else if (data && !loading && !(data.results || []).length) {
      const beyond = (Number(data.total) || 0) > 0 && SR.page > 1;
      st.append(h("div", { class: "search__empty", dataset: { testid: "search-empty" } },
        h("p", { class: "placeholder__title", text: beyond ? "No results on this page." : "No conversations match this search." }),
        beyond ? h("button", { type: "button", class: "btn btn--small", text: "Go to the first page", onclick: () => goSearch({ page: 1 }) })
          : h("p", { class: "muted", text: "Check the spelling, use fewer or more general words, or remove a filter." }),
        !beyond && hasFilters(SR.q) ? h("button", { type: "button", class: "btn btn--small", text: "Search without filters", onclick: () => {
          const q = withoutFilters(SR.q); dom.sInput.value = q; goSearch({ q, page: 1 });
        } }) : null));
    }

    // Results.
    const ul = dom.sResults;
    if (!loading || !data) {
      clear(ul);
      const rs = data && !error && Array.isArray(data.results) ? data.results : [];
      for (const r of rs) if (r && r.conversation_id) ul.append(buildHit(r));
    }
    ul.hidden = !ul.firstChild;
    renderPager();
  }

  function buildHit(r) {
    const id = String(r.conversation_id);
    const href = `#/c/${enc(id)}`;
    const who = r.contact_name || r.contact_email || "Visitor";
    const title = r.subject || who;
    const tags = Array.isArray(r.tags) ? r.tags.filter((t) => typeof t === "string" && t) : [];
    const snippets = (Array.isArray(r.snippets) ? r.snippets : []).filter((s) => s && typeof s.text === "string").slice(0, MAX_SNIPPETS);
    const dateEl = (v, label) => (tms(v) ? h("span", { class: "hit__date" }, `${label} `,
      h("time", { datetime: v, title: fullTime(v), text: new Date(tms(v)).toLocaleDateString([], { year: "numeric", month: "short", day: "numeric" }) })) : null);
    const li = h("li", { class: "hit", dataset: { testid: "search-hit", id } },
      h("div", { class: "hit__top" },
        h("span", { class: "avatar", style: { "--h": String(hue(r.contact_email || who)) }, "aria-hidden": "true", text: initial(who) }),
        h("div", { class: "hit__heading" },
          h("h2", { class: "hit__title" }, h("a", { class: "hit__link", href, text: title })),
          h("p", { class: "hit__who" },
            r.contact_name && r.contact_name !== title ? h("span", { class: "hit__name", text: r.contact_name }) : null,
            r.contact_email && r.contact_email !== title ? h("span", { class: "hit__email", text: r.contact_email }) : null)),
        r.status ? h("span", { class: `status status--${String(r.status).replace(/[^a-z]/g, "")}`, dataset: { testid: "hit-status" },
          text: STATUS_LABELS[r.status] || String(r.status) }) : null),
      h("div", { class: "hit__meta" },
        r.inbox ? h("span", { class: "chip", title: "Inbox", text: r.inbox }) : null,
        tags.map((t) => h("span", { class: "chip chip--tag", dataset: { testid: "hit-tag" }, text: `#${t}` })),
        r.external_id ? h("span", { class: "chip mono", title: "Imported conversation id", text: r.external_id }) : null,
        dateEl(r.created_at, "Started"),
        r.updated_at && r.updated_at !== r.created_at ? dateEl(r.updated_at, "· Updated") : null),
      snippets.length ? h("ul", { class: "hit__snippets", "aria-label": "Matching messages" }, snippets.map((s) => {
        const note = s.private === true;
        return h("li", { class: note ? "snippet snippet--note" : "snippet", dataset: { testid: "snippet", seq: s.seq == null ? "" : String(s.seq), private: String(note) } },
          note ? h("span", { class: "snippet__label", dataset: { testid: "snippet-note" }, text: "note" }) : null,
          h("span", { class: "snippet__text" }, highlighted(s.text, s.highlights)));
      })) : null);
    li.addEventListener("click", (e) => {
      if (e.defaultPrevented || e.button !== 0 || e.target.closest("a, button, input, select, textarea, summary")) return;
      const sel = window.getSelection && window.getSelection();
      if (sel && !sel.isCollapsed && li.contains(sel.anchorNode)) return; // selecting snippet text
      if (e.ctrlKey || e.metaKey || e.shiftKey) { window.open(href, "_blank", "noopener"); return; }
      location.hash = href;
    });
    return li;
  }

  function renderPager() {
    const nav = clear(dom.sPager);
    const d = SR.data;
    if (!d || SR.error) { nav.hidden = true; return; }
    const per = Math.max(1, Number(d.per_page) || PER_PAGE);
    const pages = Math.max(1, Math.ceil((Number(d.total) || 0) / per));
    const cur = Math.max(1, Number(d.page) || SR.page);
    nav.hidden = pages <= 1;
    if (pages <= 1) return;
    const go = (p) => { SR.focusResults = true; goSearch({ page: p }); };
    const list = h("ul", { class: "pager__list" });
    list.append(h("li", {}, h("button", { type: "button", class: "btn btn--small", dataset: { testid: "search-prev" }, disabled: cur <= 1 || SR.loading,
      "aria-label": "Previous page", onclick: () => go(cur - 1) }, h("span", { "aria-hidden": "true", text: "‹ " }), "Prev")));
    const want = new Set([1, 2, pages - 1, pages, cur - 2, cur - 1, cur, cur + 1, cur + 2].filter((p) => p >= 1 && p <= pages));
    let last = 0;
    for (const p of [...want].sort((a, b) => a - b)) {
      if (p - last > 1) list.append(h("li", { class: "pager__gap", "aria-hidden": "true", text: "…" }));
      list.append(h("li", {}, h("button", { type: "button", class: "btn btn--small pager__num", dataset: { testid: "search-page", page: String(p) },
        "aria-label": `Page ${p}`, "aria-current": p === cur ? "page" : null, disabled: SR.loading && p !== cur, onclick: () => { if (p !== cur) go(p); } }, nf.format(p))));
      last = p;
    }
    list.append(h("li", {}, h("button", { type: "button", class: "btn btn--small", dataset: { testid: "search-next" }, disabled: cur >= pages || SR.loading,
      "aria-label": "Next page", onclick: () => go(cur + 1) }, "Next", h("span", { "aria-hidden": "true", text: " ›" }))));
    nav.append(list);
  }

  function stepSearchHit(dir) {
    const links = $$(".hit__link", dom.sResults);
    if (!links.length) return;
    const ae = document.activeElement;
    const hit = ae && ae.closest ? ae.closest(".hit") : null;
    const i = hit ? links.indexOf($(".hit__link", hit)) : -1;
    const next = links[i < 0 ? (dir > 0 ? 0 : links.length - 1) : Math.min(links.length - 1, Math.max(0, i + dir))];
    next.focus(); next.closest(".hit").scrollIntoView({ block: "nearest" });
  }

  // ───────────────────────────── shell, routing, keyboard ─────────────────────────────
  function parseRoute() {
    const raw = location.hash.replace(/^#/, "") || "/inbox";
    const qi = raw.indexOf("?");
    const path = qi < 0 ? raw : raw.slice(0, qi);
    const qs = qi < 0 ? "" : raw.slice(qi + 1);
    const parts = path.split("/").filter(Boolean);
    const q = new URLSearchParams(qs);
    if (parts[0] === "search") {
      const page = parseInt(q.get("page") || "1", 10);
      return { name: "search", q: (q.get("q") || "").trim(), sort: SORTS.includes(q.get("sort")) ? q.get("sort") : "relevance",
        page: page > 0 ? Math.min(page, 100000) : 1 };
    }
    if (parts[0] === "c" && parts[1]) return { name: "conv", id: decodeURIComponent(parts[1]).toLowerCase() };
    if (parts[0] === "admin") return { name: "admin", section: ["agents", "inboxes", "canned", "kb"].includes(parts[1]) ? parts[1] : ME.role === "admin" ? "agents" : "kb" };
    return { name: "inbox", view: q.get("view"), status: q.get("status") };
  }

  function route() {
    let r = parseRoute();
    // The bare "#/search" (main navigation) comes back to the last search.
    if (r.name === "search" && !r.q && SR.q && !/[?&]q=/.test(location.hash)) {
      history.replaceState(history.state, "", searchHash(SR));
      r = parseRoute();
    }
    const prev = S.route;
    S.route = r;
    const navKey = r.name === "admin" ? r.section : r.name === "search" ? "search" : "inbox";
    for (const a of $$("[data-nav]")) {
      if (a.dataset.nav === navKey) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
    }
    if (prev.name === "search" && r.name !== "search") leaveSearch();
    if (dom.searchView) dom.searchView.hidden = r.name !== "search";
    if (r.name === "search") {
      closeConversation();
      dom.inboxView.hidden = true; dom.adminView.hidden = true;
      root.classList.remove("has-conv");
      showSearch(r, prev.name !== "search");
      return;
    }
    if (r.name === "admin") {
      closeConversation();
      dom.inboxView.hidden = true; dom.adminView.hidden = false;
      root.classList.remove("has-conv");
      renderAdmin(r.section);
      dom.adminView.focus({ preventScroll: true });
      return;
    }
    dom.inboxView.hidden = false; dom.adminView.hidden = true;
    if (r.name === "inbox") {
      setFilter(r.view || S.filter.view, r.status || S.filter.status);
      closeConversation();
      root.classList.remove("has-conv");
    } else {
      if (!S.list.loaded && !S.list.loading) loadList({ reset: true });
      root.classList.add("has-conv");
      const wasOpen = S.conv && S.conv.id === r.id;
      openConversation(r.id);
      if (!wasOpen && window.matchMedia("(max-width: 760px)").matches && S.conv && S.conv.dom) S.conv.dom.title.focus({ preventScroll: true });
    }
    $$(".back").forEach((b) => b.setAttribute("href", inboxHash()));
  }

  function closePopups() {
    let closed = closeCanned();
    closed = closeSnooze() || closed;
    closed = closeSearchHelp() || closed;
    if (dom.layout && dom.layout.classList.contains("show-contact-sm")) {
      dom.layout.classList.remove("show-contact-sm"); applyContactVisibility(); closed = true;
    }
    return closed;
  }

  function onGlobalKey(e) {
    if (e.key === "Escape") { if (closePopups()) e.preventDefault(); return; }
    const t = e.target;
    // "/" jumps to the search box — never while typing (the composer's "/shortcut" stays intact).
    if (e.key === "/" && !e.defaultPrevented && !e.ctrlKey && !e.metaKey && !e.altKey && !e.isComposing && !isTextField(t)) {
      e.preventDefault(); focusSearch(); return;
    }
    if (e.defaultPrevented || e.ctrlKey || e.metaKey || S.route.name === "admin") return;
    if (S.route.name === "search") {
      if (e.altKey || e.shiftKey || isTextField(t)) return;
      if (e.key === "j") { e.preventDefault(); stepSearchHit(1); } else if (e.key === "k") { e.preventDefault(); stepSearchHit(-1); }
      return;
    }
    if (e.altKey && (e.key === "ArrowDown" || e.key === "ArrowUp")) {
      if (t && t.tagName === "SELECT") return;
      e.preventDefault(); stepConversation(e.key === "ArrowDown" ? 1 : -1); return;
    }
    if (e.altKey || e.shiftKey || isTextField(t)) return;
    if (e.key === "j") { e.preventDefault(); stepConversation(1); }
    else if (e.key === "k") { e.preventDefault(); stepConversation(-1); }
    else if (e.key === "c" && S.conv && S.conv.dom) { e.preventDefault(); S.conv.dom.composer.focus(); }
  }

  function buildShell() {
    dom.main = $("#main");
    dom.conn = $("#conn");
    dom.presence = $("#presence-toggle");
    dom.notify = $("#notify-toggle");
    if (ME.role === "admin") for (const a of $$("[data-admin-only]")) a.hidden = false;
    ensureKbNav();
    if (dom.conn) dom.conn.addEventListener("click", () => Sock.kick());
    if (dom.presence) dom.presence.addEventListener("click", () => setMyPresence(S.myPresence === "away" ? "online" : "away"));
    if (dom.notify) dom.notify.addEventListener("click", toggleNotify);
    const logout = $("form.logout");
    if (logout) logout.addEventListener("submit", () => { leaving = true; Typing.stop(); });

    dom.convPane = h("section", { class: "pane pane-conv", "aria-label": "Conversation" });
    dom.contactPane = h("aside", { class: "pane pane-contact", id: "pane-contact", tabindex: "-1", "aria-label": "Contact details" });
    dom.layout = h("div", { class: "layout" }, buildListPane(), dom.convPane, dom.contactPane);
    dom.inboxView = h("div", { class: "view view-inbox" }, dom.layout);
    dom.adminView = h("div", { class: "view view-admin", hidden: true, tabindex: "-1" });
    buildSearchView();
    clear(dom.main).append(dom.inboxView, dom.adminView, dom.searchView);
    renderEmptyConvPane();
    renderFilters();
    renderMyPresence();
    renderNotifyToggle();
    Sock.setState("connecting");
  }

  /** The "Knowledge base" entry of the main navigation (every agent may read it; admins edit). */
  function ensureKbNav() {
    const nav = $(".mainnav");
    if (!nav) return;
    const a = $("[data-nav=kb]", nav);
    if (a) { a.hidden = false; return; }
    nav.append(h("a", { href: "#/admin/kb", dataset: { nav: "kb", testid: "nav-kb" }, text: "Knowledge base" }));
  }

  function start() {
    if (!ME.id) { api("/me").then((m) => { Object.assign(ME, { id: m.agent_id, account_id: m.account_id, role: m.role, name: m.name, email: m.email }); }).catch(() => {}); }
    loadOutbox();
    buildShell();
    window.addEventListener("hashchange", route);
    document.addEventListener("keydown", onGlobalKey);
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") { markRead(); if (Sock.state === "offline") Sock.kick(); }
    });
    window.addEventListener("focus", markRead);
    window.addEventListener("online", () => Sock.kick());
    window.addEventListener("resize", applyContactVisibility);
    document.addEventListener("pointerdown", (e) => {
      if (popover && !popover.el.contains(e.target) && e.target !== popover.trigger) closeSnooze();
      if (S.notify) ensureAudio();
    }, true);
    document.addEventListener("keydown", () => { if (S.notify) ensureAudio(); }, { once: true, capture: true });
    setInterval(() => { for (const li of rowNodes.values()) li._sig = null; renderList(); }, 30000);
    setInterval(() => Sock.watchdog(), 5000);
    route();
    loadAgents();
    Sock.connect();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
