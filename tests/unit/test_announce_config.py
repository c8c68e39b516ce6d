"""AnnounceSettings and interface spacing built from real keepalived.conf text."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

import pytest

from conf.load import Loaded, load
from services.netconfig.announce_config import default_spacing, interface_spacing, scheduler_for, settings_for
from services.netconfig.announce_core import Announcement, AnnounceSettings, Spacing
from tests.conftest import WriteConf

INSTANCES = """\
vrrp_instance VI_1 {{
    interface eth0
    virtual_router_id 51
{body}
    virtual_ipaddress {{
        192.0.2.100/24
    }}
}}
vrrp_instance VI_2 {{
    interface eth1
    virtual_router_id 52
    virtual_ipaddress {{
        192.0.2.200/24
    }}
}}
"""


def loaded(write_conf: WriteConf, body: str = "", head: str = "") -> Loaded:
    result = load(str(write_conf(head + INSTANCES.format(body=body))), config_id="node")
    assert [d.message for d in result.diagnostics] == []
    return result


def test_keepalived_defaults(write_conf: WriteConf) -> None:
    config = loaded(write_conf).config
    assert settings_for(config.vrrp_instances[0]) == AnnounceSettings(
        repeat=5, delay=5.0, refresh=0.0, refresh_repeat=1, lower_prio_repeat=5, lower_prio_delay=5.0
    )
    assert default_spacing(config) == Spacing(arp=0.0, na=0.0)
    assert interface_spacing(config) == {}


def test_instance_values_override_global_ones(write_conf: WriteConf) -> None:
    head = """\
global_defs {
    vrrp_garp_master_delay 3
    vrrp_garp_master_repeat 2
    vrrp_garp_master_refresh 60
    vrrp_garp_master_refresh_repeat 4
    vrrp_garp_lower_prio_delay 7
    vrrp_garp_lower_prio_repeat 1
}
"""
    body = """\
    garp_master_delay 1
    garp_master_repeat 3
    garp_master_refresh 30
    garp_master_refresh_repeat 2
    garp_lower_prio_delay 0
    garp_lower_prio_repeat 6
"""
    instances = loaded(write_conf, body, head).config.vrrp_instances
    assert settings_for(instances[0]) == AnnounceSettings(
        repeat=3, delay=1.0, refresh=30.0, refresh_repeat=2, lower_prio_repeat=6, lower_prio_delay=0.0
    )
    assert settings_for(instances[1]) == AnnounceSettings(
        repeat=2, delay=3.0, refresh=60.0, refresh_repeat=4, lower_prio_repeat=1, lower_prio_delay=7.0
    )


def test_min_garp_sends_one_round_and_no_delayed_one(write_conf: WriteConf) -> None:
    config = loaded(write_conf, head="global_defs {\n    vrrp_min_garp\n}\n").config
    settings = settings_for(config.vrrp_instances[0])
    assert (settings.repeat, settings.delay) == (1, 0.0)


def test_strict_mode_sends_nothing_on_a_lower_priority_advert(write_conf: WriteConf) -> None:
    result = load(str(write_conf("global_defs {\n    vrrp_strict\n}\n" + INSTANCES.format(body=""))), config_id="node")
    settings = settings_for(result.config.vrrp_instances[0])
    assert (settings.lower_prio_repeat, settings.lower_prio_delay) == (0, 0.0)
    assert (settings.repeat, settings.delay) == (5, 5.0)


def test_global_intervals_apply_to_every_interface_on_its_own(write_conf: WriteConf) -> None:
    head = "global_defs {\n    vrrp_garp_interval 0.01\n    vrrp_gna_interval 0.02\n}\n"
    config = loaded(write_conf, head=head).config
    assert default_spacing(config) == Spacing(arp=0.01, na=0.02)
    assert interface_spacing(config) == {}


def test_a_garp_group_replaces_the_global_intervals_for_its_interfaces(write_conf: WriteConf) -> None:
    head = """\
global_defs {
    vrrp_garp_interval 0.01
    vrrp_gna_interval 0.02
}
garp_group {
    garp_interval 0.5
    interfaces {
        eth1
        eth2
    }
}
garp_group {
    gna_interval 0.25
    interface eth3
}
"""
    config = loaded(write_conf, head=head).config
    spacing = interface_spacing(config)
    assert set(spacing) == {"eth1", "eth2", "eth3"}
    # Only garp_interval in the group: NAs on its interfaces are not paced, whatever vrrp_gna_interval says.
    assert (spacing["eth1"].arp, spacing["eth1"].na) == (0.5, 0.0)
    assert spacing["eth1"] == spacing["eth2"]
    assert (spacing["eth3"].arp, spacing["eth3"].na) == (0.0, 0.25)
    assert len({spacing["eth1"].group, spacing["eth3"].group, "eth1", "eth2", "eth3"}) == 5
    assert default_spacing(config) == Spacing(arp=0.01, na=0.02)


def test_the_scheduler_from_a_config_shares_a_group_timer_and_keeps_others_apart(write_conf: WriteConf) -> None:
    head = """\
global_defs {
    vrrp_garp_interval 0.1
}
garp_group {
    garp_interval 0.5
    interfaces {
        eth1
        eth2
    }
}
"""
    scheduler = scheduler_for(loaded(write_conf, head=head).config)
    once = AnnounceSettings(repeat=1, delay=0)
    scheduler.became_master(
        "VI_1",
        [
            Announcement("eth1", IPv4Address("192.0.2.1")),
            Announcement("eth2", IPv4Address("192.0.2.2")),
            Announcement("eth0", IPv4Address("192.0.2.3")),
            Announcement("eth9", IPv4Address("192.0.2.4")),
            Announcement("eth1", IPv6Address("2001:db8::1")),
        ],
        once,
        now=0.0,
    )
    first = scheduler.due(0.0)
    # One ARP from the group, one on each ungrouped interface, and the NA: the group has no NA interval.
    assert [str(send.address) for send in first] == ["192.0.2.1", "192.0.2.3", "192.0.2.4", "2001:db8::1"]
    assert scheduler.next_deadline() == pytest.approx(0.5)
    assert [str(send.address) for send in scheduler.due(0.5)] == ["192.0.2.2"]
    assert scheduler.next_deadline() is None
