#!/usr/bin/env python3
"""Checks that the server's top-level modules import downward only (README, "Development").

Reads every `crate::x` path in src/ (comments stripped; `use crate::{a, b::c}` groups too) and
fails when a module imports one from a higher layer, or when the imports form a cycle.
  .ci/layers.py          check (exit 1 on a violation)
  .ci/layers.py --graph  also print every edge between top-level modules
"""
import os
import re
import sys

# Bottom to top. A module may import from its own layer and the ones below.
LAYERS = [
    ["config", "error", "db", "actor", "auth", "limits", "tags", "urls", "presence", "passes",
     "telemetry", "embed"],
    ["messages", "conversations", "events", "search", "kb", "llm"],
    ["realtime", "writer"],
    ["context"],
    ["delivery", "accounts", "inboxes", "visitors", "bot", "routing", "cluster", "privacy",
     "import", "canned"],
    ["web", "startup", "demo", "cli", "props"],
]
RANK = {m: i for i, layer in enumerate(LAYERS) for m in layer}


def crate_paths(src):
    """First segment of every `crate::` path, including each item of `crate::{…}` groups."""
    for m in re.finditer(r"crate::(\w+)", src):
        yield m.group(1)
    for m in re.finditer(r"crate::\{", src):
        depth, part, parts, i = 1, "", [], m.end()
        while i < len(src) and depth:
            ch = src[i]
            i += 1
            depth += {"{": 1, "}": -1}.get(ch, 0)
            if depth == 0:
                break
            if ch == "," and depth == 1:
                parts.append(part)
                part = ""
            else:
                part += ch
        parts.append(part)
        for p in parts:
            first = re.match(r"\s*(\w+)", p)
            if first:
                yield first.group(1)


def edges(root):
    tops = {n[:-3] if n.endswith(".rs") else n for n in os.listdir(root)} - {"lib", "main"}
    found = {}
    for d, _, files in os.walk(root):
        for f in files:
            if not f.endswith(".rs"):
                continue
            path = os.path.join(d, f)
            rel = os.path.relpath(path, root)
            top = rel.split("/")[0].removesuffix(".rs")
            with open(path, encoding="utf-8") as fh:
                src = re.sub(r"//[^\n]*", "", fh.read())
            for target in crate_paths(src):
                if target in tops and target != top:
                    found.setdefault((top, target), set()).add(rel)
    return tops, found


def cycles(tops, found):
    graph = {t: {b for (a, b) in found if a == t} for t in tops}
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
    tops, found = edges(root)
    problems = [f"module `{m}` is in no layer of .ci/layers.py" for m in sorted(tops - RANK.keys())]
    for (a, b), files in sorted(found.items()):
        if "--graph" in sys.argv:
            print(f"{a} -> {b}  ({', '.join(sorted(files))})")
        if RANK.get(b, -1) > RANK.get(a, -1):
            problems.append(f"`{a}` imports `{b}`, a higher layer ({', '.join(sorted(files))})")
    problems += [f"import cycle: {' / '.join(c)}" for c in cycles(tops, found)]
    for p in problems:
        print("LAYERS:", p)
    if problems:
        sys.exit(1)
    print(f"layers ok: {len(tops)} top-level modules, {len(found)} edges, all downward, no cycle")


main()
