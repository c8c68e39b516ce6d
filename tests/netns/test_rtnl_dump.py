"""services.vrrp.rtnl_dump against what iproute2 reads of the same namespace."""

from __future__ import annotations

import ipaddress
import json

from services.vrrp import rtnl_dump
from tests.conftest import needs_root
from tests.lab import Lan
from tests.netns.test_vrrp_wire import inside

IFF_UP = 0x1
IFA_F_SECONDARY = 0x1


@needs_root
def test_links_and_addresses_match_iproute2(lan: Lan) -> None:
    node = lan.add_node("a")
    node.exec("ip", "addr", "add", "192.0.2.77/24", "dev", "eth0")  # same subnet: a secondary
    node.exec("ip", "link", "add", "v7a", "type", "veth", "peer", "name", "v7b")  # down, no address
    with inside(node.ns):
        links = {link.name: link for link in rtnl_dump.links()}
        found = rtnl_dump.addresses()
        eth0 = links["eth0"].index
        only_eth0 = rtnl_dump.addresses(eth0)

    shown = json.loads(node.exec("ip", "-j", "link", "show").stdout)
    assert {(link["ifname"], link["ifindex"]) for link in shown} == {(n, link.index) for n, link in links.items()}
    assert links["eth0"].flags & IFF_UP and not links["v7a"].flags & IFF_UP

    expected = json.loads(node.exec("ip", "-j", "addr", "show").stdout)
    pairs = {
        (link["ifindex"], ipaddress.ip_address(info["local"]))
        for link in expected
        for info in link.get("addr_info", [])
    }
    assert {(a.index, a.address) for a in found} == pairs
    # The kernel's order: eth0's primary address first, the one added later as its secondary.
    v4 = [a for a in only_eth0 if a.address.version == 4]
    assert [str(a.address) for a in v4] == ["192.0.2.11", "192.0.2.77"]
    assert [a.flags & IFA_F_SECONDARY for a in v4] == [0, IFA_F_SECONDARY]
    assert {a.index for a in only_eth0} == {eth0}
    link_local = [a for a in only_eth0 if a.address.version == 6 and a.address.is_link_local]
    assert link_local and all(a.scope == 253 for a in link_local)
