"""Address, route and rule lines: static_ipaddress / static_routes / static_rules, and the
virtual_ipaddress / virtual_ipaddress_excluded / virtual_routes / virtual_rules blocks of a
vrrp_instance, which use the same grammar.

The grammar, checks and messages follow keepalived/vrrp/vrrp_ipaddress.c (alloc_ipaddress),
vrrp_iproute.c (alloc_route), vrrp_iprule.c (alloc_rule) and vrrp_ip_rule_route_parser.c
(2.2.7). Differences, where 2.2.7 has an obvious bug, are listed in docs/compatibility.md.

Numbers given by name in /etc/iproute2 (tables, protocols, scopes, realms, dsfield, groups)
are kept as ints when numeric or built into keepalived, and as the name otherwise: such a
name belongs to the machine and is only looked up when the configuration runs.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from conf.diagnostics import Loc
from conf.model.common import EnvRef, check_ifname
from conf.schema import NOWHERE, ArgError, Cx
from conf.tree import Stmt
from conf.values import (
    IPAddress,
    IPInterface,
    IPNetwork,
    parse_c_unsigned,
    parse_decimal_units,
    parse_int,
    parse_ip_text,
    quote,
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
        "none": 0, "redirect": 1, "kernel": 2, "boot": 3, "static": 4, "gated": 8, "ra": 9, "mrt": 10,
        "zebra": 11, "bird": 12, "dnrouted": 13, "xorp": 14, "ntk": 15, "dhcp": 16,
        # RTPROT_KEEPALIVED: not built into keepalived 2.2.7, but in every current rt_protos.
        "keepalived": RTPROT_KEEPALIVED, "babel": 42,
    },
)
RT_DSFIELD = RtNames("dsfield", "/etc/iproute2/rt_dsfield", 255, {})
RT_REALMS = RtNames("realm", "/etc/iproute2/rt_realms", 255, {})
RT_GROUPS = RtNames("interface group", "/etc/iproute2/group", INT32_MAX, {})

# Route types (rtntypes in lib/rttables.c); a number 0-255 is also a type.
ROUTE_TYPES = {
    "unicast": 1, "local": 2, "broadcast": 3, "brd": 3, "anycast": 4, "multicast": 5, "blackhole": 6,
    "unreachable": 7, "prohibit": 8, "throw": 9, "nat": 10, "xresolve": 11,
}
RTN_UNICAST = 1
ROUTE_TYPE_NAMES = {number: name for name, number in ROUTE_TYPES.items() if name != "brd"}

# IP protocols for `ipproto` that getprotobyname() knows on any Linux system (/etc/protocols).
IP_PROTOCOLS = {
    "ip": 0, "icmp": 1, "igmp": 2, "ipip": 4, "tcp": 6, "egp": 8, "udp": 17, "ipv6": 41, "gre": 47,
    "esp": 50, "ah": 51, "ipv6-icmp": 58, "ospf": 89, "pim": 103, "vrrp": 112, "l2tp": 115, "sctp": 132,
    "udplite": 136, "mpls-in-ip": 137,
}

# ---------------------------------------------------------------------------------------------
# Shared pieces


def _host_prefix(version: int) -> int:
    return 32 if version == 4 else 128


def _network(address: IPAddress, prefix: int) -> IPNetwork:
    return ipaddress.ip_network(f"{address}/{prefix}", strict=False)


def _interface(address: IPAddress, prefix: int) -> IPInterface:
    return ipaddress.ip_interface(f"{address}/{prefix}")


def _family_default(version: int) -> IPNetwork:
    return ipaddress.ip_network("0.0.0.0/0" if version == 4 else "::/0")


class _Cursor:
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


def _uint(word: str, high: int, message: str) -> int:
    """keepalived's get_u8/u16/u32(): base 10, [0, high]."""
    try:
        return parse_int(word, 0, high)
    except ArgError as exc:
        raise ArgError(f"{message}: {exc.message}") from None


def _ifname(name: str, what: str) -> str:
    try:
        return check_ifname(name)
    except ArgError:
        # keepalived looks the name up, and an invalid name never exists.
        raise ArgError(f"interface {name} for {what} doesn't exist (invalid name)") from None


def _prefix_or_special(word: str, stmt: Stmt, cx: Cx) -> tuple[IPNetwork | None, int | None] | None:
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
    prefix = int(prefix_text) if "/" in word else _host_prefix(address.version)
    if prefix > _host_prefix(address.version):
        return None
    return _network(address, prefix), address.version


def _realms(word: str, stmt: Stmt, cx: Cx) -> str | None:
    """`[FROM/]TO`, each a number 0-255 or a name from rt_realms; normalised text, None if invalid."""
    parts = word.split("/")
    if len(parts) > 2 or not all(parts):
        return None
    values = [RT_REALMS.parse(part, stmt, cx) for part in parts]
    if any(value is None for value in values):
        return None
    return "/".join(str(value) for value in values)


# ---------------------------------------------------------------------------------------------
# Addresses


@dataclass(frozen=True)
class AddressEntry:
    """One line of an address block: `ADDR[/PLEN] [dev IF] [scope S] [brd B] [label L] [peer P] ...`."""

    address: IPInterface
    dev: str | None = None
    scope: int | str = 0
    broadcast: ipaddress.IPv4Address | None = None
    label: str | None = None
    peer: IPAddress | None = None
    home: bool = False
    nodad: bool = False
    mngtmpaddr: bool = False
    noprefixroute: bool = False
    autojoin: bool = False
    no_track: bool = False
    # None: not given (IPv4). IPv6 addresses get keepalived's default: 0 for a /128, forever otherwise.
    preferred_lft: int | None = None
    loc: Loc = field(default=NOWHERE, compare=False)

    def env_refs(self) -> Iterator[EnvRef]:
        if self.dev is not None:
            yield EnvRef("interface", self.dev, self.loc, f"device of address {self.address}")


@dataclass(frozen=True)
class StaticAddress(AddressEntry):
    """A static_ipaddress line; `dev` is filled from default_interface when the file is complete."""

    track_group: str | None = None


@dataclass(frozen=True)
class VirtualAddress(AddressEntry):
    """A virtual_ipaddress(_excluded) line; with no `dev` the instance's interface is used."""

    use_vmac: bool = False


_ADDRESS_OPTIONS_WITH_ARG = ("dev", "scope", "broadcast", "brd", "label", "peer", "preferred_lft", "track_group")
_ADDRESS_FLAGS = {"home": "home", "-nodad": "nodad", "mngtmpaddr": "mngtmpaddr", "noprefixroute": "noprefixroute",
                  "autojoin": "autojoin", "no_track": "no_track"}


def _parse_address_word(word: str, stmt: Stmt, cx: Cx) -> IPInterface:
    """ADDR[/PLEN]; the family is IPv6 if the word has a ':' (as in keepalived)."""
    address_text, slash, prefix_text = word.partition("/")
    address = parse_ip_text(address_text)
    if address is None:
        raise ArgError(f"invalid IP address {word}")
    host = _host_prefix(address.version)
    prefix = host
    if slash:
        try:
            prefix = parse_int(prefix_text, 0, host)
        except ArgError:
            cx.error(stmt, f"invalid address prefix len {prefix_text} for address {word} - using {host}")
    return _interface(address, prefix)


