"""The route and rule kinds without a kernel: keys, text, parsing, and the requests they pack.

The packed requests are read back with pyroute2's own decoders, which know the
rtnetlink formats independently of the code that packs them.
"""

from __future__ import annotations

import dataclasses
import errno
import ipaddress
import struct
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.rtnl.fibmsg import fibmsg
from pyroute2.netlink.rtnl.rtmsg import rtmsg

from conf.load import load
from conf.model.iproute import RT_PROTOS, RT_REALMS, RT_TABLES
from conf.model.routes import RouteEntry
from conf.model.rules import RuleEntry
from services.netconfig.kernel_common import Names, kernel_error, read_name_file
from services.netconfig.kernel_routes import (
    Resolved,
    RouteKind,
    installed_route,
    matches,
    parse_route_line,
    route_key,
    route_request,
    wanted_route,
)
from services.netconfig.kernel_rules import (
    RuleKind,
    installed_rule,
    kernel_would_take,
    parse_rule_line,
    resolved_key,
    rule_request,
    show,
)
from services.netconfig.kinds import KernelError, Kind
from tests.conftest import WriteConf

ROUTES = RouteKind()
RULES = RuleKind()


def test_the_kinds_fit_the_protocol() -> None:
    route_kind: Kind[RouteEntry] = ROUTES
    rule_kind: Kind[RuleEntry] = RULES
    assert (route_kind.name, rule_kind.name) == ("route", "rule")


# ---------------------------------------------------------------------------------------------
# Routes: text and parse

ROUTE_LINES = [
    "192.0.2.0/24 via 198.51.100.1 dev eth0",
    "192.0.2.0/24 dev eth0 no_track",
    "default via 192.0.2.1",
    "inet6 default via 2001:db8::1 dev eth0",
    "blackhole 198.51.100.0/24 table 100",
    "unreachable 2001:db8:5::/48 metric 10",
    "prohibit 203.0.113.7",
    "local 192.0.2.77 dev eth0 table local scope host",
    "throw 203.0.113.0/24 table 200",
    "192.0.2.0/25 src 192.0.2.1 via 192.0.2.2 dev eth0 table 4000000000 metric 7 tos 0x10 scope link "
    "protocol static no_track",
    "203.0.113.0/24 via 192.0.2.2 dev eth0 mtu lock 1400 advmss 1300 window 10 cwnd 3 ssthresh 4 "
    "initcwnd 5 initrwnd 6 hoplimit 7 reordering 3 rtt 300ms rttvar lock 200ms rto_min 250ms "
    "quickack 1 congctl lock cubic fastopen_no_cookie 1 features ecn realms 3/4",
    "2001:db8:5::/64 from 2001:db8:6::/64 via 2001:db8::2 dev eth0 expires 100 pref high",
    "203.0.113.64/26 encap ip id 5 dst 192.0.2.9 src 192.0.2.1 tos 4 ttl 3 flags 1 dev eth0",
    "2001:db8:7::/64 encap ip6 id 5 dst 2001:db8::9 tc 4 hoplimit 3 dev eth0",
    "203.0.113.0/27 encap mpls 100/200 via 192.0.2.2 dev eth0 ttl-propagate disabled",
    "2001:db8:8::/64 encap ila 1:2:3:4 dev eth0",
    "192.0.2.128/25 via 10.0.0.1 dev eth0 onlink",
    "203.0.113.128/25 nexthop via 192.0.2.2 dev eth0 weight 2 nexthop via 198.51.100.2 dev eth1 weight 3 "
    "onlink realms 5",
    "2001:db8:9::/64 nexthop via 2001:db8::2 dev eth0 nexthop via 2001:db8::3 dev eth1",
    "203.0.113.0/24 via 192.0.2.2 dev eth0 table custom protocol myproto",
    "203.0.113.0/24 via 192.0.2.2 dev eth0 add",
    "203.0.113.0/24 via 192.0.2.2 dev eth0 append",
    "203.0.113.0/24 via 192.0.2.2 dev eth0 vrf blue",
    '203.0.113.0/24 via 192.0.2.2 dev eth0 track_group "group one"',
]


