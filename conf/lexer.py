"""Lexical rules of keepalived.conf, kept byte-for-byte with keepalived's parser.

Three layers, applied in this order:
  decomment()        removes comments from one physical line (lib/parser.c decomment()),
  split_statement()  splits a preprocessed line into words and braces (read_line/alloc_strvec),
  split_command()    splits a script command with quotes and escapes (alloc_strvec_quoted_escaped).
"""

from __future__ import annotations

from dataclasses import dataclass

WHITESPACE = " \t\f\n\r\v"
BLANKS = " \t"
COMMENT_CHARS = "#!"


class LexError(ValueError):
    """A lexical problem in one line; the message is meant for the user."""


@dataclass(frozen=True)
class Decommented:
    text: str
    unterminated_quote: bool
    continued: bool  # the line ended with a lone backslash (kept at the end of text)


def decomment(line: str) -> Decommented:
    """Strip comments and surrounding blanks from one physical line.

    `#` and `!` start a comment anywhere outside double quotes; `\\#` and `\\!`
    outside quotes stand for the characters themselves. A trailing backslash is
    kept, since it marks the continuation of a multi-line `$NAME=` definition.
    """
    text = line.lstrip(BLANKS)
    out: list[str] = []
    in_quote = False
    continued = False
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            in_quote = not in_quote
            out.append(ch)
            i += 1
        elif ch == "\\":
            if i + 1 >= n:
                continued = True
                i += 1
            elif not in_quote and text[i + 1] in COMMENT_CHARS:
                out.append(text[i + 1])
                i += 2
            else:
                out.append(text[i : i + 2])
                i += 2
        elif ch in COMMENT_CHARS and not in_quote:
            break
        else:
            out.append(ch)
            i += 1
    result = "".join(out).rstrip(BLANKS)
    if continued:
        # Blanks before a continuation backslash are not part of the value.
        result += "\\"
    return Decommented(result, in_quote, continued)


BRACE_OPEN = "{"
BRACE_CLOSE = "}"


@dataclass(frozen=True)
class Segment:
    """Words of one statement, or a single brace token."""

    words: tuple[str, ...]
    raw: str  # the statement's text, for keywords that re-split it with quotes and escapes
    brace: str = ""  # "{" or "}" when this segment is a brace


def split_statement(text: str) -> list[Segment]:
    """Split a preprocessed line into statements and braces.

    keepalived cuts a line at every `{` or `}` outside double quotes, so
    `virtual_ipaddress { 192.0.2.1 }` is three statements: the keyword, the
    opening brace with the address after it, and the closing brace.
    """
    segments: list[Segment] = []
    start = 0
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            close = text.find('"', i + 1)
            i = n if close < 0 else close + 1
            continue
        if ch in "{}":
            _add_words(segments, text[start:i])
            segments.append(Segment((), ch, brace=ch))
            start = i + 1
        i += 1
    _add_words(segments, text[start:])
    return segments


def _add_words(segments: list[Segment], raw: str) -> None:
    raw = raw.strip(WHITESPACE)
    if raw:
        segments.append(Segment(tuple(split_words(raw)), raw))


def split_words(text: str) -> list[str]:
    """Words separated by whitespace; a word starting with `"` runs to the next `"`.

    An unterminated quote takes the rest of the text as the last word, as
    keepalived does; decomment() has already reported it.
    """
    words: list[str] = []
    i = 0
    n = len(text)
    while True:
        while i < n and text[i] in WHITESPACE:
            i += 1
        if i >= n:
            break
        if text[i] == '"':
            close = text.find('"', i + 1)
            if close < 0:
                words.append(text[i + 1 :])
                break
            words.append(text[i + 1 : close])
            i = close + 1
        else:
            j = i
            while j < n and text[j] not in WHITESPACE and text[j] != '"':
                j += 1
            words.append(text[i:j])
            i = j
    return words


_SIMPLE_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "E": "\x1b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
}
_HEX = "0123456789abcdefABCDEF"
_OCT = "01234567"


def split_command(text: str) -> list[str]:
    """Split a script command line as keepalived's alloc_strvec_quoted_escaped does.

    Single and double quotes group words and are removed; adjacent quoted and
    unquoted parts join into one word; backslash escapes (\\n, \\t, \\xHH,
    \\NNN, \\cC, \\C) are decoded everywhere.
    """
    words: list[str] = []
    i = 0
    n = len(text)
    while True:
        while i < n and text[i] in WHITESPACE:
            i += 1
        if i >= n:
            return words
        quote = ""
        word: list[str] = []
        while i < n:
            ch = text[i]
            if ch == "\\":
                i += 1
                if i >= n:
                    raise LexError(f"missing escaped character at end of '{text}'")
                decoded, i = _decode_escape(text, i)
                word.append(decoded)
            elif quote:
                if ch == quote:
                    quote = ""
                else:
                    word.append(ch)
                i += 1
            elif ch in "\"'":
                quote = ch
                i += 1
            elif ch in WHITESPACE:
                break
            else:
                word.append(ch)
                i += 1
        if quote:
            raise LexError(f"missing terminating {quote} in '{text}'")
        words.append("".join(word))


def _decode_escape(text: str, i: int) -> tuple[str, int]:
    """Decode the escape whose first character (after the backslash) is text[i]."""
    ch = text[i]
    if ch == "x" and i + 1 < len(text) and text[i + 1] in _HEX:
        j = i + 1
        value = 0
        while j < len(text) and text[j] in _HEX:
            value = ((value << 4) | int(text[j], 16)) & 0xFF  # a C char keeps the low byte
            j += 1
        return chr(value), j
    if ch == "c" and i + 1 < len(text):
        return chr(ord(text[i + 1]) & 0x1F), i + 2
    if ch in _OCT:
        j = i
        value = 0
        while j < len(text) and j < i + 3 and text[j] in _OCT:
            value = (value << 3) + int(text[j])
            j += 1
        return chr(value & 0xFF), j
    return _SIMPLE_ESCAPES.get(ch, ch), i + 1
