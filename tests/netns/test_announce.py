"""Announcements on a real kernel: a veth inside a throw-away namespace, captured on its peer.

The test thread enters the namespace with setns(2) while it opens sockets and
sends; a socket stays in the namespace it was created in.
"""

from __future__ import annotations

import itertools
import json
import logging
import select
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address
from pathlib import Path

import pytest
from scapy.layers.inet6 import ICMPv6ND_NA, ICMPv6NDOptDstLLAddr
from scapy.layers.l2 import ARP, Ether
from scapy.utils import RawPcapWriter

from services.netconfig.announce import Announcer
from services.netconfig.announce_core import Announcement, AnnounceScheduler, AnnounceSettings, Kind, Send, Spacing
from services.netconfig.packets import garp_frame, parse_mac, unsolicited_na_frame
from tests.conftest import add_veth, needs_root
from tests.lab import inside

pytestmark = needs_root

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
STALE_MAC = "02:00:00:00:00:99"
VMAC = "00:00:5e:00:01:33"

def ip_json(ns: str, *args: str) -> list[dict[str, object]]:
    out = subprocess.run(["ip", "-n", ns, "-j", *args], capture_output=True, text=True, check=True).stdout
    result: list[dict[str, object]] = json.loads(out or "[]")
    return result


def link(ns: str, ifname: str) -> dict[str, object]:
    return ip_json(ns, "link", "show", "dev", ifname)[0]


def mac_of(ns: str, ifname: str) -> bytes:
    return parse_mac(str(link(ns, ifname)["address"]))


def ip(ns: str, *args: str) -> None:
    subprocess.run(["ip", "-n", ns, *args], check=True)


@dataclass(frozen=True)
class Captured:
    at: float
    frame: bytes


