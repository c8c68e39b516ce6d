"""The kernel holding a BACKUP's repeated MASTER adverts: classic BPF on real raw sockets.

services.vrrp.repeat_filter builds the programs; services.vrrp.wire attaches
them (`hold_repeats`, `apply_filters`) and reads what the repeat socket held
(`take_repeats`). Adverts go between two namespaces on a bridge, built by hand
as in test_vrrp_wire.
"""

from __future__ import annotations

import ipaddress
import select
import socket
import time

import pytest

from services.vrrp import repeat_filter
from services.vrrp.repeats import attach
from services.vrrp.wire import Wire
from services.vrrp.wire_options import ip_mreqn
from tests.conftest import needs_root, wait_for
from tests.lab import Lan
from tests.netns.test_vrrp_wire import VRID, advert_v2, collect, ifindex, inside, node_wire, spec

V4 = ipaddress.IPv4Address


def datagram(vrid: int, vips: int = 1, priority: int = 100, ttl: int = 255, version: int = 2) -> bytes:
    """An IPv4 VRRP datagram as the filters see it (v2 with 8 octets of authentication data)."""
    auth = bytes(8) if version == 2 else b""
    length = (20 + 8 + 4 * vips + len(auth)).to_bytes(2)
    header = bytes([0x45, 0xC0, *length, 0, 1, 0, 0, ttl, 112, 0, 0, 192, 0, 2, 11, 224, 0, 0, 18])
    addresses = b"".join(V4(f"198.51.100.{i % 250 + 1}").packed for i in range(vips))
    return header + bytes([version << 4 | 1, vrid, priority, vips, 0, 1, 0, 0]) + addresses + auth


def test_one_block_per_vrid_and_the_shared_header_compared_once() -> None:
    one, two = datagram(1), datagram(2)
    program = repeat_filter.build([one, two], on_match=0, otherwise=repeat_filter.ACCEPT_ALL)
    assert program.vrids == {1, 2}
    loads = [i for i in program.insns if i.code == 0x20]
    # 4 shared header words + the first VRRP word, then per VRID: its message after the first word.
    per_vrid = (len(one) - 24) // 4
    assert len(loads) == 4 + 1 + 2 * per_vrid
    with pytest.raises(ValueError, match="two datagrams for one VRID"):
        repeat_filter.build([one, datagram(1, priority=90)], on_match=0, otherwise=0)


def test_datagrams_that_cannot_be_told_apart_are_left_out() -> None:
    with_options = bytes([0x46]) + datagram(3)[1:]
    too_long = datagram(4, vips=200)
    program = repeat_filter.build([with_options, too_long, datagram(5)], on_match=0, otherwise=1)
    assert program.vrids == {5}
    assert not repeat_filter.repeatable(with_options) and not repeat_filter.block_fits(too_long)


@needs_root
@pytest.mark.parametrize(("version", "fitting"), [(3, 255), (2, 224)])
def test_programs_for_255_instances_fit_what_the_kernel_charges_a_socket(lan: Lan, version: int, fitting: int) -> None:
    node = lan.add_node("a")
    receiving, holding = repeat_filter.pair([datagram(vrid, version=version) for vrid in range(1, 256)])
    assert len(receiving.vrids) == len(holding.vrids) == fitting
    with inside(node.ns):
        sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, 112)
    with sock:
        # As VrrpSocket.filter_repeats does it: through a one-instruction program.
        attach(sock, holding)
        attach(sock, repeat_filter.ACCEPT_EVERYTHING)
        attach(sock, receiving)


def quiet(wire: Wire, seconds: float) -> bool:
    """Nothing readable on the wire's receiving sockets for `seconds` (a negative check's window)."""
    readable, _, _ = select.select(list(wire.fds()), [], [], seconds)
    return not readable


# A kernel stamp is wall-clock time, mapped to monotonic time through one reading of both clocks;
# the two reads are never simultaneous, so the mapping is only good to the gap between them.
CLOCK_PAIRING = 0.002


