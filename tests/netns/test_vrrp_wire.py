"""services.vrrp.wire: raw VRRP sockets between namespaces, and with Debian's keepalived.

The first half tests the pure pieces (no privileges); the second half runs real
sockets in throw-away namespaces joined by a bridge (tests/lab.py), where no
namespace has a default route. Adverts are built here by hand, per RFC 3768 /
RFC 5798, so that these tests depend on no other part of the service.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import select
import socket
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pyroute2.netns import popns, pushns

from conf.load import load
from conf.model.vrrp import UnicastPeer
from services.vrrp.wire import (
    CAST_MISMATCH,
    UNICAST_TTL,
    UNKNOWN_UNICAST_SRC,
    Builder,
    EndpointSpec,
    Incoming,
    JitterWindow,
    Outgoing,
    SocketKey,
    Wire,
    check_delivery,
    peer_for,
)
from services.vrrp.wire_options import (
    IFA_F_TENTATIVE,
    IP_PKTINFO,
    IPPROTO_AH,
    IPPROTO_VRRP,
    BadIPv4Header,
    InterfaceAddress,
    choose_source,
    internet_checksum,
    ipv4_header,
    next_ident,
    parse_ipv4_header,
    read_ancillary,
)
from tests.conftest import needs_keepalived, needs_root, wait_for
from tests.lab import LabNode, Lan

V4 = ipaddress.IPv4Address
V6 = ipaddress.IPv6Address
GROUP4 = V4("224.0.0.18")
GROUP6 = V6("ff02::12")
VRID = 51


# ===================================================================== adverts built by hand


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def advert_v2(vrid: int, priority: int, vips: list[str], interval: int = 1) -> bytes:
    """RFC 3768 5.1: no authentication, 8 zero octets of authentication data."""
    body = b"".join(V4(v).packed for v in vips) + bytes(8)
    head = struct.pack("!BBBBBBH", 0x21, vrid, priority, len(vips), 0, interval, 0)
    total = checksum(head + body)
    return head[:6] + struct.pack("!H", total) + body


def advert_v3(vrid: int, priority: int, vips: list[str], src: str, dst: str, centis: int = 100) -> bytes:
    """RFC 5798 5.1 and 5.2.8: the checksum covers an IPv4 or IPv6 pseudo-header."""
    addresses = [ipaddress.ip_address(v) for v in vips]
    body = b"".join(a.packed for a in addresses)
    head = struct.pack("!BBBBHH", 0x31, vrid, priority, len(vips), centis & 0x0FFF, 0)
    message = head + body
    source, dest = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    if source.version == 4:
        pseudo = source.packed + dest.packed + struct.pack("!BBH", 0, IPPROTO_VRRP, len(message))
    else:
        pseudo = source.packed + dest.packed + struct.pack("!I3xB", len(message), IPPROTO_VRRP)
    total = checksum(pseudo + message)
    return head[:6] + struct.pack("!H", total) + body


def valid_checksum_v2(message: bytes) -> bool:
    return checksum(message) == 0


# ===================================================================== pure pieces

addresses4 = st.integers(0, 2**32 - 1).map(V4)


@given(
    src=addresses4,
    dst=addresses4,
    ttl=st.integers(0, 255),
    ident=st.integers(1, 0xFFFF),
    length=st.integers(0, 1400),
    protocol=st.sampled_from([IPPROTO_VRRP, IPPROTO_AH]),
)
def test_ipv4_header_round_trips_with_a_valid_checksum(
    src: V4, dst: V4, ttl: int, ident: int, length: int, protocol: int
) -> None:
    header = ipv4_header(src=src, dst=dst, ttl=ttl, ident=ident, protocol=protocol, payload_len=length)
    assert len(header) == 20
    assert internet_checksum(header) == 0
    parsed = parse_ipv4_header(header + bytes(length))
    assert (parsed.src, parsed.dst, parsed.ttl, parsed.ident, parsed.protocol) == (src, dst, ttl, ident, protocol)
    # keepalived's header: internetwork control, no DF, no fragment offset, no options.
    assert (parsed.tos, parsed.flags_fragment, parsed.header_len, parsed.total_len) == (0xC0, 0, 20, 20 + length)


@pytest.mark.parametrize(
    ("packet", "why"),
    [
        (b"\x45" * 19, "shorter"),
        (b"\x65" + bytes(19), "version 6"),
        (b"\x44" + bytes(19), "header length 16"),
        (struct.pack("!BBH", 0x45, 0, 21) + bytes(16), "ip_tot_len 21 and received 20"),
        (b"\x4f" + bytes(39), "header length 60 in a 40-byte"),
    ],
)
def test_a_broken_ipv4_header_is_refused(packet: bytes, why: str) -> None:
    with pytest.raises(BadIPv4Header, match=why):
        parse_ipv4_header(packet)


@given(st.integers(0, 0xFFFF))
def test_the_ip_identification_counts_from_1_and_never_gives_0(ident: int) -> None:
    following = next_ident(ident)
    assert 1 <= following <= 0xFFFF
    assert following == (ident + 1 if ident < 0xFFFF else 1)


def test_the_first_advert_has_identification_1() -> None:
    assert next_ident(0) == 1


def test_ancillary_data_gives_destination_interface_and_hop_limit() -> None:
    pktinfo4 = struct.pack("=i4s4s", 7, V4("192.0.2.1").packed, GROUP4.packed)
    assert read_ancillary([(socket.IPPROTO_IP, IP_PKTINFO, pktinfo4)]).dst == GROUP4
    pktinfo6 = struct.pack("=16sI", GROUP6.packed, 9)
    hops = struct.pack("=i", 254)
    seen = read_ancillary(
        [(socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, pktinfo6), (socket.IPPROTO_IPV6, socket.IPV6_HOPLIMIT, hops)]
    )
    assert (seen.dst, seen.ifindex, seen.ttl) == (GROUP6, 9, 254)


class TestChooseSource:
    dump = (
        InterfaceAddress(V4("192.0.2.100")),  # a VIP, listed first
        InterfaceAddress(V4("192.0.2.11")),
        InterfaceAddress(V4("192.0.2.12")),
        InterfaceAddress(V6("2001:db8::11")),
        InterfaceAddress(V6("fe80::1"), link_local=True, flags=IFA_F_TENTATIVE),
        InterfaceAddress(V6("fe80::2"), link_local=True),
    )

    def test_ipv4_takes_the_first_address_that_is_no_vip(self) -> None:
        assert choose_source(4, self.dump, {V4("192.0.2.100")}) == V4("192.0.2.11")

    def test_the_address_in_use_is_kept_while_it_stays(self) -> None:
        assert choose_source(4, self.dump, (), current=V4("192.0.2.12")) == V4("192.0.2.12")
        assert choose_source(4, self.dump, (), current=V4("192.0.2.99")) == V4("192.0.2.100")

    def test_ipv6_takes_a_usable_link_local_address(self) -> None:
        assert choose_source(6, self.dump) == V6("fe80::2")

    def test_none_when_nothing_fits(self) -> None:
        assert choose_source(6, self.dump[:4]) is None
        assert choose_source(4, [], ()) is None


def spec(name: str = "VI_1", **changes: object) -> EndpointSpec:
    values: dict[str, object] = {"name": name, "vrid": VRID, "family": 4, "ifname": "eth0", "group": GROUP4}
    values.update(changes)
    return EndpointSpec(**values)  # type: ignore[arg-type]


def incoming(src: str, dst: str, ttl: int | None = 255, payload: bytes = b"\x21\x33") -> Incoming:
    source, dest = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    key = SocketKey(source.version, IPPROTO_VRRP, "eth0", dest if dest.is_multicast else None)
    return Incoming(key, payload, source, dest, ttl, 2, 0.0)


class TestCheckDelivery:
    peers = (UnicastPeer(V4("192.0.2.12"), min_ttl=250), UnicastPeer(V4("192.0.2.13")))

    def unicast(self, check: bool) -> EndpointSpec:
        return spec(group=None, peers=self.peers, configured_source=V4("192.0.2.11"), check_unicast_src=check)

    def test_multicast_and_unicast_do_not_mix(self) -> None:
        drop = check_delivery(incoming("192.0.2.12", "192.0.2.11"), spec())
        assert drop is not None and drop.reason == CAST_MISMATCH
        assert drop.message == "(VI_1) discarding unicast packet on multicast instance"
        drop = check_delivery(incoming("192.0.2.12", "224.0.0.18"), self.unicast(check=False))
        assert drop is not None and drop.message == "(VI_1) discarding multicast packet on unicast instance"

    def test_any_source_is_accepted_without_check_unicast_src(self) -> None:
        assert check_delivery(incoming("192.0.2.99", "192.0.2.11", ttl=3), self.unicast(check=False)) is None

    def test_a_source_that_is_no_peer_is_dropped(self) -> None:
        drop = check_delivery(incoming("192.0.2.99", "192.0.2.11"), self.unicast(check=True))
        assert drop is not None and drop.reason == UNKNOWN_UNICAST_SRC
        assert drop.message == "(VI_1) unicast source address 192.0.2.99 not a unicast peer"

    def test_a_peer_outside_its_ttl_range_is_dropped(self) -> None:
        drop = check_delivery(incoming("192.0.2.12", "192.0.2.11", ttl=249), self.unicast(check=True))
        assert drop is not None and drop.reason == UNICAST_TTL
        assert drop.message == "(VI_1) TTL/HL 249 not in range 250 - 255"
        assert check_delivery(incoming("192.0.2.12", "192.0.2.11", ttl=250), self.unicast(check=True)) is None
        assert check_delivery(incoming("192.0.2.13", "192.0.2.11", ttl=1), self.unicast(check=True)) is None

    def test_peer_for_finds_the_peer_by_address(self) -> None:
        assert peer_for(V4("192.0.2.13"), self.peers) is self.peers[1]
        assert peer_for(V4("192.0.2.14"), self.peers) is None


def test_the_vrid_is_read_behind_an_ah_header() -> None:
    key = SocketKey(4, IPPROTO_AH, "eth0", GROUP4)
    ah = struct.pack("!BBHII", IPPROTO_VRRP, 4, 0, 0xC0000201, 1) + bytes(12)  # 24 octets: (4 + 2) * 4
    packet = Incoming(key, ah + b"\x21\x38rest", V4("192.0.2.1"), GROUP4, 255, 2, 0.0)
    assert packet.vrid == 0x38
    assert Incoming(key, b"\x33", V4("192.0.2.1"), GROUP4, 255, 2, 0.0).vrid is None
    assert incoming("192.0.2.1", "224.0.0.18", payload=b"\x21").vrid is None


@given(st.lists(st.floats(-1.0, 1.0, allow_nan=False), min_size=1, max_size=300), st.integers(1, 100))
def test_jitter_summary_is_nearest_rank_over_the_last_sends(samples: list[float], size: int) -> None:
    window = JitterWindow(size)
    for sample in samples:
        window.record(sample)
    summary = window.summary()
    assert summary is not None
    kept = sorted(samples[-size:])
    assert summary.count == len(kept)
    assert summary.max == kept[-1]
    assert summary.p50 == kept[-(-len(kept) * 50 // 100) - 1]
    assert summary.p99 == kept[-(-len(kept) * 99 // 100) - 1]
    assert summary.p50 <= summary.p99 <= summary.max


def test_an_empty_jitter_window_has_no_summary() -> None:
    assert JitterWindow().summary() is None


def test_endpoint_specs_from_the_configuration(tmp_path: Path) -> None:
    conf = tmp_path / "keepalived.conf"
    conf.write_text(
        """
        global_defs {
            vrrp_mcast_group4 224.0.0.19
            vrrp_check_unicast_src
        }
        vrrp_instance MCAST {
            interface eth0
            virtual_router_id 51
            mcast_src_ip 192.0.2.11
            authentication {
                auth_type AH
                auth_pass secret
            }
            virtual_ipaddress {
                192.0.2.100/24
            }
            virtual_ipaddress_excluded {
                198.51.100.1/24
            }
        }
        vrrp_instance DST {
            interface eth0
            virtual_router_id 52
            mcast_dst_ip 224.0.0.99
            virtual_ipaddress {
                192.0.2.101/24
            }
        }
        vrrp_instance UNI {
            interface eth0
            virtual_router_id 53
            unicast_src_ip 192.0.2.11
            unicast_ttl 64
            unicast_peer {
                192.0.2.12 min_ttl 60
                192.0.2.13
            }
            virtual_ipaddress {
                192.0.2.102/24
            }
        }
        vrrp_instance SIX {
            interface eth0
            virtual_router_id 54
            virtual_ipaddress {
                fe80::54/64
                2001:db8::54/64
            }
        }
        """
    )
    loaded = load(str(conf))
    config = loaded.config
    specs = {i.name: EndpointSpec.from_instance(i, config.global_defs) for i in config.vrrp_instances}
    mcast, dst, uni, six = specs["MCAST"], specs["DST"], specs["UNI"], specs["SIX"]
    assert (mcast.group, mcast.protocol, mcast.ttl) == (V4("224.0.0.19"), IPPROTO_AH, 255)
    assert mcast.configured_source == V4("192.0.2.11")
    assert mcast.excluded == {V4("192.0.2.100"), V4("198.51.100.1")}
    assert dst.group == V4("224.0.0.99") and dst.destinations == (V4("224.0.0.99"),)
    assert uni.unicast and uni.group is None and uni.ttl == 64 and uni.check_unicast_src
    assert uni.destinations == (V4("192.0.2.12"), V4("192.0.2.13"))
    assert uni.peers[0].min_ttl == 60
    assert (six.family, six.group, six.vrid, six.protocol) == (6, GROUP6, 54, IPPROTO_VRRP)
    on_vmac = EndpointSpec.from_instance(config.vrrp_instances[0], config.global_defs, ifname="vrrp.51")
    assert on_vmac.ifname == "vrrp.51"


def test_two_endpoints_with_one_name_are_refused() -> None:
    wire = Wire(interfaces=NoInterfaces())
    with pytest.raises(ValueError, match="two endpoints named VI_1"):
        wire.configure([spec(), spec()])


class NoInterfaces:
    def index(self, ifname: str) -> int | None:
        return None

    def addresses(self, ifindex: int) -> list[InterfaceAddress]:
        return []

    def close(self) -> None:
        pass


def test_without_its_interface_an_instance_has_no_socket_and_sends_nothing() -> None:
    with Wire(interfaces=NoInterfaces()) as wire:
        assert wire.configure([spec()]) == []
        assert wire.fds() == {}
        result = wire.send("VI_1", lambda out: b"", scheduled=0.0)
        assert result.sent == 0 and result.errors == ("no_source",)
        status = wire.status()
        assert status["sockets"] == [
            {"socket": "eth0 IPv4 group 224.0.0.18", "state": "down", "reason": "interface eth0 does not exist"}
        ]
        assert status["instances"]["VI_1"]["source"] is None


# ===================================================================== real sockets


@contextlib.contextmanager
def inside(ns: str) -> Iterator[None]:
    """Run the block in network namespace `ns` (this thread only): sockets made here stay there."""
    pushns(ns)
    try:
        yield
    finally:
        popns()


def collect(wire: Wire, count: int = 1, timeout: float = 10.0) -> list[Incoming]:
    """At least `count` packets from the wire's sockets, polled against a deadline."""
    packets: list[Incoming] = []
    deadline = time.monotonic() + timeout
    while len(packets) < count:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"received {len(packets)} of {count} packets before the deadline")
        readable, _, _ = select.select(list(wire.fds()), [], [], left)
        for fd in readable:
            packets.extend(wire.receive(fd))
    return packets


