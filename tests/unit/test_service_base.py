"""The service base every program shares: config, bus, signals, logging, shutdown — in real processes."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bus.hub import Hub
from bus.subscriber import Subscriber
from services.base import InstanceLog
from services.service_options import ServiceOptions
from tests.conftest import WriteConf, wait_for

ROOT = Path(__file__).resolve().parents[2]

CONF = """\
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    virtual_ipaddress {
        192.0.2.100/24
    }
}
"""


class Running:
    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: list[str] = []
        threading.Thread(target=self._collect, daemon=True).start()

    def _collect(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))

    def read_until(self, text: str, timeout: float = 10.0) -> None:
        wait_for(lambda: any(text in line for line in list(self.lines)), timeout)

    @property
    def output(self) -> str:
        return "\n".join(self.lines)


def spawn(rundir: Path, conf: Path, *args: str, code: str | None = None) -> Running:
    env = {**os.environ, "HAKEEPER_SYSLOG": "0", "PYTHONPATH": str(ROOT)}
    if code is None:
        command = [sys.executable, "-m", "services.cli", "service", "vrrp", "--runtime-dir", str(rundir), "-f",
                   str(conf), *args]  # fmt: skip
    else:
        command = [sys.executable, "-c", code, str(rundir), str(conf)]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    return Running(process)


@pytest.fixture
def view(hub: Hub, rundir: Path) -> Iterator[Subscriber]:
    with Subscriber(rundir, want_events=False) as subscriber:
        yield subscriber


def key_says(view: Subscriber, key: str, state: str) -> bool:
    view.poll(0.05)
    value = view.core.state.get(key)
    return isinstance(value, dict) and value.get("state") == state


def test_a_service_joins_the_bus_reloads_on_sighup_and_stops_cleanly_on_sigterm(
    hub: Hub, rundir: Path, view: Subscriber, write_conf: WriteConf
) -> None:
    service = spawn(rundir, write_conf(CONF))
    try:
        wait_for(lambda: key_says(view, "service/vrrp", "running"))
        service.process.send_signal(signal.SIGHUP)
        service.read_until("Reload finished")
        assert service.process.poll() is None  # reloaded in place
        service.process.send_signal(signal.SIGTERM)
        assert service.process.wait(10) == 0
        service.read_until("Stopped")
        wait_for(lambda: key_says(view, "service/vrrp", "stopped"))
    finally:
        service.process.kill()
        service.process.wait()
    assert "Keepalived_vrrp[" in service.output
    assert "Traceback" not in service.output


def test_a_reload_with_a_config_that_cannot_run_keeps_the_running_one(
    hub: Hub, rundir: Path, write_conf: WriteConf
) -> None:
    conf = write_conf(CONF)
    service = spawn(rundir, conf)
    try:
        service.read_until("Starting vrrp")
        conf.unlink()
        service.process.send_signal(signal.SIGHUP)
        service.read_until("Reload failed: the new configuration cannot run; keeping the running configuration")
        assert f"{conf}: error: cannot open configuration file" in service.output
        assert service.process.poll() is None
        service.process.send_signal(signal.SIGTERM)
        assert service.process.wait(10) == 0
    finally:
        service.process.kill()
        service.process.wait()


def test_a_config_that_cannot_run_stops_the_service_with_keepalived_exit_code(
    hub: Hub, rundir: Path, tmp_path: Path
) -> None:
    missing = tmp_path / "missing.conf"
    service = spawn(rundir, missing)
    assert service.process.wait(10) == 4  # supervisord.conf lists 4 as expected: no restart loop
    service.read_until("cannot open configuration file")


BOOM = """
import sys
from pathlib import Path
from services.base import Service
from services.service_options import ServiceOptions

class Boom(Service):
    name = "boom"
    def start(self, config):
        raise RuntimeError("a bug, not user input")

sys.exit(Boom(ServiceOptions(Path(sys.argv[1]), sys.argv[2], syslog=False)).main())
"""


def test_an_unexpected_exception_is_logged_whole_and_the_process_exits_non_zero(
    hub: Hub, rundir: Path, write_conf: WriteConf
) -> None:
    service = spawn(rundir, write_conf(CONF), code=textwrap.dedent(BOOM))
    assert service.process.wait(10) == 1  # not 0 or 4: supervisord restarts it
    service.read_until("RuntimeError: a bug, not user input")
    assert "unexpected error, exiting" in service.output
    assert "Traceback (most recent call last)" in service.output


def test_instance_log_lines_read_as_keepalived_s(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("Keepalived_vrrp")
    with caplog.at_level(logging.INFO, logger="Keepalived_vrrp"):
        InstanceLog(logger, {"instance": "VI_1"}).info("Entering MASTER STATE")
    assert caplog.messages == ["(VI_1) Entering MASTER STATE"]


def test_options_come_from_the_environment_supervisord_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HAKEEPER_CONFIG", "/etc/k.conf")
    monkeypatch.setenv("HAKEEPER_CONFIG_ID", "lb1")
    monkeypatch.setenv("HAKEEPER_FLAGS", "dont-release-vrrp")
    monkeypatch.setenv("HAKEEPER_LOG_FACILITY", "local3")
    options = ServiceOptions.from_environment(Path("/run/x"), None, None)
    assert (options.config_file, options.config_id, options.log_facility) == ("/etc/k.conf", "lb1", "local3")
    assert options.dont_release_vrrp and not options.dont_release_ipvs
    explicit = ServiceOptions.from_environment(Path("/run/x"), "/other.conf", "lb2")
    assert (explicit.config_file, explicit.config_id) == ("/other.conf", "lb2")