class Capture:
    """Every frame that arrives on `ifname`, with the monotonic time it was read."""

    def __init__(self, ifname: str) -> None:
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self.sock.bind((ifname, ETH_P_ALL))
        self.sock.setblocking(False)
        self.frames: list[Captured] = []

    def read(self, timeout: float) -> None:
        """Wait up to `timeout` for frames and keep what arrived."""
        readable, _, _ = select.select([self.sock], [], [], max(timeout, 0.0))
        while readable:
            try:
                frame, address = self.sock.recvfrom(65535)
            except BlockingIOError:
                return
            if address[2] != PACKET_OUTGOING:
                self.frames.append(Captured(time.monotonic(), frame))

    def until(self, condition: Callable[[], bool], timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("the expected frames did not arrive before the deadline")
            self.read(min(remaining, 0.05))

    def close(self) -> None:
        self.sock.close()


def announcements(captured: list[Captured], targets: set[str]) -> list[Captured]:
    """Our ARPs and NAs among the kernel's own chatter (router solicitations, MLD, DAD)."""
    return [item for item in captured if _announced(Ether(item.frame)) in targets]


def _announced(packet: Ether) -> str | None:
    if packet.haslayer(ARP):
        return str(packet[ARP].psrc)
    if packet.haslayer(ICMPv6ND_NA):
        return str(ip_address(packet[ICMPv6ND_NA].tgt))
    return None


def drive(scheduler: AnnounceScheduler, announcer: Announcer, capture: Capture, timeout: float = 10.0) -> list[Send]:
    """Run the scheduler on the real clock until it has nothing left, capturing while it waits."""
    sent: list[Send] = []
    limit = time.monotonic() + timeout
    while (deadline := scheduler.next_deadline()) is not None:
        assert time.monotonic() < limit, "the schedule did not finish"
        capture.read(deadline - time.monotonic())
        due = scheduler.due(time.monotonic())
        assert announcer.send_all(due) == []
        sent.extend(due)
    return sent


@pytest.fixture
def veth(netns: str) -> tuple[str, str]:
    """(namespace, peer) with veth0 up inside; nothing is addressed, so the ARPs are plain gratuitous ones."""
    add_veth(netns, "veth0")
    return netns, str(link(netns, "veth0")["link"])


def gaps(items: list[Captured]) -> list[float]:
    return [later.at - earlier.at for earlier, later in itertools.pairwise(items)]


def snmp6(name: str) -> int:
    for line in Path("/proc/thread-self/net/snmp6").read_text().splitlines():
        key, value = line.split()
        if key == name:
            return int(value)
    raise KeyError(name)


def test_master_bursts_are_spaced_exact_and_accepted_by_the_kernel(veth: tuple[str, str], tmp_path: Path) -> None:
    ns, peer = veth
    targets = {"192.0.2.10", "192.0.2.11", "2001:db8::10"}
    for target in sorted(targets):
        ip(ns, "neigh", "add", target, "lladdr", STALE_MAC, "dev", peer, "nud", "stale")
    own_mac = mac_of(ns, "veth0")
    arp_interval, na_interval, delay = 0.05, 0.08, 0.4
    scheduler = AnnounceScheduler(default_spacing=Spacing(arp=arp_interval, na=na_interval))
    addresses: list[IPv4Address | IPv6Address] = [
        IPv4Address("192.0.2.10"), IPv4Address("192.0.2.11"), IPv6Address("2001:db8::10"),
    ]

    with inside(ns):
        capture = Capture(peer)
        icmp6_before = (snmp6("Icmp6InNeighborAdvertisements"), snmp6("Icmp6InCsumErrors"), snmp6("Icmp6InErrors"))
        try:
            with Announcer() as announcer:
                scheduler.became_master("VI_1", [Announcement("veth0", address) for address in addresses],
                                        AnnounceSettings(repeat=3, delay=delay), now=time.monotonic())
                sent = drive(scheduler, announcer, capture)
                assert announcer.sent == {Kind.ARP: 12, Kind.NA: 6}
                assert not announcer.errors
            capture.until(lambda: len(announcements(capture.frames, targets)) >= 18)
            icmp6_after = (snmp6("Icmp6InNeighborAdvertisements"), snmp6("Icmp6InCsumErrors"), snmp6("Icmp6InErrors"))
        finally:
            capture.close()

    ours = announcements(capture.frames, targets)
    assert len(sent) == len(ours) == 18
    arps = [item for item in ours if Ether(item.frame).haslayer(ARP)]
    nas = [item for item in ours if not Ether(item.frame).haslayer(ARP)]

    assert [item.frame for item in arps] == [garp_frame(own_mac, a) for a in ("192.0.2.10", "192.0.2.11")] * 6
    assert [item.frame for item in nas] == [unsolicited_na_frame(own_mac, "2001:db8::10")] * 6

    # Spacing: never closer than the interval (minus scheduling jitter), the second burst after the delay.
    assert min(gaps(arps)) >= arp_interval * 0.8
    assert min(gaps(nas)) >= na_interval * 0.8
    assert arps[5].at - arps[0].at == pytest.approx(5 * arp_interval, abs=0.1)
    assert arps[6].at - arps[0].at == pytest.approx(delay, abs=0.1)
    assert nas[3].at - nas[0].at == pytest.approx(delay, abs=0.1)

    # The kernel took them: checksums good, and the stale entries now point at the sender.
    assert icmp6_after[0] - icmp6_before[0] >= 6
    assert icmp6_after[1:] == icmp6_before[1:]
    neighbours = {str(ip_address(str(entry["dst"]))): entry.get("lladdr") for entry in ip_json(ns, "neigh", "show",
                                                                                                "dev", peer)}
    own = ":".join(f"{octet:02x}" for octet in own_mac)
    assert {target: neighbours.get(target) for target in targets} == dict.fromkeys(targets, own)

    tshark_accepts(tmp_path / "announce.pcap", [item.frame for item in ours], arps=len(arps), nas=len(nas))


def tshark_accepts(path: Path, frames: list[bytes], *, arps: int, nas: int) -> None:
    writer = RawPcapWriter(str(path), linktype=1)
    for frame in frames:
        writer.write(frame)
    writer.close()
    if shutil.which("tshark") is None:
        return
    text = subprocess.run(["tshark", "-n", "-r", str(path), "-V"], capture_output=True, text=True, check=True,
                          timeout=60).stdout
    assert "Malformed" not in text
    assert "Checksum Status: Bad" not in text
    assert text.count("[Checksum Status: Good]") == nas
    assert text.count("[Is gratuitous: True]") == arps
    assert text.count("Override: Set") == nas


def test_two_instances_share_the_interface_spacing(veth: tuple[str, str]) -> None:
    ns, peer = veth
    interval = 0.06
    scheduler = AnnounceScheduler(spacing={"veth0": Spacing(arp=interval)})
    targets = {"192.0.2.10", "192.0.2.20"}
    with inside(ns):
        capture = Capture(peer)
        try:
            with Announcer() as announcer:
                now = time.monotonic()
                scheduler.became_master("VI_1", [Announcement("veth0", IPv4Address("192.0.2.10"))],
                                        AnnounceSettings(repeat=3, delay=0), now)
                scheduler.became_master("VI_2", [Announcement("veth0", IPv4Address("192.0.2.20"))],
                                        AnnounceSettings(repeat=3, delay=0), now)
                drive(scheduler, announcer, capture)
            capture.until(lambda: len(announcements(capture.frames, targets)) >= 6)
        finally:
            capture.close()
    ours = announcements(capture.frames, targets)
    assert [str(Ether(item.frame)[ARP].psrc) for item in ours] == ["192.0.2.10"] * 3 + ["192.0.2.20"] * 3
    assert min(gaps(ours)) >= interval * 0.8
    assert ours[-1].at - ours[0].at == pytest.approx(5 * interval, abs=0.1)


def test_leaving_master_stops_what_is_queued(veth: tuple[str, str]) -> None:
    ns, peer = veth
    scheduler = AnnounceScheduler(default_spacing=Spacing(arp=0.2))
    targets = {"192.0.2.10"}
    with inside(ns):
        capture = Capture(peer)
        try:
            with Announcer() as announcer:
                start = time.monotonic()
                scheduler.became_master("VI_1", [Announcement("veth0", IPv4Address("192.0.2.10"))],
                                        AnnounceSettings(repeat=5, delay=1.0), start)
                announcer.send_all(scheduler.due(start))
                capture.until(lambda: len(announcements(capture.frames, targets)) >= 1)
                scheduler.left_master("VI_1", time.monotonic())
                assert scheduler.next_deadline() is None
                # Long enough for the rest of the burst (0.8 s) to have gone out had it not been cancelled.
                quiet_until = start + 1.0
                while (remaining := quiet_until - time.monotonic()) > 0:
                    capture.read(remaining)
                assert announcer.sent == {Kind.ARP: 1}
        finally:
            capture.close()
    assert len(announcements(capture.frames, targets)) == 1


def test_an_address_on_a_vmac_goes_out_from_the_vmac(veth: tuple[str, str]) -> None:
    ns, peer = veth
    made = subprocess.run(["ip", "-n", ns, "link", "add", "vrrp.51", "link", "veth0", "type", "macvlan", "mode",
                           "private"], capture_output=True, check=False)
    if made.returncode != 0:
        pytest.skip(f"no macvlan here: {made.stderr.decode().strip()}")
    ip(ns, "link", "set", "vrrp.51", "address", VMAC)
    ip(ns, "link", "set", "vrrp.51", "up")
    on_vmac = [Announcement("vrrp.51", address, base_interface="veth0")
               for address in (IPv4Address("192.0.2.30"), IPv6Address("2001:db8::30"))]
    targets = {"192.0.2.30", "2001:db8::30"}
    with inside(ns):
        capture = Capture(peer)
        try:
            with Announcer() as announcer:
                scheduler = AnnounceScheduler()
                scheduler.became_master("VI_1", on_vmac, AnnounceSettings(repeat=1, delay=0), time.monotonic())
                drive(scheduler, announcer, capture)
            capture.until(lambda: len(announcements(capture.frames, targets)) >= 2)
        finally:
            capture.close()
    arp, na = (Ether(item.frame) for item in announcements(capture.frames, targets))
    assert arp.src == arp[ARP].hwsrc == VMAC
    assert na.src == na[ICMPv6NDOptDstLLAddr].lladdr == VMAC


def test_router_flag_follows_forwarding_rechecked_every_five_seconds(veth: tuple[str, str]) -> None:
    ns, peer = veth
    clock = [100.0]
    forwarding = "/proc/sys/net/ipv6/conf/veth0/forwarding"
    send = Send("VI_1", "veth0", Kind.NA, IPv6Address("2001:db8::10"), None, "veth0")
    targets = {"2001:db8::10"}
    with inside(ns):
        capture = Capture(peer)
        try:
            with Announcer(clock=lambda: clock[0]) as announcer:
                Path(forwarding).write_text("1\n")
                assert announcer.send(send) is None
                Path(forwarding).write_text("0\n")
                clock[0] += 1.0
                assert announcer.send(send) is None  # still the cached answer, as keepalived
                clock[0] += 5.0
                assert announcer.send(send) is None
            capture.until(lambda: len(announcements(capture.frames, targets)) >= 3)
        finally:
            capture.close()
    flags = [Ether(item.frame)[ICMPv6ND_NA] for item in announcements(capture.frames, targets)]
    assert [(na.R, na.S, na.O) for na in flags] == [(1, 0, 1), (1, 0, 1), (0, 0, 1)]


def test_a_vanishing_interface_is_counted_not_raised(veth: tuple[str, str]) -> None:
    ns, _ = veth
    arp = Send("VI_1", "veth0", Kind.ARP, IPv4Address("192.0.2.10"), None, "veth0")
    na = Send("VI_1", "veth0", Kind.NA, IPv6Address("2001:db8::10"), None, "veth0")
    with inside(ns), Announcer() as announcer:
        assert announcer.send_all([arp, na]) == []
        assert announcer.interfaces == ["veth0"]

        ip(ns, "link", "set", "veth0", "down")
        assert announcer.send_all([arp, na]) == [(arp, "ENETDOWN"), (na, "ENETDOWN")]

        ip(ns, "link", "set", "veth0", "up")
        ip(ns, "link", "set", "veth0", "arp", "off")
        assert announcer.send(arp) == "noarp"
        ip(ns, "link", "set", "veth0", "arp", "on")

        ip(ns, "link", "delete", "veth0")
        assert announcer.send(arp) == "ENODEV"
        assert announcer.interfaces == []
        missing = Send("VI_1", "nosuch0", Kind.NA, IPv6Address("2001:db8::1"), None, "nosuch0")
        assert announcer.send(missing) == "ENODEV"
        too_long = Send("VI_1", "x" * 16, Kind.ARP, IPv4Address("192.0.2.1"), None, "x" * 16)
        assert announcer.send(too_long) == "bad-ifname"

        add_veth(ns, "veth0")
        assert announcer.send(arp) is None

        assert announcer.sent == {Kind.ARP: 2, Kind.NA: 1}
        assert announcer.errors == {"ENETDOWN": 2, "noarp": 1, "ENODEV": 2, "bad-ifname": 1}
    assert announcer.interfaces == []


def test_the_interface_mac_comes_from_the_socket_namespace(veth: tuple[str, str]) -> None:
    ns, _ = veth
    ip(ns, "link", "set", "veth0", "address", "02:00:5e:12:34:56")
    with inside(ns), Announcer() as announcer:
        assert announcer.hw_address("veth0") == bytes.fromhex("02005e123456")


def test_a_down_interface_is_logged_once_and_noarp_not_at_all(
    veth: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    ns, _ = veth
    arp = Send("VI_1", "veth0", Kind.ARP, IPv4Address("192.0.2.10"), None, "veth0")
    caplog.set_level(logging.WARNING, logger="test.announce")
    with inside(ns), Announcer(log=logging.getLogger("test.announce")) as announcer:
        ip(ns, "link", "set", "veth0", "down")
        assert [announcer.send(arp) for _ in range(3)] == ["ENETDOWN"] * 3
        ip(ns, "link", "set", "veth0", "up")
        ip(ns, "link", "set", "veth0", "arp", "off")
        assert announcer.send(arp) == "noarp"
    assert announcer.errors == {"ENETDOWN": 3, "noarp": 1}
    assert [record.getMessage() for record in caplog.records] == [
        "(VI_1) Error ENETDOWN sending gratuitous ARP on veth0 for 192.0.2.10"
    ]
