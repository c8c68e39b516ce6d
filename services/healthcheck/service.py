"""The healthcheck service, part 1: vrrp_script checks, their results on the bus for vrrp.

Each tracked vrrp_script runs here (services.healthcheck.script_core decides,
services.healthcheck.runner starts and reaps), so that a hung script can never
delay an advert. A script's state is published as `track/script/<name>`:
`{"status": "OK" | "FAILED", "reason": ...}`, which vrrp turns into priority
and FAULT (services.vrrp.trackers). A restarted healthcheck publishes afresh
from its first results; until then vrrp keeps the last ones it had.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

from conf.model.config import Config
from services.base import Service, Watch
from services.healthcheck.runner import EXEC_FAILED, Runner
from services.healthcheck.script_core import (
    Action,
    Exited,
    Log,
    Result,
    ScriptsCore,
    ScriptSpec,
    ScriptState,
    SignalGroup,
    Spawn,
)
from services.healthcheck.script_setup import set_up_scripts
from services.service_options import ServiceOptions


def script_key(name: str) -> str:
    return f"track/script/{name}"


class HealthcheckService(Service):
    name = "healthcheck"
    syslog_ident = "Keepalived_healthcheckers"

    def __init__(self, options: ServiceOptions, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(options, clock)
        self.runner = Runner()
        self.core = ScriptsCore(())
        self.specs: dict[str, ScriptSpec] = {}

    def start(self, config: Config) -> None:
        self._set_up(config, carried={})

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

    def stop(self) -> None:
        self.runner.stop_all()

    def watches(self) -> list[Watch]:
        return [Watch(fd, _reaper(self, fd)) for fd in self.runner.fds()]

    def next_deadline(self) -> float | None:
        return self.core.next_deadline()

    def on_deadline(self, now: float) -> None:
        self._execute(self.core.tick(now))

    def reap(self, fd: int) -> None:
        ended = self.runner.reap(fd)
        if ended is not None:
            script, run, ending = ended
            self._execute(self.core.ended(script, run, ending, self.clock()))

    # ------------------------------------------------------------ internals

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
