#!/usr/bin/env python3
"""Module cycles inside each crate of the workspace, checked against .ci/cycles-allowed.

A module depends on another when its source names it by path: `crate::a::b`, `super::a`,
`self::a`, or a child module by its bare name (`child::f()`, `use child::X`), including every
leaf of a use tree (`use crate::{a, b::c}`). A path ends at the deepest module it names; a
name re-exported or imported by `use` is followed to the module that defines it, so
`crate::Faults` (lib.rs: `pub use faults::Faults`) is an edge to `faults`, not to the root.
`mod child;` itself is no edge. Every `#[cfg(test)]` module (inline or in its own file) is left
out: tests reach into their parent by design, and what matters is the shipped graph.
Feature-gated modules are in. Each lib and bin target is its own crate; integration tests and
benches are not looked at.

Reports every strongly connected component with more than one module and, for each edge inside
it, one file:line that makes it. Exits 1 when a component is not in the allow-list, or when an
allow-listed cycle no longer exists (so the list only shrinks: delete its line), 0 otherwise.

Allow-list lines: `<root file>: <module> <module> ...  # issue N` (modules in any order, `#`
comments and blank lines ignored, the issue number required).

Usage: cycles.py [--root DIR] [--allow FILE]
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

Ident = r"[A-Za-z_][A-Za-z0-9_]*"


# ---------------------------------------------------------------- lexing


def blank_comments_and_literals(src: str) -> str:
    """The source with comments and the insides of string and char literals replaced by spaces.

    Newlines are kept, so offsets still give the right line numbers.
    """
    out = list(src)
    i, n = 0, len(src)

    def blank(a: int, b: int) -> None:
        for k in range(a, min(b, n)):
            if out[k] != "\n":
                out[k] = " "

    while i < n:
        c = src[i]
        if src.startswith("//", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
            blank(i, j)
            i = j
        elif src.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if src.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif src.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            blank(i, j)
            i = j
        elif (m := re.compile(r'b?r(#*)"').match(src, i)) and (
            i == 0 or not (src[i - 1].isalnum() or src[i - 1] == "_")
        ):
            end = '"' + m.group(1)
            j = src.find(end, m.end())
            j = n if j < 0 else j + len(end)
            blank(m.end(), j - len(end))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            blank(i + 1, j)
            i = j + 1
        elif c == "'":
            # A char literal ('a', '\n', '\u{..}') or a lifetime ('a, 'static).
            m = re.compile(r"'(\\(u\{[0-9a-fA-F]*\}|x..|.)|[^\\'\n])'").match(src, i)
            if m:
                blank(i + 1, m.end() - 1)
                i = m.end()
            else:
                i += 1
        else:
            i += 1
    return "".join(out)


def matching_brace(src: str, open_at: int) -> int:
    depth = 0
    for k in range(open_at, len(src)):
        if src[k] == "{":
            depth += 1
        elif src[k] == "}":
            depth -= 1
            if depth == 0:
                return k
    return len(src)


# ---------------------------------------------------------------- use trees


def parse_use_tree(text: str) -> list[tuple[list[str], str | None]]:
    """Every leaf of a use tree as (path segments, name it binds or None for a glob).

    `crate::{a, b::{c as d, self}, e::*}` gives (crate,a)->a, (crate,b,c)->d, (crate,b)->b,
    (crate,e,*)->None.
    """
    tokens = re.findall(rf"::|[{{}},*]|{Ident}", text)
    pos = 0

    def tree(prefix: list[str]) -> list[tuple[list[str], str | None]]:
        nonlocal pos
        path = list(prefix)
        leaves: list[tuple[list[str], str | None]] = []
        while pos < len(tokens):
            t = tokens[pos]
            if t == "{":
                pos += 1
                while pos < len(tokens) and tokens[pos] != "}":
                    if tokens[pos] == ",":
                        pos += 1
                        continue
                    leaves += tree(path)
                pos += 1
                return leaves
            if t == "*":
                pos += 1
                return [(path + ["*"], None)]
            if t == "::":
                pos += 1
                continue
            if t in (",", "}"):
                break
            pos += 1
            if t == "as":
                alias = tokens[pos]
                pos += 1
                return [(path, None if alias == "_" else alias)]
            path.append(t)
        if path == prefix:
            return []
        if path[-1] == "self":
            path = path[:-1]
        return [(path, path[-1] if path else None)]

    return tree([])


# ---------------------------------------------------------------- modules


@dataclass
class Module:
    path: tuple[str, ...]  # () is the crate root
    file: Path
    text: str  # blanked source of this module only (children's inline bodies blanked too)
    line0: int  # line of text[0] in file
    children: set[str] = field(default_factory=set)
    aliases: dict[str, tuple[list[str], int]] = field(default_factory=dict)
    refs: list[tuple[list[str], int]] = field(default_factory=list)

    def name(self) -> str:
        return "::".join(self.path) or "crate"


CFG_TEST = re.compile(r"#\[cfg\(test\)\]")
MOD_DECL = re.compile(
    rf"(?<![\w])((?:#\[[^\]]*\]\s*)*)(?:pub(?:\([^)]*\))?\s+)?mod\s+({Ident})\s*([;{{])"
)


def load_crate(root_file: Path) -> dict[tuple[str, ...], Module]:
    modules: dict[tuple[str, ...], Module] = {}

    def add(path: tuple[str, ...], file: Path, text: str, line0: int, child_dir: Path) -> None:
        mod = Module(path, file, "", line0)
        modules[path] = mod
        pieces, last = [], 0
        for m in MOD_DECL.finditer(text):
            if m.start() < last:
                continue
            name, kind = m.group(2), m.group(3)
            is_test = bool(CFG_TEST.search(m.group(1)))
            if kind == "{":
                close = matching_brace(text, m.end() - 1)
                body = text[m.end() : close]
                pieces.append(text[last : m.end()])
                pieces.append(re.sub(r"[^\n]", " ", body))
                last = close
                if not is_test:
                    mod.children.add(name)
                    add(
                        path + (name,),
                        file,
                        body,
                        line0 + text.count("\n", 0, m.end()),
                        child_dir / name,
                    )
            elif not is_test:
                mod.children.add(name)
                for cand in (child_dir / f"{name}.rs", child_dir / name / "mod.rs"):
                    if cand.exists():
                        own_dir = cand.parent if cand.name == "mod.rs" else cand.with_suffix("")
                        add(path + (name,), cand, blank_comments_and_literals(cand.read_text()), 1, own_dir)
                        break
        pieces.append(text[last:])
        mod.text = "".join(pieces)

    text = blank_comments_and_literals(root_file.read_text())
    add((), root_file, text, 1, root_file.parent)
    for mod in modules.values():
        scan_paths(mod)
    return modules


USE_DECL = re.compile(r"(?<![\w:])use\s+([^;]*);")


def scan_paths(mod: Module) -> None:
    text = mod.text
    used_spans = []
    for m in USE_DECL.finditer(text):
        used_spans.append((m.start(), m.end()))
        line = mod.line0 + text.count("\n", 0, m.start())
        for segs, alias in parse_use_tree(m.group(1)):
            if not segs:
                continue
            mod.refs.append((segs, line))
            if alias and segs[-1] != "*":
                mod.aliases[alias] = (segs, line)
    # Paths outside `use`: crate::…, super::…, self::…, child::…
    heads = ["crate", "super", "self", *sorted(mod.children)]
    pat = re.compile(rf"(?<![\w:$])((?:{'|'.join(heads)})(?:\s*::\s*{Ident})+)")
    for m in pat.finditer(text):
        if any(a <= m.start() < b for a, b in used_spans):
            continue
        segs = re.findall(Ident, m.group(1))
        mod.refs.append((segs, mod.line0 + text.count("\n", 0, m.start())))


def resolve(
    modules: dict[tuple[str, ...], Module], at: tuple[str, ...], segs: list[str], depth: int = 0
) -> tuple[str, ...] | None:
    """The module a path used in module `at` ends at, or None when it leaves the crate."""
    head, rest = segs[0], segs[1:]
    if head == "crate":
        cur: tuple[str, ...] = ()
    elif head in ("super", "self"):
        cur = at
        while segs and segs[0] in ("super", "self"):
            if segs[0] == "super":
                cur = cur[:-1]
            segs = segs[1:]
        rest = segs
    elif head in modules[at].children:
        cur = at + (head,)
    elif head in modules[at].aliases and depth < 8:
        target, _ = modules[at].aliases[head]
        base = resolve(modules, at, target, depth + 1)
        if base is None:
            return None
        return resolve(modules, base, ["self", *rest], depth + 1) if rest else base
    else:
        return None  # another crate (std, serde, …)
    for seg in rest:
        if seg == "*":
            break
        if cur + (seg,) in modules:
            cur = cur + (seg,)
            continue
        # An item of `cur`: follow it when `cur` only imports or re-exports it.
        alias = modules[cur].aliases.get(seg)
        if alias and depth < 8:
            target = resolve(modules, cur, alias[0], depth + 1)
            if target is not None:
                return target
        break
    return cur


def edges_of(modules: dict[tuple[str, ...], Module]) -> dict[tuple, dict[tuple, tuple[Path, int]]]:
    edges: dict[tuple, dict[tuple, tuple[Path, int]]] = {p: {} for p in modules}
    for path, mod in modules.items():
        for segs, line in mod.refs:
            target = resolve(modules, path, segs)
            if target is None or target == path:
                continue
            edges[path].setdefault(target, (mod.file, line))
    return edges


def strongly_connected(edges: dict) -> list[list]:
    index: dict = {}
    low: dict = {}
    stack: list = []
    on: set = set()
    out: list[list] = []
    counter = [0]

    def visit(v) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
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
            out.append(comp)

    sys.setrecursionlimit(10000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return [sorted(c) for c in out if len(c) > 1]


# ---------------------------------------------------------------- workspace


def crate_roots(root: Path) -> list[Path]:
    ws = tomllib.loads((root / "Cargo.toml").read_text())
    roots = []
    for member in ws["workspace"]["members"]:
        d = root / member
        manifest = tomllib.loads((d / "Cargo.toml").read_text())
        files = {d / "src/lib.rs", d / "src/main.rs"}
        if "lib" in manifest and "path" in manifest["lib"]:
            files.add(d / manifest["lib"]["path"])
        for b in manifest.get("bin", []):
            if "path" in b:
                files.add(d / b["path"])
        roots += sorted(f for f in files if f.exists())
    return roots


def modname(p: tuple[str, ...]) -> str:
    return "::".join(p) or "crate"


def find_cycles(root: Path) -> dict[tuple[str, frozenset[str]], list[str]]:
    """Every cycle as (root file, set of module names) -> report lines (one per edge)."""
    found = {}
    for crate in crate_roots(root):
        modules = load_crate(crate)
        edges = edges_of(modules)
        for comp in strongly_connected(edges):
            members = set(comp)
            lines = []
            for a in comp:
                for b, (file, line) in sorted(edges[a].items()):
                    if b in members:
                        lines.append(f"    {modname(a)} -> {modname(b)}  ({file.relative_to(root)}:{line})")
            key = (str(crate.relative_to(root)), frozenset(modname(m) for m in comp))
            found[key] = lines
    return found


ALLOW_LINE = re.compile(r"^(\S+):\s+([^#]+?)\s*#.*\bissue\s+(\d+)")


def read_allow(path: Path) -> tuple[dict[tuple[str, frozenset[str]], int], list[str]]:
    allowed, errors = {}, []
    if not path.exists():
        return allowed, errors
    for n, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = ALLOW_LINE.match(line)
        if not m:
            errors.append(f"{path}:{n}: expected `<root file>: <module> <module> ...  # issue N`, got {raw!r}")
            continue
        allowed[(m.group(1), frozenset(m.group(2).split()))] = int(m.group(3))
    return allowed, errors


def check(root: Path, allow: Path, out=sys.stdout) -> int:
    found = find_cycles(root)
    allowed, errors = read_allow(allow)
    shown = allow.relative_to(root) if allow.is_relative_to(root) else allow
    for key in sorted(found, key=lambda k: (k[0], sorted(k[1]))):
        crate, mods = key
        state = f"allowed, issue {allowed[key]}" if key in allowed else "NEW: not in the allow-list"
        print(f"{crate}: cycle of {len(mods)} modules ({state}): {' '.join(sorted(mods))}", file=out)
        for line in found[key]:
            print(line, file=out)
    new = [k for k in found if k not in allowed]
    gone = [k for k in allowed if k not in found]
    for crate, mods in sorted(gone, key=lambda k: (k[0], sorted(k[1]))):
        errors.append(
            f"{shown}: `{crate}: {' '.join(sorted(mods))}` is no longer a cycle: delete its line "
            "(or, if it changed shape, list the cycle as it is now)"
        )
    if new:
        errors.append(
            f"{len(new)} new module cycle(s): break them with a small leaf module that both sides use"
        )
    for e in errors:
        print(f"error: {e}", file=out)
    if not errors:
        print(f"ok: no module cycle beyond the {len(allowed)} allow-listed in {shown}", file=out)
    return 1 if errors else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    here = Path(__file__).resolve().parent
    ap.add_argument("--root", type=Path, default=here.parent)
    ap.add_argument("--allow", type=Path, default=here / "cycles-allowed")
    a = ap.parse_args()
    return check(a.root.resolve(), a.allow)


if __name__ == "__main__":
    sys.exit(main())
