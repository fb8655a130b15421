/* The agent WebSocket: token, connect, back-off reconnect, app-level ping watchdog, state badge. */
import { api, leaving, toLogin } from "./api.js";
import { onFrame, onSocketDown } from "./live.js";
import { dom } from "./state.js";
import { $, parseJSON } from "./util.js";

// ───────────────────────────── socket manager ─────────────────────────────
export const Sock = {
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
