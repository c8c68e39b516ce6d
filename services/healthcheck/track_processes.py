"""vrrp_track_process: counting matching processes, from the kernel's process events or /proc.

Events come from the proc connector (netlink NETLINK_CONNECTOR, CN_IDX_PROC),
as keepalived's track_process.c listens: forks of counted processes count
their children, exec and comm changes are checked again, exits uncount. The
kernel accepts that listener only in the initial network namespace; elsewhere
(a node started with `ip netns exec`, say) /proc is scanned every second
instead. Quorum changes are logged as keepalived logs them and published as
`track/process/<name>`; `fork_delay` (a count reached by a fork) and
`terminate_delay` (by an exit) hold a change back, and it is dropped if the
count goes back meanwhile.
"""

from __future__ import annotations

import logging
import os
import socket
import struct
from collections.abc import Iterable
from dataclasses import dataclass

from services.healthcheck.process_match import ProcessSpec, matches

log = logging.getLogger("hakeeper.healthcheck")

NETLINK_CONNECTOR = 11
CN_IDX_PROC = 1
CN_VAL_PROC = 1
PROC_CN_MCAST_LISTEN = 1
PROC_EVENT_FORK = 0x00000001
PROC_EVENT_EXEC = 0x00000002
PROC_EVENT_COMM = 0x00000200
PROC_EVENT_EXIT = 0x80000000
POLL_EVERY = 1.0  # seconds between /proc scans without the proc connector
_NLMSG = struct.Struct("=IHHII")
_CN_MSG = struct.Struct("=IIIIHH")
_EVENT_HEAD = struct.Struct("=IIQ")  # what, cpu, timestamp
_TWO_IDS = struct.Struct("=ii")
_FORK = struct.Struct("=iiii")
NLMSG_DONE = 3


