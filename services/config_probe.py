"""check-config for `hakeeper run`, in a forked child (services.forked).

The node process lives as long as the node and only starts, signals and stops
the services, each of which loads the configuration itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from conf.diagnostics import EXIT_CONFIG_FATAL
from services.forked import ChildFailed, run_in_child


@dataclass(frozen=True)
class Verdict:
    exit_code: int  # check-config's
    lines: tuple[str, ...]  # its FILE:LINE: diagnostics
    checkers: bool  # services.autostart
    trackers: bool
    notifier: bool

    @property
    def can_run(self) -> bool:
        return self.exit_code != EXIT_CONFIG_FATAL


class ProbeError(Exception):
    """The configuration could not be checked at all (a bug, not a verdict on it)."""


def probe(config_file: str, config_id: str | None) -> Verdict:
    try:
        found = run_in_child(lambda: _check(config_file, config_id))
    except ChildFailed as exc:
        raise ProbeError(str(exc)) from None
    return Verdict(
        found["exit_code"], tuple(found["lines"]), found["checkers"], found["trackers"], found["notifier"]
    )


def _check(config_file: str, config_id: str | None) -> dict[str, Any]:
    from conf.check import check_files  # noqa: PLC0415 - only ever in the child
    from services.autostart import autostart  # noqa: PLC0415

    report = check_files(config_file, config_id=config_id)
    wanted = autostart(report.nodes[0].config) if report.nodes else None
    return {
        "exit_code": report.exit_code,
        "lines": list(report.lines()),
        "checkers": bool(wanted and wanted.checkers),
        "trackers": bool(wanted and wanted.trackers),
        "notifier": bool(wanted and wanted.notifier),
    }
