"""HTTP_GET and SSL_GET with their url blocks (keepalived/check/check_http.c, 2.2.7)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Self

from conf.diagnostics import Severity
from conf.lexer import LexError, split_command
from conf.model.checker_base import TIMER_MAX_US, UINT_MAX, ConnectionChecker, Timer, flatten, inherited
from conf.schema import ArgError, Block, Cx, Scope, Value, blocks, kw, many
from conf.tree import Stmt
from conf.values import (
    Bool,
    Choice,
    Flag,
    Int,
    Str,
    parse_int,
)

# ------------------------------------------------------------------ HTTP_GET, SSL_GET

HTTP_STATUS_MIN = 100
HTTP_STATUS_MAX = 599
_STATUS = re.compile(r"([0-9]+)(?:-([0-9]+))?\Z")


@dataclass(frozen=True)
class StatusRange:
    low: int
    high: int

    def to_json(self) -> dict[str, int]:
        return {"low": self.low, "high": self.high}


DEFAULT_STATUS = (StatusRange(200, 299),)


def merge_status(ranges: Sequence[StatusRange]) -> tuple[StatusRange, ...]:
    """Codes as keepalived holds them (a bitmap), written as sorted disjoint ranges."""
    merged: list[StatusRange] = []
    for r in sorted(ranges, key=lambda r: (r.low, r.high)):
        if merged and r.low <= merged[-1].high + 1:
            if r.high > merged[-1].high:
                merged[-1] = StatusRange(merged[-1].low, r.high)
        else:
            merged.append(r)
    return tuple(merged)


class StatusCodes(Value[Any]):
    """`status_code CODE|LOW-HIGH ...`; each line gives a tuple of ranges, and each range formats alone."""

    min_args = 0
    max_args = None

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> tuple[StatusRange, ...]:
        ranges: list[StatusRange] = []
        for word in args:
            match = _STATUS.match(word)
            low = int(match.group(1)) if match else 0
            high = int(match.group(2)) if match and match.group(2) else low
            if not match or not HTTP_STATUS_MIN <= low <= high <= HTTP_STATUS_MAX:
                cx.error(
                    stmt,
                    f"Invalid HTTP_GET status code '{word}' (codes are {HTTP_STATUS_MIN}-{HTTP_STATUS_MAX}); ignored",
                )
                continue
            ranges.append(StatusRange(low, high))
        return tuple(ranges)

    def format(self, value: Any) -> str:
        ranges = value if isinstance(value, tuple) else (value,)
        return " ".join(str(r.low) if r.low == r.high else f"{r.low}-{r.high}" for r in ranges)


class Digest(Value[str]):
    """An MD5 digest: 32 hex digits, kept in lowercase."""

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> str:
        digest = args[0]
        if len(digest) != 32:
            raise ArgError(f"digest '{digest}' character length should be 32 rather than {len(digest)}")
        if any(c not in "0123456789abcdefABCDEF" for c in digest):
            raise ArgError(f"Unable to interpret hex digit in '{digest}'")
        return digest.lower()

    def format(self, value: str) -> str:
        return value


def encode_command_word(word: str) -> str:
    """A double-quoted word that split_command() decodes back to `word`.

    Backslashes are escaped, and quotes and control characters written as octal escapes,
    so that neither the statement splitter nor the comment stripper sees them.
    """
    out = []
    for ch in word:
        if ch == "\\":
            out.append("\\\\")
        elif ch in "\"'" or (not ch.isprintable() and ord(ch) <= 0xFF):
            out.append(f"\\{ord(ch):03o}")  # split_command decodes up to three octal digits
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


class RegexPattern(Value[str]):
    """`regex PATTERN`: the line is re-split with quotes and escapes and must give one pattern.

    keepalived only logs its complaints about regex lines, so they are warnings here.
    """

    max_args = None

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> str:
        try:
            words = split_command(stmt.raw_args)
        except LexError as exc:
            raise ArgError(f"regex: {exc}", Severity.WARNING) from None
        if len(words) != 1:
            raise ArgError("regex missing or too many fields (quote a pattern with spaces)", Severity.WARNING)
        return words[0]

    def format(self, value: str) -> str:
        return encode_command_word(value)


REGEX_OPTIONS = (
    "allow_empty_class",
    "alt_bsux",
    "auto_callout",
    "caseless",
    "dollar_endonly",
    "dotall",
    "dupnames",
    "extended",
    "firstline",
    "match_unset_backref",
    "multiline",
    "never_ucp",
    "never_utf",
    "no_auto_capture",
    "no_auto_possess",
    "no_dotstar_anchor",
    "no_start_optimize",
    "ucp",
    "ungreedy",
    "utf",
    "never_backslash_c",
    "alt_circumflex",
    "alt_verbnames",
    "use_offset_limit",
)


class RegexOptions(Value[Any]):
    """`regex_options WORD...`; each line gives a tuple, each option formats alone."""

    min_args = 0
    max_args = None

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> tuple[str, ...]:
        known = []
        for word in args:
            if word in REGEX_OPTIONS:
                known.append(word)
            else:
                # keepalived skips unknown options without a word.
                cx.warning(stmt, f"unknown regex option '{word}' ignored")
        return tuple(known)

    def format(self, value: Any) -> str:
        return " ".join(value) if isinstance(value, tuple) else str(value)


class RegexOffset(Value[int]):
    """`regex_min_offset N` / `regex_max_offset N`; keepalived only logs bad values."""

    min_args = 0
    max_args = None

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> int:
        if len(args) != 1:
            raise ArgError(f"{stmt.keyword} takes exactly one value", Severity.WARNING)
        if not args[0].isdigit() or not args[0].isascii():
            raise ArgError(f"invalid {stmt.keyword} {args[0]}", Severity.WARNING)
        return int(args[0])

    def format(self, value: int) -> str:
        return str(value)


class RegexStack(Value[tuple[int, int]]):
    """`regex_stack START MAX`: the PCRE2 JIT stack sizes."""

    min_args = 0
    max_args = None

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> tuple[int, int]:
        if len(args) != 2:
            raise ArgError("regex_stack requires start and max values", Severity.WARNING)
        for word, what in zip(args, ("start", "max"), strict=True):
            if not word.isdigit() or not word.isascii():
                raise ArgError(f"regex_stack invalid {what} value", Severity.WARNING)
        start, most = int(args[0]), int(args[1])
        if start > most:
            raise ArgError("regex stack start cannot exceed max value", Severity.WARNING)
        return start, most

    def format(self, value: tuple[int, int]) -> str:
        return f"{value[0]} {value[1]}"


@dataclass(frozen=True, kw_only=True)
class Url(Block):
    block_keyword = "url"

    path: str | None = kw(Str())
    digest: str | None = kw(Digest(), once=True)
    status_code: tuple[StatusRange, ...] = many(StatusCodes())
    virtualhost: str | None = kw(Str(), inherit=inherited("virtualhost"))
    regex: str | None = kw(RegexPattern())
    regex_no_match: bool = kw(Flag(accepts_bool=False), default=False)
    regex_options: tuple[str, ...] = many(RegexOptions())
    regex_min_offset: int = kw(RegexOffset(), default=0)
    regex_max_offset: int | None = kw(RegexOffset())
    regex_stack: tuple[int, int] | None = kw(RegexStack())

    def complete(self, cx: Cx, scope: Scope) -> Self | None:
        if self.path is None:
            cx.error(self.loc, "HTTP/SSL_GET checker url has no path - ignoring")
            return None
        changes: dict[str, Any] = {}
        codes = merge_status(flatten(self.status_code))
        changes["status_code"] = codes or DEFAULT_STATUS
        options = tuple(dict.fromkeys(flatten(self.regex_options)))
        changes["regex_options"] = options
        url = self.replace(**changes)
        if url.regex is None and (
            options
            or url.regex_no_match
            or url.regex_min_offset
            or url.regex_max_offset is not None
            or url.regex_stack is not None
        ):
            cx.warning(self.loc, "regex parameters specified without regex; ignored")
            url = url.replace(
                regex_options=(), regex_no_match=False, regex_min_offset=0, regex_max_offset=None, regex_stack=None
            )
        if url.regex_max_offset is not None and url.regex_min_offset > url.regex_max_offset:
            cx.warning(
                self.where("regex_min_offset"),
                f"regex min offset {url.regex_min_offset} > regex_max_offset {url.regex_max_offset} - both ignored",
            )
            url = url.replace(regex_min_offset=0, regex_max_offset=None)
        return url


class NbGetRetry(Value[int]):
    """The old name of `retry`; keepalived reports it as an error even when the value is good."""

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> int:
        cx.error(stmt, "nb_get_retry is deprecated - please use 'retry'")
        return parse_int(args[0], 0, UINT_MAX)

    def format(self, value: int) -> str:
        return str(value)


@dataclass(frozen=True, kw_only=True)
class HttpGet(ConnectionChecker):
    block_keyword = "HTTP_GET"

    retry: int = kw(Int(0, UINT_MAX), inherit=inherited("retry", 1), also={"nb_get_retry": NbGetRetry()})
    delay_before_retry: float = kw(Timer(0, TIMER_MAX_US), inherit=inherited("delay_before_retry", 3.0))
    virtualhost: str | None = kw(Str(), inherit=inherited("virtualhost"))
    http_protocol: str = kw(Choice("1.0", "1.1", "1.0C", aliases={"1.0c": "1.0C"}), default="1.0")
    # keepalived accepts enable_sni in HTTP_GET too, where it has no effect.
    enable_sni: bool = kw(Bool(), default=False)
    fast_recovery: bool = kw(Bool(), default=False)
    url: tuple[Url, ...] = blocks(Url, names=("url",))

    def complete(self, cx: Cx, scope: Scope) -> Self | None:
        if not self.url:
            cx.error(self.loc, "HTTP/SSL_GET checker has no urls specified - ignoring")
            return None
        return super().complete(cx, scope)


@dataclass(frozen=True, kw_only=True)
class SslGet(HttpGet):
    block_keyword = "SSL_GET"