@pytest.mark.parametrize("line", ROUTE_LINES)
def test_route_text_reads_back_as_the_same_entry(line: str) -> None:
    entry = ROUTES.parse(line)
    again = ROUTES.parse(ROUTES.text(entry))
    assert again == entry
    assert ROUTES.key(again) == ROUTES.key(entry)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("", "not one route line"),
        ("   ", "not one route line"),
        ("via 192.0.2.1 dev eth0", "must have a destination"),
        ("192.0.2.0/24 via", "'via' is missing its argument"),
        ("192.0.2.0/24 via 2001:db8::1", "cannot mix IPv4 and IPv6"),
        ("192.0.2.0/24 bogus", "unknown route keyword bogus"),
        ("192.0.2.0/24 dev eth0 { x }", "not one route line"),
        ('192.0.2.0/24 track_group "open', "unterminated quote"),
    ],
)
def test_bad_route_text_is_a_value_error_that_says_why(line: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ROUTES.parse(line)


def test_a_route_comment_is_not_part_of_the_line() -> None:
    assert ROUTES.parse("192.0.2.0/24 dev eth0 # note") == ROUTES.parse("192.0.2.0/24 dev eth0")


# ---------------------------------------------------------------------------------------------
# Routes: keys


def key_of(line: str) -> Any:
    return ROUTES.key(parse_route_line(line))


@pytest.mark.parametrize(
    ("one", "other"),
    [
        # Options that do not make another route.
        ("192.0.2.0/24 via 198.51.100.1 dev eth0", "192.0.2.0/24 via 198.51.100.1 dev eth0 mtu 1400"),
        ("192.0.2.0/24 via 198.51.100.1 dev eth0", "192.0.2.0/24 via 198.51.100.1 dev eth0 src 192.0.2.9"),
        ("192.0.2.0/24 via 198.51.100.1 dev eth0", "192.0.2.0/24 via 198.51.100.1 dev eth0 scope link"),
        ("192.0.2.0/24 via 198.51.100.1 dev eth0", "192.0.2.0/24 via 198.51.100.1 dev eth0 table main"),
        ("192.0.2.0/24 via 198.51.100.1 dev eth0", "192.0.2.0/24 via 198.51.100.1 dev eth0 table 254"),
        ("192.0.2.0/24 via 198.51.100.1 dev eth0", "192.0.2.0/24 via 198.51.100.1 dev eth0 metric 0"),
        ("192.0.2.0/24 via 198.51.100.1 dev eth0", "192.0.2.0/24 via 198.51.100.1 dev eth0 no_track"),
        ("192.0.2.0/24 via 198.51.100.1 dev eth0", "192.0.2.0/24 via 198.51.100.1 dev eth0 protocol 18"),
        ("192.0.2.0/24 via 198.51.100.1 dev eth0", "192.0.2.0/24 dev eth0 via 198.51.100.1 append"),
        ("192.0.2.5/24 dev eth0", "192.0.2.0/24 dev eth0"),
        ("2001:db8::/64 dev eth0", "2001:db8::/64 dev eth0 metric 1024"),
        ("2001:db8::/64 dev eth0", "2001:db8::/64 dev eth0 from ::/0"),
        (
            "192.0.2.0/24 nexthop via 198.51.100.1 dev eth0 nexthop via 198.51.100.2 dev eth0",
            "192.0.2.0/24 nexthop via 198.51.100.2 dev eth0 weight 5 nexthop via 198.51.100.1 dev eth0",
        ),
    ],
)
def test_route_options_that_do_not_make_another_route_share_the_key(one: str, other: str) -> None:
    assert key_of(one) == key_of(other)


@pytest.mark.parametrize(
    "other",
    [
        "192.0.2.0/25 via 198.51.100.1 dev eth0",
        "192.0.2.0/24 via 198.51.100.2 dev eth0",
        "192.0.2.0/24 via 198.51.100.1 dev eth1",
        "192.0.2.0/24 via 198.51.100.1",
        "192.0.2.0/24 via 198.51.100.1 dev eth0 table 100",
        "192.0.2.0/24 via 198.51.100.1 dev eth0 metric 5",
        "192.0.2.0/24 via 198.51.100.1 dev eth0 tos 0x10",
        "192.0.2.0/24 via 198.51.100.1 dev eth0 protocol static no_track",
        "192.0.2.0/24 via 198.51.100.1 dev eth0 vrf blue",
        "blackhole 192.0.2.0/24",
        "192.0.2.0/24 nexthop via 198.51.100.1 dev eth0",
        "192.0.2.0/24 nexthop via 198.51.100.1 dev eth0 nexthop via 198.51.100.2 dev eth0",
    ],
)
def test_routes_the_kernel_tells_apart_have_different_keys(other: str) -> None:
    assert key_of("192.0.2.0/24 via 198.51.100.1 dev eth0") != key_of(other)


def test_an_ipv6_source_prefix_is_part_of_the_key() -> None:
    assert key_of("2001:db8::/64 dev eth0 from 2001:db8:1::/64") != key_of("2001:db8::/64 dev eth0")


# ---------------------------------------------------------------------------------------------
# Routes: property tests through the real parser

V4 = ["192.0.2.", "198.51.100.", "203.0.113."]


@st.composite
def route_lines(draw: st.DrawFn) -> str:
    family = draw(st.sampled_from([4, 6]))

    def address() -> str:
        if family == 4:
            return draw(st.sampled_from(V4)) + str(draw(st.integers(0, 255)))
        return f"2001:db8:{draw(st.integers(0, 0xFFFF)):x}::{draw(st.integers(0, 0xFFFF)):x}"

    def prefix() -> str:
        return f"{address()}/{draw(st.integers(0, 32 if family == 4 else 128))}"

    number = st.integers(0, 2**32 - 1).map(str)
    options: list[st.SearchStrategy[str]] = [
        st.just(f"via {address()}"),
        st.sampled_from(["eth0", "eth1", "veth-a"]).map(lambda dev: f"dev {dev}"),
        st.just(f"src {address()}"),
        st.one_of(number.filter(lambda n: n != "0"), st.sampled_from(["main", "local", "default", "custom"])).map(
            lambda table: f"table {table}"
        ),
        number.map(lambda n: f"metric {n}"),
        st.sampled_from(["global", "link", "host", "site", "7"]).map(lambda scope: f"scope {scope}"),
        st.sampled_from(["static", "boot", "keepalived", "18", "99", "myproto"]).map(lambda p: f"protocol {p}"),
        st.builds(
            lambda name, lock, value: f"{name} {'lock ' if lock else ''}{value}",
            st.sampled_from(["mtu", "advmss", "reordering", "cwnd", "ssthresh"]),
            st.booleans(),
            st.integers(0, 2**32 - 1),
        ),
        st.builds(
            lambda name, value: f"{name} {value}",
            st.sampled_from(["window", "initcwnd", "initrwnd"]),
            st.integers(0, 2**32 - 1),
        ),
        st.integers(0, 255).map(lambda n: f"hoplimit {n}"),
        st.builds(
            lambda name, lock, ms: f"{name} {'lock ' if lock else ''}{ms}ms",
            st.sampled_from(["rtt", "rttvar", "rto_min"]),
            st.booleans(),
            st.integers(200, 120_000),
        ),
        st.just("features ecn"),
        st.integers(0, 1).map(lambda n: f"quickack {n}"),
        st.integers(0, 1).map(lambda n: f"fastopen_no_cookie {n}"),
        st.booleans().map(lambda lock: f"congctl {'lock ' if lock else ''}cubic"),
        st.sampled_from(["enabled", "disabled"]).map(lambda v: f"ttl-propagate {v}"),
        st.just("onlink"),
        st.sampled_from(["add", "append", "prepend"]),
        st.just("no_track"),
        st.sampled_from(["g1", '"group two"']).map(lambda g: f"track_group {g}"),
        st.just("vrf blue"),
        st.builds(lambda a, b: f"encap mpls {a}/{b}", st.integers(16, 2**20 - 1), st.integers(16, 2**20 - 1)),
        st.builds(
            lambda ident, ttl: f"encap {'ip' if family == 4 else 'ip6'} id {ident} dst {address()} "
            f"{'ttl' if family == 4 else 'hoplimit'} {ttl}",
            st.integers(0, 2**64 - 1),
            st.integers(0, 255),
        ),
    ]
    if family == 4:
        options += [
            st.integers(0, 255).map(lambda n: f"tos {n:#x}"),
            st.builds(lambda a, b: f"realms {a}/{b}", st.integers(0, 255), st.integers(0, 255)),
        ]
    else:
        options += [
            st.just(f"from {prefix()}"),
            st.sampled_from(["low", "medium", "high"]).map(lambda p: f"pref {p}"),
            st.integers(0, 2**32 - 1).map(lambda n: f"expires {n}"),
        ]
    chosen = draw(st.lists(st.one_of(options), max_size=8))
    kind = draw(st.sampled_from(["", "blackhole ", "unreachable ", "prohibit ", "local ", "unicast ", "throw "]))
    words = [f"{kind}{prefix()}", *chosen]
    if draw(st.booleans()):
        for _ in range(draw(st.integers(1, 3))):
            hop = f"nexthop via {address()}"
            if draw(st.booleans()):
                hop += f" dev eth{draw(st.integers(0, 3))}"
            if draw(st.booleans()):
                hop += f" weight {draw(st.integers(1, 256))}"
            if draw(st.booleans()):
                hop += " onlink"
            words.append(hop)
    if family == 6 and draw(st.booleans()):
        words.insert(draw(st.integers(0, len(words))), "inet6")
    return " ".join(words)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(route_lines())
def test_route_text_parses_back_to_the_same_key(line: str) -> None:
    try:
        entry = parse_route_line(line)
    except ValueError:
        assume(False)
        raise
    again = ROUTES.parse(ROUTES.text(entry))
    assert ROUTES.key(again) == ROUTES.key(entry)
    assert again == entry


def test_a_route_hoplimit_survives_an_ip6_encap() -> None:
    entry = parse_route_line("2001:db8::/64 dev eth0 hoplimit 5 encap ip6 id 1 dst 2001:db8::9 hoplimit 7")
    assert (entry.hoplimit, entry.encap and entry.encap.ttl) == (5, 7)
    again = ROUTES.parse(ROUTES.text(entry))
    assert (again.hoplimit, again.encap and again.encap.ttl) == (5, 7)


# ---------------------------------------------------------------------------------------------
# Routes: the request, read back by pyroute2


def decode_route(msg_type: int, flags: int, body: bytes) -> Any:
    msg = rtmsg(struct.pack("=IHHII", 16 + len(body), msg_type, flags, 1, 0) + body)
    msg.decode()
    return msg


def as_dumped(msg: Any) -> Any:
    """A request as the kernel shows the route it makes: IPv6 routes always have a metric."""
    if msg["family"] == 10 and msg.get_attr("RTA_PRIORITY") is None:
        msg["attrs"].append(("RTA_PRIORITY", 1024))
    return msg


def resolved(**overrides: Any) -> Resolved:
    values: dict[str, Any] = {
        "table": 254,
        "protocol": 18,
        "scope": None,
        "tos": None,
        "realms": 0,
        "oif": 7,
        "hop_oifs": (),
        "hop_realms": (),
    }
    values.update(overrides)
    return Resolved(**values)


def test_a_plain_route_is_sent_as_keepalived_sends_it() -> None:
    entry = parse_route_line("192.0.2.0/24 via 198.51.100.1 dev eth0")
    msg_type, flags, body = route_request(entry, resolved(), Names(), delete=False)
    msg = decode_route(msg_type, flags, body)
    # RTM_NEWROUTE, REQUEST|ACK|CREATE: no EXCL, so an identical prefix with another nexthop is added beside it.
    assert (msg_type, flags) == (24, 0x405)
    assert (msg["family"], msg["dst_len"], msg["table"], msg["proto"], msg["scope"], msg["type"]) == (
        2,
        24,
        254,
        18,
        0,
        1,
    )
    assert msg.get_attr("RTA_DST") == "192.0.2.0"
    assert msg.get_attr("RTA_GATEWAY") == "198.51.100.1"
    assert msg.get_attr("RTA_OIF") == 7
    assert msg.get_attr("RTA_PRIORITY") is None
    assert msg.get_attr("RTA_METRICS") is None


def test_a_delete_carries_scope_nowhere_and_the_same_attributes() -> None:
    entry = parse_route_line("192.0.2.0/24 via 198.51.100.1 dev eth0 metric 9")
    msg_type, flags, body = route_request(entry, resolved(), Names(), delete=True)
    msg = decode_route(msg_type, flags, body)
    assert (msg_type, flags) == (25, 0x5)
    assert msg["scope"] == 255
    assert (msg.get_attr("RTA_GATEWAY"), msg.get_attr("RTA_OIF"), msg.get_attr("RTA_PRIORITY")) == (
        "198.51.100.1",
        7,
        9,
    )
    assert msg["proto"] == 18


@pytest.mark.parametrize(("mode", "extra"), [("add", 0x200), ("append", 0x800), ("prepend", 0)])
def test_the_route_mode_picks_the_netlink_flags(mode: str, extra: int) -> None:
    entry = parse_route_line(f"192.0.2.0/24 dev eth0 {mode}")
    _, flags, _ = route_request(entry, resolved(), Names(), delete=False)
    assert flags == 0x405 | extra


def test_every_route_option_is_in_the_request() -> None:
    entry = parse_route_line(
        "192.0.2.0/25 src 192.0.2.1 via 192.0.2.2 dev eth0 table 4000000000 metric 7 tos 0x10 scope link "
        "protocol static mtu lock 1400 advmss 1300 window 10 cwnd 3 ssthresh 4 initcwnd 5 initrwnd 6 "
        "hoplimit 7 reordering 3 rtt 300ms rttvar lock 200ms rto_min 250ms quickack 1 congctl lock cubic "
        "features ecn realms 3/4 onlink no_track"
    )
    msg = decode_route(
        *route_request(
            entry, resolved(table=4_000_000_000, protocol=4, scope=253, tos=16, realms=(3 << 16) | 4), Names(), False
        )
    )
    assert msg["table"] == 0  # RT_TABLE_UNSPEC: the table is in RTA_TABLE
    assert msg.get_attr("RTA_TABLE") == 4_000_000_000
    assert (msg["proto"], msg["scope"], msg["tos"], msg["flags"]) == (4, 253, 16, 4)
    assert msg.get_attr("RTA_PREFSRC") == "192.0.2.1"
    assert msg.get_attr("RTA_PRIORITY") == 7
    assert msg.get_attr("RTA_FLOW") == (3 << 16) | 4
    metrics = dict(msg.get_attr("RTA_METRICS")["attrs"])
    assert metrics == {
        "RTAX_MTU": 1400,
        "RTAX_ADVMSS": 1300,
        "RTAX_WINDOW": 10,
        "RTAX_CWND": 3,
        "RTAX_SSTHRESH": 4,
        "RTAX_INITCWND": 5,
        "RTAX_INITRWND": 6,
        "RTAX_HOPLIMIT": 7,
        "RTAX_REORDERING": 3,
        "RTAX_RTT": 2400,  # 1/8 ms
        "RTAX_RTTVAR": 800,  # 1/4 ms
        "RTAX_RTO_MIN": 250,
        "RTAX_QUICKACK": 1,
        "RTAX_CC_ALGO": "cubic",
        "RTAX_FEATURES": 1,
        "RTAX_LOCK": (1 << 2) | (1 << 5) | (1 << 16),
    }


def test_ipv6_route_options_are_in_the_request() -> None:
    entry = parse_route_line("2001:db8:5::/64 from 2001:db8:6::/64 via 2001:db8::2 dev eth0 expires 100 pref high")
    msg = decode_route(*route_request(entry, resolved(), Names(), False))
    assert (msg["family"], msg["dst_len"], msg["src_len"]) == (10, 64, 64)
    assert msg.get_attr("RTA_SRC") == "2001:db8:6::"
    assert msg.get_attr("RTA_GATEWAY") == "2001:db8::2"
    assert msg.get_attr("RTA_PREF") == 1
    assert msg.get_attr("RTA_EXPIRES") == struct.pack("=I", 100).hex(":")


def test_multipath_weights_are_sent_less_one_with_their_flags() -> None:
    entry = parse_route_line(
        "203.0.113.0/24 nexthop via 192.0.2.2 dev eth0 weight 2 nexthop via 198.51.100.2 dev eth1 onlink realms 5"
    )
    msg = decode_route(*route_request(entry, resolved(oif=None, hop_oifs=(3, 4), hop_realms=(0, 5)), Names(), False))
    hops = msg.get_attr("RTA_MULTIPATH")
    assert [(hop["hops"], hop["oif"], hop["flags"], hop.get_attr("RTA_GATEWAY")) for hop in hops] == [
        (1, 3, 0, "192.0.2.2"),
        (0, 4, 4, "198.51.100.2"),
    ]
    assert hops[1].get_attr("RTA_FLOW") == 5
    assert msg.get_attr("RTA_OIF") is None


def test_mpls_labels_carry_the_bottom_of_stack_bit() -> None:
    entry = parse_route_line("203.0.113.0/27 encap mpls 100/200 via 192.0.2.2 dev eth0")
    msg = decode_route(*route_request(entry, resolved(), Names(), False))
    assert msg.get_attr("RTA_ENCAP_TYPE") == 1
    assert msg.get_attr("RTA_ENCAP").get_attr("MPLS_IPTUNNEL_DST") == [
        {"label": 100, "tc": 0, "bos": 0, "ttl": 0},
        {"label": 200, "tc": 0, "bos": 1, "ttl": 0},
    ]


def test_ip_encap_attributes_are_packed_as_the_kernel_reads_them() -> None:
    entry = parse_route_line("203.0.113.64/26 encap ip id 5 dst 192.0.2.9 src 192.0.2.1 tos 4 ttl 3 flags 1 dev eth0")
    msg = decode_route(*route_request(entry, resolved(), Names(), False))
    assert msg.get_attr("RTA_ENCAP_TYPE") == 2
    raw = bytes.fromhex(msg.get_attr("RTA_ENCAP").replace(":", ""))
    # id (be64), dst, src, tos, ttl, flags: in keepalived's order.
    assert raw == (
        struct.pack("=HH", 12, 1)
        + struct.pack(">Q", 5)
        + struct.pack("=HH", 8, 2)
        + bytes([192, 0, 2, 9])
        + struct.pack("=HH", 8, 3)
        + bytes([192, 0, 2, 1])
        + struct.pack("=HHB3x", 5, 5, 4)
        + struct.pack("=HHB3x", 5, 4, 3)
        + struct.pack("=HHH2x", 6, 6, 1)
    )


def test_ila_locator_is_sent_as_four_big_endian_groups() -> None:
    entry = parse_route_line("2001:db8:8::/64 encap ila 1:2:3:abcd dev eth0")
    msg = decode_route(*route_request(entry, resolved(), Names(), False))
    assert msg.get_attr("RTA_ENCAP_TYPE") == 3
    raw = bytes.fromhex(msg.get_attr("RTA_ENCAP").replace(":", ""))
    assert raw == struct.pack("=HH", 12, 1) + struct.pack(">4H", 1, 2, 3, 0xABCD)


@pytest.mark.parametrize("line", ROUTE_LINES)
def test_a_route_as_the_kernel_would_dump_it_matches_the_entry(line: str) -> None:
    entry = parse_route_line(line)
    table = 100 if entry.table == "custom" else RT_TABLES.builtin.get(str(entry.table), entry.table)
    assert isinstance(table, int)
    protocol = 99 if entry.protocol == "myproto" else 18 if entry.protocol is None else entry.protocol
    assert isinstance(protocol, int)
    where = resolved(
        table=table,
        protocol=protocol,
        oif=7 if entry.dev else None,
        hop_oifs=tuple(7 if hop.dev else None for hop in entry.nexthops),
        hop_realms=tuple(0 for _ in entry.nexthops),
    )
    have = installed_route(as_dumped(decode_route(*route_request(entry, where, Names(), False))))
    assert have is not None
    assert matches(wanted_route(entry, where), have)
    other = wanted_route(entry, dataclasses.replace(where, table=table + 1))
    assert not matches(other, have)


def test_an_ipv6_route_matches_inside_the_multipath_route_its_siblings_make() -> None:
    one = parse_route_line("2001:db8:9::/64 via 2001:db8::2 dev eth0")
    both = parse_route_line("2001:db8:9::/64 nexthop via 2001:db8::2 dev eth0 nexthop via 2001:db8::3 dev eth0")
    where = resolved(hop_oifs=(7, 7), hop_realms=(0, 0))
    have = installed_route(as_dumped(decode_route(*route_request(both, where, Names(), False))))
    assert have is not None
    assert matches(wanted_route(one, resolved()), have)
    missing = parse_route_line("2001:db8:9::/64 via 2001:db8::4 dev eth0")
    assert not matches(wanted_route(missing, resolved()), have)


# ---------------------------------------------------------------------------------------------
# Rules: text, parse and keys

RULE_LINES = [
    "from 192.0.2.0/24 table 100 preference 100",
    "not from 192.0.2.0/25 to 198.51.100.0/24 table 1000 preference 101 tos 0x10 fwmark 0x5/0xff realms 3/4 "
    "suppress_prefixlength 0 suppress_ifgroup 5 iif eth0 oif eth1 tunnel-id 7 uidrange 100-200 ipproto tcp "
    "sport 1000-2000 dport 80 protocol 4 no_track",
    "from all goto 300 preference 200",
    "to 203.0.113.0/24 blackhole preference 300",
    "to 203.0.113.0/24 unreachable preference 301",
    "to 203.0.113.0/24 prohibit preference 302",
    "fwmark 7 nop preference 303",
    "from 2001:db8::/32 table main preference 400",
    "to 2001:db8:1::/48 prohibit",
    "l3mdev preference 1000",
    "inet6 fwmark 1 table 5 preference 7",
    "from 192.0.2.0/24 table custom preference 9 ipproto udp",
    'from 192.0.2.0/24 table 100 preference 10 iif eth0 track_group "group one"',
]


@pytest.mark.parametrize("line", RULE_LINES)
def test_rule_text_reads_back_as_the_same_entry(line: str) -> None:
    entry = RULES.parse(line)
    again = RULES.parse(RULES.text(entry))
    assert again == entry
    assert RULES.key(again) == RULES.key(entry)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("", "not one rule line"),
        ("from 192.0.2.0/24 preference 5", "no action specified"),
        ("from 192.0.2.0/24 table", "'table' is missing its argument"),
        ("from 192.0.2.0/24 to 2001:db8::/32 table 5", "mixed IPv4 and IPv6"),
        ("goto 5 preference 9", "preference 9 >= goto target 5"),
        ("from 192.0.2.0/24 frobnicate", "unknown rule option frobnicate"),
    ],
)
def test_bad_rule_text_is_a_value_error_that_says_why(line: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RULES.parse(line)


def rule_key_of(line: str) -> Any:
    return RULES.key(parse_rule_line(line))


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("from all table 5 preference 9", "table 5 preference 9"),
        ("from 0.0.0.0/0 table 5 preference 9", "table 5 preference 9"),
        ("fwmark 5 table 5 preference 9", "fwmark 5/0xffffffff table 5 preference 9"),
        ("fwmark 0 table 5 preference 9", "table 5 preference 9"),
        ("realms 0/4 table 5 preference 9", "realms 4 table 5 preference 9"),
        ("tunnel-id 0 table 5 preference 9", "table 5 preference 9"),
        ("table 5 preference 9", "table 5 preference 9 protocol keepalived"),
        ("table 5 preference 9 protocol 0 no_track", "table 5 preference 9 no_track"),
        ("table 5 preference 9 iif eth0", "table 5 preference 9 iif eth0 track_group g"),
    ],
)
def test_rules_the_kernel_sees_as_one_share_the_key(one: str, other: str) -> None:
    assert rule_key_of(one) == rule_key_of(other)


