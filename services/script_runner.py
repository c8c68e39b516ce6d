"""Script runs as processes: started in a process group of their own, reaped through pidfds.

Used by the healthcheck service (services.healthcheck.script_core decides when) and the
notifier. A run is started directly
(execve, never through a shell), as the script's user and group with that group
as its only supplementary group, with stdin, stdout and stderr on /dev/null, in
`/`, with umask 0177 and the service's environment, as keepalived starts them.
Its end is seen on a pidfd, which the service's loop polls like any socket.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import signal
import subprocess
from dataclasses import dataclass

from services.script_runs import Ending, Exited, Launchable, Signalled

log = logging.getLogger("hakeeper.scripts")

EXEC_FAILED = 127  # the shell's "cannot run": a run that could not start counts as that exit status
SCRIPT_UMASK = 0o177


@dataclass
class Running:
    script: str
    run: int
    process: subprocess.Popen[bytes]
    pidfd: int


class Runner:
    def __init__(self) -> None:
        self._by_fd: dict[int, Running] = {}
        self._by_run: dict[tuple[str, int], Running] = {}

    def spawn(self, spec: Launchable, run: int) -> str | None:
        """Start a run; the reason it could not start (logged as keepalived does), or None."""
        try:
            process = subprocess.Popen(
                spec.argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                close_fds=True,
                start_new_session=True,  # its own process group: a timeout kills all it started
                cwd="/",
                umask=SCRIPT_UMASK,
                user=spec.uid,
                group=spec.gid,
                extra_groups=[spec.gid] if spec.gid is not None else None,
            )
        except OSError as exc:
            code = exc.errno or errno.EINVAL
            reason = f"Error exec-ing command '{spec.argv[0]}', error {code}: {os.strerror(code)}"
            log.info("%s", reason)
            return reason
        except subprocess.SubprocessError as exc:  # the child could not switch to the script's user
            log.info("Couldn't set the user or group of script %s: %s", spec.name, exc)
            return str(exc)
        pidfd = os.pidfd_open(process.pid)
        running = Running(spec.name, run, process, pidfd)
        self._by_fd[pidfd] = running
        self._by_run[(spec.name, run)] = running
        return None

    def fds(self) -> list[int]:
        return list(self._by_fd)

    def reap(self, fd: int) -> tuple[str, int, Ending] | None:
        """The run whose pidfd is readable, if it has ended."""
        running = self._by_fd.get(fd)
        if running is None:
            return None
        status = running.process.poll()
        if status is None:
            return None
        self._forget(running)
        if status in (-signal.SIGTERM, -signal.SIGKILL):
            # Killed (by a timeout, most likely): whatever it started goes too.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(running.process.pid, signal.SIGKILL)
        ending: Ending = Signalled(-status) if status < 0 else Exited(status)
        return running.script, running.run, ending

    def signal_group(self, script: str, run: int, signum: int, *, again: bool = False) -> None:
        running = self._by_run.get((script, run))
        if running is None:
            return
        pid = running.process.pid
        if again:
            log.info("Script %s child (PID %d) failed to terminate after kill", script, pid)
        try:
            os.killpg(pid, signum)
        except ProcessLookupError:
            log.info("Script %s child (PID %d) lost", script, pid)

    def stop_all(self, grace: float = 1.0) -> None:
        """At stop and reload, as keepalived's script_killall: SIGTERM, then SIGKILL after `grace`."""
        running = list(self._by_fd.values())
        for item in running:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(item.process.pid, signal.SIGTERM)
        for item in running:
            try:
                item.process.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(item.process.pid, signal.SIGKILL)
                item.process.wait()
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(item.process.pid, signal.SIGKILL)  # what the script left behind
            self._forget(item)

    def _forget(self, running: Running) -> None:
        self._by_fd.pop(running.pidfd, None)
        self._by_run.pop((running.script, running.run), None)
        os.close(running.pidfd)
