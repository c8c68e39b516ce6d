"""What netconfig can install, one kind per kernel object, behind one interface.

Each kind turns configuration entries into kernel requests (pyroute2) and back.
An entry's identity in the kernel is its `key`: two entries with the same key
are the same kernel object, whatever their other options. An entry's `text`
is its line in keepalived.conf syntax; netconfig publishes that on the bus and
reads it back with `parse` after a restart, so that what a previous run
installed can be recognised (and removed if no longer wanted).
"""

from __future__ import annotations

import errno
from collections.abc import Hashable, Sequence
from typing import Protocol, TypeVar

from pyroute2 import IPRoute

Entry = TypeVar("Entry")


class KernelError(Exception):
    """The kernel refused a request; `code` is the errno (EEXIST, ENODEV, EPERM, ...)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code

    @property
    def reason(self) -> str:
        """A stable name for counters and events: `ENODEV`, `EEXIST`, ..."""
        return errno.errorcode.get(self.code, f"E{self.code}")


class Kind(Protocol[Entry]):
    name: str  # "address", "route", "rule", "vmac": used in counters, events and bus keys

    def key(self, entry: Entry) -> Hashable: ...

    def text(self, entry: Entry) -> str: ...

    def parse(self, text: str) -> Entry:
        """The entry `text` describes; ValueError if it does not describe one."""
        ...

    def present(self, ipr: IPRoute, entries: Sequence[Entry]) -> set[Hashable]:
        """The keys among `entries` that the kernel has now."""
        ...

    def add(self, ipr: IPRoute, entry: Entry) -> None:
        """Install; KernelError if the kernel refuses."""
        ...

    def remove(self, ipr: IPRoute, entry: Entry) -> None:
        """Remove; an entry already gone is not an error. KernelError otherwise."""
        ...
