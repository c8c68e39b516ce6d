"""The address, route and rule line grammars (static_* blocks, and the same lines in vrrp_instance)."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conf.diagnostics import Diagnostics, Loc, Severity
from conf.dump import to_json_document, to_text
from conf.load import load
from conf.model.addresses import (
    StaticAddress,
    VirtualAddress,
    format_address,
    parse_static_address,
    parse_virtual_address,
)
from conf.model.routes import Encap, Nexthop, RouteEntry, format_route, parse_static_route, parse_virtual_route
from conf.model.rules import RuleEntry, format_rule, parse_static_rule, parse_virtual_rule
from conf.schema import ArgError, Cx
from conf.tree import Stmt
from tests.conftest import WriteConf

IP = ipaddress.ip_address
NET = ipaddress.ip_network
IFACE = ipaddress.ip_interface


def parse(parser: Callable[[Stmt, Cx], Any], text: str) -> tuple[Any, list[tuple[Severity, str]]]:
    """One line through a line parser: the item (None if dropped) and the diagnostics."""
    diags = Diagnostics()
    stmt = Stmt(tuple(text.split()), Loc("t.conf", 1), text)
    try:
        item = parser(stmt, Cx(diags, "node"))
    except ArgError as exc:
        diags.add(stmt.loc, exc.severity, exc.message)
        item = None
    return item, [(d.severity, d.message) for d in diags]


def errors_of(found: list[tuple[Severity, str]]) -> list[str]:
    return [message for severity, message in found if severity >= Severity.ERROR]


def clean(parser: Callable[[Stmt, Cx], Any], text: str) -> Any:
    item, found = parse(parser, text)
    assert item is not None and not errors_of(found), found
    return item


def dropped(parser: Callable[[Stmt, Cx], Any], text: str, *words: str) -> None:
    item, found = parse(parser, text)
    assert item is None, item
    assert any(all(w in message for w in words) for message in errors_of(found)), found


def reparses(parser: Callable[[Stmt, Cx], Any], formatter: Callable[[Any], str], item: Any) -> None:
    again, found = parse(parser, formatter(item))
    assert again == item, (formatter(item), found)


# ---------------------------------------------------------------------------------------------
# Addresses


def test_address_defaults() -> None:
    address = clean(parse_static_address, "192.0.2.1")
    assert address == StaticAddress(address=IFACE("192.0.2.1/32"))
    assert address.dev is None and address.scope == 0 and address.preferred_lft is None
    v6 = clean(parse_static_address, "2001:db8::1/64")
    assert v6.address == IFACE("2001:db8::1/64") and v6.preferred_lft == 0xFFFFFFFF
    assert clean(parse_static_address, "2001:db8::1").preferred_lft == 0  # a /128 is deprecated at once


def test_every_address_option() -> None:
    address = clean(
        parse_static_address,
        "192.0.2.1/24 dev eth0 scope link brd 192.0.2.255 label eth0:vip home -nodad mngtmpaddr noprefixroute "
        "autojoin no_track preferred_lft 100 track_group TG",
    )
    assert address == StaticAddress(
        address=IFACE("192.0.2.1/24"),
        dev="eth0",
        scope=253,
        broadcast=ipaddress.IPv4Address("192.0.2.255"),
        label="eth0:vip",
        home=True,
        nodad=True,
        mngtmpaddr=True,
        noprefixroute=True,
        autojoin=True,
        no_track=True,
        preferred_lft=100,
        track_group="TG",
    )
    reparses(parse_static_address, format_address, address)
    assert format_address(address).startswith("192.0.2.1/24 dev eth0 scope link brd 192.0.2.255")


def test_virtual_addresses_take_use_vmac_and_no_track_but_not_track_group() -> None:
    vip = clean(parse_virtual_address, "192.0.2.1/24 use_vmac no_track")
    assert vip == VirtualAddress(address=IFACE("192.0.2.1/24"), use_vmac=True, no_track=True)
    reparses(parse_virtual_address, format_address, vip)
    vip, found = parse(parse_virtual_address, "192.0.2.1/24 track_group TG")
    assert vip == VirtualAddress(address=IFACE("192.0.2.1/24"))
    assert len(errors_of(found)) == 2  # both words are unknown, as in keepalived
    static, found = parse(parse_static_address, "192.0.2.1/24 use_vmac")
    assert static == StaticAddress(address=IFACE("192.0.2.1/24"))
    assert errors_of(found) == ["unknown configuration entry 'use_vmac' for ip address - ignoring"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("192.0.2.1/0", "192.0.2.1/0"),
        ("192.0.2.1/32", "192.0.2.1/32"),
        ("2001:db8::1/0", "2001:db8::1/0"),
        ("2001:db8::1/128", "2001:db8::1/128"),
    ],
)
def test_prefix_boundaries(text: str, expected: str) -> None:
    assert clean(parse_static_address, text).address == IFACE(expected)


@pytest.mark.parametrize(
    ("text", "host"),
    [("192.0.2.1/33", "192.0.2.1/32"), ("192.0.2.1/x", "192.0.2.1/32"), ("2001:db8::1/129", "2001:db8::1/128")],
)
def test_bad_prefix_uses_a_host_prefix(text: str, host: str) -> None:
    address, found = parse(parse_static_address, text)
    assert address.address == IFACE(host)
    assert ["prefix len" in message for message in errors_of(found)] == [True]


@pytest.mark.parametrize("text", ["192.0.2", "192.0.2.256", "fe80::1%eth0", "dev", "192.0.2.01"])
def test_invalid_address_drops_the_line(text: str) -> None:
    dropped(parse_static_address, text, "invalid IP address")


def test_broadcast() -> None:
    assert clean(parse_static_address, "192.0.2.1/24 brd +").broadcast == IP("192.0.2.255")
    assert clean(parse_static_address, "192.0.2.1/24 broadcast -").broadcast == IP("192.0.2.0")
    assert clean(parse_static_address, "192.0.2.1/30 brd +").broadcast == IP("192.0.2.3")
    address, found = parse(parse_static_address, "192.0.2.1/31 brd +")
    assert address.broadcast is None and errors_of(found) == ["address prefix length 31 too long for broadcast"]
    dropped(parse_static_address, "2001:db8::1/64 brd +", "broadcast", "IPv6")
    dropped(parse_static_address, "192.0.2.1/24 brd 2001:db8::1", "invalid broadcast")
    address, found = parse(parse_static_address, "192.0.2.1 brd + peer 192.0.2.2")
    assert address.broadcast is None and address.peer == IP("192.0.2.2") and len(errors_of(found)) == 1


def test_peer() -> None:
    address = clean(parse_static_address, "192.0.2.1 peer 192.0.2.2")
    assert address.peer == IP("192.0.2.2") and address.address == IFACE("192.0.2.1/32")
    reparses(parse_static_address, format_address, address)
    address, found = parse(parse_static_address, "192.0.2.1/24 peer 192.0.2.2")
    assert address.address == IFACE("192.0.2.1/32") and len(errors_of(found)) == 1
    for text in ("192.0.2.1 peer 192.0.2.2/24", "192.0.2.1 peer 2001:db8::1"):
        address, found = parse(parse_static_address, text)
        assert address.peer is None and len(errors_of(found)) == 1
    # keepalived 2.2.7 then reads the second peer's address as an option; here it is just ignored.
    address, found = parse(parse_static_address, "192.0.2.1 peer 192.0.2.2 peer 192.0.2.3 dev eth0")
    assert address.peer == IP("192.0.2.2") and address.dev == "eth0" and len(errors_of(found)) == 1


def test_ipv6_ignores_scope_and_label() -> None:
    address, found = parse(parse_static_address, "2001:db8::1/64 scope link label eth0:1")
    assert address.scope == 0 and address.label is None and len(errors_of(found)) == 2
    assert clean(parse_static_address, "2001:db8::1/64 scope global").scope == 0


def test_scope_and_label_limits() -> None:
    assert clean(parse_static_address, "192.0.2.1 scope 0xfe").scope == 254
    assert clean(parse_static_address, "192.0.2.1 scope 255").scope == 255
    address, found = parse(parse_static_address, "192.0.2.1 scope 256")
    assert address.scope == 0 and len(errors_of(found)) == 1
    address, found = parse(parse_static_address, "192.0.2.1 scope mine")
    assert address.scope == "mine" and not errors_of(found) and len(found) == 1  # rt_scopes is the machine's
    assert clean(parse_static_address, "192.0.2.1 label 123456789012345").label == "123456789012345"
    dropped(parse_static_address, "192.0.2.1 label 1234567890123456", "label")


def test_preferred_lft() -> None:
    assert clean(parse_static_address, "192.0.2.1 preferred_lft forever").preferred_lft == 0xFFFFFFFF
    assert clean(parse_static_address, "192.0.2.1 preferred_lft 0").preferred_lft == 0
    assert clean(parse_static_address, "192.0.2.1 preferred_lft 4294967295").preferred_lft == 0xFFFFFFFF
    for bad in ("4294967296", "-1", "10x"):
        address, found = parse(parse_static_address, f"192.0.2.1 preferred_lft {bad}")
        assert address.preferred_lft is None and len(errors_of(found)) == 1


@pytest.mark.parametrize(
    "option", ["dev", "scope", "brd", "broadcast", "label", "peer", "preferred_lft", "track_group"]
)
def test_option_without_its_argument_drops_the_address(option: str) -> None:
    dropped(parse_static_address, f"192.0.2.1 {option}", option)


def test_address_device_problems() -> None:
    dropped(parse_static_address, "192.0.2.1 dev eth0 dev eth1", "more than once")
    dropped(parse_static_address, "192.0.2.1 dev averyveryverylongname", "doesn't exist")
    address, found = parse(parse_static_address, "192.0.2.1 dev eth0 track_group A track_group B scope link")
    assert address.track_group == "A" and address.scope == 0 and len(errors_of(found)) == 1


def test_address_env_refs() -> None:
    address = clean(parse_virtual_address, "192.0.2.1 dev eth5")
    assert [(ref.kind, ref.name) for ref in address.env_refs()] == [("interface", "eth5")]
    assert list(clean(parse_virtual_address, "192.0.2.1").env_refs()) == []


# ---------------------------------------------------------------------------------------------
# Routes


def test_simple_route() -> None:
    route = clean(parse_static_route, "192.0.2.0/24 via 198.51.100.1 dev eth0")
    assert route == RouteEntry(destination=NET("192.0.2.0/24"), via=IP("198.51.100.1"), dev="eth0", protocol=18)
    assert route.family == 4 and route.table == 254 and route.type == 1 and route.mode == "prepend"
    assert format_route(route) == "192.0.2.0/24 via 198.51.100.1 protocol keepalived dev eth0"


def test_every_route_option() -> None:
    route = clean(
        parse_static_route,
        "203.0.113.0/24 src 192.0.2.1 dev eth0 table 100 metric 5 protocol keepalived scope link tos 0x04 "
        "mtu lock 1400 advmss 1000 rtt 300ms rttvar lock 1s rto_min 200 initcwnd 10 initrwnd 11 window 1000 "
        "cwnd 5 ssthresh lock 7 reordering 3 hoplimit 64 realms 1/2 features ecn quickack 1 congctl lock cubic "
        "fastopen_no_cookie 1 append onlink ttl-propagate enabled",
    )
    assert route == RouteEntry(
        destination=NET("203.0.113.0/24"),
        src=IP("192.0.2.1"),
        dev="eth0",
        table=100,
        metric=5,
        protocol=18,
        scope=253,
        tos=4,
        mtu=1400,
        advmss=1000,
        rtt=2400,
        rttvar=4000,
        rto_min=200,
        initcwnd=10,
        initrwnd=11,
        window=1000,
        cwnd=5,
        ssthresh=7,
        reordering=3,
        hoplimit=64,
        realms="1/2",
        features=("ecn",),
        quickack=1,
        congctl="cubic",
        fastopen_no_cookie=1,
        mode="append",
        onlink=True,
        ttl_propagate=True,
        locked=frozenset({"mtu", "rttvar", "ssthresh", "congctl"}),
    )
    reparses(parse_static_route, format_route, route)


def test_ipv6_route_options() -> None:
    route = clean(
        parse_static_route, "2001:db8:1::/64 dev eth0 via 2001:db8::1 expires 100 pref high from 2001:db8:2::/64"
    )
    assert route.family == 6 and route.expires == 100 and route.pref == 1
    assert route.from_address == NET("2001:db8:2::/64")
    reparses(parse_static_route, format_route, route)
    assert clean(parse_static_route, "2001:db8::/64 dev eth0 pref low").pref == 3
    assert clean(parse_static_route, "default6 dev eth0").destination == NET("::/0")
    for text, words in [
        ("192.0.2.0/24 dev eth0 expires 5", ("expires", "IPv6")),
        ("192.0.2.0/24 dev eth0 pref low", ("pref", "IPv6")),
        ("192.0.2.0/24 dev eth0 from 2001:db8::/64", ("mix",)),
        ("2001:db8::/64 dev eth0 from default", ("from",)),
        ("2001:db8::/64 dev eth0 realms 1", ("realms", "IPv4")),
    ]:
        dropped(parse_static_route, text, *words)


def test_route_types_and_destinations() -> None:
    assert clean(parse_static_route, "blackhole 192.0.2.0/24 no_track").type == 6
    assert clean(parse_static_route, "to 192.0.2.0/24 dev eth0").destination == NET("192.0.2.0/24")
    # keepalived 2.2.7 tests the type against the word "to" and fails.
    route = clean(parse_static_route, "to unreachable 192.0.2.0/24 no_track")
    assert route.type == 7 and route.destination == NET("192.0.2.0/24")
    assert clean(parse_static_route, "7 192.0.2.0/24 no_track").type == 7  # a number is a type
    assert clean(parse_static_route, "brd 192.0.2.255 dev eth0").type == 3
    assert clean(parse_static_route, "default via 192.0.2.1 dev eth0").destination == NET("0.0.0.0/0")
    assert clean(parse_static_route, "any dev eth0 inet6").destination == NET("::/0")
    # Host bits set: kept as written by keepalived, masked here.
    assert clean(parse_static_route, "192.0.2.1/24 dev eth0").destination == NET("192.0.2.0/24")
    dropped(parse_static_route, "via 192.0.2.1 dev eth0", "destination")
    dropped(parse_static_route, "192.0.2.0/24 dve eth0", "unknown route keyword", "dve")
    dropped(parse_static_route, "192.0.2.0/33 dev eth0", "unknown route keyword")


def test_inet_and_inet6() -> None:
    # keepalived 2.2.7 skips the word after inet/inet6; here it counts.
    route = clean(parse_static_route, "inet6 default via 2001:db8::1 dev eth0")
    assert route.family == 6 and route.destination == NET("::/0")
    assert clean(parse_static_route, "default dev eth0 inet").family == 4
    dropped(parse_static_route, "inet 2001:db8::/64 dev eth0", "mix")
    dropped(parse_static_route, "2001:db8::/64 inet dev eth0", "inet specified for IPv6 route")
    route = clean(parse_static_route, "default via inet6 2001:db8::1 dev eth0")
    assert route.family == 6 and route.via == IP("2001:db8::1")
    dropped(parse_static_route, "default via inet 2001:db8::1 dev eth0", "mix")


def test_route_tracking_rules() -> None:
    route, found = parse(parse_static_route, "192.0.2.0/24 dev eth0 protocol bird")
    assert route.protocol == 18 and len(errors_of(found)) == 1
    assert clean(parse_static_route, "192.0.2.0/24 dev eth0 protocol bird no_track").protocol == 12
    route, found = parse(parse_static_route, "192.0.2.0/24 via 198.51.100.1")
    # An error in keepalived 2.2.7, accepted since 2.3: a warning here.
    assert route is not None and not errors_of(found) and len(found) == 1
    route, found = parse(parse_static_route, "192.0.2.0/24 via 198.51.100.1 track_group TG")
    assert route.track_group is None and len(errors_of(found)) == 1
    route, found = parse(parse_static_route, "192.0.2.0/24 dev eth0 track_group A track_group B mtu 5")
    assert route.track_group == "A" and route.mtu is None and len(errors_of(found)) == 1


def test_virtual_routes_do_not_take_track_group() -> None:
    dropped(parse_virtual_route, "192.0.2.0/24 dev eth0 track_group TG", "unknown route keyword track_group")
    assert clean(parse_virtual_route, "192.0.2.0/24 dev eth0 no_track").no_track


@pytest.mark.parametrize(
    ("text", "field", "expected"),
    [
        ("table 0", "table", 0),
        ("table 4294967295", "table", 4294967295),
        ("table main", "table", 254),
        ("table local", "table", 255),
        ("table 0x10", "table", 16),
        ("table 010", "table", 8),
        ("metric 0", "metric", 0),
        ("metric 4294967295", "metric", 4294967295),
        ("hoplimit 0", "hoplimit", 0),
        ("hoplimit 255", "hoplimit", 255),
        ("tos 0", "tos", 0),
        ("dsfield 255", "tos", 255),
        ("scope host", "scope", 254),
        ("scope 0", "scope", 0),
        ("protocol keepalived", "protocol", 18),
        ("quickack 0", "quickack", 0),
        ("fastopen_no_cookie 1", "fastopen_no_cookie", 1),
        ("mtu 0", "mtu", 0),
        ("window 4294967295", "window", 4294967295),
        ("rtt 1600", "rtt", 1600),
        ("rtt 960000", "rtt", 960000),
        ("rtt 0.2s", "rtt", 1600),
        ("rtt 120s", "rtt", 960000),
        ("rttvar 200msec", "rttvar", 800),
        ("rto_min 2secs", "rto_min", 2000),
        ("rto_min 199", "rto_min", 200),
        ("rtt 200s", "rtt", 960000),
        ("realms 255", "realms", "255"),
        ("realms 0x1/0x2", "realms", "1/2"),
        ("add", "mode", "add"),
        ("append prepend", "mode", "prepend"),
        ("ttl-propagate disabled", "ttl_propagate", False),
        ("pref medium", "pref", 0),
        ("pref 255", "pref", 255),
    ],
)
def test_route_option_values(text: str, field: str, expected: Any) -> None:
    family = "2001:db8::/64" if text.startswith("pref") else "192.0.2.0/24"
    route = clean(parse_static_route, f"{family} dev eth0 {text}")
    assert getattr(route, field) == expected
    reparses(parse_static_route, format_route, route)


@pytest.mark.parametrize(
    "text",
    [
        "table 4294967296",
        "table -1",
        "table 0x",
        "metric 4294967296",
        "metric 0x10",
        "hoplimit 256",
        "tos 256",
        "scope 256x",
        "protocol 256",
        "quickack 2",
        "fastopen_no_cookie 2",
        "mtu -1",
        "mtu lock",
        "rtt 960001",
        "rtt 1h",
        "rtt 1e3",
        "rttvar s",
        "realms 256",
        "realms 1/2/3",
        "realms /1",
        "expires x",
        "initcwnd 4294967296",
        "pref 256",
        "src 192.0.2.1/24",
        "via 192.0.2.300",
        "gw",
        "dev",
        "vrf",
        "or x",
        "from 2001:db8::/129",
    ],
)
def test_bad_route_values_drop_the_route(text: str) -> None:
    family = "2001:db8::/64" if text.startswith(("pref", "from", "expires")) else "192.0.2.0/24"
    route, found = parse(parse_static_route, f"{family} dev eth0 {text}")
    assert route is None and errors_of(found), found


def test_route_values_that_are_reported_but_kept() -> None:
    route, found = parse(parse_static_route, "192.0.2.0/24 dev eth0 features tcp ttl-propagate maybe as to 5")
    assert route is not None and route.features == () and route.ttl_propagate is False
    assert len(errors_of(found)) == 3
    route, found = parse(parse_static_route, "192.0.2.0/24 dev eth0 rtt 100")
    assert route.rtt == 1600 and not errors_of(found) and len(found) == 1  # clamped, with a note


def test_deprecated_route_forms() -> None:
    route, found = parse(parse_static_route, "192.0.2.0/24 gw 198.51.100.1 dev eth0")
    assert route.via == IP("198.51.100.1") and errors_of(found) == ['"gw" for routes is deprecated. Please use "via"']
    route, found = parse(parse_static_route, "192.0.2.0/24 via 198.51.100.1 or 198.51.100.2 dev eth0")
    assert route.via is None
    assert route.nexthops == (Nexthop(via=IP("198.51.100.1")), Nexthop(via=IP("198.51.100.2")))
    assert len(errors_of(found)) == 1
    reparses(parse_static_route, format_route, route)
    route, found = parse(parse_static_route, "192.0.2.0/24 via 198.51.100.1 or 198.51.100.2 or 198.51.100.3 dev eth0")
    assert len(route.nexthops) == 2 and len(errors_of(found)) == 3
    dropped(parse_static_route, "192.0.2.0/24 via 198.51.100.1 or 198.51.100.2 nexthop via 198.51.100.3", "nexthops")


def test_nexthops() -> None:
    route = clean(
        parse_static_route,
        "192.0.2.0/24 dev eth0 table 6909 nexthop via 198.51.100.1 dev eth1 onlink weight 1 "
        "nexthop via 198.51.100.2 dev eth1 weight 256 realms 3 nexthop encap mpls 100 via inet 198.51.100.3",
    )
    assert route.nexthops == (
        Nexthop(via=IP("198.51.100.1"), dev="eth1", onlink=True, weight=1),
        Nexthop(via=IP("198.51.100.2"), dev="eth1", weight=256, realms="3"),
        Nexthop(via=IP("198.51.100.3"), encap=Encap("mpls", labels=(100,))),
    )
    reparses(parse_static_route, format_route, route)
    assert {ref.name for ref in route.env_refs()} == {"eth0", "eth1"}
    assert clean(parse_static_route, "192.0.2.0/24 dev eth0 nexthop").nexthops == (Nexthop(),)


@pytest.mark.parametrize(
    "bad",
    [
        "via 2001:db8::1",
        "via inet6 198.51.100.9",
        "via x",
        "weight 0",
        "weight 257",
        "realms x/",
        "as to 5",
        "dev averyveryverylongname",
        "via",
    ],
)
def test_a_bad_nexthop_is_dropped_with_the_ones_after_it(bad: str) -> None:
    route, found = parse(
        parse_static_route, f"192.0.2.0/24 dev eth0 nexthop via 198.51.100.1 nexthop {bad} nexthop via 198.51.100.2"
    )
    assert route is not None and route.nexthops == (Nexthop(via=IP("198.51.100.1")),)
    assert len(errors_of(found)) == 1


def test_trailing_nonsense_after_nexthops() -> None:
    route, found = parse(parse_static_route, "192.0.2.0/24 dev eth0 nexthop via 198.51.100.1 mtu 5")
    assert route.nexthops == (Nexthop(via=IP("198.51.100.1")),) and route.mtu is None
    assert len(errors_of(found)) == 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "encap ip id 5 dst 198.51.100.9 src 198.51.100.8 ttl 5 tos 1 flags 65535",
            Encap("ip", id=5, dst=IP("198.51.100.9"), src=IP("198.51.100.8"), ttl=5, tos=1, flags=65535),
        ),
        ("encap ip id 18446744073709551615", Encap("ip", id=2**64 - 1)),
        ("encap ip6 dst 2001:db8::9 hoplimit 255 tc 2", Encap("ip6", dst=IP("2001:db8::9"), ttl=255, tos=2)),
        ("encap mpls 1048575/0x10", Encap("mpls", labels=(1048575, 16))),
        ("encap ila 1:2:00a:FFFF", Encap("ila", locator="1:2:a:ffff")),
    ],
)
def test_encapsulation(text: str, expected: Encap) -> None:
    route = clean(parse_static_route, f"192.0.2.0/24 dev eth0 {text}")
    assert route.encap == expected
    reparses(parse_static_route, format_route, route)


@pytest.mark.parametrize(
    "text",
    [
        "encap",
        "encap gre",
        "encap ip ttl 5",
        "encap ip dst 2001:db8::1",
        "encap ip id 5 ttl 256",
        "encap ip id 5 flags 65536",
        "encap ip6 dst 192.0.2.1",
        "encap mpls 1048576",
        "encap mpls 1/2/3",
        "encap ila 1:2:3",
        "encap ila 1:2:3:10000",
    ],
)
def test_bad_encapsulation_keeps_the_route(text: str) -> None:
    route, found = parse(parse_static_route, f"192.0.2.0/24 dev eth0 mtu 1400 {text}")
    assert route is not None and route.encap is None and route.mtu == 1400
    assert errors_of(found), found


# ---------------------------------------------------------------------------------------------
# Rules


def test_simple_rule() -> None:
    rule = clean(parse_static_rule, "from 192.0.2.0/24 table 100 preference 100")
    assert rule == RuleEntry(action="table", from_address=NET("192.0.2.0/24"), table=100, preference=100, protocol=18)
    assert format_rule(rule) == "from 192.0.2.0/24 table 100 preference 100 protocol keepalived"


def test_every_rule_option() -> None:
    rule = clean(
        parse_static_rule,
        "not from 192.0.2.0/24 to 198.51.100.0/26 lookup main priority 0x10 iif eth0 oif eth1 tos 22 "
        "fwmark 0x18/12 realms 30/20 suppress_prefixlength 0 suppress_ifgroup 5 tunnel-id 7 uidrange 10-20 "
        "protocol 18 ipproto tcp sport 80 dport 1000-2000 track_group TG",
    )
    assert rule == RuleEntry(
        action="table",
        invert=True,
        from_address=NET("192.0.2.0/24"),
        to_address=NET("198.51.100.0/26"),
        table=254,
        preference=16,
        iif="eth0",
        oif="eth1",
        tos=22,
        fwmark=24,
        fwmask=12,
        realms="30/20",
        suppress_prefixlength=0,
        suppress_ifgroup=5,
        tunnel_id=7,
        uidrange=(10, 20),
        protocol=18,
        ipproto=6,
        sport=(80, 80),
        dport=(1000, 2000),
        track_group="TG",
    )
    assert rule.dev == "eth0"
    reparses(parse_static_rule, format_rule, rule)
    assert {ref.name for ref in rule.env_refs()} == {"eth0", "eth1"}


@pytest.mark.parametrize(
    ("text", "action", "extra"),
    [
        ("preference 10 goto 20", "goto", {"goto": 20}),
        ("preference 40 nop", "nop", {}),
        ("preference 41 blackhole", "blackhole", {}),
        ("preference 42 type unreachable", "unreachable", {}),
        ("preference 43 prohibit", "prohibit", {}),
        ("preference 44 8", "prohibit", {}),
        ("preference 45 l3mdev", "table", {"l3mdev": True}),
        ("preference 46 sup_pl 3 table 5", "table", {"suppress_prefixlength": 3, "table": 5}),
        ("preference 47 sup_group default table 5", "table", {"suppress_ifgroup": "default", "table": 5}),
        ("preference 48 type goto 49", "goto", {"goto": 49}),
    ],
)
def test_rule_actions(text: str, action: str, extra: dict[str, Any]) -> None:
    rule = clean(parse_static_rule, f"from 192.0.2.0/24 {text}")
    assert rule.action == action
    for key, value in extra.items():
        assert getattr(rule, key) == value
    reparses(parse_static_rule, format_rule, rule)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("preference 30 goto 20", ("preference 30 >= goto target 20",)),
        ("goto 20", ("without preference",)),
        ("preference 1 goto x", ("goto",)),
        ("preference 1", ("no action",)),
        ("preference 1 throw", ("invalid rule action throw",)),
        ("preference 1 bogus", ("unknown rule option bogus",)),
        ("preference 1 table 5 nop", ("more than one",)),
        ("preference 1 l3mdev nop", ("more than one",)),
        ("preference 1 nop l3mdev", ("l3mdev",)),
        ("preference 1 table 5 l3mdev", ("l3mdev",)),
        ("preference 1 table 0", ("table 0",)),
        ("preference 1 table 4294967296", ("routing table",)),
        ("preference 1 nop realms 3", ("non table action",)),
        ("preference 1 nop sup_pl 3", ("non table action",)),
        ("preference 4294967296 nop", ("preference",)),
        ("preference -1 nop", ("preference",)),
        ("preference 1 nop fwmark 1/", ("fwmark",)),
        ("preference 1 nop fwmark -1", ("fwmark",)),
        ("preference 1 nop fwmark 0x100000000", ("fwmark",)),
        ("preference 1 nop uidrange 5", ("uidrange",)),
        ("preference 1 nop uidrange 20-10", ("uidrange",)),
        ("preference 1 nop tunnel-id x", ("tunnel-id",)),
        ("preference 1 nop sup_pl 2147483648", ("suppress_prefixlength",)),
        ("preference 1 nop tos 256", ("TOS",)),
        ("preference 1 nop to 2001:db8::/64", ("mixed",)),
        ("preference 1 nop inet6", ("inet6 specified for IPv4 rule",)),
        ("preference 1 nop iif", ("iif",)),
    ],
)
def test_bad_rules_are_dropped(text: str, words: tuple[str, ...]) -> None:
    dropped(parse_static_rule, f"from 192.0.2.0/24 {text}", *words)


def test_rule_values_that_are_reported_but_kept() -> None:
    rule, found = parse(
        parse_static_rule, "from 192.0.2.0/24 table 5 preference 5 protocol 300 ipproto 256 sport 5-3 dport 70000"
    )
    assert rule is not None and rule.ipproto is None and rule.sport is None and rule.dport is None
    assert rule.protocol == 18 and len(errors_of(found)) == 4
    rule, found = parse(parse_static_rule, "from 192.0.2.0/24 table 5 preference 5 protocol 12")
    assert rule.protocol == 18 and len(errors_of(found)) == 1  # reset: a tracked rule is keepalived's
    assert clean(parse_static_rule, "from 192.0.2.0/24 table 5 preference 5 protocol 12 no_track").protocol == 12


def test_rule_without_preference_is_an_error_but_kept() -> None:
    rule, found = parse(parse_static_rule, "from 192.0.2.0/24 table 5")
    assert rule is not None and rule.preference is None
    assert len(errors_of(found)) == 1 and "preference" in errors_of(found)[0]


def test_rule_boundaries() -> None:
    assert clean(parse_static_rule, "from all table 5 preference 4294967295").preference == 4294967295
    assert clean(parse_static_rule, "from all table 5 preference 0").preference == 0
    assert clean(parse_static_rule, "from all table 5 preference 1 fwmark 0xffffffff/0xffffffff").fwmask == 2**32 - 1
    assert clean(parse_static_rule, "from all table 5 preference 1 sport 0-65535").sport == (0, 65535)
    assert clean(parse_static_rule, "from all table 5 preference 1 ipproto 255").ipproto == 255
    assert clean(parse_static_rule, "from all table 5 preference 1 uidrange 0-4294967295").uidrange == (0, 2**32 - 1)
    assert clean(parse_static_rule, "from all table 4294967295 preference 1").table == 2**32 - 1
    assert clean(parse_static_rule, "from all table 5 preference 1 sup_pl 2147483647").suppress_prefixlength == (
        2**31 - 1
    )


def test_rule_families() -> None:
    rule = clean(parse_static_rule, "from all table 5 preference 1")
    assert rule.family == 4 and rule.from_address == NET("0.0.0.0/0")
    # keepalived 2.2.7 skips the word after inet6 (`inet6 from all` fails there).
    rule = clean(parse_static_rule, "inet6 from all table 5 preference 1")
    assert rule.family == 6 and rule.from_address == NET("::/0")
    rule = clean(parse_static_rule, "to 2001:db8::/64 from 2001:db8:1::/64 table 6908 preference 1")
    assert rule.family == 6
    rule = clean(parse_static_rule, "table 5 preference 1 inet6")
    assert rule.family == 6
    reparses(parse_static_rule, format_rule, rule)
    dropped(parse_static_rule, "to 2001:db8::/64 realms 3 table 5 preference 1", "realms", "IPv4")


def test_ip_proto_spelling_of_the_man_page() -> None:
    rule, found = parse(parse_static_rule, "to 2001:db8::/64 table 5 preference 1 ip_proto UDP")
    assert rule.ipproto == 17 and not errors_of(found) and len(found) == 1


def test_rule_track_group() -> None:
    rule, found = parse(parse_static_rule, "from all table 5 preference 1 track_group TG")
    assert rule.track_group is None and len(errors_of(found)) == 1  # needs iif
    dropped(parse_virtual_rule, "from all table 5 preference 1 iif eth0 track_group TG", "track_group")
    assert clean(parse_virtual_rule, "from all table 5 preference 1 no_track").no_track


# ---------------------------------------------------------------------------------------------
# In a file


def test_static_blocks_report_at_the_right_line(write_conf: WriteConf) -> None:
    loaded = load(
        str(
            write_conf(
                "static_ipaddress {\n 192.0.2.1/24 dev eth0\n 192.0.2.300 dev eth0\n}\n"
                "static_routes {\n 192.0.2.0/24 dev eth0\n bogus\n}\n"
                "static_rules {\n from all table 5 preference 5\n from all\n}\n"
            )
        ),
        config_id="node",
    )
    config = loaded.config
    assert [str(a.address) for a in config.static_ipaddress] == ["192.0.2.1/24"]
    assert [str(r.destination) for r in config.static_routes] == ["192.0.2.0/24"]
    assert [r.preference for r in config.static_rules] == [5]
    assert [d.loc.line for d in loaded.diagnostics if d.severity >= Severity.ERROR] == [3, 7, 11]


def test_round_trip_of_static_blocks(write_conf: WriteConf) -> None:
    text = (
        "static_ipaddress {\n"
        " 192.0.2.1/24 brd + label eth0:1 scope link\n"
        " 2001:db8::1 dev eth1 -nodad\n"
        " 192.0.2.5 peer 192.0.2.6 dev eth0 preferred_lft forever no_track\n"
        "}\n"
        "static_routes {\n"
        " default via 198.51.100.1 dev eth0 metric 5\n"
        " inet6 default via 2001:db8::1 dev eth0\n"
        " unreachable 203.0.113.0/24 no_track\n"
        " 192.0.2.0/24 dev eth0 nexthop via 198.51.100.1 weight 2 nexthop via 198.51.100.2 encap ip id 1\n"
        " 192.0.2.64/26 table local scope host protocol 3 no_track dev eth0 realms 1/2\n"
        "}\n"
        "static_rules {\n"
        " not from 192.0.2.0/24 fwmark 5 table main preference 0x20\n"
        " to 2001:db8::/64 l3mdev preference 7 ipproto udp dport 53\n"
        " from all preference 8 goto 9 no_track\n"
        "}\n"
    )
    first = load(str(write_conf(text)), config_id="node")
    assert not [d for d in first.diagnostics if d.severity >= Severity.ERROR]
    again = load(str(write_conf(to_text(first.config), "dumped.conf")), config_id="node")
    assert to_json_document(again.config) == to_json_document(first.config)
    assert not [d for d in again.diagnostics if d.severity >= Severity.ERROR]
    assert [a.dev for a in first.config.static_ipaddress] == ["eth0", "eth1", "eth0"]  # default_interface


def test_json_of_lines(write_conf: WriteConf) -> None:
    loaded = load(
        str(write_conf("static_routes {\n 192.0.2.0/24 dev eth0 mtu lock 1400 nexthop via 198.51.100.1\n}\n")),
        config_id="node",
    )
    [route] = to_json_document(loaded.config)["static_routes"]
    assert route["destination"] == "192.0.2.0/24" and route["mtu"] == 1400 and route["locked"] == ["mtu"]
    assert route["nexthops"] == [
        {"via": "198.51.100.1", "dev": None, "weight": None, "onlink": False, "encap": None, "realms": None}
    ]


# ---------------------------------------------------------------------------------------------
# Any line: diagnostics, never an exception; whatever parses formats back to itself

WORDS = st.sampled_from(
    [
        "192.0.2.1",
        "192.0.2.0/24",
        "198.51.100.1",
        "2001:db8::1",
        "2001:db8::/64",
        "default",
        "all",
        "any",
        "default6",
        "0",
        "1",
        "255",
        "256",
        "0x10",
        "-1",
        "1.5",
        "300ms",
        "1s",
        "x",
        "/",
        "+",
        "-",
        "1/2",
        "dev",
        "eth0",
        "scope",
        "link",
        "brd",
        "broadcast",
        "label",
        "peer",
        "home",
        "-nodad",
        "mngtmpaddr",
        "noprefixroute",
        "autojoin",
        "no_track",
        "preferred_lft",
        "forever",
        "track_group",
        "use_vmac",
        "inet",
        "inet6",
        "src",
        "via",
        "gw",
        "from",
        "to",
        "tos",
        "dsfield",
        "table",
        "lookup",
        "main",
        "protocol",
        "metric",
        "priority",
        "preference",
        "order",
        "oif",
        "iif",
        "onlink",
        "encap",
        "ip",
        "ip6",
        "mpls",
        "ila",
        "id",
        "dst",
        "ttl",
        "tc",
        "hoplimit",
        "flags",
        "expires",
        "mtu",
        "lock",
        "advmss",
        "rtt",
        "rttvar",
        "rto_min",
        "reordering",
        "window",
        "cwnd",
        "ssthresh",
        "initcwnd",
        "initrwnd",
        "realms",
        "features",
        "ecn",
        "quickack",
        "congctl",
        "pref",
        "high",
        "ttl-propagate",
        "enabled",
        "fastopen_no_cookie",
        "add",
        "append",
        "prepend",
        "as",
        "or",
        "nexthop",
        "weight",
        "vrf",
        "blackhole",
        "unreachable",
        "prohibit",
        "throw",
        "unicast",
        "not",
        "goto",
        "nop",
        "type",
        "l3mdev",
        "fwmark",
        "sup_pl",
        "sup_group",
        "tunnel-id",
        "uidrange",
        "10-20",
        "ipproto",
        "ip_proto",
        "tcp",
        "sport",
        "dport",
        "1:2:3:4",
        "9" * 5000,
        "1/" + "9" * 5000,
        "²",
        "0x" + "f" * 5000,
    ]
)
LINES = st.lists(
    st.one_of(WORDS, st.text(min_size=1, max_size=5).filter(lambda w: not w.isspace())), min_size=1, max_size=14
)
GRAMMARS = [
    (parse_static_address, format_address),
    (parse_virtual_address, format_address),
    (parse_static_route, format_route),
    (parse_virtual_route, format_route),
    (parse_static_rule, format_rule),
    (parse_virtual_rule, format_rule),
]


@settings(max_examples=400, deadline=None)
@given(LINES, st.sampled_from(GRAMMARS))
def test_any_line_parses_or_is_reported(words: list[str], grammar: tuple[Any, Any]) -> None:
    parser, formatter = grammar
    words = [w.split()[0] if w.split() else "x" for w in words]
    diags = Diagnostics()
    stmt = Stmt(tuple(words), Loc("t.conf", 1), " ".join(words))
    try:
        item = parser(stmt, Cx(diags, "node"))
    except ArgError:
        return
    again, _ = parse(parser, formatter(item))
    assert again == item, formatter(item)
