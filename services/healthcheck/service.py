"""The healthcheck service, part 1: vrrp_script, track_file and track_process, results on the bus for vrrp.

Each tracked vrrp_script runs here (services.healthcheck.script_core decides,
services.script_runner starts and reaps), so that a hung script can never
delay an advert. A script's state is published as `track/script/<name>`:
`{"status": "OK" | "FAILED", "reason": ...}`, which vrrp turns into priority
and FAULT (services.vrrp.trackers); each tracked file's value as
`track/file/<name>`: `{"value": N}` (services.healthcheck.track_files); each
tracked process's quorum as `track/process/<name>`: `{"status": ..., "count":
N}` (services.healthcheck.track_processes). A
restarted healthcheck publishes afresh from its first results; until then vrrp
keeps the last ones it had.
"""

from __future__ import annotations

import dataclasses
import time
from collections import deque
from collections.abc import Callable

from conf.model.config import Config
from services.base import Service, Watch
from services.healthcheck.process_match import tracked_processes
from services.healthcheck.script_core import (
    Action,
    Log,
    Result,
    ScriptsCore,
    ScriptSpec,
    ScriptState,
    SignalGroup,
    Spawn,
)
from services.healthcheck.script_setup import set_up_scripts
from services.healthcheck.track_files import TrackFiles, tracked_files
from services.healthcheck.track_processes import TrackProcesses
from services.script_runner import EXEC_FAILED, Runner
from services.script_runs import Exited
from services.service_options import ServiceOptions

COUNTERS_EVERY = 1.0
LATENESS_WINDOW = 100_000


def script_key(name: str) -> str:
    return f"track/script/{name}"


def file_key(name: str) -> str:
    return f"track/file/{name}"


def process_key(name: str) -> str:
    return f"track/process/{name}"


