"""The vrrp service between hakeeper nodes on a lab LAN: elections, failovers, trackers, drops, restarts, reloads.

Each test runs two (or one) whole nodes under `hakeeper run` (tests/lab.py) and
watches them from outside: the addresses on their eth0, their service logs,
and their buses, followed from this process with a `Subscriber` (the state
keys, and every event since the node started, each with the wall-clock time it
was posted, which times the failovers). VRRPv3 at 0.3 s keeps the failovers
short; the restart without failover runs at keepalived's usual 1 s.
"""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import Any

import pytest
from pyroute2.netns import popns, pushns

from bus.messages import Event
from bus.subscriber import Subscriber
from bus.subscriber_core import EventDelivered, Start
from services.vrrp.codec import AUTH_PASS, Advert, build, build_ipv4
from tests.conftest import WriteConf, add_veth, needs_root, wait_for
from tests.lab import LabNode, Lan

pytestmark = needs_root

A_IP, B_IP, C_IP = "192.0.2.11", "192.0.2.12", "192.0.2.13"
VIP = "192.0.2.100/24"
ADVERT_INT = 0.3
STARTUP = 20.0  # a node's services start together on a busy machine: vrrp may take seconds to run
# Scripts that never finish: the healthcheck service runs them but never reports, so that these
# tests report the results on the bus themselves.
SCRIPTS = """\
global_defs {
    enable_script_security
    script_user root
}
vrrp_script chk {
    script "/usr/bin/sleep 4000"
    interval 4000
}
vrrp_script gate {
    script "/usr/bin/sleep 4000"
    interval 4000
}
"""


def instance(
    name: str = "VI_1",
    vrid: int = 51,
    priority: int = 100,
    vip: str = VIP,
    *,
    advert_int: float = ADVERT_INT,
    extra: str = "",
) -> str:
    return f"""
vrrp_instance {name} {{
    interface eth0
    virtual_router_id {vrid}
    priority {priority}
    advert_int {advert_int}
    version 3
    {extra}
    virtual_ipaddress {{
        {vip}
    }}
}}
"""


def down_interval(priority: int, advert_int: float = ADVERT_INT) -> float:
    """RFC 5798: 3 x Master_Adver_Interval + Skew_Time."""
    return 3 * advert_int + skew(priority, advert_int)


def skew(priority: int, advert_int: float = ADVERT_INT) -> float:
    return (256 - priority) * advert_int / 256


# ===================================================================== watching a node's bus


@dataclass(frozen=True)
class Posted:
    """An event of a node's bus: its data and the wall-clock time it was posted."""

    topic: str
    data: dict[str, Any]
    time: float
    publisher: str


class NodeBus:
    """A node's bus, followed from the test: its state keys and every event since it started."""

    def __init__(self, node: LabNode) -> None:
        self.node = node
        self.subscriber = Subscriber(node.runtime_dir, since=Start.HISTORY)
        self.events: list[Posted] = []

    def pump(self) -> None:
        for effect in self.subscriber.poll(0.005):
            if isinstance(effect, EventDelivered):
                event: Event = effect.event
                self.events.append(Posted(event.topic, dict(event.data), event.time, event.publisher))

    def value(self, key: str) -> dict[str, Any]:
        found = self.subscriber.core.state.get(key)
        return found if isinstance(found, dict) else {}

    def has(self, key: str) -> bool:
        return key in self.subscriber.core.state

    def vrrp(self, name: str = "VI_1") -> dict[str, Any]:
        return self.value(f"vrrp/{name}")

    def state(self, name: str = "VI_1") -> str | None:
        """The instance's state once both its key and its last transition event say it (they travel apart)."""
        key = self.vrrp(name).get("state")
        moves = self.transitions(name)
        return key if moves and moves[-1].data["state"] == key else None

    def counters(self) -> dict[str, Any]:
        return self.value("counters/vrrp")

    def posted(self, topic: str, event: str | None = None) -> list[Posted]:
        return [p for p in self.events if p.topic == topic and (event is None or p.data.get("event") == event)]

    def transitions(self, name: str = "VI_1") -> list[Posted]:
        return self.posted(f"vrrp/{name}", "transition")

    def moves(self, name: str = "VI_1") -> list[tuple[str, str]]:
        """(previous, state) of every transition of the instance."""
        return [(p.data["previous"], p.data["state"]) for p in self.transitions(name)]

    def net_actions(self, owner: str) -> list[tuple[str, str]]:
        """(action, entry) of every netconfig event about `owner`'s addresses."""
        return [(p.data["action"], p.data["entry"]) for p in self.posted(f"net/{owner}") if p.publisher == "netconfig"]

    def close(self) -> None:
        self.subscriber.close()


