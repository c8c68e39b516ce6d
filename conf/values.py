"""Argument parsers shared by every block: numbers, timers, booleans, addresses, scripts.

The messages follow keepalived's (`number '300' outside range [1, 255]`), and the
caller decides what an error means: normally the statement is ignored and the
default kept, which is what keepalived does.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from conf.lexer import LexError, split_command
from conf.schema import ArgError, Cx, Value
from conf.tree import Stmt

T = TypeVar("T")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface

TRUE_WORDS = ("on", "true", "yes")
FALSE_WORDS = ("off", "false", "no")

_C_INT = re.compile(r"[ \t]*[+-]?[0-9]+\Z")


def parse_int(text: str, low: int, high: int) -> int:
    """An integer in [low, high], reported the way keepalived reports it."""
    if not _C_INT.match(text):
        raise ArgError(f"invalid number '{text}'")
    if len(text.strip().lstrip("+-").lstrip("0")) > 30:
        # Far beyond any range, and too long for int() to convert.
        raise ArgError(f"number '{text[:30]}...' outside range [{low}, {high}]")
    value = int(text)
    if not low <= value <= high:
        raise ArgError(f"number '{text}' outside range [{low}, {high}]")
    return value


def parse_float(text: str, low: float, high: float) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ArgError(f"invalid number '{text}'") from None
    if math.isinf(value):
        raise ArgError(f"infinite number '{text}'")
    if math.isnan(value) or text.strip().lower().startswith(("nan", "+nan", "-nan", "inf", "+inf", "-inf")):
        raise ArgError(f"not a number '{text}'")
    if not low <= value <= high:
        raise ArgError(f"number '{text}' outside range [{_g(low)}, {_g(high)}]")
    return value


def _g(x: float) -> str:
    return f"{x:g}"


def parse_bool(text: str) -> bool:
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise ArgError(f"invalid boolean '{text}' (expected on|off|true|false|yes|no)")


def format_float(value: float) -> str:
    return f"{value:.6f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))


def quote(word: str) -> str:
    """A word as it must be written in a configuration file to read back unchanged.

    keepalived's words have no escapes: a word starting with `"` simply runs to
    the next `"`. So a word needing protection is wrapped in double quotes as it
    is; one that already holds a double quote cannot be protected and is left bare.
    """
    if word and not any(c in word for c in " \t\n\r\f\v{}#!'\""):
        return word
    return word if '"' in word else f'"{word}"'


class Int(Value[int]):
    def __init__(self, low: int, high: int) -> None:
        self.low = low
        self.high = high

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> int:
        return parse_int(args[0], self.low, self.high)

    def format(self, value: int) -> str:
        return str(value)


class AtLeastOne(Value[int]):
    """A count or whole seconds in [0, high] where keepalived turns 0 into 1, with an error
    (0 was accepted before keepalived 2.0.7)."""

    def __init__(self, high: int) -> None:
        self.high = high

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> int:
        value = parse_int(args[0], 0, self.high)
        if value == 0:
            cx.error(stmt, f"{stmt.keyword} must be greater than 0, setting to 1")
            return 1
        return value

    def format(self, value: int) -> str:
        return str(value)


class Float(Value[float]):
    """A number of seconds or similar; keepalived's timers have microsecond resolution."""

    def __init__(self, low: float, high: float) -> None:
        self.low = low
        self.high = high

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> float:
        return round(parse_float(args[0], self.low, self.high), 6)

    def format(self, value: float) -> str:
        return format_float(value)


class Str(Value[str]):
    """One word, taken as written."""

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> str:
        return args[0]

    def format(self, value: str) -> str:
        return quote(value)


class Text(Value[str]):
    """All the remaining words, joined by single spaces."""

    max_args = None

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> str:
        return " ".join(args)

    def format(self, value: str) -> str:
        return quote(value)


class Words(Value[tuple[str, ...]]):
    """All the remaining words as a tuple."""

    max_args = None

    def __init__(self, min_args: int = 1) -> None:
        self.min_args = min_args

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> tuple[str, ...]:
        return tuple(args)

    def format(self, value: tuple[str, ...]) -> str:
        return " ".join(quote(w) for w in value)


