"""The route and rule kinds against a real kernel, in a throw-away network namespace.

What the kinds install is read back with `ip -j`, which decodes the kernel's dumps
with iproute2's own code.

A second `add` of an installed route or rule fails with KernelError(EEXIST): the
kinds do not treat it as success, since the kernel's EEXIST does not say that the
object in the way is this entry. Callers ask `present` first.
"""

from __future__ import annotations

import errno
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pyroute2 import NetNS

from services.netconfig.kernel_common import Names
from services.netconfig.kernel_routes import RouteKind
from services.netconfig.kernel_rules import RuleKind
from services.netconfig.kinds import KernelError
from tests.conftest import add_veth, needs_root

pytestmark = needs_root

ROUTES = RouteKind()
RULES = RuleKind()


def ip(ns: str, *args: str) -> str:
    return subprocess.run(["ip", "-n", ns, *args], check=True, capture_output=True, text=True).stdout


def ip_json(ns: str, *args: str) -> list[dict[str, Any]]:
    out = ip(ns, "-j", *args)
    return json.loads(out) if out.strip() else []


def routes(ns: str, family: int) -> list[dict[str, Any]]:
    """Every route but the kernel's own."""
    found = ip_json(ns, f"-{family}", "-d", "route", "show", "table", "all")
    return [route for route in found if route.get("protocol") != "kernel"]


DEFAULT_RULES = {(0, "local"), (32766, "main"), (32767, "default")}


def rules(ns: str, family: int) -> list[dict[str, Any]]:
    """Every rule but the three a namespace starts with."""
    found = ip_json(ns, f"-{family}", "rule", "show")
    return [
        rule
        for rule in found
        if not (
            (rule.get("priority"), rule.get("table")) in DEFAULT_RULES
            and set(rule) <= {"priority", "src", "table", "protocol"}
            and rule.get("protocol") in (None, "kernel")
        )
    ]


def having(items: list[dict[str, Any]], **wanted: Any) -> list[dict[str, Any]]:
    return [item for item in items if all(item.get(key) == value for key, value in wanted.items())]


@pytest.fixture
def ns(netns: str) -> str:
    """v0: 192.0.2.1/24 and 2001:db8::1/64; v1: 198.51.100.1/24 and 2001:db8:1::1/64."""
    add_veth(netns, "v0", "192.0.2.1/24")
    add_veth(netns, "v1", "198.51.100.1/24")
    ip(netns, "addr", "add", "2001:db8::1/64", "dev", "v0", "nodad")
    ip(netns, "addr", "add", "2001:db8:1::1/64", "dev", "v1", "nodad")
    return netns


@pytest.fixture
def ipr(ns: str) -> Iterator[Any]:
    handle = NetNS(ns)
    try:
        yield handle
    finally:
        handle.close()


# ---------------------------------------------------------------------------------------------
# Routes: each option reaches the kernel

