"""Addresses in the kernel, set as keepalived's netlink_ipaddress() sets them (vrrp_ipaddress.c, 2.2.7).

Every option of an address line reaches the kernel: `brd` as IFA_BROADCAST, `scope`,
`label` as IFA_LABEL, `peer` as IFA_ADDRESS (IFA_LOCAL is the address itself), and
`home`, `mngtmpaddr`, `noprefixroute` and `autojoin` as IFA_FLAGS. An IPv6 address gets
IFA_F_NODAD unless its line says `-nodad` (keepalived does its own duplicate detection,
and a VIP must not end up `dadfailed`), and its `preferred_lft`, unless forever, as
IFA_CACHEINFO with the valid lifetime forever (0 marks it deprecated, so that it is not
chosen as a source address). `no_track` is no kernel attribute: it tells netconfig not
to put the address back when it disappears.

An address's identity in the kernel is its interface, local address and prefix length,
and its peer for a point-to-point address.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pyroute2.netlink import NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST
from pyroute2.netlink.exceptions import NetlinkDumpInterrupted, NetlinkError
from pyroute2.netlink.rtnl import RTM_DELADDR, RTM_NEWADDR
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg

from conf.diagnostics import Diagnostics, Loc
from conf.lexer import split_words
from conf.model.addresses import AddressEntry, VirtualAddress, format_address, parse_virtual_address
from conf.model.iproute import INFINITY_LIFE_TIME, RT_SCOPES
from conf.schema import ArgError, Cx
from conf.tree import Stmt
from services.netconfig.kernel_common import Names, kernel_error
from services.netconfig.kinds import KernelError

IFA_F_NODAD = 0x02
IFA_F_HOMEADDRESS = 0x10
IFA_F_MANAGETEMPADDR = 0x100
IFA_F_NOPREFIXROUTE = 0x200
IFA_F_MCAUTOJOIN = 0x400
_OPTION_FLAGS = (
    ("home", IFA_F_HOMEADDRESS),
    ("mngtmpaddr", IFA_F_MANAGETEMPADDR),
    ("noprefixroute", IFA_F_NOPREFIXROUTE),
    ("autojoin", IFA_F_MCAUTOJOIN),
)
DUMP_TRIES = 5

# (interface, local address, prefix length, peer or None), addresses in their compressed text form.
AddressKey = tuple[str, str, int, str | None]


def parse_address_line(text: str) -> VirtualAddress:
    """One `virtual_ipaddress` line read by the configuration's own parser; ValueError if it is not valid."""
    words = split_words(text)
    if not words:
        raise ValueError("empty address line")
    diagnostics = Diagnostics()
    stmt = Stmt(tuple(words), Loc("<address>", 1), text)
    try:
        entry = parse_virtual_address(stmt, Cx(diagnostics, ""))
    except ArgError as exc:
        raise ValueError(exc.message) from None
    problems = diagnostics.errors()
    if problems:
        raise ValueError("; ".join(p.message for p in problems))
    return entry


def address_key(entry: AddressEntry) -> AddressKey:
    peer = None if entry.peer is None else entry.peer.compressed
    return (entry.dev or "", entry.address.ip.compressed, entry.address.network.prefixlen, peer)


def address_text(entry: AddressEntry) -> str:
    """`ADDR[/PLEN]` as keepalived prints an address in its messages (ipaddresstos)."""
    host = 32 if entry.address.version == 4 else 128
    plen = entry.address.network.prefixlen
    return str(entry.address.ip) if plen == host else f"{entry.address.ip}/{plen}"


@dataclass(frozen=True)
class KernelAddress:
    """An address as the kernel reports it."""

    dev: str
    family: int  # 4 or 6
    local: str
    prefixlen: int
    peer: str | None
    flags: int
    scope: int
    label: str | None
    broadcast: str | None
    preferred_lft: int | None
    valid_lft: int | None

    @property
    def key(self) -> AddressKey:
        return (self.dev, self.local, self.prefixlen, self.peer)


def link_names(ipr: Any) -> dict[int, str]:
    """ifindex -> name of every interface in `ipr`'s namespace."""
    return {int(msg["index"]): str(msg.get_attr("IFLA_IFNAME")) for msg in dump(ipr, "link")}


def read_addresses(ipr: Any) -> list[KernelAddress]:
    names = link_names(ipr)
    out: list[KernelAddress] = []
    for msg in dump(ipr, "addr"):
        family = 4 if msg["family"] == socket.AF_INET else 6 if msg["family"] == socket.AF_INET6 else 0
        dev = names.get(int(msg["index"]))
        address = msg.get_attr("IFA_ADDRESS")
        local = msg.get_attr("IFA_LOCAL")
        if not family or dev is None or (address is None and local is None):
            continue
        mine = _compressed(local or address)
        peer = _compressed(address) if local is not None and address is not None else None
        cacheinfo = msg.get_attr("IFA_CACHEINFO")
        flags = msg.get_attr("IFA_FLAGS")
        out.append(
            KernelAddress(
                dev=dev,
                family=family,
                local=mine,
                prefixlen=int(msg["prefixlen"]),
                peer=None if peer == mine else peer,
                flags=int(flags if flags is not None else msg["flags"]),
                scope=int(msg["scope"]),
                label=msg.get_attr("IFA_LABEL"),
                broadcast=msg.get_attr("IFA_BROADCAST"),
                preferred_lft=None if cacheinfo is None else int(cacheinfo["ifa_preferred"]),
                valid_lft=None if cacheinfo is None else int(cacheinfo["ifa_valid"]),
            )
        )
    return out