def _parse_address(stmt: Stmt, cx: Cx, static: bool) -> StaticAddress | VirtualAddress:
    words = _Cursor(stmt)
    first = words.take()
    interface = _parse_address_word(first, stmt, cx)
    version = interface.version
    values: dict[str, Any] = {}
    broadcast_word: str | None = None
    while words.more():
        option = words.take()
        if option in _ADDRESS_OPTIONS_WITH_ARG and not (option == "track_group" and not static):
            if not words.more():
                raise ArgError(f"no {option} parameter specified for {first}")
            argument = words.take()
            if option == "track_group" and "track_group" in values:
                cx.error(stmt, f"track_group {argument} is a duplicate; rest of the line ignored")
                break
            _address_option(option, argument, first, version, values, stmt, cx)
            if option in ("broadcast", "brd"):
                broadcast_word = argument
        elif option in _ADDRESS_FLAGS:
            values[_ADDRESS_FLAGS[option]] = True
        elif option == "use_vmac" and not static:
            values["use_vmac"] = True
        else:
            cx.error(stmt, f"unknown configuration entry '{option}' for ip address - ignoring")
    peer: IPAddress | None = values.get("peer")
    if peer is not None:
        if interface.network.prefixlen != _host_prefix(version):
            cx.error(stmt, "cannot specify address prefix when specifying peer address - ignoring")
        interface = _interface(interface.ip, _host_prefix(version))
    if broadcast_word is not None:
        values["broadcast"] = _broadcast(broadcast_word, interface, peer, stmt, cx)
    if version == 6:
        if values.get("scope", 0) != 0:
            cx.error(stmt, f"cannot specify scope for IPv6 addresses ({first}) - ignoring scope")
            values.pop("scope")
        if "label" in values:
            cx.error(stmt, f"cannot specify label for IPv6 addresses ({first}) - ignoring label")
            values.pop("label")
        if "preferred_lft" not in values:
            values["preferred_lft"] = 0 if interface.network.prefixlen == 128 else INFINITY_LIFE_TIME
    cls = StaticAddress if static else VirtualAddress
    return cls(address=interface, loc=stmt.loc, **values)


def _address_option(
    option: str, argument: str, first: str, version: int, values: dict[str, Any], stmt: Stmt, cx: Cx
) -> None:
    if option == "dev":
        if "dev" in values:
            raise ArgError(f"cannot specify ipaddress device more than once for {first}")
        values["dev"] = _ifname(argument, f"ip address {first}")
    elif option == "scope":
        scope = RT_SCOPES.parse(argument, stmt, cx)
        if scope is None:
            cx.error(stmt, f"invalid scope '{argument}' specified for {first} - ignoring")
        else:
            values["scope"] = scope
    elif option in ("broadcast", "brd"):
        if version == 6:
            raise ArgError(f"cannot assign a broadcast address to the IPv6 address {first}")
        if argument not in ("+", "-"):
            broadcast = parse_ip_text(argument)
            if broadcast is None or broadcast.version != 4:
                raise ArgError(f"invalid broadcast {argument} for {first}")
    elif option == "label":
        if len(argument.encode("utf-8", "surrogateescape")) >= IFNAMSIZ:
            raise ArgError(f"address label {argument} is longer than maximum length {IFNAMSIZ - 1}")
        values["label"] = argument
    elif option == "peer":
        if "peer" in values:
            cx.error(stmt, f"peer {argument} - another peer has already been specified; ignored")
            return
        peer = parse_ip_text(argument)
        if peer is None:
            cx.error(stmt, f"invalid peer address {argument}; ignored")
        elif peer.version != version:
            cx.error(stmt, f"peer address {argument} does not match address family; ignored")
        else:
            values["peer"] = peer
    elif option == "preferred_lft":
        if argument == "forever":
            values["preferred_lft"] = INFINITY_LIFE_TIME
        else:
            try:
                values["preferred_lft"] = parse_int(argument, 0, UINT32_MAX)
            except ArgError as exc:
                cx.error(stmt, f"preferred_lft {argument} is invalid ({exc.message}); ignored")
    elif option == "track_group":
        values["track_group"] = argument


def _broadcast(
    word: str, interface: IPInterface, peer: IPAddress | None, stmt: Stmt, cx: Cx
) -> ipaddress.IPv4Address | None:
    if peer is not None:
        cx.error(stmt, "cannot specify broadcast and peer addresses - ignoring broadcast address")
        return None
    if word not in ("+", "-"):
        address = parse_ip_text(word)
        assert isinstance(address, ipaddress.IPv4Address)
        return address
    prefix = interface.network.prefixlen
    if prefix > 30:
        cx.error(stmt, f"address prefix length {prefix} too long for broadcast")
        return None
    network = interface.network
    result = network.broadcast_address if word == "+" else network.network_address
    assert isinstance(result, ipaddress.IPv4Address)
    return result


def _dropping(what: str, parse: Callable[[], Any]) -> Any:
    """Run a line parser; an ArgError drops the whole line, and the message says so."""
    try:
        return parse()
    except ArgError as exc:
        raise ArgError(f"{exc.message}; {what} ignored", exc.severity) from None


def parse_static_address(stmt: Stmt, cx: Cx) -> StaticAddress:
    entry = _dropping("address", lambda: _parse_address(stmt, cx, static=True))
    assert isinstance(entry, StaticAddress)
    return entry


def parse_virtual_address(stmt: Stmt, cx: Cx) -> VirtualAddress:
    entry = _dropping("address", lambda: _parse_address(stmt, cx, static=False))
    assert isinstance(entry, VirtualAddress)
    return entry


def format_address(entry: AddressEntry) -> str:
    words = [str(entry.address)]
    if entry.dev is not None:
        words += ["dev", entry.dev]
    if entry.scope != 0:
        words += ["scope", RT_SCOPES.format(entry.scope)]
    if entry.broadcast is not None:
        words += ["brd", str(entry.broadcast)]
    if entry.label is not None:
        words += ["label", quote(entry.label)]
    if entry.peer is not None:
        words += ["peer", str(entry.peer)]
    for option, name in _ADDRESS_FLAGS.items():
        if getattr(entry, name):
            words.append(option)
    if entry.preferred_lft is not None:
        words += ["preferred_lft", "forever" if entry.preferred_lft == INFINITY_LIFE_TIME else str(entry.preferred_lft)]
    if isinstance(entry, StaticAddress) and entry.track_group is not None:
        words += ["track_group", quote(entry.track_group)]
    if isinstance(entry, VirtualAddress) and entry.use_vmac:
        words.append("use_vmac")
    return " ".join(words)


# ---------------------------------------------------------------------------------------------
# Route encapsulation and nexthops


