"""Health checkers of a real_server: TCP_CHECK, HTTP_GET, SSL_GET, SMTP_CHECK, MISC_CHECK,
DNS_CHECK, PING_CHECK, UDP_CHECK, FILE_CHECK and BFD_CHECK.

Ranges, defaults and messages follow keepalived/check/check_api.c and the check_*.c file
of each checker (2.2.7). Settings a checker does not give are inherited from its
real_server, which inherits them from its virtual_server; what is left unset falls
back to the checker type's own default (retry 1, or 0 for MISC_CHECK and 3 for
DNS_CHECK; delay_before_retry 1s, or 3s for HTTP_GET/SSL_GET and delay_loop for
DNS_CHECK; warmup = the checker's delay_loop).

The argument readers shared with conf/model/lvs.py (timers, server addresses) live here
too, since lvs.py imports this module.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Self

from conf.diagnostics import Diagnostics, Loc, Severity
from conf.lexer import LexError, split_command
from conf.model.common import EnvRef
from conf.model.trackers import Weight
from conf.schema import NOWHERE, ArgError, Block, Cx, Inherit, Scope, Value, blocks, internal, kw, many
from conf.tree import Stmt
from conf.values import (
    Bool,
    Choice,
    Flag,
    Int,
    IPAddress,
    Script,
    ScriptValue,
    Str,
    UserGroup,
    format_float,
    parse_int,
    quote,
)

UINT_MAX = 2**32 - 1
INT_MAX = 2**31 - 1
TIMER_HZ = 1_000_000
TIMER_MAX_US = 2**64 - 2  # keepalived's TIMER_MAXIMUM (ULONG_MAX - 1 microseconds)
IFNAMSIZ = 16
BFD_NAME_MAX = 32

# ------------------------------------------------------------------ argument readers

_TIMER = re.compile(r"[ \t]*\+?([0-9]*)(?:\.([0-9]*))?\Z")


def _seconds_text(us: int) -> str:
    return f"{us // TIMER_HZ}.{us % TIMER_HZ:06d}"


def _as_seconds(us: int, high_us: int) -> float:
    """Microseconds as float seconds that still format to at most `high_us`.

    Past 2**53 microseconds a float cannot hold every microsecond; stepping down keeps
    a dumped value from reading back as out of range.
    """
    seconds = us / TIMER_HZ
    while seconds > 0 and _timer_us(format_float(seconds)) > high_us:
        seconds = math.nextafter(seconds, 0.0)
    return seconds


def _timer_us(text: str) -> int:
    whole, _, frac = text.partition(".")
    return int(whole or "0") * TIMER_HZ + int((frac + "000000")[:6])


class Timer(Value[float]):
    """keepalived's <TIMER>: seconds with up to six decimals, held in microseconds.

    keepalived 2.2.7 reads the digits before trailing junk on the microsecond scale
    (`delay_loop 5abc` is 5 microseconds); here junk makes the statement invalid.
    """

    def __init__(self, low_us: int, high_us: int) -> None:
        self.low_us = low_us
        self.high_us = high_us

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> float:
        text = args[0]
        if text.lstrip(" \t").startswith("-"):
            raise ArgError(f"negative number '{text}'")
        match = _TIMER.match(text)
        if match is None or not (match.group(1) or match.group(2)):
            raise ArgError(f"invalid number '{text}'")
        whole, frac = match.group(1) or "0", match.group(2) or ""
        round_up = False
        if len(frac) > 6:
            cx.error(stmt, f"{stmt.keyword}: number '{text}' has too many decimal places; rounded to microseconds")
            round_up = frac[6] >= "5"
            frac = frac[:6]
        us = int(whole) * TIMER_HZ + int((frac + "000000")[:6]) + round_up
        if not self.low_us <= us <= self.high_us:
            raise ArgError(
                f"number '{text}' outside range [{_seconds_text(self.low_us)}, {_seconds_text(self.high_us)}]"
            )
        return _as_seconds(us, self.high_us)

    def format(self, value: float) -> str:
        return format_float(value)


def family_name(address: IPAddress) -> str:
    return "inet" if address.version == 4 else "inet6"


def parse_server_ip(text: str) -> tuple[IPAddress, str]:
    """An address as keepalived's inet_stosockaddr() reads it: (address, ignored suffix).

    keepalived silently drops anything from the first '-' or '/' on; the caller warns
    about it. The family is IPv6 if the text has a ':'. Only numeric addresses are
    accepted, and no IPv6 scope.
    """
    cut = text.find("-")
    if cut < 0:
        cut = text.find("/")
    bare, suffix = (text, "") if cut < 0 else (text[:cut], text[cut:])
    try:
        if "%" in bare:
            raise ValueError(bare)
        address: IPAddress = (
            ipaddress.IPv6Address(bare) if ":" in text else ipaddress.IPv4Address(bare)
        )
    except ValueError:
        raise ArgError(f"invalid IP address '{text}'") from None
    return address, suffix


def read_server_ip(text: str, stmt: Stmt, cx: Cx) -> IPAddress:
    address, suffix = parse_server_ip(text)
    if suffix:
        cx.warning(stmt, f"'{suffix}' after address {address} is ignored (ranges and masks only apply "
                         "in virtual_server_group)")
    return address


class ServerIP(Value[IPAddress]):
    """A numeric IPv4 or IPv6 address (connect_ip, bindto)."""

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> IPAddress:
        return read_server_ip(args[0], stmt, cx)

    def format(self, value: IPAddress) -> str:
        return str(value)


class InterfaceName(Value[str]):
    """An interface name; keepalived only checks that it fits in IFNAMSIZ."""

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> str:
        if len(args[0]) > IFNAMSIZ - 1:
            raise ArgError(f"interface name {args[0]} is too long")
        return args[0]

    def format(self, value: str) -> str:
        return quote(value)


class OneWord(Value[str]):
    """Exactly one word, where keepalived rejects both none and several (snmp_name, BFD name)."""

    min_args = 0
    max_args = None

    def __init__(self, what: str) -> None:
        self.what = what

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> str:
        if len(args) != 1:
            raise ArgError(f"{self.what} missing or extra parameters")
        return args[0]

    def format(self, value: str) -> str:
        return quote(value)


# ------------------------------------------------------------------ inheritance


def inherited(name: str, fallback: Any = None) -> Inherit:
    """The enclosing block's value of `name`, else `fallback` (virtual_server -> real_server -> checker)."""

    def from_parent(scope: Scope) -> Any:
        value = scope.parent.get(name) if scope.parent is not None else None
        return fallback if value is None else value

    return from_parent