@pytest.mark.parametrize(
    "other",
    [
        "not from 192.0.2.0/24 table 5 preference 9",
        "from 192.0.2.0/25 table 5 preference 9",
        "from 192.0.2.0/24 table 6 preference 9",
        "from 192.0.2.0/24 table 5 preference 8",
        "from 192.0.2.0/24 table 5",
        "from 192.0.2.0/24 table 5 preference 9 protocol static no_track",
        "from 192.0.2.0/24 table 5 preference 9 iif eth0",
        "from 192.0.2.0/24 table 5 preference 9 fwmark 1",
        "from 192.0.2.0/24 table 5 preference 9 sport 80",
        "from 192.0.2.0/24 prohibit preference 9",
        "inet6 table 5 preference 9",
    ],
)
def test_rules_the_kernel_tells_apart_have_different_keys(other: str) -> None:
    assert rule_key_of("from 192.0.2.0/24 table 5 preference 9") != rule_key_of(other)


@st.composite
def rule_lines(draw: st.DrawFn) -> str:
    family = draw(st.sampled_from([4, 6]))

    def prefix() -> str:
        if family == 4:
            return f"{draw(st.sampled_from(V4))}{draw(st.integers(0, 255))}/{draw(st.integers(0, 32))}"
        return f"2001:db8:{draw(st.integers(0, 0xFFFF)):x}::/{draw(st.integers(0, 128))}"

    preference = draw(st.integers(0, 2**32 - 2))
    action = draw(
        st.sampled_from(
            [
                f"table {draw(st.integers(1, 2**32 - 1))}",
                "table main",
                "lookup custom",
                "nop",
                "blackhole",
                "unreachable",
                "prohibit",
                "type prohibit",
                "l3mdev",
                f"goto {draw(st.integers(preference + 1, 2**32 - 1))}",
            ]
        )
    )
    options: list[st.SearchStrategy[str]] = [
        st.just(f"from {prefix()}"),
        st.just(f"to {prefix()}"),
        st.sampled_from(["from all", "to default"]),
        st.just("not"),
        st.integers(0, 255).map(lambda n: f"tos {n:#x}"),
        st.builds(
            lambda mark, mask: f"fwmark {mark:#x}" + ("" if mask is None else f"/{mask:#x}"),
            st.integers(0, 2**32 - 1),
            st.none() | st.integers(0, 2**32 - 1),
        ),
        st.sampled_from(["eth0", "eth1"]).map(lambda dev: f"iif {dev}"),
        st.sampled_from(["eth0", "eth1"]).map(lambda dev: f"oif {dev}"),
        st.integers(0, 2**64 - 1).map(lambda n: f"tunnel-id {n}"),
        st.builds(
            lambda a, b: f"uidrange {min(a, b)}-{max(a, b)}", st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1)
        ),
        st.sampled_from(["static", "keepalived", "18", "myproto"]).map(lambda p: f"protocol {p}"),
        st.sampled_from(["tcp", "udp", "6", "112"]).map(lambda p: f"ipproto {p}"),
        st.builds(lambda a, b: f"sport {min(a, b)}-{max(a, b)}", st.integers(0, 65535), st.integers(0, 65535)),
        st.integers(0, 65535).map(lambda p: f"dport {p}"),
        st.just("no_track"),
        st.sampled_from(["g1", '"group two"']).map(lambda g: f"track_group {g}"),
    ]
    if action.startswith(("table", "lookup")):
        options += [
            st.integers(0, 2**31 - 1).map(lambda n: f"suppress_prefixlength {n}"),
            st.integers(0, 2**31 - 1).map(lambda n: f"suppress_ifgroup {n}"),
        ]
        if family == 4:
            options.append(st.builds(lambda a, b: f"realms {a}/{b}", st.integers(0, 255), st.integers(0, 255)))
    words = [action, f"preference {preference}", *draw(st.lists(st.one_of(options), max_size=6))]
    words = draw(st.permutations(words))
    if family == 6 and draw(st.booleans()):
        words.append("inet6")
    return " ".join(words)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(rule_lines())
