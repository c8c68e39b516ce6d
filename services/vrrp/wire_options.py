"""The options of VRRP's raw sockets, and the bytes around a VRRP message.

`setup_receive` and `setup_send` set, in keepalived 2.2.7's order, the options
of open_vrrp_read_socket() and open_vrrp_send_socket() (vrrp.c) on sockets
`services.vrrp.wire` creates; everything else here is pure: option structures,
ancillary data, the IPv4 header and the choice of a source address.

The IPv4 header is ours to write (IP_HDRINCL), as keepalived 2.2.7 writes it in
vrrp_build_ip4() and vrrp_update_pkt(): TOS 0xc0 (internetwork control), no
DF, fragment offset 0, an identification that counts adverts from 1 and skips 0
(0 would let the kernel choose one), TTL 255 unless `unicast_ttl` says
otherwise. Left to the kernel, a raw socket would set DF and an identification
of 0 or a hashed one, and the adverts would not look like keepalived's.
"""

from __future__ import annotations

import ctypes
import functools
import ipaddress
import logging
import os
import socket
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from services.checksum import internet_checksum

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

log = logging.getLogger("Keepalived_vrrp")

IPPROTO_VRRP = 112
IPPROTO_AH = 51
VRRP_TTL = 255  # RFC 3768 5.2.3 / RFC 5798 5.1.1.3 and 5.1.2.3
TOS_INTERNETWORK_CONTROL = 0xC0  # keepalived's IPTOS_PREC_INTERNETCONTROL, also its IPv6 traffic class

# Linux values Python's socket module does not define.
IP_PKTINFO = 8
IP_MULTICAST_ALL = 49
IPV6_MULTICAST_ALL = 29
SO_ATTACH_FILTER = 26
IFA_F_DADFAILED = 0x08
IFA_F_TENTATIVE = 0x40

_IPV4_HEADER = struct.Struct("!BBHHHBBH4s4s")
_IP_MREQN = struct.Struct("=4s4si")
_IPV6_MREQ = struct.Struct("=16sI")
_IN_PKTINFO = struct.Struct("=i4s4s")
_IN6_PKTINFO = struct.Struct("=16sI")
_INT = struct.Struct("=i")
_SOCK_FILTER = struct.Struct("=HBBI")
BPF_RET_K = 0x06  # BPF_RET | BPF_K

IPV4_HEADER_LEN = _IPV4_HEADER.size


# ------------------------------------------------------------------ socket options


def ip_mreqn(group: ipaddress.IPv4Address | None, ifindex: int) -> bytes:
    """`struct ip_mreqn`: a group joined (or, with no group, IP_MULTICAST_IF) by interface index.

    The index matters: given only the group and INADDR_ANY, the kernel looks for
    the interface through the routing table, which fails with ENODEV in a
    namespace without a default route.
    """
    return _IP_MREQN.pack((group or ipaddress.IPv4Address(0)).packed, bytes(4), ifindex)


def ipv6_mreq(group: ipaddress.IPv6Address, ifindex: int) -> bytes:
    return _IPV6_MREQ.pack(group.packed, ifindex)


def int_option(value: int) -> bytes:
    return _INT.pack(value)


def drop_all_filter() -> bytes:
    """The one instruction of a classic BPF program that accepts nothing (`ret #0`).

    keepalived attaches it to its send sockets (if_setsockopt_no_receive), which
    would otherwise queue a copy of every VRRP packet of the namespace.
    """
    return _SOCK_FILTER.pack(BPF_RET_K, 0, 0, 0)


# ------------------------------------------------------------------ ancillary data


def in6_pktinfo(src: ipaddress.IPv6Address, ifindex: int) -> tuple[int, int, bytes]:
    """The IPV6_PKTINFO control message choosing an advert's source address and interface."""
    return socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, _IN6_PKTINFO.pack(src.packed, ifindex)


def hop_limit(value: int) -> tuple[int, int, bytes]:
    return socket.IPPROTO_IPV6, socket.IPV6_HOPLIMIT, _INT.pack(value)


@dataclass(frozen=True, slots=True)
class Ancillary:
    """What the kernel said about a received packet besides its bytes."""

    ttl: int | None = None  # IPv6 hop limit (IPv4's TTL is read from the header)
    dst: IPAddress | None = None
    ifindex: int | None = None