def global_bool(globals_: Any, name: str) -> bool | None:
    """A global_defs boolean, or None when global_defs does not set it.

    keepalived's smtp_alert chains need "not set" to differ from "off"; the locations
    recorded for global_defs say which settings were written.
    """
    value = getattr(globals_, name, None)
    if not isinstance(value, bool):
        return None
    locs = getattr(globals_, "locs", None)
    if isinstance(locs, Mapping) and name not in locs:
        return None
    return value


def smtp_alert_default(fallback: bool) -> Inherit:
    """global smtp_alert_checker, else global smtp_alert, else `fallback` (off for a VS, on for an RS)."""

    def chain(scope: Scope) -> bool:
        for name in ("smtp_alert_checker", "smtp_alert"):
            value = global_bool(scope.globals, name)
            if value is not None:
                return value
        return fallback

    return chain


def _warmup_default(scope: Scope) -> float:
    value = scope.parent.get("warmup") if scope.parent is not None else None
    return float(scope["delay_loop"]) if value is None else float(value)


def _dns_delay_before_retry(scope: Scope) -> float:
    value = scope.parent.get("delay_before_retry") if scope.parent is not None else None
    return float(scope["delay_loop"]) if value is None else float(value)


def _log_all_failures_default(scope: Scope) -> bool:
    return bool(getattr(scope.globals, "checker_log_all_failures", False))


