// node --test static/dashboard/ — the URL hash ⇄ route mapping (router.js).
import { test } from "node:test";
import assert from "node:assert/strict";
import { inboxPath, parseRoute, searchHash } from "../router.js";

test("the inbox is the default route and carries its filter", () => {
  for (const h of ["", "#", "#/", "#/inbox", "#/nowhere"]) {
    assert.deepEqual(parseRoute(h, "agent"), { name: "inbox", view: null, status: null }, h);
  }
  assert.deepEqual(parseRoute("#/inbox?view=mine&status=pending"), { name: "inbox", view: "mine", status: "pending" });
  const f = { view: "unassigned", status: "snoozed" };
  assert.equal(inboxPath(f), "#/inbox?view=unassigned&status=snoozed");
  assert.deepEqual(parseRoute(inboxPath(f)), { name: "inbox", ...f });
});

test("a conversation route decodes and lower-cases its id", () => {
  assert.deepEqual(parseRoute("#/c/0F8FAD5B-D9CB-469F-A165-70867728950E"),
    { name: "conv", id: "0f8fad5b-d9cb-469f-a165-70867728950e" });
  assert.deepEqual(parseRoute("#/c/a%2Fb"), { name: "conv", id: "a/b" });
  assert.equal(parseRoute("#/c").name, "inbox");
});

test("admin sections: known ones, else agents for admins and the knowledge base for agents", () => {
  for (const s of ["agents", "inboxes", "canned", "kb"]) assert.deepEqual(parseRoute(`#/admin/${s}`, "agent"), { name: "admin", section: s });
  assert.deepEqual(parseRoute("#/admin", "admin"), { name: "admin", section: "agents" });
  assert.deepEqual(parseRoute("#/admin/secret", "agent"), { name: "admin", section: "kb" });
});

test("search: query trimmed, sort validated, page clamped; searchHash round-trips", () => {
  assert.deepEqual(parseRoute("#/search"), { name: "search", q: "", sort: "relevance", page: 1 });
  assert.deepEqual(parseRoute("#/search?q=%20refund%20&sort=date&page=3"), { name: "search", q: "refund", sort: "date", page: 3 });
  assert.deepEqual(parseRoute("#/search?q=x&sort=evil&page=-4"), { name: "search", q: "x", sort: "relevance", page: 1 });
  assert.equal(parseRoute("#/search?q=x&page=9999999").page, 100000);
  const p = { q: 'status:open "late parcel" & more', sort: "date", page: 2 };
  assert.equal(searchHash(p), "#/search?q=status%3Aopen+%22late+parcel%22+%26+more&sort=date&page=2");
  assert.deepEqual(parseRoute(searchHash(p)), { name: "search", ...p });
  assert.equal(searchHash({}), "#/search?q=&sort=relevance&page=1");
});