def test_rule_text_parses_back_to_the_same_key(line: str) -> None:
    try:
        entry = parse_rule_line(line)
    except ValueError:
        assume(False)
        raise
    again = RULES.parse(RULES.text(entry))
    assert RULES.key(again) == RULES.key(entry)
    assert again == entry


def test_entries_from_a_whole_configuration_read_back_with_the_same_key(write_conf: WriteConf) -> None:
    path = write_conf(
        """
        static_routes {
            192.0.2.0/24 via 198.51.100.1 dev eth0 table 100 metric 5 mtu lock 1400
            inet6 default via 2001:db8::1 dev eth0 pref high
        }
        static_rules {
            from 192.0.2.0/24 table 100 preference 100
            not fwmark 0x10/0xf0 prohibit preference 110
        }
        vrrp_instance VI_1 {
            interface eth0
            virtual_router_id 51
            virtual_ipaddress {
                192.0.2.100/24
            }
            virtual_routes {
                203.0.113.0/24 nexthop via 192.0.2.2 dev eth0 weight 2 nexthop via 192.0.2.3 dev eth0
                blackhole 198.51.100.0/25 table 200
            }
            virtual_rules {
                to 203.0.113.0/24 table 200 preference 200 uidrange 0-999
            }
        }
        """
    )
    config = load(str(path), config_id="n").config
    instance = config.vrrp_instances[0]
    routes = [*config.static_routes, *instance.virtual_routes]
    rules = [*config.static_rules, *instance.virtual_rules]
    assert (len(routes), len(rules)) == (4, 3)
    for route in routes:
        assert ROUTES.key(ROUTES.parse(ROUTES.text(route))) == ROUTES.key(route)
    for rule in rules:
        assert RULES.key(RULES.parse(RULES.text(rule))) == RULES.key(rule)