def real_server_address(scope: Scope) -> IPAddress | None:
    """The address of the real_server around a checker (or around an SMTP host block)."""
    up = scope.parent
    while up is not None:
        address = up.get("address")
        if address is not None:
            return address  # type: ignore[no-any-return]
        up = up.parent
    return None


def script_env_refs(script: Script, loc: Loc, what: str) -> Iterator[EnvRef]:
    yield EnvRef("script", script.argv[0], loc, what)
    if script.user:
        yield EnvRef("user", script.user, loc, what)
    if script.group:
        yield EnvRef("group", script.group, loc, what)


def flatten(values: tuple[Any, ...]) -> tuple[Any, ...]:
    """Items of a repeated keyword whose every statement gives several (status_code, regex_options)."""
    out: list[Any] = []
    for value in values:
        out.extend(value if isinstance(value, tuple) else (value,))
    return tuple(out)


# ------------------------------------------------------------------ common options


@dataclass(frozen=True, kw_only=True)
class Checker(Block):
    """Every checker block; `kind` is its keyword, so that the JSON says which checker it is."""

    kind: str = internal("")

    @classmethod
    def header(cls, stmt: Stmt, cx: Cx) -> dict[str, Any] | None:
        if stmt.args:
            cx.warning(stmt, f"'{stmt.keyword}' takes no arguments; '{' '.join(stmt.args)}' ignored")
        return {"kind": cls.block_keyword}

    def env_refs(self) -> Iterator[EnvRef]:
        return iter(())


@dataclass(frozen=True, kw_only=True)
class TimedChecker(Checker):
    """Checkers that run on a timer: all but FILE_CHECK and BFD_CHECK."""

    alpha: bool = kw(Bool(), inherit=inherited("alpha", False))
    delay_loop: float = kw(Timer(1, TIMER_MAX_US), inherit=inherited("delay_loop", 60.0))
    retry: int = kw(Int(0, UINT_MAX), inherit=inherited("retry", 1))
    delay_before_retry: float = kw(Timer(0, TIMER_MAX_US), inherit=inherited("delay_before_retry", 1.0))
    warmup: float = kw(Timer(0, TIMER_MAX_US), inherit=_warmup_default)
    log_all_failures: bool = kw(Bool(), inherit=_log_all_failures_default)

    def complete(self, cx: Cx, scope: Scope) -> Self | None:
        # keepalived logs every failure when either the checker or global_defs asks for it.
        if not self.log_all_failures and _log_all_failures_default(scope):
            return self.replace(log_all_failures=True)
        return self


_CONNECTION_FIELDS = ("connect_ip", "connect_port", "bindto", "bind_port", "bind_if", "connect_timeout", "fwmark")