def read_ancillary(ancdata: Iterable[tuple[int, int, bytes]]) -> Ancillary:
    """IP_PKTINFO, IPV6_PKTINFO and IPV6_HOPLIMIT; other messages are not asked for and are ignored."""
    ttl: int | None = None
    dst: IPAddress | None = None
    ifindex: int | None = None
    for level, kind, data in ancdata:
        if level == socket.IPPROTO_IP and kind == IP_PKTINFO and len(data) >= _IN_PKTINFO.size:
            index, _spec_dst, addr = _IN_PKTINFO.unpack_from(data)
            ifindex, dst = index, _ipv4(addr)
        elif level == socket.IPPROTO_IPV6 and kind == socket.IPV6_PKTINFO and len(data) >= _IN6_PKTINFO.size:
            addr6, index6 = _IN6_PKTINFO.unpack_from(data)
            ifindex, dst = index6, ipaddress.IPv6Address(addr6)
        elif level == socket.IPPROTO_IPV6 and kind == socket.IPV6_HOPLIMIT and len(data) >= _INT.size:
            (ttl,) = _INT.unpack_from(data)
    return Ancillary(ttl, dst, ifindex)


def plain_address(host: str) -> IPAddress:
    """An address from a socket address's host part, without the `%scope` of a link-local one.

    A scoped IPv6Address never equals the unscoped one a configuration names.
    """
    return ipaddress.ip_address(host.partition("%")[0])


# ------------------------------------------------------------------ the IPv4 header


@dataclass(frozen=True, slots=True)
class IPv4Header:
    header_len: int
    tos: int
    total_len: int
    ident: int
    flags_fragment: int
    ttl: int
    protocol: int
    checksum: int
    src: ipaddress.IPv4Address
    dst: ipaddress.IPv4Address


class BadIPv4Header(ValueError):
    """What a raw IPv4 socket delivered does not start with a usable IPv4 header."""


def ipv4_header(
    *,
    src: ipaddress.IPv4Address,
    dst: ipaddress.IPv4Address,
    ttl: int,
    ident: int,
    protocol: int,
    payload_len: int,
    tos: int = TOS_INTERNETWORK_CONTROL,
) -> bytes:
    """A 20-byte IPv4 header with its checksum (the kernel recomputes it, and the total length, anyway)."""
    fields = [0x45, tos, IPV4_HEADER_LEN + payload_len, ident, 0, ttl, protocol, 0, src.packed, dst.packed]
    fields[7] = internet_checksum(_IPV4_HEADER.pack(*fields))
    return _IPV4_HEADER.pack(*fields)


def ipv4_essentials(
    packet: bytes | bytearray | memoryview,
) -> tuple[int, int, ipaddress.IPv4Address, ipaddress.IPv4Address]:
    """(header length, TTL, source, destination) of what a raw IPv4 socket delivered, checked as
    `parse_ipv4_header` checks it: the receive path's cheaper reading, run for every packet."""
    if len(packet) < IPV4_HEADER_LEN:
        raise BadIPv4Header(f"{len(packet)} bytes is shorter than an IPv4 header")
    (vihl, _tos, total, _ident, _frag, ttl, _proto, _check, src, dst) = _IPV4_HEADER.unpack_from(packet)
    header_len = (vihl & 0x0F) * 4
    if vihl >> 4 != 4 or header_len < IPV4_HEADER_LEN or header_len > len(packet) or total != len(packet):
        return _fail(packet)
    return header_len, ttl, _ipv4(src), _ipv4(dst)


def _fail(packet: bytes | bytearray | memoryview) -> tuple[int, int, ipaddress.IPv4Address, ipaddress.IPv4Address]:
    parse_ipv4_header(packet)  # raises, with the reason
    raise AssertionError("parse_ipv4_header accepted a header ipv4_essentials refused")


def parse_ipv4_header(packet: bytes | bytearray | memoryview) -> IPv4Header:
    """The header a raw IPv4 socket delivers in front of the payload; BadIPv4Header if it is not one."""
    if len(packet) < IPV4_HEADER_LEN:
        raise BadIPv4Header(f"{len(packet)} bytes is shorter than an IPv4 header")
    (vihl, tos, total, ident, frag, ttl, proto, check, src, dst) = _IPV4_HEADER.unpack_from(packet)
    if vihl >> 4 != 4:
        raise BadIPv4Header(f"IP version {vihl >> 4}")
    header_len = (vihl & 0x0F) * 4
    if header_len < IPV4_HEADER_LEN or header_len > len(packet):
        raise BadIPv4Header(f"header length {header_len} in a {len(packet)}-byte packet")
    if total != len(packet):
        raise BadIPv4Header(f"ip_tot_len {total} and received {len(packet)}")
    return IPv4Header(
        header_len,
        tos,
        total,
        ident,
        frag,
        ttl,
        proto,
        check,
        _ipv4(src),
        _ipv4(dst),
    )