@dataclass(frozen=True)
class Encap:
    """`encap ip|ip6 {id|dst|src|tos/tc|ttl/hoplimit|flags} ...`, `encap mpls L[/L]`, `encap ila LOCATOR`."""

    type: str
    id: int | None = None
    dst: IPAddress | None = None
    src: IPAddress | None = None
    tos: int | str | None = None  # `tc` for ip6
    ttl: int | None = None  # `hoplimit` for ip6
    flags: int | None = None
    labels: tuple[int, ...] = ()
    locator: str | None = None


MAX_MPLS_LABELS = 2
MPLS_LABEL_LIMIT = 1 << 20


def _parse_encap(words: _Cursor, stmt: Stmt, cx: Cx) -> Encap | None:
    """After `encap`; an error drops the encapsulation but keeps the route, as keepalived does."""
    if not words.more():
        cx.error(stmt, "missing encap type")
        return None
    kind = words.take()
    try:
        if kind in ("ip", "ip6"):
            return _parse_encap_ip(kind, words, stmt, cx)
        if kind == "mpls":
            return Encap("mpls", labels=_mpls_labels(words.arg("encap mpls")))
        if kind == "ila":
            return Encap("ila", locator=_ila_locator(words.arg("encap ila")))
    except ArgError as exc:
        cx.error(stmt, f"{exc.message}; encap ignored")
        return None
    cx.error(stmt, f"unknown encap type - {kind}")
    return None


def _parse_encap_ip(kind: str, words: _Cursor, stmt: Stmt, cx: Cx) -> Encap:
    version = 4 if kind == "ip" else 6
    tos_key, ttl_key = ("tos", "ttl") if kind == "ip" else ("tc", "hoplimit")
    values: dict[str, Any] = {}
    error: str | None = None
    # Pairs of `key value`; the first word that is not a key ends the encapsulation.
    while words.i + 1 < len(words.words) and words.peek() in ("id", "dst", "src", tos_key, ttl_key, "flags"):
        key = words.take()
        value = words.take()
        try:
            if key == "id":
                values["id"] = _uint(value, UINT64_MAX, f"encap id {value} value is invalid")
            elif key in ("dst", "src"):
                address = parse_ip_text(value)
                if address is None:
                    raise ArgError(f"invalid encap {kind} {key} {value}")
                if address.version != version:
                    raise ArgError(f"IPv{address.version} address {value} not valid for {kind} encapsulation")
                values[key] = address
            elif key == tos_key:
                tos = RT_DSFIELD.parse(value, stmt, cx)
                if tos is None:
                    raise ArgError(f"{tos_key} {value} is not valid for {kind} encapsulation")
                values["tos"] = tos
            elif key == ttl_key:
                values["ttl"] = _uint(value, 255, f"{ttl_key} {value} is not valid for {kind} encapsulation")
            else:
                values["flags"] = _uint(value, 0xFFFF, f"flags {value} is not valid for {kind} encapsulation")
        except ArgError as exc:
            error = error or exc.message
    if error is not None:
        raise ArgError(error)
    if "dst" not in values and "id" not in values:
        raise ArgError(f"address or id missing for {kind} encapsulation")
    return Encap(kind, **values)


def _mpls_labels(word: str) -> tuple[int, ...]:
    parts = word.split("/")
    labels = [parse_c_unsigned(part, MPLS_LABEL_LIMIT - 1) for part in parts]
    if len(parts) > MAX_MPLS_LABELS or any(label is None for label in labels):
        raise ArgError(f"invalid mpls address {word} for encapsulation")
    return tuple(label for label in labels if label is not None)


def _ila_locator(word: str) -> str:
    parts = word.split(":")
    if len(parts) != 4 or not all(re.fullmatch(r"[0-9a-fA-F]{1,4}", part) for part in parts):
        raise ArgError(f"invalid locator {word} for ila encapsulation")
    return ":".join(f"{int(part, 16):x}" for part in parts)


def _format_encap(encap: Encap) -> str:
    words = ["encap", encap.type]
    if encap.type == "mpls":
        words.append("/".join(str(label) for label in encap.labels))
    elif encap.type == "ila":
        words.append(encap.locator or "")
    else:
        tos_key, ttl_key = ("tos", "ttl") if encap.type == "ip" else ("tc", "hoplimit")
        pairs = (("id", encap.id), ("dst", encap.dst), ("src", encap.src), (tos_key, encap.tos),
                 (ttl_key, encap.ttl), ("flags", encap.flags))
        for key, value in pairs:
            if value is not None:
                words += [key, RT_DSFIELD.format(value) if key == tos_key else str(value)]  # type: ignore[arg-type]
    return " ".join(words)


@dataclass(frozen=True)
class Nexthop:
    """One `nexthop via ADDR dev IF weight N onlink ...` of a multipath route."""

    via: IPAddress | None = None
    dev: str | None = None
    weight: int | None = None  # 1-256
    onlink: bool = False
    encap: Encap | None = None
    realms: str | None = None


def _parse_nexthops(words: _Cursor, route: dict[str, Any], stmt: Stmt, cx: Cx) -> tuple[Nexthop, ...]:
    """`nexthop ...` repeated. A bad nexthop is dropped with the ones after it (as keepalived does)."""
    hops: list[Nexthop] = []
    while words.peek() == "nexthop":
        words.take()
        try:
            hops.append(_parse_nexthop(words, route, stmt, cx))
        except ArgError as exc:
            cx.error(stmt, f"{exc.message}; this nexthop and the following ones are ignored")
            return tuple(hops)
    if words.more():
        cx.error(stmt, f"route has trailing nonsense after nexthops - {' '.join(words.rest())}; ignored")
    return tuple(hops)


def _parse_nexthop(words: _Cursor, route: dict[str, Any], stmt: Stmt, cx: Cx) -> Nexthop:
    values: dict[str, Any] = {}
    while words.more():
        option = words.peek()
        if option == "via":
            words.take()
            target = words.arg("via")
            forced: int | None = None
            if target in ("inet", "inet6"):
                forced = 4 if target == "inet" else 6
                target = words.arg(f"via {target}")
                _set_family(route, forced, "IPv4/6 mismatch for nexthop")
            address = parse_ip_text(target)
            if address is None:
                raise ArgError(f"invalid nexthop address {target}")
            _set_family(route, address.version, "address family mismatch for next hop")
            values["via"] = address
        elif option == "dev":
            words.take()
            values["dev"] = _ifname(words.arg("dev"), "VROUTE nexthop")
        elif option == "weight":
            words.take()
            weight = _uint(words.arg("weight"), 256, "invalid weight specified for route")
            if weight == 0:
                raise ArgError("invalid weight 0 specified for route")
            values["weight"] = weight
        elif option == "onlink":
            words.take()
            values["onlink"] = True
        elif option == "encap":
            words.take()
            values["encap"] = _parse_encap(words, stmt, cx)
        elif option == "realms":
            words.take()
            argument = words.arg("realms")
            realms = _realms(argument, stmt, cx)
            if realms is None:
                raise ArgError(f"invalid realms {argument} for route")
            _set_family(route, 4, "realms are only supported for IPv4")
            values["realms"] = realms
        elif option == "as":
            words.take()
            if words.peek() == "to":
                words.take()
            words.arg("as")
            raise ArgError("'as [to]' (nat) not supported")
        else:
            break
    return Nexthop(**values)