OpenBus = Callable[[LabNode], NodeBus]


@pytest.fixture
def buses() -> Iterator[OpenBus]:
    opened: list[NodeBus] = []

    def open_bus(node: LabNode) -> NodeBus:
        bus = NodeBus(node)
        opened.append(bus)
        return bus

    yield open_bus
    for bus in opened:
        bus.close()


def until(condition: Callable[[], bool], *buses: NodeBus, timeout: float = 10.0) -> None:
    """wait_for, following every bus given meanwhile."""

    def step() -> None:
        for bus in buses:
            bus.pump()
        if not buses:
            time.sleep(0.01)

    step()
    wait_for(condition, timeout=timeout, step=step)


def holds(node: LabNode, vip: str = VIP) -> bool:
    return vip in node.addresses()


def only_a_holds(a: LabNode, b: LabNode, vip: str = VIP) -> Callable[[], bool]:
    return lambda: holds(a, vip) and not holds(b, vip)


def start_pair(
    lan: Lan, write_conf: WriteConf, buses: OpenBus, conf_a: str, conf_b: str
) -> tuple[LabNode, LabNode, NodeBus, NodeBus]:
    """Node a, alone until its VI_1 is MASTER with the VIP; then node b, until its VI_1 is a BACKUP of a."""
    a, b = lan.add_node("a"), lan.add_node("b")
    a.start(write_conf(conf_a, "a.conf"))
    bus_a = buses(a)
    until(lambda: bus_a.state() == "MASTER" and holds(a), bus_a, timeout=STARTUP)
    b.start(write_conf(conf_b, "b.conf"))
    bus_b = buses(b)
    until(lambda: bus_b.state() == "BACKUP" and bus_b.vrrp().get("master_ip") == A_IP, bus_a, bus_b, timeout=STARTUP)
    return a, b, bus_a, bus_b


@contextlib.contextmanager
def dropping_vrrp_from(node: LabNode, source: str) -> Iterator[None]:
    """nftables in `node` drops the VRRP packets that `source` sends it (a one-way partition)."""
    rules = f"""table ip lab {{
    chain input {{
        type filter hook input priority 0;
        ip saddr {source} ip protocol 112 drop
    }}
}}
"""
    node.exec("nft", "-f", "-", input=rules)
    try:
        yield
    finally:
        node.exec("nft", "delete", "table", "ip", "lab", check=False)


# ===================================================================== 1 + 2 + 7: election and failover