@functools.lru_cache(maxsize=1024)
def _ipv4(packed: bytes) -> ipaddress.IPv4Address:
    """The few addresses adverts come from and go to, made once: this runs for every packet."""
    return ipaddress.IPv4Address(packed)


def next_ident(ident: int) -> int:
    """keepalived's `if (!++vrrp->ip_id) ++vrrp->ip_id`: 1, 2, ... 65535, 1, ..."""
    return ident % 0xFFFF + 1


# ------------------------------------------------------------------ the source address


@dataclass(frozen=True, slots=True)
class InterfaceAddress:
    """One address of an interface, as an address dump lists it."""

    address: IPAddress
    link_local: bool = False  # scope link
    flags: int = 0  # IFA_F_*

    @property
    def usable(self) -> bool:
        """Not (yet) refused as a source: still in duplicate address detection, or failed it."""
        return not self.flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED)


def choose_source(
    family: int,
    addresses: Sequence[InterfaceAddress],
    excluded: Iterable[IPAddress] = (),
    current: IPAddress | None = None,
) -> IPAddress | None:
    """The interface address an advert is sent from when none is configured (keepalived's ifp->sin_addr).

    keepalived takes the first address the kernel lists for the interface that is
    not a VIP or eVIP of an instance on it: for IPv4 the primary address, for
    IPv6 a link-local address (RFC 5798 5.1.2.2: the source is the link-local
    address). It keeps that address while it stays, so `current` wins while it
    is still eligible.
    """
    skip = set(excluded)
    eligible = [
        a.address
        for a in addresses
        if a.address.version == family and a.usable and a.address not in skip and (family == 4 or a.link_local)
    ]
    if current is not None and current in eligible:
        return current
    return eligible[0] if eligible else None


# ------------------------------------------------------------------ setting the options


class WireOpenError(OSError):
    """A socket could not be set up; the message is keepalived's for the step that failed."""


def _step(description: str, action: Callable[[], object]) -> None:
    try:
        action()
    except OSError as exc:
        code = exc.errno or 0
        raise WireOpenError(code, description.format(errno=code, error=os.strerror(code))) from exc


def _option(sock: socket.socket, level: int, option: int, value: bytes, name: str) -> None:
    _step(f"cant set {name} IP option. errno={{errno}} ({{error}})", lambda: sock.setsockopt(level, option, value))


def attach_filter(sock: socket.socket, packed: bytes) -> None:
    """SO_ATTACH_FILTER with a classic BPF program (packed `struct sock_filter`s); the kernel
    copies it, and swaps it for the socket's previous one atomically. OSError on failure."""
    program = ctypes.create_string_buffer(packed)
    # struct sock_fprog: a length in instructions, then a pointer (native alignment)
    fprog = struct.pack("HL", len(packed) // _SOCK_FILTER.size, ctypes.addressof(program))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)


def _attach_drop_all(sock: socket.socket) -> None:
    _step("Can't set SO_ATTACH_FILTER option. errno={errno} ({error})", lambda: attach_filter(sock, drop_all_filter()))


def _bind_to_device(sock: socket.socket, ifname: str) -> None:
    _step(
        f"can't bind to device {ifname}. errno={{errno}}. (try to run it as root)",
        lambda: sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode()),
    )


def sockaddr(address: IPAddress, ifindex: int = 0) -> tuple[str, int] | tuple[str, int, int, int]:
    """A socket address; an IPv6 link-local or multicast one is scoped to the interface."""
    if address.version == 4:
        return str(address), 0
    return str(address), 0, 0, ifindex if address.is_link_local or address.is_multicast else 0


def raw_socket(family: int, protocol: int) -> socket.socket:
    try:
        sock = socket.socket(socket.AF_INET if family == 4 else socket.AF_INET6, socket.SOCK_RAW, protocol)
    except OSError as exc:
        code = exc.errno or 0
        raise WireOpenError(code, f"cant open raw socket. errno={code}") from exc
    sock.setblocking(False)
    return sock


