"""Words shared by address, route and rule lines: /etc/iproute2 names, prefixes, a word cursor.

keepalived reads these lines with the helpers of keepalived/vrrp/vrrp_ip_rule_route_parser.c
and lib/rttables.c (2.2.7). Numbers given by name in /etc/iproute2 (tables, protocols,
scopes, realms, dsfield, groups) are kept as ints when numeric or built into keepalived,
and as the name otherwise: such a name belongs to the machine and is only looked up when
the configuration runs.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from conf.model.common import check_ifname
from conf.schema import ArgError, Cx
from conf.tree import Stmt
from conf.values import (
    IPAddress,
    IPInterface,
    IPNetwork,
    parse_c_unsigned,
    parse_int,
    parse_ip_text,
)

UINT32_MAX = 2**32 - 1
INT32_MAX = 2**31 - 1
UINT64_MAX = 2**64 - 1
INFINITY_LIFE_TIME = UINT32_MAX
RTPROT_KEEPALIVED = 18
IFNAMSIZ = 16

# ---------------------------------------------------------------------------------------------
# /etc/iproute2 names (lib/rttables.c): keepalived's built-in defaults


@dataclass(frozen=True)
class RtNames:
    """A name table: numbers (strtoul base 0) up to `high`, or names."""

    what: str
    file: str
    high: int
    builtin: dict[str, int]

    def parse(self, word: str, stmt: Stmt, cx: Cx) -> int | str | None:
        """The number, or the name if only the machine can resolve it; None if invalid."""
        number = parse_c_unsigned(word, self.high)
        if number is not None:
            return number
        if word in self.builtin:
            return self.builtin[word]
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", word):
            return None
        cx.warning(stmt, f"{self.what} '{word}' is not a built-in name; it must be defined in {self.file}")
        return word

    def format(self, value: int | str) -> str:
        if isinstance(value, str):
            return value
        for name, number in self.builtin.items():
            if number == value:
                return name
        return str(value)


RT_TABLES = RtNames("routing table", "/etc/iproute2/rt_tables", UINT32_MAX, {"default": 253, "main": 254, "local": 255})
RT_SCOPES = RtNames(
    "scope", "/etc/iproute2/rt_scopes", 255, {"global": 0, "nowhere": 255, "host": 254, "link": 253, "site": 200}
)
RT_PROTOS = RtNames(
    "protocol",
    "/etc/iproute2/rt_protos",
    255,
    {
        "none": 0,
        "redirect": 1,
        "kernel": 2,
        "boot": 3,
        "static": 4,
        "gated": 8,
        "ra": 9,
        "mrt": 10,
        "zebra": 11,
        "bird": 12,
        "dnrouted": 13,
        "xorp": 14,
        "ntk": 15,
        "dhcp": 16,
        # RTPROT_KEEPALIVED: not built into keepalived 2.2.7, but in every current rt_protos.
        "keepalived": RTPROT_KEEPALIVED,
        "babel": 42,
    },
)
RT_DSFIELD = RtNames("dsfield", "/etc/iproute2/rt_dsfield", 255, {})
RT_REALMS = RtNames("realm", "/etc/iproute2/rt_realms", 255, {})
RT_GROUPS = RtNames("interface group", "/etc/iproute2/group", INT32_MAX, {})

# Route types (rtntypes in lib/rttables.c); a number 0-255 is also a type.
ROUTE_TYPES = {
    "unicast": 1,
    "local": 2,
    "broadcast": 3,
    "brd": 3,
    "anycast": 4,
    "multicast": 5,
    "blackhole": 6,
    "unreachable": 7,
    "prohibit": 8,
    "throw": 9,
    "nat": 10,
    "xresolve": 11,
}
RTN_UNICAST = 1
ROUTE_TYPE_NAMES = {number: name for name, number in ROUTE_TYPES.items() if name != "brd"}

# IP protocols for `ipproto` that getprotobyname() knows on any Linux system (/etc/protocols).
IP_PROTOCOLS = {
    "ip": 0,
    "icmp": 1,
    "igmp": 2,
    "ipip": 4,
    "tcp": 6,
    "egp": 8,
    "udp": 17,
    "ipv6": 41,
    "gre": 47,
    "esp": 50,
    "ah": 51,
    "ipv6-icmp": 58,
    "ospf": 89,
    "pim": 103,
    "vrrp": 112,
    "l2tp": 115,
    "sctp": 132,
    "udplite": 136,
    "mpls-in-ip": 137,
}

# ---------------------------------------------------------------------------------------------
# Shared pieces


def host_prefix(version: int) -> int:
    return 32 if version == 4 else 128


def network_of(address: IPAddress, prefix: int) -> IPNetwork:
    return ipaddress.ip_network(f"{address}/{prefix}", strict=False)


def interface_of(address: IPAddress, prefix: int) -> IPInterface:
    return ipaddress.ip_interface(f"{address}/{prefix}")


def family_default(version: int) -> IPNetwork:
    return ipaddress.ip_network("0.0.0.0/0" if version == 4 else "::/0")


class Cursor:
    """Walks the words of one line; a missing option argument makes the line unusable."""

    def __init__(self, stmt: Stmt, start: int = 0) -> None:
        self.words = stmt.words
        self.i = start

    def more(self) -> bool:
        return self.i < len(self.words)

    def peek(self) -> str | None:
        return self.words[self.i] if self.i < len(self.words) else None

    def take(self) -> str:
        word = self.words[self.i]
        self.i += 1
        return word

    def arg(self, option: str) -> str:
        if self.i >= len(self.words):
            raise ArgError(f"'{option}' is missing its argument")
        return self.take()

    def rest(self) -> tuple[str, ...]:
        return self.words[self.i :]


def read_uint(word: str, high: int, message: str) -> int:
    """keepalived's get_u8/u16/u32(): base 10, [0, high]."""
    try:
        return parse_int(word, 0, high)
    except ArgError as exc:
        raise ArgError(f"{message}: {exc.message}") from None