@dataclass(frozen=True, kw_only=True)
class Connection(Block):
    """Where a checker connects: the real server unless connect_ip/connect_port say otherwise."""

    connect_ip: IPAddress | None = kw(ServerIP())
    connect_port: int | None = kw(Int(1, 65535))
    bindto: IPAddress | None = kw(ServerIP())
    bind_port: int | None = kw(Int(1, 65535))
    bind_if: str | None = kw(InterfaceName())
    connect_timeout: float = kw(Timer(1, UINT_MAX), inherit=inherited("connect_timeout", 5.0))
    fwmark: int = kw(Int(0, UINT_MAX), default=0)  # SO_MARK of the checker's packets; 0: none

    def connection(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _CONNECTION_FIELDS}

    def checked_connection(self, cx: Cx, scope: Scope) -> Self | None:
        """keepalived's family checks of connect_ip/bindto and check_conn_opts(); None drops the checker."""
        checked = self
        destination = self.connect_ip if self.connect_ip is not None else real_server_address(scope)
        if self.bindto is not None and destination is not None and self.bindto.version != destination.version:
            connect_ip_later = (
                self.connect_ip is not None and self.where("connect_ip") > self.where("bindto")
            )
            if connect_ip_later:
                cx.error(self.where("connect_ip"),
                         f"connect_ip address {self.connect_ip} does not match address family of bindto - skipping")
                checked = checked.replace(connect_ip=None)
                destination = real_server_address(scope)
            else:
                cx.error(self.where("bindto"),
                         f"bindto address {self.bindto} does not match address family of "
                         f"{'connect_ip' if self.connect_ip else 'the real server'} - skipping")
                checked = checked.replace(bindto=None)
        if (
            isinstance(destination, ipaddress.IPv6Address)
            and destination.is_link_local
            and checked.bind_if is None
        ):
            cx.error(self.loc, f"Checker link local address {destination} requires a bind_if - "
                               f"{self.block_keyword} ignored")
            return None
        return checked

    def env_refs(self) -> Iterator[EnvRef]:
        if self.bind_if is not None:
            yield EnvRef("interface", self.bind_if, self.where("bind_if"), f"bind_if of {self.block_keyword}")


@dataclass(frozen=True, kw_only=True)
class ConnectionChecker(Connection, TimedChecker):
    """Checkers with both the connection and the timing options."""

    def complete(self, cx: Cx, scope: Scope) -> Self | None:
        timed = TimedChecker.complete(self, cx, scope)
        return None if timed is None else timed.checked_connection(cx, scope)


# ------------------------------------------------------------------ TCP, PING


@dataclass(frozen=True, kw_only=True)
class TcpCheck(ConnectionChecker):
    block_keyword = "TCP_CHECK"


@dataclass(frozen=True, kw_only=True)
class PingCheck(ConnectionChecker):
    block_keyword = "PING_CHECK"


# ------------------------------------------------------------------ UDP


def parse_hex(text: str, wildcard: bool) -> str | None:
    """keepalived's read_hex_str(): pairs of hex digits, a lone digit before a space or the end
    being a byte of its own ('Ab12f 3' is ab 12 0f 03). With `wildcard`, x/X matches any nibble.

    Returns the bytes as canonical lowercase hex without spaces, or None if the text is unusable.
    """
    digits = "0123456789abcdef" + ("x" if wildcard else "")
    out: list[str] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i] in " \t":
            i += 1
        if i >= n:
            break
        high = text[i].lower()
        i += 1
        if high not in digits:
            return None
        if i < n and text[i] != " ":
            low = text[i].lower()
            i += 1
            if low not in digits:
                return None
            out.append(high + low)
        else:
            out.append("0" + high)
    return "".join(out) if out else None


class HexPayload(Value[str]):
    """`payload HEX...`: the rest of the line, as keepalived joins it."""

    max_args = None

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> str:
        data = parse_hex(" ".join(args), wildcard=False)
        if data is None:
            raise ArgError("Invalid hex string for UDP_CHECK payload")
        return data

    def format(self, value: str) -> str:
        return value


class HexReply(Value[str]):
    """`require_reply [HEX...]`: "" requires a reply without checking its data."""

    min_args = 0
    max_args = None

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> str:
        if not args:
            return ""
        data = parse_hex(" ".join(args), wildcard=True)
        if data is None:
            # keepalived still requires a reply, without checking its contents.
            cx.error(stmt, "Invalid hex string for UDP_CHECK reply; a reply is required but not checked")
            return ""
        return data

    def format(self, value: str) -> str:
        return value


