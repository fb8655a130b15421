/* Search query text, pure part: `key:value` filter tokens and highlight offsets. No DOM, no
 * imports: unit-tested with `node --test` (test/query.test.js). */

// Highlight ranges are [start, end) offsets into a snippet's `text`. The server (Rust, tantivy)
// counts UTF-8 bytes (src/search); "char" (Unicode scalar values) and "utf16" (JS string
// indices) are supported too, should the API ever say otherwise.
export const HL_UNIT = "utf8";
export const FILTER_KEYS = ["status", "tag", "customer", "inbox", "agent", "after", "before"];
/** A JS (UTF-16) index for each offset unit: maps a server offset into `text` to a string index. */
export function offsetMapper(text, unit) {
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
export function highlightSpans(text, ranges, unit = HL_UNIT) {
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
// ── query text helpers: filter controls edit `key:value` tokens of the query ──
export function splitQuery(q) {
  const toks = [];
  let cur = "", quoted = false;
  for (const ch of String(q || "")) {
    if (ch === "\"") quoted = !quoted;
    if (!quoted && /\s/.test(ch)) { if (cur) toks.push(cur); cur = ""; } else cur += ch;
  }
  if (cur) toks.push(cur);
  return toks;
}
export function filterToken(tok) {
  const m = /^([a-z]+):(.*)$/i.exec(tok);
  if (!m || !FILTER_KEYS.includes(m[1].toLowerCase())) return null;
  let v = m[2];
  if (v.startsWith("\"")) v = v.slice(1, v.length > 1 && v.endsWith("\"") ? -1 : undefined);
  return { key: m[1].toLowerCase(), value: v };
}
export function queryFilter(q, key) {
  let v = "";
  for (const t of splitQuery(q)) { const f = filterToken(t); if (f && f.key === key) v = f.value; }
  return v;
}
/** The query with every (non-negated) `key:` token removed, then `key:value` appended if value is set. */
export function withFilter(q, key, value) {
  const toks = splitQuery(q).filter((t) => { const f = filterToken(t); return !(f && f.key === key); });
  const v = String(value || "").replace(/"/g, "").trim();
  if (v) toks.push(`${key}:${/\s/.test(v) ? `"${v}"` : v}`);
  return toks.join(" ");
}
export const hasFilters = (q) => splitQuery(q).some((t) => filterToken(t));
export const withoutFilters = (q) => splitQuery(q).filter((t) => !filterToken(t)).join(" ");
