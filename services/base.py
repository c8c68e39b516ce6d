"""What every hakeeper service shares: configuration, the bus, logging, signals, the loop, shutdown.

A service subclasses `Service` and fills in the hooks it needs. The loop polls
the bus sockets, any sockets or file descriptors the service asks for, and a
self-pipe that turns signals into work: SIGTERM/SIGINT stop the service,
SIGHUP reloads its configuration in place. Time is monotonic throughout.

An unexpected exception is logged with its traceback and the process exits
with status 1, so that supervisord restarts it: nothing is swallowed.
"""

from __future__ import annotations

import gc
import logging
import logging.handlers
import os
import signal
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import ClassVar

import zmq

from bus.publisher import Publisher
from bus.subscriber import Subscriber
from bus.subscriber_core import Effect, Start
from conf.diagnostics import Severity
from conf.load import Loaded, load
from conf.model.config import Config
from services.service_options import (
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_OK,
    ServiceOptions,
    remove_service_pid,
    setup_logging,
    write_service_pid,
)


def service_key(name: str) -> str:
    """The bus key where a service says whether it is running: `service/vrrp`."""
    return f"service/{name}"


class InstanceLog(logging.LoggerAdapter[logging.Logger]):
    """Messages about one instance read as keepalived's do: `(VI_1) Entering MASTER STATE`."""

    def process(self, msg: object, kwargs: object) -> tuple[str, object]:  # type: ignore[override]
        name = self.extra["instance"] if self.extra else "?"
        return f"({name}) {msg}", kwargs


@dataclass
class Watch:
    """A socket or file descriptor the service wants polled, and what to do when it is readable."""

    target: zmq.Socket[bytes] | int
    on_readable: Callable[[], None]


@dataclass
class _Flags:
    stop: bool = False
    reload: bool = False
    signals: list[int] = field(default_factory=list)


