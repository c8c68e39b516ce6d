"""recvmmsg(2) for Python: a socket's whole queue in a few system calls.

The socket module reads one datagram per call and builds a list of tuples for
its control messages each time. A BACKUP's repeat socket (services.vrrp.repeats)
holds hundreds of repeats between two reads, of which only the newest of each
VRID matters. Here the kernel fills preallocated slots, and only those newest
datagrams are copied out, with their arrival stamp and drop count.
"""

from __future__ import annotations

import ctypes
import errno
import os
import socket
import struct
from dataclasses import dataclass

MSG_DONTWAIT = int(socket.MSG_DONTWAIT)
MSG_TRUNC = int(socket.MSG_TRUNC)
SOL_SOCKET = int(socket.SOL_SOCKET)

SO_TIMESTAMPNS = 35
SO_RXQ_OVFL = 40

_CMSG_HEADER = struct.Struct("=Qii")  # cmsg_len, cmsg_level, cmsg_type (64-bit Linux)
_TIMESPEC = struct.Struct("=qq")
_U32 = struct.Struct("=I")
_U64 = struct.Struct("=Q")


@dataclass(frozen=True, slots=True)
class Received:
    datagram: bytes
    stamp_ns: int  # SO_TIMESTAMPNS: wall-clock arrival; 0 if the kernel did not stamp it
    drops: int  # SO_RXQ_OVFL: datagrams the socket dropped so far; -1 until it drops one


class _IoVec(ctypes.Structure):
    _fields_ = (("base", ctypes.c_void_p), ("len", ctypes.c_size_t))


class _MsgHdr(ctypes.Structure):
    _fields_ = (
        ("name", ctypes.c_void_p),
        ("namelen", ctypes.c_uint32),
        ("iov", ctypes.POINTER(_IoVec)),
        ("iovlen", ctypes.c_size_t),
        ("control", ctypes.c_void_p),
        ("controllen", ctypes.c_size_t),
        ("flags", ctypes.c_int),
    )


class _MMsgHdr(ctypes.Structure):
    _fields_ = (("hdr", _MsgHdr), ("len", ctypes.c_uint))


_CONTROLLEN_OFFSET = _MsgHdr.controllen.offset
_FLAGS_OFFSET = _MsgHdr.flags.offset
_LEN_OFFSET = _MMsgHdr.len.offset
_STRIDE = ctypes.sizeof(_MMsgHdr)


class BatchReceiver:
    """Reads up to `slots` datagrams of at most `size` bytes per call, with `control` bytes of
    control messages each."""

    def __init__(self, slots: int = 256, size: int = 1024, control: int = 128) -> None:
        self._libc = ctypes.CDLL(None, use_errno=True)
        self._recvmmsg = self._libc.recvmmsg
        self._recvmmsg.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int, ctypes.c_void_p)
        self._recvmmsg.restype = ctypes.c_int
        self.slots, self.size, self.control = slots, size, control
        self._data = ctypes.create_string_buffer(slots * size)
        self._controls = ctypes.create_string_buffer(slots * control)
        self._iovecs = (_IoVec * slots)()
        self._headers = (_MMsgHdr * slots)()
        data, controls = ctypes.addressof(self._data), ctypes.addressof(self._controls)
        for index in range(slots):
            self._iovecs[index].base = data + index * size
            self._iovecs[index].len = size
            header = self._headers[index].hdr
            header.iov = ctypes.pointer(self._iovecs[index])
            header.iovlen = 1
            header.control = controls + index * control
            header.controllen = control
        self._raw = (ctypes.c_char * ctypes.sizeof(self._headers)).from_buffer(self._headers)
        self._used = 0  # slots whose controllen the kernel overwrote last time
        self._controllen = _U64.pack(control)

    def newest_by_octet(self, fd: int, offset: int, keep: int = 1) -> tuple[int, dict[int, list[Received]]]:
        """Empty a socket: how many datagrams it held, and for each value of the octet at
        `offset`, the `keep` newest datagrams with that value, newest first.

        Only those are copied out and have their control messages read: a socket holding
        hundreds of repeats of a few datagrams costs a pass over one octet of each.
        """
        headers = memoryview(self._raw).cast("B")
        data = memoryview(self._data).cast("B")
        controls = memoryview(self._controls).cast("B")
        total = 0
        newest: dict[int, list[Received]] = {}
        while True:
            for index in range(self._used):
                at = index * _STRIDE + _CONTROLLEN_OFFSET
                headers[at : at + 8] = self._controllen
            count = self._recvmmsg(fd, ctypes.addressof(self._headers), self.slots, MSG_DONTWAIT, None)
            if count < 0:
                self._used = 0
                code = ctypes.get_errno()
                if code in (errno.EAGAIN, errno.EWOULDBLOCK):
                    return total, newest
                raise OSError(code, os.strerror(code))
            self._used = count
            total += count
            batch: dict[int, list[Received]] = {}
            size = self.size
            for index in range(count - 1, -1, -1):
                octet = data[index * size + offset]
                found = batch.get(octet)
                if found is None:
                    found = batch[octet] = []
                elif len(found) >= keep:
                    continue
                received = self._take(headers, data, controls, index, offset)
                if received is not None:
                    found.append(received)
            for octet, found in batch.items():
                newest[octet] = (found + newest.get(octet, []))[:keep]
            if count < self.slots:
                return total, newest

    def _take(
        self, headers: memoryview, data: memoryview, controls: memoryview, index: int, offset: int
    ) -> Received | None:
        """Slot `index` as a Received; None if it was truncated or is too short for `offset`."""
        base = index * _STRIDE
        (length,) = _U32.unpack_from(headers, base + _LEN_OFFSET)
        (flags,) = _U32.unpack_from(headers, base + _FLAGS_OFFSET)
        if flags & MSG_TRUNC or length <= offset:
            return None
        (used,) = _U64.unpack_from(headers, base + _CONTROLLEN_OFFSET)
        stamp, drops = 0, -1
        at = index * self.control
        end = at + min(used, self.control)
        while at + _CMSG_HEADER.size <= end:
            size, level, kind = _CMSG_HEADER.unpack_from(controls, at)
            if size < _CMSG_HEADER.size or at + size > end:
                break
            if level == SOL_SOCKET and kind == SO_TIMESTAMPNS:
                seconds, nanoseconds = _TIMESPEC.unpack_from(controls, at + _CMSG_HEADER.size)
                stamp = seconds * 1_000_000_000 + nanoseconds
            elif level == SOL_SOCKET and kind == SO_RXQ_OVFL:
                (drops,) = _U32.unpack_from(controls, at + _CMSG_HEADER.size)
            at += (size + 7) & ~7  # CMSG_ALIGN
        start = index * self.size
        return Received(bytes(data[start : start + length]), stamp, drops)