def node_wire(node: LabNode, *specs: EndpointSpec) -> Wire:
    wire = Wire()
    with inside(node.ns):
        events = wire.configure(specs)
    assert [e.kind for e in events if e.kind == "open_failed"] == [], events
    return wire


def ifindex(node: LabNode, ifname: str = "eth0") -> int:
    return int(node.exec("cat", f"/sys/class/net/{ifname}/ifindex").stdout)


def link_local(node: LabNode) -> V6:
    for info in node.address_details():
        if info["family"] == "inet6" and info["scope"] == "link":
            return V6(info["local"])
    raise AssertionError(f"{node.name} has no link-local address")


def v2_builder(priority: int = 100, vips: tuple[str, ...] = ("192.0.2.100",)) -> Builder:
    return lambda out: advert_v2(VRID, priority, list(vips))


@needs_root
def test_multicast_ipv4_between_namespaces_without_a_default_route(lan: Lan) -> None:
    a, b = lan.add_node("a"), lan.add_node("b")
    assert "default" not in a.exec("ip", "route").stdout
    sender, receiver = node_wire(a, spec()), node_wire(b, spec())
    with sender, receiver:
        assert sender.source("VI_1") == V4("192.0.2.11")
        message = advert_v2(VRID, 100, ["192.0.2.100"])
        for _ in range(2):
            result = sender.send("VI_1", lambda out: message, scheduled=time.monotonic())
            assert result.sent == 1 and result.errors == ()
        first, second = collect(receiver, 2)
        assert first.payload == message and valid_checksum_v2(first.payload)
        assert (first.src, first.dst, first.ttl, first.ifindex) == (V4("192.0.2.11"), GROUP4, 255, ifindex(b))
        assert first.vrid == VRID and receiver.candidates(first) == ("VI_1",)
        header = parse_ipv4_header(first.ip_header + first.payload)
        assert (header.tos, header.flags_fragment, header.protocol, header.ident) == (0xC0, 0, IPPROTO_VRRP, 1)
        assert parse_ipv4_header(second.ip_header + second.payload).ident == 2
        status = sender.status()["instances"]["VI_1"]
        assert status["adverts_sent"] == 2 and status["send_lateness"]["count"] == 2
        assert 0 <= status["send_lateness"]["max"] < 0.5