@dataclass(frozen=True, kw_only=True)
class UdpCheck(ConnectionChecker):
    block_keyword = "UDP_CHECK"

    payload: str | None = kw(HexPayload())  # None: a random payload
    require_reply: str | None = kw(HexReply())  # None: no reply needed; "": any reply
    min_reply_length: int = kw(Int(0, 65535), default=0)
    max_reply_length: int = kw(Int(0, 65535), default=255)

    def complete(self, cx: Cx, scope: Scope) -> Self | None:
        checked = super().complete(cx, scope)
        if checked is not None and checked.min_reply_length > checked.max_reply_length:
            cx.error(self.where("min_reply_length"),
                     f"UDP_CHECK min_reply length {checked.min_reply_length} > max_reply_length "
                     f"{checked.max_reply_length} - will always fail")
        return checked


# ------------------------------------------------------------------ DNS

DNS_TYPES = ("A", "NS", "CNAME", "SOA", "MX", "TXT", "AAAA", "RRSIG", "DNSKEY")


class DnsName(Value[str]):
    """A domain name without empty labels; "." (or "") is the root.

    keepalived 2.2.7 also rejects every name whose second character is a dot
    (`a.example.com`); that is a bug, not followed here.
    """

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> str:
        name = args[0]
        if name in ("", "."):
            return "."
        if name.startswith(".") or ".." in name:
            raise ArgError(f"DNS_CHECK name '{name}' has empty label")
        labels = name.rstrip(".").split(".")
        if any(len(label) > 63 for label in labels) or len(name) > 253:
            cx.warning(stmt, f"DNS_CHECK name '{name}' has a label over 63 characters or is over 253 characters; "
                             "the query will be malformed")
        return name

    def format(self, value: str) -> str:
        return quote(value)


@dataclass(frozen=True, kw_only=True)
class DnsCheck(ConnectionChecker):
    block_keyword = "DNS_CHECK"

    retry: int = kw(Int(0, UINT_MAX), inherit=inherited("retry", 3))
    delay_before_retry: float = kw(Timer(0, TIMER_MAX_US), inherit=_dns_delay_before_retry)
    type: str = kw(Choice(*DNS_TYPES, fold_case=True), default="SOA")
    name: str = kw(DnsName(), default=".", once=True)


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
                cx.error(stmt, f"Invalid HTTP_GET status code '{word}' (codes are {HTTP_STATUS_MIN}-"
                               f"{HTTP_STATUS_MAX}); ignored")
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
    "allow_empty_class", "alt_bsux", "auto_callout", "caseless", "dollar_endonly", "dotall", "dupnames",
    "extended", "firstline", "match_unset_backref", "multiline", "never_ucp", "never_utf", "no_auto_capture",
    "no_auto_possess", "no_dotstar_anchor", "no_start_optimize", "ucp", "ungreedy", "utf", "never_backslash_c",
    "alt_circumflex", "alt_verbnames", "use_offset_limit",
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
            options or url.regex_no_match or url.regex_min_offset or url.regex_max_offset is not None
            or url.regex_stack is not None
        ):
            cx.warning(self.loc, "regex parameters specified without regex; ignored")
            url = url.replace(regex_options=(), regex_no_match=False, regex_min_offset=0,
                              regex_max_offset=None, regex_stack=None)
        if url.regex_max_offset is not None and url.regex_min_offset > url.regex_max_offset:
            cx.warning(self.where("regex_min_offset"),
                       f"regex min offset {url.regex_min_offset} > regex_max_offset {url.regex_max_offset} - "
                       "both ignored")
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


# ------------------------------------------------------------------ SMTP

SMTP_DEFAULT_HELO = "smtpchecker.keepalived.org"
_TIMING_FIELDS = ("alpha", "delay_loop", "retry", "delay_before_retry", "warmup", "log_all_failures")


