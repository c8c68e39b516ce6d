"""Many VRRPv3 instances at 0.1 s: whole-node CPU and memory, and whether any instance is ever master twice.

Two nodes on one bridge (tests/lab.py), each with N instances (VRIDs 1..N, one
VIP each): node a at priority 200, node b at priority 100. Run once with two
hakeeper nodes (`hakeeper run`, every service) and once with two keepalived
2.2.7 nodes (Debian's /usr/sbin/keepalived), one after the other, so that both
are measured on the same machine in the same run.

Once a holds every VIP and b none, for `--seconds`:
- whole-node CPU: utime + stime of every process in the node's namespace
  (supervisord, `hakeeper run`, the bus and every service; keepalived's parent
  and its VRRP child), as a percentage of one core;
- whole-node memory: RSS and PSS summed over the same processes, at the end;
- dual masters: both nodes' addresses sampled every 20 ms; a VIP on both in
  one sample is a dual master. The backup's transitions to MASTER are counted
  too (hakeeper: counters/vrrp; keepalived: its log).

Needs root. Exits non-zero on a dual master or if the nodes do not settle.

    .venv/bin/python bench/vrrp_scale.py [--instances 100] [--seconds 30] [--only hakeeper|keepalived]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.lab import LabNode, Lan

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
SETTLE_TIMEOUT = 60.0


def vip(index: int) -> str:
    """A distinct documentation address for each of up to 508 instances."""
    net = "198.51.100" if index <= 254 else "203.0.113"
    return f"{net}.{(index - 1) % 254 + 1}/32"


def config(instances: int, priority: int, *, keepalived: bool) -> str:
    lines = ["global_defs {", "    vrrp_version 3"]
    if keepalived:
        lines.append("    vrrp_garp_master_delay 0")
    lines.append("}")
    for index in range(1, instances + 1):
        lines += [
            f"vrrp_instance VI_{index} {{",
            "    state BACKUP",
            "    interface eth0",
            f"    virtual_router_id {index}",
            f"    priority {priority}",
            "    advert_int 0.1",
            f"    virtual_ipaddress {{\n        {vip(index)} dev eth0\n    }}",
            "}",
        ]
    return "\n".join(lines) + "\n"


@dataclass
class Usage:
    cpu_seconds: float
    rss_bytes: int
    pss_bytes: int
    processes: int
    # program name -> (CPU seconds in the window, RSS bytes at the end)
    by_program: dict[str, tuple[float, int]]


def program(pid: int) -> str:
    """A short name for a node's process: the service it runs, or its executable."""
    with contextlib.suppress(OSError):
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        words = [a.decode(errors="replace") for a in argv if a]
        if "service" in words[:-1]:
            return words[words.index("service") + 1]
        names = [Path(w).name for w in words[:3]]
        for name in ("supervisord", "keepalived"):
            if name in names:
                return name
        if "run" in words:
            return "hakeeper run"
        return " ".join(names)
    return str(pid)


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    found: dict[int, float] = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            found[pid] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return found


def memory(pids: list[int]) -> tuple[int, int]:
    rss = pss = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1]) * 1024
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1]) * 1024
    return rss, pss


@contextlib.contextmanager
def sampling(a: LabNode, b: LabNode, vips: set[str], every: float = 0.02) -> Iterator[list[int]]:
    """Counts, per sample, the VIPs held by both nodes at once."""
    doubles: list[int] = []
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            both = a.addresses() & b.addresses() & vips
            doubles.append(len(both))
            stop.wait(every)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        yield doubles
    finally:
        stop.set()
        thread.join()


def settle(a: LabNode, b: LabNode, vips: set[str]) -> float:
    started = time.monotonic()
    while time.monotonic() - started < SETTLE_TIMEOUT:
        if vips <= a.addresses() and not vips & b.addresses():
            return time.monotonic() - started
        time.sleep(0.2)
    raise SystemExit(f"nodes did not settle: a holds {len(vips & a.addresses())}, b {len(vips & b.addresses())}")


def measure(node: LabNode, seconds: float) -> Usage:
    pids = node.processes()
    before = cpu_seconds(pids)
    time.sleep(seconds)
    after = cpu_seconds(pids)
    used = sum(after[pid] - before[pid] for pid in after if pid in before)
    rss, pss = memory(pids)
    by_program: dict[str, tuple[float, int]] = {}
    for pid in after:
        name = program(pid)
        if name in by_program:
            name = f"{name} ({pid})"
        by_program[name] = (after[pid] - before.get(pid, after[pid]), memory([pid])[0])
    return Usage(used, rss, pss, len(pids), by_program)


def backup_takeovers(node: LabNode, kind: str) -> int:
    if kind == "keepalived":
        return node.log_text().count("Entering MASTER STATE")
    out = node.hakeeper("status", "--json", "--runtime-dir", str(node.runtime_dir))
    counters = json.loads(out.stdout).get("counters", {}).get("vrrp", {})
    return int(counters.get("transitions_to_master", 0))


def run(kind: str, instances: int, seconds: float) -> dict[str, object]:
    workdir = Path(tempfile.mkdtemp(prefix=f"hk-scale-{kind}-"))
    lan = Lan(workdir)
    try:
        a, b = lan.add_node("a"), lan.add_node("b")
        vips = {vip(i) for i in range(1, instances + 1)}
        for node, priority in ((a, 200), (b, 100)):
            path = workdir / f"{node.name}.conf"
            path.write_text(config(instances, priority, keepalived=kind == "keepalived"))
            if kind == "keepalived":
                node.start_keepalived(path, "--vrrp")
            else:
                node.start(path)
        settled = settle(a, b, vips)
        time.sleep(2.0)  # past the gratuitous ARP bursts of the takeover
        takeovers_before = backup_takeovers(b, kind)
        with sampling(a, b, vips) as doubles:
            results: dict[str, Usage] = {}
            threads = [
                threading.Thread(target=lambda n=n: results.__setitem__(n.name, measure(n, seconds))) for n in (a, b)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        takeovers = backup_takeovers(b, kind) - takeovers_before
        return {
            "kind": kind,
            "instances": instances,
            "seconds": seconds,
            "settled_after_s": round(settled, 1),
            "master_cpu_percent": round(100 * results["a"].cpu_seconds / seconds, 1),
            "backup_cpu_percent": round(100 * results["b"].cpu_seconds / seconds, 1),
            "master_rss_mb": round(results["a"].rss_bytes / 2**20, 1),
            "master_pss_mb": round(results["a"].pss_bytes / 2**20, 1),
            "backup_rss_mb": round(results["b"].rss_bytes / 2**20, 1),
            "backup_pss_mb": round(results["b"].pss_bytes / 2**20, 1),
            "processes": results["a"].processes,
            "samples": len(doubles),
            "dual_master_samples": sum(1 for d in doubles if d),
            "backup_takeovers": takeovers,
            "by_program": {
                node: {
                    name: {"cpu_percent": round(100 * cpu / seconds, 2), "rss_mb": round(rss / 2**20, 1)}
                    for name, (cpu, rss) in results[node].by_program.items()
                }
                for node in ("a", "b")
            },
        }
    finally:
        lan.close()
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--only", choices=("hakeeper", "keepalived"))
    args = parser.parse_args()
    kinds = [args.only] if args.only else ["hakeeper", "keepalived"]
    failed = False
    for kind in kinds:
        result = run(kind, args.instances, args.seconds)
        print(json.dumps(result), flush=True)
        failed |= bool(result["dual_master_samples"]) or bool(result["backup_takeovers"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