@needs_root
def test_multicast_ipv6_with_hop_limit_255_from_the_link_local_address(lan: Lan) -> None:
    a, b = lan.add_node("a"), lan.add_node("b")
    six = spec(family=6, group=GROUP6)
    sender, receiver = node_wire(a, six), node_wire(b, six)
    with sender, receiver:
        source = link_local(a)
        assert sender.source("VI_1") == source
        messages: list[bytes] = []

        def build(out: Outgoing) -> bytes:
            assert (out.src, out.dst, out.ttl, out.ident) == (source, GROUP6, 255, 0)
            messages.append(advert_v3(VRID, 100, ["fe80::100", "2001:db8::100"], str(out.src), str(out.dst)))
            return messages[-1]

        assert sender.send("VI_1", build, scheduled=time.monotonic()).sent == 1
        (packet,) = collect(receiver)
        assert packet.payload == messages[0]
        assert (packet.src, packet.dst, packet.ttl, packet.ifindex) == (source, GROUP6, 255, ifindex(b))
        assert packet.ip_header == b""


@needs_root
def test_a_ttl_other_than_255_is_reported_as_it_arrived(lan: Lan) -> None:
    a, b = lan.add_node("a"), lan.add_node("b")
    receiver = node_wire(b, spec(), spec("SIX", family=6, group=GROUP6))
    with inside(a.ns):
        raw4 = socket.socket(socket.AF_INET, socket.SOCK_RAW, IPPROTO_VRRP)
        raw6 = socket.socket(socket.AF_INET6, socket.SOCK_RAW, IPPROTO_VRRP)
    with receiver, raw4, raw6:
        raw4.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"eth0")
        raw4.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
        raw4.sendto(advert_v2(VRID, 100, ["192.0.2.100"]), (str(GROUP4), 0))
        raw6.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"eth0")
        raw6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 7)
        # A zero checksum too: the kernel leaves checking it to the codec, which counts it.
        raw6.sendto(b"\x31\x33\x64\x00\x00\x64\x00\x00", (str(GROUP6), 0, 0, ifindex(a)))
        packets = collect(receiver, 2)
        assert {p.family: p.ttl for p in packets} == {4: 1, 6: 7}
        assert [p.payload for p in packets if p.family == 6] == [b"\x31\x33\x64\x00\x00\x64\x00\x00"]