# ---------------------------------------------------------------------------------------------
# Rules: the request, read back by pyroute2


def decode_rule(msg_type: int, flags: int, body: bytes) -> Any:
    msg = fibmsg(struct.pack("=IHHII", 16 + len(body), msg_type, flags, 1, 0) + body)
    msg.decode()
    return msg


def test_every_rule_option_is_in_the_request() -> None:
    entry = parse_rule_line(RULE_LINES[1])
    key = resolved_key(entry, Names())
    msg_type, flags, body = rule_request(entry, key, delete=False)
    # RTM_NEWRULE, REQUEST|ACK|CREATE|EXCL: a second add of the same rule is refused.
    assert (msg_type, flags) == (32, 0x605)
    msg = decode_rule(msg_type, flags, body)
    assert (msg["family"], msg["src_len"], msg["dst_len"], msg["tos"], msg["table"], msg["action"]) == (
        2,
        25,
        24,
        16,
        0,
        1,
    )
    assert msg["flags"] == 2  # FIB_RULE_INVERT
    assert dict(msg["attrs"]) == {
        "FRA_TABLE": 1000,
        "FRA_SRC": "192.0.2.0",
        "FRA_DST": "198.51.100.0",
        "FRA_PRIORITY": 101,
        "FRA_FWMARK": 5,
        "FRA_FWMASK": 0xFF,
        "FRA_FLOW": (3 << 16) | 4,
        "FRA_SUPPRESS_PREFIXLEN": 0,
        "FRA_SUPPRESS_IFGROUP": 5,
        "FRA_IIFNAME": "eth0",
        "FRA_OIFNAME": "eth1",
        "FRA_TUN_ID": 7,
        "FRA_UID_RANGE": "100:200",
        "FRA_PROTOCOL": 4,
        "FRA_IP_PROTO": 6,
        "FRA_SPORT_RANGE": "1000:2000",
        "FRA_DPORT_RANGE": "80:80",
    }
    # The kernel dumps what it was given; read back, the request is the entry's key.
    assert installed_rule(msg) == key


