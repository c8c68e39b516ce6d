"""hakeeper and Debian's keepalived 2.2.7 as VRRP peers on one bridge.

Each test puts hakeeper nodes (`hakeeper run`) and keepalived nodes
(`keepalived --vrrp`) on the same LAN and checks who holds the VIP, on the
kernel's address lists of both, and what each side logs: elections,
preemption, nopreempt, priority 0 handovers, equal priorities, unicast peers
and a password that does not match. keepalived runs with --log-detail, so it
logs the priority 0 adverts it receives.

VRRPv2 runs at keepalived's usual 1 s with PASS authentication (the one test
where the master down interval is long enough to tell a priority 0 handover
from a timeout); everything else runs VRRPv3 at 0.1 s to keep the module quick.
"""

from __future__ import annotations

import contextlib
import re
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from services.bus_cli import fetch_status
from tests.conftest import needs_keepalived, needs_root, wait_for
from tests.lab import LabNode, Lan, ip

pytestmark = [needs_root, needs_keepalived, pytest.mark.interop]

VRID = 51
VIP = "192.0.2.100/24"
PASSWORD = "s3cret"
# What keepalived 2.2.7 says of a packet it will not take (vrrp.c vrrp_check_packet and
# vrrp_scheduler.c vrrp_dispatcher_read): anything bogus, invalid or a mismatch, and the rest.
COMPLAINT = re.compile(
    r"bogus|invalid|mismatch|wrong version|expecting|unexpected|not present|not a unicast peer|packet too"
    r"|icast packet|unknown vrid",
    re.IGNORECASE,
)
WRONG_PASSWORD = "received an invalid passwd!"
# From the stop signal to the successor holding the VIP, beyond its skew time: a stopping node's
# priority 0 advert, the successor's reaction and the kernel's address (about 0.05 s when idle).
HANDOVER_MARGIN = 1.0
# Long enough for several VRRPv3 master down intervals at 0.1 s (0.3 s + skew).
WINDOW_V3 = 1.0
V2 = "advert_int 1\n    authentication {\n        auth_type PASS\n        auth_pass " + PASSWORD + "\n    }"
V3 = "version 3\n    advert_int 0.1"


# ===================================================================== helpers


def conf(node: LabNode, priority: int, settings: str, extra: str = "", globals_: str = "", name: str = "") -> Path:
    """One vrrp_instance VI_1 on eth0 with VIP, as hakeeper and keepalived both read it."""
    path = node.workdir / (name or "keepalived.conf")
    path.write_text(
        f"""\
global_defs {{
    router_id {node.name}
    {globals_}
}}
vrrp_instance VI_1 {{
    state BACKUP
    interface eth0
    virtual_router_id {VRID}
    priority {priority}
    {settings}
    {extra}
    virtual_ipaddress {{
        {VIP}
    }}
}}
"""
    )
    return path


def address(node: LabNode) -> str:
    return node.ipv4.split("/")[0]


def holds_vip(node: LabNode) -> bool:
    return VIP in node.addresses()


def keepalived_log(node: LabNode) -> str:
    return node.log_text()


def vrrp_log(node: LabNode) -> str:
    return node.service_log("vrrp")


def status(node: LabNode) -> dict[str, Any]:
    """`hakeeper status --json` of a running hakeeper node."""
    return fetch_status(node.runtime_dir)


def vrrp_state(node: LabNode) -> str | None:
    instance = status(node)["instances"].get("VI_1", {})
    state = instance.get("state")
    return str(state) if state is not None else None


def vrrp_counters(node: LabNode) -> dict[str, int]:
    return dict(status(node)["counters"].get("vrrp", {}))


def complaints(node: LabNode, allowed: tuple[str, ...] = ()) -> list[str]:
    """keepalived's lines refusing a packet, but for the `allowed` ones."""
    lines = keepalived_log(node).splitlines()
    return [line for line in lines if COMPLAINT.search(line) and not any(a in line for a in allowed)]


def held_only_by(holder: LabNode, others: list[LabNode], seconds: float) -> None:
    """Sample every node's addresses for `seconds`: the VIP is on `holder` all along, on no other ever."""
    with contextlib.ExitStack() as stack:
        samples = [stack.enter_context(node.sampling_addresses()) for node in (holder, *others)]
        time.sleep(seconds)  # the observation window
    assert len(samples[0]) > 10 and all(VIP in sample for sample in samples[0]), f"{holder.name} lost the VIP"
    for node, taken in zip(others, samples[1:], strict=True):
        assert len(taken) > 10 and not any(VIP in sample for sample in taken), f"{node.name} took the VIP"


