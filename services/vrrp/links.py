"""What vrrp needs to know of the interfaces: up or down, index, and the address adverts are sent from.

keepalived's rules (vrrp_if.h IF_ISUP, netlink_if_address_filter):

- an interface is up when it is administratively up and running (IFF_UP and
  IFF_RUNNING): a veth whose peer is down, or an unplugged cable, is down;
- the IPv4 address adverts come from is the interface's primary address (the
  first one that is not secondary); the IPv6 one is its link-local address.

`LinkMonitor` follows the kernel's link and address notifications (never polling)
and keeps a `LinkTable`; the service polls its file descriptor.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from services.netconfig.watch import RTMGRP_IPV4_IFADDR, RTMGRP_IPV6_IFADDR, RTMGRP_LINK, NetlinkWatch
from services.vrrp import rtnl_dump

IFF_UP = 0x1
IFF_RUNNING = 0x40
IFA_F_SECONDARY = 0x01
IFA_F_TENTATIVE = 0x40
IFA_F_DADFAILED = 0x08


@dataclass(frozen=True)
class Link:
    name: str
    index: int
    up: bool
    ipv4: ipaddress.IPv4Address | None = None  # the primary address
    ipv6: ipaddress.IPv6Address | None = None  # the link-local address


@dataclass
class LinkTable:
    links: dict[str, Link] = field(default_factory=dict)

    def get(self, name: str) -> Link | None:
        return self.links.get(name)

    def is_up(self, name: str) -> bool:
        link = self.links.get(name)
        return link is not None and link.up

    def source(self, name: str, family: int) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
        link = self.links.get(name)
        if link is None:
            return None
        return link.ipv4 if family == 4 else link.ipv6


def is_up(flags: int) -> bool:
    return bool(flags & IFF_UP) and bool(flags & IFF_RUNNING)


def read_table() -> LinkTable:
    """The interfaces as the kernel has them now."""
    names: dict[int, str] = {}
    flags: dict[int, int] = {}
    for link in rtnl_dump.links():
        names[link.index] = link.name
        flags[link.index] = link.flags
    ipv4: dict[int, ipaddress.IPv4Address] = {}
    ipv6: dict[int, ipaddress.IPv6Address] = {}
    for found in rtnl_dump.addresses():
        address = found.address
        if isinstance(address, ipaddress.IPv4Address):
            if not found.flags & IFA_F_SECONDARY:
                ipv4.setdefault(found.index, address)
        elif address.is_link_local and not found.flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED):
            ipv6.setdefault(found.index, address)
    return LinkTable(
        {
            name: Link(name, index, is_up(flags[index]), ipv4.get(index), ipv6.get(index))
            for index, name in names.items()
        }
    )


class LinkMonitor:
    """The interfaces, kept current from netlink notifications."""

    def __init__(self) -> None:
        # The monitor first, so that no change falls between it and the first reading.
        self._watch = NetlinkWatch(groups=RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR)
        self.table = read_table()

    def fileno(self) -> int:
        return self._watch.fileno()

    def refresh(self) -> bool:
        """Take the queued notifications; True when something about the interfaces changed."""
        changes = self._watch.drain()
        if not changes.topics:
            return False
        table = read_table()
        changed = table.links != self.table.links
        self.table = table
        return changed

    def close(self) -> None:
        self._watch.close()