def test_election_split_brain_silent_failure_and_priority_0_handover(
    lan: Lan, write_conf: WriteConf, buses: OpenBus
) -> None:
    a, b, bus_a, bus_b = start_pair(lan, write_conf, buses, instance(priority=100), instance(priority=50))

    # The election: a (100) is MASTER and holds the VIP; b (50) follows it.
    assert only_a_holds(a, b)()
    master = bus_a.vrrp()
    assert master["state"] == "MASTER"
    assert (master["base_priority"], master["effective_priority"]) == (100, 100)
    assert (master["virtual_router_id"], master["version"], master["family"]) == (51, 3, 4)
    assert (master["interface"], master["advert_int"], master["source_ip"]) == ("eth0", ADVERT_INT, A_IP)
    assert master["fault_reason"] is None and master["pending"] is False
    assert master["desired"]["vips"] == [VIP]
    backup = bus_b.vrrp()
    assert (backup["state"], backup["master_ip"], backup["master_priority"]) == ("BACKUP", A_IP, 100)
    assert backup["desired"] == {}
    assert bus_a.moves() == [("INIT", "BACKUP"), ("BACKUP", "MASTER")]
    takeover = bus_a.transitions()[-1].data
    assert "master down timer" in takeover["reason"] and takeover["priority"] == 100
    assert bus_b.moves() == [("INIT", "BACKUP")]
    # A steady BACKUP lets the kernel hold its MASTER's repeats (services.vrrp.repeat_filter)
    # and counts them all the same.
    until(lambda: bus_b.counters().get("wire_rx_repeats_held", 0) >= 3, bus_a, bus_b, timeout=5)
    held = bus_b.counters()
    assert held["adverts_received"] >= held["wire_rx_repeats_held"], held

    # A one-way partition: b hears nothing from a and takes over after its master down interval;
    # a, still MASTER, hears b's lower priority adverts and says so (on the bus too).
    with dropping_vrrp_from(b, A_IP):
        until(lambda: bus_b.state() == "MASTER" and holds(b), bus_a, bus_b)
        lower = f"(VI_1) Received advert from {B_IP} with lower priority 50, ours 100, forcing new election"
        until(lambda: lower in a.service_log("vrrp") and bool(bus_a.posted("vrrp/VI_1", "master_rx_lower_pri")),
              bus_a, bus_b)  # fmt: skip
        heard = bus_a.posted("vrrp/VI_1", "master_rx_lower_pri")[0].data
        assert (heard["source"], heard["priority"]) == (B_IP, 50)
        assert bus_a.state() == "MASTER" and holds(a)
    # Healed: b hears a's higher priority and steps down, naming the advert's source.
    until(lambda: bus_b.state() == "BACKUP" and not holds(b), bus_a, bus_b)
    step_down = bus_b.transitions()[-1].data
    assert step_down["reason"] == f"higher priority advert from {A_IP} (priority 100)"
    assert bus_a.moves() == [("INIT", "BACKUP"), ("BACKUP", "MASTER")]
    assert bus_b.moves() == [("INIT", "BACKUP"), ("BACKUP", "MASTER"), ("MASTER", "BACKUP")]

    # A silent failure: a's link goes down, so no priority 0 reaches b. b waits out its master
    # down interval (1.14 s) from a's last advert, which left about one interval before the cut
    # (a little more if it was sent late: hence 2 intervals, still far above the skew time).
    cut = time.time()
    a.exec("ip", "link", "set", "eth0", "down")
    until(lambda: bus_b.state() == "MASTER" and holds(b), bus_a, bus_b)
    took = bus_b.transitions()[-1].time - cut
    assert 2 * ADVERT_INT <= took <= down_interval(50) + 1.0, took
    assert "master down timer" in bus_b.transitions()[-1].data["reason"]
    until(lambda: bus_a.state() == "FAULT" and not holds(a), bus_a, bus_b)
    assert "eth0" in bus_a.vrrp()["fault_reason"]

    # Back up, a (100) is a BACKUP hearing b's 50: it discards those adverts and preempts.
    a.exec("ip", "link", "set", "eth0", "up")
    until(lambda: bus_a.state() == "MASTER" and only_a_holds(a, b)() and bus_b.state() == "BACKUP",
          bus_a, bus_b, timeout=15)  # fmt: skip
    assert f"(VI_1) received lower priority (50) advert from {B_IP} - discarding" in a.service_log("vrrp")
    assert bus_a.moves()[-3:] == [("MASTER", "FAULT"), ("FAULT", "BACKUP"), ("BACKUP", "MASTER")]
    assert bus_b.transitions()[-1].data["reason"] == f"higher priority advert from {A_IP} (priority 100)"
    assert "priority 0" not in b.service_log("vrrp")  # the failure was silent indeed

    # SIGTERM: a sends priority 0 and b takes over after its skew time, not its down interval.
    assert a.stop() == 0
    until(lambda: bus_b.state() == "MASTER" and holds(b), bus_b)
    until(lambda: bus_a.moves()[-1] == ("MASTER", "STOP"), bus_a, timeout=5)
    # Two of them: one into FAULT (lost with the link), one at the stop.
    assert a.service_log("vrrp").count("(VI_1) sent 0 priority") == 2
    assert "(VI_1) Backup received priority 0 advertisement" in b.service_log("vrrp")
    assert "master down timer" in bus_b.transitions()[-1].data["reason"]  # cut short to the skew time
    took = bus_b.transitions()[-1].time - bus_a.transitions()[-1].time
    assert 0.8 * skew(50) <= took < 2.5 * ADVERT_INT, took  # skew(50) = 0.24 s; a down interval 1.14 s

    # The stopped node leaves nothing behind.
    assert not holds(a)
    assert a.processes() == [], "a process outlived node a"

    # b's counters, on the bus and as `hakeeper status` shows them.
    until(lambda: bus_b.counters().get("transitions") == len(bus_b.transitions()), bus_b, timeout=5)
    counters = bus_b.counters()
    assert counters["transitions_to_master"] == 3 and counters["transitions_to_backup"] == 3
    assert counters["adverts_received"] >= 3 and counters["adverts_sent"] >= 3, counters
    assert counters.get("adverts_sent_priority_0", 0) == 0
    assert 0 <= counters["send_lateness_p50_us"] <= counters["send_lateness_p99_us"] <= counters["send_lateness_max_us"]
    status = b.hakeeper("status", "--runtime-dir", str(b.runtime_dir))
    assert status.returncode == 0, status.stderr
    vrrp_line = next(line for line in status.stdout.splitlines() if line.strip().startswith("vrrp ") and "=" in line)
    for name in ("adverts_sent=", "adverts_received=", "transitions=", "send_lateness_p99_us="):
        assert name in vrrp_line, status.stdout
    instance_line = next(line for line in status.stdout.splitlines() if line.strip().startswith("VI_1 "))
    assert "MASTER" in instance_line and "priority 50 (effective 50)" in instance_line
    document = json.loads(b.hakeeper("status", "--json", "--runtime-dir", str(b.runtime_dir)).stdout)
    assert document["instances"]["VI_1"]["state"] == "MASTER"
    assert document["counters"]["vrrp"]["transitions"] == 6

    # `hakeeper events` tells the same story, with the reasons.
    out = b.hakeeper("events", "--json", "--topic", "vrrp/VI_1", "--runtime-dir", str(b.runtime_dir)).stdout
    told = [json.loads(line)["data"] for line in out.splitlines()]
    assert [(d["state"], d["reason"]) for d in told if d.get("event") == "transition"] == [
        (p.data["state"], p.data["reason"]) for p in bus_b.transitions()
    ]


