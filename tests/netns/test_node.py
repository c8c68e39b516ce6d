"""A whole node under `hakeeper run` in a network namespace: start, ctl, reload, stop, release."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.conftest import WriteConf, needs_root, wait_for
from tests.lab import LabNode, Lan

pytestmark = needs_root

SERVICES = ("vrrp", "healthcheck", "ipvs", "netconfig", "notifier")

CONF = """\
static_ipaddress {
    198.51.100.5/24 dev eth0
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority 100
    advert_int 1
    # Something to notify gives the node its notifier.
    notify /bin/true
    virtual_ipaddress {
        192.0.2.100/24
    }
    virtual_ipaddress_excluded {
        2001:db8::100/64
    }
}
# Virtual servers give the node its checker services (healthcheck, ipvs), as keepalived's checker process.
virtual_server 192.0.2.100 80 {
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 198.51.100.20 80 {
        TCP_CHECK {
            connect_timeout 3
        }
    }
}
"""
VRRP_ONLY = CONF[: CONF.index("# Virtual servers")]

VIP = "192.0.2.100/24"
VIP6 = "2001:db8::100/64"
STATIC = "198.51.100.5/24"


def started(lan: Lan, write_conf: WriteConf, *flags: str, conf: str = CONF) -> LabNode:
    node = lan.add_node("a")
    node.start(write_conf(conf), *flags)
    return node


def become_master(node: LabNode) -> None:
    """Alone on its LAN, VI_1 becomes MASTER when its master down timer runs out; netconfig installs."""
    wait_for(lambda: {VIP, VIP6, STATIC} <= node.addresses(), timeout=15)


def stop_order(node: LabNode) -> list[str]:
    log = (node.runtime_dir / "supervisord.log").read_text()
    return [line.split("stopped: ", 1)[1].split()[0] for line in log.splitlines() if "stopped: " in line]


def test_run_starts_every_service_and_ctl_status_shows_them(lan: Lan, write_conf: WriteConf) -> None:
    node = started(lan, write_conf)
    status = node.ctl("status")
    assert status.returncode == 0, status.stdout + status.stderr
    for name in (*SERVICES, "bus"):
        assert f"{name} " in status.stdout and "RUNNING" in status.stdout
    assert (node.runtime_dir / "hakeeper.pid").read_text().strip() == str(node.process.pid)  # type: ignore[union-attr]
    # Every service logs under the runtime directory with keepalived's syslog idents.
    wait_for(lambda: "Keepalived_vrrp[" in node.service_log("vrrp"))
    wait_for(lambda: "Keepalived_healthcheckers[" in node.service_log("healthcheck"))


def test_sigterm_stops_in_order_releases_and_leaves_nothing(lan: Lan, write_conf: WriteConf) -> None:
    node = started(lan, write_conf)
    become_master(node)
    supervisord_pid = int((node.runtime_dir / "supervisord.pid").read_text())
    assert node.stop(signal.SIGTERM) == 0
    assert not {VIP, VIP6, STATIC} & node.addresses()
    assert node.addresses() == {node.ipv4, node.ipv6} | {a for a in node.addresses() if a.startswith("fe80:")}
    assert stop_order(node) == ["vrrp", "netconfig", "healthcheck", "ipvs", "notifier", "bus"]
    assert node.processes() == [], "a process outlived the node"
    assert not Path(f"/proc/{supervisord_pid}").exists()
    leftovers = {p.name for p in node.runtime_dir.iterdir()} - {"log", "supervisord.log"}
    assert leftovers == set(), f"left in the runtime directory: {leftovers}"


def test_sigint_stops_like_sigterm(lan: Lan, write_conf: WriteConf) -> None:
    node = started(lan, write_conf)
    become_master(node)
    assert node.stop(signal.SIGINT) == 0
    assert not {VIP, STATIC} & node.addresses()
    assert node.processes() == []


def test_dont_release_vrrp_keeps_the_vips_but_not_the_static_addresses(lan: Lan, write_conf: WriteConf) -> None:
    node = started(lan, write_conf, "--dont-release-vrrp")
    become_master(node)
    assert node.stop() == 0
    addresses = node.addresses()
    assert {VIP, VIP6} <= addresses
    assert STATIC not in addresses  # keepalived clears static addresses whatever the flag
    assert node.processes() == []


@pytest.mark.parametrize("service", SERVICES)
def test_ctl_restart_of_one_service_leaves_the_others_running(
    lan: Lan, write_conf: WriteConf, service: str
) -> None:
    node = started(lan, write_conf)
    become_master(node)
    before = node.pids()
    with node.sampling_addresses() as samples:
        result = node.ctl("restart", service)
        assert result.returncode == 0, result.stderr
        wait_for(node.all_running)
    # Sampled every 10 ms through the restart: no address ever went away.
    assert len(samples) > 10 and all({VIP, VIP6, STATIC} <= sample for sample in samples)
    after = node.pids()
    assert after[service] != before[service]
    assert {k: v for k, v in after.items() if k != service} == {k: v for k, v in before.items() if k != service}
    assert {VIP, VIP6, STATIC} <= node.addresses()


def test_ctl_stop_and_start_one_service(lan: Lan, write_conf: WriteConf) -> None:
    node = started(lan, write_conf)
    assert node.ctl("stop", "healthcheck").returncode == 0
    status = node.ctl("status")
    assert status.returncode == 3  # not everything runs
    assert "healthcheck  STOPPED" in status.stdout
    assert node.ctl("status", "vrrp").returncode == 0
    assert node.ctl("start", "healthcheck").returncode == 0
    wait_for(node.all_running)


def test_a_killed_service_is_restarted_by_supervisord(lan: Lan, write_conf: WriteConf) -> None:
    node = started(lan, write_conf)
    before = node.pids()
    node.exec("kill", "-KILL", str(before["notifier"]))
    wait_for(lambda: node.pids().get("notifier", before["notifier"]) != before["notifier"])
    assert {k: v for k, v in node.pids().items() if k != "notifier"} == {
        k: v for k, v in before.items() if k != "notifier"
    }


@pytest.mark.parametrize("how", ["sighup", "reload-command"])
def test_reload_with_an_unchanged_config_restarts_nothing_and_moves_no_address(
    lan: Lan, write_conf: WriteConf, how: str
) -> None:
    node = started(lan, write_conf)
    become_master(node)
    before = node.pids()
    with node.sampling_addresses() as samples:
        if how == "sighup":
            node.send_signal(signal.SIGHUP)
        else:
            assert node.hakeeper("reload", "--runtime-dir", str(node.runtime_dir)).returncode == 0
        for service in SERVICES:
            wait_for(lambda service=service: "Reload finished" in node.service_log(service))  # type: ignore[misc]
    assert node.pids() == before
    assert samples and all({VIP, VIP6, STATIC} <= sample for sample in samples)


def test_reload_with_a_config_that_cannot_run_keeps_the_running_one(lan: Lan, write_conf: WriteConf) -> None:
    path = write_conf(CONF)
    node = lan.add_node("a")
    node.start(path)
    become_master(node)
    before = node.pids()
    path.unlink()  # keepalived -t exits 4: the file cannot be read
    node.send_signal(signal.SIGHUP)
    wait_for(lambda: "Reload failed, keeping the running configuration" in node.log_text())
    assert node.pids() == before
    assert {VIP, STATIC} <= node.addresses()


def test_run_refuses_a_config_that_cannot_run(lan: Lan, write_conf: WriteConf) -> None:
    node = lan.add_node("a")
    missing = node.workdir / "missing.conf"
    node.start(missing, wait=False)
    assert node.process is not None
    assert node.process.wait(30) == 4
    assert "Refusing to start" in node.log_text()
    assert f"{missing}: error: cannot open configuration file" in node.log_text()
    assert not (node.runtime_dir / "supervisor.sock").exists()
    assert node.processes() == []


def test_a_second_run_on_the_same_runtime_dir_is_refused(lan: Lan, write_conf: WriteConf) -> None:
    node = started(lan, write_conf)
    second = node.hakeeper("run", "-f", str(write_conf(CONF)), "--runtime-dir", str(node.runtime_dir))
    assert second.returncode == 1
    assert "already running" in second.stdout + second.stderr
    assert node.all_running()


def test_check_only_runs_no_vrrp_side(lan: Lan, write_conf: WriteConf) -> None:
    node = started(lan, write_conf, "--check")
    states = {p.name: p.state for p in node.supervisor.status()}
    assert states["vrrp"] == states["netconfig"] == "STOPPED"
    assert states["healthcheck"] == states["ipvs"] == "RUNNING"


def test_without_virtual_servers_no_checker_runs_until_a_reload_brings_some(
    lan: Lan, write_conf: WriteConf
) -> None:
    path = write_conf(VRRP_ONLY)
    node = lan.add_node("a")
    node.start(path)
    states = {p.name: p.state for p in node.supervisor.status()}
    assert states["healthcheck"] == states["ipvs"] == "STOPPED"
    assert states["vrrp"] == states["netconfig"] == states["notifier"] == "RUNNING"
    path.write_text(CONF)
    node.send_signal(signal.SIGHUP)
    wait_for(lambda: {p.name: p.state for p in node.supervisor.status()}["ipvs"] == "RUNNING")
    wait_for(node.all_running)


def test_without_anything_to_notify_no_notifier_runs_until_a_reload_brings_something(
    lan: Lan, write_conf: WriteConf
) -> None:
    quiet = VRRP_ONLY.replace("    notify /bin/true\n", "")
    path = write_conf(quiet)
    node = lan.add_node("a")
    node.start(path)
    states = {p.name: p.state for p in node.supervisor.status()}
    assert states["notifier"] == "STOPPED"
    assert states["vrrp"] == states["netconfig"] == states["bus"] == "RUNNING"
    path.write_text(VRRP_ONLY)
    node.send_signal(signal.SIGHUP)
    wait_for(lambda: {p.name: p.state for p in node.supervisor.status()}["notifier"] == "RUNNING")
    assert "Notifications configured: starting notifier" in node.log_text()


def test_vrrp_only_runs_no_checkers(lan: Lan, write_conf: WriteConf) -> None:
    node = started(lan, write_conf, "--vrrp")
    states = {p.name: p.state for p in node.supervisor.status()}
    assert states["healthcheck"] == states["ipvs"] == "STOPPED"
    assert states["vrrp"] == states["netconfig"] == "RUNNING"


def test_log_console_sends_the_services_output_to_the_terminal(lan: Lan, write_conf: WriteConf) -> None:
    node = started(lan, write_conf, "--log-console")
    wait_for(lambda: "Keepalived_vrrp[" in node.log_text() and "Keepalived_healthcheckers[" in node.log_text())
    assert node.stop() == 0
    assert "Keepalived_vrrp[" in node.log_text() and "Stopped" in node.log_text()


def test_a_killed_supervisord_leaves_no_service_and_no_vip_behind(lan: Lan, write_conf: WriteConf) -> None:
    node = started(lan, write_conf)
    become_master(node)
    services = set(node.pids().values())
    supervisord_pid = int((node.runtime_dir / "supervisord.pid").read_text())
    node.exec("kill", "-KILL", str(supervisord_pid))
    assert node.process is not None
    assert node.process.wait(60) == 1
    assert "supervisord exited unexpectedly" in node.log_text()
    assert "stopping orphaned vrrp" in node.log_text()
    assert not services & set(node.processes()), "a service outlived its supervisord"
    assert node.processes() == []
    assert not {VIP, STATIC} & node.addresses()  # stopped in order: vrrp, then netconfig released
