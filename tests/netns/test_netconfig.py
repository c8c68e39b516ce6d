"""netconfig against a real kernel: the hub and netconfig run in a throw-away namespace, the test plays vrrp.

Every test keeps an address that is not netconfig's on eth0 (IPv4 and IPv6) and checks
at the end that it was never touched.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pyroute2 import IPRoute

from bus.messages import Event
from bus.publisher import Publisher
from bus.subscriber import Subscriber
from bus.subscriber_core import EventDelivered, Start
from tests.conftest import add_veth, needs_root, wait_for

pytestmark = needs_root

ROOT = Path(__file__).resolve().parents[2]
HAKEEPER = [sys.executable, "-m", "services.cli"]
FOREIGN = ("192.0.2.10/24", "2001:db8::10/64")


class Node:
    """A namespace with eth0 and eth1, a hub, netconfig, and the test's own end of the bus."""

    def __init__(self, ns: str, workdir: Path) -> None:
        self.ns = ns
        self.workdir = workdir
        self.runtime_dir = workdir / "run"
        self.processes: list[subprocess.Popen[bytes]] = []
        self.netconfig: subprocess.Popen[bytes] | None = None
        self.events: list[Event] = []
        self.publisher: Publisher | None = None
        self.subscriber: Subscriber | None = None
        add_veth(ns, "eth0", FOREIGN[0])
        self.ip("addr", "add", FOREIGN[1], "dev", "eth0", "nodad")
        add_veth(ns, "eth1")

    # ------------------------------------------------------------ processes

    def _spawn(self, log_name: str, *command: str, flags: str = "") -> subprocess.Popen[bytes]:
        """`command` run inside the namespace, its output appended to `log_name` in the work directory."""
        log = (self.workdir / log_name).open("ab")
        where = ["ip", "netns", "exec", self.ns]
        process = subprocess.Popen(
            [*where, *command], stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=self._env(flags)
        )
        self.processes.append(process)
        return process

    def start_hub(self) -> None:
        self._spawn("bus.log", *HAKEEPER, "service", "bus", "--runtime-dir", str(self.runtime_dir))
        wait_for((self.runtime_dir / "bus-req.sock").exists)
        self.publisher = Publisher("lab", self.runtime_dir)
        self.subscriber = Subscriber(self.runtime_dir, since=Start.HISTORY)
        wait_for(lambda: self.subscriber is not None and self.subscriber.core.caught_up, step=self.pump)

    def start_netconfig(self, conf: str, flags: str = "", prefix: tuple[str, ...] = ()) -> subprocess.Popen[bytes]:
        """netconfig on `conf`, with HAKEEPER_FLAGS `flags`, under the `prefix` command if any."""
        path = self.workdir / "keepalived.conf"
        path.write_text(conf)
        arguments = ("service", "netconfig", "--runtime-dir", str(self.runtime_dir), "-f", str(path))
        process = self._spawn("netconfig.log", *prefix, *HAKEEPER, *arguments, flags=flags)
        self.netconfig = process

        def running() -> bool:
            assert process.poll() is None, self.log()
            value = self.state().get("service/netconfig")
            return isinstance(value, dict) and value.get("pid") == process.pid and value.get("state") == "running"

        wait_for(running, step=self.pump)
        return process

    def stop_netconfig(self) -> int:
        assert self.netconfig is not None
        self.netconfig.send_signal(signal.SIGTERM)
        code = self.netconfig.wait(30)
        self.netconfig = None
        return code

    def _env(self, flags: str) -> dict[str, str]:
        return {**os.environ, "HAKEEPER_SYSLOG": "0", "HAKEEPER_FLAGS": flags, "PYTHONPATH": str(ROOT)}

    def log(self) -> str:
        path = self.workdir / "netconfig.log"
        return path.read_text() if path.exists() else ""

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(5)
        for end in (self.publisher, self.subscriber):
            if end is not None:
                end.close()

    # ------------------------------------------------------------------ bus

    def pump(self) -> None:
        assert self.subscriber is not None
        for effect in self.subscriber.poll(0.02):
            if isinstance(effect, EventDelivered):
                self.events.append(effect.event)

    def state(self) -> dict[str, Any]:
        assert self.subscriber is not None
        return self.subscriber.core.state

    def set(self, key: str, value: dict[str, Any]) -> None:
        assert self.publisher is not None
        self.publisher.set(key, value)
        assert self.publisher.flush(5)

    def vrrp(self, instance: str, state: str) -> None:
        self.set(f"vrrp/{instance}", {"state": state})

    def report(self, owner: str, kind: str = "vips") -> dict[str, Any]:
        value = self.state().get(f"net/{owner}/{kind}")
        return value if isinstance(value, dict) else {}

    def net_events(self, action: str | None = None) -> list[dict[str, Any]]:
        found = []
        for event in self.events:
            if event.publisher == "netconfig" and event.topic.startswith("net/"):
                data = {**event.data, "owner": event.topic.split("/", 1)[1]}
                if action is None or data["action"] == action:
                    found.append(data)
        return found

    # --------------------------------------------------------------- kernel

    def ip(self, *args: str) -> str:
        return subprocess.run(["ip", "-n", self.ns, *args], capture_output=True, text=True, check=True).stdout

    def addresses(self) -> dict[str, dict[str, Any]]:
        """`local/prefixlen` -> what `ip -j addr` says of it, with its interface as `dev`."""
        found: dict[str, dict[str, Any]] = {}
        for link in json.loads(self.ip("-j", "addr", "show")):
            for info in link.get("addr_info", []):
                found[f"{info['local']}/{info['prefixlen']}"] = {**info, "dev": link["ifname"]}
        return found

    def link(self, name: str) -> dict[str, Any] | None:
        for link in json.loads(self.ip("-j", "-d", "link", "show")):
            if link["ifname"] == name:
                return dict(link)
        return None

    def sysctl(self, path: str) -> int:
        out = subprocess.run(
            ["ip", "netns", "exec", self.ns, "cat", f"/proc/sys/{path}"], capture_output=True, text=True, check=True
        )
        return int(out.stdout.split()[0])

    def write_sysctl(self, path: str, value: int) -> None:
        subprocess.run(["ip", "netns", "exec", self.ns, "sh", "-c", f"echo {value} > /proc/sys/{path}"], check=True)

    def assert_foreign_untouched(self) -> None:
        present = self.addresses()
        for address in FOREIGN:
            assert address in present and present[address]["dev"] == "eth0", address


