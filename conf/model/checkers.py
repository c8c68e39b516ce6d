"""TCP_CHECK, PING_CHECK, UDP_CHECK and DNS_CHECK (keepalived/check/check_tcp.c, check_ping.c,
check_udp.c, check_dns.c, 2.2.7).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Self

from conf.model.checker_base import TIMER_MAX_US, UINT_MAX, ConnectionChecker, Timer, inherited
from conf.schema import ArgError, Cx, Scope, Value, kw
from conf.tree import Stmt
from conf.values import (
    Choice,
    Int,
    quote,
)

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
            cx.error(
                self.where("min_reply_length"),
                f"UDP_CHECK min_reply length {checked.min_reply_length} > max_reply_length "
                f"{checked.max_reply_length} - will always fail",
            )
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
            cx.warning(
                stmt,
                f"DNS_CHECK name '{name}' has a label over 63 characters or is over 253 characters; "
                "the query will be malformed",
            )
        return name

    def format(self, value: str) -> str:
        return quote(value)


def dns_delay_before_retry(scope: Scope) -> float:
    value = scope.parent.get("delay_before_retry") if scope.parent is not None else None
    return float(scope["delay_loop"]) if value is None else float(value)


@dataclass(frozen=True, kw_only=True)
class DnsCheck(ConnectionChecker):
    block_keyword = "DNS_CHECK"

    retry: int = kw(Int(0, UINT_MAX), inherit=inherited("retry", 3))
    delay_before_retry: float = kw(Timer(0, TIMER_MAX_US), inherit=dns_delay_before_retry)
    type: str = kw(Choice(*DNS_TYPES, fold_case=True), default="SOA")
    name: str = kw(DnsName(), default=".", once=True)