ROUTE_CASES: list[tuple[str, int, dict[str, Any]]] = [
    (
        "203.0.113.0/24 via 192.0.2.2 dev v0",
        4,
        {
            "dst": "203.0.113.0/24",
            "gateway": "192.0.2.2",
            "dev": "v0",
            "table": "main",
            "protocol": "keepalived",
            "scope": "global",
            "type": "unicast",
        },
    ),
    (
        "203.0.113.0/25 src 192.0.2.1 via 192.0.2.2 dev v0 table 100 metric 5 tos 0x10 protocol static "
        "realms 3/4 mtu lock 1400 advmss 1300 window 10 cwnd 3 ssthresh 4 initcwnd 5 initrwnd 6 hoplimit 7 "
        "reordering 3 rtt 300ms rttvar 200ms rto_min 250ms quickack 1 congctl lock cubic fastopen_no_cookie 1 "
        "features ecn no_track",
        4,
        {
            "dst": "203.0.113.0/25",
            "table": "100",
            "prefsrc": "192.0.2.1",
            "metric": 5,
            "tos": "0x10",
            "protocol": "static",
            "flow": {"from": "3", "to": "4"},
            "metrics": [
                {
                    "mtu": 1400,
                    "window": 10,
                    "rtt": 300,
                    "rttvar": 200,
                    "ssthresh": 4,
                    "cwnd": 3,
                    "advmss": 1300,
                    "reordering": 3,
                    "hoplimit": 7,
                    "initcwnd": 5,
                    "ecn": None,
                    "rto_min": 250,
                    "initrwnd": 6,
                    "quickack": 1,
                    "congestion": "cubic",
                    "fastopen_no_cookie": 1,
                }
            ],
        },
    ),
    ("203.0.113.0/26 dev v0 scope link", 4, {"dst": "203.0.113.0/26", "dev": "v0", "scope": "link"}),
    ("blackhole 198.51.100.128/25 table 200", 4, {"type": "blackhole", "dst": "198.51.100.128/25", "table": "200"}),
    ("unreachable 198.51.100.128/26 metric 3", 4, {"type": "unreachable", "dst": "198.51.100.128/26", "metric": 3}),
    ("prohibit 198.51.100.192/26", 4, {"type": "prohibit", "dst": "198.51.100.192/26"}),
    ("throw 203.0.113.0/24 table 300", 4, {"type": "throw", "dst": "203.0.113.0/24", "table": "300"}),
    (
        "local 192.0.2.77 dev v0 table 100 scope host",
        4,
        {"type": "local", "dst": "192.0.2.77", "table": "100", "scope": "host"},
    ),
    ("192.0.2.128/25 via 10.0.0.1 dev v0 onlink", 4, {"gateway": "10.0.0.1", "flags": ["onlink"]}),
    ("203.0.113.0/24 via 192.0.2.2 dev v0 table 4000000000", 4, {"table": "4000000000"}),
    ("default via 192.0.2.2 dev v0 table 500", 4, {"dst": "default", "table": "500", "gateway": "192.0.2.2"}),
    (
        "203.0.113.128/25 nexthop via 192.0.2.2 dev v0 weight 2 nexthop via 198.51.100.2 dev v1 weight 3 onlink "
        "realms 5",
        4,
        {
            "dst": "203.0.113.128/25",
            "nexthops": [
                {"gateway": "192.0.2.2", "dev": "v0", "weight": 2, "flags": []},
                {"gateway": "198.51.100.2", "flow": {"to": "5"}, "dev": "v1", "weight": 3, "flags": ["onlink"]},
            ],
        },
    ),
    (
        "203.0.113.64/26 encap ip id 5 dst 192.0.2.9 src 192.0.2.1 tos 4 ttl 3 dev v0",
        4,
        {"encap": "ip", "id": 5, "src": "192.0.2.1", "tos": 4, "ttl": 3, "dev": "v0"},
    ),
    (
        "203.0.113.32/27 nexthop via 192.0.2.2 dev v0 encap ip id 9 dst 192.0.2.9 nexthop via 198.51.100.2 dev v1",
        4,
        {"dst": "203.0.113.32/27"},
    ),
    (
        "2001:db8:5::/64 from 2001:db8:6::/64 via 2001:db8::2 dev v0 pref high",
        6,
        {"dst": "2001:db8:5::/64", "from": "2001:db8:6::/64", "gateway": "2001:db8::2", "pref": "high"},
    ),
    ("2001:db8:7::/64 via 2001:db8::2 dev v0 metric 7 mtu 1300", 6, {"metric": 7, "metrics": [{"mtu": 1300}]}),
    ("2001:db8:8::/64 dev v0 pref low", 6, {"dst": "2001:db8:8::/64", "metric": 1024, "pref": "low"}),
    ("inet6 default via 2001:db8::2 dev v0 table 100", 6, {"dst": "default", "table": "100"}),
    ("unreachable 2001:db8:9::/48 table 100", 6, {"type": "unreachable", "dst": "2001:db8:9::/48"}),
    (
        "2001:db8:a::/64 encap ip6 id 5 dst 2001:db8::9 tc 4 hoplimit 3 dev v0",
        6,
        {"encap": "ip6", "id": 5, "tc": 4, "hoplimit": 3, "dev": "v0"},
    ),
    (
        "2001:db8:b::/64 nexthop via 2001:db8::2 dev v0 nexthop via 2001:db8:1::2 dev v1",
        6,
        {
            "dst": "2001:db8:b::/64",
            "nexthops": [
                {"gateway": "2001:db8::2", "dev": "v0", "weight": 1, "flags": []},
                {"gateway": "2001:db8:1::2", "dev": "v1", "weight": 1, "flags": []},
            ],
        },
    ),
]


