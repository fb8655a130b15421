// node --test static/dashboard/ — search query tokens and highlight offsets (query.js).
import { test } from "node:test";
import assert from "node:assert/strict";
import { filterToken, hasFilters, highlightSpans, queryFilter, splitQuery, withFilter, withoutFilters } from "../query.js";

test("filter tokens: known keys only, quotes kept together", () => {
  assert.deepEqual(splitQuery('refund status:open customer:"Ada Lovelace"  x'), ["refund", "status:open", 'customer:"Ada Lovelace"', "x"]);
  assert.deepEqual(filterToken('customer:"Ada Lovelace"'), { key: "customer", value: "Ada Lovelace" });
  assert.equal(filterToken("http://x"), null);
  assert.equal(queryFilter("a status:open b status:resolved", "status"), "resolved");
  assert.equal(withFilter("refund status:open", "status", "pending"), "refund status:pending");
  assert.equal(withFilter("refund status:open", "status", ""), "refund");
  assert.equal(withFilter("refund", "tag", "late parcel"), 'refund tag:"late parcel"');
  assert.equal(hasFilters("refund tag:x"), true);
  assert.equal(withoutFilters("refund tag:x late"), "refund late");
});

test("highlight offsets in UTF-8 bytes map to string indices, merged and clamped", () => {
  const text = "café au lait";
  // "au" starts at byte 6 (é is two bytes) and string index 5.
  assert.deepEqual(highlightSpans(text, [[6, 8]]), [[5, 7]]);
  assert.deepEqual(highlightSpans(text, [[0, 3], [2, 5], [100, 200]]), [[0, 4]]);
  assert.deepEqual(highlightSpans("a😀b", [[1, 5]], "utf8"), [[1, 3]]);
  assert.deepEqual(highlightSpans("a😀b", [[1, 2]], "char"), [[1, 3]]);
});
