#!/usr/bin/env python3
"""Every dependency a crate declares is used where it is declared for.

A `[dependencies]` entry must be named in the crate's non-test sources (src/, without
`#[cfg(test)]` modules and `tests.rs` files); a `[dev-dependencies]` or `[build-dependencies]`
entry anywhere in the crate. A dependency that only tests use belongs in dev-dependencies: a
normal one is linked into the shipped binary. Like cargo-machete (which finds only the wholly
unused ones), but without a build to install; an entry needed for its features alone is listed
in `[package.metadata.cargo-machete] ignored`, with a comment saying why.

Usage: .ci/unused-deps.py [WORKSPACE_ROOT]     exits 1 and names each finding.
       .ci/unused-deps.py --self-test
"""
import pathlib
import re
import sys
import tomllib


def test_only_modules(src: pathlib.Path) -> set[pathlib.Path]:
    """Files that are `#[cfg(test)] mod x;` somewhere, plus every `tests.rs` and their children."""
    out = set()
    for f in src.rglob("*.rs"):
        text = f.read_text(errors="replace")
        for m in re.finditer(r"#\[cfg\(test\)\]\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;", text):
            base = f.parent if f.name in ("lib.rs", "main.rs", "mod.rs") else f.parent / f.stem
            for cand in (base / f"{m.group(1)}.rs", base / m.group(1) / "mod.rs"):
                out.add(cand)
            out.update((base / m.group(1)).rglob("*.rs"))
    out.update(p for p in src.rglob("tests.rs"))
    out.update(q for p in src.rglob("tests") if p.is_dir() for q in p.rglob("*.rs"))
    return out


def strip_inline_test_modules(text: str) -> str:
    """Drops `#[cfg(test)] mod x { … }` bodies (brace-matched)."""
    out, i = [], 0
    for m in re.finditer(r"#\[cfg\(test\)\]\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+\w+\s*\{", text):
        if m.start() < i:
            continue
        out.append(text[i:m.start()])
        depth, j = 1, m.end()
        while j < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        i = j
    out.append(text[i:])
    return "".join(out)


def without_comments(text: str) -> str:
    """The text with `//` comments (doc comments too) removed: a crate named only in a comment is
    not used. A `//` inside a string literal (a URL) cuts the rest of its line, which only ever
    hides a use, never invents one. Block comments stay: `/*` is common inside strings (RBAC
    wildcards, paths), and kcsr writes none."""
    return re.sub(r"//[^\n]*", "", text)


def names_crate(text: str, ident: str) -> bool:
    text = without_comments(text)
    return re.search(rf"(?<![\w:]){re.escape(ident)}\s*(::|;|\s+as\s)|extern\s+crate\s+{re.escape(ident)}\b", text) is not None


def check_crate(manifest: pathlib.Path) -> list[str]:
    data = tomllib.loads(manifest.read_text())
    root = manifest.parent
    ignored = set(data.get("package", {}).get("metadata", {}).get("cargo-machete", {}).get("ignored", []))
    src = root / "src"
    tests_only = test_only_modules(src) if src.is_dir() else set()
    shipped, everything = [], []
    for f in sorted(root.rglob("*.rs")):
        if "target" in f.relative_to(root).parts:
            continue
        text = f.read_text(errors="replace")
        everything.append(text)
        if src in f.parents and f not in tests_only:
            shipped.append(strip_inline_test_modules(text))
    shipped_text, all_text = "\n".join(shipped), "\n".join(everything)
    findings = []
    targets = [("dependencies", data.get("dependencies", {}))]
    for cfg in data.get("target", {}).values():
        targets.append(("dependencies", cfg.get("dependencies", {})))
    for kind, table in targets + [("dev-dependencies", data.get("dev-dependencies", {})),
                                  ("build-dependencies", data.get("build-dependencies", {}))]:
        for name, spec in table.items():
            if name in ignored:
                continue
            package = spec.get("package", name) if isinstance(spec, dict) else name
            ident = name.replace("-", "_")
            where = shipped_text if kind == "dependencies" else all_text
            if names_crate(where, ident):
                continue
            if kind == "dependencies" and names_crate(all_text, ident):
                findings.append(f"{manifest}: [{kind}] {package}: only tests use it; move it to [dev-dependencies]")
            else:
                findings.append(f"{manifest}: [{kind}] {package}: never used; remove it")
    return findings


def self_test() -> None:
    assert names_crate("use serde::Deserialize;", "serde")
    assert names_crate("let x = base64::engine::general_purpose::STANDARD;", "base64")
    assert names_crate("use kcsr_testapi as api;", "kcsr_testapi")
    assert not names_crate("use kcsr_core::serde_helpers;", "serde_helpers")
    assert not names_crate("// anyhow is not used", "anyhow")
    assert not names_crate("/// see [`zeroize::Zeroizing`]\nfn f() {}", "zeroize")
    assert names_crate("let u = \"https://x\";\nlet e = base64::x;", "base64")
    text = "fn a() { tempfile::x(); }\n#[cfg(test)]\nmod tests {\n fn b() { { proptest::y(); } }\n}\nfn c() {}"
    stripped = strip_inline_test_modules(text)
    assert "tempfile::" in stripped and "proptest::" not in stripped and "fn c" in stripped
    print("unused-deps self-test: ok")


def main() -> int:
    if sys.argv[1:] == ["--self-test"]:
        self_test()
        return 0
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    ws = tomllib.loads((root / "Cargo.toml").read_text())["workspace"]
    findings = []
    for member in ws["members"]:
        findings += check_crate(root / member / "Cargo.toml")
    for f in findings:
        print(f)
    if not findings:
        print(f"ok: every dependency of the {len(ws['members'])} workspace crates is used where it is declared")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
