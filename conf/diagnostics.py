"""Configuration diagnostics and keepalived's `-t` exit codes.

Every message carries the file and line it is about, so that the command line
can print `FILE:LINE: error: ...` the way compilers do.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

# keepalived's exit codes for `keepalived -t` (enum exit_code in keepalived/include/main.h).
EXIT_OK = 0
EXIT_CONFIG_FATAL = 4  # KEEPALIVED_EXIT_CONFIG: the configuration cannot run
EXIT_CONFIG_ERRORS = 5  # KEEPALIVED_EXIT_CONFIG_TEST: errors, but it would run
EXIT_CONFIG_SECURITY = 6  # KEEPALIVED_EXIT_CONFIG_TEST_SECURITY: script security violation


class Severity(enum.IntEnum):
    """Ordered so that a larger value is a worse diagnostic."""

    WARNING = 1
    ERROR = 2  # the configuration runs, with the offending item ignored or defaulted
    SECURITY = 3  # a script would run as root while writable by others
    FATAL = 4  # the configuration cannot run

    @property
    def label(self) -> str:
        return "warning" if self is Severity.WARNING else "error"


@dataclass(frozen=True, order=True)
class Loc:
    """A position in the configuration: the file as given and a 1-based line."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line > 0 else self.file


@dataclass(frozen=True)
class Diagnostic:
    loc: Loc
    severity: Severity
    message: str

    def render(self) -> str:
        return f"{self.loc}: {self.severity.label}: {self.message}"


def printable(text: str) -> str:
    """Make any user-supplied text safe to print on one terminal line."""
    out = []
    for ch in text:
        if ch.isprintable() and not ("\udc80" <= ch <= "\udcff"):
            out.append(ch)
        elif "\udc80" <= ch <= "\udcff":  # an undecodable byte kept by surrogateescape
            out.append(f"\\x{ord(ch) - 0xDC00:02x}")
        else:
            out.append(ch.encode("unicode_escape").decode("ascii"))
    return "".join(out)


@dataclass
class Diagnostics:
    """Collects diagnostics in the order they were found; never raises."""

    items: list[Diagnostic] = field(default_factory=list)
    # Machine-dependent findings (missing interfaces, scripts, users) are warnings
    # unless strict_env asks for keepalived's own treatment of them as errors.
    strict_env: bool = False

    def add(self, loc: Loc, severity: Severity, message: str) -> None:
        self.items.append(Diagnostic(loc, severity, printable(message)))

    def warning(self, loc: Loc, message: str) -> None:
        self.add(loc, Severity.WARNING, message)

    def error(self, loc: Loc, message: str) -> None:
        self.add(loc, Severity.ERROR, message)

    def fatal(self, loc: Loc, message: str) -> None:
        self.add(loc, Severity.FATAL, message)

    def security(self, loc: Loc, message: str) -> None:
        self.add(loc, Severity.SECURITY, message)

    def environment(self, loc: Loc, message: str, strict_severity: Severity = Severity.ERROR) -> None:
        """Report something that belongs to the machine rather than to the file."""
        self.add(loc, strict_severity if self.strict_env else Severity.WARNING, message)

    def extend(self, other: Iterable[Diagnostic]) -> None:
        self.items.extend(other)

    def __iter__(self) -> Iterator[Diagnostic]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def worst(self) -> Severity | None:
        return max((d.severity for d in self.items), default=None)

    def errors(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity >= Severity.ERROR]

    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity == Severity.WARNING]

    def sorted(self) -> list[Diagnostic]:
        """Diagnostics in file order; a stable sort keeps discovery order within a line."""
        return sorted(self.items, key=lambda d: (d.loc.file, d.loc.line))

    def exit_code(self) -> int:
        worst = self.worst
        if worst is None or worst == Severity.WARNING:
            return EXIT_OK
        if worst == Severity.FATAL:
            return EXIT_CONFIG_FATAL
        if worst == Severity.SECURITY:
            return EXIT_CONFIG_SECURITY
        return EXIT_CONFIG_ERRORS