def takeover_time(stop: Callable[[], None], successor: LabNode, timeout: float) -> float:
    """Seconds from `stop()` (which only signals) until `successor` holds the VIP."""
    started = time.monotonic()
    stop()
    wait_for(lambda: holds_vip(successor), timeout=timeout)
    return time.monotonic() - started


def skew(priority: int, interval: float) -> float:
    return (256 - priority) / 256 * interval


def detach(lan: Lan, node: LabNode) -> None:
    """Take the node's bridge port off the bridge: its link stays up, but no one hears it."""
    ip("-n", lan.bridge_ns, "link", "set", f"p{node.index}", "nomaster")


def attach(lan: Lan, node: LabNode) -> None:
    ip("-n", lan.bridge_ns, "link", "set", f"p{node.index}", "master", "br0")


# ===================================================================== tests


def test_v2_pass_master_and_backup_both_ways_with_priority_0_handovers(lan: Lan) -> None:
    """VRRPv2, PASS, 1 s: hakeeper MASTER over keepalived, handing over with priority 0, then the reverse."""
    hk, ka = lan.add_node("hk"), lan.add_node("ka")
    hk.start(conf(hk, 200, V2))
    wait_for(lambda: holds_vip(hk), timeout=10)
    assert vrrp_state(hk) == "MASTER"
    ka.start_keepalived(conf(ka, 100, V2), "--vrrp")
    wait_for(lambda: "(VI_1) Entering BACKUP STATE (init)" in keepalived_log(ka))
    # Longer than keepalived's master down interval (3 x 1 s + skew): only our adverts keep it BACKUP.
    held_only_by(hk, [ka], 4.5)
    assert "Entering MASTER STATE" not in keepalived_log(ka)

    # hakeeper stops: its priority 0 advert makes keepalived take over after its skew time, not its down interval.
    # Without it keepalived would wait out its down interval from our last advert: 2.6 s at the least.
    elapsed = takeover_time(lambda: hk.send_signal(signal.SIGTERM), ka, timeout=5)
    assert hk.process is not None and hk.process.wait(30) == 0
    assert elapsed < skew(100, 1.0) + HANDOVER_MARGIN, f"keepalived took over after {elapsed:.2f} s"
    assert "(VI_1) sent 0 priority" in vrrp_log(hk)
    wait_for(lambda: "(VI_1) Backup received priority 0 advertisement" in keepalived_log(ka), timeout=2)
    assert not holds_vip(hk)

    # hakeeper again, lower now: keepalived's adverts keep it BACKUP.
    before = len(vrrp_log(hk))
    hk.start(conf(hk, 50, V2, name="low.conf"))
    wait_for(lambda: "(VI_1) Entering BACKUP STATE (init)" in vrrp_log(hk)[before:])
    held_only_by(ka, [hk], 4.5)
    assert vrrp_state(hk) == "BACKUP"
    assert "Entering MASTER STATE" not in vrrp_log(hk)[before:]
    # Repeats the kernel held are counted when read, just before the master down timer would fire.
    wait_for(lambda: vrrp_counters(hk).get("adverts_received", 0) >= 3, timeout=5)
    counters = vrrp_counters(hk)
    assert {k: v for k, v in counters.items() if k.startswith("drop_")} == {}

    # keepalived stops: hakeeper takes over on its priority 0 advert.
    elapsed = takeover_time(lambda: ka.send_signal(signal.SIGTERM), hk, timeout=5)
    assert elapsed < skew(50, 1.0) + HANDOVER_MARGIN, f"hakeeper took over after {elapsed:.2f} s"
    assert ka.process is not None and ka.process.wait(10) == 0
    assert "(VI_1) Backup received priority 0 advertisement" in vrrp_log(hk)[before:]
    wait_for(lambda: "(VI_1) sent 0 priority" in keepalived_log(ka), timeout=2)
    assert vrrp_state(hk) == "MASTER"
    assert complaints(ka) == [], keepalived_log(ka)