class Choice(Value[str]):
    """One word from a fixed set; `aliases` map other spellings onto a canonical one."""

    def __init__(self, *choices: str, aliases: Mapping[str, str] | None = None, fold_case: bool = False):
        self.choices = choices
        self.aliases = dict(aliases or {})
        self.fold_case = fold_case

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> str:
        word = args[0]
        key = word.upper() if self.fold_case else word
        for choice in self.choices:
            if key == (choice.upper() if self.fold_case else choice):
                return choice
        if key in self.aliases:
            return self.aliases[key]
        raise ArgError(f"invalid value '{word}' for {stmt.keyword} (expected {'|'.join(self.choices)})")

    def format(self, value: str) -> str:
        return value


class Flag(Value[bool]):
    """A keyword on its own means yes; some also accept on|off|true|false|yes|no."""

    min_args = 0
    max_args: int | None = 1

    def __init__(self, accepts_bool: bool = True, value: bool = True) -> None:
        self.max_args = 1 if accepts_bool else 0
        self.value = value

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> bool:
        if not args:
            return self.value
        return parse_bool(args[0]) == self.value

    def format(self, value: bool) -> str:
        return ""


class Bool(Value[bool]):
    """`keyword [<BOOL>]` where the keyword alone means true; the value is kept, not presence."""

    min_args = 0

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> bool:
        return parse_bool(args[0]) if args else True

    def format(self, value: bool) -> str:
        return "on" if value else "off"


class Const(Value[T], Generic[T]):
    """A keyword that sets a fixed value (e.g. `preempt` clears `nopreempt`)."""

    min_args = 0
    max_args = 0

    def __init__(self, value: T) -> None:
        self.value = value

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> T:
        return self.value

    def format(self, value: T) -> str:
        return ""


def parse_ip(text: str, what: str = "IP address") -> IPAddress:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise ArgError(f"invalid {what} '{text}'") from None


class IP(Value[IPAddress]):
    def __init__(self, family: int | None = None) -> None:
        self.family = family

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> IPAddress:
        address = parse_ip(args[0])
        if self.family is not None and address.version != self.family:
            raise ArgError(f"'{args[0]}' is not an IPv{self.family} address")
        return address

    def format(self, value: IPAddress) -> str:
        return str(value)


class Port(Value[int]):
    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> int:
        return parse_int(args[0], 0, 65535)

    def format(self, value: int) -> str:
        return str(value)


@dataclass(frozen=True)
class Script:
    """A command keepalived would run: its words after quote and escape processing.

    `text` is the command as written (quotes removed at the outer level), which is
    also what keepalived logs; `argv` is what gets executed.
    """

    text: str
    argv: tuple[str, ...]
    user: str | None = None
    group: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"command": self.text, "argv": list(self.argv), "user": self.user, "group": self.group}


class ScriptValue(Value[Script]):
    """`keyword COMMAND [username [groupname]]`; a command with spaces must be quoted."""

    max_args: int | None = 3

    def __init__(self, with_user: bool = True) -> None:
        self.with_user = with_user
        self.max_args = 3 if with_user else None

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> Script:
        if not self.with_user:
            # vrrp_script's `script` and MISC_CHECK's `misc_path` split the whole line with
            # quotes and escapes, then split their first word again: `script "/x a b"` and
            # `script /x a b` both run /x with arguments a and b.
            try:
                outer = split_command(stmt.raw_args)
                argv = tuple(split_command(outer[0]) + outer[1:]) if outer else ()
            except LexError as exc:
                raise ArgError(str(exc)) from None
            if not argv or not argv[0]:
                raise ArgError(f"{stmt.keyword}: empty command")
            text = outer[0] if len(outer) == 1 else " ".join(quote(w) if " " in w else w for w in outer)
            return Script(text=text, argv=argv)
        command = args[0]
        try:
            argv = tuple(split_command(command))
        except LexError as exc:
            raise ArgError(str(exc)) from None
        if not argv or not argv[0]:
            raise ArgError(f"{stmt.keyword}: empty command")
        user = args[1] if len(args) > 1 else None
        group = args[2] if len(args) > 2 else None
        return Script(text=command, argv=argv, user=user, group=group)

    def format(self, value: Script) -> str:
        return " ".join(quote(w) for w in (value.text, value.user, value.group if value.user else None) if w)


