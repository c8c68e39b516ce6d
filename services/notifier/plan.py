"""What a state change asks to be run, and in which order (pure).

keepalived (vrrp/vrrp_notify.c): on a transition of an instance or a sync
group to MASTER, BACKUP, FAULT or STOP, it runs the state's own script
(`notify_master`, ...) as configured, then the generic `notify` script with four
arguments appended to the configured ones: `INSTANCE` or `GROUP`, the name, the
new state, and the effective priority (0 for a group). An instance removed by a
reload is reported as FAULT, or as DELETED (running `notify_deleted`) when
`notify_deleted` is set; one already in FAULT without it is not reported again
(vrrp/vrrp.c clear_diff_vrrp). A MASTER that hears a lower priority advert runs
`notify_master_rx_lower_pri` as configured.

keepalived starts these concurrently, so they can overlap and finish out of
order. Here every command of one instance or group runs after the previous
one ended (`Queues`): in transition order, one at a time.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

STATES = ("MASTER", "BACKUP", "FAULT", "STOP", "DELETED")


@dataclass(frozen=True)
class Runnable:
    """A configured script as it will run: its words (the path resolved) and who it runs as."""

    argv: tuple[str, ...]
    uid: int | None = None  # None: as the notifier
    gid: int | None = None


@dataclass(frozen=True)
class Command:
    unit: str  # "INSTANCE VI_1" or "GROUP G1": commands of one unit run one at a time
    argv: tuple[str, ...]
    uid: int | None
    gid: int | None
    what: str  # the keyword that asked for it, for the log
    seq: int = -1  # the bus event it is for (-1: none, a catch-up after lost events)


@dataclass(frozen=True)
class Notifying:
    """The notify settings of one instance or sync group."""

    kind: str  # "INSTANCE" or "GROUP"
    name: str
    scripts: Mapping[str, Runnable]  # keyword (notify_master, ..., notify) -> script
    notify_deleted: bool = False  # report a removal as DELETED (notify_deleted, as a flag or with a script)

    @property
    def unit(self) -> str:
        return f"{self.kind} {self.name}"


def for_transition(unit: Notifying, state: str, priority: int, seq: int = -1) -> list[Command]:
    """The commands a transition of `unit` to `state` runs, in keepalived's order."""
    if state not in STATES:
        raise ValueError(f"no such state {state!r}")
    commands: list[Command] = []
    own = unit.scripts.get(f"notify_{state.lower()}")
    if own is not None:
        commands.append(_command(unit, own, f"notify_{state.lower()}", (), seq))
    generic = unit.scripts.get("notify")
    if generic is not None:
        appended = (unit.kind, unit.name, state, str(priority if unit.kind == "INSTANCE" else 0))
        commands.append(_command(unit, generic, "notify", appended, seq))
    return commands


def removal_state(unit: Notifying, previous: str) -> str | None:
    """What an instance removed by a reload is reported as; None: nothing is reported."""
    if unit.notify_deleted:
        return "DELETED"
    return None if previous == "FAULT" else "FAULT"


def for_lower_priority_advert(unit: Notifying, seq: int = -1) -> list[Command]:
    script = unit.scripts.get("notify_master_rx_lower_pri")
    return [] if script is None else [_command(unit, script, "notify_master_rx_lower_pri", (), seq)]


def _command(unit: Notifying, script: Runnable, what: str, appended: tuple[str, ...], seq: int) -> Command:
    return Command(unit.unit, (*script.argv, *appended), script.uid, script.gid, what, seq)


class Queues:
    """Commands waiting, per unit; at most one running per unit."""

    def __init__(self) -> None:
        self._waiting: dict[str, deque[Command]] = {}
        self._running: set[str] = set()

    def add(self, commands: list[Command]) -> list[Command]:
        """Queue commands; those that may start now."""
        for command in commands:
            self._waiting.setdefault(command.unit, deque()).append(command)
        return self._startable()

    def done(self, unit: str) -> list[Command]:
        """A unit's running command ended; what may start now."""
        self._running.discard(unit)
        return self._startable()

    @property
    def idle(self) -> bool:
        return not self._running and not any(self._waiting.values())

    def _startable(self) -> list[Command]:
        ready: list[Command] = []
        for unit, waiting in self._waiting.items():
            if waiting and unit not in self._running:
                ready.append(waiting.popleft())
                self._running.add(unit)
        return ready