class Service:
    name: ClassVar[str] = "service"
    # The syslog ident keepalived uses for this part of the work, so that existing log
    # filters keep matching.
    syslog_ident: ClassVar[str] = "Keepalived"
    wants_state: ClassVar[bool] = False  # keep a mirror of the node's bus state
    wants_events: ClassVar[bool] = False
    bus_prefix: ClassVar[str] = ""  # only the state keys and event topics starting with this

    def __init__(self, options: ServiceOptions, clock: Callable[[], float] = time.monotonic) -> None:
        self.options = options
        self.clock = clock
        self.log = logging.getLogger(self.syslog_ident)
        self.config: Config | None = None
        self.bus: Publisher | None = None
        self.view: Subscriber | None = None
        self._flags = _Flags()
        self._wake_read = -1
        self._wake_write = -1

    # ------------------------------------------------------------ hooks

    def start(self, config: Config) -> None:
        """The configuration is loaded and the bus is connected."""

    def reload(self, config: Config) -> None:
        """A new configuration, already checked; the default keeps it for later."""

    def stop(self) -> None:
        """Release what must not outlive the service."""

    def watches(self) -> list[Watch]:
        return []

    def next_deadline(self) -> float | None:
        return None

    def on_deadline(self, now: float) -> None:
        """Called when `next_deadline()` has come."""

    def before_wait(self) -> None:
        """Called once per turn of the loop, before it waits: for work best done once for
        everything the turn brought."""

    def on_bus(self, effects: list[Effect]) -> None:
        """What the node's bus said (state changes, events), when `wants_state`/`wants_events`."""

    def events_from(self) -> tuple[int, int] | Start:
        """Where the event subscription starts: a saved cursor `(hub epoch, seq)`, or a `Start`."""
        return Start.NOW

    def on_stop_requested(self) -> None:
        """SIGTERM or SIGINT arrived; the loop goes on while `draining()` says so."""

    def draining(self) -> bool:
        """Work to finish before stopping (the loop keeps running, `stop()` waits)."""
        return False

    # --------------------------------------------------------- helpers

    def instance_log(self, instance: str) -> InstanceLog:
        return InstanceLog(self.log, {"instance": instance})

    # --------------------------------------------------------------- run

    def main(self) -> int:
        """Run until stopped; the exit status for the process."""
        setup_logging(self.syslog_ident, self.options)
        try:
            return self._run()
        except Exception:
            # Never swallowed: logged whole, and the process exits so that supervisord restarts it.
            self.log.critical("unexpected error, exiting:\n%s", traceback.format_exc().rstrip())
            return EXIT_FAILED

    def _run(self) -> int:
        loaded = self._load()
        if loaded is None:
            return EXIT_CONFIG
        self.config = loaded.config
        self._install_signals()
        self.bus = Publisher(self.name, self.options.runtime_dir)
        if self.wants_state or self.wants_events:
            self.view = Subscriber(
                self.options.runtime_dir,
                want_state=self.wants_state,
                want_events=self.wants_events,
                since=self.events_from(),
                prefix=self.bus_prefix,
            )
        self.log.info("Starting %s (pid %d)", self.name, os.getpid())
        write_service_pid(self.options.runtime_dir, self.name)
        self.bus.set(service_key(self.name), {"state": "running", "pid": os.getpid()})
        try:
            self.start(loaded.config)
            _settle_heap()
            self._loop()
            self.log.info("Stopping")
            self.stop()
            # Others decide on it: netconfig releases the VIPs at its own stop only
            # once vrrp has said it stopped.
            self.bus.set(service_key(self.name), {"state": "stopped", "pid": os.getpid()})
            self.bus.flush(2.0)
            self.log.info("Stopped")
        finally:
            self._close()
        return EXIT_OK

    def _load(self) -> Loaded | None:
        loaded = load(self.options.config_file, config_id=self.options.config_id)
        if loaded.diagnostics.worst == Severity.FATAL:
            for diagnostic in loaded.diagnostics.errors():
                self.log.error("%s", diagnostic.render())
            return None
        return loaded

    def _loop(self) -> None:
        assert self.bus is not None
        stop_seen = False
        while True:
            if self._flags.stop:
                if not stop_seen:
                    stop_seen = True
                    self.on_stop_requested()
                if not self.draining():
                    break
            self.before_wait()
            poller = zmq.Poller()
            poller.register(self._wake_read, zmq.POLLIN)
            poller.register(self.bus.socket, zmq.POLLIN)
            if self.view is not None:
                for socket in self.view.sockets:
                    poller.register(socket, zmq.POLLIN)
            watches = self.watches()
            for watch in watches:
                poller.register(watch.target, zmq.POLLIN)
            deadlines = [self.bus.next_deadline()]
            if self.view is not None:
                deadlines.append(self.view.next_deadline())
            own = self.next_deadline()
            if own is not None:
                deadlines.append(own)
            wait = max(0.0, min(deadlines) - self.clock())
            ready = dict(poller.poll(int(min(wait, 1.0) * 1000) + 1))
            if self._wake_read in ready:
                self._take_signals()
            self.bus.process()
            if self.view is not None:
                effects = self.view.process()
                if effects:
                    self.on_bus(effects)
            for watch in watches:
                if watch.target in ready:
                    watch.on_readable()
            now = self.clock()
            if own is not None and now >= own:
                self.on_deadline(now)
            if self._flags.reload:
                self._flags.reload = False
                self._reload()

    def _reload(self) -> None:
        """keepalived's reload_check_config: a configuration that cannot run leaves the running one in place."""
        self.log.info("Reloading")
        loaded = self._load()
        if loaded is None:
            self.log.error("Reload failed: the new configuration cannot run; keeping the running configuration")
            return
        self.config = loaded.config
        self.reload(loaded.config)
        _settle_heap()
        self.log.info("Reload finished")

    # ----------------------------------------------------------- signals

    def _install_signals(self) -> None:
        self._wake_read, self._wake_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(self._wake_write, warn_on_full_buffer=False)
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGHUP:
            self._flags.reload = True
        else:
            self._flags.stop = True

    def _take_signals(self) -> None:
        try:
            while os.read(self._wake_read, 512):
                pass
        except BlockingIOError:
            pass

    def _close(self) -> None:
        remove_service_pid(self.options.runtime_dir, self.name)
        if self.view is not None:
            self.view.close()
        if self.bus is not None:
            self.bus.close()
        if self._wake_write >= 0:
            signal.set_wakeup_fd(-1)
            os.close(self._wake_write)
            os.close(self._wake_read)


def _settle_heap() -> None:
    """Leave what setting up built (the modules, the configuration, the kernel's tables) out of
    every later garbage collection: a long-lived service would otherwise walk all of it each
    time its packets and messages trigger a full collection."""
    gc.collect()
    gc.freeze()