@dataclass(frozen=True, kw_only=True)
class SmtpHost(Connection):
    """The deprecated `host { }` of SMTP_CHECK: one more connection, checked like a separate checker.

    keepalived applies timing keywords written here to the whole SMTP_CHECK; they are
    collected here and moved to the checker when it completes.
    """

    block_keyword = "host"

    alpha: bool | None = kw(Bool())
    delay_loop: float | None = kw(Timer(1, TIMER_MAX_US))
    retry: int | None = kw(Int(0, UINT_MAX))
    delay_before_retry: float | None = kw(Timer(0, TIMER_MAX_US))
    warmup: float | None = kw(Timer(0, TIMER_MAX_US))
    log_all_failures: bool | None = kw(Bool())

    def complete(self, cx: Cx, scope: Scope) -> Self | None:
        return self.checked_connection(cx, scope)


@dataclass(frozen=True, kw_only=True)
class SmtpCheck(ConnectionChecker):
    """SMTP_CHECK. After completion `host` holds the extra connections, each of which the
    real server turns into an SMTP_CHECK of its own, as keepalived does."""

    block_keyword = "SMTP_CHECK"

    helo_name: str = kw(Str(), default=SMTP_DEFAULT_HELO)
    host: tuple[SmtpHost, ...] = blocks(
        SmtpHost, names=("host",), deprecated={"host": "define one SMTP_CHECK per connection instead"}
    )

    def complete(self, cx: Cx, scope: Scope) -> Self | None:
        checker = self._with_host_timings(scope)
        timed = TimedChecker.complete(checker, cx, scope)
        if timed is None:
            return None
        checker = timed
        extra = checker.host
        top_level = any(name in self.locs for name in _CONNECTION_FIELDS)
        if top_level or not extra:
            checked = checker.checked_connection(cx, scope)
            if checked is None:
                return None
            checker = checked
        else:
            # Without connection keywords of its own, the checker takes the first host's.
            checker = checker.replace(**extra[0].connection())
            extra = extra[1:]
        return checker.replace(host=tuple(h.replace(**dict.fromkeys(_TIMING_FIELDS)) for h in extra))

    def _with_host_timings(self, scope: Scope) -> Self:
        changes: dict[str, Any] = {}
        for name in _TIMING_FIELDS:
            written = [(self.where(name), getattr(self, name))] if name in self.locs else []
            written += [(h.where(name), getattr(h, name)) for h in self.host if getattr(h, name) is not None]
            if written:
                changes[name] = max(written, key=lambda item: item[0])[1]
        if "delay_loop" in changes and "warmup" not in changes and "warmup" not in self.locs:
            # The default warmup is the checker's delay_loop, which has just changed.
            changes["warmup"] = _warmup_default(Scope({"delay_loop": changes["delay_loop"]}, scope.parent, None))
        return self.replace(**changes)

    def split_hosts(self) -> tuple[SmtpCheck, ...]:
        """This checker and one more for each remaining host connection."""
        own = self.replace(host=())
        return (own, *(own.replace(**h.connection(), locs={**self.locs, **h.locs}) for h in self.host))


# ------------------------------------------------------------------ MISC


_SCRATCH = Cx(Diagnostics(), "")  # for re-reading a formatted command; it reports nothing


class MiscPath(ScriptValue):
    """`misc_path COMMAND...`; the user comes from MISC_CHECK's own `user` keyword."""

    def __init__(self) -> None:
        super().__init__(with_user=False)


    def format(self, value: Script) -> str:
        # `text` is the first word as written, or all the words when there were several:
        # write whichever reads back to the same command.
        for candidate in (quote(value.text), value.text, encode_command_word(value.text)):
            if not candidate.isprintable():
                continue  # a control character would break the line
            try:
                again = self.parse((), Stmt(("misc_path", candidate), NOWHERE, f"misc_path {candidate}"), _SCRATCH)
            except ArgError:
                continue
            if (again.text, again.argv) == (value.text, value.argv):
                return candidate
        return quote(value.text)


