"""What a script run is and how it can end: shared by the services that run scripts (pure data)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class Launchable(Protocol):
    """What starting a run needs: a name for the log, the command, and who it runs as."""

    @property
    def name(self) -> str: ...

    @property
    def argv(self) -> tuple[str, ...]: ...

    @property
    def uid(self) -> int | None: ...  # None: as this process

    @property
    def gid(self) -> int | None: ...


@dataclass(frozen=True)
class Launch:
    """A run to start, for callers without a spec of their own (notify commands, FIFO readers)."""

    name: str
    argv: tuple[str, ...]
    uid: int | None = None
    gid: int | None = None


@dataclass(frozen=True)
class Exited:
    status: int


@dataclass(frozen=True)
class Signalled:
    signal: int


Ending = Exited | Signalled