@pytest.fixture
def node(netns: str) -> Iterator[Node]:
    # Short: the bus's unix socket paths must stay below 108 bytes.
    workdir = Path(tempfile.mkdtemp(prefix="hkn", dir="/tmp"))
    lab = Node(netns, workdir)
    try:
        lab.start_hub()
        yield lab
    finally:
        lab.close()
        subprocess.run(["rm", "-rf", str(workdir)], check=False)


def has(node: Node, *addresses: str) -> bool:
    node.pump()
    present = node.addresses()
    return all(a in present for a in addresses)


def has_none(node: Node, *addresses: str) -> bool:
    node.pump()
    present = node.addresses()
    return not any(a in present for a in addresses)


# ---------------------------------------------------------------------------------------------
# Every option, and VIPs following the instance's state

OPTIONS = """\
global_defs {
    default_interface eth0
}
static_ipaddress {
    198.51.100.10/24 dev eth1 label eth1:s
    198.51.100.11/24
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    virtual_ipaddress {
        192.0.2.100/24
        192.0.2.101/24 brd 192.0.2.255 label eth0:vip noprefixroute
        203.0.113.102/24 brd + scope host
        192.0.2.103 peer 192.0.2.203
        203.0.113.5/32 dev eth1 scope link
        224.0.0.100/32 autojoin
        192.0.2.104/24 no_track
    }
    virtual_ipaddress_excluded {
        2001:db8::100/64
        2001:db8::101/64 -nodad preferred_lft 600
        2001:db8::102/64 home mngtmpaddr noprefixroute
        2001:db8::103/128
        2001:db8::104 peer 2001:db8::204
    }
}
vrrp_instance VI_2 {
    interface eth0
    virtual_router_id 52
    virtual_ipaddress {
        192.0.2.150/24
    }
}
"""

