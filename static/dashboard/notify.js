/* Desktop notifications and the new-message sound. */
import { S, dom } from "./state.js";
import { $, LS, lsSet, toast } from "./util.js";

// ───────────────────────────── notifications & sound ─────────────────────────────
export let audioCtx = null;
export let lastBeep = 0;
export function ensureAudio() {
  if (audioCtx) { if (audioCtx.state === "suspended") audioCtx.resume().catch(() => {}); return; }
  const AC = window.AudioContext || window.webkitAudioContext;
  if (AC) { try { audioCtx = new AC(); } catch (_) { audioCtx = null; } }
}
export function beep() {
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
export function notify(title, text, convId) {
  if (!S.notify || !document.hidden) return;
  if ("Notification" in window && Notification.permission === "granted") {
    try {
      const n = new Notification(title, { body: String(text || "").slice(0, 160), tag: `switchboard-${convId}` });
      n.onclick = () => { window.focus(); location.hash = `#/c/${convId}`; n.close(); };
    } catch (_) { /* some mobile browsers only allow service-worker notifications */ }
  }
  beep();
}
export async function toggleNotify() {
  if (S.notify) { S.notify = false; lsSet(LS.notify, null); renderNotifyToggle(); return; }
  if (!("Notification" in window)) { toast("This browser does not support desktop notifications."); return; }
  ensureAudio();
  let perm = Notification.permission;
  if (perm === "default") { try { perm = await Notification.requestPermission(); } catch (_) { perm = "denied"; } }
  if (perm !== "granted") { toast("Notifications are blocked — allow them in the browser's site settings."); return; }
  S.notify = true; lsSet(LS.notify, "1"); renderNotifyToggle();
  toast("Desktop notifications on (when this tab is in the background)", "info", 3000);
}
export function renderNotifyToggle() {
  const b = dom.notify; if (!b) return;
  b.setAttribute("aria-pressed", String(S.notify));
  $(".notify__label", b).textContent = S.notify ? "Notifications on" : "Notifications off";
}