def dump(ipr: Any, what: str) -> list[Any]:
    """A complete dump of links or addresses, asked again if the kernel says it changed midway."""
    for attempt in range(DUMP_TRIES):
        try:
            return list(getattr(ipr, what)("dump"))
        except NetlinkDumpInterrupted:
            if attempt == DUMP_TRIES - 1:
                raise
    raise AssertionError("unreachable")


def _compressed(text: str) -> str:
    return ipaddress.ip_address(text).compressed


def _index(ipr: Any, dev: str) -> int | None:
    found = ipr.link_lookup(ifname=dev)
    return int(found[0]) if found else None


def _request(ipr: Any, msg_type: int, flags: int, msg: ifaddrmsg) -> None:
    msg["header"]["type"] = msg_type
    msg["header"]["flags"] = flags
    # IPRoute.nlm_request() of pyroute2 0.9.7 fails on a missing status key; the batch form works.
    list(ipr.nlm_request_batch([msg]))


class AddressKind:
    name = "address"

    def __init__(self, names: Names | None = None) -> None:
        self._names = names or Names()

    def key(self, entry: VirtualAddress) -> Hashable:
        return address_key(entry)

    def text(self, entry: VirtualAddress) -> str:
        return format_address(entry)

    def parse(self, text: str) -> VirtualAddress:
        entry = parse_address_line(text)
        if entry.dev is None:
            raise ValueError(f"address without an interface: {text!r}")
        return entry

    def present(self, ipr: Any, entries: Sequence[VirtualAddress]) -> set[Hashable]:
        wanted: set[Hashable] = {address_key(entry) for entry in entries}
        if not wanted:
            return set()
        return wanted & {address.key for address in read_addresses(ipr)}

    def add(self, ipr: Any, entry: VirtualAddress) -> None:
        dev = entry.dev or ""
        index = _index(ipr, dev)
        if index is None:
            raise KernelError(
                errno.ENODEV, f"Not adding address {address_text(entry)} to {dev} since interface doesn't exist"
            )
        msg = self._message(entry, index)
        msg["scope"] = self._names.number(RT_SCOPES, entry.scope, f"address {address_text(entry)}")
        for name, value in self._add_attrs(entry):
            msg["attrs"].append([name, value])
        try:
            _request(ipr, RTM_NEWADDR, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, msg)
        except NetlinkError as exc:
            raise kernel_error(exc, f"adding address {address_text(entry)} to {dev}") from None

    def remove(self, ipr: Any, entry: VirtualAddress) -> None:
        dev = entry.dev or ""
        index = _index(ipr, dev)
        if index is None:
            return  # the interface is gone, and its addresses with it
        msg = self._message(entry, index)
        peer = entry.peer if entry.peer is not None else entry.address.ip
        msg["attrs"].append(["IFA_ADDRESS", str(peer)])
        try:
            _request(ipr, RTM_DELADDR, NLM_F_REQUEST | NLM_F_ACK, msg)
        except NetlinkError as exc:
            if exc.code in (errno.EADDRNOTAVAIL, errno.ENODEV):
                return
            raise kernel_error(exc, f"removing address {address_text(entry)} from {dev}") from None

    @staticmethod
    def _message(entry: VirtualAddress, index: int) -> ifaddrmsg:
        msg = ifaddrmsg()
        msg["family"] = socket.AF_INET if entry.address.version == 4 else socket.AF_INET6
        msg["prefixlen"] = entry.address.network.prefixlen
        msg["index"] = index
        msg["attrs"] = [["IFA_LOCAL", str(entry.address.ip)]]
        return msg

    @staticmethod
    def _add_attrs(entry: VirtualAddress) -> Iterable[tuple[str, Any]]:
        flags = 0
        for option, flag in _OPTION_FLAGS:
            if getattr(entry, option):
                flags |= flag
        if entry.address.version == 6:
            if not entry.nodad:
                flags |= IFA_F_NODAD
            if entry.preferred_lft is not None and entry.preferred_lft != INFINITY_LIFE_TIME:
                yield (
                    "IFA_CACHEINFO",
                    {
                        "ifa_preferred": entry.preferred_lft,
                        "ifa_valid": INFINITY_LIFE_TIME,
                        "cstamp": 0,
                        "tstamp": 0,
                    },
                )
        elif entry.broadcast is not None:
            yield "IFA_BROADCAST", str(entry.broadcast)
        if flags:
            yield "IFA_FLAGS", flags
        if entry.label is not None:
            yield "IFA_LABEL", entry.label
        if entry.peer is not None:
            yield "IFA_ADDRESS", str(entry.peer)