@pytest.mark.parametrize(
    ("line", "action", "table", "attrs"),
    [
        ("from all goto 300 preference 200", 2, 0, {"FRA_GOTO": 300, "FRA_PRIORITY": 200, "FRA_SRC": "0.0.0.0"}),
        ("l3mdev preference 1000", 1, 0, {"FRA_L3MDEV": 1, "FRA_PRIORITY": 1000}),
        ("to 203.0.113.0/24 unreachable preference 5", 7, 0, {"FRA_DST": "203.0.113.0", "FRA_PRIORITY": 5}),
        ("table main preference 5 no_track", 1, 254, {"FRA_PRIORITY": 5}),
        ("inet6 table 100 no_track", 1, 100, {}),
    ],
)
def test_rule_actions_and_tables_are_sent_as_keepalived_sends_them(
    line: str, action: int, table: int, attrs: dict[str, Any]
) -> None:
    entry = parse_rule_line(line)
    msg = decode_rule(*rule_request(entry, resolved_key(entry, Names()), delete=True))
    assert (msg["action"], msg["table"]) == (action, table)
    found = dict(msg["attrs"])
    found.pop("FRA_PROTOCOL", None)
    assert found == attrs


def test_a_rule_without_preference_matches_whatever_preference_the_kernel_gave() -> None:
    entry = parse_rule_line("from 192.0.2.0/24 table 100")
    key = resolved_key(entry, Names())
    msg = decode_rule(*rule_request(entry, key, delete=False))
    msg["attrs"].append(("FRA_PRIORITY", 32765))
    have = installed_rule(msg)
    assert have is not None and have.preference == 32765
    assert key.preference is None and have._replace(preference=None) == key


