"""Many vrrp_scripts: how late the healthcheck service starts each run, and what it costs.

One hakeeper node (tests/lab.py) with N vrrp_scripts (`/bin/true`, `interval 1`)
tracked by one instance. After a warm-up, for `--seconds`: the healthcheck
process's CPU (its own, and its children's: the scripts), the runs started,
and from counters/healthcheck the lateness of each run after the first (when
it started after it was due): p50, p99 and max over the whole run. Runs started
per second equal to N means no run was lost and nothing drifted.

Needs root.

    .venv/bin/python bench/healthcheck_scripts.py [--scripts 1000] [--seconds 60]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.lab import Lan

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
WARM_UP = 5.0


def config(scripts: int) -> str:
    lines = ["global_defs {", "    enable_script_security", "    script_user root", "}"]
    for index in range(scripts):
        lines += [f"vrrp_script chk_{index} {{", '    script "/bin/true"', "    interval 1", "}"]
    lines += [
        "vrrp_instance VI_1 {",
        "    interface eth0",
        "    virtual_router_id 51",
        "    priority 100",
        "    advert_int 1",
        "    virtual_ipaddress {",
        "        192.0.2.100/24",
        "    }",
        "    track_script {",
        *[f"        chk_{index}" for index in range(scripts)],
        "    }",
        "}",
    ]
    return "\n".join(lines) + "\n"


def cpu(pid: int) -> tuple[float, float]:
    """(own, reaped children's) CPU seconds of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    own = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    children = (int(fields[13]) + int(fields[14])) / CLOCK_TICKS
    return own, children


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scripts", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="hk-scripts-"))
    lan = Lan(workdir)
    try:
        node = lan.add_node("a")
        path = workdir / "a.conf"
        path.write_text(config(args.scripts))
        node.start(path)
        pid = node.pids()["healthcheck"]
        time.sleep(WARM_UP)
        own0, children0 = cpu(pid)
        runs0 = counters(node).get("script_runs", 0)
        time.sleep(args.seconds)
        own1, children1 = cpu(pid)
        found = counters(node)
        runs = found.get("script_runs", 0) - runs0
        result = {
            "scripts": args.scripts,
            "seconds": args.seconds,
            "runs_per_second": round(runs / args.seconds, 1),
            "skipped": found.get("script_runs_skipped", 0),
            "lateness_p50_ms": found.get("script_lateness_p50_us", 0) / 1000,
            "lateness_p99_ms": found.get("script_lateness_p99_us", 0) / 1000,
            "lateness_max_ms": found.get("script_lateness_max_us", 0) / 1000,
            "service_cpu_percent": round(100 * (own1 - own0) / args.seconds, 1),
            "scripts_cpu_percent": round(100 * (children1 - children0) / args.seconds, 1),
        }
        print(json.dumps(result), flush=True)
        return 0 if result["lateness_p99_ms"] < 50 else 1
    finally:
        lan.close()
        shutil.rmtree(workdir, ignore_errors=True)


def counters(node: object) -> dict[str, int]:
    out = node.hakeeper("status", "--json", "--runtime-dir", str(node.runtime_dir))  # type: ignore[attr-defined]
    return dict(json.loads(out.stdout).get("counters", {}).get("healthcheck", {}))


if __name__ == "__main__":
    sys.exit(main())