def test_v3_a_higher_priority_started_later_preempts_both_ways(lan: Lan) -> None:
    """VRRPv3 at 0.1 s (vrrp_version 3 in global_defs): keepalived MASTER < hakeeper < keepalived, started in turn."""
    low, hk, high = lan.add_node("ka1"), lan.add_node("hk"), lan.add_node("ka2")
    settings, globals_ = "advert_int 0.1", "vrrp_version 3"
    low.start_keepalived(conf(low, 100, settings, globals_=globals_), "--vrrp")
    wait_for(lambda: holds_vip(low), timeout=10)

    hk.start(conf(hk, 150, settings, globals_=globals_))
    wait_for(lambda: holds_vip(hk), timeout=10)
    assert f"(VI_1) received lower priority (100) advert from {address(low)} - discarding" in vrrp_log(hk)
    yielded = f"(VI_1) Master received advert from {address(hk)} with higher priority 150, ours 100"
    wait_for(lambda: yielded in keepalived_log(low))
    wait_for(lambda: "(VI_1) Entering BACKUP STATE" in keepalived_log(low).split(yielded, 1)[1], timeout=2)
    held_only_by(hk, [low], WINDOW_V3)
    assert vrrp_state(hk) == "MASTER"

    high.start_keepalived(conf(high, 200, settings, globals_=globals_), "--vrrp")
    wait_for(lambda: holds_vip(high), timeout=10)
    yielded = f"(VI_1) Master received advert from {address(high)} with higher priority 200, ours 150"
    wait_for(lambda: yielded in vrrp_log(hk))
    wait_for(lambda: "(VI_1) Entering BACKUP STATE" in vrrp_log(hk).split(yielded, 1)[1], timeout=2)
    assert f"(VI_1) received lower priority (150) advert from {address(hk)} - discarding" in keepalived_log(high)
    held_only_by(high, [hk, low], WINDOW_V3)
    assert vrrp_state(hk) == "BACKUP"
    assert not [k for k in vrrp_counters(hk) if k.startswith("drop_")]
    assert complaints(low) == [] and complaints(high) == [], keepalived_log(low) + keepalived_log(high)


def test_v3_nopreempt_a_higher_priority_started_later_stays_backup_both_ways(lan: Lan) -> None:
    """Both `state BACKUP`; nopreempt on the later, higher one, hakeeper first, then keepalived."""
    low, hk, high = lan.add_node("ka1"), lan.add_node("hk"), lan.add_node("ka2")
    low.start_keepalived(conf(low, 100, V3), "--vrrp")
    wait_for(lambda: holds_vip(low), timeout=10)

    hk.start(conf(hk, 200, V3, extra="nopreempt"))
    wait_for(lambda: "(VI_1) Entering BACKUP STATE (init)" in vrrp_log(hk))
    held_only_by(low, [hk], WINDOW_V3)
    assert vrrp_state(hk) == "BACKUP"
    assert "received lower priority" not in vrrp_log(hk)  # nopreempt takes them as any other master's

    # The MASTER goes away: hakeeper takes over, and keepalived at 250 with nopreempt leaves it there.
    low.send_signal(signal.SIGTERM)
    wait_for(lambda: holds_vip(hk), timeout=5)
    high.start_keepalived(conf(high, 250, V3, extra="nopreempt"), "--vrrp")
    wait_for(lambda: "(VI_1) Entering BACKUP STATE (init)" in keepalived_log(high))
    held_only_by(hk, [high], WINDOW_V3)
    assert vrrp_state(hk) == "MASTER"
    assert "Entering MASTER STATE" not in keepalived_log(high)
    assert not [k for k in vrrp_counters(hk) if k.startswith("drop_")]
    assert complaints(low) == [] and complaints(high) == [], keepalived_log(low) + keepalived_log(high)