@dataclass(frozen=True, kw_only=True)
class MiscCheck(TimedChecker):
    block_keyword = "MISC_CHECK"

    retry: int = kw(Int(0, UINT_MAX), inherit=inherited("retry", 0))
    misc_path: Script | None = kw(MiscPath())
    misc_timeout: int = kw(Int(0, UINT_MAX // TIMER_HZ), default=0)  # seconds; 0: the virtual server's delay_loop
    misc_dynamic: bool = kw(Flag(accepts_bool=False), default=False)
    user: tuple[str, str | None] | None = kw(UserGroup())

    def complete(self, cx: Cx, scope: Scope) -> Self | None:
        if self.misc_path is None:
            cx.error(self.loc, "No script path has been specified for MISC_CHECKER - skipping")
            return None
        checker = super().complete(cx, scope)
        if checker is not None and self.user is not None:
            # The script runs as `user`; the script object says so, like other scripts' do.
            path = self.misc_path
            checker = checker.replace(misc_path=Script(path.text, path.argv, self.user[0], self.user[1]))
        return checker

    def env_refs(self) -> Iterator[EnvRef]:
        # Completion has put `user` into the script.
        if self.misc_path is not None:
            yield from script_env_refs(self.misc_path, self.where("misc_path"), "misc_path of MISC_CHECK")


# ------------------------------------------------------------------ FILE


class FileWeight(Value[Weight]):
    """`weight N [reverse|noreverse]`: the multiplier of the tracked file's value."""

    max_args = 2

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> Weight:
        try:
            value = parse_int(args[0], -INT_MAX, INT_MAX)
        except ArgError as exc:
            raise ArgError(f"{exc.message}; weight for track file must be in [{-INT_MAX}..{INT_MAX}]") from None
        reverse = False
        if len(args) > 1:
            if args[1] not in ("reverse", "noreverse"):
                raise ArgError(f"unknown track file weight option {args[1]}")
            reverse = args[1] == "reverse"
        return Weight(value, reverse)

    def format(self, value: Weight) -> str:
        return f"{value.value}{' reverse' if value.reverse else ''}"


@dataclass(frozen=True, kw_only=True)
class FileCheck(Checker):
    """FILE_CHECK: the real server's weight follows a track_file's value."""

    block_keyword = "FILE_CHECK"

    track_file: str | None = kw(Str())
    weight: Weight | None = kw(FileWeight())  # None until validation copies the track_file's own
    # Documented since 2.2.7 but only parsed by later releases; 2.2.x calls it an unknown keyword.
    dynamic: bool = kw(Flag(accepts_bool=False), default=False)

    def complete(self, cx: Cx, scope: Scope) -> Self | None:
        if self.track_file is None:
            cx.error(self.loc, "FILE_CHECK has no track_file specified - ignoring")
            return None
        if self.dynamic:
            cx.warning(self.where("dynamic"), "FILE_CHECK 'dynamic' is not known to keepalived 2.2 "
                                              "(an unknown keyword there)")
        return self


# ------------------------------------------------------------------ BFD


@dataclass(frozen=True, kw_only=True)
class BfdCheck(Checker):
    """BFD_CHECK: the real server follows a bfd_instance's state."""

    block_keyword = "BFD_CHECK"

    name: str | None = kw(OneWord("BFD_CHECK name"), once=True)
    alpha: bool = kw(Bool(), inherit=inherited("alpha", False))

    def complete(self, cx: Cx, scope: Scope) -> Self | None:
        if self.name is None:
            cx.error(self.loc, "No name has been specified for BFD_CHECKER - skipping")
            return None
        if len(self.name) >= BFD_NAME_MAX:
            cx.error(self.where("name"), f"BFD_CHECK - BFD name {self.name} too long (at most "
                                         f"{BFD_NAME_MAX - 1} characters) - skipping checker")
            return None
        return self


CHECKER_TYPES: Mapping[str, type[Checker]] = {
    cls.block_keyword: cls
    for cls in (TcpCheck, HttpGet, SslGet, SmtpCheck, MiscCheck, DnsCheck, PingCheck, UdpCheck, FileCheck, BfdCheck)
}
