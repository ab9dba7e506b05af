#!/usr/bin/env python3
"""Module and function sizes in the shipped crates' sources (issue 17: a change stays easy when
a file holds one thing and a function reads as a few named steps).

Fails on a source file under crates/*/src longer than MAX_FILE_LINES, or a function longer than
MAX_FN_LINES. The aim is 500 and 80; the limits leave room for a file or a step to grow a little
before it is split, never for a new grab-bag. Unit-test modules inside `src` (`tests.rs`,
`src/**/tests/`) count too; integration tests (`crates/*/tests`, `tests/`) do not: a test file
reads as a list of scenarios, and its setup lives in the test kit.

Functions are found the way rustfmt lays them out: a line `fn name` (with its visibility and
qualifiers) at some indentation, ending at the first later line that is `}` at that same
indentation.

Usage: .ci/sizes.py [ROOT]
       .ci/sizes.py --self-test
"""
import pathlib
import re
import sys

MAX_FILE_LINES = 550
MAX_FN_LINES = 100

FN = re.compile(r"^(\s*)(?:pub(?:\([^)]*\))?\s+)?(?:const\s+)?(?:async\s+)?(?:unsafe\s+)?(?:extern\s+\"[^\"]*\"\s+)?fn\s+(\w+)")


def functions(lines: list[str]) -> list[tuple[str, int, int]]:
    """(name, first line, length) of each function in a rustfmt-formatted file."""
    out = []
    for i, line in enumerate(lines):
        m = FN.match(line)
        if not m or line.rstrip().endswith(";"):
            continue
        if line.rstrip().endswith("}"):
            out.append((m.group(2), i + 1, 1))
            continue
        end = m.group(1) + "}"
        for j in range(i + 1, len(lines)):
            if lines[j].rstrip() == end:
                out.append((m.group(2), i + 1, j - i + 1))
                break
    return out


def check(root: pathlib.Path) -> list[str]:
    findings = []
    for path in sorted(root.glob("crates/*/src/**/*.rs")):
        lines = path.read_text(errors="replace").splitlines()
        rel = path.relative_to(root)
        if len(lines) > MAX_FILE_LINES:
            findings.append(
                f"{rel}: {len(lines)} lines (at most {MAX_FILE_LINES}): split it into modules named for what they hold"
            )
        for name, first, length in functions(lines):
            if length > MAX_FN_LINES:
                findings.append(
                    f"{rel}:{first}: fn {name} is {length} lines (at most {MAX_FN_LINES}): make it a few named steps"
                )
    return findings


def self_test() -> None:
    body = ["    let x = 1;"] * (MAX_FN_LINES - 2)
    long_fn = ["pub(crate) fn long() {", *body, "}"]
    assert functions(long_fn) == [("long", 1, MAX_FN_LINES)]
    nested = ["impl A {", "    fn f(&self) {", "        if x {", "        }", "    }", "}"]
    assert functions(nested) == [("f", 2, 4)]
    assert functions(["    fn declared(&self);", "fn one() {}"]) == [("one", 2, 1)]
    import tempfile

    with tempfile.TemporaryDirectory(prefix="sizes-test-") as d:
        root = pathlib.Path(d)
        src = root / "crates/c/src"
        src.mkdir(parents=True)
        (src / "lib.rs").write_text("\n".join(long_fn) + "\n")
        assert check(root) == []
        (src / "lib.rs").write_text("\n".join(["fn long() {", *body, "    x", "}"]) + "\n")
        found = check(root)
        assert len(found) == 1 and "fn long is 101 lines" in found[0], found
        (src / "big.rs").write_text("// a line\n" * (MAX_FILE_LINES + 1))
        assert any("big.rs: 551 lines" in f for f in check(root))
    print("sizes self-test: ok")


def main() -> int:
    if sys.argv[1:] == ["--self-test"]:
        self_test()
        return 0
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    findings = check(root)
    for f in findings:
        print(f)
    if findings:
        return 1
    print(f"ok: no source file over {MAX_FILE_LINES} lines and no function over {MAX_FN_LINES}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