@pytest.mark.parametrize(("line", "family", "expected"), ROUTE_CASES)
def test_each_route_option_is_installed_seen_and_removed(
    ns: str, ipr: Any, line: str, family: int, expected: dict[str, Any]
) -> None:
    entry = ROUTES.parse(line)
    before = routes(ns, family)
    assert ROUTES.present(ipr, [entry]) == set()

    ROUTES.add(ipr, entry)
    added = [route for route in routes(ns, family) if route not in before]
    assert len(added) == 1, added
    assert {key: added[0].get(key) for key in expected} == expected
    assert ROUTES.present(ipr, [entry]) == {ROUTES.key(entry)}

    ROUTES.remove(ipr, entry)
    assert routes(ns, family) == before
    assert ROUTES.present(ipr, [entry]) == set()
    ROUTES.remove(ipr, entry)


def test_route_metric_locks_are_installed(ns: str, ipr: Any) -> None:
    ROUTES.add(ipr, ROUTES.parse("203.0.113.0/24 via 192.0.2.2 dev v0 mtu lock 1400 rtt lock 300ms congctl lock cubic"))
    shown = ip(ns, "route", "show", "203.0.113.0/24")
    for words in ("mtu lock 1400", "rtt lock 300ms", "congctl lock cubic"):
        assert words in shown


def test_expires_counts_down_from_the_given_time(ns: str, ipr: Any) -> None:
    entry = ROUTES.parse("2001:db8:5::/64 via 2001:db8::2 dev v0 expires 100")
    ROUTES.add(ipr, entry)
    (route,) = having(routes(ns, 6), dst="2001:db8:5::/64")
    assert 0 < route["expires"] <= 100
    assert ROUTES.present(ipr, [entry]) == {ROUTES.key(entry)}


def test_a_named_table_is_looked_up_in_rt_tables(ns: str, ipr: Any, tmp_path: Path) -> None:
    (tmp_path / "rt_tables").write_text("123 custom\n")
    kind = RouteKind(Names(tmp_path))
    entry = kind.parse("203.0.113.0/24 via 192.0.2.2 dev v0 table custom")
    kind.add(ipr, entry)
    assert having(routes(ns, 4), dst="203.0.113.0/24", table="123")
    assert kind.present(ipr, [entry]) == {kind.key(entry)}
    kind.remove(ipr, entry)
    assert not having(routes(ns, 4), dst="203.0.113.0/24")


def test_present_reports_only_the_installed_entries(ns: str, ipr: Any) -> None:
    installed = ROUTES.parse("203.0.113.0/24 via 192.0.2.2 dev v0")
    missing = [
        ROUTES.parse("203.0.113.0/24 via 192.0.2.3 dev v0"),
        ROUTES.parse("203.0.113.0/24 via 192.0.2.2 dev v0 table 100"),
        ROUTES.parse("203.0.113.0/24 via 192.0.2.2 dev v0 metric 9"),
        ROUTES.parse("203.0.113.0/24 via 192.0.2.2 dev v9"),
        ROUTES.parse("blackhole 203.0.113.0/24"),
    ]
    ROUTES.add(ipr, installed)
    assert ROUTES.present(ipr, [installed, *missing]) == {ROUTES.key(installed)}


# ---------------------------------------------------------------------------------------------
# Routes: remove takes ours and nothing else


def test_removing_a_route_leaves_similar_routes_that_are_not_ours(ns: str, ipr: Any) -> None:
    ours = ROUTES.parse("203.0.113.0/24 via 192.0.2.2 dev v0")
    # The same prefix and gateway from another protocol, our shape in another table,
    # and our protocol with another gateway.
    ip(ns, "route", "append", "203.0.113.0/24", "via", "192.0.2.2", "dev", "v0", "proto", "static")
    ip(ns, "route", "add", "203.0.113.0/24", "via", "192.0.2.2", "dev", "v0", "table", "100", "proto", "18")
    ip(ns, "route", "append", "203.0.113.0/24", "via", "198.51.100.2", "dev", "v1", "proto", "18")
    theirs = routes(ns, 4)
    assert len(theirs) == 3
    assert ROUTES.present(ipr, [ours]) == set()

    ROUTES.add(ipr, ours)
    assert ROUTES.present(ipr, [ours]) == {ROUTES.key(ours)}
    assert len(routes(ns, 4)) == 4
    ROUTES.remove(ipr, ours)
    assert sorted(map(str, routes(ns, 4))) == sorted(map(str, theirs))
    ROUTES.remove(ipr, ours)
    assert sorted(map(str, routes(ns, 4))) == sorted(map(str, theirs))


