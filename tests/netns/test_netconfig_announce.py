"""netconfig announces what it installs: gratuitous ARP and unsolicited NA on the wire, from the real service."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import needs_root, wait_for
from tests.netns.test_announce import Capture, announcements, inside, link
from tests.netns.test_netconfig import Node, node  # noqa: F401  (the fixture)

pytestmark = needs_root

CONF = """\
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    garp_master_repeat 2
    garp_master_delay 1
    virtual_ipaddress {
        192.0.2.100/24
    }
    virtual_ipaddress_excluded {
        2001:db8::100/64
    }
}
"""
TARGETS = {"192.0.2.100", "2001:db8::100"}
OBSERVE = 1.5  # longer than garp_master_delay: a second burst would have come


@pytest.fixture
def capture(node: Node) -> Iterator[Capture]:  # noqa: F811
    peer = str(link(node.ns, "eth0")["link"])
    with inside(node.ns):
        sniffer = Capture(peer)
    try:
        yield sniffer
    finally:
        sniffer.close()


def counted(capture: Capture) -> dict[str, int]:
    found = announcements(capture.frames, TARGETS)
    arps = sum(1 for item in found if item.frame[12:14] == b"\x08\x06")
    return {"arp": arps, "na": len(found) - arps}


def observe_quiet(capture: Capture, lab: Node) -> None:
    """Watch the wire for OBSERVE seconds (a bounded window, not a wait for a condition)."""
    before = counted(capture)
    for _ in range(int(OBSERVE / 0.05)):
        capture.read(0.05)
        lab.pump()
    assert counted(capture) == before, "announcements went out when nothing became MASTER"


def test_becoming_master_announces_two_bursts_a_restart_none_and_a_repair_again(
    node: Node,  # noqa: F811
    capture: Capture,
) -> None:
    node.set("service/vrrp", {"state": "running"})
    node.start_netconfig(CONF)
    node.vrrp("VI_1", "MASTER")
    # garp_master_repeat 2, now and again garp_master_delay later: 4 ARPs and 4 NAs.
    capture.until(lambda: counted(capture) == {"arp": 2, "na": 2}, timeout=5)
    capture.until(lambda: counted(capture) == {"arp": 4, "na": 4}, timeout=5)
    first = announcements(capture.frames, TARGETS)
    assert first[-1].at - first[0].at >= 0.8
    observe_quiet(capture, node)

    # A restart of netconfig while vrrp runs adopts the VIPs: nothing became MASTER, nothing is announced.
    assert node.stop_netconfig() == 0
    node.start_netconfig(CONF)
    wait_for(lambda: node.report("VI_1").get("installed") == node.report("VI_1").get("desired"), step=node.pump)
    observe_quiet(capture, node)

    # A VIP deleted by hand is put back and announced again (both bursts).
    node.ip("addr", "del", "192.0.2.100/24", "dev", "eth0")
    capture.until(lambda: counted(capture)["arp"] == 8, timeout=5)

    # BACKUP: the VIPs go and nothing more is announced.
    node.vrrp("VI_1", "BACKUP")
    wait_for(lambda: "192.0.2.100/24" not in node.addresses(), step=node.pump)
    observe_quiet(capture, node)
    # The restarted netconfig sent only the repair's two bursts for the one VIP.
    counters = node.state().get("counters/netconfig")
    assert isinstance(counters, dict) and counters.get("sent_arp") == 4 and "sent_na" not in counters
