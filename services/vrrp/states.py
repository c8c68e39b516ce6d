"""The states of a virtual router and the moves allowed between them.

INIT, BACKUP and MASTER are RFC 5798's states; FAULT is keepalived's (a tracked
object failed, so the router neither advertises nor listens) and STOP is where
a router ends when the service shuts it down. The values are the names the bus
and the notify scripts use.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class State(StrEnum):
    INIT = "INIT"
    BACKUP = "BACKUP"
    MASTER = "MASTER"
    FAULT = "FAULT"
    STOP = "STOP"


class IllegalTransition(RuntimeError):
    """A move the state machine never makes: a bug, so it stops loudly."""

    def __init__(self, instance: str, old: State, new: State) -> None:
        super().__init__(f"({instance}) illegal transition {old} -> {new}")
        self.instance = instance
        self.old = old
        self.new = new


# INIT -> MASTER is the address owner starting (RFC 5798 6.4.1); FAULT -> MASTER
# is an owner's sync group coming up together, as keepalived's vrrp_sync_master does.
ALLOWED: Mapping[State, frozenset[State]] = {
    State.INIT: frozenset({State.BACKUP, State.MASTER, State.FAULT, State.STOP}),
    State.BACKUP: frozenset({State.MASTER, State.FAULT, State.STOP}),
    State.MASTER: frozenset({State.BACKUP, State.FAULT, State.STOP}),
    State.FAULT: frozenset({State.BACKUP, State.MASTER, State.STOP}),
    State.STOP: frozenset(),
}


def check_transition(instance: str, old: State, new: State) -> None:
    if new not in ALLOWED[old]:
        raise IllegalTransition(instance, old, new)