@pytest.mark.parametrize(
    ("ours", "theirs", "taken"),
    [
        # `not` is ignored by the kernel's delete.
        ("from 192.0.2.0/24 table 100 preference 100", "not from 192.0.2.0/24 table 100 preference 100", True),
        # A prefix, an interface or a protocol left out matches any.
        ("table 100 preference 100", "from 192.0.2.0/24 table 100 preference 100 iif eth0", True),
        ("table 100 preference 100 no_track", "table 100 preference 100 protocol static no_track", True),
        ("table 100 preference 100", "table 100 preference 100 protocol static no_track", False),
        ("from 192.0.2.0/24 table 100 preference 100", "from 192.0.2.0/25 table 100 preference 100", False),
        ("from 192.0.2.0/24 table 100 preference 100", "from 192.0.2.0/24 table 101 preference 100", False),
        ("from 192.0.2.0/24 table 100 preference 100", "from 192.0.2.0/24 table 100 preference 101", False),
        ("from 192.0.2.0/24 table 100", "from 192.0.2.0/24 table 100 preference 101", True),
        ("fwmark 5 table 100 preference 100", "fwmark 5/0xff table 100 preference 100", False),
        ("to 203.0.113.0/24 prohibit preference 100", "to 203.0.113.0/24 blackhole preference 100", False),
    ],
)
def test_the_rule_the_kernel_would_delete_is_worked_out_as_the_kernel_does(ours: str, theirs: str, taken: bool) -> None:
    request = resolved_key(parse_rule_line(ours), Names())
    have = resolved_key(parse_rule_line(theirs), Names())
    if have.preference is None:
        have = have._replace(preference=32765)
    assert kernel_would_take(request, have) is taken


