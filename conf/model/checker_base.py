"""What every checker shares: argument readers, inheritance from the real server, the common
connection and timing options (keepalived/check/check_api.c, 2.2.7).
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Self

from conf.diagnostics import Loc
from conf.model.common import EnvRef
from conf.schema import ArgError, Block, Cx, Inherit, Scope, Value, internal, kw
from conf.tree import Stmt
from conf.values import (
    Bool,
    Int,
    IPAddress,
    Script,
    format_float,
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
        address: IPAddress = ipaddress.IPv6Address(bare) if ":" in text else ipaddress.IPv4Address(bare)
    except ValueError:
        raise ArgError(f"invalid IP address '{text}'") from None
    return address, suffix


def read_server_ip(text: str, stmt: Stmt, cx: Cx) -> IPAddress:
    address, suffix = parse_server_ip(text)
    if suffix:
        cx.warning(
            stmt, f"'{suffix}' after address {address} is ignored (ranges and masks only apply in virtual_server_group)"
        )
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


def _log_all_failures_default(scope: Scope) -> bool:
    return bool(scope.globals.checker_log_all_failures)


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
            connect_ip_later = self.connect_ip is not None and self.where("connect_ip") > self.where("bindto")
            if connect_ip_later:
                cx.error(
                    self.where("connect_ip"),
                    f"connect_ip address {self.connect_ip} does not match address family of bindto - skipping",
                )
                checked = checked.replace(connect_ip=None)
                destination = real_server_address(scope)
            else:
                cx.error(
                    self.where("bindto"),
                    f"bindto address {self.bindto} does not match address family of "
                    f"{'connect_ip' if self.connect_ip else 'the real server'} - skipping",
                )
                checked = checked.replace(bindto=None)
        if isinstance(destination, ipaddress.IPv6Address) and destination.is_link_local and checked.bind_if is None:
            cx.error(
                self.loc, f"Checker link local address {destination} requires a bind_if - {self.block_keyword} ignored"
            )
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