def _format_nexthop(hop: Nexthop) -> str:
    words = ["nexthop"]
    if hop.via is not None:
        words += ["via", str(hop.via)]
    if hop.dev is not None:
        words += ["dev", hop.dev]
    if hop.weight is not None:
        words += ["weight", str(hop.weight)]
    if hop.onlink:
        words.append("onlink")
    if hop.encap is not None:
        words.append(_format_encap(hop.encap))
    if hop.realms is not None:
        words += ["realms", hop.realms]
    return " ".join(words)


def _set_family(values: dict[str, Any], version: int, message: str) -> None:
    current = values.get("family")
    if current is None:
        values["family"] = version
    elif current != version:
        raise ArgError(message)


# ---------------------------------------------------------------------------------------------
# Routes


@dataclass(frozen=True)
class RouteEntry:
    """One line of static_routes / virtual_routes, in `ip route` syntax."""

    destination: IPNetwork
    family: int = 4  # 4 or 6
    type: int = RTN_UNICAST
    src: IPAddress | None = None  # preferred source address
    via: IPAddress | None = None
    from_address: IPNetwork | None = None  # `from`: IPv6 source routing
    tos: int | str | None = None
    table: int | str = 254  # main
    protocol: int | str | None = None  # tracked routes always get RTPROT_KEEPALIVED (18)
    scope: int | str | None = None
    metric: int | None = None
    dev: str | None = None
    onlink: bool = False
    encap: Encap | None = None
    expires: int | None = None
    mtu: int | None = None
    advmss: int | None = None
    reordering: int | None = None
    window: int | None = None
    cwnd: int | None = None
    ssthresh: int | None = None
    initcwnd: int | None = None
    initrwnd: int | None = None
    hoplimit: int | None = None
    rtt: int | None = None  # kernel units: 1/8 ms
    rttvar: int | None = None  # 1/4 ms
    rto_min: int | None = None  # ms
    realms: str | None = None
    features: tuple[str, ...] = ()
    quickack: int | None = None
    congctl: str | None = None
    pref: int | None = None  # ICMPv6 router preference: 0 medium, 1 high, 3 low
    ttl_propagate: bool | None = None
    fastopen_no_cookie: int | None = None
    locked: frozenset[str] = frozenset()  # metrics given with `lock`
    mode: str = "prepend"  # add | prepend | append
    nexthops: tuple[Nexthop, ...] = ()
    no_track: bool = False
    track_group: str | None = None  # static routes only
    vrf: str | None = None
    loc: Loc = field(default=NOWHERE, compare=False)

    def env_refs(self) -> Iterator[EnvRef]:
        what = f"route to {self.destination}"
        if self.dev is not None:
            yield EnvRef("interface", self.dev, self.loc, f"device of {what}")
        for hop in self.nexthops:
            if hop.dev is not None:
                yield EnvRef("interface", hop.dev, self.loc, f"nexthop device of {what}")
        if self.vrf is not None:
            yield EnvRef("interface", self.vrf, self.loc, f"VRF of {what}")


_LOCKABLE = ("mtu", "advmss", "reordering", "cwnd", "ssthresh", "rtt", "rttvar", "rto_min", "congctl")
_U32_METRICS = {
    "mtu": "invalid MTU {} specified for route",
    "advmss": "invalid advmss {} specified for route",
    "reordering": "invalid reordering value {} specified for route",
    "window": "invalid window value {} specified for route",
    "cwnd": "invalid cwnd value {} specified for route",
    "ssthresh": "invalid ssthresh value {} specified for route",
    "initcwnd": "invalid initcwnd value {} specified for route",
    "initrwnd": "invalid initrwnd value {} specified for route",
}
# Kernel units per millisecond.
_RTT_UNITS = {"rtt": 8, "rttvar": 4, "rto_min": 1}
RTT_MIN_MS = 200
RTT_MAX_MS = 120_000
ROUTER_PREFS = {"medium": 0, "high": 1, "low": 3}


def _parse_rtt(option: str, word: str, stmt: Stmt, cx: Cx) -> int:
    """A time in kernel units, or with a unit: `300ms`, `1.5s` (get_time_rtt())."""
    unit_mult = _RTT_UNITS[option]
    match = re.fullmatch(r"([0-9.+]+)((?:m?s(?:ec|ecs)?))?", word, re.IGNORECASE)
    if not match:
        raise ArgError(f"invalid {option} {word} for route")
    number, unit = match.group(1), (match.group(2) or "").lower()
    digits = 0 if not unit or unit.startswith("m") else 3
    try:
        value = parse_decimal_units(number, digits, 0, RTT_MAX_MS * unit_mult, stmt, cx)
    except ArgError as exc:
        raise ArgError(f"invalid {option} {word} for route ({exc.message})") from None
    if unit:
        value *= unit_mult
    if value > RTT_MAX_MS * unit_mult:
        cx.warning(stmt, f"{option} value {word} exceeds maximum {RTT_MAX_MS // 1000}s, resetting")
        value = RTT_MAX_MS * unit_mult
    elif value < RTT_MIN_MS * unit_mult:
        cx.warning(stmt, f"{option} value {word} below minimum {RTT_MIN_MS}ms, resetting")
        value = RTT_MIN_MS * unit_mult
    return value


def _parse_route(stmt: Stmt, cx: Cx, static: bool) -> RouteEntry:
    words = _Cursor(stmt)
    values: dict[str, Any] = {}
    locked: set[str] = set()
    destination: str | None = None
    while words.more():
        option = words.take()
        if option in ("inet", "inet6"):
            # keepalived 2.2.7 also skips the word after inet/inet6; the next word is meant to count.
            _set_family(values, 4 if option == "inet" else 6,
                        f"{option} specified for IPv{6 if option == 'inet' else 4} route")
        elif option == "nexthop":
            if values.get("nexthops"):
                raise ArgError("cannot specify nexthops with \"or\" route")
            words.i -= 1
            values["nexthops"] = _parse_nexthops(words, values, stmt, cx)
            break
        elif option in _ROUTE_OPTIONS:
            _ROUTE_OPTIONS[option](option, words, values, locked, stmt, cx)
        elif option == "track_group" and static:
            group = words.arg(option)
            if "track_group" in values:
                cx.error(stmt, f"track_group {group} is a duplicate; rest of the line ignored")
                break
            values["track_group"] = group
        else:
            destination = _route_destination(option, words, values, stmt, cx)
    if destination is None:
        raise ArgError("route must have a destination")
    return _finish_route(values, locked, destination, stmt, cx)