@needs_root
def test_unicast_to_peers_and_a_stranger_is_filtered(lan: Lan) -> None:
    a, b, c = lan.add_node("a"), lan.add_node("b"), lan.add_node("c")
    to_b = spec(group=None, peers=(UnicastPeer(V4("192.0.2.12")),), ttl=64)
    b_spec = spec(
        group=None,
        peers=(UnicastPeer(V4("192.0.2.11"), min_ttl=64), UnicastPeer(V4("192.0.2.99"))),
        check_unicast_src=True,
    )
    sender_a, sender_c, receiver = node_wire(a, to_b), node_wire(c, to_b), node_wire(b, b_spec)
    with sender_a, sender_c, receiver:
        assert receiver.source("VI_1") == V4("192.0.2.12")
        assert list(receiver.fds().values()) == [SocketKey(4, IPPROTO_VRRP, "eth0", None, V4("192.0.2.12"))]
        assert sender_a.send("VI_1", v2_builder(), time.monotonic()).sent == 1
        (from_a,) = collect(receiver)
        assert (from_a.src, from_a.dst, from_a.ttl) == (V4("192.0.2.11"), V4("192.0.2.12"), 64)
        assert check_delivery(from_a, receiver.spec("VI_1")) is None
        assert sender_c.send("VI_1", v2_builder(), time.monotonic()).sent == 1
        (from_c,) = collect(receiver)
        drop = check_delivery(from_c, receiver.spec("VI_1"))
        assert drop is not None and drop.reason == UNKNOWN_UNICAST_SRC
        # A peer whose adverts arrive below its min_ttl.
        low = spec(group=None, peers=(UnicastPeer(V4("192.0.2.12")),), ttl=63)
        with inside(a.ns):
            sender_a.configure([low])
        sender_a.send("VI_1", v2_builder(), time.monotonic())
        (too_low,) = collect(receiver)
        drop = check_delivery(too_low, receiver.spec("VI_1"))
        assert drop is not None and drop.reason == UNICAST_TTL


