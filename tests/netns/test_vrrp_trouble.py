"""The guide's first two troubleshooting cases, said plainly: a VRID used by another cluster on
the same LAN (a `vrid_conflict` event naming the other sender), and VRRP blocked by a firewall
on output (`send_blocked`, then `send_unblocked`, from the kernel's refusals)."""

from __future__ import annotations

import time

from bus.subscriber import Subscriber
from bus.subscriber_core import EventDelivered, Start
from services.bus_cli import fetch_status
from tests.conftest import WriteConf, needs_root, wait_for
from tests.lab import LabNode, Lan

pytestmark = needs_root


def conf(priority: int, password: str) -> str:
    return f"""\
vrrp_instance VI_1 {{
    interface eth0
    virtual_router_id 51
    priority {priority}
    advert_int 1
    authentication {{
        auth_type PASS
        auth_pass {password}
    }}
    virtual_ipaddress {{
        192.0.2.100/24
    }}
}}
"""


def events(node: LabNode, kind: str, timeout: float = 15.0) -> list[dict[str, object]]:
    """The node's `vrrp/VI_1` events of one kind, waiting until there is at least one."""
    found: list[dict[str, object]] = []
    deadline = time.monotonic() + timeout
    with Subscriber(node.runtime_dir, want_state=False, since=Start.HISTORY) as bus:
        while not found and time.monotonic() < deadline:
            for effect in bus.poll(0.2):
                if (
                    isinstance(effect, EventDelivered)
                    and effect.event.topic == "vrrp/VI_1"
                    and effect.event.data.get("event") == kind
                ):
                    found.append(dict(effect.event.data))
    assert found, f"no {kind} event from node {node.name}"
    return found


def test_another_cluster_on_the_same_vrid_is_named(lan: Lan, write_conf: WriteConf) -> None:
    a, b = lan.add_node("a"), lan.add_node("b")
    a.start(write_conf(conf(100, "ours"), "a.conf"))
    b.start(write_conf(conf(90, "theirs"), "b.conf"))
    (clash,) = events(a, "vrid_conflict")[:1]
    assert clash == {
        "event": "vrid_conflict",
        "source": b.ipv4.split("/")[0],
        "virtual_router_id": 51,
        "reason": "auth_password",
    }
    assert events(b, "vrid_conflict")[0]["source"] == a.ipv4.split("/")[0]
    wait_for(lambda: "VRID clash: 192.0.2.11 also sends VRRP adverts for VRID 51 on eth0" in b.service_log("vrrp"))
    # Reported once, not once per advert: several more of a's adverts were refused meanwhile.
    wait_for(lambda: dropped(b) >= 4, timeout=10)
    assert b.service_log("vrrp").count("VRID clash: 192.0.2.11") == 1


def dropped(node: LabNode) -> int:
    counters = fetch_status(node.runtime_dir)["counters"]
    vrrp = counters.get("vrrp", {}) if isinstance(counters, dict) else {}
    return int(vrrp.get("drop_auth_password", 0)) if isinstance(vrrp, dict) else 0


def test_adverts_a_firewall_drops_on_output_are_reported_and_their_return_too(lan: Lan, write_conf: WriteConf) -> None:
    node = lan.add_node("a")
    node.start(write_conf(conf(100, "ours"), "a.conf"))
    wait_for(lambda: "192.0.2.100/24" in node.addresses(), timeout=10)
    table = ["nft", "add", "table", "inet", "lab"]
    node.exec(*table)
    node.exec("nft", "add", "chain", "inet", "lab", "out", "{ type filter hook output priority 0 ; }")
    node.exec("nft", "add", "rule", "inet", "lab", "out", "meta", "l4proto", "vrrp", "drop")
    blocked = events(node, "send_blocked")
    assert blocked[0]["error"] == "EPERM"
    assert "(VI_1) VRRP adverts cannot be sent: the kernel refuses them (EPERM)" in node.service_log("vrrp")
    node.exec("nft", "delete", "table", "inet", "lab")
    assert events(node, "send_unblocked")
    wait_for(lambda: "(VI_1) VRRP adverts are being sent again" in node.service_log("vrrp"))
