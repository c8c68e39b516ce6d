"""Failover time: from the master's failure until the backup holds the VIP, hakeeper and keepalived.

Two nodes on one bridge (tests/lab.py): a at priority 200 (the master), b at
priority 100 (the backup), one instance with one VIP. Both nodes run hakeeper
(`hakeeper run`), then both run keepalived 2.2.7 (Debian's
/usr/sbin/keepalived), in the same run of this script, for each of:

- `partition`: a's port is taken off the bridge, silently (a's link stays up
  and a stays MASTER); b must wait out its master down interval,
  3 x advert_int + (256 - 100) / 256 x advert_int (RFC 5798 6.4.2). The port
  goes back and a takes over again before the next run.
- `sigterm`: a's daemon gets SIGTERM (for hakeeper, `hakeeper run`, which stops
  vrrp first); its priority 0 advert makes b take over after the skew time
  alone. a is started again before the next run.

Times are taken on CLOCK_MONOTONIC (the machine's, shared by all processes):
from just before the failure until a netlink notification in b's namespace
shows the VIP added (a watcher process inside b's namespace reports it). The
same watcher reads every VRRP packet arriving in b's namespace, so each run
also gives the time from the master's last advert to the VIP: the master down
interval (or, after priority 0, the skew time) plus what the daemon adds. That
second figure does not depend on where in the advert interval the failure fell,
which spreads the first over a whole interval.
Both at VRRPv2 with advert_int 1 and VRRPv3 with advert_int 0.1. Needs root.
Exits non-zero if a failover exceeds the RFC bound (master down interval plus
`--slack`).

    .venv/bin/python bench/vrrp_failover.py [--runs 5] [--fast-runs 10] [--only hakeeper|keepalived]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.lab import LabNode, Lan, ip

VIP = "192.0.2.100"
STEADY_TIMEOUT = 30.0
FAILOVER_TIMEOUT = 10.0
WATCHER = r"""
import os, socket, sys, threading, time
from pyroute2 import IPRoute
from pyroute2.netlink.rtnl import RTMGRP_IPV4_IFADDR
vip, master = sys.argv[1], sys.argv[2]
last = [0.0]

def read_adverts():
    adverts = socket.socket(socket.AF_INET, socket.SOCK_RAW, 112)
    while True:
        _, (source, _) = adverts.recvfrom(2048)
        if source == master:
            if not last[0]:
                os.write(1, b"heard\n")  # one write: the main thread prints too
            last[0] = time.clock_gettime(time.CLOCK_MONOTONIC)

threading.Thread(target=read_adverts, daemon=True).start()
with IPRoute() as ipr:
    ipr.bind(groups=RTMGRP_IPV4_IFADDR)
    os.write(1, b"ready\n")
    while True:
        for message in ipr.get():
            if message["event"] == "RTM_NEWADDR" and message.get_attr("IFA_LOCAL") == vip:
                os.write(1, f"{time.clock_gettime(time.CLOCK_MONOTONIC)} {last[0]}\n".encode())
                sys.exit(0)
"""


@dataclass(frozen=True)
class Setting:
    name: str
    version: int
    advert_int: float

    @property
    def bound(self) -> float:
        """b's master down interval: the RFC's upper bound for a silent failure."""
        return 3 * self.advert_int + (256 - 100) / 256 * self.advert_int

    @property
    def skew(self) -> float:
        return (256 - 100) / 256 * self.advert_int


SETTINGS = (Setting("v2/1s", 2, 1.0), Setting("v3/0.1s", 3, 0.1))


def config(setting: Setting, priority: int) -> str:
    auth = "    authentication {\n        auth_type PASS\n        auth_pass hakeeper\n    }\n"
    return (
        f"global_defs {{\n    vrrp_version {setting.version}\n}}\n"
        "vrrp_instance VI_1 {\n"
        "    state BACKUP\n"
        "    interface eth0\n"
        "    virtual_router_id 51\n"
        f"    priority {priority}\n"
        f"    advert_int {setting.advert_int}\n"
        + (auth if setting.version == 2 else "")
        + f"    virtual_ipaddress {{\n        {VIP}/24\n    }}\n"
        "}\n"
    )


def start(node: LabNode, kind: str, conf: Path) -> None:
    if kind == "keepalived":
        node.start_keepalived(conf, "--vrrp")
    else:
        node.start(conf)


def holds(node: LabNode) -> bool:
    return f"{VIP}/24" in node.addresses()


def wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.05)


def watch(node: LabNode, master: LabNode) -> subprocess.Popen[str]:
    """A process in `node`'s namespace that reports when the VIP appears there, and when the
    last advert from `master` arrived before that."""
    watcher = subprocess.Popen(
        ["ip", "netns", "exec", node.ns, sys.executable, "-c", WATCHER, VIP, master.ipv4.split("/")[0]],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert watcher.stdout is not None
    # Either may come first: the advert reader runs in its own thread.
    lines = {watcher.stdout.readline().strip(), watcher.stdout.readline().strip()}
    if lines != {"ready", "heard"}:
        raise SystemExit(f"the VIP watcher did not start or heard no advert: {lines}")
    return watcher


def taken_over_at(watcher: subprocess.Popen[str]) -> tuple[float, float]:
    """When the VIP appeared, and when the master's last advert arrived (CLOCK_MONOTONIC)."""
    try:
        out, _ = watcher.communicate(timeout=FAILOVER_TIMEOUT)
    except subprocess.TimeoutExpired:
        watcher.kill()
        watcher.communicate()
        raise SystemExit("the backup did not take over") from None
    vip_at, last_advert = out.split()
    return float(vip_at), float(last_advert)


