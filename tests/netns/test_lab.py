"""The lab fixture itself: nodes on one bridge reach each other, and nothing is left after teardown."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from tests.conftest import needs_root, wait_for
from tests.lab import LabNode, Lan, ip

pytestmark = needs_root


def namespaces() -> set[str]:
    return {line.split()[0] for line in ip("netns", "list").stdout.splitlines() if line.strip()}


LISTEN = """
import socket, sys
server = socket.create_server((sys.argv[1], 7000), family=socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET)
print("ready", flush=True)
connection, peer = server.accept()
connection.sendall(peer[0].encode())
"""
CONNECT = """
import socket, sys
print(socket.create_connection((sys.argv[1], 7000), timeout=5).recv(100).decode())
"""


def reaches(source: LabNode, target: LabNode, address: str) -> str:
    """Connect over TCP from `source` to `address` on `target`; the address `target` saw us come from."""
    listener = subprocess.Popen(
        ["ip", "netns", "exec", target.ns, sys.executable, "-c", LISTEN, address],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert listener.stdout is not None and listener.stdout.readline().strip() == "ready"
        return source.exec(sys.executable, "-c", CONNECT, address, timeout=10).stdout.strip()
    finally:
        listener.kill()
        listener.wait()


def test_three_nodes_on_one_bridge_reach_each_other_over_ipv4_and_ipv6(lan: Lan) -> None:
    a, b, c = (lan.add_node(name) for name in "abc")
    assert len({a.ns, b.ns, c.ns, lan.bridge_ns}) == 4
    for source, target in ((a, b), (b, c), (c, a)):
        assert reaches(source, target, target.ipv4.split("/")[0]) == source.ipv4.split("/")[0]
        assert reaches(source, target, target.ipv6.split("/")[0]) == source.ipv6.split("/")[0]


def test_teardown_removes_namespaces_and_kills_what_runs_in_them() -> None:
    network = Lan(Path(tempfile.mkdtemp(prefix="hkl", dir="/tmp")))
    node = network.add_node("a")
    sleeper = subprocess.Popen(["ip", "netns", "exec", node.ns, "sleep", "300"])
    try:
        assert {node.ns, network.bridge_ns} <= namespaces()
        # `ip netns exec` has entered the namespace (and become sleep) only some time after Popen.
        wait_for(lambda: sleeper.pid in node.processes())
    finally:
        network.close()
    assert sleeper.wait(10) != 0  # killed, not finished
    assert not {node.ns, network.bridge_ns} & namespaces()
