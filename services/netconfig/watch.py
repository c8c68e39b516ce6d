"""Listening to the kernel's address, route, rule and link changes (rtnetlink multicast groups, IPv4 and IPv6).

netconfig never polls the kernel: the service loop polls this socket's file descriptor,
and when it is readable `drain` reads everything queued and says which families of
objects changed, so that the service reads those again and reconciles. A receive buffer
overrun (ENOBUFS: changes were lost) counts as everything having changed.

This is a bare netlink socket rather than a pyroute2 IPRoute: pyroute2 0.9 reads its
sockets through an asyncio transport whose `get()` waits for a message, so it cannot be
drained without blocking from another loop. Only the message types are needed here;
the reading again goes through the kinds and their IPRoute.
"""

from __future__ import annotations

import errno
import logging
import socket
import struct
from dataclasses import dataclass, field

log = logging.getLogger("Keepalived_vrrp")

# linux/rtnetlink.h: legacy group bits (group N is bit N-1)
RTMGRP_LINK = 0x1
RTMGRP_IPV4_IFADDR = 0x10
RTMGRP_IPV4_ROUTE = 0x40
RTMGRP_IPV4_RULE = 0x80
RTMGRP_IPV6_IFADDR = 0x100
RTMGRP_IPV6_ROUTE = 0x400
RTNLGRP_IPV6_RULE = 19
GROUPS = (
    RTMGRP_LINK
    | RTMGRP_IPV4_IFADDR
    | RTMGRP_IPV4_ROUTE
    | RTMGRP_IPV4_RULE
    | RTMGRP_IPV6_IFADDR
    | RTMGRP_IPV6_ROUTE
    | 1 << (RTNLGRP_IPV6_RULE - 1)
)

# message type -> what changed
MESSAGE_TOPICS = {
    16: "link",  # RTM_NEWLINK
    17: "link",  # RTM_DELLINK
    20: "address",  # RTM_NEWADDR
    21: "address",  # RTM_DELADDR
    24: "route",  # RTM_NEWROUTE
    25: "route",  # RTM_DELROUTE
    32: "rule",  # RTM_NEWRULE
    33: "rule",  # RTM_DELRULE
}
TOPICS = frozenset(MESSAGE_TOPICS.values())

NLMSG_HEADER = struct.Struct("=IHHII")
RECEIVE_BUFFER = 4 * 1024 * 1024
DATAGRAM = 65536
SO_RCVBUFFORCE = 33


@dataclass
class Changes:
    topics: set[str] = field(default_factory=set)  # "link", "address", "route", "rule"
    overrun: bool = False
    messages: int = 0


def message_types(datagram: bytes) -> list[int]:
    """The nlmsg_type of every message in one netlink datagram."""
    types: list[int] = []
    offset = 0
    while offset + NLMSG_HEADER.size <= len(datagram):
        length, kind, _flags, _seq, _pid = NLMSG_HEADER.unpack_from(datagram, offset)
        if length < NLMSG_HEADER.size:
            break
        types.append(kind)
        offset += (length + 3) & ~3
    return types


class NetlinkWatch:
    def __init__(self, receive_buffer: int = RECEIVE_BUFFER, groups: int = GROUPS) -> None:
        self.socket = socket.socket(
            socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC, socket.NETLINK_ROUTE
        )
        try:
            # Root may go beyond net.core.rmem_max, as keepalived's vrrp_netlink_monitor_rcv_bufs_force does.
            self.socket.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, receive_buffer)
        except PermissionError:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.socket.bind((0, groups))

    def fileno(self) -> int:
        return self.socket.fileno()

    def drain(self) -> Changes:
        changes = Changes()
        while True:
            try:
                datagram = self.socket.recv(DATAGRAM)
            except BlockingIOError:
                return changes
            except OSError as exc:
                if exc.errno != errno.ENOBUFS:
                    raise
                log.info("Netlink: Receive buffer overrun on monitor socket - (%s)", exc.strerror)
                changes.overrun = True
                changes.topics |= TOPICS
                continue
            for kind in message_types(datagram):
                topic = MESSAGE_TOPICS.get(kind)
                if topic is not None:
                    changes.topics.add(topic)
                    changes.messages += 1

    def close(self) -> None:
        self.socket.close()
