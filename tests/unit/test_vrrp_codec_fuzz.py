"""Hypothesis over the real codec and receive checks: whatever arrives, the outcome is an advert or a BadAdvert.

Inputs are arbitrary bytes, structurally plausible messages, and keepalived's
own adverts (tests/fixtures/vrrp) with bytes flipped, cut, added or removed,
run through the same steps the service takes: unwrap the IPv4 datagram, find
the instance by VRID, then `receive`.
"""

from __future__ import annotations

import dataclasses
import os
import re
from ipaddress import IPv6Address, ip_address

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.checksum import internet_checksum
from services.vrrp.acceptance import NOTE_KINDS, Accepted, Arrival, Expectation, accept, receive, unknown_vrid
from services.vrrp.codec import (
    AUTH_NONE,
    AUTH_PASS,
    MCAST_GROUP4,
    PHRASES,
    REASONS,
    Advert,
    BadAdvert,
    ChecksumMode,
    IPAddress,
    build,
    parse,
    peek_vrid,
    unwrap_ipv4,
)
from tests.unit.test_vrrp_codec import KEEPALIVED_INSTANCES, KINDS, advert_cases, captured, endpoints, expectation

FUZZ = settings(
    max_examples=int(os.environ.get("HK_FUZZ_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
MODES = st.sampled_from(list(ChecksumMode))


def template_regex(template: str) -> str:
    return ".*".join(re.escape(part) for part in re.split(r"\{[a-z_]+\}", template))


def assert_well_formed(error: BadAdvert) -> None:
    """A drop names a known counter and says one of keepalived's lines for it."""
    assert error.reason in REASONS
    assert any(re.fullmatch(template_regex(t), error.detail) for t in PHRASES[error.reason]), error.detail


# ------------------------------------------------------------------ inputs


@st.composite
def plausible_messages(draw: st.DrawFn, family: int) -> bytes:
    """A VRRP header with a believable version, type and count, a body of about the right length,
    and a checksum that is right more often than chance (so that the later checks are reached)."""
    version = draw(st.sampled_from([2, 3, draw(st.integers(0, 15))]))
    packet_type = draw(st.sampled_from([1, 1, draw(st.integers(0, 15))]))
    count = draw(st.integers(0, 6))
    body = 8 + count * (4 if family == 4 else 16) + (8 if family == 4 and version == 2 else 0)
    body += draw(st.sampled_from([0, 0, 0, draw(st.integers(-8, 8))]))
    head = bytes([version << 4 | packet_type, draw(st.integers(0, 255)), draw(st.integers(0, 255)), count])
    message = bytearray(head + draw(st.binary(min_size=max(0, body - 4), max_size=max(0, body - 4))))
    if len(message) >= 8 and draw(st.booleans()):
        message[6:8] = b"\0\0"
        message[6:8] = internet_checksum(bytes(message)).to_bytes(2, "big")
    return bytes(message)


@st.composite
def mutated(draw: st.DrawFn, packet: bytes) -> bytes:
    data = bytearray(packet)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "set", "truncate", "extend", "insert", "delete"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "truncate":
            del data[at:]
        elif kind == "extend":
            data += draw(st.binary(min_size=1, max_size=20))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=4))
        elif kind == "delete" and data:
            del data[at : at + draw(st.integers(1, 4))]
    return bytes(data)


def addresses_of(family: int) -> st.SearchStrategy[tuple[IPAddress, IPAddress]]:
    return endpoints(family)


# ---------------------------------------------------------- what the service does


def service_receive(packet: bytes, family: int, by_vrid: dict[int, Expectation]) -> Accepted:
    """The receive path of the service on an IPv4 or IPv6 socket; the IPv6 header stands for the kernel's report."""
    if family == 4:
        datagram = unwrap_ipv4(packet)
        arrival = Arrival.from_ipv4(datagram)
        overhead = datagram.overhead
    else:
        arrival = Arrival(packet[40:], ip_address(packet[8:24]), ip_address(packet[24:40]), packet[7])
        overhead = 0
    vrid = peek_vrid(arrival.message, family=arrival.src.version, overhead=overhead)
    found = by_vrid.get(vrid)
    if found is None or found.family != arrival.src.version:
        raise unknown_vrid(vrid, "eth0", arrival.src)
    return receive(arrival, found, ah_sequence=0)


def fixture_expectations() -> dict[int, Expectation]:
    return {expectation(name).vrid: expectation(name) for name in KEEPALIVED_INSTANCES}


# ------------------------------------------------------------------- properties


@FUZZ
@given(
    message=st.one_of(st.binary(max_size=120), plausible_messages(4), plausible_messages(6)),
    family=st.sampled_from([4, 6]),
    data=st.data(),
    version=st.sampled_from([None, 2, 3]),
    mode=MODES,
)
def test_parse_raises_nothing_but_bad_advert(
    message: bytes, family: int, data: st.DataObject, version: int | None, mode: ChecksumMode
) -> None:
    src, dst = data.draw(addresses_of(family))
    try:
        advert = parse(message, family=family, src=src, dst=dst, version=version, checksum=mode)
    except BadAdvert as error:
        assert_well_formed(error)
        return
    assert all(address.version == family for address in advert.addresses)
    assert version is None or advert.version == version


@FUZZ
@given(packet=st.binary(max_size=120))
def test_unwrap_ipv4_raises_nothing_but_bad_advert(packet: bytes) -> None:
    try:
        datagram = unwrap_ipv4(packet)
    except BadAdvert as error:
        assert_well_formed(error)
        return
    assert datagram.header + datagram.ah_bytes + datagram.message == packet


@FUZZ
@given(data=st.data(), name=st.sampled_from(KEEPALIVED_INSTANCES))
def test_mutated_keepalived_adverts_are_kept_or_dropped(data: st.DataObject, name: str) -> None:
    packet = captured()[name]
    family = packet[0] >> 4
    # An IPv6 socket delivers the VRRP message alone: its header is not ours to mutate.
    packet = packet[:40] + data.draw(mutated(packet[40:])) if family == 6 else data.draw(mutated(packet))
    try:
        accepted = service_receive(packet, family, fixture_expectations())
    except BadAdvert as error:
        assert_well_formed(error)
        return
    assert all(note.kind in NOTE_KINDS for note in accepted.notes)


@FUZZ
@given(data=st.data(), kind=st.sampled_from(KINDS), mode=MODES)
def test_mutated_messages_parse_to_something_that_builds_back(
    data: st.DataObject, kind: tuple[int, int], mode: ChecksumMode
) -> None:
    family, version = kind
    advert = data.draw(advert_cases(family, version))
    src, dst = data.draw(addresses_of(family))
    message = data.draw(mutated(build(advert, src, dst)))
    try:
        parsed = parse(message, family=family, src=src, dst=dst, checksum=mode)
    except BadAdvert as error:
        assert_well_formed(error)
        return
    if parsed.version == 3 and not parsed.addresses:
        return  # RFC 5798 wants one address at least: we never build such an advert, though we take it
    group = MCAST_GROUP4 if parsed.old_checksum else None
    rebuilt = build(parsed, src, dst, old_checksum_group=group)
    assert parse(rebuilt, family=family, src=src, dst=dst, checksum=mode) == parsed


@FUZZ
@given(data=st.data(), kind=st.sampled_from(KINDS), mode=MODES)
def test_valid_adverts_round_trip(data: st.DataObject, kind: tuple[int, int], mode: ChecksumMode) -> None:
    family, version = kind
    advert = data.draw(advert_cases(family, version))
    src, dst = data.draw(addresses_of(family))
    old = family == 4 and version == 3 and mode is ChecksumMode.OLD
    message = build(advert, src, dst, old_checksum_group=MCAST_GROUP4 if old else None)
    parsed = parse(message, family=family, src=src, dst=dst, version=version, checksum=mode)
    assert parsed == Advert(
        advert.version,
        advert.vrid,
        advert.priority,
        advert.interval,
        advert.addresses,
        advert.auth_type,
        advert.auth_data,
        old_checksum=old and dst != MCAST_GROUP4,
    )


@FUZZ
@given(data=st.data(), kind=st.sampled_from(KINDS))
def test_an_advert_matching_its_instance_is_kept_without_notes(data: st.DataObject, kind: tuple[int, int]) -> None:
    family, version = kind
    advert = data.draw(advert_cases(family, version))
    src = data.draw(addresses_of(family))[0]
    dst = MCAST_GROUP4 if family == 4 else IPv6Address("ff02::12")
    if version == 2:
        advert = dataclasses.replace(advert, auth_type=data.draw(st.sampled_from([AUTH_NONE, AUTH_PASS])))
    exp = Expectation(
        advert.vrid,
        version,
        family,
        advert.interval,
        advert.addresses,
        advert.auth_type,
        advert.auth_data if version == 2 else bytes(8),
    )
    accepted = receive(Arrival(build(advert, src, dst), src, dst, 255), exp)
    assert accepted == Accepted(advert)


@FUZZ
@given(
    data=st.data(),
    kind=st.sampled_from(KINDS),
    vrid=st.integers(1, 255),
    interval=st.sampled_from([1.0, 2.0, 0.35]),
    auth=st.sampled_from([(0, bytes(8)), (1, b"hakeep\0\0"), (2, b"ahsecret")]),
    unicast=st.booleans(),
    ttl=st.one_of(st.none(), st.integers(0, 255)),
    check_addresses=st.booleans(),
    drop_vip_mismatch=st.booleans(),
    mode=MODES,
)
def test_accept_raises_nothing_but_bad_advert(
    data: st.DataObject,
    kind: tuple[int, int],
    vrid: int,
    interval: float,
    auth: tuple[int, bytes],
    unicast: bool,
    ttl: int | None,
    check_addresses: bool,
    drop_vip_mismatch: bool,
    mode: ChecksumMode,
) -> None:
    family, version = kind
    advert = data.draw(advert_cases(family, version))
    src, dst = data.draw(addresses_of(family))
    vips = data.draw(st.lists(st.sampled_from([*advert.addresses, src]), max_size=4).map(tuple))
    exp = Expectation(
        vrid,
        version,
        family,
        interval,
        vips,
        *auth,
        unicast=unicast,
        check_unicast_src=data.draw(st.booleans()),
        checksum=mode,
        drop_vip_mismatch=drop_vip_mismatch,
    )
    arrival = Arrival(build(advert, src, dst), src, dst, ttl)
    try:
        notes = accept(advert, exp, arrival, check_addresses=check_addresses)
    except BadAdvert as error:
        assert_well_formed(error)
        return
    assert all(note.kind in NOTE_KINDS for note in notes)
    assert advert.version == version
