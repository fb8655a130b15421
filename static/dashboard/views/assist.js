/* AI assistance in the conversation: streamed suggested reply and summary. */
import { ApiError, api, toLogin } from "../api.js";
import { S } from "../state.js";
import { $, API, CSRF, announce, clear, enc, h, parseJSON, safeHttpUrl, uid } from "../util.js";
import { autosize, closeCanned } from "./composer.js";

// ── AI assistance: suggested reply (Server-Sent Events over fetch) and summary ──
// POST /conversations/{id}/suggest streams `sources`, `delta`…, then `done` or `error`. The draft goes
// INTO the composer (after what the agent had typed, below a blank line); nothing is ever sent
// automatically. On failure the composer is put back exactly as it was.

/** Incremental text/event-stream parser: onEvent(name, data) per blank-line-terminated block. */
export function sseParser(onEvent) {
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

export function renderSuggestUi(c) {
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

export function setSuggestError(c, detail) {
  const box = c.dom && c.dom.aiInfo; if (!box) return;
  $(".suggest-note--error", box)?.remove();
  if (detail == null) return;
  const note = h("div", { class: "suggest-note suggest-note--error" },
    h("p", { class: "suggest-note__text", role: "alert", dataset: { testid: "suggest-error" }, title: detail || null, text: "Suggestion unavailable" }),
    h("button", { type: "button", class: "suggest-note__close", "aria-label": "Dismiss", text: "×", onclick: () => { note.remove(); c.dom.composer.focus(); } }));
  box.append(note);
}

export function renderSources(c, data) {
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

export function applySuggestDraft(c, sg) {
  if (S.conv !== c || !c.dom || c.suggest !== sg) return;
  const ta = c.dom.composer;
  ta.value = sg.prefix + sg.text;
  autosize(ta);
  ta.scrollTop = ta.scrollHeight;
}

export function onSuggestEvent(c, sg, name, raw) {
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

export async function suggestReply() {
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

export function finishSuggest(c, sg) {
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

export function stopSuggest(c) {
  const sg = c && c.suggest; if (!sg) return;
  sg.stopped = true;
  if (sg.ctrl) sg.ctrl.abort();
}

/** The conversation is being closed: drop the stream and put the agent's own text back. */
export function cancelSuggest(c) {
  const sg = c && c.suggest; if (!sg) return;
  c.suggest = null;
  sg.stopped = true;
  if (sg.ctrl) sg.ctrl.abort();
  if (c.dom) { c.dom.composer.value = sg.origin; renderSuggestUi(c); }
}

export async function summarize() {
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

export function showSummary(c, r, err) {
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
