/* The JSON API (/api/v1): fetch with the session cookie and CSRF header, typed errors (ApiError), sign-in redirect on 401. */
import { API, CSRF } from "./util.js";

// ───────────────────────────── HTTP API ─────────────────────────────
export class ApiError extends Error {
  constructor(status, code, message, retryAfter) {
    super(message); this.status = status; this.code = code; this.retryAfter = retryAfter;
  }
}
export let leaving = false;
/** The page is going away (logout, session end): stop reconnecting. */
export function setLeaving() { leaving = true; }
export function toLogin() {
  if (leaving) return;
  leaving = true;
  location.href = "/login?next=/app";
}
export async function api(path, opts = {}) {
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