class HealthcheckService(Service):
    name = "healthcheck"
    syslog_ident = "Keepalived_healthcheckers"

    def __init__(self, options: ServiceOptions, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(options, clock)
        self.runner = Runner()
        self.core = ScriptsCore(())
        self.specs: dict[str, ScriptSpec] = {}
        self.files: TrackFiles | None = None
        self.processes: TrackProcesses | None = None
        self.lateness: deque[float] = deque(maxlen=LATENESS_WINDOW)
        self._counters_due = 0.0

    def start(self, config: Config) -> None:
        self._set_up(config, carried={})
        self._follow_files(config)
        self._follow_processes(config)

    def reload(self, config: Config) -> None:
        """Scripts whose settings did not change keep their state (keepalived's INIT_RELOAD);
        every run in progress is stopped, as keepalived's reload does."""
        self.runner.stop_all()
        unchanged = {
            name: state
            for name, state in self.core.scripts.items()
            if name in self.specs and self.specs[name] == state.spec
        }
        self._set_up(config, carried=unchanged)
        self._follow_files(config)
        self._follow_processes(config)

    def stop(self) -> None:
        self.runner.stop_all()
        if self.files is not None:
            self.files.close()
        if self.processes is not None:
            self.processes.close()

    def watches(self) -> list[Watch]:
        found = [Watch(fd, _reaper(self, fd)) for fd in self.runner.fds()]
        if self.files is not None and (files_fd := self.files.fileno()) is not None:
            found.append(Watch(files_fd, self._on_files))
        if self.processes is not None and (fd := self.processes.fileno()) is not None:
            found.append(Watch(fd, self._on_process_events))
        return found

    def next_deadline(self) -> float | None:
        times = [
            self.core.next_deadline(),
            self.processes.next_deadline() if self.processes else None,
            self._counters_due if self.specs or (self.files is not None and self.files.polled) else None,
        ]
        return min((t for t in times if t is not None), default=None)

    def on_deadline(self, now: float) -> None:
        self._execute(self.core.tick(now))
        if now >= self._counters_due:
            self._publish_counters(now)
            if self.files is not None and self.files.polled:
                self._publish_files(self.files.poll())
        if self.processes is not None:
            self._publish_processes(self.processes.on_deadline(now))

    def reap(self, fd: int) -> None:
        ended = self.runner.reap(fd)
        if ended is not None:
            script, run, ending = ended
            self._execute(self.core.ended(script, run, ending, self.clock()))

    def _on_files(self) -> None:
        assert self.files is not None
        self._publish_files(self.files.changed())

    def _publish_files(self, values: dict[str, int]) -> None:
        assert self.bus is not None
        for name, value in values.items():
            self.bus.set(file_key(name), {"value": value})

    def _on_process_events(self) -> None:
        assert self.processes is not None
        self._publish_processes(self.processes.on_events(self.clock()))

    def _publish_processes(self, changed: dict[str, bool]) -> None:
        assert self.bus is not None and self.processes is not None
        for name, ok in changed.items():
            count = len(self.processes.members[name])
            self.bus.set(process_key(name), {"status": "OK" if ok else "FAILED", "count": count})

    def _publish_counters(self, now: float) -> None:
        """counters/healthcheck: runs started and how late (over the last LATENESS_WINDOW runs)."""
        assert self.bus is not None
        self._counters_due = now + COUNTERS_EVERY
        self.lateness.extend(self.core.lateness)
        self.core.lateness.clear()
        counters: dict[str, int] = {
            "script_runs": sum(state.runs for state in self.core.scripts.values()),
            "script_runs_skipped": sum(state.skipped for state in self.core.scripts.values()),
        }
        if self.lateness:
            ordered = sorted(self.lateness)
            for label, fraction in (("p50", 0.5), ("p99", 0.99)):
                counters[f"script_lateness_{label}_us"] = round(ordered[int(fraction * (len(ordered) - 1))] * 1e6)
            counters["script_lateness_max_us"] = round(ordered[-1] * 1e6)
        self.bus.set("counters/healthcheck", counters)

    # ------------------------------------------------------------ internals

    def _follow_processes(self, config: Config) -> None:
        assert self.bus is not None
        old = set(self.processes.specs) if self.processes is not None else set()
        if self.processes is not None:
            self.processes.close()
        self.processes = TrackProcesses(tracked_processes(config), self.clock())
        for name in old - set(self.processes.specs):
            self.bus.delete(process_key(name))
        self._publish_processes(dict(self.processes.ok))

    def _follow_files(self, config: Config) -> None:
        """(Re)start following the tracked files; publish every value, drop the keys of files gone."""
        assert self.bus is not None
        old = set(self.files.values) if self.files is not None else set()
        if self.files is not None:
            self.files.close()
        self.files = TrackFiles(tracked_files(config))
        for name in old - set(self.files.values):
            self.bus.delete(file_key(name))
        for name, value in self.files.values.items():
            self.bus.set(file_key(name), {"value": value})

    def _set_up(self, config: Config, carried: dict[str, ScriptState]) -> None:
        assert self.bus is not None
        setup = set_up_scripts(config)
        for message in setup.messages:
            self.log.info("%s", message)
        old = set(self.specs)
        self.specs = {spec.name: spec for spec in setup.specs}
        for name in old - set(self.specs):
            self.bus.delete(script_key(name))
        self.core = ScriptsCore(setup.specs)
        for name, state in carried.items():
            if name in self.core.scripts:
                self.core.scripts[name] = dataclasses.replace(state, run=None)
        self._execute(self.core.start(self.clock()))

    def _execute(self, actions: list[Action]) -> None:
        assert self.bus is not None
        pending = list(actions)
        while pending:
            action = pending.pop(0)
            if isinstance(action, Spawn):
                self.core.launched(action.script, action.run, self.clock())
                failed = self.runner.spawn(self.specs[action.script], action.run)
                if failed is not None:
                    pending += self.core.ended(action.script, action.run, Exited(EXEC_FAILED), self.clock())
            elif isinstance(action, SignalGroup):
                self.runner.signal_group(action.script, action.run, action.signal, again=action.again)
            elif isinstance(action, Result):
                value = {"status": "OK" if action.ok else "FAILED", "reason": action.reason}
                self.bus.set(script_key(action.script), value)
            elif isinstance(action, Log):
                self.log.info("%s", action.message)


def _reaper(service: HealthcheckService, fd: int) -> Callable[[], None]:
    return lambda: service.reap(fd)
