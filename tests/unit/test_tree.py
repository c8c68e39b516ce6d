"""Blocks and braces."""

from __future__ import annotations

from conf.diagnostics import Diagnostics, Loc, Severity
from conf.preprocess import SourceLine
from conf.tree import Stmt, build_tree


def tree(text: str) -> tuple[tuple[Stmt, ...], Diagnostics]:
    diags = Diagnostics()
    lines = [SourceLine(t, Loc("k.conf", n)) for n, t in enumerate(text.split("\n"), 1) if t.strip()]
    return build_tree(lines, diags), diags


def shape(stmts: tuple[Stmt, ...] | None) -> object:
    if stmts is None:
        return None
    return [(s.words, s.loc.line, shape(s.block)) for s in stmts]


def test_block_on_one_line_and_on_several() -> None:
    one, _ = tree("virtual_ipaddress { 192.0.2.1 }")
    several, _ = tree("virtual_ipaddress\n{\n192.0.2.1\n}")
    assert shape(one) == [(("virtual_ipaddress",), 1, [(("192.0.2.1",), 1, None)])]
    assert shape(several) == [(("virtual_ipaddress",), 1, [(("192.0.2.1",), 3, None)])]


def test_nested_blocks() -> None:
    stmts, diags = tree("vrrp_instance VI_1 {\n authentication {\n auth_type PASS\n }\n priority 100\n}")
    assert not diags.items
    assert shape(stmts) == [
        (
            ("vrrp_instance", "VI_1"),
            1,
            [(("authentication",), 2, [(("auth_type", "PASS"), 3, None)]), (("priority", "100"), 5, None)],
        )
    ]


def test_unclosed_block_points_at_the_line_that_opened_it() -> None:
    _, diags = tree("global_defs {\n router_id a\n}\nvrrp_instance VI_1 {\n priority 100\n")
    [error] = diags.items
    assert error.severity == Severity.ERROR
    assert error.loc == Loc("k.conf", 4)
    assert "vrrp_instance VI_1" in error.message and "never closed" in error.message


def test_extra_closing_brace() -> None:
    stmts, diags = tree("a 1\n}\nb 2")
    assert [s.words for s in stmts] == [("a", "1"), ("b", "2")]
    [error] = diags.items
    assert error.loc.line == 2 and "unexpected '}'" in error.message


def test_brace_without_keyword_keeps_its_contents() -> None:
    stmts, diags = tree("a 1 }\n{ b 2 }")
    assert [d.loc.line for d in diags] == [1, 2]
    assert [s.words for s in stmts] == [("a", "1"), ("b", "2")]


def test_raw_text_is_kept_for_commands() -> None:
    [stmt], _ = tree("notify_master \"/bin/x 'a b'\" root")
    assert stmt.words == ("notify_master", "/bin/x 'a b'", "root")
    assert stmt.raw_args == "\"/bin/x 'a b'\" root"
