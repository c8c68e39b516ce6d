"""Hypothesis over the real preprocessor, parser and model builder: any input gives diagnostics, never an exception."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conf.build import grammar_of
from conf.check import check_files
from conf.dump import to_json_document, to_text
from conf.load import load
from conf.model.config import Config
from conf.schema import Block
from tests.unit.test_lint_and_peers import NoMachineChecks

FUZZ = settings(
    max_examples=int(os.environ.get("HK_FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _all_keywords() -> list[str]:
    names: set[str] = set()
    seen: set[type[Block]] = set()

    def walk(cls: type[Block]) -> None:
        if cls in seen:
            return
        seen.add(cls)
        for name, entry in grammar_of(cls).keywords.items():
            names.add(name)
            if entry.block is not None:
                walk(entry.block)

    walk(Config)
    return sorted(names)


KEYWORDS = _all_keywords()
PIECES = st.sampled_from(
    [
        "{",
        "}",
        '"',
        "'",
        "\\",
        "#",
        "!",
        "$",
        "${",
        "@",
        "@^",
        "~SEQ(",
        "~SEQx(",
        "~LST(",
        ")",
        ",",
        "=",
        "include",
        "\n",
        " ",
        "\t",
        "0",
        "1",
        "255",
        "256",
        "-1",
        "0x10",
        "1.5",
        "192.0.2.1",
        "192.0.2.1/24",
        "2001:db8::1",
        "fe80::1",
        "eth0",
        "lo",
        "VI_1",
        "on",
        "off",
        "weight",
        "reverse",
        "\x00",
        "\xff",
        "é",
        "${_INSTANCE}",
        "${_PWD}",
        "$X",
        "$X=",
        "\\\n",
    ]
)
TOKENS = st.one_of(st.sampled_from(KEYWORDS), PIECES, st.text(max_size=6))
TEXT = st.lists(TOKENS, max_size=80).map(" ".join)


def _load_text(text: str | bytes) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "keepalived.conf"
        if isinstance(text, str):
            path.write_text(text, errors="surrogateescape")
        else:
            path.write_bytes(text)
        loaded = load(str(path), config_id="fuzz", random_seed=1)
        for diagnostic in loaded.diagnostics:
            assert diagnostic.loc.file, diagnostic
            assert diagnostic.loc.line >= 1, diagnostic
            assert diagnostic.render()
        to_json_document(loaded.config)
        to_text(loaded.config)
        report = check_files(str(path), [str(path)], config_id="fuzz", machine=NoMachineChecks())
        assert report.exit_code in (0, 4, 5, 6)


@FUZZ
@given(TEXT)
def test_config_shaped_text_never_raises(text: str) -> None:
    _load_text(text)


@FUZZ
@given(st.binary(max_size=400))
def test_binary_garbage_never_raises(data: bytes) -> None:
    _load_text(data)


def _statement(keyword: str, args: list[str]) -> str:
    return " ".join([keyword, *args])


BLOCKISH = st.recursive(
    st.builds(_statement, st.sampled_from(KEYWORDS), st.lists(PIECES.filter(lambda p: p not in "{}\n"), max_size=4)),
    lambda inner: st.builds(
        lambda kw, body: f"{kw} NAME {{\n" + "\n".join(body) + "\n}",
        st.sampled_from(KEYWORDS),
        st.lists(inner, max_size=6),
    ),
    max_leaves=40,
)


@FUZZ
@given(st.lists(BLOCKISH, max_size=8).map("\n".join))
def test_nested_keyword_soup_never_raises(text: str) -> None:
    _load_text(text)


VALUES = st.one_of(
    st.integers(-300, 70000).map(str),
    st.sampled_from(
        [
            "on",
            "off",
            "MASTER",
            "BACKUP",
            "PASS",
            "192.0.2.7",
            "192.0.2.0/24",
            "2001:db8::7",
            "eth0",
            "1.25",
            "/bin/true",
            "reverse",
            "all",
            "rr",
            "NAT",
            "TCP",
        ]
    ),
)

def _keywords_of(*path: str) -> list[str]:
    cls: type[Block] = Config
    for name in path:
        block = grammar_of(cls).keywords[name].block
        assert isinstance(block, type)
        cls = block
    return sorted(grammar_of(cls).keywords)


def _body(path: tuple[str, ...]) -> st.SearchStrategy[str]:
    statement = st.tuples(st.sampled_from(_keywords_of(*path)), st.lists(VALUES, max_size=3))
    return st.lists(statement, max_size=12).map(lambda stmts: "\n".join(_statement(k, a) for k, a in stmts))


ROUND_TRIP_CONFIGS = st.one_of(
    _body(("global_defs",)).map(lambda b: f"global_defs {{\n{b}\n}}\n"),
    _body(("vrrp_script",)).map(lambda b: f"vrrp_script chk {{\n script /bin/true\n{b}\n}}\n"),
    _body(("vrrp_instance",)).map(
        lambda b: f"vrrp_instance VI_1 {{\n interface eth0\n virtual_router_id 1\n{b}\n"
        " virtual_ipaddress { 192.0.2.9 }\n}\n"
    ),
    st.tuples(
        _body(("virtual_server",)),
        _body(("virtual_server", "real_server")),
        _body(("virtual_server", "real_server", "HTTP_GET")),
    ).map(
        lambda bodies: f"virtual_server 192.0.2.1 80 {{\n{bodies[0]}\n real_server 192.0.2.2 80 {{\n{bodies[1]}\n"
        f" HTTP_GET {{\n{bodies[2]}\n url {{ path / }}\n }}\n }}\n}}\n"
    ),
)


@FUZZ
@given(ROUND_TRIP_CONFIGS)
def test_dump_round_trips_whatever_parses(text: str) -> None:
    """parse -> dump as text -> parse gives the same normalised model, whatever was wrong in the input."""
    with tempfile.TemporaryDirectory() as directory:
        first_path = Path(directory) / "first.conf"
        first_path.write_text(text)
        first = load(str(first_path), config_id="fuzz")
        second_path = Path(directory) / "second.conf"
        second_path.write_text(to_text(first.config))
        second = load(str(second_path), config_id="fuzz")
        assert to_json_document(second.config) == to_json_document(first.config)
