"""The healthcheck service runs the tracked vrrp_scripts; vrrp moves the VIP on their results.

The deployment guide's second configuration (weight -10, preemption), on a
throw-away bridge: each node's check fails while a flag file of its own exists.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from tests.conftest import WriteConf, needs_root, wait_for
from tests.lab import LabNode, Lan

VIP = "192.0.2.100/24"


def guide_conf(priority: int, flag: Path, *, weight: int = -10, nopreempt: bool = False) -> str:
    """The guide's configurations: its second (weight -10, preemption) by default, its first
    (both BACKUP, weight 2, nopreempt) with `weight=2, nopreempt=True`."""
    return f"""\
global_defs {{
    enable_script_security
    script_user root
}}
vrrp_script chk_nginx {{
    script "/usr/bin/test ! -e {flag}"
    interval 1
    weight {weight}
}}
{instance(priority, "track_script", "chk_nginx", backup_nopreempt=nopreempt)}"""


def instance(priority: int, kind: str, name: str, *, backup_nopreempt: bool = False) -> str:
    """VI_1 holding VIP and tracking `name` in its `kind` block (track_script, track_file, track_process)."""
    settings = "    state BACKUP\n    nopreempt\n" if backup_nopreempt else ""
    return f"""\
vrrp_instance VI_1 {{
{settings}    interface eth0
    virtual_router_id 51
    priority {priority}
    advert_int 1
    virtual_ipaddress {{
        {VIP}
    }}
    {kind} {{
        {name}
    }}
}}
"""


def holds(node: LabNode) -> bool:
    return VIP in node.addresses()


@needs_root
def test_a_failing_check_moves_the_vip_and_its_recovery_brings_it_back(
    lan: Lan, write_conf: WriteConf, tmp_path: Path
) -> None:
    flag = tmp_path / "a-nginx-down"
    a, b = lan.add_node("a"), lan.add_node("b")
    a.start(write_conf(guide_conf(100, flag), "a.conf"))
    b.start(write_conf(guide_conf(95, tmp_path / "b-nginx-down"), "b.conf"))
    wait_for(lambda: holds(a) and not holds(b), timeout=20)
    wait_for(lambda: "VRRP_Script(chk_nginx) succeeded" in a.service_log("healthcheck"))

    # nginx "dies" on a: 100 - 10 = 90 < 95, b takes over within interval x fall + b's
    # master down interval (3 x 1 + (256 - 95) / 256 s), with a margin for the VIP itself.
    flag.touch()
    failed_at = time.monotonic()
    wait_for(lambda: holds(b) and not holds(a), timeout=10)
    assert time.monotonic() - failed_at <= 1 * 1 + 3 + 161 / 256 + 1.0
    assert "VRRP_Script(chk_nginx) failed (exited with status 1)" in a.service_log("healthcheck")
    wait_for(lambda: "(VI_1) Changing effective priority from 100 to 90" in a.service_log("vrrp"))

    # Back: a preempts again.
    flag.unlink()
    wait_for(lambda: holds(a) and not holds(b), timeout=10)
    assert a.service_log("healthcheck").count("VRRP_Script(chk_nginx) succeeded") == 2


@needs_root
def test_scripts_run_in_healthcheck_and_stop_with_it(lan: Lan, write_conf: WriteConf, tmp_path: Path) -> None:
    marker = "/usr/bin/sleep 613"  # a run that outlives the test unless the service stops it
    conf = guide_conf(100, tmp_path / "flag").replace(f"/usr/bin/test ! -e {tmp_path / 'flag'}", marker)
    node = lan.add_node("a")
    node.start(write_conf(conf.replace("interval 1\n", "interval 1000\n"), "a.conf"))
    states = {p.name: p.state for p in node.supervisor.status()}
    assert states["healthcheck"] == "RUNNING" and states["ipvs"] == "STOPPED"

    def running() -> bool:
        return marker in node.exec("ps", "-eo", "args").stdout

    wait_for(running)
    assert node.stop() == 0
    assert not running()


def file_conf(priority: int, path: Path) -> str:
    return f"""\