# ===================================================================== 3: trackers from the bus


def test_trackers_from_the_bus_lower_the_priority_or_fault_the_instance(
    lan: Lan, write_conf: WriteConf, buses: OpenBus
) -> None:
    vip2 = "192.0.2.102/24"
    conf_a = (
        SCRIPTS
        + instance(priority=100, extra="track_script {\n        chk weight -60\n    }")
        + instance("VI_2", 52, 100, vip2, extra="track_script {\n        gate\n    }\n"
                   "    track_interface {\n        eth1\n    }")
    )  # fmt: skip
    a, b = lan.add_node("a"), lan.add_node("b")
    add_veth(a.ns, "eth1")
    a.start(write_conf(conf_a, "a.conf"))
    bus_a = buses(a)
    until(lambda: bus_a.state() == "MASTER" and holds(a), bus_a, timeout=STARTUP)
    # VI_2's unweighted track_script has not reported: it waits in INIT, without its VIP.
    assert bus_a.vrrp("VI_2")["state"] == "INIT" and bus_a.vrrp("VI_2")["pending"] is True
    assert not holds(a, vip2)
    lab = a.publisher()

    def report(name: str, status: str) -> None:
        lab.set(f"track/script/{name}", {"status": status})
        assert lab.flush(5)

    report("gate", "OK")
    until(lambda: bus_a.state("VI_2") == "MASTER" and holds(a, vip2), bus_a)
    assert bus_a.vrrp("VI_2")["pending"] is False

    b.start(write_conf(SCRIPTS + instance(priority=50), "b.conf"))
    bus_b = buses(b)
    until(lambda: bus_b.state() == "BACKUP" and bus_b.vrrp().get("master_ip") == A_IP, bus_a, bus_b, timeout=STARTUP)

    # chk fails: a advertises 100 - 60 = 40, below b's 50; b discards that and takes over.
    report("chk", "FAILED")
    until(lambda: bus_b.state() == "MASTER" and bus_a.state() == "BACKUP" and holds(b) and not holds(a),
          bus_a, bus_b)  # fmt: skip
    changed = bus_a.posted("vrrp/VI_1", "priority")
    assert [(p.data["previous_priority"], p.data["priority"]) for p in changed] == [(100, 40)]
    assert (bus_a.vrrp()["base_priority"], bus_a.vrrp()["effective_priority"]) == (100, 40)
    assert f"(VI_1) received lower priority (40) advert from {A_IP} - discarding" in b.service_log("vrrp")
    assert "master down timer" in bus_b.transitions()[-1].data["reason"]
    assert bus_a.transitions()[-1].data["reason"] == f"higher priority advert from {B_IP} (priority 50)"
    assert bus_a.transitions()[-1].data["priority"] == 40
    assert bus_a.state("VI_2") == "MASTER" and len(bus_a.transitions("VI_2")) == 2  # its trackers did not move

    # The unweighted gate fails: VI_2 goes to FAULT and its VIP goes; back when it is OK again.
    report("gate", "FAILED")
    until(lambda: bus_a.state("VI_2") == "FAULT" and not holds(a, vip2), bus_a)
    fault = bus_a.vrrp("VI_2")
    assert fault["fault_reason"] == "track_script gate failed" and fault["desired"] == {}
    assert bus_a.transitions("VI_2")[-1].data["reason"] == "track_script gate failed"
    report("gate", "OK")
    until(lambda: bus_a.state("VI_2") == "MASTER" and holds(a, vip2), bus_a)
    assert bus_a.moves("VI_2")[-3:] == [("MASTER", "FAULT"), ("FAULT", "BACKUP"), ("BACKUP", "MASTER")]
    assert bus_a.vrrp("VI_2")["fault_reason"] is None

    # track_interface: eth1 down faults VI_2 (and not VI_1, which does not track it).
    a.exec("ip", "link", "set", "eth1", "down")
    until(lambda: bus_a.state("VI_2") == "FAULT" and not holds(a, vip2), bus_a)
    assert bus_a.vrrp("VI_2")["fault_reason"] == "track_interface eth1 down"
    a.exec("ip", "link", "set", "eth1", "up")
    until(lambda: bus_a.state("VI_2") == "MASTER" and holds(a, vip2), bus_a)
    assert bus_a.state() == "BACKUP"

    # chk is OK again: a is back at 100, discards b's 50 and preempts.
    report("chk", "OK")
    until(lambda: bus_a.state() == "MASTER" and bus_b.state() == "BACKUP" and only_a_holds(a, b)(), bus_a, bus_b)
    assert bus_a.vrrp()["effective_priority"] == 100
    assert f"(VI_1) received lower priority (50) advert from {B_IP} - discarding" in a.service_log("vrrp")
    assert bus_b.transitions()[-1].data["reason"] == f"higher priority advert from {A_IP} (priority 100)"


