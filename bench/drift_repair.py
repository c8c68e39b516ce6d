"""Drift repair: how long a VIP deleted by hand stays away before netconfig puts it back.

A throw-away network namespace gets a veth `eth0`, a hub and netconfig (`hakeeper
service bus` and `hakeeper service netconfig`), and a configuration with one VIP; the
benchmark plays vrrp and says VI_1 is MASTER. Then, in a process inside the namespace,
it deletes the VIP over netlink N times and measures, on CLOCK_MONOTONIC, from just
before the deletion until a netlink notification shows the VIP back (the kernel is read
again after every address notification). Needs root. Exits non-zero if the VIP is not
back within 2 s.

    .venv/bin/python bench/drift_repair.py [--runs 200]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ROOT = Path(__file__).resolve().parent.parent
HAKEEPER = [sys.executable, "-m", "services.cli"]
VIP = "192.0.2.100"
PREFIX = 24
CONF = f"""\
vrrp_instance VI_1 {{
    interface eth0
    virtual_router_id 51
    virtual_ipaddress {{
        {VIP}/{PREFIX}
    }}
}}
"""
GIVE_UP = 2.0


def now() -> float:
    return time.clock_gettime(time.CLOCK_MONOTONIC)


# ------------------------------------------------------------------ inside the namespace


def measure(runs: int) -> list[float]:
    from pyroute2 import IPRoute  # noqa: PLC0415 - the outer process does not need it

    from services.netconfig.watch import NetlinkWatch  # noqa: PLC0415

    ipr = IPRoute()
    watch = NetlinkWatch()
    index = ipr.link_lookup(ifname="eth0")[0]

    def present() -> bool:
        return any(a.get_attr("IFA_LOCAL") == VIP and a["prefixlen"] == PREFIX for a in ipr.addr("dump", index=index))

    def wait_present(since: float) -> float:
        while True:
            if present():
                return now()
            if now() - since > GIVE_UP:
                raise SystemExit(f"{VIP} not back within {GIVE_UP} s")
            select.select([watch.fileno()], [], [], 0.1)
            watch.drain()

    latencies: list[float] = []
    try:
        for _ in range(runs):
            wait_present(now())
            time.sleep(0.02)  # let netconfig settle after its own change
            watch.drain()
            start = now()
            ipr.addr("del", index=index, address=VIP, prefixlen=PREFIX)
            latencies.append(wait_present(start) - start)
    finally:
        watch.close()
        ipr.close()
    return latencies


# ------------------------------------------------------------------ outside


def run(cmd: list[str]) -> None:
    subprocess.run(cmd, check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        print(json.dumps(measure(args.runs)))
        return 0
    if os.geteuid() != 0:
        print("needs root (network namespaces)", file=sys.stderr)
        return 2

    from bus.publisher import Publisher  # noqa: PLC0415

    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    ns = f"hkb-{os.getpid()}-{uuid.uuid4().hex[:4]}"
    workdir = Path(tempfile.mkdtemp(prefix="hkb", dir="/tmp"))
    runtime = workdir / "run"
    conf = workdir / "keepalived.conf"
    conf.write_text(textwrap.dedent(CONF))
    env = {**os.environ, "HAKEEPER_SYSLOG": "0", "PYTHONPATH": str(ROOT)}
    run(["ip", "netns", "add", ns])
    publisher: Publisher | None = None
    try:
        run(["ip", "-n", ns, "link", "set", "lo", "up"])
        run(["ip", "-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", "peth0"])
        for name in ("eth0", "peth0"):
            run(["ip", "-n", ns, "link", "set", name, "up"])
        run(["ip", "-n", ns, "addr", "add", "192.0.2.10/24", "dev", "eth0"])
        log = (workdir / "services.log").open("ab")
        exec_ns = ["ip", "netns", "exec", ns]
        subprocess.Popen(
            [*exec_ns, *HAKEEPER, "service", "bus", "--runtime-dir", str(runtime)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env=env,
        )
        deadline = time.monotonic() + 10
        while not (runtime / "bus-req.sock").exists():
            if time.monotonic() > deadline:
                raise SystemExit("the hub did not start")
            time.sleep(0.05)
        subprocess.Popen(
            [*exec_ns, *HAKEEPER, "service", "netconfig", "--runtime-dir", str(runtime), "-f", str(conf)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env=env,
        )
        publisher = Publisher("bench", runtime)
        publisher.set("vrrp/VI_1", {"state": "MASTER"})
        if not publisher.flush(10):
            raise SystemExit("the hub did not answer")
        out = subprocess.run(
            [*exec_ns, sys.executable, __file__, "--inner", "--runs", str(args.runs)],
            check=False,
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=env,
        )
        if out.returncode != 0:
            print(out.stderr or out.stdout, file=sys.stderr)
            return 1
        latencies = sorted(json.loads(out.stdout))
    finally:
        if publisher is not None:
            publisher.close()
        pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True, check=False).stdout.split()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
        subprocess.run(["ip", "netns", "delete", ns], check=False)
        subprocess.run(["rm", "-rf", str(workdir)], check=False)
    ms = [x * 1000 for x in latencies]
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    print(
        f"drift repair over {len(ms)} deletions: median {statistics.median(ms):.2f} ms, p99 {p99:.2f} ms, "
        f"max {ms[-1]:.2f} ms, min {ms[0]:.2f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