def _route_destination(option: str, words: _Cursor, values: dict[str, Any], stmt: Stmt, cx: Cx) -> str:
    """`[to] [TYPE] PREFIX`; a later destination replaces an earlier one (keepalived does so silently)."""
    word = option
    if word == "to":
        word = words.arg("to")
    route_type = _route_type(word)
    if route_type is not None:
        values["type"] = route_type
        word = words.arg(word)
    parsed = _prefix_or_special(word, stmt, cx)
    if parsed is None:
        raise ArgError(f"unknown route keyword {word}")
    network, version = parsed
    if version is not None:
        _set_family(values, version, f"cannot mix IPv4 and IPv6 addresses for route ({word})")
    values["destination"] = network
    return word


def _route_type(word: str) -> int | None:
    if word in ROUTE_TYPES:
        return ROUTE_TYPES[word]
    return parse_c_unsigned(word, 255)


def _route_address(option: str, words: _Cursor, values: dict[str, Any], locked: set[str], stmt: Stmt,
                   cx: Cx) -> None:
    """`src ADDR`, `via [inet|inet6] ADDR` (and the deprecated `gw`)."""
    if option == "gw":
        cx.error(stmt, "\"gw\" for routes is deprecated. Please use \"via\"")
    target = words.arg(option)
    if option != "src" and target in ("inet", "inet6"):
        _set_family(values, 4 if target == "inet" else 6, "cannot mix IPv4 and IPv6 addresses for route")
        target = words.arg(f"{option} {target}")
    address = parse_ip_text(target)
    if address is None:
        raise ArgError(f"invalid route {'src' if option == 'src' else 'via'} address {target}")
    _set_family(values, address.version, "cannot mix IPv4 and IPv6 addresses for route")
    values["src" if option == "src" else "via"] = address


def _route_from(option: str, words: _Cursor, values: dict[str, Any], locked: set[str], stmt: Stmt,
                cx: Cx) -> None:
    target = words.arg(option)
    parsed = _prefix_or_special(target, stmt, cx)
    if parsed is None:
        raise ArgError(f"invalid route from address {target}")
    network, version = parsed
    # keepalived also refuses `from default|any|all`: only an IPv6 prefix (or default6) will do.
    if version != 6:
        raise ArgError(f"route from address only supported with IPv6 ({target})")
    _set_family(values, 6, "cannot mix IPv4 and IPv6 addresses for route")
    values["from_address"] = network or _family_default(6)


def _route_named(table: RtNames, key: str, message: str) -> Callable[..., None]:
    def handler(option: str, words: _Cursor, values: dict[str, Any], locked: set[str], stmt: Stmt,
                cx: Cx) -> None:
        word = words.arg(option)
        value = table.parse(word, stmt, cx)
        if value is None:
            raise ArgError(message.format(word))
        values[key] = value

    return handler


def _route_metric(option: str, words: _Cursor, values: dict[str, Any], locked: set[str], stmt: Stmt,
                  cx: Cx) -> None:
    word = words.arg(option)
    values["metric"] = _uint(word, UINT32_MAX, f"invalid metric {word} specified for route")


def _route_dev(option: str, words: _Cursor, values: dict[str, Any], locked: set[str], stmt: Stmt,
               cx: Cx) -> None:
    values["dev"] = _ifname(words.arg(option), "VROUTE")


def _route_flag(key: str, value: Any) -> Callable[..., None]:
    def handler(option: str, words: _Cursor, values: dict[str, Any], locked: set[str], stmt: Stmt,
                cx: Cx) -> None:
        values[key] = value

    return handler


def _route_encap(option: str, words: _Cursor, values: dict[str, Any], locked: set[str], stmt: Stmt,
                 cx: Cx) -> None:
    values["encap"] = _parse_encap(words, stmt, cx)


def _route_expires(option: str, words: _Cursor, values: dict[str, Any], locked: set[str], stmt: Stmt,
                   cx: Cx) -> None:
    word = words.arg(option)
    _set_family(values, 6, "expires is only valid for IPv6")
    values["expires"] = _uint(word, UINT32_MAX, f"invalid expires time {word} specified for route")


def _route_u32(option: str, words: _Cursor, values: dict[str, Any], locked: set[str], stmt: Stmt,
               cx: Cx) -> None:
    word = words.arg(option)
    if word == "lock" and option in _LOCKABLE:
        locked.add(option)
        word = words.arg(f"{option} lock")
    values[option] = _uint(word, UINT32_MAX, _U32_METRICS[option].format(word))


def _route_hoplimit(option: str, words: _Cursor, values: dict[str, Any], locked: set[str], stmt: Stmt,
                    cx: Cx) -> None:
    word = words.arg(option)
    values["hoplimit"] = _uint(word, 255, f"invalid hoplimit {word} specified for route")


def _route_rtt(option: str, words: _Cursor, values: dict[str, Any], locked: set[str], stmt: Stmt,
               cx: Cx) -> None:
    word = words.arg(option)
    if word == "lock":
        locked.add(option)
        word = words.arg(f"{option} lock")
    try:
        values[option] = _parse_rtt(option, word, stmt, cx)
    except ArgError as exc:
        raise ArgError(f"{exc.message}") from None


def _route_realms(option: str, words: _Cursor, values: dict[str, Any], locked: set[str], stmt: Stmt,
                  cx: Cx) -> None:
    word = words.arg(option)
    realms = _realms(word, stmt, cx)
    if realms is None:
        raise ArgError(f"invalid realms {word} for route")
    _set_family(values, 4, "realms are only valid for IPv4")
    values["realms"] = realms


def _route_features(option: str, words: _Cursor, values: dict[str, Any], locked: set[str], stmt: Stmt,
                    cx: Cx) -> None:
    word = words.arg(option)
    if word == "ecn":
        values["features"] = ("ecn",)
    else:
        cx.error(stmt, f"feature {word} not supported; ignored")


def _route_bit(key: str, message: str) -> Callable[..., None]:
    def handler(option: str, words: _Cursor, values: dict[str, Any], locked: set[str], stmt: Stmt,
                cx: Cx) -> None:
        word = words.arg(option)
        values[key] = _uint(word, 1, message.format(word))

    return handler


def _route_congctl(option: str, words: _Cursor, values: dict[str, Any], locked: set[str], stmt: Stmt,
                   cx: Cx) -> None:
    word = words.arg(option)
    if word == "lock":
        locked.add(option)
        word = words.arg(f"{option} lock")
    values["congctl"] = word


def _route_pref(option: str, words: _Cursor, values: dict[str, Any], locked: set[str], stmt: Stmt,
                cx: Cx) -> None:
    word = words.arg(option)
    _set_family(values, 6, "pref is only valid for IPv6")
    values["pref"] = ROUTER_PREFS[word] if word in ROUTER_PREFS else _uint(
        word, 255, f"invalid pref value {word} specified for route")


def _route_ttl_propagate(option: str, words: _Cursor, values: dict[str, Any], locked: set[str], stmt: Stmt,
                         cx: Cx) -> None:
    word = words.arg(option)
    if word in ("enabled", "disabled"):
        values["ttl_propagate"] = word == "enabled"
    else:
        # keepalived keeps the route, with ttl propagation disabled.
        cx.error(stmt, f"ttl-propagate value {word} not recognised; disabled")
        values["ttl_propagate"] = False