def read_process(pid: int) -> tuple[str, bytes] | None:
    """(comm, cmdline) of a live process; None if it is gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            cmdline = handle.read()
    except OSError:
        return None
    left, right = stat.find(b"("), stat.rfind(b")")
    if left < 0 or right < 0 or stat[right + 2 : right + 3] == b"Z":
        return None
    return stat[left + 1 : right].decode(errors="surrogateescape"), cmdline


def scan() -> dict[int, tuple[str, bytes]]:
    found: dict[int, tuple[str, bytes]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            info = read_process(int(entry))
            if info is not None:
                found[int(entry)] = info
    return found


@dataclass
class _Pending:
    ok: bool
    at: float


class TrackProcesses:
    def __init__(self, specs: Iterable[ProcessSpec], now: float) -> None:
        self.specs = {spec.name: spec for spec in specs}
        self.members: dict[str, set[int]] = {name: set() for name in self.specs}
        self.ok: dict[str, bool] = {}
        self._pending: dict[str, _Pending] = {}
        self._next_poll: float | None = None
        self.sock: socket.socket | None = self._listen() if self.specs else None
        if self.specs and self.sock is None:
            self._next_poll = now + POLL_EVERY
        for pid, (comm, cmdline) in scan().items():
            self._place(pid, comm, cmdline)
        for name, spec in self.specs.items():
            self.ok[name] = spec.ok(len(self.members[name]))

    def _listen(self) -> socket.socket | None:
        try:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM | socket.SOCK_NONBLOCK, NETLINK_CONNECTOR)
        except OSError as exc:
            log.info("track_process not available - is CONFIG_PROC_EVENTS enabled in kernel config? (%s)", exc)
            return None
        try:
            sock.bind((0, CN_IDX_PROC))
            op = struct.pack("=I", PROC_CN_MCAST_LISTEN)
            cn = _CN_MSG.pack(CN_IDX_PROC, CN_VAL_PROC, 0, 0, len(op), 0) + op
            sock.send(_NLMSG.pack(_NLMSG.size + len(cn), NLMSG_DONE, 0, 0, os.getpid()) + cn)
        except OSError as exc:
            sock.close()
            log.info("No process events here (%s): reading /proc every %.0f s", exc.strerror, POLL_EVERY)
            return None
        return sock

    def fileno(self) -> int | None:
        return self.sock.fileno() if self.sock is not None else None

    def next_deadline(self) -> float | None:
        times = [p.at for p in self._pending.values()]
        if self._next_poll is not None:
            times.append(self._next_poll)
        return min(times, default=None)

    # ------------------------------------------------------------ following

    def on_events(self, now: float) -> dict[str, bool]:
        """Read the queued process events; the trackers whose state changed."""
        assert self.sock is not None
        causes: dict[str, str] = {}
        while True:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                break
            except OSError as exc:  # ENOBUFS: events were lost; count again from /proc
                log.info("Process events lost (%s): reading /proc again", exc.strerror)
                return self._rescan(now)
            offset = _NLMSG.size + _CN_MSG.size
            if len(data) < offset + _EVENT_HEAD.size:
                continue
            what, _cpu, _ts = _EVENT_HEAD.unpack_from(data, offset)
            body = offset + _EVENT_HEAD.size
            if what == PROC_EVENT_FORK:
                _ppid, ptgid, cpid, ctgid = _FORK.unpack_from(data, body)
                if cpid == ctgid:
                    for name, pids in self.members.items():
                        if ptgid in pids:
                            pids.add(ctgid)
                            causes[name] = "fork"
            elif what in (PROC_EVENT_EXEC, PROC_EVENT_COMM):
                pid, tgid = _TWO_IDS.unpack_from(data, body)
                if pid == tgid:
                    info = read_process(tgid)
                    for name in self._replace(tgid, info):
                        causes[name] = "exec"
            elif what == PROC_EVENT_EXIT:
                pid, tgid = _TWO_IDS.unpack_from(data, body)
                if pid == tgid:
                    for name, pids in self.members.items():
                        if tgid in pids:
                            pids.discard(tgid)
                            causes[name] = "exit"
        return self._settle(causes, now)

    def on_deadline(self, now: float) -> dict[str, bool]:
        changed: dict[str, bool] = {}
        if self._next_poll is not None and now >= self._next_poll:
            self._next_poll = now + POLL_EVERY
            changed.update(self._rescan(now))
        for name, pending in list(self._pending.items()):
            if pending.at <= now:
                del self._pending[name]
                changed.update(self._apply(name, self.specs[name].ok(len(self.members[name]))))
        return changed

    # ------------------------------------------------------------ internals

    def _rescan(self, now: float) -> dict[str, bool]:
        before = {name: set(pids) for name, pids in self.members.items()}
        for pids in self.members.values():
            pids.clear()
        for pid, (comm, cmdline) in scan().items():
            self._place(pid, comm, cmdline)
        causes = {}
        for name, pids in self.members.items():
            if len(pids) > len(before[name]):
                causes[name] = "exec"  # a scan cannot tell a fork: no fork_delay
            elif len(pids) < len(before[name]):
                causes[name] = "exit"
        return self._settle(causes, now)

    def _place(self, pid: int, comm: str, cmdline: bytes) -> None:
        for name, spec in self.specs.items():
            if matches(spec, comm, cmdline):
                self.members[name].add(pid)

    def _replace(self, pid: int, info: tuple[str, bytes] | None) -> list[str]:
        touched = []
        for name, spec in self.specs.items():
            now_in = info is not None and matches(spec, *info)
            was_in = pid in self.members[name]
            if now_in != was_in:
                (self.members[name].add if now_in else self.members[name].discard)(pid)
                touched.append(name)
        return touched

    def _settle(self, causes: dict[str, str], now: float) -> dict[str, bool]:
        changed: dict[str, bool] = {}
        for name, cause in causes.items():
            spec = self.specs[name]
            ok = spec.ok(len(self.members[name]))
            pending = self._pending.get(name)
            if ok == self.ok[name]:
                if pending is not None:
                    del self._pending[name]  # the count went back in time: nothing happens
                continue
            delay = spec.fork_delay if cause == "fork" else spec.terminate_delay if cause == "exit" else 0.0
            if delay > 0:
                if pending is None or pending.ok != ok:
                    self._pending[name] = _Pending(ok, now + delay)
                continue
            self._pending.pop(name, None)
            changed.update(self._apply(name, ok))
        return changed

    def _apply(self, name: str, ok: bool) -> dict[str, bool]:
        if ok == self.ok[name]:
            return {}
        self.ok[name] = ok
        log.info("Quorum %s for tracked process %s", "gained" if ok else "lost", name)
        return {name: ok}

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