def test_an_ipv6_route_is_found_and_removed_among_its_ecmp_siblings(ns: str, ipr: Any) -> None:
    ours = ROUTES.parse("2001:db8:9::/64 via 2001:db8::2 dev v0")
    ip(ns, "-6", "route", "add", "2001:db8:9::/64", "via", "2001:db8:1::2", "dev", "v1", "proto", "static")
    ROUTES.add(ipr, ours)
    (merged,) = having(routes(ns, 6), dst="2001:db8:9::/64")
    assert len(merged["nexthops"]) == 2
    assert ROUTES.present(ipr, [ours]) == {ROUTES.key(ours)}

    ROUTES.remove(ipr, ours)
    (left,) = having(routes(ns, 6), dst="2001:db8:9::/64")
    assert (left["gateway"], left["protocol"]) == ("2001:db8:1::2", "static")
    assert ROUTES.present(ipr, [ours]) == set()


def test_removing_a_route_whose_interface_has_gone_is_not_an_error(ns: str, ipr: Any) -> None:
    add_veth(ns, "v2", "203.0.113.1/24")
    entry = ROUTES.parse("198.51.100.128/25 via 203.0.113.2 dev v2")
    ROUTES.add(ipr, entry)
    ip(ns, "link", "del", "v2")
    ROUTES.remove(ipr, entry)
    assert ROUTES.present(ipr, [entry]) == set()


# ---------------------------------------------------------------------------------------------
# Routes: errors


def test_a_route_added_twice_is_refused_with_eexist(ns: str, ipr: Any) -> None:
    entry = ROUTES.parse("203.0.113.0/24 via 192.0.2.2 dev v0")
    ROUTES.add(ipr, entry)
    with pytest.raises(KernelError) as caught:
        ROUTES.add(ipr, entry)
    assert caught.value.code == errno.EEXIST
    assert "203.0.113.0/24" in str(caught.value)
    assert len(having(routes(ns, 4), dst="203.0.113.0/24")) == 1


def test_an_ipv6_route_added_twice_is_refused_with_eexist(ns: str, ipr: Any) -> None:
    entry = ROUTES.parse("2001:db8:9::/64 via 2001:db8::2 dev v0")
    ROUTES.add(ipr, entry)
    with pytest.raises(KernelError) as caught:
        ROUTES.add(ipr, entry)
    assert caught.value.code == errno.EEXIST


@pytest.mark.parametrize(
    "line",
    [
        "203.0.113.0/24 via 192.0.2.2 dev v9",
        "203.0.113.0/24 nexthop via 192.0.2.2 dev v0 nexthop via 198.51.100.2 dev v9",
        "203.0.113.0/24 via 192.0.2.2 dev v0 vrf blue",
    ],
)
def test_a_route_on_a_missing_interface_is_enodev(ns: str, ipr: Any, line: str) -> None:
    with pytest.raises(KernelError) as caught:
        ROUTES.add(ipr, ROUTES.parse(line))
    assert caught.value.code == errno.ENODEV
    assert caught.value.reason == "ENODEV"
    assert str(caught.value).startswith("cannot add route '203.0.113.0/24")
    assert "v9 does not exist" in str(caught.value) or "VRF blue does not exist" in str(caught.value)
    assert routes(ns, 4) == []


def test_a_vrf_that_is_not_a_vrf_is_refused(ns: str, ipr: Any) -> None:
    with pytest.raises(KernelError) as caught:
        ROUTES.add(ipr, ROUTES.parse("203.0.113.0/24 via 192.0.2.2 dev v0 vrf v1"))
    assert caught.value.code == errno.EINVAL
    assert "interface v1 is not a VRF" in str(caught.value)


def test_an_unreachable_gateway_says_so(ns: str, ipr: Any) -> None:
    with pytest.raises(KernelError) as caught:
        ROUTES.add(ipr, ROUTES.parse("203.0.113.0/24 via 198.51.100.2 dev v0"))
    assert caught.value.code == errno.ENETUNREACH
    assert "gateway 198.51.100.2" in str(caught.value)
    assert "'onlink'" in str(caught.value)


def test_an_unknown_table_name_is_reported_before_the_kernel_is_asked(ns: str, ipr: Any, tmp_path: Path) -> None:
    kind = RouteKind(Names(tmp_path))
    with pytest.raises(KernelError) as caught:
        kind.add(ipr, kind.parse("203.0.113.0/24 via 192.0.2.2 dev v0 table nosuch"))
    assert caught.value.code == errno.ENOENT
    assert "routing table 'nosuch' is not defined" in str(caught.value)


