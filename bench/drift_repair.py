"""Drift repair: how long a VIP deleted by hand stays away before it is put back.

Measured for hakeeper's netconfig and, for comparison, for keepalived 2.2.7 doing the
same job, each in its own throw-away network namespace with a veth `eth0` and one VIP:

- hakeeper: `hakeeper service bus` and `hakeeper service netconfig`; the benchmark plays
  vrrp on the bus and says VI_1 is MASTER.
- keepalived (/usr/sbin/keepalived, VRRP only, in the foreground, its pid files in a
  temporary directory): alone as MASTER for VI_1, priority 200, advert_int 1.

Once the VIP is installed, a process inside the namespace deletes it over netlink N
times and measures, on CLOCK_MONOTONIC, from just before the deletion until a netlink
notification shows the VIP back (the kernel is read again after every address
notification). Each deletion comes a random time after the previous restoration
(uniform over 20 ms plus the spread: 0.1 s for hakeeper, the advert interval for
keepalived), so that no timer of the daemon is met at the same phase every time.
Needs root. Exits non-zero if the VIP does not come back within the per-run timeout
(2 s for hakeeper, 3 s for keepalived).

    .venv/bin/python bench/drift_repair.py [--runs 200] [--keepalived-runs 20] [--no-keepalived]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ROOT = Path(__file__).resolve().parent.parent
HAKEEPER = [sys.executable, "-m", "services.cli"]
KEEPALIVED = "/usr/sbin/keepalived"
VIP = "192.0.2.100"
PREFIX = 24
OWN_ADDRESS = "192.0.2.10/24"
HAKEEPER_CONF = f"""\
vrrp_instance VI_1 {{
    interface eth0
    virtual_router_id 51
    virtual_ipaddress {{
        {VIP}/{PREFIX}
    }}
}}
"""
KEEPALIVED_CONF = f"""\
vrrp_instance VI_1 {{
    state MASTER
    interface eth0
    virtual_router_id 51
    priority 200
    advert_int 1
    virtual_ipaddress {{
        {VIP}/{PREFIX}
    }}
}}
"""
# The first installation includes starting the daemon and, for keepalived, its
# BACKUP -> MASTER transition (3 adverts and the skew).
INSTALL_DEADLINE = 20.0
SETTLE = 0.02


def now() -> float:
    return time.clock_gettime(time.CLOCK_MONOTONIC)


# ------------------------------------------------------------------ inside the namespace


def measure(runs: int, give_up: float, spread: float) -> list[float]:
    from pyroute2 import IPRoute  # noqa: PLC0415 - the outer process does not need it

    from services.netconfig.watch import NetlinkWatch  # noqa: PLC0415

    ipr = IPRoute()
    watch = NetlinkWatch()
    index = ipr.link_lookup(ifname="eth0")[0]
    pick = random.Random()

    def present() -> bool:
        return any(a.get_attr("IFA_LOCAL") == VIP and a["prefixlen"] == PREFIX for a in ipr.addr("dump", index=index))

    def wait_present(since: float, limit: float) -> float:
        while True:
            if present():
                return now()
            if now() - since > limit:
                raise SystemExit(f"{VIP} not back within {limit} s")
            select.select([watch.fileno()], [], [], 0.1)
            watch.drain()

    latencies: list[float] = []
    try:
        wait_present(now(), INSTALL_DEADLINE)
        for _ in range(runs):
            # A deliberate pause, not a wait for a condition: it lets the daemon finish
            # what follows its own change and spreads the deletions over its timers.
            time.sleep(SETTLE + pick.uniform(0, spread))
            watch.drain()
            start = now()
            ipr.addr("del", index=index, address=VIP, prefixlen=PREFIX)
            latencies.append(wait_present(start, give_up) - start)
    finally:
        watch.close()
        ipr.close()
    return latencies


# ------------------------------------------------------------------ outside


@dataclass(frozen=True)
class Summary:
    """Latencies in milliseconds, sorted."""

    ms: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.ms)

    @property
    def p99(self) -> float:
        # nearest rank: with fewer than 100 runs this is the maximum
        return self.ms[min(len(self.ms) - 1, int(len(self.ms) * 0.99))]

    def line(self, who: str) -> str:
        return (
            f"{who}: drift repair over {len(self.ms)} deletions: median {self.median:.2f} ms, "
            f"p99 {self.p99:.2f} ms, max {self.ms[-1]:.2f} ms, min {self.ms[0]:.2f} ms"
        )


def run(cmd: list[str]) -> None:
    subprocess.run(cmd, check=True)


def kill_namespace(ns: str) -> None:
    pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True, check=False).stdout.split()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)
    subprocess.run(["ip", "netns", "delete", ns], check=False)


@dataclass
class Namespace:
    """A throw-away namespace and the daemons started in it."""

    name: str
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def spawn(self, cmd: list[str], log: BinaryIO, cwd: Path, env: dict[str, str] | None = None) -> None:
        self.started.append(
            subprocess.Popen(
                ["ip", "netns", "exec", self.name, *cmd], stdout=log, stderr=subprocess.STDOUT, cwd=cwd, env=env
            )
        )


@contextlib.contextmanager
def namespace(tag: str) -> Iterator[Namespace]:
    """A fresh namespace with a veth `eth0` (peer `peth0`) holding OWN_ADDRESS; on
    leaving, every process in it is killed and it is deleted."""
    ns = Namespace(f"hkb-{tag}-{os.getpid()}-{uuid.uuid4().hex[:4]}")
    run(["ip", "netns", "add", ns.name])
    try:
        run(["ip", "-n", ns.name, "link", "set", "lo", "up"])
        run(["ip", "-n", ns.name, "link", "add", "eth0", "type", "veth", "peer", "name", "peth0"])
        for name in ("eth0", "peth0"):
            run(["ip", "-n", ns.name, "link", "set", name, "up"])
        run(["ip", "-n", ns.name, "addr", "add", OWN_ADDRESS, "dev", "eth0"])
        yield ns
    finally:
        kill_namespace(ns.name)
        for proc in ns.started:
            proc.wait(timeout=10)


def measure_in(ns: Namespace, runs: int, give_up: float, spread: float, env: dict[str, str], log: Path) -> Summary:
    out = subprocess.run(
        [
            *("ip", "netns", "exec", ns.name, sys.executable, __file__, "--inner"),
            *("--runs", str(runs), "--give-up", str(give_up), "--spread", str(spread)),
        ],
        check=False,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
    )
    if out.returncode != 0:
        tail = log.read_text(errors="replace").splitlines()[-30:] if log.exists() else []
        raise SystemExit("\n".join([(out.stderr or out.stdout).strip(), f"last lines of {log}:", *tail]))
    return Summary(sorted(x * 1000 for x in json.loads(out.stdout)))


def bench_hakeeper(runs: int, workdir: Path, env: dict[str, str]) -> Summary:
    from bus.publisher import Publisher  # noqa: PLC0415

    runtime = workdir / "run"
    conf = workdir / "hakeeper.conf"
    conf.write_text(textwrap.dedent(HAKEEPER_CONF))
    log_path = workdir / "services.log"
    publisher: Publisher | None = None
    with namespace("hk") as ns, log_path.open("ab") as log:
        try:
            ns.spawn([*HAKEEPER, "service", "bus", "--runtime-dir", str(runtime)], log, ROOT, env)
            deadline = time.monotonic() + 10
            while not (runtime / "bus-req.sock").exists():
                if time.monotonic() > deadline:
                    raise SystemExit("the hub did not start")
                time.sleep(0.05)
            ns.spawn(
                [*HAKEEPER, "service", "netconfig", "--runtime-dir", str(runtime), "-f", str(conf)], log, ROOT, env
            )
            publisher = Publisher("bench", runtime)
            publisher.set("vrrp/VI_1", {"state": "MASTER"})
            if not publisher.flush(10):
                raise SystemExit("the hub did not answer")
            return measure_in(ns, runs, give_up=2.0, spread=0.1, env=env, log=log_path)
        finally:
            if publisher is not None:
                publisher.close()


def bench_keepalived(runs: int, workdir: Path, env: dict[str, str]) -> Summary:
    conf = workdir / "keepalived.conf"
    conf.write_text(textwrap.dedent(KEEPALIVED_CONF))
    log_path = workdir / "keepalived.log"
    with namespace("ka") as ns, log_path.open("ab") as log:
        ns.spawn(
            [
                *(KEEPALIVED, "--dont-fork", "--log-console", "--log-detail", "--no-syslog", "--vrrp"),
                *("--use-file", str(conf), "--pid", str(workdir / "keepalived.pid")),
                *("--vrrp_pid", str(workdir / "vrrp.pid"), "--checkers_pid", str(workdir / "checkers.pid")),
            ],
            log,
            workdir,
        )
        return measure_in(ns, runs, give_up=3.0, spread=1.0, env=env, log=log_path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=200, help="deletions for hakeeper")
    parser.add_argument("--keepalived-runs", type=int, default=20, help="deletions for keepalived")
    parser.add_argument("--no-keepalived", action="store_true", help="measure hakeeper only")
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--give-up", type=float, default=2.0, help=argparse.SUPPRESS)
    parser.add_argument("--spread", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        print(json.dumps(measure(args.runs, args.give_up, args.spread)))
        return 0
    if os.geteuid() != 0:
        print("needs root (network namespaces)", file=sys.stderr)
        return 2
    if not args.no_keepalived and not os.access(KEEPALIVED, os.X_OK):
        print(f"{KEEPALIVED} not found (use --no-keepalived)", file=sys.stderr)
        return 2

    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    workdir = Path(tempfile.mkdtemp(prefix="hkb", dir="/tmp"))
    env = {**os.environ, "HAKEEPER_SYSLOG": "0", "PYTHONPATH": str(ROOT)}
    try:
        hakeeper = bench_hakeeper(args.runs, workdir, env)
        print(hakeeper.line("hakeeper"), flush=True)
        if not args.no_keepalived:
            version = subprocess.run([KEEPALIVED, "--version"], capture_output=True, text=True, check=False)
            first = (version.stderr or version.stdout).split("\n", 1)[0].strip()
            keepalived = bench_keepalived(args.keepalived_runs, workdir, env)
            print(keepalived.line(f"keepalived ({first})"), flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