def setup_receive(
    sock: socket.socket,
    *,
    ifname: str | None,
    ifindex: int,
    group: IPAddress | None,
    bound: IPAddress | None,
    rx_buf_size: int = 0,
) -> None:
    """open_vrrp_read_socket(): joined to `group` and bound to it, or bound to the unicast address `bound`."""
    ip, ipv6 = socket.IPPROTO_IP, socket.IPPROTO_IPV6
    family = sock.family
    if rx_buf_size:
        _option(sock, socket.SOL_SOCKET, socket.SO_RCVBUF, int_option(rx_buf_size), "SO_RCVBUF")
    # Only the groups this socket joined, not every group some socket of the host joined.
    if family == socket.AF_INET:
        _option(sock, ip, IP_MULTICAST_ALL, int_option(0), "IP_MULTICAST_ALL")
    else:
        _option(sock, ipv6, IPV6_MULTICAST_ALL, int_option(0), "IPV6_MULTICAST_ALL")
    if group is not None:
        if isinstance(group, ipaddress.IPv4Address):
            level, option, request = ip, socket.IP_ADD_MEMBERSHIP, ip_mreqn(group, ifindex)
        else:
            level, option, request = ipv6, socket.IPV6_JOIN_GROUP, ipv6_mreq(group, ifindex)
        v6 = "" if family == socket.AF_INET else "v6"
        _step(
            f"({ifname}) cant do IP{v6}_ADD_MEMBERSHIP {group} errno={{error}} ({{errno}})",
            lambda: sock.setsockopt(level, option, request),
        )
        # Bound to the group, the socket receives no unicast; keepalived only logs a failure here.
        try:
            sock.bind(sockaddr(group, ifindex))
        except OSError as exc:
            log.info("bind for multicast failed %d - %s", exc.errno, os.strerror(exc.errno or 0))
    else:
        if bound is None:
            raise ValueError("a unicast socket is bound to its source address")
        address = bound
        _step(f"bind unicast_src {address} failed {{errno}} - {{error}}", lambda: sock.bind(sockaddr(address, ifindex)))
    if family == socket.AF_INET:
        _option(sock, ip, IP_PKTINFO, int_option(1), "IP_PKTINFO")
    else:
        _option(sock, ipv6, socket.IPV6_RECVHOPLIMIT, int_option(1), "IPV6_RECVHOPLIMIT")
        _option(sock, ipv6, socket.IPV6_RECVPKTINFO, int_option(1), "IPV6_RECVPKTINFO")
    if ifname is not None:
        _bind_to_device(sock, ifname)


def setup_send(sock: socket.socket, *, ifname: str | None, ifindex: int, multicast: bool) -> None:
    """open_vrrp_send_socket(): IPv4 writes its own header; IPv6 leaves the checksum as the message has it."""
    ip, ipv6 = socket.IPPROTO_IP, socket.IPPROTO_IPV6
    v4 = sock.family == socket.AF_INET
    _option(sock, socket.SOL_SOCKET, socket.SO_RCVBUF, int_option(0), "SO_RCVBUF")
    if v4:
        _option(sock, ip, IP_MULTICAST_ALL, int_option(0), "IP_MULTICAST_ALL")
        _option(sock, ip, socket.IP_HDRINCL, int_option(1), "HDRINCL")
    else:
        _option(sock, ipv6, IPV6_MULTICAST_ALL, int_option(0), "IPV6_MULTICAST_ALL")
        if multicast:
            _option(sock, ipv6, socket.IPV6_MULTICAST_HOPS, int_option(VRRP_TTL), "IPV6_MULTICAST_HOPS")
    if ifname is not None:
        _bind_to_device(sock, ifname)
        if multicast and v4:
            _option(sock, ip, socket.IP_MULTICAST_IF, ip_mreqn(None, ifindex), "IP_MULTICAST_IF")
            _option(sock, ip, socket.IP_MULTICAST_LOOP, int_option(0), "IP_MULTICAST_LOOP")
        elif multicast:
            _option(sock, ipv6, socket.IPV6_MULTICAST_IF, int_option(ifindex), "IPV6_MULTICAST_IF")
            _option(sock, ipv6, socket.IPV6_MULTICAST_LOOP, int_option(0), "IPV6_MULTICAST_LOOP")
    if v4:
        _option(sock, ip, socket.IP_TOS, int_option(TOS_INTERNETWORK_CONTROL), "IP_TOS")
    else:
        _option(sock, ipv6, socket.IPV6_TCLASS, int_option(TOS_INTERNETWORK_CONTROL), "IPV6_TCLASS")
    _attach_drop_all(sock)