def test_an_encapsulation_the_kernel_lacks_names_the_module(ns: str, ipr: Any) -> None:
    entry = ROUTES.parse("203.0.113.0/24 encap mpls 100/200 via 192.0.2.2 dev v0")
    try:
        ROUTES.add(ipr, entry)
    except KernelError as exc:
        assert exc.code in (errno.EOPNOTSUPP, errno.EAFNOSUPPORT)
        assert "encap mpls needs the kernel module mpls_iptunnel" in str(exc)
    else:
        # A kernel with MPLS: the labels are on the route.
        (route,) = having(routes(ns, 4), dst="203.0.113.0/24")
        assert route.get("encap") == "mpls"
        assert ROUTES.present(ipr, [entry]) == {ROUTES.key(entry)}


# ---------------------------------------------------------------------------------------------
# Rules: each option reaches the kernel

RULE_CASES: list[tuple[str, int, dict[str, Any]]] = [
    (
        "from 192.0.2.0/24 table 100 preference 100",
        4,
        {"priority": 100, "src": "192.0.2.0", "srclen": 24, "table": "100", "protocol": "keepalived"},
    ),
    (
        "not from 192.0.2.0/25 to 198.51.100.0/24 table 1000 preference 101 tos 0x10 fwmark 0x5/0xff realms 3/4 "
        "suppress_prefixlength 0 suppress_ifgroup 5 iif v0 oif v1 tunnel-id 7 uidrange 100-200 ipproto tcp "
        "sport 1000-2000 dport 80 protocol 4 no_track",
        4,
        {
            "priority": 101,
            "not": None,
            "src": "192.0.2.0",
            "srclen": 25,
            "dst": "198.51.100.0",
            "dstlen": 24,
            "tos": "0x10",
            "fwmark": "0x5",
            "fwmask": "0xff",
            "iif": "v0",
            "oif": "v1",
            "uid_start": 100,
            "uid_end": 200,
            "ipproto": "tcp",
            "sport_start": 1000,
            "sport_end": 2000,
            "dport": 80,
            "tun_id": 7,
            "table": "1000",
            "suppress_prefixlen": 0,
            "suppress_ifgroup": "5",
            "flow_from": "3",
            "flow_to": "4",
            "protocol": "static",
        },
    ),
    ("from all goto 300 preference 200", 4, {"priority": 200, "goto": 300}),
    ("to 203.0.113.0/24 blackhole preference 300", 4, {"priority": 300, "dst": "203.0.113.0", "action": "blackhole"}),
    ("to 203.0.113.0/24 unreachable preference 301", 4, {"priority": 301, "action": "unreachable"}),
    ("to 203.0.113.0/24 prohibit preference 302", 4, {"priority": 302, "action": "prohibit"}),
    ("fwmark 7 nop preference 303", 4, {"priority": 303, "fwmark": "0x7", "nop": None}),
    ("table 4000000000 preference 304", 4, {"priority": 304, "table": "4000000000"}),
    ("l3mdev preference 1000", 4, {"priority": 1000, "l3mdev": None}),
    ("from 192.0.2.0/24 ipproto udp dport 53 table main preference 305", 4, {"ipproto": "udp", "table": "main"}),
    (
        "from 2001:db8::/32 table 100 preference 400",
        6,
        {"priority": 400, "src": "2001:db8::", "srclen": 32, "table": "100", "protocol": "keepalived"},
    ),
    ("to 2001:db8:1::/48 prohibit preference 401", 6, {"dst": "2001:db8:1::", "action": "prohibit"}),
    ("inet6 fwmark 1 table 5 preference 402 oif v0", 6, {"fwmark": "0x1", "oif": "v0", "table": "5"}),
]


@pytest.mark.parametrize(("line", "family", "expected"), RULE_CASES)
def test_each_rule_option_is_installed_seen_and_removed(
    ns: str, ipr: Any, line: str, family: int, expected: dict[str, Any]
) -> None:
    entry = RULES.parse(line)
    before = rules(ns, family)
    assert RULES.present(ipr, [entry]) == set()

    RULES.add(ipr, entry)
    added = [rule for rule in rules(ns, family) if rule not in before]
    assert len(added) == 1, added
    assert {key: added[0].get(key) for key in expected} == expected
    assert RULES.present(ipr, [entry]) == {RULES.key(entry)}

    RULES.remove(ipr, entry)
    assert rules(ns, family) == before
    assert RULES.present(ipr, [entry]) == set()
    RULES.remove(ipr, entry)