def failovers(kind: str, setting: Setting, mode: str, runs: int) -> tuple[list[float], list[float]]:
    """For each run: from the failure, and from the master's last advert, until b holds the VIP."""
    workdir = Path(tempfile.mkdtemp(prefix=f"hk-failover-{kind}-"))
    lan = Lan(workdir)
    times: list[float] = []
    after_last: list[float] = []
    try:
        a, b = lan.add_node("a"), lan.add_node("b")
        confs = {}
        for node, priority in ((a, 200), (b, 100)):
            confs[node.name] = workdir / f"{node.name}.conf"
            confs[node.name].write_text(config(setting, priority))
        start(b, kind, confs["b"])
        start(a, kind, confs["a"])
        for _ in range(runs):
            wait(lambda: holds(a) and not holds(b), STEADY_TIMEOUT, "a to be the only master")
            time.sleep(max(0.5, 2 * setting.advert_int))  # b has heard a for a while
            watcher = watch(b, a)
            # The failure falls anywhere in an advert interval, as a real one would.
            time.sleep(random.uniform(0, setting.advert_int))
            failed_at = time.clock_gettime(time.CLOCK_MONOTONIC)
            if mode == "partition":
                ip("-n", lan.bridge_ns, "link", "set", f"p{a.index}", "nomaster")
            else:
                a.stop()
            vip_at, last_advert = taken_over_at(watcher)
            times.append(vip_at - failed_at)
            after_last.append(vip_at - last_advert)
            if mode == "partition":
                ip("-n", lan.bridge_ns, "link", "set", f"p{a.index}", "master", "br0")
            else:
                start(a, kind, confs["a"])
        return times, after_last
    finally:
        lan.close()
        shutil.rmtree(workdir, ignore_errors=True)


def summary(times: list[float]) -> dict[str, float]:
    return {
        "median_ms": round(1000 * statistics.median(times), 1),
        "min_ms": round(1000 * min(times), 1),
        "max_ms": round(1000 * max(times), 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per mode at advert_int 1")
    parser.add_argument("--fast-runs", type=int, default=10, help="runs per mode at advert_int 0.1")
    parser.add_argument("--only", choices=("hakeeper", "keepalived"))
    parser.add_argument("--slack", type=float, default=0.05, help="seconds allowed past the RFC bound")
    args = parser.parse_args()
    kinds = [args.only] if args.only else ["hakeeper", "keepalived"]
    failed = False
    for setting in SETTINGS:
        runs = args.runs if setting.advert_int >= 1 else args.fast_runs
        for mode in ("partition", "sigterm"):
            for kind in kinds:
                times, after_last = failovers(kind, setting, mode, runs)
                bound = setting.bound if mode == "partition" else setting.skew + setting.advert_int
                result = {"daemon": kind, "setting": setting.name, "mode": mode, "runs": runs, **summary(times)}
                result["after_last_advert"] = summary(after_last)
                result["rfc_bound_ms"] = round(1000 * setting.bound, 1)
                print(json.dumps(result), flush=True)
                failed |= max(times) > bound + args.slack
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
