"""The healthcheck service runs the tracked vrrp_scripts; vrrp moves the VIP on their results.

The deployment guide's second configuration (weight -10, preemption), on a
throw-away bridge: each node's check fails while a flag file of its own exists.
"""

from __future__ import annotations

import time
from pathlib import Path

from tests.conftest import WriteConf, needs_root, wait_for
from tests.lab import LabNode, Lan

VIP = "192.0.2.100/24"


def guide_conf(priority: int, flag: Path) -> str:
    return f"""\
global_defs {{
    enable_script_security
    script_user root
}}
vrrp_script chk_nginx {{
    script "/usr/bin/test ! -e {flag}"
    interval 1
    weight -10
}}
vrrp_instance VI_1 {{
    interface eth0
    virtual_router_id 51
    priority {priority}
    advert_int 1
    virtual_ipaddress {{
        {VIP}
    }}
    track_script {{
        chk_nginx
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
