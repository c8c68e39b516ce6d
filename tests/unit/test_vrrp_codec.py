"""The VRRP codec and receive checks: keepalived's own adverts, scapy's decoders, and every drop reason.

tests/fixtures/vrrp/adverts.json holds the first advert Debian's keepalived
2.2.7 sent for each instance of tests/fixtures/vrrp/keepalived.conf (captured
with tests/fixtures/vrrp/capture.py): we must accept each of them with the
Expectation built from that same configuration, and build each of them byte
for byte from the same settings.
"""

from __future__ import annotations

import dataclasses
import json
import re
import struct
from collections.abc import Callable
from functools import cache
from ipaddress import IPv4Address, IPv6Address, ip_address
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP
from scapy.layers.inet6 import IPv6
from scapy.layers.ipsec import AH
from scapy.layers.vrrp import VRRP, VRRPv3
from scapy.packet import Packet, Raw

from conf.load import load
from conf.model.config import Config
from conf.model.vrrp import UnicastPeer, VrrpInstance
from services.vrrp.acceptance import (
    NOTE_KINDS,
    NOTE_PHRASES,
    OLD_CHECKSUM,
    Accepted,
    Arrival,
    Expectation,
    Note,
    accept,
    receive,
    unknown_vrid,
)
from services.vrrp.codec import (
    AUTH_AH,
    AUTH_NONE,
    AUTH_PASS,
    MCAST_GROUP4,
    MCAST_GROUP6,
    PHRASES,
    REASONS,
    Advert,
    BadAdvert,
    ChecksumMode,
    IPAddress,
    ah_icv,
    ah_payload,
    build,
    build_ipv4,
    internet_checksum,
    parse,
    peek_vrid,
    unwrap_ipv4,
    verify_ah,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "vrrp"
KEEPALIVED_HOST4 = IPv4Address("192.0.2.1")
PEER4 = IPv4Address("192.0.2.2")
PEER6 = IPv6Address("2001:db8::2")


# ------------------------------------------------------------------ the fixtures


@cache
def fixture_config() -> Config:
    loaded = load(str(FIXTURES / "keepalived.conf"), config_id="capture")
    assert not list(loaded.diagnostics), list(loaded.diagnostics)
    return loaded.config


def instance(name: str) -> VrrpInstance:
    return next(i for i in fixture_config().vrrp_instances if i.name == name)


def expectation(name: str, **changes: Any) -> Expectation:
    exp = Expectation.from_instance(instance(name), fixture_config().global_defs)
    return dataclasses.replace(exp, **changes)


@cache
def captured() -> dict[str, bytes]:
    document = json.loads((FIXTURES / "adverts.json").read_text())
    assert document["keepalived"].startswith("Keepalived v2.2.7")
    return {name: bytes.fromhex(packet) for name, packet in document["adverts"].items()}


def arrival_of(packet: bytes) -> Arrival:
    """What the socket adapter hands over for a captured IP datagram."""
    if packet[0] >> 4 == 4:
        return Arrival.from_ipv4(unwrap_ipv4(packet))
    return Arrival(packet[40:], ip_address(packet[8:24]), ip_address(packet[24:40]), packet[7])


def configured_advert(name: str) -> Advert:
    """The advert keepalived should send for a fixture instance, from its configuration alone."""
    inst = instance(name)
    auth = inst.authentication
    version = inst.effective_version
    assert inst.virtual_router_id is not None
    addresses = tuple(vip.address.ip for vip in inst.virtual_ipaddress)
    if version == 3:
        return Advert(3, inst.virtual_router_id, inst.priority, inst.advert_int, addresses)
    auth_type = {None: AUTH_NONE, "PASS": AUTH_PASS, "AH": AUTH_AH}[auth.auth_type if auth else None]
    auth_data = auth.wire_password if auth is not None and auth.auth_type == "PASS" else b""
    return Advert(2, inst.virtual_router_id, inst.priority, inst.advert_int, addresses, auth_type, auth_data)


KEEPALIVED_INSTANCES = [
    "V2_PASS",
    "V2_NONE",
    "V2_AH",
    "V3_IPV4",
    "V3_IPV6",
    "V3_UNICAST",
    "V3_UNICAST_OLD",
    "V3_UNICAST6",
]

# The VRRPv2 PASS advert keepalived sent, field by field.
V2_PASS_MESSAGE = bytes.fromhex(
    "21"  # version 2, type 1 (advertisement)
    "33"  # VRID 51
    "c8"  # priority 200
    "02"  # two addresses
    "01"  # auth type 1: simple text password
    "01"  # advertisement interval: 1 s
    "57c6"  # checksum over the VRRP message alone
    "c0000233" "c0000297"  # 192.0.2.51, 192.0.2.151
    "68616b6565700000"  # "hakeep", zero padded to 8 octets
)  # fmt: skip

# The VRRPv3 IPv6 advert keepalived sent; the checksum covers the IPv6 pseudo-header.
V3_IPV6_MESSAGE = bytes.fromhex(
    "31"  # version 3, type 1
    "35"  # VRID 53
    "cb"  # priority 203
    "02"  # two addresses
    "0064"  # 4 reserved bits, then 100 centiseconds
    "ff35"  # checksum
    "fe800000000000000000000000000053"  # fe80::53, the link-local first (RFC 5798 §5.2.9)
    "20010db8000000000000000000000053"  # 2001:db8::53
)  # fmt: skip


def test_fixture_messages_are_the_annotated_ones() -> None:
    assert unwrap_ipv4(captured()["V2_PASS"]).message == V2_PASS_MESSAGE
    assert captured()["V3_IPV6"][40:] == V3_IPV6_MESSAGE


@pytest.mark.parametrize("name", KEEPALIVED_INSTANCES)
def test_keepalived_adverts_are_accepted_as_configured(name: str) -> None:
    accepted = receive(arrival_of(captured()[name]), expectation(name))
    assert accepted.notes == ()
    assert dataclasses.replace(accepted.advert, old_checksum=False) == configured_advert(name)
    assert accepted.advert.old_checksum == (name == "V3_UNICAST_OLD")
    assert accepted.ah_sequence == (1 if name == "V2_AH" else None)


@pytest.mark.parametrize("name", KEEPALIVED_INSTANCES)
def test_we_build_keepalived_adverts_byte_for_byte(name: str) -> None:
    packet = captured()[name]
    arrival = arrival_of(packet)
    exp = expectation(name)
    message = build(configured_advert(name), arrival.src, arrival.dst, old_checksum_group=exp.sending_checksum_group)
    assert message == arrival.message
    datagram = arrival.datagram
    if datagram is None:
        return
    assert isinstance(arrival.src, IPv4Address) and isinstance(arrival.dst, IPv4Address)
    whole = build_ipv4(
        message,
        src=arrival.src,
        dst=arrival.dst,
        ttl=datagram.ttl,
        identification=int.from_bytes(datagram.header[4:6], "big"),
        ah_key=exp.auth_data if exp.auth_type == AUTH_AH else None,
        ah_sequence=1,
    )
    assert whole == packet


def test_expectations_from_the_fixture_configuration() -> None:
    assert expectation("V2_PASS").auth_type == AUTH_PASS
    assert expectation("V2_PASS").auth_data == b"hakeep\0\0"
    assert expectation("V2_AH").auth_type == AUTH_AH
    assert expectation("V2_AH").auth_data == b"ahsecret"
    assert expectation("V3_IPV4").interval == 0.35
    assert expectation("V3_IPV4").addresses == (IPv4Address("192.0.2.52"), IPv4Address("203.0.113.52"))
    assert expectation("V3_IPV6").family == 6
    # keepalived's unicast_chksum_compat: NONE detects, CONFIG uses the old sum, multicast never switches.
    assert expectation("V3_UNICAST").checksum is ChecksumMode.DETECT
    assert expectation("V3_UNICAST_OLD").checksum is ChecksumMode.OLD
    assert expectation("V3_UNICAST_OLD").sending_checksum_group == MCAST_GROUP4
    assert expectation("V3_UNICAST").sending_checksum_group is None
    assert expectation("V3_IPV4").checksum is ChecksumMode.STANDARD
    assert expectation("V3_UNICAST6").checksum is ChecksumMode.STANDARD
    assert expectation("V3_UNICAST").peers == (UnicastPeer(PEER4),)


def test_expectation_follows_never_and_the_configured_group(tmp_path: Path) -> None:
    conf = tmp_path / "keepalived.conf"
    conf.write_text(
        "global_defs {\n vrrp_mcast_group4 224.0.0.99\n vrrp_check_unicast_src\n vrrp_skip_check_adv_addr\n}\n"
        "vrrp_instance A {\n interface eth0\n virtual_router_id 9\n version 3\n unicast_src_ip 192.0.2.1\n"
        " unicast_peer {\n  192.0.2.2 min_ttl 250\n }\n old_unicast_checksum never\n"
        " virtual_ipaddress {\n  192.0.2.9/24\n }\n}\n"
        "vrrp_instance B {\n interface eth0\n virtual_router_id 10\n version 3\n unicast_src_ip 192.0.2.1\n"
        " unicast_peer {\n  192.0.2.2\n }\n virtual_ipaddress {\n  192.0.2.10/24\n }\n}\n"
    )
    config = load(str(conf), config_id="t").config
    a, b = (Expectation.from_instance(i, config.global_defs) for i in config.vrrp_instances)
    assert a.checksum is ChecksumMode.STANDARD
    assert a.check_unicast_src and a.skip_check_adv_addr
    assert a.peers == (UnicastPeer(PEER4, 250, 255),)
    assert b.checksum is ChecksumMode.DETECT
    assert b.old_checksum_group == IPv4Address("224.0.0.99")


def test_checks_addresses_only_skips_the_known_master_of_a_backup() -> None:
    exp = Expectation(vrid=1, version=3, family=4, interval=1.0, skip_check_adv_addr=True)
    master = IPv4Address("192.0.2.7")
    assert not exp.checks_addresses(src=master, master=master, backup=True)
    assert exp.checks_addresses(src=IPv4Address("192.0.2.8"), master=master, backup=True)
    assert exp.checks_addresses(src=master, master=None, backup=True)
    assert exp.checks_addresses(src=master, master=master, backup=False)
    plain = dataclasses.replace(exp, skip_check_adv_addr=False)
    assert plain.checks_addresses(src=master, master=master, backup=True)


# -------------------------------------------------- keepalived's old VRRPv3 checksum


def test_old_checksum_is_detected_reported_then_required() -> None:
    arrival = arrival_of(captured()["V3_UNICAST_OLD"])
    detecting = expectation("V3_UNICAST_OLD", checksum=ChecksumMode.DETECT)
    accepted = receive(arrival, detecting)
    assert accepted.notes == (Note("old_checksum", OLD_CHECKSUM),)
    assert accepted.notes[0].log_line("V3_UNICAST_OLD") == (
        "(V3_UNICAST_OLD) Setting unicast VRRPv3 checksum to old version"
    )
    # The service switches the instance, as keepalived does; then new-style sums are refused.
    switched = dataclasses.replace(detecting, checksum=ChecksumMode.OLD)
    assert receive(arrival, switched).notes == ()
    standard = arrival_of(captured()["V3_UNICAST"])
    with pytest.raises(BadAdvert) as caught:
        receive(standard, dataclasses.replace(expectation("V3_UNICAST"), checksum=ChecksumMode.OLD))
    assert (caught.value.reason, caught.value.detail) == ("checksum", "Invalid VRRPv3 checksum")


def test_old_checksum_is_refused_with_never() -> None:
    arrival = arrival_of(captured()["V3_UNICAST_OLD"])
    with pytest.raises(BadAdvert) as caught:
        receive(arrival, expectation("V3_UNICAST_OLD", checksum=ChecksumMode.STANDARD))
    assert caught.value.reason == "checksum"


def test_old_checksum_only_differs_for_unicast() -> None:
    advert = Advert(3, 7, 100, 1.0, (IPv4Address("192.0.2.70"),))
    multicast = build(advert, KEEPALIVED_HOST4, MCAST_GROUP4)
    assert build(advert, KEEPALIVED_HOST4, MCAST_GROUP4, old_checksum_group=MCAST_GROUP4) == multicast
    assert build(advert, KEEPALIVED_HOST4, PEER4, old_checksum_group=MCAST_GROUP4) == multicast
    assert build(advert, KEEPALIVED_HOST4, PEER4) != multicast
    # IPv6 and VRRPv2 never had an old checksum.
    six = Advert(3, 7, 100, 1.0, (IPv6Address("2001:db8::70"),))
    assert build(six, IPv6Address("fe80::1"), PEER6, old_checksum_group=MCAST_GROUP4) == build(
        six, IPv6Address("fe80::1"), PEER6
    )


# ------------------------------------------------------------------------- AH


def test_ah_survives_mutable_fields_and_catches_the_rest() -> None:
    packet = bytearray(captured()["V2_AH"])
    exp = expectation("V2_AH")
    packet[1] = 0x10  # TOS is mutable
    packet[6:8] = b"\x40\x00"  # so are the flags and fragment offset
    packet[10:12] = b"\xde\xad"  # and the header checksum
    assert receive(Arrival.from_ipv4(unwrap_ipv4(bytes(packet))), exp).advert.priority == 255
    for offset, value in ((8, 0x40), (4, 0x77), (40, 0x37)):  # TTL (multicast), identification, the VRID
        mutated = bytearray(captured()["V2_AH"])
        mutated[offset] = value
        with pytest.raises(BadAdvert) as caught:
            verify_ah(unwrap_ipv4(bytes(mutated)), exp.auth_data, unicast=False)
        assert caught.value.reason == "ah_icv"


def test_ah_leaves_the_ttl_out_for_unicast() -> None:
    message = build(Advert(2, 9, 100, 1.0, (IPv4Address("192.0.2.9"),), AUTH_AH), KEEPALIVED_HOST4, PEER4)
    sealed = build_ipv4(message, src=KEEPALIVED_HOST4, dst=PEER4, ttl=64, identification=5, ah_key=b"k", unicast=True)
    routed = bytearray(sealed)
    routed[8] = 61  # three routers later
    verify_ah(unwrap_ipv4(bytes(routed)), b"k\0\0\0\0\0\0\0", unicast=True)
    with pytest.raises(BadAdvert):
        verify_ah(unwrap_ipv4(bytes(routed)), b"k", unicast=False)


def test_ah_payload_fits_a_header_made_elsewhere() -> None:
    """A sending socket that writes its own IPv4 header only needs the AH and message from us."""
    message = build(Advert(2, 9, 100, 1.0, (IPv4Address("192.0.2.9"),), AUTH_AH), KEEPALIVED_HOST4, MCAST_GROUP4)
    whole = build_ipv4(message, src=KEEPALIVED_HOST4, dst=MCAST_GROUP4, identification=3, ah_key=b"pw", ah_sequence=7)
    assert ah_payload(message, ip_header=whole[:20], key=b"pw", sequence=7, unicast=False) == whole[20:]


def test_ah_decoded_by_scapy() -> None:
    packet = IP(captured()["V2_AH"])
    ah = packet[AH]
    assert (ah.nh, ah.payloadlen, ah.reserved, ah.spi, ah.seq) == (112, 4, 0, 0xC0000201, 1)
    assert bytes(ah.icv) == unwrap_ipv4(captured()["V2_AH"]).ah.icv  # type: ignore[union-attr]
    ours = unwrap_ipv4(bytes(packet))
    assert ours.ah is not None and ours.ah.spi == int(KEEPALIVED_HOST4)


def test_ah_replay_and_sequence() -> None:
    arrival = arrival_of(captured()["V2_AH"])
    assert receive(arrival, expectation("V2_AH"), ah_sequence=0).ah_sequence == 1
    with pytest.raises(BadAdvert) as caught:
        receive(arrival, expectation("V2_AH"), ah_sequence=1)
    assert caught.value.reason == "ah_replay"
    assert caught.value.log_line("V2_AH") == (
        "(V2_AH) IPSEC-AH : sequence number 1 already processed. Packet dropped. Local(1)"
    )


# ------------------------------------------------------------ scapy as decoder


def scapy_packet(message: bytes, src: IPAddress, dst: IPAddress) -> Packet:
    """scapy's decoding of `message` carried from src to dst."""
    if isinstance(src, IPv4Address):
        return IP(bytes(IP(src=str(src), dst=str(dst), proto=112, ttl=255) / Raw(message)))
    return IPv6(bytes(IPv6(src=str(src), dst=str(dst), nh=112, hlim=255) / Raw(message)))


def scapy_checksum(packet: Packet) -> int:
    """The checksum scapy computes for a decoded packet's VRRP layer (with the pseudo-header for v3)."""
    again = packet.copy()
    layer = again[VRRPv3] if VRRPv3 in again else again[VRRP]
    layer.chksum = None
    rebuilt = type(again)(bytes(again))
    return int((rebuilt[VRRPv3] if VRRPv3 in rebuilt else rebuilt[VRRP]).chksum)


def assert_scapy_agrees(advert: Advert, src: IPAddress, dst: IPAddress) -> None:
    message = build(advert, src, dst)
    packet = scapy_packet(message, src, dst)
    layer = packet[VRRPv3] if advert.version == 3 else packet[VRRP]
    assert type(layer) is (VRRPv3 if advert.version == 3 else VRRP)
    assert (layer.version, layer.type, layer.vrid, layer.priority) == (advert.version, 1, advert.vrid, advert.priority)
    assert layer.ipcount == len(advert.addresses)
    assert [ip_address(a) for a in layer.addrlist] == list(advert.addresses)
    assert layer.chksum == scapy_checksum(packet) == int.from_bytes(message[6:8], "big")
    if advert.version == 2:
        assert (layer.authtype, layer.adv) == (advert.auth_type, advert.interval)
        assert (layer.auth1, layer.auth2) == (
            int.from_bytes(advert.auth_data[:4], "big"),
            int.from_bytes(advert.auth_data[4:], "big"),
        )
    else:
        assert (layer.res, layer.adv) == (0, advert.centiseconds)


def test_scapy_decodes_what_we_build() -> None:
    v4 = (IPv4Address("192.0.2.11"), IPv4Address("198.51.100.250"))
    assert_scapy_agrees(Advert(2, 1, 100, 1.0, v4, AUTH_PASS, b"secret"), KEEPALIVED_HOST4, MCAST_GROUP4)
    assert_scapy_agrees(Advert(2, 255, 0, 255.0, ()), KEEPALIVED_HOST4, MCAST_GROUP4)
    assert_scapy_agrees(Advert(3, 200, 254, 0.01, v4), KEEPALIVED_HOST4, MCAST_GROUP4)
    assert_scapy_agrees(Advert(3, 200, 254, 40.95, v4), KEEPALIVED_HOST4, PEER4)
    v6 = (IPv6Address("fe80::1"), IPv6Address("2001:db8::1"))
    assert_scapy_agrees(Advert(3, 2, 150, 1.0, v6), IPv6Address("fe80::2"), MCAST_GROUP6)
    assert_scapy_agrees(Advert(3, 2, 150, 1.0, v6), IPv6Address("2001:db8::2"), PEER6)


@pytest.mark.parametrize("name", KEEPALIVED_INSTANCES)
def test_scapy_checksums_agree_with_keepalived(name: str) -> None:
    """scapy's own checksum of keepalived's adverts; the old one is over 224.0.0.18, not the peer."""
    arrival = arrival_of(captured()[name])
    dst = MCAST_GROUP4 if name == "V3_UNICAST_OLD" else arrival.dst
    packet = scapy_packet(arrival.message, arrival.src, dst)
    assert scapy_checksum(packet) == int.from_bytes(arrival.message[6:8], "big")


def advert_cases(family: int, version: int) -> st.SearchStrategy[Advert]:
    """Valid adverts of one family and version, for building and parsing."""
    address: st.SearchStrategy[IPAddress]
    if family == 4:
        address = st.integers(0, 2**32 - 1).map(IPv4Address)
    else:
        address = st.integers(0, 2**128 - 1).map(IPv6Address)
    addresses = st.lists(address, min_size=0 if version == 2 else 1, max_size=12).map(tuple)
    vrid = st.integers(1, 255)
    priority = st.integers(0, 255)
    if version == 2:
        return st.builds(
            Advert,
            st.just(2),
            vrid,
            priority,
            st.integers(0, 255).map(float),
            addresses,
            st.integers(0, 255),
            st.binary(min_size=8, max_size=8),
        )
    return st.builds(Advert, st.just(3), vrid, priority, st.integers(0, 4095).map(lambda c: c / 100), addresses)


def endpoints(family: int) -> st.SearchStrategy[tuple[IPAddress, IPAddress]]:
    if family == 4:
        v4 = st.integers(0, 2**32 - 1).map(IPv4Address)
        return st.tuples(v4, st.one_of(st.just(MCAST_GROUP4), v4))
    v6 = st.integers(0, 2**128 - 1).map(IPv6Address)
    return st.tuples(v6, st.one_of(st.just(MCAST_GROUP6), v6))


KINDS = [(4, 2), (4, 3), (6, 3)]


@pytest.mark.parametrize(("family", "version"), KINDS)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_scapy_agrees_on_any_advert(family: int, version: int, data: st.DataObject) -> None:
    advert = data.draw(advert_cases(family, version))
    src, dst = data.draw(endpoints(family))
    assert_scapy_agrees(advert, src, dst)


@pytest.mark.parametrize(("family", "version"), KINDS)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_we_parse_what_scapy_builds(family: int, version: int, data: st.DataObject) -> None:
    advert = data.draw(advert_cases(family, version))
    src, dst = data.draw(endpoints(family))
    addrlist = [str(a) for a in advert.addresses]
    layer: Packet
    if version == 2:
        layer = VRRP(
            vrid=advert.vrid,
            priority=advert.priority,
            authtype=advert.auth_type,
            adv=int(advert.interval),
            addrlist=addrlist,
            auth1=int.from_bytes(advert.auth_data[:4], "big"),
            auth2=int.from_bytes(advert.auth_data[4:], "big"),
        )
    else:
        layer = VRRPv3(vrid=advert.vrid, priority=advert.priority, adv=advert.centiseconds, addrlist=addrlist)
    if family == 4:
        packet = bytes(IP(src=str(src), dst=str(dst)) / layer)
        parsed = parse(packet[20:], family=4, src=src, dst=dst)
    else:
        packet = bytes(IPv6(src=str(src), dst=str(dst)) / layer)
        parsed = parse(packet[40:], family=6, src=src, dst=dst)
    assert parsed == advert


# -------------------------------------------------------------- build rejects


@pytest.mark.parametrize(
    ("advert", "src", "dst"),
    [
        (Advert(4, 1, 100, 1.0), KEEPALIVED_HOST4, MCAST_GROUP4),
        (Advert(2, 0, 100, 1.0), KEEPALIVED_HOST4, MCAST_GROUP4),
        (Advert(2, 1, 256, 1.0), KEEPALIVED_HOST4, MCAST_GROUP4),
        (Advert(2, 1, 100, 1.5), KEEPALIVED_HOST4, MCAST_GROUP4),
        (Advert(2, 1, 100, 256.0), KEEPALIVED_HOST4, MCAST_GROUP4),
        (Advert(2, 1, 100, 1.0, auth_data=b"123456789"), KEEPALIVED_HOST4, MCAST_GROUP4),
        (Advert(2, 1, 100, 1.0, (IPv6Address("2001:db8::1"),)), IPv6Address("fe80::1"), MCAST_GROUP6),
        (Advert(3, 1, 100, 0.005, (IPv4Address("192.0.2.1"),)), KEEPALIVED_HOST4, MCAST_GROUP4),
        (Advert(3, 1, 100, 40.96, (IPv4Address("192.0.2.1"),)), KEEPALIVED_HOST4, MCAST_GROUP4),
        (Advert(3, 1, 100, 1.0, (IPv4Address("192.0.2.1"),), AUTH_PASS), KEEPALIVED_HOST4, MCAST_GROUP4),
        (Advert(3, 1, 100, 1.0, (IPv6Address("2001:db8::1"),)), KEEPALIVED_HOST4, MCAST_GROUP4),
        (Advert(3, 1, 100, 1.0, tuple(IPv4Address(i) for i in range(256))), KEEPALIVED_HOST4, MCAST_GROUP4),
        (Advert(3, 1, 100, 1.0), KEEPALIVED_HOST4, MCAST_GROUP4),
        (Advert(3, 1, 100, 1.0, (IPv4Address("192.0.2.1"),)), KEEPALIVED_HOST4, MCAST_GROUP6),
    ],
)
def test_build_refuses_what_cannot_go_on_the_wire(advert: Advert, src: IPAddress, dst: IPAddress) -> None:
    with pytest.raises(ValueError):
        build(advert, src, dst)


def test_the_biggest_advert() -> None:
    addresses = tuple(IPv4Address(f"192.0.2.{i}") for i in range(255))
    advert = Advert(3, 1, 100, 1.0, addresses)
    message = build(advert, KEEPALIVED_HOST4, MCAST_GROUP4)
    assert len(message) == 8 + 4 * 255
    assert parse(message, family=4, src=KEEPALIVED_HOST4, dst=MCAST_GROUP4) == advert


def test_reserved_interval_bits_are_ignored() -> None:
    arrival = patched(v4(V3), 4, b"\xf0")
    assert arrival.message[4:6] == b"\xf0\x23"
    assert receive(arrival, EXP_V3).advert.interval == 0.35


def test_short_auth_data_is_zero_padded() -> None:
    assert Advert(2, 1, 100, 1.0, auth_data=b"pw").auth_data == b"pw\0\0\0\0\0\0"
    assert Advert(3, 1, 100, 1.0, (IPv4Address("192.0.2.1"),)).auth_data == b""


# ----------------------------------------------------------------- every drop


V2 = Advert(2, 51, 100, 1.0, (IPv4Address("192.0.2.51"), IPv4Address("192.0.2.151")), AUTH_PASS, b"hakeep")
V3 = Advert(3, 52, 100, 0.35, (IPv4Address("192.0.2.52"), IPv4Address("203.0.113.52")))
V3_6 = Advert(3, 53, 100, 1.0, (IPv6Address("fe80::53"), IPv6Address("2001:db8::53")))
SRC6 = IPv6Address("fe80::1")
EXP_V2 = Expectation(51, 2, 4, 1.0, V2.addresses, AUTH_PASS, b"hakeep\0\0")
EXP_V3 = Expectation(52, 3, 4, 0.35, V3.addresses)
EXP_V3_6 = Expectation(53, 3, 6, 1.0, V3_6.addresses)
# A unicast instance on 192.0.2.1 whose peer is 192.0.2.2, with the same VRID and VIPs as V3.
EXP_UNICAST = Expectation(
    52, 3, 4, 0.35, V3.addresses, unicast=True, peers=(UnicastPeer(PEER4, 250, 255),), check_unicast_src=True
)


def v4(advert: Advert, *, dst: IPv4Address = MCAST_GROUP4, ttl: int = 255, src: IPv4Address = PEER4) -> Arrival:
    """A well-formed IPv4 arrival of `advert`."""
    datagram = build_ipv4(build(advert, src, dst), src=src, dst=dst, ttl=ttl, identification=1)
    return Arrival.from_ipv4(unwrap_ipv4(datagram))


def v6(advert: Advert, *, dst: IPv6Address = MCAST_GROUP6, hop_limit: int | None = 255) -> Arrival:
    return Arrival(build(advert, SRC6, dst), SRC6, dst, hop_limit)


def patched(arrival: Arrival, offset: int, value: bytes, *, fix_checksum: bool = True) -> Arrival:
    """The arrival with message bytes replaced (and its checksum made right again)."""
    message = bytearray(arrival.message)
    message[offset : offset + len(value)] = value
    if fix_checksum:
        message[6:8] = b"\0\0"
        v2_over_ipv4 = message[0] >> 4 == 2 and arrival.src.version == 4
        if v2_over_ipv4:
            summed = bytes(message)
        else:
            pseudo = arrival.src.packed + arrival.dst.packed
            if arrival.src.version == 4:
                pseudo += bytes([0, 112]) + len(message).to_bytes(2, "big")
            else:
                pseudo += len(message).to_bytes(4, "big") + bytes([0, 0, 0, 112])
            summed = pseudo + bytes(message)
        message[6:8] = internet_checksum(summed).to_bytes(2, "big")
    return dataclasses.replace(arrival, message=bytes(message), datagram=None)


def ipv4_with(arrival: Arrival, offset: int, value: bytes) -> Arrival:
    """The arrival's whole IPv4 datagram with bytes replaced, unwrapped again."""
    assert arrival.datagram is not None
    packet = bytearray(arrival.datagram.header + arrival.datagram.ah_bytes + arrival.message)
    packet[offset : offset + len(value)] = value
    return Arrival.from_ipv4(unwrap_ipv4(bytes(packet)))


def ah_arrival(*, key: bytes = b"ahsecret", sequence: int = 5, next_header: int | None = None) -> Arrival:
    advert = Advert(2, 56, 100, 1.0, (IPv4Address("192.0.2.56"),), AUTH_AH)
    packet = bytearray(
        build_ipv4(build(advert, PEER4, MCAST_GROUP4), src=PEER4, dst=MCAST_GROUP4, ah_key=key, ah_sequence=sequence)
    )
    if next_header is not None:
        packet[20] = next_header
    return Arrival.from_ipv4(unwrap_ipv4(bytes(packet)))


EXP_AH = Expectation(56, 2, 4, 1.0, (IPv4Address("192.0.2.56"),), AUTH_AH, b"ahsecret")

Thunk = Callable[[], object]

# reason, keepalived's log line with "(VI)" for the instance where keepalived prefixes it, what raises it.
DROPS: list[tuple[str, str, Thunk]] = [
    ("length", "IPv6 VRRP packet too short - 7 bytes", lambda: peek_vrid(b"\x31" * 7, family=6)),
    ("length", "IPv4 VRRP packet too short - 27 bytes", lambda: unwrap_ipv4(captured()["V2_PASS"][:27])),
    ("length", "IPv4 VRRP packet too short - 12 bytes", lambda: unwrap_ipv4(captured()["V2_PASS"][:12])),
    ("length", "IPv4 VRRP packet with AH too short - 51 bytes", lambda: unwrap_ipv4(captured()["V2_AH"][:51])),
    (
        "length",
        "(VI) vrrp packet too short, length 40 and expect 44",
        lambda: receive(Arrival.from_ipv4(unwrap_ipv4(resized(v4(V2), -4))), EXP_V2),
    ),
    (
        "length",
        "(VI) vrrp packet too long, length 48 and expect 44",
        lambda: receive(Arrival.from_ipv4(unwrap_ipv4(resized(v4(V2), 4))), EXP_V2),
    ),
    (
        "length",
        "(VI) ip_tot_len mismatch against received length. 40 and received 44",
        lambda: receive(ipv4_with(v4(V2), 2, b"\x00\x28"), EXP_V2),
    ),
    ("protocol", "IP protocol 6 is neither VRRP (112) nor AH (51)", lambda: unwrap_ipv4(tcp_datagram())),
    ("family", "not an IPv4 datagram: IP version 6", lambda: unwrap_ipv4(b"\x60" + bytes(40))),
    ("family", "(VI) received an IPv6 advert, expect IPv4", lambda: receive(v6(V3_6), EXP_V3)),
    (
        "family",
        "(VI) VRRPv2 is IPv4 only (RFC 3768) but the advert came over IPv6",
        lambda: parse(patched(v6(V3_6), 0, b"\x21").message, family=6, src=SRC6, dst=MCAST_GROUP6),
    ),
    ("version", "(VI) wrong version. Received 3 and expect 2", lambda: receive(v4(V3), EXP_V2)),
    ("version", "(VI) wrong version. Received 2 and expect 3", lambda: receive(v4(V2), EXP_V3)),
    (
        "version",
        "(VI) wrong version. Received 4 and expect 2 or 3",
        lambda: parse(patched(v4(V3), 0, b"\x41").message, family=4, src=PEER4, dst=MCAST_GROUP4),
    ),
    ("type", "(VI) Invalid packet type. 2 and expect 1", lambda: receive(patched(v4(V3), 0, b"\x32"), EXP_V3)),
    ("checksum", "(VI) Invalid VRRPv2 checksum", lambda: receive(corrupted(v4(V2)), EXP_V2)),
    ("checksum", "(VI) Invalid VRRPv3 checksum", lambda: receive(corrupted(v4(V3)), EXP_V3)),
    ("checksum", "(VI) Invalid VRRPv3 checksum", lambda: receive(corrupted(v6(V3_6)), EXP_V3_6)),
    (
        "checksum",
        "(VI) Invalid VRRPv3 checksum",
        lambda: receive(dataclasses.replace(v4(V3), dst=IPv4Address("224.0.0.19")), EXP_V3),
    ),
    (
        "unknown_vrid",
        "Unknown VRID(9) received on interface(eth0). ignoring...",
        lambda: raise_(unknown_vrid(9, "eth0")),
    ),
    (
        "unknown_vrid",
        "Unknown VRID(9) received on interface(eth0) from 192.0.2.2. ignoring...",
        lambda: raise_(unknown_vrid(9, "eth0", PEER4)),
    ),
    (
        "cast_mismatch",
        "(VI) Expected multicast packet but received unicast packet",
        lambda: receive(v4(V3, dst=PEER4), EXP_V3),
    ),
    (
        "cast_mismatch",
        "(VI) Expected unicast packet but received multicast packet",
        lambda: receive(v4(V3), EXP_UNICAST),
    ),
    (
        "cast_mismatch",
        "(VI) discarding unicast packet on multicast instance",
        lambda: receive(v6(V3_6, dst=PEER6), EXP_V3_6),
    ),
    ("ttl", "(VI) invalid TTL/HL. Received 254 and expect 255", lambda: receive(v4(V3, ttl=254), EXP_V3)),
    ("ttl", "(VI) invalid TTL/HL. Received 1 and expect 255", lambda: receive(v6(V3_6, hop_limit=1), EXP_V3_6)),
    (
        "ttl",
        "(VI) TTL/HL 64 not in range 250 - 255",
        lambda: receive(v4(V3, dst=KEEPALIVED_HOST4, ttl=64), EXP_UNICAST),
    ),
    ("auth_type_invalid", "(VI) Invalid auth type: 3", lambda: receive(patched(v4(V2), 4, b"\x03"), EXP_V2)),
    ("auth_type", "(VI) received a 0 auth, expecting 1!", lambda: receive(patched(v4(V2), 4, b"\x00"), EXP_V2)),
    ("auth_type", "(VI) Received AH header but auth type not AH", lambda: receive(ah_arrival(), EXP_V2)),
    (
        "auth_type",
        "(VI) No AH header but auth type is AH",
        lambda: receive(v4(dataclasses.replace(V2, vrid=56, auth_type=AUTH_AH)), EXP_AH),
    ),
    (
        "auth_password",
        "(VI) received an invalid passwd!",
        lambda: receive(patched(v4(V2), 16, b"hakeeq"), EXP_V2),
    ),
    (
        "ah_not_vrrp",
        "(VI) AH header protects IP protocol 17, not VRRP",
        lambda: receive(ah_arrival(next_header=17), EXP_AH),
    ),
    (
        "ah_icv",
        "(VI) IPSEC-AH : invalid IPSEC HMAC-MD5 value. Due to fields mutation or bad password !",
        lambda: receive(ah_arrival(key=b"ahsecreT"), EXP_AH),
    ),
    (
        "ah_spi",
        "IPSEC AH : invalid IPSEC SPI value. 33685696 and expect 50462912",
        lambda: receive(resealed_with_spi(IPv4Address("192.0.2.3")), EXP_AH),
    ),
    (
        "ah_replay",
        "(VI) IPSEC-AH : sequence number 5 already processed. Packet dropped. Local(9)",
        lambda: receive(ah_arrival(), EXP_AH, ah_sequence=9),
    ),
    (
        "interval",
        "(VI) advertisement interval mismatch mine=1 sec rcv'd=2 sec",
        lambda: receive(patched(v4(V2), 5, b"\x02"), EXP_V2),
    ),
    (
        "vip_mismatch",
        "(VI) ip address associated with VRID 51 not present in MASTER advert: 192.0.2.151",
        lambda: receive(v4(with_addresses(V2, V2.addresses[0], IPv4Address("192.0.2.9"))), EXP_V2),
    ),
    (
        "vip_mismatch",
        "(VI) received an unexpected ip number count 1, expected 2!",
        lambda: receive(v4(with_addresses(V2, V2.addresses[0])), EXP_V2),
    ),
    (
        "vip_mismatch",
        "(VI) received an unexpected ip number count 1, expected 2!",
        lambda: receive(v4(with_addresses(V3, V3.addresses[0])), dataclasses.replace(EXP_V3, drop_vip_mismatch=True)),
    ),
    (
        "unicast_src",
        "(VI) unicast source address 192.0.2.3 not a unicast peer",
        lambda: receive(v4(V3, dst=KEEPALIVED_HOST4, src=IPv4Address("192.0.2.3")), EXP_UNICAST),
    ),
]


def raise_(error: BadAdvert) -> None:
    raise error


def resized(arrival: Arrival, change: int) -> bytes:
    """The datagram `change` octets longer (or shorter), its Total Length made to agree."""
    assert arrival.datagram is not None
    packet = bytearray(arrival.datagram.header + arrival.message)
    packet = packet[:change] if change < 0 else packet + bytes(change)
    packet[2:4] = len(packet).to_bytes(2, "big")
    return bytes(packet)


def corrupted(arrival: Arrival) -> Arrival:
    """The arrival with its VRID changed and its checksum left as it was."""
    return patched(arrival, 1, bytes([arrival.message[1] ^ 0x40]), fix_checksum=False)


def with_addresses(advert: Advert, *addresses: IPAddress) -> Advert:
    return dataclasses.replace(advert, addresses=addresses)


def tcp_datagram() -> bytes:
    packet = bytearray(captured()["V2_NONE"])
    packet[9] = 6
    return bytes(packet)


def resealed_with_spi(spi_address: IPv4Address) -> Arrival:
    """An AH datagram whose SPI is not its source address, with an ICV that is right for it."""
    message = build(Advert(2, 56, 100, 1.0, (IPv4Address("192.0.2.56"),), AUTH_AH), PEER4, MCAST_GROUP4)
    header = build_ipv4(message, src=PEER4, dst=MCAST_GROUP4, ah_key=b"ahsecret", ah_sequence=5)[:20]
    unsealed = struct.pack("!BBHII12s", 112, 4, 0, int(spi_address), 5, bytes(12))
    icv = ah_icv(header, unsealed, message, b"ahsecret", unicast=False)
    return Arrival.from_ipv4(unwrap_ipv4(header + unsealed[:12] + icv + message))


@pytest.mark.parametrize(("reason", "line", "thunk"), DROPS, ids=[f"{r}-{i}" for i, (r, _, _) in enumerate(DROPS)])
def test_drop(reason: str, line: str, thunk: Thunk) -> None:
    with pytest.raises(BadAdvert) as caught:
        thunk()
    error = caught.value
    assert error.reason == reason
    assert error.log_line("VI") == line
    assert any(re.fullmatch(template_regex(t), error.detail) for t in PHRASES[error.reason])


def template_regex(template: str) -> str:
    return ".*".join(re.escape(part) for part in re.split(r"\{[a-z_]+\}", template))


def test_every_reason_has_a_drop_case() -> None:
    assert {reason for reason, _, _ in DROPS} == set(REASONS)
    assert set(PHRASES) == set(REASONS)


def test_quiet_drops_are_those_keepalived_only_logs_on_request() -> None:
    quiet = set()
    for reason, _, thunk in DROPS:
        try:
            thunk()
        except BadAdvert as error:
            if error.quiet:
                quiet.add(reason)
    assert quiet == {"unknown_vrid", "ah_not_vrrp", "cast_mismatch"}


# ------------------------------------------------------- kept, with or without notes


def test_vip_mismatch_is_a_note_for_v3() -> None:
    advert = dataclasses.replace(V3, addresses=(V3.addresses[0], IPv4Address("192.0.2.99")))
    accepted = receive(v4(advert), EXP_V3)
    assert accepted.advert == advert
    assert [n.log_line("VI") for n in accepted.notes] == [
        "(VI) ip address associated with VRID 52 not present in MASTER advert: 203.0.113.52"
    ]
    fewer = receive(v6(dataclasses.replace(V3_6, addresses=V3_6.addresses[:1])), EXP_V3_6)
    assert fewer.notes == (Note("vip_mismatch", "received an unexpected ip number count 1, expected 2!"),)


def test_vip_mismatch_from_the_owner_is_a_note_for_v2() -> None:
    """RFC 3768 §7.1: only an advert from the address owner survives a VIP mismatch."""
    advert = dataclasses.replace(V2, priority=255, addresses=V2.addresses[:1])
    assert receive(v4(advert), EXP_V2).notes == (
        Note("vip_mismatch", "received an unexpected ip number count 1, expected 2!"),
    )
    with pytest.raises(BadAdvert):
        receive(v4(advert), dataclasses.replace(EXP_V2, drop_vip_mismatch=True))


def test_addresses_in_another_order_match() -> None:
    advert = dataclasses.replace(V3, addresses=V3.addresses[::-1])
    assert receive(v4(advert), EXP_V3).notes == ()


def test_skipped_address_check_skips_the_peer_check_too() -> None:
    """keepalived checks the VIPs and the unicast source together, or neither."""
    stranger = v4(with_addresses(V3, IPv4Address("192.0.2.99")), dst=KEEPALIVED_HOST4, src=IPv4Address("192.0.2.3"))
    assert receive(stranger, EXP_UNICAST, check_addresses=False).notes == ()


def test_v3_interval_differences_are_kept() -> None:
    """RFC 5798 §6.4.2: a backup takes the master's interval instead of dropping its adverts."""
    accepted = receive(v4(dataclasses.replace(V3, interval=2.5)), EXP_V3)
    assert accepted.advert.interval == 2.5
    assert accepted.notes == ()


def test_unicast_adverts_need_no_ttl_255() -> None:
    accepted = receive(v4(V3, dst=KEEPALIVED_HOST4, ttl=251), EXP_UNICAST)
    assert accepted.notes == ()
    no_peer_check = dataclasses.replace(EXP_UNICAST, check_unicast_src=False)
    assert receive(v4(V3, dst=KEEPALIVED_HOST4, ttl=3), no_peer_check).notes == ()


def test_unknown_ttl_is_not_checked() -> None:
    assert receive(v6(V3_6, hop_limit=None), EXP_V3_6).notes == ()


def test_priority_zero_is_kept() -> None:
    """A master giving up (RFC 5798 §6.4.3) is the state machine's business, not a drop."""
    assert receive(v4(dataclasses.replace(V3, priority=0)), EXP_V3).advert.priority == 0


def test_accept_alone_checks_the_same() -> None:
    arrival = v4(V3, ttl=254)
    with pytest.raises(BadAdvert) as caught:
        accept(V3, EXP_V3, arrival)
    assert caught.value.reason == "ttl"
    assert accept(V3, EXP_V3, v4(V3)) == []


def test_accepted_and_notes_are_plain_values() -> None:
    assert set(NOTE_KINDS) == set(NOTE_PHRASES)
    accepted = receive(v4(V3), EXP_V3)
    assert accepted == Accepted(V3, (), None)


def test_bad_advert_knows_its_log_line() -> None:
    error = BadAdvert("ttl", "invalid TTL/HL. Received 1 and expect 255")
    assert error.log_line("VI_1") == "(VI_1) invalid TTL/HL. Received 1 and expect 255"
    assert error.log_line() == "invalid TTL/HL. Received 1 and expect 255"
    assert str(error) == "ttl: invalid TTL/HL. Received 1 and expect 255"
    unprefixed = BadAdvert("length", "IPv4 VRRP packet too short - 3 bytes", prefixed=False)
    assert unprefixed.log_line("VI_1") == "IPv4 VRRP packet too short - 3 bytes"
    with pytest.raises(ValueError):
        BadAdvert.from_phrase("ttl", "not a phrase", {})