FOREVER = 4294967295
# What `ip -j addr` must say of each address; None: the attribute must be absent.
EXPECTED: dict[str, dict[str, Any]] = {
    "192.0.2.100/24": {"dev": "eth0", "scope": "global", "label": "eth0", "broadcast": None, "noprefixroute": None},
    "192.0.2.101/24": {"dev": "eth0", "broadcast": "192.0.2.255", "label": "eth0:vip", "noprefixroute": True},
    "203.0.113.102/24": {"dev": "eth0", "broadcast": "203.0.113.255", "scope": "host"},
    "192.0.2.103/32": {"dev": "eth0", "address": "192.0.2.203"},
    "203.0.113.5/32": {"dev": "eth1", "scope": "link"},
    "224.0.0.100/32": {"dev": "eth0", "autojoin": True},
    "192.0.2.104/24": {"dev": "eth0"},
    "2001:db8::100/64": {"dev": "eth0", "nodad": True, "preferred_life_time": FOREVER, "deprecated": None},
    "2001:db8::101/64": {"dev": "eth0", "nodad": None, "valid_life_time": FOREVER},
    "2001:db8::102/64": {"dev": "eth0", "home": True, "mngtmpaddr": True, "noprefixroute": True, "nodad": True},
    "2001:db8::103/128": {"dev": "eth0", "deprecated": True, "preferred_life_time": 0, "nodad": True},
    "2001:db8::104/128": {"dev": "eth0", "address": "2001:db8::204"},
}
VIPS = tuple(EXPECTED)
STATICS = ("198.51.100.10/24", "198.51.100.11/24")


def test_every_address_option_is_applied_and_vips_follow_the_state(node: Node) -> None:
    # VI_2's VIP is left over from an earlier run; VI_2 is BACKUP, so it must go.
    node.ip("addr", "add", "192.0.2.150/24", "dev", "eth0")
    node.start_netconfig(OPTIONS)
    # Statics at once; VIPs only once vrrp says MASTER.
    wait_for(lambda: has(node, *STATICS), step=node.pump)
    present = node.addresses()
    assert present["198.51.100.10/24"]["label"] == "eth1:s" and present["198.51.100.10/24"]["dev"] == "eth1"
    assert present["198.51.100.11/24"]["dev"] == "eth0"  # default_interface
    assert not any(vip in present for vip in VIPS)
    assert "192.0.2.150/24" in present  # vrrp has not said anything about VI_2 yet

    node.vrrp("VI_2", "BACKUP")
    node.vrrp("VI_1", "MASTER")
    wait_for(lambda: has(node, *VIPS) and has_none(node, "192.0.2.150/24"), step=node.pump)
    present = node.addresses()
    for address, expected in EXPECTED.items():
        got = present[address]
        for attribute, value in expected.items():
            assert got.get(attribute) == value, (address, attribute, got)
    assert 0 < present["2001:db8::101/64"]["preferred_life_time"] <= 600
    report = node.report("VI_1")
    wait_for(lambda: len(node.report("VI_1").get("installed", [])) == len(VIPS), step=node.pump)
    report = node.report("VI_1")
    assert report["errors"] == {}
    assert sorted(report["installed"]) == sorted(report["desired"])
    assert "192.0.2.101/24 dev eth0 brd 192.0.2.255 label eth0:vip noprefixroute" in report["desired"]
    assert node.report("static", "address")["installed"] == [
        "198.51.100.10/24 dev eth1 label eth1:s",
        "198.51.100.11/24 dev eth0",
    ]
    assert any(e["action"] == "removed" and e["entry"] == "192.0.2.150/24 dev eth0" for e in node.net_events())

    node.vrrp("VI_1", "BACKUP")
    wait_for(lambda: has_none(node, *VIPS), step=node.pump)
    assert has(node, *STATICS)
    node.vrrp("VI_1", "MASTER")
    wait_for(lambda: has(node, *VIPS), step=node.pump)
    node.vrrp("VI_1", "FAULT")
    wait_for(lambda: has_none(node, *VIPS), step=node.pump)
    log = node.log()
    assert "(VI_1) setting VIPs." in log and "(VI_1) setting E-VIPs." in log and "(VI_1) removing VIPs." in log
    node.assert_foreign_untouched()