def any_builder(priority: int) -> Builder:
    def build(out: Outgoing) -> bytes:
        if out.src.version == 4:
            return advert_v2(VRID, priority, ["192.0.2.100"])
        return advert_v3(VRID, priority, ["fe80::100"], str(out.src), str(out.dst))

    return build


@needs_root
@pytest.mark.parametrize("family", [4, 6])
def test_a_multicast_socket_does_not_see_unicast_and_a_unicast_one_does_not_see_multicast(
    lan: Lan, family: int
) -> None:
    a, b = lan.add_node("a"), lan.add_node("b")
    if family == 4:
        address_a, address_b, group = V4("192.0.2.11"), V4("192.0.2.12"), GROUP4
    else:
        address_a, address_b, group = link_local(a), link_local(b), GROUP6
    multicast = spec(family=family, group=group)
    receiver = node_wire(b, multicast, spec("UNI", family=family, group=None, peers=(UnicastPeer(address_a),)))
    to_b = spec(family=family, group=None, peers=(UnicastPeer(address_b),))
    unicast_sender, multicast_sender = node_wire(a, to_b), node_wire(a, multicast)
    with receiver, unicast_sender, multicast_sender:
        assert receiver.source("UNI") == address_b
        # Two rounds: the second one's packets, queued behind any stray copy of the first, end the wait.
        for priority in (101, 102):
            assert unicast_sender.send("VI_1", any_builder(priority), time.monotonic()).sent == 1
            assert multicast_sender.send("VI_1", any_builder(priority), time.monotonic()).sent == 1
        packets: list[Incoming] = []
        wait_for(lambda: sum(p.payload[2] == 102 for p in packets) == 2, step=lambda: packets.extend(collect(receiver)))
        seen = sorted((receiver.candidates(p), p.dst, p.payload[2]) for p in packets)
        assert seen == [
            (("UNI",), address_b, 101),
            (("UNI",), address_b, 102),
            (("VI_1",), group, 101),
            (("VI_1",), group, 102),
        ]


