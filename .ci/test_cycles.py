#!/usr/bin/env python3
"""Tests of .ci/cycles.py on small crates written to a temporary directory."""

import io
import sys
import tempfile
import textwrap
import unittest
from pathlib import Path

sys.dont_write_bytecode = True  # the tree must stay clean (.ci/run checks)
sys.path.insert(0, str(Path(__file__).resolve().parent))
import cycles  # noqa: E402


SCRATCH = tempfile.TemporaryDirectory(prefix="cycles-test-")


def workspace(files: dict[str, str]) -> Path:
    root = Path(tempfile.mkdtemp(dir=SCRATCH.name))
    (root / "Cargo.toml").write_text('[workspace]\nmembers = ["c"]\n')
    (root / "c").mkdir()
    (root / "c/Cargo.toml").write_text('[package]\nname = "c"\n')
    for name, text in files.items():
        p = root / "c/src" / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))
    return root


def cycles_in(files: dict[str, str]) -> dict[frozenset, list[str]]:
    root = workspace(files)
    return {mods: lines for (_, mods), lines in cycles.find_cycles(root).items()}


class UseTrees(unittest.TestCase):
    def test_nested_groups_aliases_self_and_globs(self):
        got = cycles.parse_use_tree("crate::{a, b::{c as d, self, e::*}, f as _}")
        self.assertEqual(
            got,
            [
                (["crate", "a"], "a"),
                (["crate", "b", "c"], "d"),
                (["crate", "b"], "b"),
                (["crate", "b", "e", "*"], None),
                (["crate", "f"], None),
            ],
        )

    def test_plain_path(self):
        self.assertEqual(cycles.parse_use_tree("super::x::Y"), [(["super", "x", "Y"], "Y")])


class Blanking(unittest.TestCase):
    def test_comments_and_strings_hide_paths_but_keep_lines(self):
        src = 'a // crate::x\n/* crate::y\n */ "crate::z" r#"crate::w"# \'c\' \'static b\n'
        out = cycles.blank_comments_and_literals(src)
        self.assertNotIn("crate", out)
        self.assertEqual(out.count("\n"), src.count("\n"))
        self.assertIn("static b", out)


class Graph(unittest.TestCase):
    def test_two_module_cycle_through_crate_paths_with_lines(self):
        found = cycles_in(
            {
                "lib.rs": "mod a;\nmod b;\n",
                "a.rs": "use crate::b::Thing;\n",
                "b.rs": "// a comment\nfn f() { crate::a::g(); }\n",
            }
        )
        self.assertEqual(list(found), [frozenset({"a", "b"})])
        self.assertEqual(
            found[frozenset({"a", "b"})],
            ["    a -> b  (c/src/a.rs:1)", "    b -> a  (c/src/b.rs:2)"],
        )

    def test_use_tree_group_and_super_and_nested_files(self):
        found = cycles_in(
            {
                "lib.rs": "pub mod p;\nmod q;\n",
                "p.rs": "mod inner;\n",
                "p/inner.rs": "use crate::{q::{self}, x};\n",
                "q.rs": "fn f() { super::p::inner::g() }\n",
            }
        )
        self.assertEqual(list(found), [frozenset({"p::inner", "q"})])

    def test_child_by_bare_name_and_inline_module(self):
        found = cycles_in(
            {
                "lib.rs": "mod a {\n    pub fn f() { super::b::g() }\n}\nmod b { pub fn g() { }\n pub fn h() { crate::a::f() } }\n",
            }
        )
        self.assertEqual(list(found), [frozenset({"a", "b"})])

    def test_reexport_is_followed_to_the_defining_module(self):
        # `crate::Thing` is b's item that the root re-exports: a depends on b, not on the root
        # (read as the root, the cycle would take the root in too).
        found = cycles_in(
            {
                "lib.rs": "mod a;\nmod b;\npub use b::Thing;\n",
                "a.rs": "use crate::Thing;\npub fn f() {}\n",
                "b.rs": "pub struct Thing;\nfn g() { crate::a::f() }\n",
            }
        )
        self.assertEqual(list(found), [frozenset({"a", "b"})])

    def test_the_roots_own_items_are_the_root(self):
        found = cycles_in(
            {
                "lib.rs": "mod b;\npub use b::Thing;\npub struct Root;\n",
                "b.rs": "pub struct Thing;\nfn f(_: crate::Root) {}\n",
            }
        )
        self.assertEqual(list(found), [frozenset({"crate", "b"})])

    def test_test_modules_and_comments_and_strings_are_no_edges(self):
        found = cycles_in(
            {
                "lib.rs": "mod a;\nmod b;\n",
                "a.rs": "use crate::b::X;\n",
                "b.rs": (
                    '/// see [`crate::a`]\nconst S: &str = "crate::a::y";\n'
                    "#[cfg(test)]\nmod tests {\n    use crate::a::f;\n}\n"
                    "#[cfg(test)]\nmod more;\n"
                ),
                "b/more.rs": "use crate::a::g;\n",
            }
        )
        self.assertEqual(found, {})

    def test_other_crates_are_no_edges(self):
        found = cycles_in({"lib.rs": "mod a;\n", "a.rs": "use std::fmt;\nuse serde::a;\n"})
        self.assertEqual(found, {})


class AllowList(unittest.TestCase):
    FILES = {"lib.rs": "mod a;\nmod b;\n", "a.rs": "use crate::b::X;\n", "b.rs": "use crate::a::Y;\n"}

    def run_check(self, files, allow_text):
        root = workspace(files)
        allow = root / "allowed"
        allow.write_text(allow_text)
        out = io.StringIO()
        return cycles.check(root, allow, out), out.getvalue()

    def test_a_new_cycle_fails(self):
        rc, out = self.run_check(self.FILES, "")
        self.assertEqual(rc, 1)
        self.assertIn("NEW", out)

    def test_an_allowed_cycle_passes(self):
        rc, out = self.run_check(self.FILES, "c/src/lib.rs: b a  # issue 17\n")
        self.assertEqual(rc, 0, out)

    def test_an_allowed_cycle_that_is_gone_fails(self):
        files = dict(self.FILES, **{"b.rs": "pub struct Y;\n"})
        rc, out = self.run_check(files, "c/src/lib.rs: a b  # issue 17\n")
        self.assertEqual(rc, 1)
        self.assertIn("no longer a cycle", out)

    def test_a_line_without_an_issue_number_fails(self):
        rc, out = self.run_check(self.FILES, "c/src/lib.rs: a b\n")
        self.assertEqual(rc, 1)
        self.assertIn("expected", out)


if __name__ == "__main__":
    unittest.main()