# ===================================================================== 4: drops, per reason


@contextlib.contextmanager
def inside(ns: str) -> Iterator[None]:
    pushns(ns)
    try:
        yield
    finally:
        popns()


class RawSender:
    """Whole IPv4 datagrams, header included, out of a lab namespace's eth0."""

    def __init__(self, node: LabNode) -> None:
        with inside(node.ns):
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
            ifindex = socket.if_nametoindex("eth0")
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"eth0")
        mreqn = struct.pack("4s4si", bytes(4), bytes(4), ifindex)
        self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, mreqn)

    def send(self, message: bytes, src: str, dst: str, ttl: int = 255) -> None:
        datagram = build_ipv4(message, src=IPv4Address(src), dst=IPv4Address(dst), ttl=ttl, identification=1)
        self.sock.sendto(datagram, (dst, 0))

    def close(self) -> None:
        self.sock.close()


def v2_advert(vrid: int = 51, priority: int = 200, password: bytes = b"secret") -> bytes:
    advert = Advert(2, vrid, priority, 1.0, (IPv4Address("192.0.2.100"),), AUTH_PASS, password)
    return build(advert, IPv4Address(C_IP), IPv4Address("224.0.0.18"))


def v3_advert(vrid: int, vip: str, src: str, dst: str, priority: int = 200) -> bytes:
    advert = Advert(3, vrid, priority, ADVERT_INT, (IPv4Address(vip),))
    return build(advert, IPv4Address(src), IPv4Address(dst))


