"""The notifier's decisions (pure: an explicit `now`, no processes, files or sockets).

It takes the vrrp service's events from the bus in order and says what each
asks for: notify commands (services.notifier.plan), notify FIFO lines and
e-mail alerts (services.notifier.messages). Commands of one instance or sync
group run one at a time, in event order; each has `timeout` seconds, then its
process group gets SIGTERM, SIGKILL 2 s later and SIGKILL again every 10 s (as
the healthcheck's scripts).

What has been acted on is tracked per event: an event is done once every
command it asked for has started (its FIFO lines and e-mails are handed over
at once). `acted_through` is the newest event with nothing before it still
waiting: the service persists it, and a restarted notifier resumes after it.
When events were lost (the bus history no longer reached back), `catch_up`
notifies each unit whose current state differs from the last one notified,
once.
"""

from __future__ import annotations

import signal
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from services.notifier.messages import Mail, fifo_line, state_mail
from services.notifier.plan import (
    Command,
    Notifying,
    Queues,
    for_lower_priority_advert,
    for_transition,
    removal_state,
)

KILL_AFTER = 2.0  # seconds from SIGTERM to the first SIGKILL
KILL_AGAIN = 10.0  # seconds between further SIGKILLs of a group that will not die

INSTANCE_TOPIC = "vrrp/"
GROUP_TOPIC = "vrrp_group/"
REPORTED = ("MASTER", "BACKUP", "FAULT", "STOP", "DELETED")


@dataclass(frozen=True)
class UnitSettings:
    notifying: Notifying
    smtp_alert: bool = False
    priority_changes: bool = False  # notify_priority_changes: FIFO lines for effective priority changes


@dataclass(frozen=True)
class Settings:
    units: Mapping[str, UnitSettings]  # "INSTANCE VI_1" / "GROUP G1" -> its settings
    timeout: float = 30.0
    fifo: bool = False  # a notify FIFO takes the vrrp lines
    mail: bool = False  # an SMTP server and recipients are set
    router_id: str = ""
    no_email_faults: bool = False


# ---------------------------------------------------------------- what the adapter must do


@dataclass(frozen=True)
class Run:
    job: int  # the id the adapter reports the command's end with
    command: Command


@dataclass(frozen=True)
class Kill:
    job: int
    signum: int
    again: bool = False


@dataclass(frozen=True)
class FifoLine:
    line: str


@dataclass(frozen=True)
class SendMail:
    mail: Mail


@dataclass(frozen=True)
class Log:
    message: str


Action = Run | Kill | FifoLine | SendMail | Log


@dataclass
class _Job:
    job: int
    command: Command
    deadline: float
    kills: int = 0  # signals sent so far


@dataclass
class _Open:
    """An event some of whose commands have not started yet."""

    seq: int
    waiting: int


@dataclass(frozen=True)
class Known:
    """What was last notified of a unit, and its effective priority (for FIFO lines)."""

    state: str
    priority: int = 0