class UserGroup(Value[tuple[str, str | None]]):
    """`username [groupname]`."""

    max_args = 2

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> tuple[str, str | None]:
        return args[0], (args[1] if len(args) > 1 else None)

    def format(self, value: tuple[str, str | None]) -> str:
        return " ".join(quote(w) for w in value if w)


# keepalived's other number readers (lib/parser.c): C integer bases, fixed-point decimals.

_DECIMAL = re.compile(r"\+?([0-9]*)(?:\.([0-9]*))?\Z")
_C_UNSIGNED = re.compile(r"\+?(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)\Z")


def parse_c_unsigned(text: str, high: int) -> int | None:
    """A number the way strtoul(s, &end, 0) reads it (0x.. hex, 0.. octal), or None."""
    match = _C_UNSIGNED.match(text)
    if not match:
        return None
    body = match.group(1)
    if len(body) > 40:  # beyond any range here, and beyond what int() will convert
        return None
    if body[:2] in ("0x", "0X"):
        value = int(body, 16)
    elif body.startswith("0"):
        value = int(body, 8)
    else:
        value = int(body)
    return value if value <= high else None


def parse_decimal_units(text: str, digits: int, low: int, high: int, stmt: Stmt, cx: Cx) -> int:
    """keepalived's read_decimal_unsigned(): a value in units of 10**-digits.

    Too many decimal places is an error but the value is rounded and used, as
    keepalived does. Trailing garbage is rejected (keepalived 2.2.7 accepts `1.5x` as
    a wrongly scaled number in a normal run).
    """
    match = _DECIMAL.match(text)
    if not match or not (match.group(1) or match.group(2)):
        if text.startswith("-"):
            raise ArgError(f"negative number '{text}'")
        raise ArgError(f"invalid number '{text}'")
    whole, fraction = match.group(1) or "0", match.group(2) or ""
    if len(whole.lstrip("0")) > 30:  # far beyond any range, and beyond what int() will convert
        raise ArgError(f"number '{text[:40]}...' outside unsigned decimal range")
    round_up = False
    if len(fraction) > digits:
        round_up = fraction[digits] >= "5"
        fraction = fraction[:digits]
        cx.error(stmt, f"number '{text}' has too many decimal places; rounded")
    scale = int(10**digits)
    units = int(whole) * scale + int(fraction.ljust(digits, "0") or "0") + (1 if round_up else 0)
    if not low <= units <= high:
        raise ArgError(
            f"number '{text}' outside range [{format_units(low, digits, fixed=True)}, "
            f"{format_units(high, digits, fixed=True)}]"
        )
    return units


def format_units(units: int, digits: int, fixed: bool = False) -> str:
    whole, fraction = divmod(units, 10**digits)
    if digits == 0:
        return str(whole)
    text = f"{whole}.{fraction:0{digits}d}"
    return text if fixed else text.rstrip("0").rstrip(".")


class Decimal(Value[float]):
    """A decimal number with at most `digits` decimal places (keepalived's timers: 6)."""

    def __init__(self, low: float, high: float, digits: int = 6) -> None:
        self.digits = digits
        self.low = round(low * 10**digits)
        self.high = round(high * 10**digits)

    def parse(self, args: Sequence[str], stmt: Stmt, cx: Cx) -> float:
        units = parse_decimal_units(args[0], self.digits, self.low, self.high, stmt, cx)
        return round(units / int(10**self.digits), self.digits)

    def format(self, value: float) -> str:
        return format_units(round(value * 10**self.digits), self.digits)


def parse_ip_text(text: str) -> IPAddress | None:
    """An address as inet_pton() reads it: no scope id, no prefix."""
    if "%" in text or "/" in text:
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None
