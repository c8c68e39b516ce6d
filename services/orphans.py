"""Services that outlive a dead supervisord: `hakeeper run` adopts them (as a subreaper) and stops them.

supervisord killed with SIGKILL (or crashing) leaves its programs running with
nobody to stop them. Marked as a child subreaper, `hakeeper run` becomes their
parent instead of init, finds them among its children, and stops them in the
node's stop order, so that nothing is left behind even then.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import time
from collections.abc import Callable, Sequence
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36
PROC = Path("/proc")


def become_subreaper() -> bool:
    """Orphaned descendants become our children rather than init's; False where the kernel says no."""
    libc = ctypes.CDLL(None, use_errno=True)
    return bool(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)


def children(parent: int, proc: Path = PROC) -> dict[int, list[str]]:
    """pid -> command line of every live process whose parent is `parent`."""
    found: dict[int, list[str]] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue  # gone meanwhile
        # The command name in parentheses may hold spaces: the fields after it are fixed.
        fields = stat.rsplit(")", 1)[1].split()
        state, ppid = fields[0], int(fields[1])
        if ppid == parent and state != "Z":
            found[int(entry.name)] = [part.decode(errors="replace") for part in cmdline.split(b"\0") if part]
    return found


def service_name(cmdline: Sequence[str]) -> str | None:
    """`bus`, `vrrp`, ... for `python -m services.cli service NAME ...`."""
    for index, word in enumerate(cmdline[:-1]):
        if word == "service":
            return cmdline[index + 1]
    return None


def stop_orphans(
    order: Sequence[str],
    timeout: float,
    *,
    parent: int | None = None,
    clock: Callable[[], float] = time.monotonic,
    log: Callable[[str], None] = lambda message: None,
) -> int:
    """SIGTERM our orphaned services one by one in `order` (others last), SIGKILL what does not stop.

    Returns how many there were.
    """
    me = os.getpid() if parent is None else parent
    orphans = children(me)
    rank = {name: index for index, name in enumerate(order)}
    ordered = sorted(orphans, key=lambda pid: rank.get(service_name(orphans[pid]) or "", len(rank)))
    for pid in ordered:
        log(f"stopping orphaned {service_name(orphans[pid]) or orphans[pid]} (pid {pid})")
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        if not _reaped(pid, clock() + timeout, clock):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            _reaped(pid, clock() + timeout, clock)
    return len(ordered)


def _reaped(pid: int, deadline: float, clock: Callable[[], float]) -> bool:
    while True:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return True  # not ours to wait for, or already reaped
        if done == pid:
            return True
        if clock() >= deadline:
            return False
        time.sleep(0.02)  # a process's exit gives no file descriptor to wait on