def clocks_together() -> tuple[float, int]:
    """The monotonic and wall clocks, read as close together as this process manages."""
    best: tuple[float, float, int] | None = None
    for _ in range(5):
        before = time.monotonic()
        wall_ns = time.time_ns()
        gap = time.monotonic() - before
        if best is None or gap < best[0]:
            best = (gap, before + gap / 2, wall_ns)
    assert best is not None
    return best[1], best[2]


@needs_root
def test_held_repeats_skip_the_receiving_socket_and_keep_their_arrival_time(lan: Lan) -> None:
    a, b = lan.add_node("a"), lan.add_node("b")
    sender, receiver = node_wire(a, spec()), node_wire(b, spec())
    message = advert_v2(VRID, 100, ["192.0.2.100"])
    with sender, receiver:
        sender.send("VI_1", lambda out: message, scheduled=time.monotonic())
        (first,) = collect(receiver, 1)
        assert receiver.hold_repeats("VI_1", first)
        receiver.apply_filters()

        # Read well after it arrived (the first read since holding began), a repeat keeps the
        # kernel's arrival time.
        sent_at = time.monotonic()
        sender.send("VI_1", lambda out: message, scheduled=sent_at)
        wait_for(lambda: _queued(receiver))
        queued_by = time.monotonic()
        now, wall_ns = clocks_together()
        heard, count, _ = receiver.take_repeats(now + 5.0, wall_ns + 5_000_000_000)
        assert count == 1 and sent_at - CLOCK_PAIRING <= heard["VI_1"] <= queued_by + CLOCK_PAIRING

        sent_from = time.monotonic()
        for _ in range(5):  # each with its own IP identification and header checksum
            sender.send("VI_1", lambda out: message, scheduled=time.monotonic())
        taken: list[tuple[dict[str, float], int]] = []

        def all_five_taken() -> bool:
            heard, count, overflowed = receiver.take_repeats(*clocks_together())
            assert not overflowed
            taken.append((heard, count))
            return sum(c for _, c in taken) >= 5

        wait_for(all_five_taken)
        assert sum(c for _, c in taken) == 5
        assert sent_from - CLOCK_PAIRING <= [h for h, _ in taken if h][-1]["VI_1"] <= time.monotonic() + CLOCK_PAIRING
        assert quiet(receiver, 0.2), "a held repeat reached the receiving socket"
        assert receiver.counters["rx_repeats_held"] == 6 and receiver.counters["rx_packets"] == 7

        # Anything else still arrives at once (another priority here; a lower TTL below).
        other = advert_v2(VRID, 90, ["192.0.2.100"])
        sender.send("VI_1", lambda out: other, scheduled=time.monotonic())
        (changed,) = collect(receiver, 1)
        assert changed.payload == other

        # Let go: the repeats reach the receiving socket again.
        receiver.hold_repeats("VI_1", None)
        receiver.apply_filters()
        sender.send("VI_1", lambda out: message, scheduled=time.monotonic())
        (again,) = collect(receiver, 1)
        assert again.payload == message
        assert receiver.take_repeats(time.monotonic(), time.time_ns())[0] == {}


@needs_root
def test_a_lower_ttl_is_no_repeat(lan: Lan) -> None:
    a, b = lan.add_node("a"), lan.add_node("b")
    receiver = node_wire(b, spec())
    message = advert_v2(VRID, 100, ["192.0.2.100"])
    with receiver:
        with inside(a.ns):
            raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, 112)
            raw.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, ip_mreqn(None, ifindex(a)))
        with raw:
            for ttl in (255, 254):
                raw.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, ttl)
                raw.sendto(message, ("224.0.0.18", 0))
                (arrived,) = collect(receiver, 1)
                assert arrived.ttl == ttl
                if ttl == 255:
                    assert receiver.hold_repeats("VI_1", arrived)
                    receiver.apply_filters()


def _queued(wire: Wire) -> bool:
    """The repeat socket has something to read (without reading it)."""
    socks = [s.repeats.sock for s in wire._sockets.values() if s.repeats is not None]
    readable, _, _ = select.select(socks, [], [], 0)
    return bool(readable)
