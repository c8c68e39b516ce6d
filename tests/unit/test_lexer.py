"""Comments, quotes, escapes and braces, as keepalived's parser treats them."""

from __future__ import annotations

import pytest

from conf.lexer import LexError, decomment, split_command, split_statement, split_words


@pytest.mark.parametrize(
    ("line", "text"),
    [
        ("   priority 100   ", "priority 100"),
        ("priority 100 # comment", "priority 100"),
        ("priority 100 ! comment", "priority 100"),
        ("# whole line", ""),
        ("! whole line", ""),
        ('script "/bin/echo # not a comment"', 'script "/bin/echo # not a comment"'),
        ("router_id a\\#b", "router_id a#b"),
        ("router_id a\\!b", "router_id a!b"),
        ('script "a\\"b # c"', 'script "a\\"b # c"'),
        ("\t\tinterface eth0\t", "interface eth0"),
    ],
)
def test_decomment(line: str, text: str) -> None:
    assert decomment(line).text == text


def test_decomment_keeps_a_continuation_backslash_and_drops_blanks_before_it() -> None:
    result = decomment("$X=abc    \\")
    assert result.text == "$X=abc\\"
    assert result.continued


def test_decomment_reports_an_unterminated_quote() -> None:
    assert decomment('script "abc').unterminated_quote
    assert not decomment('script "abc"').unterminated_quote


def test_words_with_double_quotes() -> None:
    assert split_words('notify "/bin/x a b" root') == ["notify", "/bin/x a b", "root"]
    # keepalived's general words only know double quotes; single quotes stay.
    assert split_words("script '/bin/x a'") == ["script", "'/bin/x", "a'"]
    # A quote ends the word before it.
    assert split_words('ab"c d"') == ["ab", "c d"]


def test_braces_split_statements_but_not_inside_quotes() -> None:
    segments = split_statement('virtual_ipaddress { 192.0.2.1 "a{b}" }')
    assert [(s.words, s.brace) for s in segments] == [
        (("virtual_ipaddress",), ""),
        ((), "{"),
        (("192.0.2.1", "a{b}"), ""),
        ((), "}"),
    ]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("/bin/x a b", ["/bin/x", "a", "b"]),
        ("abcd\" efg h jkl \"mnop", ["abcd efg h jkl mnop"]),
        ("abcd \"efg h jkl\" mnop", ["abcd", "efg h jkl", "mnop"]),
        ("/bin/x 'param 2'", ["/bin/x", "param 2"]),
        ("a\\tb", ["a\tb"]),
        ("a\\x41b", ["a\x1b"]),  # every hex digit is consumed, as in keepalived
        ("a\\x41 b", ["aA", "b"]),
        ("a\\101b", ["aAb"]),
        ("\\cA", ["\x01"]),
        ("\\E", ["\x1b"]),
        ("a\\ b", ["a b"]),
        ('"\\"quoted\\""', ['"quoted"']),
        ("\\\\", ["\\"]),
    ],
)
def test_command_splitting_with_quotes_and_escapes(text: str, words: list[str]) -> None:
    assert split_command(text) == words


@pytest.mark.parametrize("text", ["'abc", '"abc', "abc\\"])
def test_command_splitting_rejects_unterminated_input(text: str) -> None:
    with pytest.raises(LexError):
        split_command(text)
