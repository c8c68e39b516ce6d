"""The socket that holds a BACKUP's repeated MASTER adverts (see services.vrrp.repeat_filter).

One per IPv4 VRRP receiving socket, joined and bound the same way, so that the
kernel hands it the same datagrams; its filter keeps only the exact repeats
the receiving socket's filter drops. It is read in one go, just before a
master down timer would fire: only the arrival time of each instance's last
repeat matters, which the kernel stamps (SO_TIMESTAMPNS).

The kernel's stamps are wall-clock time. They are turned into monotonic time
by their age when read, bounded by how long ago the previous read emptied the
queue, so that a step of the wall clock can neither age a repeat past that read
nor make it younger than now.
"""

from __future__ import annotations

import socket

from services.vrrp.batch_receive import SO_RXQ_OVFL, SO_TIMESTAMPNS, BatchReceiver, Received
from services.vrrp.repeat_filter import ACCEPT_NOTHING, VRID_OFFSET, Program
from services.vrrp.wire_options import (
    IPPROTO_VRRP,
    IPAddress,
    WireOpenError,
    attach_filter,
    raw_socket,
    setup_receive,
)

SO_RCVBUFFORCE = 33
# Room for a few seconds of repeats of 255 instances at 0.1 s (each queued datagram costs about 1 KiB).
HOLD_BUFFER = 4 << 20
READ_BUFFER = 1024  # repeats are datagrams a filter block could compare: well under this
ANCILLARY_BUFFER = 128  # a timestamp, a drop count and IP_PKTINFO
RECEIVE_SLOTS = 256


def attach(sock: socket.socket, program: Program) -> None:
    attach_filter(sock, program.packed())


class RepeatSocket:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._receiver = BatchReceiver(slots=RECEIVE_SLOTS, size=READ_BUFFER, control=ANCILLARY_BUFFER)
        self._overflows = 0

    @classmethod
    def open(
        cls, *, ifname: str | None, ifindex: int, group: IPAddress | None, bound: IPAddress | None
    ) -> RepeatSocket:
        """The holding socket of a receiving socket with this binding; WireOpenError with nothing left open."""
        sock = raw_socket(4, IPPROTO_VRRP)
        try:
            # Nothing is queued before the first real program replaces this one.
            attach(sock, ACCEPT_NOTHING)
            try:
                sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, HOLD_BUFFER)
            except PermissionError:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, HOLD_BUFFER)
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            sock.setsockopt(socket.SOL_SOCKET, SO_RXQ_OVFL, 1)
            setup_receive(sock, ifname=ifname, ifindex=ifindex, group=group, bound=bound)
        except OSError as exc:
            sock.close()
            if isinstance(exc, WireOpenError):
                raise
            raise WireOpenError(exc.errno or 0, f"cannot open a repeat socket: {exc}") from exc
        return cls(sock)

    def drain(self) -> tuple[int, dict[int, list[Received]], bool]:
        """Empty the queue: how many repeats it held; for each VRID, its newest; and whether the
        kernel dropped some for want of room since the last drain. (Repeats of a datagram the
        filters no longer hold are older than those of the one they hold: the newest tells.)"""
        count, newest = self._receiver.newest_by_octet(self.sock.fileno(), VRID_OFFSET)
        # SO_RXQ_OVFL comes only once the socket has dropped something: the total so far.
        drops = max((r.drops for found in newest.values() for r in found), default=-1)
        overflowed = drops > self._overflows
        self._overflows = max(self._overflows, drops)
        return count, newest, overflowed

    def close(self) -> None:
        self.sock.close()
