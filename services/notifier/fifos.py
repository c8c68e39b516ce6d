"""The notify FIFOs: created if missing, their reader scripts started, lines written in order.

As keepalived 2.2.7 (lib/notify.c fifo_open, fifo_close): a missing FIFO is
created with mode 0644 (and given to its configured user and group), the
`*_script` reader is started with the FIFO's path as its last argument, and
the FIFO is opened read-write and non-blocking, so that opening never waits
for a reader and a reader that comes and goes never makes the writer fail. At
stop a FIFO this service created is removed first (so that a reader looping on
it cannot reopen it), then closed, which the reader sees as end of file.

One difference: keepalived drops a line the pipe has no room for; here the rest
waits in memory and goes out, in order, once the reader has made room.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat

from services.notifier.setup import Fifo
from services.script_runner import Runner
from services.script_runs import Launch

log = logging.getLogger("Keepalived_vrrp")

FIFO_MODE = stat.S_IRUSR | stat.S_IWUSR | stat.S_IRGRP | stat.S_IROTH
RETRY_INTERVAL = 0.1  # seconds between attempts to write what a full pipe did not take


class OpenFifo:
    def __init__(self, fifo: Fifo, fd: int, created: bool) -> None:
        self.fifo = fifo
        self.fd = fd
        self.created = created
        self.backlog = bytearray()

    def write(self, data: bytes) -> None:
        self.backlog += data
        self.flush()

    def flush(self) -> None:
        while self.backlog:
            try:
                written = os.write(self.fd, self.backlog)
            except BlockingIOError:
                return
            del self.backlog[:written]

    def close(self) -> None:
        if self.created:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.fifo.path)
        os.close(self.fd)


class Fifos:
    """Every configured notify FIFO, and the reader scripts (on a runner of their own)."""

    def __init__(self, fifos: tuple[Fifo, ...]) -> None:
        self.readers = Runner()
        self._open: list[OpenFifo] = []
        for number, fifo in enumerate(fifos):
            opened = _open(fifo)
            if opened is None:
                continue
            self._open.append(opened)
            if fifo.script is not None:
                script = fifo.script
                reader = Launch(f"{fifo.keyword}_script", (*script.argv, fifo.path), script.uid, script.gid)
                self.readers.spawn(reader, number)

    @property
    def configured(self) -> tuple[Fifo, ...]:
        return tuple(f.fifo for f in self._open)

    def write_vrrp(self, line: str) -> None:
        data = line.encode()
        for opened in self._open:
            if opened.fifo.vrrp:
                opened.write(data)

    def write_lvs(self, line: str) -> None:
        data = line.encode()
        for opened in self._open:
            if opened.fifo.lvs:
                opened.write(data)

    @property
    def backlog(self) -> int:
        return sum(len(o.backlog) for o in self._open)

    def next_deadline(self, now: float) -> float | None:
        return now + RETRY_INTERVAL if self.backlog else None

    def flush(self) -> None:
        for opened in self._open:
            opened.flush()

    def reap(self, fd: int) -> None:
        ended = self.readers.reap(fd)
        if ended is not None:
            log.info("notify FIFO reader %s ended: %s", ended[0], ended[2])

    def close(self) -> None:
        for opened in self._open:
            if opened.backlog:
                log.info("notify FIFO %s: %d byte(s) not read before stop", opened.fifo.path, len(opened.backlog))
            opened.close()
        self._open = []
        self.readers.stop_all(grace=1.0)


def _open(fifo: Fifo) -> OpenFifo | None:
    kind = fifo.keyword.removesuffix("notify_fifo")
    created = False
    try:
        os.mkfifo(fifo.path, FIFO_MODE)
        created = True
        if fifo.uid is not None or fifo.gid is not None:
            try:
                os.chown(fifo.path, -1 if fifo.uid is None else fifo.uid, -1 if fifo.gid is None else fifo.gid)
            except OSError:
                log.info("Failed to set uid:gid for fifo %s", fifo.path)
    except OSError as exc:
        if exc.errno != errno.EEXIST:
            log.info("Unable to create %snotify fifo %s", kind, fifo.path)
            return None
    try:
        fd = os.open(fifo.path, os.O_RDWR | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOFOLLOW)
    except OSError as exc:
        log.info("Unable to open %snotify fifo %s - errno %d", kind, fifo.path, exc.errno or 0)
        if created:
            os.unlink(fifo.path)
        return None
    if not stat.S_ISFIFO(os.fstat(fd).st_mode):
        log.info("Unable to open %snotify fifo %s - not a FIFO", kind, fifo.path)
        os.close(fd)
        return None
    return OpenFifo(fifo, fd, created)