def test_a_rule_without_preference_gets_the_kernels_and_is_still_found(ns: str, ipr: Any) -> None:
    entry = RULES.parse("from 192.0.2.0/24 table 100")
    RULES.add(ipr, entry)
    (rule,) = rules(ns, 4)
    assert 0 < rule["priority"] < 32766
    assert RULES.present(ipr, [entry]) == {RULES.key(entry)}
    RULES.remove(ipr, entry)
    assert rules(ns, 4) == []


def test_removing_a_rule_leaves_similar_rules_that_are_not_ours(ns: str, ipr: Any) -> None:
    ours = RULES.parse("from 192.0.2.0/24 table 100 preference 100")
    ip(ns, "rule", "add", "from", "192.0.2.0/24", "table", "100", "pref", "100", "protocol", "static")
    ip(ns, "rule", "add", "from", "192.0.2.0/24", "table", "101", "pref", "100", "protocol", "18")
    ip(ns, "rule", "add", "from", "192.0.2.0/25", "table", "100", "pref", "100", "protocol", "18")
    theirs = rules(ns, 4)
    assert RULES.present(ipr, [ours]) == set()

    RULES.add(ipr, ours)
    assert RULES.present(ipr, [ours]) == {RULES.key(ours)}
    RULES.remove(ipr, ours)
    assert rules(ns, 4) == theirs
    RULES.remove(ipr, ours)
    assert rules(ns, 4) == theirs


def test_an_absent_rule_is_not_removed_in_place_of_a_similar_one(ns: str, ipr: Any) -> None:
    # The kernel ignores `not` and, for an untracked rule, the protocol: deleting ours
    # blindly would take this one.
    ours = RULES.parse("not from 192.0.2.0/24 table 100 preference 100 no_track")
    ip(ns, "rule", "add", "from", "192.0.2.0/24", "table", "100", "pref", "100", "protocol", "static")
    theirs = rules(ns, 4)
    RULES.remove(ipr, ours)
    assert rules(ns, 4) == theirs


def test_a_rule_the_kernel_cannot_single_out_is_not_removed(ns: str, ipr: Any) -> None:
    ours = RULES.parse("not from 192.0.2.0/24 table 100 preference 100 no_track")
    ip(ns, "rule", "add", "from", "192.0.2.0/24", "table", "100", "pref", "100", "protocol", "static")
    RULES.add(ipr, ours)
    both = rules(ns, 4)
    assert len(both) == 2
    with pytest.raises(KernelError) as caught:
        RULES.remove(ipr, ours)
    assert caught.value.code == errno.EBUSY
    assert "preference 100 from 192.0.2.0/24 protocol 4 table 100" in str(caught.value)
    assert rules(ns, 4) == both


def test_a_rule_added_twice_is_refused_with_eexist(ns: str, ipr: Any) -> None:
    entry = RULES.parse("from 192.0.2.0/24 table 100 preference 100")
    RULES.add(ipr, entry)
    with pytest.raises(KernelError) as caught:
        RULES.add(ipr, entry)
    assert caught.value.code == errno.EEXIST
    assert "from 192.0.2.0/24 table 100 preference 100" in str(caught.value)
    assert len(rules(ns, 4)) == 1


@pytest.mark.parametrize("option", ["iif v9", "oif v9"])
def test_a_rule_on_a_missing_interface_is_enodev(ns: str, ipr: Any, option: str) -> None:
    with pytest.raises(KernelError) as caught:
        RULES.add(ipr, RULES.parse(f"from 192.0.2.0/24 table 100 preference 100 {option}"))
    assert caught.value.code == errno.ENODEV
    assert "interface v9 does not exist" in str(caught.value)
    assert rules(ns, 4) == []


def test_a_rule_whose_interface_has_gone_is_still_removed(ns: str, ipr: Any) -> None:
    # Rules name interfaces; the kernel keeps them when the interface goes.
    add_veth(ns, "v2")
    entry = RULES.parse("from 192.0.2.0/24 table 100 preference 100 iif v2")
    RULES.add(ipr, entry)
    ip(ns, "link", "del", "v2")
    assert RULES.present(ipr, [entry]) == {RULES.key(entry)}
    RULES.remove(ipr, entry)
    assert rules(ns, 4) == []
