"""Which optional services a configuration starts, and the forked check `hakeeper run` relies on."""

from __future__ import annotations

import os
import sys

import pytest

import services.config_probe
from conf.load import load
from services.autostart import autostart
from services.config_probe import ProbeError, probe
from services.forked import ChildFailed, run_in_child
from tests.conftest import WriteConf

VRRP = """\
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority 100
%s    virtual_ipaddress {
        192.0.2.100/24
    }
}
"""
NOTHING = VRRP % ""


@pytest.mark.parametrize(
    "extra",
    [
        "global_defs {\n    notify_fifo /run/hakeeper-test.fifo\n}\n" + NOTHING,
        "global_defs {\n    smtp_server 127.0.0.1\n    notification_email {\n        ops@example.com\n    }\n}\n"
        + NOTHING,
        VRRP % "    notify_master /bin/true\n",
        VRRP % "    notify /bin/true\n",
        NOTHING + "vrrp_sync_group G {\n    group {\n        VI_1\n    }\n    notify_fault /bin/true\n}\n",
        NOTHING + "virtual_server 192.0.2.100 80 {\n    quorum_up /bin/true\n"
        "    real_server 198.51.100.20 80 {\n    }\n}\n",
        NOTHING + "virtual_server 192.0.2.100 80 {\n"
        "    real_server 198.51.100.20 80 {\n        notify_down /bin/true\n    }\n}\n",
    ],
)
def test_something_to_notify_starts_the_notifier(write_conf: WriteConf, extra: str) -> None:
    loaded = load(str(write_conf(extra)))
    assert autostart(loaded.config).notifier


def test_nothing_to_notify_and_no_virtual_server_starts_neither(write_conf: WriteConf) -> None:
    wanted = autostart(load(str(write_conf(NOTHING))).config)
    assert not wanted.notifier and not wanted.checkers
    # An address to e-mail without an SMTP server to send through is nothing to do either.
    quiet = "global_defs {\n    notification_email {\n        ops@example.com\n    }\n}\n" + NOTHING
    assert not autostart(load(str(write_conf(quiet))).config).notifier


def test_virtual_servers_start_the_checkers(write_conf: WriteConf) -> None:
    conf = NOTHING + "virtual_server 192.0.2.100 80 {\n    real_server 198.51.100.20 80 {\n    }\n}\n"
    assert autostart(load(str(write_conf(conf))).config).checkers


def test_the_probe_reports_the_verdict_without_loading_the_model_here(write_conf: WriteConf) -> None:
    already = "conf.check" in sys.modules
    verdict = probe(str(write_conf(VRRP % "    notify /bin/true\n")), None)
    assert verdict.can_run and verdict.notifier and not verdict.checkers
    assert ("conf.check" in sys.modules) == already
    flawed = probe(str(write_conf("vrrp_instance VI_1 {\n    virtual_router_id 300\n}\n")), None)
    assert flawed.can_run and flawed.exit_code == 5  # errors, but it would run
    assert any(":2: error: virtual_router_id" in line for line in flawed.lines), flawed.lines


def test_a_missing_file_is_a_verdict_not_a_crash() -> None:
    verdict = probe("/nonexistent/keepalived.conf", None)
    assert not verdict.can_run and verdict.exit_code == 4


def test_a_child_that_raises_reports_its_traceback() -> None:
    def boom() -> None:
        raise RuntimeError("in the child")

    with pytest.raises(ChildFailed, match="RuntimeError: in the child"):
        run_in_child(boom)
    assert run_in_child(lambda: {"pid": os.getpid()})["pid"] != os.getpid()


def test_a_probe_that_fails_is_a_probe_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(config_file: str, config_id: str | None) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(services.config_probe, "_check", failing)
    with pytest.raises(ProbeError, match="disk on fire"):
        probe("/etc/keepalived/keepalived.conf", None)
