"""Address lines: static_ipaddress, and a vrrp_instance's virtual_ipaddress and
virtual_ipaddress_excluded, which share keepalived's grammar (vrrp_ipaddress.c
alloc_ipaddress, 2.2.7). Differences are listed in docs/compatibility.md.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from conf.diagnostics import Loc
from conf.model.common import EnvRef
from conf.model.iproute import (
    IFNAMSIZ,
    INFINITY_LIFE_TIME,
    RT_SCOPES,
    UINT32_MAX,
    Cursor,
    dropping,
    host_prefix,
    interface_of,
    read_ifname,
)
from conf.schema import NOWHERE, ArgError, Cx
from conf.tree import Stmt
from conf.values import (
    IPAddress,
    IPInterface,
    parse_int,
    parse_ip_text,
    quote,
)

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
_ADDRESS_FLAGS = {
    "home": "home",
    "-nodad": "nodad",
    "mngtmpaddr": "mngtmpaddr",
    "noprefixroute": "noprefixroute",
    "autojoin": "autojoin",
    "no_track": "no_track",
}


def _parse_address_word(word: str, stmt: Stmt, cx: Cx) -> IPInterface:
    """ADDR[/PLEN]; the family is IPv6 if the word has a ':' (as in keepalived)."""
    address_text, slash, prefix_text = word.partition("/")
    address = parse_ip_text(address_text)
    if address is None:
        raise ArgError(f"invalid IP address {word}")
    host = host_prefix(address.version)
    prefix = host
    if slash:
        try:
            prefix = parse_int(prefix_text, 0, host)
        except ArgError:
            cx.error(stmt, f"invalid address prefix len {prefix_text} for address {word} - using {host}")
    return interface_of(address, prefix)


def _parse_address(stmt: Stmt, cx: Cx, static: bool) -> StaticAddress | VirtualAddress:
    words = Cursor(stmt)
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
        if interface.network.prefixlen != host_prefix(version):
            cx.error(stmt, "cannot specify address prefix when specifying peer address - ignoring")
        interface = interface_of(interface.ip, host_prefix(version))
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
        values["dev"] = read_ifname(argument, f"ip address {first}")
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


def parse_static_address(stmt: Stmt, cx: Cx) -> StaticAddress:
    entry = dropping("address", lambda: _parse_address(stmt, cx, static=True))
    assert isinstance(entry, StaticAddress)
    return entry


def parse_virtual_address(stmt: Stmt, cx: Cx) -> VirtualAddress:
    entry = dropping("address", lambda: _parse_address(stmt, cx, static=False))
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
