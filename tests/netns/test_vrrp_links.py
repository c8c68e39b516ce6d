"""vrrp's view of the interfaces, from a real kernel: up means UP and RUNNING; the advert source addresses."""

from __future__ import annotations

import ipaddress
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.conftest import needs_root

pytestmark = needs_root

ROOT = Path(__file__).resolve().parents[2]

PROBE = textwrap.dedent(
    """
    import select, subprocess, sys, time
    from services.vrrp.links import LinkMonitor

    monitor = LinkMonitor()
    def show(label):
        link = monitor.table.get("eth0")
        print(label, link.up, link.ipv4, link.ipv6, flush=True)
    show("start")
    for step in sys.argv[1:]:
        subprocess.run(step.split(), check=True)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            select.select([monitor], [], [], 0.2)
            if monitor.refresh():
                break
        show(step.split()[-1])
    """
)


def test_up_needs_running_and_sources_are_primary_and_link_local(netns: str) -> None:
    def ip(*args: str) -> None:
        subprocess.run(["ip", "-n", netns, *args], check=True)

    ip("link", "add", "eth0", "type", "veth", "peer", "name", "peer0")
    ip("addr", "add", "192.0.2.5/24", "dev", "eth0")
    ip("addr", "add", "192.0.2.6/24", "dev", "eth0")  # secondary: never the source
    ip("link", "set", "eth0", "up")  # up but not running: its peer is down
    ip("link", "set", "eth0", "addrgenmode", "none")
    ip("addr", "add", "fe80::5/64", "dev", "eth0", "nodad")
    result = subprocess.run(
        ["ip", "netns", "exec", netns, sys.executable, "-c", PROBE, "ip link set peer0 up", "ip link set peer0 down"],
        capture_output=True, text=True, timeout=60, cwd=ROOT, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = [line.split() for line in result.stdout.splitlines()]
    assert lines[0] == ["start", "False", "192.0.2.5", "fe80::5"]
    assert lines[1][:2] == ["up", "True"]
    assert lines[2][:2] == ["down", "False"]
    assert ipaddress.ip_address(lines[1][3]).is_link_local