# ---------------------------------------------------------------------------------------------
# VMACs

VMAC4 = """\
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    use_vmac
    virtual_ipaddress {
        192.0.2.100/24
        192.0.2.101/24 dev eth0
    }
}
"""


def test_ipv4_vmac_link_sysctls_and_release(node: Node) -> None:
    node.write_sysctl("net/ipv4/conf/all/rp_filter", 1)
    node.write_sysctl("net/ipv4/conf/eth0/rp_filter", 0)
    node.set("service/vrrp", {"state": "running"})
    node.start_netconfig(VMAC4)
    # The VMAC exists from the start, whatever the instance's state.
    wait_for(lambda: node.link("vrrp.51") is not None and "UP" in node.link("vrrp.51")["flags"], step=node.pump)  # type: ignore[index]
    link = node.link("vrrp.51")
    assert link is not None
    assert link["address"] == "00:00:5e:00:01:33"
    assert link["link"] == "eth0"
    assert link["linkinfo"]["info_kind"] == "macvlan"
    assert link["linkinfo"]["info_data"]["mode"] == "private"
    assert link.get("inet6_addr_gen_mode") == "none"
    sysctls = {
        name: node.sysctl(f"net/ipv4/conf/vrrp.51/{name}")
        for name in ("arp_ignore", "accept_local", "rp_filter", "promote_secondaries")
    }
    assert sysctls == {"arp_ignore": 1, "accept_local": 1, "rp_filter": 0, "promote_secondaries": 1}
    assert node.sysctl("net/ipv6/conf/vrrp.51/disable_ipv6") == 1
    assert node.sysctl("net/ipv4/conf/eth0/arp_ignore") == 1
    assert node.sysctl("net/ipv4/conf/eth0/arp_filter") == 1
    assert node.sysctl("net/ipv4/conf/all/rp_filter") == 0
    assert node.sysctl("net/ipv4/conf/eth0/rp_filter") == 1  # raised to all's before all went to 0

    node.vrrp("VI_1", "MASTER")
    wait_for(lambda: has(node, "192.0.2.100/24", "192.0.2.101/24"), step=node.pump)
    present = node.addresses()
    assert present["192.0.2.100/24"]["dev"] == "vrrp.51"
    assert present["192.0.2.101/24"]["dev"] == "eth0"  # its own dev
    wait_for(
        lambda: (
            node.report("VI_1", "vmac").get("installed") == ["vrrp.51 link eth0 vrid 51 inet mac 00:00:5e:00:01:33"]
        ),
        step=node.pump,
    )

    # A node shutdown: vrrp stops first, then netconfig releases everything and puts the sysctls back.
    node.set("service/vrrp", {"state": "stopped"})
    assert node.stop_netconfig() == 0
    assert node.link("vrrp.51") is None
    assert has_none(node, "192.0.2.100/24", "192.0.2.101/24")
    assert node.sysctl("net/ipv4/conf/eth0/arp_ignore") == 0
    assert node.sysctl("net/ipv4/conf/eth0/arp_filter") == 0
    assert node.sysctl("net/ipv4/conf/all/rp_filter") == 1
    assert node.sysctl("net/ipv4/conf/eth0/rp_filter") == 0
    node.assert_foreign_untouched()


VMAC6 = """\
vrrp_instance VI_6 {
    interface eth0
    virtual_router_id 7
    use_vmac vmac6
    virtual_ipaddress {
        fe80::7/64
        2001:db8::7/64
    }
}
"""