def attach_new_eth0(lan: Lan, node: LabNode) -> None:
    """A new eth0 (so a new ifindex) for a node whose eth0 was deleted, bridged as Lan.add_node does it."""
    port = f"p{node.index}"
    subprocess.run(
        ["ip", "-n", lan.bridge_ns, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", node.ns],
        check=True,
    )
    subprocess.run(["ip", "-n", lan.bridge_ns, "link", "set", port, "master", "br0", "up"], check=True)
    node.exec("sysctl", "-q", "-w", "net.ipv6.conf.eth0.accept_dad=0")
    node.exec("ip", "addr", "add", node.ipv4, "dev", "eth0")
    node.exec("ip", "link", "set", "eth0", "up")


@needs_root
def test_an_interface_that_goes_and_comes_back_is_reopened(lan: Lan) -> None:
    a, b = lan.add_node("a"), lan.add_node("b")
    sender, receiver = node_wire(a, spec()), node_wire(b, spec())
    with sender, receiver:
        before = ifindex(b)
        b.exec("ip", "link", "del", "eth0")
        with inside(b.ns):
            events = receiver.refresh()
        assert [(e.kind, e.detail) for e in events if e.kind == "closed"] == [("closed", "interface eth0 is gone")]
        assert receiver.fds() == {}
        assert receiver.send("VI_1", v2_builder(), time.monotonic()).errors == ("no_source",)
        with inside(b.ns):
            assert receiver.refresh() == []  # still gone: nothing new, nothing logged again
        attach_new_eth0(lan, b)
        with inside(b.ns):
            events = receiver.refresh()
        assert "opened" in [e.kind for e in events]
        assert receiver.counters["socket_reopened"] == 1
        assert ifindex(b) != before
        sender.send("VI_1", v2_builder(), time.monotonic())
        (packet,) = collect(receiver)
        assert packet.ifindex == ifindex(b) and packet.ttl == 255
        assert receiver.send("VI_1", v2_builder(), time.monotonic()).sent == 1


@needs_root
def test_a_missing_unicast_source_address_is_reported_and_retried(lan: Lan) -> None:
    a = lan.add_node("a")
    missing = spec(group=None, peers=(UnicastPeer(V4("192.0.2.12")),), configured_source=V4("192.0.2.50"))
    wire = Wire()
    with wire, inside(a.ns):
        events = wire.configure([missing])
        failed = [e for e in events if e.kind == "open_failed"]
        assert len(failed) == 1 and failed[0].detail.startswith("bind unicast_src 192.0.2.50 failed 99")
        assert wire.refresh() == []  # the same failure is reported once
        assert wire.send("VI_1", v2_builder(), time.monotonic()).errors == ("no_socket",)
        a.exec("ip", "addr", "add", "192.0.2.50/24", "dev", "eth0")
        assert [e.kind for e in wire.refresh()] == ["opened"]
        assert wire.send("VI_1", v2_builder(), time.monotonic()).sent == 1


@needs_root
def test_a_reload_keeps_shared_sockets_and_closes_unused_ones(lan: Lan) -> None:
    a = lan.add_node("a")
    wire = node_wire(a, spec(), spec("VI_2", vrid=52))
    with wire:
        fds = wire.fds()
        assert len(fds) == 1  # two instances, one socket
        with inside(a.ns):
            events = wire.configure([spec("VI_2", vrid=52)])
        assert events == [] and wire.fds() == fds
        with inside(a.ns):
            events = wire.configure([spec("SIX", family=6, group=GROUP6)])
        assert sorted(e.kind for e in events) == ["closed", "opened", "source"]
        assert list(wire.fds().values()) == [SocketKey(6, IPPROTO_VRRP, "eth0", GROUP6)]


# ===================================================================== with keepalived

YIELDED = "with higher priority 200, ours 100"
COMPLAINTS = re.compile(r"bogus|invalid|mismatch|wrong|error|not a unicast peer|discard", re.IGNORECASE)


def keepalived_conf(node: LabNode, body: str) -> Path:
    path = node.workdir / "keepalived.conf"
    path.write_text("global_defs {\n    router_id " + node.name + "\n}\n" + body)
    return path


def instance(version: int, vips: str, priority: int = 100, extra: str = "") -> str:
    return f"""
vrrp_instance VI_1 {{
    state MASTER
    interface eth0
    virtual_router_id {VRID}
    priority {priority}
    advert_int 1
    version {version}
    {extra}
    virtual_ipaddress {{
        {vips}
    }}
}}
"""


@needs_root
@needs_keepalived
@pytest.mark.interop
@pytest.mark.parametrize(
    ("version", "family", "vips"),
    [(2, 4, "192.0.2.100/24"), (3, 4, "192.0.2.100/24"), (3, 6, "fe80::100/64\n        2001:db8::100/64")],
)
def test_keepalived_adverts_arrive_as_keepalived_sends_them(lan: Lan, version: int, family: int, vips: str) -> None:
    a, b = lan.add_node("a"), lan.add_node("b")
    source = V4("192.0.2.11") if family == 4 else link_local(a)  # before a VIP fe80::100 joins it
    a.start_keepalived(keepalived_conf(a, instance(version, vips)), "--vrrp")
    group = GROUP4 if family == 4 else GROUP6
    receiver = node_wire(b, spec(family=family, group=group))
    with receiver:
        first, second = collect(receiver, 2, timeout=15)
        assert (first.src, first.dst, first.ttl, first.vrid) == (source, group, 255, VRID)
        assert first.payload[0] == version << 4 | 1  # an advertisement of this version
        assert first.ifindex == ifindex(b)
        if family == 6:
            assert first.payload == advert_v3(VRID, 100, ["fe80::100", "2001:db8::100"], str(source), str(group))
            return
        if version == 2:
            assert first.payload == advert_v2(VRID, 100, ["192.0.2.100"])
        else:
            assert first.payload == advert_v3(VRID, 100, ["192.0.2.100"], "192.0.2.11", str(group))
        theirs = parse_ipv4_header(first.ip_header + first.payload)
        ident = parse_ipv4_header(second.ip_header + second.payload).ident
        assert ident == theirs.ident % 0xFFFF + 1  # one more per advert, as ours count
        # Our header for the same advert is theirs, but for the checksum the kernel fills in.
        ours = ipv4_header(
            src=theirs.src, dst=theirs.dst, ttl=255, ident=theirs.ident, protocol=IPPROTO_VRRP,
            payload_len=len(first.payload),
        )  # fmt: skip
        assert parse_ipv4_header(ours + first.payload) == theirs


def keepalived_log(node: LabNode) -> str:
    return node.log_text()


@needs_root
@needs_keepalived
@pytest.mark.interop
@pytest.mark.parametrize(
    ("version", "family", "unicast"),
    [(2, 4, False), (3, 4, False), (3, 6, False), (2, 4, True), (3, 4, True)],
)
def test_keepalived_takes_our_adverts_and_yields_to_them(lan: Lan, version: int, family: int, unicast: bool) -> None:
    """keepalived, MASTER at priority 100, hears ours at 200: it says so, becomes BACKUP and complains of nothing."""
    a, b = lan.add_node("a"), lan.add_node("b")
    vip = "192.0.2.100" if family == 4 else "2001:db8::100"
    extra = ""
    peer_spec = spec(family=family, group=GROUP4 if family == 4 else GROUP6)
    if unicast:
        extra = "unicast_src_ip 192.0.2.11\n    unicast_peer {\n        192.0.2.12\n    }\n    check_unicast_src"
        peer_spec = spec(group=None, peers=(UnicastPeer(V4("192.0.2.11")),))
    prefix = 64 if family == 6 else 24
    a.start_keepalived(keepalived_conf(a, instance(version, f"{vip}/{prefix}", extra=extra)), "--vrrp")
    wait_for(lambda: "Entering MASTER STATE" in keepalived_log(a), timeout=15)
    sender = node_wire(b, peer_spec)

    def build(out: Outgoing) -> bytes:
        if version == 2:
            return advert_v2(VRID, 200, [vip])
        return advert_v3(VRID, 200, [vip], str(out.src), str(out.dst))

    with sender:
        source = sender.source("VI_1")

        def send_and_check() -> bool:
            result = sender.send("VI_1", build, scheduled=time.monotonic())
            assert result.errors == ()
            return YIELDED in keepalived_log(a)

        wait_for(send_and_check, timeout=10, step=lambda: time.sleep(0.2))
        assert f"Master received advert from {source} {YIELDED}" in keepalived_log(a)
        wait_for(lambda: keepalived_log(a).split(YIELDED, 1)[1].count("Entering BACKUP STATE") == 1)
        # Keep advertising for longer than keepalived's master-down interval (3 x 1 s + skew).
        deadline = time.monotonic() + 4.0
        while time.monotonic() < deadline:
            sender.send("VI_1", build, scheduled=time.monotonic())
            time.sleep(0.5)
    text = keepalived_log(a)
    after = text.split(YIELDED, 1)[1]
    assert "Entering MASTER STATE" not in after, text
    complaints = [line for line in text.splitlines() if COMPLAINTS.search(line)]
    assert complaints == [], text