track_file tf {{
    file {path}
    weight -10
    init_file 0
}}
{instance(priority, "track_file", "tf")}"""


@needs_root
def test_a_tracked_file_value_moves_the_priority_and_the_vip(lan: Lan, write_conf: WriteConf, tmp_path: Path) -> None:
    weight = tmp_path / "a-weight"
    a, b = lan.add_node("a"), lan.add_node("b")
    a.start(write_conf(file_conf(100, weight), "a.conf"))
    b.start(write_conf(file_conf(95, tmp_path / "b-weight"), "b.conf"))
    assert weight.read_text() == "0\n"  # init_file
    wait_for(lambda: holds(a) and not holds(b), timeout=20)

    weight.write_text("2\n")  # 100 + 2 x -10 = 80 < 95
    wait_for(lambda: holds(b) and not holds(a), timeout=10)
    wait_for(lambda: "(VI_1) Changing effective priority from 100 to 80" in a.service_log("vrrp"))

    weight.write_text("0\n")
    wait_for(lambda: holds(a) and not holds(b), timeout=10)


@needs_root
def test_a_tracked_process_holds_the_instance_in_fault_until_it_runs(
    lan: Lan, write_conf: WriteConf, tmp_path: Path
) -> None:
    program = tmp_path / f"hkq{time.monotonic_ns() % 10**9}"  # a comm no other process has
    program.write_bytes(Path("/usr/bin/sleep").read_bytes())
    program.chmod(0o755)
    conf = f"""\
vrrp_track_process daemon {{
    process {program.name}
}}
{instance(100, "track_process", "daemon")}"""
    node = lan.add_node("a")
    node.start(write_conf(conf, "a.conf"))
    # In a network namespace the kernel refuses process events: healthcheck reads /proc instead.
    wait_for(lambda: "reading /proc every" in node.service_log("healthcheck"))
    wait_for(lambda: "Quorum" not in node.service_log("healthcheck") and not holds(node))
    daemon = subprocess.Popen(["ip", "netns", "exec", node.ns, str(program), "600"])
    try:
        wait_for(lambda: "Quorum gained for tracked process daemon" in node.service_log("healthcheck"))
        wait_for(lambda: holds(node), timeout=10)
    finally:
        daemon.kill()
        daemon.wait()
    wait_for(lambda: "Quorum lost for tracked process daemon" in node.service_log("healthcheck"))
    wait_for(lambda: not holds(node), timeout=10)


@needs_root
def test_with_nopreempt_a_failing_check_moves_nothing_but_a_stop_does(
    lan: Lan, write_conf: WriteConf, tmp_path: Path
) -> None:
    flag = tmp_path / "a-nginx-down"
    a, b = lan.add_node("a"), lan.add_node("b")
    conf_a = write_conf(guide_conf(100, flag, weight=2, nopreempt=True), "a.conf")
    a.start(conf_a)
    wait_for(lambda: holds(a), timeout=20)
    b.start(write_conf(guide_conf(99, tmp_path / "b-nginx-down", weight=2, nopreempt=True), "b.conf"))
    wait_for(lambda: "VRRP_Script(chk_nginx) succeeded" in b.service_log("healthcheck"))

    # a's check fails: 100 < 99 + 2, but b does not preempt.
    flag.touch()
    wait_for(lambda: "(VI_1) Changing effective priority from 102 to 100" in a.service_log("vrrp"))
    quiet_until = time.monotonic() + 5  # more than b's master down interval
    wait_for(lambda: time.monotonic() >= quiet_until, timeout=10)
    assert holds(a) and not holds(b)

    # Stopping a moves the VIP to b; a, recovered and back, does not take it again.
    assert a.stop() == 0
    wait_for(lambda: holds(b), timeout=10)
    flag.unlink()
    a.start(conf_a)
    wait_for(lambda: "VRRP_Script(chk_nginx) succeeded" in a.service_log("healthcheck"))
    quiet_until = time.monotonic() + 5
    wait_for(lambda: time.monotonic() >= quiet_until, timeout=10)
    assert holds(b) and not holds(a)


@needs_root
def test_a_restarted_healthcheck_changes_nothing_until_its_results_change(
    lan: Lan, write_conf: WriteConf, tmp_path: Path
) -> None:
    flag = tmp_path / "a-nginx-down"
    a, b = lan.add_node("a"), lan.add_node("b")
    a.start(write_conf(guide_conf(100, flag), "a.conf"))
    b.start(write_conf(guide_conf(95, tmp_path / "b-nginx-down"), "b.conf"))
    wait_for(lambda: holds(a) and not holds(b), timeout=20)
    flag.touch()
    wait_for(lambda: holds(b) and not holds(a), timeout=10)
    changes = a.service_log("vrrp").count("Changing effective priority")

    # healthcheck restarts while the check fails: a stays at 90 throughout, the VIP stays on b.
    restarted = a.ctl("restart", "healthcheck")
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    wait_for(lambda: a.service_log("healthcheck").count("VRRP_Script(chk_nginx) failed") == 2)
    assert a.service_log("vrrp").count("Changing effective priority") == changes
    assert holds(b) and not holds(a)
