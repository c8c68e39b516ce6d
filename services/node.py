"""`hakeeper run`: one node, as supervisord running the services, in the foreground.

This process is what systemd (or an operator's terminal) sees. It checks the
configuration, starts supervisord in its own session with the top-level
supervisord.conf, and stays in front of it so that signals mean what they mean
to keepalived:

- SIGTERM/SIGINT stop the services in order (vrrp first, so that its
  priority-0 adverts hand the VIPs over at once; then netconfig, which
  releases what it installed; the bus last) and then supervisord;
- SIGHUP reloads every service in place. supervisord's own SIGHUP would
  restart every program, so it never reaches supervisord: this process
  checks the new configuration and signals the programs one by one.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from bus.runtime_dir import ensure_runtime_dir
from conf.diagnostics import EXIT_CONFIG_FATAL
from services.config_probe import ProbeError, probe
from services.notifier.cursor import cursor_path, reset_cursor
from services.orphans import become_subreaper, service_name, stop_orphans
from services.pidfile import PidFile, PidFileBusy, read_pid
from services.service_options import ServiceOptions, service_pid_path, setup_logging
from services.supervisor_client import SERVICES, STOP_ORDER, Supervisor, SupervisorError

log = logging.getLogger("Keepalived")

SUPERVISORD_START_TIMEOUT = 15.0
SUPERVISORD_EXIT_TIMEOUT = 30.0
ORPHAN_STOP_TIMEOUT = 10.0
LOG_MAXBYTES = 10 * 1024 * 1024
PIDFILE_NAME = "hakeeper.pid"
ACTIVE_STATES = {"RUNNING", "STARTING", "BACKOFF"}
CHECKERS = ("healthcheck", "ipvs")  # what keepalived's checker process does


@dataclass(frozen=True)
class NodeOptions:
    config_file: str
    runtime_dir: Path
    config_id: str | None = None
    dont_release_vrrp: bool = False
    dont_release_ipvs: bool = False
    vrrp_only: bool = False
    check_only: bool = False
    log_console: bool = False
    log_facility: str = "daemon"
    supervisord_conf: Path | None = None


def default_supervisord_conf() -> Path:
    """The shipped supervisord.conf: the top-level one, which services/supervisord.conf links to
    in the source tree and which a wheel carries as package data."""
    return Path(__file__).parent / "supervisord.conf"


def pidfile_path(runtime_dir: Path) -> Path:
    return runtime_dir / PIDFILE_NAME


class Node:
    def __init__(self, options: NodeOptions) -> None:
        self.options = options
        self.runtime_dir = options.runtime_dir
        self.supervisor = Supervisor(options.runtime_dir)
        self._process: subprocess.Popen[bytes] | None = None
        self._pending: list[int] = []
        self._wake_read = -1
        self._wake_write = -1
        self._checkers_wanted = True
        self._trackers_wanted = True
        self._notifier_wanted = True

    # ------------------------------------------------------------------ run

    def run(self) -> int:
        setup_logging("Keepalived", self._service_options())
        if not self._config_can_run("Refusing to start"):
            return EXIT_CONFIG_FATAL
        ensure_runtime_dir(self.runtime_dir)
        try:
            with PidFile(pidfile_path(self.runtime_dir)):
                return self._run_supervised()
        except PidFileBusy as busy:
            log.error("hakeeper is already running in %s (pid %d)", self.runtime_dir, busy.pid)
        except NodeError as exc:
            log.error("%s", exc)
        return 1

    def _run_supervised(self) -> int:
        if not become_subreaper():
            log.warning("cannot become a child subreaper: services would outlive a crashed supervisord")
        self._install_signals()
        try:
            # The bus starts afresh: a notifier of this run acts on its whole history, even what
            # vrrp posts before the notifier has subscribed.
            reset_cursor(cursor_path(self.runtime_dir), from_start=self._notifier_wanted)
            self._start_supervisord()
            log.info("Started node in %s (supervisord pid %d)", self.runtime_dir, self._supervisord().pid)
            return self._serve()
        finally:
            self._reap_supervisord()
            self._restore_signals()

    def _serve(self) -> int:
        process = self._supervisord()
        while True:
            self._wait_for_signal(0.5)
            for signum in self._take_pending():
                if signum == signal.SIGHUP:
                    self.reload()
                else:
                    self.stop()
                    return 0
            if process.poll() is not None:
                log.error("supervisord exited unexpectedly (status %s); stopping", process.returncode)
                stop_orphans(STOP_ORDER, ORPHAN_STOP_TIMEOUT, log=log.info)
                return 1

    # -------------------------------------------------------------- actions

    def reload(self) -> None:
        """keepalived's reload_check_config: a configuration that cannot run keeps the running one."""
        log.info("Reloading")
        if not self._config_can_run("Reload failed, keeping the running configuration"):
            return
        try:
            for program in self.supervisor.status():
                if program.name != "bus" and program.state == "RUNNING":
                    self.supervisor.signal(program.name, "HUP")
                elif program.state not in ACTIVE_STATES and (reason := self._now_wanted(program.name)):
                    log.info("%s: starting %s", reason, program.name)
                    self.supervisor.start(program.name)
        except SupervisorError as exc:
            log.error("Reload incomplete: %s", exc)
            return
        log.info("Reload signalled to the services")

    def _healthcheck_wanted(self) -> bool:
        options = self.options
        return (self._checkers_wanted and not options.vrrp_only) or (self._trackers_wanted and not options.check_only)

    def _now_wanted(self, name: str) -> str | None:
        """Why a service that is not running should start after a reload (None: it should not)."""
        if name == "healthcheck" and self._trackers_wanted and not self.options.check_only:
            return "Tracked scripts configured"
        if name in CHECKERS and self._checkers_wanted and not self.options.vrrp_only:
            return "Virtual servers configured"
        if name == "notifier" and self._notifier_wanted:
            return "Notifications configured"
        return None

    def stop(self) -> None:
        log.info("Stopping")
        self._signal_first()
        for name in STOP_ORDER:
            try:
                states = {program.name: program.state for program in self.supervisor.status()}
                if states.get(name) in ACTIVE_STATES:
                    self.supervisor.stop(name)
            except SupervisorError as exc:
                if "NOT_RUNNING" not in str(exc):  # it stopped between the two calls
                    log.error("stopping %s: %s", name, exc)
        with contextlib.suppress(SupervisorError):
            self.supervisor.shutdown()
        process = self._supervisord()
        try:
            process.wait(SUPERVISORD_EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            log.error("supervisord did not exit within %.0f s; killing it", SUPERVISORD_EXIT_TIMEOUT)
            process.kill()
            process.wait()
        # The node's bus is gone with its history: the notifier's place in it means nothing to the
        # next run, and a stopped node leaves nothing behind.
        cursor_path(self.runtime_dir).unlink(missing_ok=True)
        log.info("Stopped")

    def _signal_first(self) -> None:
        """SIGTERM the first service to stop (vrrp) straight away: its priority 0 adverts hand the
        VIPs over, and each round trip to supervisord before they leave delays the backup's takeover.
        Its pid file names it; the process's command line confirms it (a pid may have been reused)."""
        name = STOP_ORDER[0]
        pid = read_pid(service_pid_path(self.runtime_dir, name))
        if pid is None:
            return
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return
        if service_name([part.decode(errors="replace") for part in cmdline]) == name:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    # ---------------------------------------------------------- supervisord

    def _start_supervisord(self) -> None:
        conf = self.options.supervisord_conf or default_supervisord_conf()
        env = {**os.environ, **self._environment()}
        output = None if self.options.log_console else subprocess.DEVNULL
        # Its own session: a terminal's Ctrl-C reaches this process only, which stops in order.
        self._process = subprocess.Popen(
            [str(Path(sys.executable).with_name("supervisord")), "-n", "-c", str(conf)],
            env=env,
            stdout=output,
            stderr=output,
            start_new_session=True,
        )
        deadline = time.monotonic() + SUPERVISORD_START_TIMEOUT
        while not self.supervisor.alive():
            if self._process.poll() is not None:
                raise NodeError(f"supervisord exited at start (status {self._process.returncode}); see {conf}")
            if time.monotonic() > deadline:
                self._process.kill()
                self._process.wait()
                raise NodeError(f"supervisord did not answer on {self.supervisor.socket}")
            self._wait_for_signal(0.05)

    def _reap_supervisord(self) -> None:
        """Whatever happened, no supervisord (and so no service) outlives this process."""
        process = self._process
        if process is None or process.poll() is not None:
            return
        process.terminate()  # supervisord stops its programs on SIGTERM
        try:
            process.wait(SUPERVISORD_EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def _supervisord(self) -> subprocess.Popen[bytes]:
        assert self._process is not None
        return self._process

    def _environment(self) -> dict[str, str]:
        options = self.options
        log_dir = self.runtime_dir / ("console" if options.log_console else "log")
        log_dir.mkdir(mode=0o700, exist_ok=True)
        if options.log_console:
            # supervisord writes each program's output to a file; these files are the console.
            for name in SERVICES:
                link = log_dir / f"{name}.log"
                if not link.is_symlink():
                    link.unlink(missing_ok=True)
                    link.symlink_to("/dev/stdout")
        flags = [
            flag
            for flag, wanted in (
                ("dont-release-vrrp", options.dont_release_vrrp),
                ("dont-release-ipvs", options.dont_release_ipvs),
            )
            if wanted
        ]
        return {
            "HAKEEPER_RUNTIME_DIR": str(self.runtime_dir),
            "HAKEEPER_LOG_DIR": str(log_dir),
            "HAKEEPER_LOG_MAXBYTES": "0" if options.log_console else str(LOG_MAXBYTES),
            "HAKEEPER_PYTHON": sys.executable,
            "HAKEEPER_AUTOSTART_VRRP": "false" if options.check_only else "true",
            # keepalived starts its checker process only with virtual servers to check (running_checker).
            "HAKEEPER_AUTOSTART_CHECK": "true" if self._checkers_wanted and not options.vrrp_only else "false",
            # healthcheck also runs the tracked vrrp_scripts, which the VRRP side needs.
            "HAKEEPER_AUTOSTART_HEALTHCHECK": "true" if self._healthcheck_wanted() else "false",
            # Likewise the notifier only with something to notify (services.autostart).
            "HAKEEPER_AUTOSTART_NOTIFY": "true" if self._notifier_wanted else "false",
            "HAKEEPER_CONFIG": str(Path(options.config_file).absolute()),
            "HAKEEPER_CONFIG_ID": options.config_id or "",
            "HAKEEPER_FLAGS": ",".join(flags),
            "HAKEEPER_LOG_FACILITY": options.log_facility,
        }

    def _service_options(self) -> ServiceOptions:
        return ServiceOptions(
            runtime_dir=self.runtime_dir,
            config_file=self.options.config_file,
            config_id=self.options.config_id,
            log_facility=self.options.log_facility,
            syslog=os.environ.get("HAKEEPER_SYSLOG", "1") != "0",
        )

    def _config_can_run(self, refusal: str) -> bool:
        try:
            verdict = probe(self.options.config_file, self.options.config_id)
        except ProbeError as exc:
            log.error("%s: checking %s failed:\n%s", refusal, self.options.config_file, exc)
            return False
        for line in verdict.lines:
            log.warning("%s", line)
        if not verdict.can_run:
            log.error("%s: %s cannot run (check-config exit %d)", refusal, self.options.config_file, EXIT_CONFIG_FATAL)
            return False
        self._checkers_wanted = verdict.checkers
        self._trackers_wanted = verdict.trackers
        self._notifier_wanted = verdict.notifier
        return True

    # -------------------------------------------------------------- signals

    def _install_signals(self) -> None:
        self._wake_read, self._wake_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(self._wake_write, warn_on_full_buffer=False)
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._pending.append(signum)

    def _take_pending(self) -> list[int]:
        pending, self._pending = self._pending, []
        return pending

    def _wait_for_signal(self, timeout: float) -> None:
        if self._pending:
            return
        with contextlib.suppress(InterruptedError):
            select.select([self._wake_read], [], [], timeout)
        with contextlib.suppress(BlockingIOError):
            while os.read(self._wake_read, 512):
                pass

    def _restore_signals(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, signal.SIG_DFL)
        signal.set_wakeup_fd(-1)
        os.close(self._wake_write)
        os.close(self._wake_read)


class NodeError(Exception):
    """The node could not be started; the message says why."""
