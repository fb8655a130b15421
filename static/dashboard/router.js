/* Routing, pure part: the dashboard's URL hash ⇄ a route object. No DOM, no imports: unit-tested
 * with `node --test` (test/router.test.js). route() (app.js) applies a route to the page. Routes:
 *   #/inbox?view=…&status=…   #/c/<conversation id>   #/search?q=…&sort=…&page=…
 *   #/admin/<agents|inboxes|canned|kb>  */

export const SORTS = ["relevance", "date"];
export const ADMIN_SECTIONS = ["agents", "inboxes", "canned", "kb"];

/** The route for `hash` (location.hash); `role` picks the default admin section. */
export function parseRoute(hash, role) {
  const raw = String(hash || "").replace(/^#/, "") || "/inbox";
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
  if (parts[0] === "admin") return { name: "admin", section: ADMIN_SECTIONS.includes(parts[1]) ? parts[1] : role === "admin" ? "agents" : "kb" };
  return { name: "inbox", view: q.get("view"), status: q.get("status") };
}

/** The hash of the inbox with filter `f` ({view, status}). */
export function inboxPath(f) { return `#/inbox?view=${f.view}&status=${f.status}`; }

/** The hash of search `p` ({q, sort, page}). */
export function searchHash(p) {
  return `#/search?${new URLSearchParams({ q: p.q || "", sort: p.sort || "relevance", page: String(p.page || 1) })}`;
}
