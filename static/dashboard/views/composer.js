/* The composer (reply / private note, length check) and the canned-response picker. */
import { api } from "../api.js";
import { queueSend } from "../sending.js";
import { S } from "../state.js";
import { MAX_BODY_BYTES, announce, byteLen, clear, h, toast } from "../util.js";
import { stopSuggest } from "./assist.js";
import { Typing } from "./conversation.js";
import { renderMessages } from "./messages.js";

// ── composer ──
export function setNoteMode(c, on) {
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

export function autosize(ta) {
  ta.style.height = "auto";
  ta.style.height = `${Math.min(ta.scrollHeight + 2, Math.round(window.innerHeight * 0.4))}px`;
}

export function submitComposer() {
  const c = S.conv;
  if (!c || !c.dom) return;
  const ta = c.dom.composer;
  if (c.suggest) { announce("Wait for the suggestion to finish, or stop it, before sending."); return; }
  const text = ta.value.trim();
  if (!text) return;
  if (byteLen(text) > MAX_BODY_BYTES) { toast(`This message is too long (${Math.floor(MAX_BODY_BYTES / 1024)} KB max). Split it into several messages.`); return; }
  Typing.stop();
  queueSend(c.id, text, c.note);
  clear(c.dom.aiInfo);
  ta.value = "";
  S.drafts.delete(c.id);
  autosize(ta);
  closeCanned();
  renderMessages({ toBottom: true });
}

export function onComposerKey(e) {
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

export function onComposerInput() {
  const c = S.conv; if (!c) return;
  const ta = c.dom.composer;
  autosize(ta);
  if (ta.value.trim()) Typing.ping(c.id, c.note); else Typing.stop();
  updateCanned();
}

// ── canned responses ──
export const Canned = { open: false, items: [], idx: 0 };
export function getCanned() {
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
export async function updateCanned() {
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
export function renderCanned() {
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
export function closeCanned() {
  const was = Canned.open;
  Canned.open = false; Canned.items = [];
  const c = S.conv;
  if (c && c.dom) { c.dom.canned.hidden = true; clear(c.dom.canned); c.dom.composer.removeAttribute("aria-activedescendant"); }
  return was;
}
export function insertCanned(it) {
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