@dataclass
class NotifierCore:
    settings: Settings
    known: dict[str, Known] = field(default_factory=dict)  # unit -> last notified
    mailed: dict[str, str] = field(default_factory=dict)  # unit -> last state e-mailed
    acted_through: int = 0  # newest event seq with everything up to it acted on
    _queues: Queues = field(default_factory=Queues)
    _running: dict[int, _Job] = field(default_factory=dict)
    _open: deque[_Open] = field(default_factory=deque)
    _next_job: int = 1

    # ------------------------------------------------------------------ events

    def event(self, seq: int, topic: str, data: Mapping[str, object], now: float) -> list[Action]:
        """An event from the bus, in sequence order."""
        unit = unit_of(topic)
        what = data.get("event")
        actions: list[Action] = []
        commands: list[Command] = []
        if unit is not None and what == "transition":
            actions, commands = self._transition(unit, data, seq)
        elif unit is not None and what == "master_rx_lower_pri":
            actions, commands = self._lower_priority(unit, seq)
        elif unit is not None and what == "priority":
            actions = self._priority(unit, data)
        self._open.append(_Open(seq, len(commands)))
        actions += self._queue(commands, now)
        self._advance()
        return actions

    def catch_up(self, current: Mapping[str, Known], now: float) -> list[Action]:
        """Events were lost: notify, once, each unit whose current state is not the last notified."""
        actions: list[Action] = []
        commands: list[Command] = []
        for unit, state in sorted(current.items()):
            before = self.known.get(unit)
            if state.state not in REPORTED or (before is not None and before.state == state.state):
                continue
            actions.append(Log(f"{unit_label(unit)}: notifying its current state {state.state}"))
            more, queued = self._notify(unit, state.state, state.priority, -1)
            actions += more
            commands += queued
        return actions + self._queue(commands, now)

    def state_lines(self) -> list[Action]:
        """Every unit's last notified state as a FIFO line (`fifo_write_vrrp_states_on_reload`)."""
        if not self.settings.fifo:
            return []
        actions: list[Action] = []
        for unit, known in sorted(self.known.items()):
            if known.state in ("MASTER", "BACKUP", "FAULT"):
                notifying = self._notifying(unit)
                actions.append(FifoLine(fifo_line(notifying.kind, notifying.name, known.state, known.priority)))
        return actions

    def _transition(self, unit: str, data: Mapping[str, object], seq: int) -> tuple[list[Action], list[Command]]:
        state = str(data.get("state"))
        priority = _int(data.get("priority"))
        if data.get("removed"):
            before = self.known.get(unit)
            reported = removal_state(self._notifying(unit), before.state if before else str(data.get("previous")))
            if reported is None:
                self.known[unit] = Known("STOP", priority)
                return [], []
            state = reported
        if state not in REPORTED:
            return [], []
        return self._notify(unit, state, priority, seq)

    def _notify(self, unit: str, state: str, priority: int, seq: int) -> tuple[list[Action], list[Command]]:
        self.known[unit] = Known(state, priority)
        settings = self.settings.units.get(unit)
        notifying = self._notifying(unit)
        actions: list[Action] = []
        if self.settings.fifo:
            actions.append(FifoLine(fifo_line(notifying.kind, notifying.name, state, priority)))
        if (
            settings is not None
            and settings.smtp_alert
            and self.settings.mail
            and not (self.settings.no_email_faults and state == "FAULT")
            and self.mailed.get(unit) != state
        ):
            mail = state_mail(notifying.kind, notifying.name, state, self.settings.router_id)
            if mail is not None:
                self.mailed[unit] = state
                actions.append(SendMail(mail))
        return actions, for_transition(notifying, state, priority, seq)

    def _lower_priority(self, unit: str, seq: int) -> tuple[list[Action], list[Command]]:
        notifying = self._notifying(unit)
        actions: list[Action] = []
        if self.settings.fifo and notifying.kind == "INSTANCE":
            own = self.known.get(unit)
            actions.append(
                FifoLine(fifo_line(notifying.kind, notifying.name, "MASTER_RX_LOWER_PRI", own.priority if own else 0))
            )
        return actions, for_lower_priority_advert(notifying, seq)

    def _priority(self, unit: str, data: Mapping[str, object]) -> list[Action]:
        before = self.known.get(unit)
        own = Known(before.state if before else "INIT", _int(data.get("priority")))
        self.known[unit] = own
        settings = self.settings.units.get(unit)
        if not (self.settings.fifo and settings is not None and settings.priority_changes):
            return []
        if own.state not in ("MASTER", "BACKUP"):
            return []
        notifying = settings.notifying
        return [FifoLine(fifo_line(notifying.kind, notifying.name, f"{own.state}_PRIORITY", own.priority))]

    def _notifying(self, unit: str) -> Notifying:
        settings = self.settings.units.get(unit)
        if settings is not None:
            return settings.notifying
        kind, _, name = unit.partition(" ")
        return Notifying(kind, name, {})

    # ------------------------------------------------------------------ commands

    def _queue(self, commands: list[Command], now: float) -> list[Action]:
        return self._start(self._queues.add(commands), now)

    def _start(self, commands: list[Command], now: float) -> list[Action]:
        actions: list[Action] = []
        for command in commands:
            job = self._next_job
            self._next_job += 1
            self._running[job] = _Job(job, command, now + self.settings.timeout)
            actions.append(Run(job, command))
            if command.seq >= 0:
                self._started(command.seq)
        return actions

    def ended(self, job: int, now: float) -> list[Action]:
        """A command's process ended (or could not start)."""
        running = self._running.pop(job, None)
        if running is None:
            return []
        return self._start(self._queues.done(running.command.unit), now)

    def next_deadline(self) -> float | None:
        return min((j.deadline for j in self._running.values()), default=None)

    def tick(self, now: float) -> list[Action]:
        actions: list[Action] = []
        for running in self._running.values():
            if now < running.deadline:
                continue
            command = running.command
            if running.kills == 0:
                actions.append(
                    Log(f"{command.what} script {command.argv[0]} of {unit_label(command.unit)} timed out - killing it")
                )
                actions.append(Kill(running.job, signal.SIGTERM))
                running.deadline = now + KILL_AFTER
            else:
                actions.append(Kill(running.job, signal.SIGKILL, again=running.kills > 1))
                running.deadline = now + KILL_AGAIN
            running.kills += 1
        return actions

    @property
    def idle(self) -> bool:
        return not self._running and self._queues.idle

    def reconfigure(self, settings: Settings) -> None:
        """A reload: what is queued or running carries on; later events use the new settings."""
        self.settings = settings

    # ------------------------------------------------------------------ the cursor

    def _started(self, seq: int) -> None:
        for item in self._open:
            if item.seq == seq:
                item.waiting -= 1
                break
        self._advance()

    def _advance(self) -> None:
        while self._open and self._open[0].waiting <= 0:
            self.acted_through = self._open.popleft().seq

    def new_epoch(self) -> None:
        """The hub restarted: its sequence numbers start again."""
        self._advance()
        if not self._open:
            self.acted_through = 0


def unit_of(topic: str) -> str | None:
    """The unit an event's topic is about: `vrrp/VI_1` -> "INSTANCE VI_1"."""
    if topic.startswith(INSTANCE_TOPIC):
        return f"INSTANCE {topic[len(INSTANCE_TOPIC) :]}"
    if topic.startswith(GROUP_TOPIC):
        return f"GROUP {topic[len(GROUP_TOPIC) :]}"
    return None


def unit_label(unit: str) -> str:
    """How keepalived names it in a log line: `(VI_1)` for an instance, `VRRP_Group(G1)` for a group."""
    kind, _, name = unit.partition(" ")
    return f"({name})" if kind == "INSTANCE" else f"VRRP_Group({name})"


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