def test_bad_adverts_are_dropped_and_counted_per_reason_without_moving_the_router(
    lan: Lan, write_conf: WriteConf, buses: OpenBus
) -> None:
    """Every bad advert says priority 200, so one taken by mistake would make the MASTER (100) step down."""
    vip_u = "192.0.2.103/24"
    conf = f"""
vrrp_instance VI_1 {{
    interface eth0
    virtual_router_id 51
    priority 100
    advert_int 1
    version 2
    authentication {{
        auth_type PASS
        auth_pass secret
    }}
    virtual_ipaddress {{
        {VIP}
    }}
}}
""" + instance("VI_U", 53, 100, vip_u, extra=(
        f"unicast_src_ip {A_IP}\n    unicast_peer {{\n        {B_IP}\n    }}\n    check_unicast_src"
    ))  # fmt: skip
    a = lan.add_node("a")
    x = lan.add_node("x")  # no hakeeper: 192.0.2.12, VI_U's peer, and 192.0.2.13, no one's peer
    x.exec("ip", "addr", "add", f"{C_IP}/24", "dev", "eth0")
    a.start(write_conf(conf))
    bus = buses(a)
    until(lambda: bus.state() == "MASTER" and bus.state("VI_U") == "MASTER" and holds(a) and holds(a, vip_u),
          bus, timeout=STARTUP)  # fmt: skip
    sender = RawSender(x)
    try:
        good = v2_advert()
        corrupt = good[:6] + bytes([good[6] ^ 0xFF]) + good[7:]
        bad = {
            "ttl": (good, 64),
            "checksum": (corrupt, 255),
            "unknown_vrid": (v2_advert(vrid=99), 255),
            "auth_password": (v2_advert(password=b"guess"), 255),
            "version": (v3_advert(51, "192.0.2.100", C_IP, "224.0.0.18"), 255),
            "length": (good[:4], 255),
        }
        for message, ttl in bad.values():
            sender.send(message, C_IP, "224.0.0.18", ttl)
        # VI_U: a valid advert, but from an address that is not its unicast peer.
        sender.send(v3_advert(53, "192.0.2.103", C_IP, A_IP), C_IP, A_IP)
        until(lambda: bus.counters().get("adverts_received", 0) >= len(bad) + 1, bus, timeout=5)

        counters = bus.counters()
        assert {k: v for k, v in counters.items() if k.startswith("drop_")} == {
            f"drop_{reason}": 1 for reason in [*bad, "unicast_src"]
        }
        assert counters["adverts_received"] == len(bad) + 1
        assert bus.moves() == bus.moves("VI_U") == [("INIT", "BACKUP"), ("BACKUP", "MASTER")]
        assert bus.vrrp()["effective_priority"] == bus.vrrp("VI_U")["effective_priority"] == 100
        assert holds(a) and holds(a, vip_u)
        log = a.service_log("vrrp")
        for line in (
            "(VI_1) invalid TTL/HL. Received 64 and expect 255",
            "(VI_1) Invalid VRRPv2 checksum",
            "(VI_1) received an invalid passwd!",
            "(VI_1) wrong version. Received 3 and expect 2",
            "IPv4 VRRP packet too short - 24 bytes",
            f"(VI_U) unicast source address {C_IP} not a unicast peer",
        ):
            assert line in log

        # The same adverts, right, are taken: each instance steps down to its sender.
        sender.send(good, C_IP, "224.0.0.18")
        sender.send(v3_advert(53, "192.0.2.103", B_IP, A_IP), B_IP, A_IP)
        until(lambda: bus.state() == "BACKUP" and bus.state("VI_U") == "BACKUP", bus, timeout=5)
        assert bus.transitions()[-1].data["reason"] == f"higher priority advert from {C_IP} (priority 200)"
        assert bus.transitions("VI_U")[-1].data["reason"] == f"higher priority advert from {B_IP} (priority 200)"
    finally:
        sender.close()