def _route_as(option: str, words: _Cursor, values: dict[str, Any], locked: set[str], stmt: Stmt,
              cx: Cx) -> None:
    if words.peek() == "to":
        words.take()
    words.arg(option)
    cx.error(stmt, "\"as to\" for MPLS only - ignoring")


def _route_or(option: str, words: _Cursor, values: dict[str, Any], locked: set[str], stmt: Stmt,
              cx: Cx) -> None:
    """`or ADDR` (deprecated): the `via` address and ADDR become two nexthops."""
    cx.error(stmt, "\"or\" for routes is deprecated. Please use \"nexthop\"")
    if values.get("nexthops"):
        cx.error(stmt, "\"or\" route already specified - ignoring subsequent")
        words.arg(option)
        return
    target = words.arg(option)
    address = parse_ip_text(target)
    if address is None:
        raise ArgError(f"invalid \"or\" address {target}")
    values["nexthops"] = (Nexthop(via=values.pop("via", None)), Nexthop(via=address))


def _route_vrf(option: str, words: _Cursor, values: dict[str, Any], locked: set[str], stmt: Stmt,
               cx: Cx) -> None:
    values["vrf"] = _ifname(words.arg(option), "VRF")


_ROUTE_OPTIONS: dict[str, Callable[..., None]] = {
    "src": _route_address,
    "via": _route_address,
    "gw": _route_address,
    "from": _route_from,
    "tos": _route_named(RT_DSFIELD, "tos", "TOS value {} is invalid"),
    "dsfield": _route_named(RT_DSFIELD, "tos", "TOS value {} is invalid"),
    "table": _route_named(RT_TABLES, "table", "routing table {} not found for route"),
    "protocol": _route_named(RT_PROTOS, "protocol", "protocol {} not found or invalid for route"),
    "scope": _route_named(RT_SCOPES, "scope", "scope {} not found or invalid for route"),
    "metric": _route_metric,
    "priority": _route_metric,
    "preference": _route_metric,
    "dev": _route_dev,
    "oif": _route_dev,
    "onlink": _route_flag("onlink", True),
    "encap": _route_encap,
    "expires": _route_expires,
    **dict.fromkeys(_U32_METRICS, _route_u32),
    "hoplimit": _route_hoplimit,
    "rtt": _route_rtt,
    "rttvar": _route_rtt,
    "rto_min": _route_rtt,
    "realms": _route_realms,
    "features": _route_features,
    "quickack": _route_bit("quickack", "invalid quickack value {} specified for route"),
    "congctl": _route_congctl,
    "pref": _route_pref,
    "ttl-propagate": _route_ttl_propagate,
    "fastopen_no_cookie": _route_bit("fastopen_no_cookie", "invalid fastopen_no_cookie value {} specified for route"),
    "add": _route_flag("mode", "add"),
    "prepend": _route_flag("mode", "prepend"),
    "append": _route_flag("mode", "append"),
    "as": _route_as,
    "or": _route_or,
    "no_track": _route_flag("no_track", True),
    "vrf": _route_vrf,
}


def _finish_route(values: dict[str, Any], locked: set[str], destination: str, stmt: Stmt, cx: Cx) -> RouteEntry:
    family = values.setdefault("family", 4)
    if values.get("destination") is None:
        values["destination"] = _family_default(family)
    if not values.get("no_track"):
        protocol = values.get("protocol")
        if protocol is not None and protocol not in (RTPROT_KEEPALIVED, "keepalived"):
            cx.error(stmt, f"route cannot be tracked if protocol is not RTPROT_KEEPALIVED({RTPROT_KEEPALIVED}), "
                           "resetting protocol")
        values["protocol"] = RTPROT_KEEPALIVED
        if values.get("dev") is None:
            # An error in keepalived 2.2.7 (the route is then not tracked); 2.3 tracks such routes.
            cx.warning(stmt, f"route {destination} has no interface: keepalived before 2.3 cannot track it "
                             "(add 'dev' or 'no_track')")
    if values.get("track_group") is not None and values.get("dev") is None:
        cx.error(stmt, "static route cannot have track group if no oif specified; track_group ignored")
        values["track_group"] = None
    return RouteEntry(locked=frozenset(locked), loc=stmt.loc, **values)


def parse_static_route(stmt: Stmt, cx: Cx) -> RouteEntry:
    route: RouteEntry = _dropping("route", lambda: _parse_route(stmt, cx, static=True))
    return route


def parse_virtual_route(stmt: Stmt, cx: Cx) -> RouteEntry:
    route: RouteEntry = _dropping("route", lambda: _parse_route(stmt, cx, static=False))
    return route


def format_route(entry: RouteEntry) -> str:
    words: list[str] = []
    if entry.type != RTN_UNICAST:
        words.append(ROUTE_TYPE_NAMES.get(entry.type, str(entry.type)))
    words.append(str(entry.destination))
    if entry.src is not None:
        words += ["src", str(entry.src)]
    if entry.via is not None:
        words += ["via", str(entry.via)]
    if entry.from_address is not None:
        words += ["from", str(entry.from_address)]
    if entry.tos is not None:
        words += ["tos", RT_DSFIELD.format(entry.tos)]
    if entry.table != 254:
        words += ["table", RT_TABLES.format(entry.table)]
    if entry.protocol is not None:
        words += ["protocol", RT_PROTOS.format(entry.protocol)]
    if entry.scope is not None:
        words += ["scope", RT_SCOPES.format(entry.scope)]
    if entry.metric is not None:
        words += ["metric", str(entry.metric)]
    if entry.dev is not None:
        words += ["dev", entry.dev]
    if entry.onlink:
        words.append("onlink")
    if entry.encap is not None:
        words.append(_format_encap(entry.encap))
    if entry.expires is not None:
        words += ["expires", str(entry.expires)]
    for name in ("mtu", "advmss", "reordering", "window", "cwnd", "ssthresh", "initcwnd", "initrwnd", "hoplimit",
                 "rtt", "rttvar", "rto_min"):
        value = getattr(entry, name)
        if value is not None:
            words += [name, *(["lock"] if name in entry.locked else []), str(value)]
    if entry.realms is not None:
        words += ["realms", entry.realms]
    for feature in entry.features:
        words += ["features", feature]
    if entry.quickack is not None:
        words += ["quickack", str(entry.quickack)]
    if entry.congctl is not None:
        words += ["congctl", *(["lock"] if "congctl" in entry.locked else []), quote(entry.congctl)]
    if entry.pref is not None:
        names = {number: name for name, number in ROUTER_PREFS.items()}
        words += ["pref", names.get(entry.pref, str(entry.pref))]
    if entry.ttl_propagate is not None:
        words += ["ttl-propagate", "enabled" if entry.ttl_propagate else "disabled"]
    if entry.fastopen_no_cookie is not None:
        words += ["fastopen_no_cookie", str(entry.fastopen_no_cookie)]
    if entry.mode != "prepend":
        words.append(entry.mode)
    if entry.vrf is not None:
        words += ["vrf", entry.vrf]
    if entry.no_track:
        words.append("no_track")
    if entry.track_group is not None:
        words += ["track_group", quote(entry.track_group)]
    if entry.family == 6 and ":" not in " ".join(words):
        words.append("inet6")
    words += [_format_nexthop(hop) for hop in entry.nexthops]
    return " ".join(words)


