"""Puts the announcements an AnnounceScheduler asks for on the wire, through AF_PACKET sockets.

An interface that is down, missing or being renamed must not stop the
service: every failure is counted by reason (`ENODEV`, `ENETDOWN`, `EPERM`,
`noarp`, ...) and returned, never raised. Failures are logged in keepalived's
words, at most once per `log_every` seconds for one interface and reason, with
the number left unlogged in between; `noarp` is not logged at all, since
keepalived skips such interfaces without a word.

Interface details come from ioctls on the interface's own socket rather than
from /sys, because /sys shows the network namespace it was mounted in, not
the one the socket lives in.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import socket
import struct
import time
from collections import Counter
from collections.abc import Callable, Iterable
from ipaddress import IPv4Address
from pathlib import Path
from types import TracebackType

from services.netconfig.announce_core import Kind, Send
from services.netconfig.packets import ETH_P_ARP, ETH_P_IPV6, garp_frame, unsolicited_na_frame

SIOCGIFFLAGS = 0x8913
SIOCGIFHWADDR = 0x8927
IFF_NOARP = 0x80
IFNAMSIZ = 16
IFREQ_UNION = 24  # struct ifreq is 40 bytes on 64-bit Linux; the kernel copies all of it
ARPHRD_ETHER = 1
IPV6_CONF = Path("/proc/sys/net/ipv6/conf")
# keepalived re-reads an interface's forwarding sysctl when its last look is older than this (vrrp_ndisc.c).
ROUTER_RECHECK = 5.0
# After these the interface's socket refers to an ifindex that no longer exists: reopen by name next time.
_GONE = frozenset({errno.ENODEV, errno.ENXIO})
LOG_EVERY = 60.0
_SILENT = frozenset({"noarp"})


class Skipped(Exception):
    """Not sent, and not for an OS error: `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Announcer:
    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        ipv6_conf: Path = IPV6_CONF,
        log: logging.Logger | None = None,
        log_every: float = LOG_EVERY,
    ) -> None:
        self._clock = clock
        self._ipv6_conf = ipv6_conf
        self._log = log or logging.getLogger(__name__)
        self._log_every = log_every
        # (interface, reason) -> when last logged, and how many failures went unlogged since.
        self._logged: dict[tuple[str, str], tuple[float, int]] = {}
        self._sockets: dict[str, socket.socket] = {}
        self._router: dict[str, tuple[float, bool]] = {}
        self.sent: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()

    def send(self, send: Send) -> str | None:
        """None once the frame is out; otherwise the reason it is not (also counted in `errors`)."""
        try:
            frame, ethertype = self._frame(send)
            self._socket(send.interface).sendto(frame, (send.interface, ethertype))
        except Skipped as skipped:
            return self._failed(send, skipped.reason)
        except OSError as err:
            if err.errno in _GONE:
                self._forget(send.interface)
                self._forget(send.base_interface)
            return self._failed(send, _reason(err))
        self.sent[send.kind] += 1
        return None

    def send_all(self, sends: Iterable[Send]) -> list[tuple[Send, str]]:
        """The sends that failed, with their reasons."""
        failures = []
        for send in sends:
            reason = self.send(send)
            if reason is not None:
                failures.append((send, reason))
        return failures

    @property
    def interfaces(self) -> list[str]:
        """The interfaces with a socket open."""
        return sorted(self._sockets)

    def hw_address(self, ifname: str) -> bytes:
        """The interface's MAC; Skipped if it is not Ethernet, OSError if it cannot be asked."""
        reply = self._ioctl(ifname, SIOCGIFHWADDR)
        family, mac = struct.unpack_from("H6s", reply, IFNAMSIZ)
        if family != ARPHRD_ETHER:
            raise Skipped("not-ethernet")
        return bytes(mac)

    def close(self) -> None:
        for ifname in list(self._sockets):
            self._forget(ifname)

    def __enter__(self) -> Announcer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _frame(self, send: Send) -> tuple[bytes, int]:
        # keepalived asks the base interface of a VMAC whether ARP is off (vrrp_arp.c send_gratuitous_arp).
        if _flags(self._ioctl(send.base_interface, SIOCGIFFLAGS)) & IFF_NOARP:
            raise Skipped("noarp")
        mac = send.src_mac or self.hw_address(send.interface)
        if isinstance(send.address, IPv4Address):
            return garp_frame(mac, send.address), ETH_P_ARP
        return unsolicited_na_frame(mac, send.address, router=self._forwards(send.base_interface)), ETH_P_IPV6

    def _socket(self, ifname: str) -> socket.socket:
        sock = self._sockets.get(ifname)
        if sock is None:
            sock = _open(_checked_name(ifname))
            self._sockets[ifname] = sock
        return sock

    def _ioctl(self, ifname: str, request: int) -> bytes:
        request_buffer = struct.pack(f"{IFNAMSIZ}s{IFREQ_UNION}x", _checked_name(ifname).encode())
        return fcntl.ioctl(self._socket(ifname).fileno(), request, request_buffer)

    def _forwards(self, ifname: str) -> bool:
        now = self._clock()
        cached = self._router.get(ifname)
        if cached is not None and now - cached[0] < ROUTER_RECHECK:
            return cached[1]
        try:
            forwarding = (self._ipv6_conf / ifname / "forwarding").read_text().strip() not in ("", "0")
        except OSError:
            forwarding = False
        self._router[ifname] = (now, forwarding)
        return forwarding

    def _forget(self, ifname: str) -> None:
        sock = self._sockets.pop(ifname, None)
        if sock is not None:
            sock.close()

    def _failed(self, send: Send, reason: str) -> str:
        self.errors[reason] += 1
        if reason not in _SILENT:
            self._log_failure(send, reason)
        return reason

    def _log_failure(self, send: Send, reason: str) -> None:
        key = (send.interface, reason)
        now = self._clock()
        last = self._logged.get(key)
        if last is not None and now - last[0] < self._log_every:
            self._logged[key] = (last[0], last[1] + 1)
            return
        self._logged[key] = (now, 0)
        what = "gratuitous ARP" if send.kind is Kind.ARP else "unsolicited neighbour advert"
        unlogged = f" ({last[1]} more since last logged)" if last is not None and last[1] else ""
        self._log.warning(
            "(%s) Error %s sending %s on %s for %s%s",
            send.instance,
            reason,
            what,
            send.interface,
            send.address,
            unlogged,
        )


def _open(ifname: str) -> socket.socket:
    # Protocol 0: the socket only sends, so the kernel never queues received frames on it.
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    try:
        sock.setblocking(False)
        sock.bind((ifname, 0))
    except OSError:
        sock.close()
        raise
    return sock


def _checked_name(ifname: str) -> str:
    if not ifname or len(ifname.encode()) >= IFNAMSIZ or "/" in ifname:
        raise Skipped("bad-ifname")
    return ifname


def _flags(reply: bytes) -> int:
    flags: int = struct.unpack_from("H", reply, IFNAMSIZ)[0]
    return flags


def _reason(err: OSError) -> str:
    if err.errno is None:
        return type(err).__name__
    return errno.errorcode.get(err.errno, f"E{err.errno}")