def test_v3_equal_priority_the_higher_primary_address_wins_both_ways(lan: Lan) -> None:
    """Two MASTERs at the same priority meet (each started alone, then bridged): the higher address stays."""
    hk1, ka, hk2 = lan.add_node("hk1"), lan.add_node("ka"), lan.add_node("hk2")  # .11 < .12 < .13
    detach(lan, hk1)
    detach(lan, ka)
    ka.start_keepalived(conf(ka, 100, V3), "--vrrp")
    hk1.start(conf(hk1, 100, V3))
    wait_for(lambda: holds_vip(hk1) and holds_vip(ka), timeout=10)
    attach(lan, hk1)
    attach(lan, ka)
    wait_for(lambda: not holds_vip(hk1), timeout=5)
    assert (
        f"(VI_1) Master received advert from {address(ka)} with same priority 100 but higher IP address than ours"
        in vrrp_log(hk1)
    )
    held_only_by(ka, [hk1], WINDOW_V3)
    assert vrrp_state(hk1) == "BACKUP"

    detach(lan, hk2)
    hk2.start(conf(hk2, 100, V3))
    wait_for(lambda: holds_vip(hk2), timeout=10)
    attach(lan, hk2)
    yielded = (
        f"(VI_1) Master received advert from {address(hk2)} with same priority 100 but higher IP address than ours"
    )
    wait_for(lambda: yielded in keepalived_log(ka), timeout=5)
    wait_for(lambda: "(VI_1) Entering BACKUP STATE" in keepalived_log(ka).split(yielded, 1)[1], timeout=2)
    held_only_by(hk2, [ka, hk1], WINDOW_V3)
    assert vrrp_state(hk2) == "MASTER"
    assert complaints(ka) == [], keepalived_log(ka)


def test_v3_unicast_peers(lan: Lan) -> None:
    """unicast_src_ip and unicast_peer on both sides: hakeeper preempts keepalived, then hands back with priority 0."""
    hk, ka = lan.add_node("hk"), lan.add_node("ka")

    def unicast(me: LabNode, peer: LabNode) -> str:
        return f"unicast_src_ip {address(me)}\n    unicast_peer {{\n        {address(peer)}\n    }}"

    ka.start_keepalived(conf(ka, 100, V3, extra=unicast(ka, hk) + "\n    check_unicast_src"), "--vrrp")
    wait_for(lambda: holds_vip(ka), timeout=10)
    assert "unicast" in keepalived_log(ka).lower()
    hk.start(conf(hk, 200, V3, extra=unicast(hk, ka)))
    wait_for(lambda: holds_vip(hk), timeout=10)
    # hakeeper took keepalived's unicast adverts (and found them lower), keepalived took ours.
    assert f"(VI_1) received lower priority (100) advert from {address(ka)} - discarding" in vrrp_log(hk)
    yielded = f"(VI_1) Master received advert from {address(hk)} with higher priority 200, ours 100"
    wait_for(lambda: yielded in keepalived_log(ka))
    held_only_by(hk, [ka], WINDOW_V3)
    counters = vrrp_counters(hk)
    assert counters["adverts_received"] >= 1
    assert not [k for k in counters if k.startswith("drop_")]

    hk.send_signal(signal.SIGTERM)
    wait_for(lambda: holds_vip(ka), timeout=5)
    assert hk.process is not None and hk.process.wait(30) == 0
    wait_for(lambda: "(VI_1) Backup received priority 0 advertisement" in keepalived_log(ka), timeout=2)
    assert complaints(ka) == [], keepalived_log(ka)


def test_v2_a_wrong_password_is_ignored_by_both_so_both_are_master(lan: Lan) -> None:
    """Same priority, different PASS passwords: each drops the other's adverts and stays MASTER."""
    hk, ka = lan.add_node("hk"), lan.add_node("ka")  # keepalived has the higher address
    hk.start(conf(hk, 100, V2))
    wait_for(lambda: holds_vip(hk), timeout=10)
    # Were our adverts taken, keepalived would stay BACKUP under an equal priority MASTER.
    ka.start_keepalived(conf(ka, 100, V2.replace(PASSWORD, "other")), "--vrrp")
    wait_for(lambda: holds_vip(ka), timeout=10)
    # Were keepalived's taken, its higher address would send us to BACKUP.
    with hk.sampling_addresses() as ours, ka.sampling_addresses() as theirs:
        time.sleep(2.5)  # the observation window: two adverts each
    assert len(ours) > 10 and all(VIP in sample for sample in ours)
    assert len(theirs) > 10 and all(VIP in sample for sample in theirs)
    assert vrrp_state(hk) == "MASTER"
    wait_for(lambda: vrrp_counters(hk).get("drop_auth_password", 0) >= 2, timeout=5)
    assert f"(VI_1) {WRONG_PASSWORD}" in vrrp_log(hk)
    assert f"(VI_1) {WRONG_PASSWORD}" in keepalived_log(ka)
    assert "(VI_1) Entering MASTER STATE" in keepalived_log(ka)
    assert complaints(ka, allowed=(WRONG_PASSWORD,)) == [], keepalived_log(ka)