# ===================================================================== 5: restart without failover


def test_ctl_restart_vrrp_keeps_the_master_and_ctl_stop_hands_over(
    lan: Lan, write_conf: WriteConf, buses: OpenBus
) -> None:
    conf_a, conf_b = instance(priority=100, advert_int=1), instance(priority=50, advert_int=1)
    a, b, bus_a, bus_b = start_pair(lan, write_conf, buses, conf_a, conf_b)
    before = a.pids()["vrrp"]
    with a.sampling_addresses(0.02) as at_a, b.sampling_addresses(0.02) as at_b:
        result = a.ctl("restart", "vrrp")
        assert result.returncode == 0, result.stdout + result.stderr
        until(lambda: "(VI_1) Resuming MASTER STATE (restarted)" in a.service_log("vrrp"), bus_a, bus_b)
        resumed = time.monotonic()
        # Watch for longer than b's master down interval: b would have taken over by then.
        while time.monotonic() < resumed + down_interval(50, 1.0) + 0.5:
            bus_a.pump()
            bus_b.pump()
            time.sleep(0.05)
    assert a.pids()["vrrp"] != before
    assert "Stopping for a restart" in a.service_log("vrrp")
    assert len(at_a) > 50 and all(VIP in sample for sample in at_a), "the MASTER's VIP went away"
    assert len(at_b) > 50 and not any(VIP in sample for sample in at_b), "the BACKUP took the VIP"
    assert bus_a.moves() == [("INIT", "BACKUP"), ("BACKUP", "MASTER")]
    assert bus_b.moves() == [("INIT", "BACKUP")]
    assert bus_a.net_actions("VI_1") == [("added", f"{VIP} dev eth0")]
    assert bus_b.net_actions("VI_1") == []
    assert bus_a.state() == "MASTER" and bus_b.vrrp()["master_ip"] == A_IP
    assert "sent 0 priority" not in a.service_log("vrrp")

    # A plain stop of vrrp is no restart: priority 0, and b takes over after its skew time (0.8 s).
    assert a.ctl("stop", "vrrp").returncode == 0
    assert a.service_log("vrrp").count("(VI_1) sent 0 priority") == 1
    until(lambda: bus_b.state() == "MASTER" and holds(b) and not holds(a), bus_a, bus_b)
    assert "(VI_1) Backup received priority 0 advertisement" in b.service_log("vrrp")
    assert bus_a.moves()[-1] == ("MASTER", "STOP")
    took = bus_b.transitions()[-1].time - bus_a.transitions()[-1].time
    assert took < down_interval(50, 1.0) - 1.0, took


# ===================================================================== 6: reload