def test_ipv6_vmac_gets_the_base_link_local_and_no_eui64_address(node: Node) -> None:
    base_link_local = next(a for a, info in node.addresses().items() if info["dev"] == "eth0" and a.startswith("fe80:"))
    node.start_netconfig(VMAC6)
    wait_for(lambda: has(node, base_link_local) and node.link("vmac6") is not None, step=node.pump)

    def vmac_addresses() -> dict[str, dict[str, Any]]:
        return {a: info for a, info in node.addresses().items() if info["dev"] == "vmac6"}

    wait_for(lambda: base_link_local in vmac_addresses(), step=node.pump)
    link = node.link("vmac6")
    assert link is not None
    assert link["address"] == "00:00:5e:00:02:07"
    assert link["linkinfo"]["info_data"]["mode"] == "private"
    assert node.sysctl("net/ipv6/conf/vmac6/disable_ipv6") == 0
    assert node.sysctl("net/ipv6/conf/vmac6/addr_gen_mode") == 1
    mine = vmac_addresses()[base_link_local]
    assert mine["nodad"] is True and mine["deprecated"] is True
    assert "fe80::200:5eff:fe00:207/64" not in vmac_addresses()  # no EUI-64 address from the VRRP MAC

    node.vrrp("VI_6", "MASTER")
    wait_for(lambda: {"fe80::7/64", "2001:db8::7/64"} <= set(vmac_addresses()), step=node.pump)
    node.vrrp("VI_6", "BACKUP")
    wait_for(lambda: not {"fe80::7/64", "2001:db8::7/64"} & set(vmac_addresses()), step=node.pump)
    assert base_link_local in vmac_addresses()  # it belongs to the VMAC, not to MASTER
    node.assert_foreign_untouched()


# ---------------------------------------------------------------------------------------------
# Drift

DRIFT = """\
static_ipaddress {
    198.51.100.10/24 dev eth1
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    use_vmac vrrp51
    virtual_ipaddress {
        192.0.2.100/24 dev eth0
        192.0.2.104/24 dev eth0 no_track
        192.0.2.110/24
    }
}
"""


def test_drift_is_repaired_and_reported(node: Node) -> None:
    node.start_netconfig(DRIFT)
    node.vrrp("VI_1", "MASTER")
    everything = ("192.0.2.100/24", "192.0.2.104/24", "192.0.2.110/24", "198.51.100.10/24")
    wait_for(lambda: has(node, *everything), step=node.pump)

    node.ip("addr", "del", "192.0.2.100/24", "dev", "eth0")
    wait_for(lambda: has(node, "192.0.2.100/24"), step=node.pump)
    wait_for(lambda: bool(node.net_events("drift")), step=node.pump)
    assert node.net_events("drift") == [
        {"action": "drift", "kind": "address", "entry": "192.0.2.100/24 dev eth0", "repair": True, "owner": "VI_1"}
    ]

    node.ip("addr", "del", "198.51.100.10/24", "dev", "eth1")
    wait_for(lambda: has(node, "198.51.100.10/24") and len(node.net_events("drift")) == 2, step=node.pump)
    assert node.net_events("drift")[1]["owner"] == "static"
    assert "Restoring deleted static address 198.51.100.10/24 dev eth1" in node.log()

    # The VMAC, and the VIP on it, come back too.
    node.ip("link", "del", "vrrp51")
    wait_for(lambda: node.link("vrrp51") is not None and has(node, "192.0.2.110/24"), step=node.pump)
    wait_for(lambda: {e["kind"] for e in node.net_events("drift")} == {"address", "vmac"}, step=node.pump)

    # no_track: said, not undone.
    node.ip("addr", "del", "192.0.2.104/24", "dev", "eth0")
    wait_for(lambda: any(e["entry"].startswith("192.0.2.104/24") for e in node.net_events("drift")), step=node.pump)
    untracked = next(e for e in node.net_events("drift") if e["entry"].startswith("192.0.2.104/24"))
    assert untracked["repair"] is False
    # netconfig handles the kernel's notifications in order: once a later deletion is repaired,
    # a repair of the untracked address would have come before it.
    node.ip("addr", "del", "192.0.2.100/24", "dev", "eth0")
    wait_for(
        lambda: len([e for e in node.net_events("drift") if e["entry"].startswith("192.0.2.100/")]) == 2, step=node.pump
    )
    wait_for(lambda: has(node, "192.0.2.100/24"), step=node.pump)
    assert has_none(node, "192.0.2.104/24")
    node.assert_foreign_untouched()


# ---------------------------------------------------------------------------------------------
# Restart, errors, stop

RESTART = """\
static_ipaddress {
    198.51.100.10/24 dev eth1
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    use_vmac
    virtual_ipaddress {
        192.0.2.100/24
        192.0.2.101/24 dev eth0
    }
}
"""


