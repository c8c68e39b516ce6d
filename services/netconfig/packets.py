"""The frames that announce a virtual address, byte for byte as keepalived 2.2.7 builds them.

Gratuitous ARP (vrrp_arp.c, send_gratuitous_arp_immediate): an ARP *request*
broadcast to ff:ff:ff:ff:ff:ff, sender and target protocol address both the
virtual address, sender hardware address the source MAC, target hardware
address the broadcast address (not zero), 42 bytes with no padding.

Unsolicited Neighbour Advertisement (vrrp_ndisc.c,
ndisc_send_unsolicited_na_immediate): IPv6 from the virtual address itself to
ff02::1 (Ethernet 33:33:00:00:00:01), hop limit 255, Override set, Solicited
clear, Router set only when the interface forwards IPv6, and one Target
Link-Layer Address option carrying the source MAC.
"""

from __future__ import annotations

import struct
from ipaddress import IPv4Address, IPv6Address

from services.checksum import internet_checksum

ETH_ALEN = 6
ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
ETH_P_IPV6 = 0x86DD
ETH_BROADCAST = b"\xff" * ETH_ALEN

ARPHRD_ETHER = 1
ARPOP_REQUEST = 1

IPPROTO_ICMPV6 = 58
NDISC_HOPLIMIT = 255
ND_NEIGHBOR_ADVERT = 136
ND_OPT_TARGET_LINKADDR = 2
NA_FLAG_ROUTER = 0x8000_0000
NA_FLAG_SOLICITED = 0x4000_0000
NA_FLAG_OVERRIDE = 0x2000_0000
ALL_NODES = IPv6Address("ff02::1")

_ETHERNET = struct.Struct("!6s6sH")
_ARP_FIXED = struct.Struct("!HHBBH")
_IPV6_FIXED = struct.Struct("!IHBB")
_NA_FIXED = struct.Struct("!BBHI")


def parse_mac(text: str) -> bytes:
    """b'\\x02...' from '02:00:5e:00:01:33' (also accepts '-' as the separator)."""
    parts = text.replace("-", ":").split(":")
    if len(parts) != ETH_ALEN or not all(1 <= len(part) <= 2 for part in parts):
        raise ValueError(f"not a MAC address: {text!r}")
    return bytes(int(part, 16) for part in parts)


def format_mac(mac: bytes) -> str:
    return ":".join(f"{octet:02x}" for octet in mac)


def multicast_mac(group: IPv6Address) -> bytes:
    """RFC 2464 §7: 33:33 followed by the last four octets of the group."""
    return b"\x33\x33" + group.packed[-4:]


def icmpv6_checksum(src: IPv6Address, dst: IPv6Address, message: bytes) -> int:
    """RFC 8200 §8.1: the checksum covers a pseudo-header of addresses, length and next header."""
    pseudo_header = src.packed + dst.packed + struct.pack("!I3xB", len(message), IPPROTO_ICMPV6)
    return internet_checksum(pseudo_header + message)


def ethernet_header(dst: bytes, src: bytes, ethertype: int) -> bytes:
    return _ETHERNET.pack(_mac(dst), _mac(src), ethertype)


def garp_frame(src_mac: bytes, ip: IPv4Address | str) -> bytes:
    """The complete Ethernet frame of keepalived's gratuitous ARP for `ip`."""
    address = IPv4Address(ip).packed
    mac = _mac(src_mac)
    arp = (
        _ARP_FIXED.pack(ARPHRD_ETHER, ETH_P_IP, ETH_ALEN, len(address), ARPOP_REQUEST)
        + mac
        + address
        + ETH_BROADCAST
        + address
    )
    return ethernet_header(ETH_BROADCAST, mac, ETH_P_ARP) + arp


def unsolicited_na_frame(src_mac: bytes, ip6: IPv6Address | str, *, router: bool = False) -> bytes:
    """The complete Ethernet frame of keepalived's unsolicited Neighbour Advertisement for `ip6`.

    `router` is whether the sending interface forwards IPv6 (keepalived reads
    net/ipv6/conf/IFNAME/forwarding): the R flag must not claim otherwise, or
    hosts would start using us as a default router (RFC 4861 §7.2.5).
    """
    target = IPv6Address(ip6)
    message = neighbour_advert(target, _mac(src_mac), router=router)
    ipv6 = _IPV6_FIXED.pack(6 << 28, len(message), IPPROTO_ICMPV6, NDISC_HOPLIMIT) + target.packed + ALL_NODES.packed
    return ethernet_header(multicast_mac(ALL_NODES), src_mac, ETH_P_IPV6) + ipv6 + message


def neighbour_advert(target: IPv6Address, lladdr: bytes, *, router: bool) -> bytes:
    """The ICMPv6 message, checksummed for a packet from `target` to ff02::1."""
    flags = NA_FLAG_OVERRIDE | (NA_FLAG_ROUTER if router else 0)
    option = bytes((ND_OPT_TARGET_LINKADDR, 1)) + lladdr
    unsummed = _NA_FIXED.pack(ND_NEIGHBOR_ADVERT, 0, 0, flags) + target.packed + option
    checksum = icmpv6_checksum(target, ALL_NODES, unsummed)
    return unsummed[:2] + struct.pack("!H", checksum) + unsummed[4:]


def _mac(mac: bytes) -> bytes:
    if len(mac) != ETH_ALEN:
        raise ValueError(f"a MAC address has {ETH_ALEN} octets, not {len(mac)}")
    return bytes(mac)