def test_reload_keeps_unchanged_instances_reapplies_changed_ones_and_stops_removed_ones(
    lan: Lan, write_conf: WriteConf, buses: OpenBus
) -> None:
    vips = {n: f"192.0.2.10{n}/24" for n in range(1, 5)}

    def on_a(*numbers: int, changed: int = 150) -> str:
        return "".join(instance(f"VI_{n}", 50 + n, changed if n == 3 else 150, vips[n]) for n in numbers)

    on_b = "".join(instance(f"VI_{n}", 50 + n, 50, vips[n]) for n in (1, 2, 3))
    a, b = lan.add_node("a"), lan.add_node("b")
    path = write_conf(on_a(1, 2, 3), "a.conf")
    a.start(path)
    bus_a = buses(a)
    until(lambda: all(bus_a.state(f"VI_{n}") == "MASTER" and holds(a, vips[n]) for n in (1, 2, 3)), bus_a,
          timeout=STARTUP)  # fmt: skip
    b.start(write_conf(on_b, "b.conf"))
    bus_b = buses(b)
    until(lambda: all(bus_b.vrrp(f"VI_{n}").get("master_ip") == A_IP for n in (1, 2, 3)), bus_a, bus_b,
          timeout=STARTUP)  # fmt: skip
    vrrp_pid = a.pids()["vrrp"]
    seen_a = {n: len(bus_a.transitions(f"VI_{n}")) for n in (1, 3)}

    # VI_1 unchanged, VI_2 removed, VI_3 from priority 150 to 120, VI_4 new.
    path.write_text(on_a(1, 3, 4, changed=120))
    with a.sampling_addresses(0.02) as samples:
        a.send_signal(signal.SIGHUP)
        until(lambda: "Reloaded: 1 instance(s) unchanged, 1 reconfigured, 0 restarted, 1 new, 1 removed"
              in a.service_log("vrrp"), bus_a, bus_b)  # fmt: skip
        until(lambda: bus_a.state("VI_4") == "MASTER" and holds(a, vips[4]), bus_a, bus_b)
        until(lambda: not bus_a.has("vrrp/VI_2") and not holds(a, vips[2]), bus_a, bus_b)
        until(lambda: bus_b.vrrp("VI_3").get("master_priority") == 120, bus_a, bus_b)
    assert a.pids()["vrrp"] == vrrp_pid
    assert len(samples) > 10
    assert all(vips[1] in s and vips[3] in s for s in samples), "a kept instance's VIP flapped"

    # Unchanged and re-applied instances moved not: no transition, on either node.
    assert {n: len(bus_a.transitions(f"VI_{n}")) for n in (1, 3)} == seen_a
    assert bus_a.state("VI_1") == bus_a.state("VI_3") == "MASTER"
    assert bus_b.moves("VI_1") == bus_b.moves("VI_3") == [("INIT", "BACKUP")]
    for n in (1, 3):
        assert bus_a.net_actions(f"VI_{n}") == [("added", f"{vips[n]} dev eth0")]
    changed = bus_a.posted("vrrp/VI_3", "priority")
    assert [(p.data["previous_priority"], p.data["priority"]) for p in changed] == [(150, 120)]
    assert (bus_a.vrrp("VI_3")["base_priority"], bus_a.vrrp("VI_3")["effective_priority"]) == (120, 120)

    # The removed instance stopped as a MASTER stops: priority 0, so b's VI_2 took over at once.
    assert bus_a.moves("VI_2")[-1] == ("MASTER", "STOP")
    # Marked as removed, which the notifier reports as FAULT (or DELETED with notify_deleted).
    assert bus_a.transitions("VI_2")[-1].data.get("removed") is True
    assert not any(p.data.get("removed") for p in bus_a.transitions("VI_3"))
    until(lambda: bus_b.state("VI_2") == "MASTER" and holds(b, vips[2]), bus_b)
    assert "(VI_2) Backup received priority 0 advertisement" in b.service_log("vrrp")
    # The new one started as any instance starts.
    assert bus_a.moves("VI_4") == [("INIT", "BACKUP"), ("BACKUP", "MASTER")]