def test_a_dumped_rule_is_shown_in_ip_rule_words() -> None:
    have = resolved_key(parse_rule_line("not from 192.0.2.0/24 fwmark 5 iif eth0 table 100 preference 7"), Names())
    assert show(have) == "preference 7 not from 192.0.2.0/24 fwmark 0x5/0xffffffff iif eth0 protocol 18 table 100"


# ---------------------------------------------------------------------------------------------
# Names and errors


def test_names_come_from_the_iproute2_files_then_the_built_in_ones(tmp_path: Path) -> None:
    (tmp_path / "rt_tables").write_text("# comment\n255 local\n100\tcustom # trailing\n0x65 hex\nbad line here\n")
    (tmp_path / "rt_tables.d").mkdir()
    (tmp_path / "rt_tables.d" / "extra.conf").write_text("200 extra\n100 custom2\n")
    (tmp_path / "rt_protos").write_text("42 mine\n")
    names = Names(tmp_path)
    assert names.number(RT_TABLES, "custom", "x") == 100
    assert names.number(RT_TABLES, "hex", "x") == 0x65
    assert names.number(RT_TABLES, "extra", "x") == 200
    assert names.number(RT_TABLES, "main", "x") == 254  # built in, not in the file
    assert names.number(RT_TABLES, "0x10", "x") == 16
    assert names.number(RT_TABLES, 7, "x") == 7
    assert names.number(RT_PROTOS, "mine", "x") == 42
    with pytest.raises(KernelError) as caught:
        names.number(RT_TABLES, "nowhere", "route 'x'")
    assert caught.value.code == errno.ENOENT
    assert str(caught.value) == f"route 'x': routing table 'nowhere' is not defined in {tmp_path / 'rt_tables'}"


def test_a_name_file_that_is_missing_defines_nothing(tmp_path: Path) -> None:
    assert read_name_file(tmp_path / "absent", 255) == {}


def test_realms_put_from_in_the_high_half(tmp_path: Path) -> None:
    (tmp_path / "rt_realms").write_text("9 cust\n")
    names = Names(tmp_path)
    assert names.realms("3/4", RT_REALMS, "x") == (3 << 16) | 4
    assert names.realms("4", RT_REALMS, "x") == 4
    assert names.realms("cust/1", RT_REALMS, "x") == (9 << 16) | 1


def test_a_route_in_a_named_table_uses_the_number_the_machine_gives_it(tmp_path: Path) -> None:
    (tmp_path / "rt_tables").write_text("100 custom\n")
    kind = RouteKind(Names(tmp_path))
    entry = kind.parse("203.0.113.0/24 via 192.0.2.2 dev eth0 table custom")
    assert kind.key(entry) == route_key(entry)
    msg = decode_route(*route_request(entry, resolved(table=100), Names(tmp_path), False))
    assert msg["table"] == 100


def test_kernel_errors_say_what_failed_and_what_to_do() -> None:
    error = kernel_error(NetlinkError(errno.ENETUNREACH), "cannot add route 'x'", {errno.ENETUNREACH: "use onlink"})
    assert error.code == errno.ENETUNREACH
    assert error.reason == "ENETUNREACH"
    assert str(error) == "cannot add route 'x': Network is unreachable - use onlink"
    with_ack = kernel_error(NetlinkError(errno.EINVAL, "Invalid prefsrc address"), "cannot add route 'y'")
    assert str(with_ack) == "cannot add route 'y': Invalid argument (Invalid prefsrc address)"
    general = kernel_error(NetlinkError(errno.EPERM), "cannot add rule 'z'")
    assert "CAP_NET_ADMIN" in str(general)


def test_an_unknown_ip_protocol_name_is_reported_when_the_rule_is_installed() -> None:
    entry = parse_rule_line("ipproto nosuchproto table 5 preference 9")
    with pytest.raises(KernelError) as caught:
        resolved_key(entry, Names())
    assert caught.value.code == errno.ENOENT
    assert "ipproto 'nosuchproto' is not in /etc/protocols" in str(caught.value)


def test_network_addresses_in_keys_are_the_masked_prefix() -> None:
    entry = parse_route_line("192.0.2.77/24 dev eth0")
    assert entry.destination == ipaddress.ip_network("192.0.2.0/24")
    assert route_key(entry).destination == ipaddress.ip_network("192.0.2.0/24")
