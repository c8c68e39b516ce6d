"""`make lab`: two hakeeper nodes sharing a VIP on a throw-away bridge, to watch and to break.

Node a (priority 150) and node b (priority 100) run `hakeeper run` in their own
network namespaces, one VRRP instance with the VIP 192.0.2.100/24 between them.
The script prints how to look at each node (status, live events, addresses)
and how to make it fail over, then waits; Ctrl-C (or `--seconds`) stops both
nodes and deletes everything it made. Needs root.

    .venv/bin/python -m tests.lab_main [--seconds N] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from types import FrameType

from tests.lab import LabNode, Lan

VIP = "192.0.2.100/24"
SETTLE_TIMEOUT = 30.0
CONF = """\
vrrp_instance VI_1 {{
    state {state}
    interface eth0
    virtual_router_id 51
    priority {priority}
    advert_int 1
    authentication {{
        auth_type PASS
        auth_pass hakeeper
    }}
    virtual_ipaddress {{
        {vip}
    }}
}}
"""


def who_holds(nodes: list[LabNode]) -> list[str]:
    return [node.name for node in nodes if VIP in node.addresses()]


def guide(nodes: list[LabNode], lan: Lan) -> str:
    a = nodes[0]
    hk = f"{sys.executable} -m services.cli"
    lines = [f"Lab up: bridge namespace {lan.bridge_ns}; VIP {VIP} on {', '.join(who_holds(nodes)) or 'nobody yet'}."]
    for node in nodes:
        lines.append(
            f"  node {node.name}: namespace {node.ns}, {node.ipv4}, runtime dir {node.runtime_dir}"
        )
    lines.append(
        textwrap.dedent(
            f"""
            Look (from {Path.cwd()}):
              ip netns exec {a.ns} {hk} status --runtime-dir {a.runtime_dir}
              ip netns exec {a.ns} {hk} events --follow --runtime-dir {a.runtime_dir}
              ip -n {a.ns} addr show dev eth0
            Break:
              ip netns exec {a.ns} {hk} ctl --runtime-dir {a.runtime_dir} restart vrrp   # no failover
              ip netns exec {a.ns} {hk} ctl --runtime-dir {a.runtime_dir} stop vrrp      # hands the VIP to b
              ip -n {lan.bridge_ns} link set p{a.index} nomaster                          # silent partition
            Ctrl-C stops both nodes and removes the lab."""
        )
    )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=None, help="stop by itself after this long")
    parser.add_argument("--workdir", default=None, help="where configurations and runtime directories go")
    args = parser.parse_args()
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="hakeeper-lab-"))
    workdir.mkdir(parents=True, exist_ok=True)
    stop = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    lan = Lan(workdir)
    try:
        nodes = [lan.add_node("a"), lan.add_node("b")]
        for node, state, priority in ((nodes[0], "MASTER", 150), (nodes[1], "BACKUP", 100)):
            conf = workdir / f"{node.name}.conf"
            conf.write_text(CONF.format(state=state, priority=priority, vip=VIP))
            node.start(conf)
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while who_holds(nodes) != ["a"] and time.monotonic() < deadline and not stop:
            time.sleep(0.2)
        print(guide(nodes, lan), flush=True)
        ends = None if args.seconds is None else time.monotonic() + args.seconds
        holders = who_holds(nodes)
        while not stop and (ends is None or time.monotonic() < ends):
            time.sleep(0.5)
            now_holding = who_holds(nodes)
            if now_holding != holders:
                print(f"VIP {VIP} now on: {', '.join(now_holding) or 'nobody'}", flush=True)
                holders = now_holding
        print("Stopping the lab", flush=True)
        return 0
    finally:
        lan.close()
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
