"""netconfig's desired state: what the configuration and the instances' states ask the kernel to hold."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conf.load import load
from conf.model.addresses import VirtualAddress, format_address
from conf.model.config import Config
from conf.model.iproute import INFINITY_LIFE_TIME
from services.netconfig.desired import (
    STATIC,
    LinkFacts,
    Vmac,
    assign_vmac_names,
    desired_state,
    eui64_link_local,
    kernel_address,
)
from services.netconfig.kernel_addresses import AddressKind, parse_address_line
from tests.conftest import WriteConf

IFACE = ipaddress.ip_interface


def config(write_conf: WriteConf, text: str) -> Config:
    loaded = load(str(write_conf(text)), config_id="node")
    assert not loaded.diagnostics.errors(), [d.render() for d in loaded.diagnostics.errors()]
    return loaded.config


def texts(entries: Any) -> list[str]:
    return [e.text() if isinstance(e, Vmac) else format_address(e) for e in entries]


TWO = """
global_defs {
    default_interface eth1
}
static_ipaddress {
    203.0.113.1/24
    203.0.113.2/24 dev eth2 label eth2:s
}
static_routes {
    198.51.100.0/24 via 203.0.113.254
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    virtual_ipaddress {
        192.0.2.100/24
        192.0.2.101/24 dev eth3
    }
    virtual_ipaddress_excluded {
        192.0.2.200/24
    }
    virtual_routes {
        198.51.100.0/25 dev eth0
    }
    virtual_rules {
        from 192.0.2.100 table 100 preference 100
    }
}
vrrp_instance VI_2 {
    interface eth0
    virtual_router_id 52
    use_vmac
    virtual_ipaddress {
        192.0.2.150/24
        192.0.2.151/24 dev eth0
    }
}
"""


def test_vips_follow_master_and_stay_owned_otherwise(write_conf: WriteConf) -> None:
    cfg = config(write_conf, TWO)
    names = assign_vmac_names(cfg, {}).names
    master = desired_state(cfg, {"VI_1": "MASTER", "VI_2": "BACKUP"}, names, {})
    assert texts(master.wanted["address"]["VI_1"]) == [
        "192.0.2.100/24 dev eth0",
        "192.0.2.101/24 dev eth3",
        "192.0.2.200/24 dev eth0",
    ]
    assert [str(r.destination) for r in master.wanted["route"]["VI_1"]] == ["198.51.100.0/25"]
    assert len(master.wanted["rule"]["VI_1"]) == 1
    # BACKUP: nothing of VI_2's addresses is wanted, but all of them are owned.
    assert "VI_2" not in master.wanted["address"]
    assert texts(master.universe["address"]["VI_2"]) == ["192.0.2.150/24 dev vrrp.52", "192.0.2.151/24 dev eth0"]
    # The VMAC exists as long as the instance is configured, whatever its state.
    assert texts(master.wanted["vmac"]["VI_2"]) == ["vrrp.52 link eth0 vrid 52 inet mac 00:00:5e:00:01:34"]
    assert master.held == {}
    backup = desired_state(cfg, {"VI_1": "BACKUP", "VI_2": "FAULT"}, names, {})
    assert set(backup.wanted) == {"vmac", "address", "route"}
    assert set(backup.wanted["address"]) == {STATIC}
    assert backup.universe == master.universe


def test_instances_whose_state_is_unknown_are_held(write_conf: WriteConf) -> None:
    cfg = config(write_conf, TWO)
    names = assign_vmac_names(cfg, {}).names
    known = desired_state(cfg, {"VI_2": "MASTER"}, names, {})
    assert "VI_1" not in known.wanted["address"]
    assert texts(known.held["address"]["VI_1"]) == texts(known.universe["address"]["VI_1"])
    assert set(known.held) == {"address", "route", "rule"}
    assert "VI_2" not in known.held.get("address", {})
    # Its VMAC is not state dependent: wanted, never held.
    assert "vmac" not in known.held


def test_statics_are_always_wanted_on_the_default_interface(write_conf: WriteConf) -> None:
    cfg = config(write_conf, TWO)
    out = desired_state(cfg, {}, {}, {})
    assert texts(out.wanted["address"][STATIC]) == ["203.0.113.1/24 dev eth1", "203.0.113.2/24 dev eth2 label eth2:s"]
    assert [str(r.via) for r in out.wanted["route"][STATIC]] == ["203.0.113.254"]
    released = out.releasing()
    assert released.wanted == {} and released.held == {}
    assert released.universe == out.universe


def test_vips_without_an_interface_are_reported(write_conf: WriteConf) -> None:
    cfg = config(
        write_conf,
        """
        vrrp_instance VI_1 {
            unicast_src_ip 192.0.2.1
            unicast_peer {
                192.0.2.2
            }
            virtual_router_id 51
            virtual_ipaddress {
                192.0.2.100/24
                192.0.2.101/24 dev eth0
            }
        }
        """,
    )
    out = desired_state(cfg, {"VI_1": "MASTER"}, {}, {})
    assert texts(out.wanted["address"]["VI_1"]) == ["192.0.2.101/24 dev eth0"]
    assert out.unresolved == (("VI_1", "192.0.2.100/24"),)


# ---------------------------------------------------------------------------------------------
# VMACs

VMAC = """
global_defs {{
    {globals}
}}
vrrp_instance VI_1 {{
    interface eth0
    virtual_router_id {vrid}
    use_vmac {vmac}
    virtual_ipaddress {{
        {vip}
    }}
    {extra}
}}
"""


def vmac_config(
    write_conf: WriteConf, *, vmac: str = "", vip: str = "192.0.2.100/24", vrid: int = 51, **kw: str
) -> Config:
    return config(
        write_conf,
        VMAC.format(vmac=vmac, vip=vip, vrid=vrid, globals=kw.get("globals", ""), extra=kw.get("extra", "")),
    )


def the_vmac(cfg: Config, links: dict[str, LinkFacts] | None = None) -> Vmac:
    out = desired_state(cfg, {}, assign_vmac_names(cfg, links or {}).names, links or {})
    [vmac] = out.wanted["vmac"]["VI_1"]
    assert isinstance(vmac, Vmac)
    return vmac


def test_vmac_mac_and_name_as_keepalived_makes_them(write_conf: WriteConf) -> None:
    assert the_vmac(vmac_config(write_conf)) == Vmac("vrrp.51", "eth0", 51, 4, "00:00:5e:00:01:33", ipv6=False)
    six = the_vmac(vmac_config(write_conf, vip="fe80::1/64", vrid=7))
    assert six == Vmac("vrrp.7", "eth0", 7, 6, "00:00:5e:00:02:07", ipv6=True)
    named = the_vmac(vmac_config(write_conf, vmac="vrrp-web"))
    assert named.name == "vrrp-web"
    assert the_vmac(vmac_config(write_conf, globals="vmac_prefix vm")).name == "vm.51"
    assert the_vmac(vmac_config(write_conf, vmac="02:11:22:33:44:55")).mac == "02:11:22:33:44:55"
    assert the_vmac(vmac_config(write_conf, vmac="02:11:22:33:44")).mac == "02:11:22:33:44:33"
    # A long prefix is cut so that the name fits in IFNAMSIZ.
    assert the_vmac(vmac_config(write_conf, globals="vmac_prefix abcdefghijklmnop")).name == "abcdefghijkl.51"


def test_vmac_keeps_ipv6_for_evips_of_the_other_family(write_conf: WriteConf) -> None:
    cfg = vmac_config(write_conf, extra="virtual_ipaddress_excluded {\n 2001:db8::5/64\n }")
    assert the_vmac(cfg).ipv6


def test_vmac_name_skips_interfaces_and_instances_that_have_it(write_conf: WriteConf) -> None:
    veth = LinkFacts("vrrp.51", mac="aa:bb:cc:dd:ee:ff")
    assert the_vmac(vmac_config(write_conf), {"vrrp.51": veth}).name == "vrrp1.51"
    taken = {"vrrp.51": veth, "vrrp1.51": LinkFacts("vrrp1.51")}
    assert the_vmac(vmac_config(write_conf), taken).name == "vrrp2.51"
    # IPv6 tries PREFIX6 second, then 1, 2, ... skipping 6.
    six = vmac_config(write_conf, vip="fe80::1/64")
    assert the_vmac(six, {"vrrp.51": veth}).name == "vrrp6.51"
    names = ("vrrp.51", "vrrp6.51", "vrrp1.51", "vrrp2.51", "vrrp3.51", "vrrp4.51", "vrrp5.51")
    assert the_vmac(six, {n: LinkFacts(n) for n in names}).name == "vrrp7.51"
    # A configured name held by an interface of another type is ignored.
    notes = assign_vmac_names(vmac_config(write_conf, vmac="eth9"), {"eth9": LinkFacts("eth9")})
    assert notes.names == {"VI_1": "vrrp.51"}
    assert "already exists as a non VMAC interface" in notes.notes[0]


def test_an_existing_matching_vmac_is_used_whatever_its_name(write_conf: WriteConf) -> None:
    earlier = LinkFacts("old-vmac", mac="00:00:5e:00:01:33", macvlan_private=True, base="eth0")
    found = assign_vmac_names(vmac_config(write_conf), {"old-vmac": earlier})
    assert found.names == {"VI_1": "old-vmac"}
    assert found.notes == ("(VI_1) Found matching interface old-vmac",)
    elsewhere = LinkFacts("old-vmac", mac="00:00:5e:00:01:33", macvlan_private=True, base="eth1")
    assert assign_vmac_names(vmac_config(write_conf), {"old-vmac": elsewhere}).names == {"VI_1": "vrrp.51"}


def test_two_instances_never_share_a_vmac_name(write_conf: WriteConf) -> None:
    cfg = config(
        write_conf,
        """
        vrrp_instance A {
            interface eth0
            virtual_router_id 51
            use_vmac
            virtual_ipaddress {
                192.0.2.1/24
            }
        }
        vrrp_instance B {
            interface eth1
            virtual_router_id 51
            use_vmac
            virtual_ipaddress {
                198.51.100.1/24
            }
        }
        """,
    )
    assert assign_vmac_names(cfg, {}).names == {"A": "vrrp.51", "B": "vrrp1.51"}


def test_vips_go_on_the_vmac_unless_they_name_their_device(write_conf: WriteConf) -> None:
    cfg = vmac_config(write_conf, extra="virtual_ipaddress_excluded {\n 192.0.2.9/24 dev eth0\n 192.0.2.8/24\n }")
    out = desired_state(cfg, {"VI_1": "MASTER"}, assign_vmac_names(cfg, {}).names, {})
    assert texts(out.wanted["address"]["VI_1"]) == [
        "192.0.2.100/24 dev vrrp.51",
        "192.0.2.9/24 dev eth0",
        "192.0.2.8/24 dev vrrp.51",
    ]


def test_ipv6_vmac_link_local_address(write_conf: WriteConf) -> None:
    cfg = vmac_config(write_conf, vip="fe80::1/64")
    base = LinkFacts("eth0", mac="52:54:00:12:34:56", link_local=ipaddress.IPv6Address("fe80::5054:ff:fe12:3456"))

    def link_local(cfg: Config, links: dict[str, LinkFacts]) -> list[str]:
        out = desired_state(cfg, {"VI_1": "BACKUP"}, assign_vmac_names(cfg, links).names, links)
        return texts(out.wanted.get("address", {}).get("VI_1", ()))

    # Wanted in BACKUP too: it belongs with the VMAC. Deprecated, so never a source address.
    assert link_local(cfg, {"eth0": base}) == ["fe80::5054:ff:fe12:3456/64 dev vrrp.51 preferred_lft 0"]
    made = LinkFacts("eth0", mac="52:54:00:12:34:56")
    assert link_local(cfg, {"eth0": made}) == ["fe80::5054:ff:fe12:3456/64 dev vrrp.51 preferred_lft 0"]
    sourced = vmac_config(write_conf, vip="fe80::1/64", extra="mcast_src_ip fe80::77")
    assert link_local(sourced, {"eth0": base}) == ["fe80::77/64 dev vrrp.51 preferred_lft 0"]
    xmit_base = vmac_config(write_conf, vip="fe80::1/64", extra="vmac_xmit_base")
    assert link_local(xmit_base, {"eth0": base}) == []
    assert link_local(vmac_config(write_conf), {"eth0": base}) == []


def test_eui64() -> None:
    assert eui64_link_local("00:00:5e:00:01:33") == ipaddress.IPv6Address("fe80::200:5eff:fe00:133")


def test_vmac_text_round_trip_and_bad_text() -> None:
    for vmac in (
        Vmac("vrrp.51", "eth0", 51, 4, "00:00:5e:00:01:33", ipv6=False),
        Vmac("vrrp.51", "eth0", 51, 4, "00:00:5e:00:01:33", ipv6=True),
        Vmac("v6", "bond0.10", 255, 6, "00:00:5e:00:02:ff", ipv6=True),
    ):
        assert Vmac.parse(vmac.text()) == vmac
    for bad in ("", "vrrp.51", "vrrp.51 link eth0 vrid 0 inet mac 00:00:5e:00:01:33", "x link e vrid 1 inet mac zz"):
        with pytest.raises(ValueError):
            Vmac.parse(bad)


# ---------------------------------------------------------------------------------------------
# Addresses: every option survives the normal form and the round trip through the bus


def test_every_option_is_carried_into_the_kernel_form(write_conf: WriteConf) -> None:
    cfg = config(
        write_conf,
        """
        static_ipaddress {
            192.0.2.5/24 dev eth0 brd 192.0.2.255 scope host label eth0:x noprefixroute home mngtmpaddr no_track
            192.0.2.6 dev eth0 peer 192.0.2.7
            2001:db8::5/64 dev eth0 -nodad preferred_lft 30 autojoin
            224.0.0.99/32 dev eth0 autojoin
        }
        """,
    )
    out = desired_state(cfg, {}, {}, {})
    assert texts(out.wanted["address"][STATIC]) == [
        "192.0.2.5/24 dev eth0 scope host brd 192.0.2.255 label eth0:x home mngtmpaddr noprefixroute no_track",
        "192.0.2.6/32 dev eth0 peer 192.0.2.7",
        "2001:db8::5/64 dev eth0 -nodad autojoin preferred_lft 30",
        "224.0.0.99/32 dev eth0 autojoin",
    ]
    kind = AddressKind()
    for entry in out.wanted["address"][STATIC]:
        assert kind.parse(kind.text(entry)) == entry


ADDRESS_V4 = st.builds(lambda n, plen: IFACE(f"192.0.2.{n}/{plen}"), st.integers(1, 254), st.integers(8, 32))
ADDRESS_V6 = st.builds(lambda n, plen: IFACE(f"2001:db8::{n:x}/{plen}"), st.integers(1, 0xFFFF), st.integers(1, 128))


@st.composite
def addresses(draw: st.DrawFn) -> VirtualAddress:
    six = draw(st.booleans())
    address = draw(ADDRESS_V6 if six else ADDRESS_V4)
    host = 128 if six else 32
    peer = None
    if draw(st.booleans()):
        peer = ipaddress.ip_address(f"2001:db8::ffff:{draw(st.integers(1, 0xFFFF)):x}" if six else "203.0.113.9")
        address = IFACE(f"{address.ip}/{host}")
    broadcast = None
    if not six and peer is None and draw(st.booleans()):
        broadcast = ipaddress.IPv4Address(f"192.0.2.{draw(st.integers(0, 255))}")
    preferred: int | None = None
    if six:
        preferred = draw(st.sampled_from([0, 1, 300, INFINITY_LIFE_TIME]))
    entry = VirtualAddress(
        address=address,
        dev=draw(st.sampled_from(["eth0", "vrrp.51", "bond0.100"])),
        scope=0 if six else draw(st.sampled_from([0, 200, 253, 254])),
        broadcast=broadcast,
        label=None if six else draw(st.sampled_from([None, "eth0:vip", "eth0:1"])),
        peer=peer,
        home=draw(st.booleans()),
        nodad=draw(st.booleans()),
        mngtmpaddr=draw(st.booleans()),
        noprefixroute=draw(st.booleans()),
        autojoin=draw(st.booleans()),
        no_track=draw(st.booleans()),
        preferred_lft=preferred,
    )
    return kernel_address(entry, entry.dev or "eth0")


@settings(max_examples=300, deadline=None)
@given(addresses())
def test_address_text_round_trips_through_the_configuration_parser(entry: VirtualAddress) -> None:
    kind = AddressKind()
    back = kind.parse(kind.text(entry))
    assert back == entry
    assert kind.key(back) == kind.key(entry)


def test_bad_address_text_is_a_value_error() -> None:
    for bad in ("", "not-an-address", "192.0.2.1/24 brd", "2001:db8::1 brd 192.0.2.255", "192.0.2.1 bogus"):
        with pytest.raises(ValueError):
            parse_address_line(bad)
    with pytest.raises(ValueError, match="without an interface"):
        AddressKind().parse("192.0.2.1/24")
