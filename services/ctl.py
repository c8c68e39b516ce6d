"""`hakeeper ctl` and `hakeeper reload`: operating a running node."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import TextIO

from services.node import pidfile_path
from services.pidfile import read_pid
from services.supervisor_client import SERVICES, STOP_ORDER, ProgramStatus, Supervisor, SupervisorError

EXIT_NOT_RUNNING = 3  # as `supervisorctl status` and LSB status actions
ACTIVE = {"RUNNING", "STARTING", "BACKOFF"}
HANDS_OVER = {"vrrp"}
HANDOVER_SIGNAL = "USR2"


class NoNode(Exception):
    """No node answers in that runtime directory."""


def ctl(runtime_dir: Path, action: str, service: str | None, out: TextIO = sys.stdout) -> int:
    supervisor = Supervisor(runtime_dir)
    if not supervisor.alive():
        raise NoNode(f"no hakeeper node is running in {runtime_dir}")
    names = [service] if service else None
    if action == "status":
        return _status(supervisor, names, out)
    if action in ("stop", "restart"):
        for name in names or STOP_ORDER:
            if _state(supervisor, name) in ACTIVE:
                if action == "restart" and name in HANDS_OVER:
                    # Told that a successor follows, vrrp stops without giving up its MASTER roles.
                    supervisor.signal(name, HANDOVER_SIGNAL)
                supervisor.stop(name)
                print(f"{name}: stopped", file=out)
    if action in ("start", "restart"):
        for name in names or SERVICES:
            if _state(supervisor, name) not in ACTIVE:
                supervisor.start(name)
                print(f"{name}: started", file=out)
    return 0


def _state(supervisor: Supervisor, name: str) -> str:
    for program in supervisor.status():
        if program.name == name:
            return program.state
    raise SupervisorError(f"supervisord does not know the program {name}")


def _status(supervisor: Supervisor, names: list[str] | None, out: TextIO) -> int:
    programs: list[ProgramStatus] = [p for p in supervisor.status() if names is None or p.name in names]
    for program in programs:
        print(f"{program.name:<12} {program.state:<9} {program.description}", file=out)
    return 0 if all(p.state == "RUNNING" for p in programs) else EXIT_NOT_RUNNING


def reload(runtime_dir: Path) -> int:
    """What systemd's `ExecReload=kill -HUP $MAINPID` does, for a node found by its runtime directory."""
    pid = read_pid(pidfile_path(runtime_dir))
    if pid is None:
        raise NoNode(f"no hakeeper node is running in {runtime_dir}")
    os.kill(pid, signal.SIGHUP)
    return 0