def _sample(ns: str, stop: threading.Event, samples: list[set[str]]) -> None:
    with IPRoute(netns=ns) as ipr:
        while not stop.is_set():
            samples.append({f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}" for a in ipr.addr("dump")})
            time.sleep(0.01)


def test_restart_while_vrrp_runs_moves_nothing(node: Node) -> None:
    node.set("service/vrrp", {"state": "running"})
    node.vrrp("VI_1", "MASTER")
    first = node.start_netconfig(RESTART)
    kept = ("192.0.2.100/24", "192.0.2.101/24", "198.51.100.10/24")
    wait_for(lambda: has(node, *kept), step=node.pump)
    vmac_index = node.link("vrrp.51")["ifindex"]  # type: ignore[index]
    samples: list[set[str]] = []
    stop = threading.Event()
    sampler = threading.Thread(target=_sample, args=(node.ns, stop, samples), daemon=True)
    sampler.start()
    try:
        wait_for(lambda: len(samples) > 5)
        node.pump()
        assert node.stop_netconfig() == 0
        assert "vrrp is running: leaving" in node.log()
        second = node.start_netconfig(RESTART)
        assert second.pid != first.pid
        wait_for(
            lambda: node.report("VI_1").get("installed") == ["192.0.2.100/24 dev vrrp.51", "192.0.2.101/24 dev eth0"],
            step=node.pump,
        )
        wait_for(lambda: node.report("VI_1", "vmac").get("installed") is not None, step=node.pump)
        adopted = len(samples)
        wait_for(lambda: len(samples) > adopted + 10)
    finally:
        stop.set()
        sampler.join(5)
    assert len(samples) > 50
    for sample in samples:
        assert set(kept) <= sample
    assert node.link("vrrp.51")["ifindex"] == vmac_index  # type: ignore[index]
    node.pump()
    # Adopted: the second netconfig added and removed nothing.
    epochs = {event.publisher_epoch for event in node.events if event.publisher == "netconfig"}
    assert len(epochs) == 1
    node.assert_foreign_untouched()


LATE = """\
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    virtual_ipaddress {
        192.0.2.100/24
        203.0.113.7/24 dev eth7
    }
    virtual_ipaddress_excluded {
        2001:db8::10/128
    }
}
"""


def test_kernel_errors_are_reported_and_an_interface_appearing_is_retried_at_once(node: Node) -> None:
    node.start_netconfig(LATE)
    node.vrrp("VI_1", "MASTER")
    wait_for(lambda: has(node, "192.0.2.100/24"), step=node.pump)
    wait_for(lambda: len(node.net_events("error")) == 2, step=node.pump)
    errors = {e["entry"]: e["error"] for e in node.net_events("error")}
    assert errors["203.0.113.7/24 dev eth7"] == (
        "ENODEV: Not adding address 203.0.113.7/24 to eth7 since interface doesn't exist"
    )
    # Someone else's 2001:db8::10/64 holds the address: refused, reported, and left alone.
    assert errors["2001:db8::10/128 dev eth0 preferred_lft 0"].startswith("EEXIST: adding address 2001:db8::10 to eth0")
    wait_for(lambda: set(node.report("VI_1").get("errors", {})) == set(errors), step=node.pump)
    assert "(VI_1) Not adding address 203.0.113.7/24 to eth7 since interface doesn't exist" in node.log()
    # Let the retries back off: after the fourth failure the next try is four seconds away.
    wait_for(lambda: node.state().get("counters/netconfig", {}).get("failed", 0) >= 8, step=node.pump)
    created = time.monotonic()
    add_veth(node.ns, "eth7")
    wait_for(lambda: has(node, "203.0.113.7/24"), step=node.pump)
    # The link event brought it, not the next scheduled retry.
    assert time.monotonic() - created < 2.0
    wait_for(lambda: "203.0.113.7/24 dev eth7" not in node.report("VI_1").get("errors", {}), step=node.pump)
    assert node.net_events("retry_ok") == [
        {"action": "retry_ok", "kind": "address", "entry": "203.0.113.7/24 dev eth7", "owner": "VI_1"}
    ]
    assert "2001:db8::10/128 dev eth0 preferred_lft 0" in node.report("VI_1")["errors"]
    assert node.netconfig is not None and node.netconfig.poll() is None
    node.assert_foreign_untouched()


def test_without_cap_net_admin_every_change_is_an_eperm_error_and_netconfig_keeps_running(node: Node) -> None:
    without = ("setpriv", "--bounding-set=-net_admin", "--inh-caps=-net_admin")
    node.start_netconfig(RESTART, prefix=without)
    node.vrrp("VI_1", "MASTER")
    wait_for(lambda: len(node.report("static", "address").get("errors", {})) == 1, step=node.pump)
    assert node.report("static", "address")["errors"]["198.51.100.10/24 dev eth1"].startswith("EPERM: ")
    wait_for(lambda: any(e["kind"] == "vmac" for e in node.net_events("error")), step=node.pump)
    wait_for(lambda: len(node.net_events("error")) == 4, step=node.pump)
    reasons = {e["entry"]: e["error"].split(":")[0] for e in node.net_events("error")}
    assert reasons == {
        "198.51.100.10/24 dev eth1": "EPERM",
        "vrrp.51 link eth0 vrid 51 inet mac 00:00:5e:00:01:33": "EPERM",
        "192.0.2.101/24 dev eth0": "EPERM",
        "192.0.2.100/24 dev vrrp.51": "ENODEV",  # its VMAC could not be made
    }
    # Retried, and still running.
    wait_for(lambda: node.state().get("counters/netconfig", {}).get("failed", 0) >= 4, step=node.pump)
    assert node.netconfig is not None and node.netconfig.poll() is None
    assert has_none(node, "198.51.100.10/24") and node.link("vrrp.51") is None
    node.assert_foreign_untouched()


def test_stop_releases_everything_once_vrrp_has_stopped(node: Node) -> None:
    node.set("service/vrrp", {"state": "running"})
    node.vrrp("VI_1", "MASTER")
    node.start_netconfig(RESTART)
    wait_for(lambda: has(node, "192.0.2.100/24", "192.0.2.101/24", "198.51.100.10/24"), step=node.pump)
    node.set("service/vrrp", {"state": "stopped"})
    assert node.stop_netconfig() == 0
    assert has_none(node, "192.0.2.100/24", "192.0.2.101/24", "198.51.100.10/24")
    assert node.link("vrrp.51") is None
    wait_for(lambda: node.report("VI_1").get("installed") == [], step=node.pump)
    removed = {e["entry"] for e in node.net_events("removed")}
    assert removed == {
        "192.0.2.100/24 dev vrrp.51",
        "192.0.2.101/24 dev eth0",
        "198.51.100.10/24 dev eth1",
        "vrrp.51 link eth0 vrid 51 inet mac 00:00:5e:00:01:33",
    }
    node.assert_foreign_untouched()


def test_dont_release_vrrp_keeps_the_instances_but_not_the_statics(node: Node) -> None:
    node.vrrp("VI_1", "MASTER")
    node.start_netconfig(RESTART, flags="dont-release-vrrp")
    wait_for(lambda: has(node, "192.0.2.100/24", "192.0.2.101/24", "198.51.100.10/24"), step=node.pump)
    node.set("service/vrrp", {"state": "stopped"})
    assert node.stop_netconfig() == 0
    assert has(node, "192.0.2.100/24", "192.0.2.101/24")
    assert node.link("vrrp.51") is not None
    assert has_none(node, "198.51.100.10/24")
    node.assert_foreign_untouched()


# ---------------------------------------------------------------------------------------------
# Routes and rules go through the same loop

ROUTES = """\
static_routes {
    198.51.100.0/25 dev eth1
}
static_rules {
    to 198.51.100.0/25 table 200 preference 200
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    virtual_ipaddress {
        192.0.2.100/24
    }
    virtual_routes {
        203.0.113.0/24 via 192.0.2.1 src 192.0.2.100
    }
    virtual_rules {
        from 192.0.2.100 table 100 preference 100
    }
}
"""


def routes(node: Node) -> set[str]:
    return {
        f"{r['dst']} {r.get('gateway', '')} {r.get('prefsrc', '')}".strip()
        for r in json.loads(node.ip("-j", "route", "show"))
    }


def rules(node: Node) -> set[tuple[int, str]]:
    return {(r["priority"], str(r.get("table"))) for r in json.loads(node.ip("-j", "rule", "show"))}


def test_routes_and_rules_follow_the_instance_and_come_back(node: Node) -> None:
    node.start_netconfig(ROUTES)
    wait_for(lambda: "198.51.100.0/25" in routes(node) and (200, "200") in rules(node), step=node.pump)
    assert "203.0.113.0/24 192.0.2.1 192.0.2.100" not in routes(node)
    node.vrrp("VI_1", "MASTER")
    # The route's source is the VIP: the address must be there first.
    wait_for(
        lambda: "203.0.113.0/24 192.0.2.1 192.0.2.100" in routes(node) and (100, "100") in rules(node), step=node.pump
    )
    node.ip("route", "del", "203.0.113.0/24")
    wait_for(lambda: "203.0.113.0/24 192.0.2.1 192.0.2.100" in routes(node), step=node.pump)
    node.ip("rule", "del", "preference", "100")
    wait_for(lambda: (100, "100") in rules(node), step=node.pump)
    wait_for(lambda: {e["kind"] for e in node.net_events("drift")} == {"route", "rule"}, step=node.pump)
    node.vrrp("VI_1", "BACKUP")
    wait_for(
        lambda: "203.0.113.0/24 192.0.2.1 192.0.2.100" not in routes(node) and (100, "100") not in rules(node),
        step=node.pump,
    )
    assert "198.51.100.0/25" in routes(node) and (200, "200") in rules(node)
    wait_for(lambda: node.report("VI_1", "route").get("installed") == [], step=node.pump)
    assert node.report("static", "route")["installed"] == ["198.51.100.0/25 protocol keepalived dev eth1"]
    node.assert_foreign_untouched()


NAMED_VMAC = """\
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    use_vmac vm51
    virtual_ipaddress {
        192.0.2.100/24
    }
}
"""


@pytest.mark.parametrize("base", ["eth0", "eth1"])
def test_a_vmac_left_with_the_wrong_mac_or_base_is_made_right(node: Node, base: str) -> None:
    node.ip("link", "add", "vm51", "link", base, "address", "02:00:00:00:00:51", "type", "macvlan", "mode", "private")
    node.start_netconfig(NAMED_VMAC)

    def right() -> bool:
        link = node.link("vm51")
        return link is not None and link["address"] == "00:00:5e:00:01:33" and link["link"] == "eth0"

    wait_for(right, step=node.pump)
    link = node.link("vm51")
    assert link is not None and "UP" in link["flags"] and link["linkinfo"]["info_data"]["mode"] == "private"
    wait_for(
        lambda: node.report("VI_1", "vmac").get("installed") == ["vm51 link eth0 vrid 51 inet mac 00:00:5e:00:01:33"],
        step=node.pump,
    )
    node.assert_foreign_untouched()


def test_reload_applies_the_new_configuration(node: Node) -> None:
    before = RESTART.replace("192.0.2.101/24 dev eth0", "192.0.2.101/24 dev eth0 label eth0:a")
    node.vrrp("VI_1", "MASTER")
    node.start_netconfig(before)
    wait_for(lambda: has(node, "192.0.2.100/24", "192.0.2.101/24", "198.51.100.10/24"), step=node.pump)
    after = before.replace("192.0.2.100/24", "192.0.2.120/24").replace("label eth0:a", "label eth0:b")
    (node.workdir / "keepalived.conf").write_text(after)
    assert node.netconfig is not None
    node.netconfig.send_signal(signal.SIGHUP)

    def moved() -> bool:
        present = node.addresses()
        label = present.get("192.0.2.101/24", {}).get("label")
        return "192.0.2.120/24" in present and "192.0.2.100/24" not in present and label == "eth0:b"

    wait_for(moved, step=node.pump)
    assert has(node, "198.51.100.10/24")
    assert node.netconfig.poll() is None
    node.assert_foreign_untouched()
