"""Gratuitous ARP and unsolicited NA frames: golden bytes, checked field by field with scapy's decoders."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet6 import ICMPv6ND_NA, ICMPv6NDOptDstLLAddr, IPv6
from scapy.layers.l2 import ARP, Ether

from services.checksum import internet_checksum
from services.netconfig.packets import (
    format_mac,
    garp_frame,
    icmpv6_checksum,
    multicast_mac,
    parse_mac,
    unsolicited_na_frame,
)

MAC = parse_mac("52:54:00:12:34:56")
VMAC = parse_mac("00:00:5e:00:01:33")

GARP_GOLDEN = bytes.fromhex(
    "ffffffffffff"  # destination: broadcast
    "525400123456"  # source: the interface (or VMAC)
    "0806"  # ARP
    "0001" "0800" "06" "04"  # Ethernet, IPv4, address lengths
    "0001"  # request, as keepalived sends
    "525400123456" "c000020a"  # sender: our MAC, the virtual address
    "ffffffffffff" "c000020a"  # target: broadcast MAC, the virtual address again
)

NA_GOLDEN = bytes.fromhex(
    "333300000001"  # destination: all-nodes multicast MAC
    "525400123456"
    "86dd"
    "60000000" "0020" "3a" "ff"  # version 6, payload 32, ICMPv6, hop limit 255
    "20010db8000000000000000000000010"  # source: the virtual address itself
    "ff020000000000000000000000000001"  # destination: ff02::1
    "88" "00" "7451"  # Neighbour Advertisement, code 0, checksum
    "20000000"  # Override only
    "20010db8000000000000000000000010"  # target
    "02" "01" "525400123456"  # Target Link-Layer Address option
)


def test_garp_golden_bytes() -> None:
    assert garp_frame(MAC, "192.0.2.10") == GARP_GOLDEN
    assert garp_frame(MAC, IPv4Address("192.0.2.10")) == GARP_GOLDEN


def test_garp_decoded_by_scapy() -> None:
    frame = garp_frame(VMAC, "192.0.2.77")
    packet = Ether(frame)
    assert len(frame) == 42
    assert packet.dst == "ff:ff:ff:ff:ff:ff"
    assert packet.src == "00:00:5e:00:01:33"
    assert packet.type == 0x0806
    arp = packet[ARP]
    assert (arp.hwtype, arp.ptype, arp.hwlen, arp.plen) == (1, 0x0800, 6, 4)
    assert arp.op == 1
    assert arp.hwsrc == "00:00:5e:00:01:33"
    assert arp.psrc == "192.0.2.77"
    assert arp.hwdst == "ff:ff:ff:ff:ff:ff"
    assert arp.pdst == "192.0.2.77"
    assert not arp.payload
    assert bytes(packet) == frame


def test_na_golden_bytes() -> None:
    assert unsolicited_na_frame(MAC, "2001:db8::10") == NA_GOLDEN


def test_na_decoded_by_scapy() -> None:
    frame = unsolicited_na_frame(VMAC, IPv6Address("2001:db8:1::77"))
    packet = Ether(frame)
    assert len(frame) == 14 + 40 + 32
    assert packet.dst == "33:33:00:00:00:01"
    assert packet.src == "00:00:5e:00:01:33"
    assert packet.type == 0x86DD
    ip6 = packet[IPv6]
    assert (ip6.version, ip6.tc, ip6.fl) == (6, 0, 0)
    assert (ip6.plen, ip6.nh, ip6.hlim) == (32, 58, 255)
    assert ip6.src == "2001:db8:1::77"
    assert ip6.dst == "ff02::1"
    na = packet[ICMPv6ND_NA]
    assert (na.type, na.code) == (136, 0)
    assert (na.R, na.S, na.O, na.res) == (0, 0, 1, 0)
    assert na.tgt == "2001:db8:1::77"
    option = packet[ICMPv6NDOptDstLLAddr]
    assert (option.type, option.len) == (2, 1)
    assert option.lladdr == "00:00:5e:00:01:33"
    assert not option.payload


def test_na_checksum_matches_the_one_scapy_computes() -> None:
    frame = unsolicited_na_frame(MAC, "2001:db8::10")
    assert _scapy_checksum(frame) == Ether(frame)[ICMPv6ND_NA].cksum == 0x7451


def test_router_flag_when_the_interface_forwards() -> None:
    frame = unsolicited_na_frame(MAC, "2001:db8::10", router=True)
    na = Ether(frame)[ICMPv6ND_NA]
    assert (na.R, na.S, na.O) == (1, 0, 1)
    assert na.cksum == _scapy_checksum(frame)
    assert frame[:-32] == NA_GOLDEN[:-32]


@settings(max_examples=200, deadline=None)
@given(
    mac=st.binary(min_size=6, max_size=6),
    host=st.integers(0, 2**96 - 1),
    router=st.booleans(),
)
def test_any_na_survives_scapy_rebuild(mac: bytes, host: int, router: bool) -> None:
    address = IPv6Address((0x20010DB8 << 96) | host)
    frame = unsolicited_na_frame(mac, address, router=router)
    assert Ether(frame)[ICMPv6ND_NA].cksum == _scapy_checksum(frame)
    assert Ether(frame)[ICMPv6NDOptDstLLAddr].lladdr == format_mac(mac)


@settings(max_examples=100, deadline=None)
@given(mac=st.binary(min_size=6, max_size=6), host=st.integers(0, 255))
def test_any_garp_survives_scapy_rebuild(mac: bytes, host: int) -> None:
    frame = garp_frame(mac, IPv4Address(f"192.0.2.{host}"))
    packet = Ether(frame)
    assert packet[ARP].hwsrc == packet.src == format_mac(mac)
    assert bytes(Ether(src=format_mac(mac), dst="ff:ff:ff:ff:ff:ff") / ARP(
        op=1, hwsrc=format_mac(mac), psrc=f"192.0.2.{host}", hwdst="ff:ff:ff:ff:ff:ff", pdst=f"192.0.2.{host}"
    )) == frame


def test_internet_checksum_rfc1071_example() -> None:
    # RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2 (after the carry).
    assert internet_checksum(bytes.fromhex("0001f203f4f5f6f7")) == 0xFFFF - 0xDDF2
    assert internet_checksum(bytes.fromhex("0001f203f4f5f6")) == internet_checksum(bytes.fromhex("0001f203f4f5f600"))


def test_icmpv6_checksum_verifies_to_zero() -> None:
    frame = unsolicited_na_frame(MAC, "2001:db8::10")
    message = frame[14 + 40 :]
    # A correct checksum makes the sum over pseudo-header and message come out as zero.
    assert icmpv6_checksum(IPv6Address("2001:db8::10"), IPv6Address("ff02::1"), message) == 0


def test_mac_text() -> None:
    assert parse_mac("00:00:5E:00:01:33") == VMAC
    assert parse_mac("0-0-5e-0-1-33") == VMAC
    assert format_mac(VMAC) == "00:00:5e:00:01:33"
    assert multicast_mac(IPv6Address("ff02::1:ff00:10")) == bytes.fromhex("3333ff000010")
    for bad in ("", "00:00:5e:00:01", "00:00:5e:00:01:333", "zz:00:5e:00:01:33"):
        with pytest.raises(ValueError):
            parse_mac(bad)


def test_mac_must_have_six_octets() -> None:
    with pytest.raises(ValueError):
        garp_frame(b"\x00" * 5, "192.0.2.1")
    with pytest.raises(ValueError):
        unsolicited_na_frame(b"\x00" * 7, "2001:db8::1")


def _scapy_checksum(frame: bytes) -> int:
    packet = Ether(frame)
    del packet[ICMPv6ND_NA].cksum
    checksum: int = Ether(bytes(packet))[ICMPv6ND_NA].cksum
    return checksum