# ---------------------------------------------------------------------------------------------
# Rules


@dataclass(frozen=True)
class RuleEntry:
    """One line of static_rules / virtual_rules, in `ip rule` syntax."""

    action: str  # table | goto | nop | blackhole | unreachable | prohibit
    family: int = 4
    from_address: IPNetwork | None = None
    to_address: IPNetwork | None = None
    invert: bool = False  # `not`
    table: int | str | None = None
    l3mdev: bool = False
    goto: int | None = None
    preference: int | None = None  # None: keepalived assigns one, counting down from 16384
    tos: int | str | None = None
    fwmark: int | None = None
    fwmask: int | None = None
    realms: str | None = None
    suppress_prefixlength: int | None = None
    suppress_ifgroup: int | str | None = None
    iif: str | None = None
    oif: str | None = None
    tunnel_id: int | None = None
    uidrange: tuple[int, int] | None = None
    protocol: int | str | None = None  # tracked rules always get RTPROT_KEEPALIVED (18)
    ipproto: int | str | None = None
    sport: tuple[int, int] | None = None
    dport: tuple[int, int] | None = None
    no_track: bool = False
    track_group: str | None = None  # static rules only
    loc: Loc = field(default=NOWHERE, compare=False)

    @property
    def dev(self) -> str | None:
        return self.iif

    def env_refs(self) -> Iterator[EnvRef]:
        for name, value in (("input", self.iif), ("output", self.oif)):
            if value is not None:
                yield EnvRef("interface", value, self.loc, f"{name} device of rule")


RULE_ACTIONS = {"nop": "nop", "blackhole": "blackhole", "unreachable": "unreachable", "prohibit": "prohibit"}
_RULE_ACTION_NUMBERS = {6: "blackhole", 7: "unreachable", 8: "prohibit"}
_PORT = re.compile(r"([0-9]{1,5})(?:-([0-9]{1,5}))?\Z")


def _parse_rule(stmt: Stmt, cx: Cx, static: bool) -> RuleEntry:
    words = _Cursor(stmt)
    values: dict[str, Any] = {}
    table_option: str | None = None
    while words.more():
        option = words.take()
        if option in ("inet", "inet6"):
            # keepalived 2.2.7 also skips the word after inet/inet6; the next word is meant to count.
            _set_family(values, 4 if option == "inet" else 6,
                        f"{option} specified for IPv{6 if option == 'inet' else 4} rule")
        elif option in ("from", "to"):
            target = words.arg(option)
            parsed = _prefix_or_special(target, stmt, cx)
            if parsed is None:
                raise ArgError(f"invalid rule {option} address {target}")
            network, version = parsed
            if version is not None:
                _set_family(values, version, "rule specification has mixed IPv4 and IPv6")
            values[f"{option}_address"] = network if network is not None else "default"
        elif option in ("table", "lookup"):
            word = words.arg(option)
            table = RT_TABLES.parse(word, stmt, cx)
            if table is None:
                raise ArgError(f"routing table {word} not found for rule")
            if table == 0:
                raise ArgError("table 0 is not valid")
            _set_action(values, "table")
            values["table"] = table
        elif option == "not":
            values["invert"] = True
        elif option in ("preference", "order", "priority"):
            word = words.arg(option)
            preference = parse_c_unsigned(word, UINT32_MAX)
            if preference is None:
                raise ArgError(f"invalid rule {option} {word} specified")
            values["preference"] = preference
        elif option in ("tos", "dsfield"):
            word = words.arg(option)
            tos = RT_DSFIELD.parse(word, stmt, cx)
            if tos is None:
                raise ArgError(f"TOS value {word} is invalid")
            values["tos"] = tos
        elif option == "fwmark":
            values["fwmark"], values["fwmask"] = _fwmark(words.arg(option))
        elif option == "realms":
            word = words.arg(option)
            realms = _realms(word, stmt, cx)
            if realms is None:
                raise ArgError(f"invalid realms {word} for rule")
            _set_family(values, 4, "realms is only valid for IPv4")
            values["realms"] = realms
            table_option = "realms"
        elif option in ("suppress_prefixlength", "sup_pl"):
            word = words.arg(option)
            values["suppress_prefixlength"] = _uint(
                word, INT32_MAX, f"invalid suppress_prefixlength {word} specified")
            table_option = "suppress_prefixlength"
        elif option in ("suppress_ifgroup", "sup_group"):
            word = words.arg(option)
            group = RT_GROUPS.parse(word, stmt, cx)
            if group is None:
                raise ArgError(f"suppress_group {word} is invalid")
            values["suppress_ifgroup"] = group
            table_option = "suppress_ifgroup"
        elif option in ("dev", "iif", "oif"):
            values["oif" if option == "oif" else "iif"] = _ifname(words.arg(option), "rule")
        elif option == "tunnel-id":
            word = words.arg(option)
            values["tunnel_id"] = _uint(word, UINT64_MAX, f"invalid tunnel-id {word} specified")
        elif option == "uidrange":
            values["uidrange"] = _uidrange(words.arg(option))
        elif option == "l3mdev":
            _set_action(values, "table", "cannot specify l3mdev with other action")
            values["l3mdev"] = True
        elif option == "protocol":
            word = words.arg(option)
            protocol = RT_PROTOS.parse(word, stmt, cx)
            if protocol is None:
                cx.error(stmt, f"invalid protocol {word}; ignored")
            else:
                values["protocol"] = protocol
        elif option in ("ipproto", "ip_proto"):
            if option == "ip_proto":
                cx.warning(stmt, "'ip_proto' is what keepalived's man page says, but keepalived 2.2.7 only accepts "
                                 "'ipproto' (it drops this rule)")
            _rule_ipproto(words.arg(option), values, stmt, cx)
        elif option in ("sport", "dport"):
            word = words.arg(option)
            ports = _port_range(word)
            if ports is None:
                cx.error(stmt, f"invalid {option} range {word}; ignored")
            else:
                values[option] = ports
        elif option == "no_track":
            values["no_track"] = True
        elif option == "track_group" and static:
            group_name = words.arg(option)
            if "track_group" in values:
                cx.error(stmt, f"track_group {group_name} is a duplicate; rest of the line ignored")
                break
            values["track_group"] = group_name
        else:
            _rule_action(option, words, values)
    return _finish_rule(values, table_option, stmt, cx)


def _set_action(values: dict[str, Any], action: str, message: str | None = None) -> None:
    if "action" in values:
        raise ArgError(message or "cannot specify more than one of table/nop/goto/blackhole/prohibit/unreachable/"
                                  "l3mdev for rule")
    values["action"] = action


