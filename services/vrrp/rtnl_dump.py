"""The interfaces and their addresses, read from rtnetlink with a bare socket.

vrrp needs three facts per interface (index, name, flags) and per address
(interface, address, flags, scope). Reading them with a dump request of our own
keeps pyroute2, and the 20 MB it costs a process, out of the vrrp service;
netconfig, which changes the kernel's tables, is where pyroute2 belongs.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass

RTM_GETLINK = 18
RTM_NEWLINK = 16
RTM_GETADDR = 22
RTM_NEWADDR = 20
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300
IFLA_IFNAME = 3
IFA_ADDRESS = 1
IFA_LOCAL = 2
IFA_FLAGS = 8

_NLMSG = struct.Struct("=IHHII")
_RTGENMSG = struct.Struct("=B3x")
_IFINFOMSG = struct.Struct("=BxHiII")  # family, type, index, flags, change
_IFADDRMSG = struct.Struct("=BBBBi")  # family, prefixlen, flags, scope, index
_RTATTR = struct.Struct("=HH")
_U32 = struct.Struct("=I")
DATAGRAM = 65536


@dataclass(frozen=True, slots=True)
class LinkInfo:
    index: int
    name: str
    flags: int  # IFF_*


@dataclass(frozen=True, slots=True)
class AddressInfo:
    index: int
    address: ipaddress.IPv4Address | ipaddress.IPv6Address
    flags: int  # IFA_F_*, from IFA_FLAGS when the kernel gives it (the header's field has 8 bits)
    scope: int


def _attributes(data: bytes, offset: int) -> Iterator[tuple[int, bytes]]:
    while offset + _RTATTR.size <= len(data):
        length, kind = _RTATTR.unpack_from(data, offset)
        if length < _RTATTR.size or offset + length > len(data):
            return
        yield kind & 0x3FFF, data[offset + _RTATTR.size : offset + length]  # without NLA_F_NESTED/BYTEORDER
        offset += (length + 3) & ~3


def _dump(kind: int, family: int = socket.AF_UNSPEC) -> Iterator[tuple[int, bytes]]:
    """(message type, message body) of every answer to one dump request."""
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, socket.NETLINK_ROUTE) as sock:
        sock.bind((0, 0))
        sequence = int.from_bytes(os.urandom(4)) or 1
        body = _RTGENMSG.pack(family)
        sock.send(_NLMSG.pack(_NLMSG.size + len(body), kind, NLM_F_REQUEST | NLM_F_DUMP, sequence, 0) + body)
        while True:
            datagram = sock.recv(DATAGRAM)
            offset = 0
            while offset + _NLMSG.size <= len(datagram):
                length, message, _flags, seq, _pid = _NLMSG.unpack_from(datagram, offset)
                if length < _NLMSG.size:
                    return
                payload = datagram[offset + _NLMSG.size : offset + length]
                offset += (length + 3) & ~3
                if seq != sequence:
                    continue
                if message == NLMSG_DONE:
                    return
                if message == NLMSG_ERROR:
                    (code,) = struct.unpack_from("=i", payload)
                    if code:
                        raise OSError(-code, os.strerror(-code))
                    return
                yield message, payload


def links() -> list[LinkInfo]:
    found: list[LinkInfo] = []
    for message, body in _dump(RTM_GETLINK):
        if message != RTM_NEWLINK or len(body) < _IFINFOMSG.size:
            continue
        _family, _type, index, flags, _change = _IFINFOMSG.unpack_from(body)
        for kind, value in _attributes(body, _IFINFOMSG.size):
            if kind == IFLA_IFNAME:
                found.append(LinkInfo(index, value.rstrip(b"\0").decode(errors="replace"), flags))
                break
    return found


def addresses(index: int | None = None) -> list[AddressInfo]:
    """Every address (of one interface), in the kernel's order: IPv4 primaries before their secondaries."""
    found: list[AddressInfo] = []
    for message, body in _dump(RTM_GETADDR):
        if message != RTM_NEWADDR or len(body) < _IFADDRMSG.size:
            continue
        family, _prefixlen, flags, scope, where = _IFADDRMSG.unpack_from(body)
        if index is not None and where != index:
            continue
        values = dict(_attributes(body, _IFADDRMSG.size))
        raw = values.get(IFA_LOCAL) or values.get(IFA_ADDRESS)
        if raw is None:
            continue
        if family == socket.AF_INET and len(raw) == 4:
            address: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.IPv4Address(raw)
        elif family == socket.AF_INET6 and len(raw) == 16:
            address = ipaddress.IPv6Address(raw)
        else:
            continue
        if IFA_FLAGS in values and len(values[IFA_FLAGS]) >= 4:
            (flags,) = _U32.unpack_from(values[IFA_FLAGS])
        found.append(AddressInfo(where, address, flags, scope))
    return found