def read_ifname(name: str, what: str) -> str:
    try:
        return check_ifname(name)
    except ArgError:
        # keepalived looks the name up, and an invalid name never exists.
        raise ArgError(f"interface {name} for {what} doesn't exist (invalid name)") from None


def prefix_or_special(word: str, stmt: Stmt, cx: Cx) -> tuple[IPNetwork | None, int | None] | None:
    """keepalived's parse_route(): `default|any|all` (family open), or ADDR[/PLEN]; None if invalid.

    Returns (network, version): network is None for the family-less specials.
    """
    if word in ("default", "any", "all"):
        return None, None
    if word == "default6":
        # Only logged by keepalived.
        cx.warning(stmt, "'default6' is deprecated - please replace with 'inet6 default'")
        return None, 6
    address_text, _, prefix_text = word.partition("/")
    address = parse_ip_text(address_text)
    if address is None or ("/" in word and not re.fullmatch(r"[0-9]{1,3}", prefix_text)):
        return None
    prefix = int(prefix_text) if "/" in word else host_prefix(address.version)
    if prefix > host_prefix(address.version):
        return None
    return network_of(address, prefix), address.version


def read_realms(word: str, stmt: Stmt, cx: Cx) -> str | None:
    """`[FROM/]TO`, each a number 0-255 or a name from rt_realms; normalised text, None if invalid."""
    parts = word.split("/")
    if len(parts) > 2 or not all(parts):
        return None
    values = [RT_REALMS.parse(part, stmt, cx) for part in parts]
    if any(value is None for value in values):
        return None
    return "/".join(str(value) for value in values)


def dropping(what: str, parse: Callable[[], Any]) -> Any:
    """Run a line parser; an ArgError drops the whole line, and the message says so."""
    try:
        return parse()
    except ArgError as exc:
        raise ArgError(f"{exc.message}; {what} ignored", exc.severity) from None


def set_family(values: dict[str, Any], version: int, message: str) -> None:
    current = values.get("family")
    if current is None:
        values["family"] = version
    elif current != version:
        raise ArgError(message)


def route_type_number(word: str) -> int | None:
    """A route type by name (unicast, blackhole, ...) or number."""
    if word in ROUTE_TYPES:
        return ROUTE_TYPES[word]
    return parse_c_unsigned(word, 255)