def _rule_action(option: str, words: _Cursor, values: dict[str, Any]) -> None:
    word = words.arg(option) if option == "type" else option
    if word == "goto":
        target = words.arg("goto")
        goto = _uint(target, UINT32_MAX, f"invalid goto target {target} specified")
        _set_action(values, "goto")
        values["goto"] = goto
        return
    if word == "nop":
        _set_action(values, "nop")
        return
    route_type = _route_type(word)
    if route_type is None:
        raise ArgError(f"unknown rule option {word}")
    if route_type not in _RULE_ACTION_NUMBERS:
        raise ArgError(f"invalid rule action {word}")
    _set_action(values, _RULE_ACTION_NUMBERS[route_type])


def _fwmark(word: str) -> tuple[int, int | None]:
    mark_text, slash, mask_text = word.partition("/")
    mark = parse_c_unsigned(mark_text, UINT32_MAX)
    # keepalived 2.2.7 takes `1/` as mask 0; a mask is meant to follow the '/'.
    mask = parse_c_unsigned(mask_text, UINT32_MAX) if slash else None
    if mark is None or (slash and mask is None):
        raise ArgError(f"invalid rule fwmark {word} specified")
    return mark, mask


def _uidrange(word: str) -> tuple[int, int]:
    match = re.fullmatch(r"([0-9]{1,10})-([0-9]{1,10})", word)
    if not match or int(match.group(1)) > UINT32_MAX or int(match.group(2)) > UINT32_MAX:
        raise ArgError(f"invalid uidrange {word} specified")
    start, end = int(match.group(1)), int(match.group(2))
    if start > end:
        raise ArgError(f"invalid uidrange {word} specified (start after end)")
    return start, end


def _port_range(word: str) -> tuple[int, int] | None:
    """`A-B`, or a single port (which keepalived 2.2.7 rejects by mistake); the kernel wants A <= B."""
    match = _PORT.match(word)
    if not match:
        return None
    start = int(match.group(1))
    end = int(match.group(2)) if match.group(2) is not None else start
    if start > 65535 or end > 65535 or start > end:
        return None
    return start, end


def _rule_ipproto(word: str, values: dict[str, Any], stmt: Stmt, cx: Cx) -> None:
    if re.fullmatch(r"[0-9]{1,3}", word) and int(word) <= 255:
        values["ipproto"] = int(word)
    elif word.lower() in IP_PROTOCOLS:
        values["ipproto"] = IP_PROTOCOLS[word.lower()]
    elif re.fullmatch(r"[A-Za-z][A-Za-z0-9_.+-]*", word):
        cx.warning(stmt, f"ipproto '{word}' is not a common protocol name; it must be in /etc/protocols")
        values["ipproto"] = word
    else:
        cx.error(stmt, f"invalid ipproto {word}; ignored")


def _finish_rule(values: dict[str, Any], table_option: str | None, stmt: Stmt, cx: Cx) -> RuleEntry:
    action = values.get("action")
    if action == "goto":
        preference = values.get("preference")
        if preference is None:
            raise ArgError(f"invalid rule - goto target {values['goto']} specified without preference")
        if preference >= values["goto"]:
            raise ArgError(f"invalid rule - preference {preference} >= goto target {values['goto']}")
    if action is None:
        raise ArgError("no action specified for rule")
    if table_option is not None and action != "table":
        raise ArgError(f"{table_option} specified for non table action")
    if values.get("l3mdev") and values.get("table") is not None:
        raise ArgError("table cannot be specified for l3mdev rules")
    if not values.get("no_track"):
        protocol = values.get("protocol")
        if protocol is not None and protocol not in (RTPROT_KEEPALIVED, "keepalived"):
            cx.error(stmt, f"rule cannot be tracked if protocol is not RTPROT_KEEPALIVED({RTPROT_KEEPALIVED}), "
                           "resetting protocol")
        values["protocol"] = RTPROT_KEEPALIVED
    if values.get("track_group") is not None and values.get("iif") is None:
        cx.error(stmt, "static rule cannot have track_group if dev/iif not specified; track_group ignored")
        values["track_group"] = None
    family = values.setdefault("family", 4)
    for key in ("from_address", "to_address"):
        if values.get(key) == "default":
            values[key] = _family_default(family)
    if values.get("preference") is None:
        cx.error(stmt, "rule has no preference specified; keepalived assigns one counting down from 16384, "
                       "which is probably not what you want")
    return RuleEntry(loc=stmt.loc, **values)


def parse_static_rule(stmt: Stmt, cx: Cx) -> RuleEntry:
    rule: RuleEntry = _dropping("rule", lambda: _parse_rule(stmt, cx, static=True))
    return rule


def parse_virtual_rule(stmt: Stmt, cx: Cx) -> RuleEntry:
    rule: RuleEntry = _dropping("rule", lambda: _parse_rule(stmt, cx, static=False))
    return rule


def format_rule(entry: RuleEntry) -> str:
    words: list[str] = []
    if entry.invert:
        words.append("not")
    for key, value in (("from", entry.from_address), ("to", entry.to_address)):
        if value is not None:
            words += [key, str(value)]
    if entry.l3mdev:
        words.append("l3mdev")
    elif entry.action == "table":
        assert entry.table is not None
        words += ["table", RT_TABLES.format(entry.table)]
    elif entry.action == "goto":
        words += ["goto", str(entry.goto)]
    else:
        words.append(entry.action)
    pairs: Sequence[tuple[str, Any]] = (
        ("preference", entry.preference),
        ("tos", None if entry.tos is None else RT_DSFIELD.format(entry.tos)),
        ("fwmark", _format_fwmark(entry)),
        ("realms", entry.realms),
        ("suppress_prefixlength", entry.suppress_prefixlength),
        ("suppress_ifgroup", None if entry.suppress_ifgroup is None else RT_GROUPS.format(entry.suppress_ifgroup)),
        ("iif", entry.iif),
        ("oif", entry.oif),
        ("tunnel-id", entry.tunnel_id),
        ("uidrange", None if entry.uidrange is None else f"{entry.uidrange[0]}-{entry.uidrange[1]}"),
        ("protocol", None if entry.protocol is None else RT_PROTOS.format(entry.protocol)),
        ("ipproto", entry.ipproto),
        ("sport", _format_ports(entry.sport)),
        ("dport", _format_ports(entry.dport)),
        ("track_group", None if entry.track_group is None else quote(entry.track_group)),
    )
    for key, value in pairs:
        if value is not None:
            words += [key, str(value)]
    if entry.no_track:
        words.append("no_track")
    if entry.family == 6 and entry.from_address is None and entry.to_address is None:
        words.append("inet6")
    return " ".join(words)


def _format_fwmark(entry: RuleEntry) -> str | None:
    if entry.fwmark is None:
        return None
    return f"{entry.fwmark:#x}" + (f"/{entry.fwmask:#x}" if entry.fwmask is not None else "")


def _format_ports(ports: tuple[int, int] | None) -> str | None:
    if ports is None:
        return None
    return str(ports[0]) if ports[0] == ports[1] else f"{ports[0]}-{ports[1]}"
