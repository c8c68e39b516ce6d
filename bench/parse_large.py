"""Parse a generated 20,000-line keepalived.conf: 500 vrrp_instances, 300 virtual_servers x 5 real_servers.

The configuration uses include files and ~SEQ lines, as large generated
configurations do. Prints the line counts and the best of several timed loads,
pinned to one core.

    .venv/bin/python bench/parse_large.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from conf.load import load

INSTANCES = 500
VIRTUAL_SERVERS = 300
REAL_SERVERS = 5
INCLUDE_FILES = 10


def instance(n: int) -> str:
    net = 100 + n // 250
    host = n % 250 + 1
    return f"""\
vrrp_instance VI_{n} {{
    state BACKUP
    interface eth{n % 4}
    virtual_router_id {n % 255 + 1}
    priority {100 + n % 50}
    advert_int 1
    nopreempt
    authentication {{
        auth_type PASS
        auth_pass pw{n % 1000:04d}
    }}
    track_script {{
        chk_service weight -20
    }}
    virtual_ipaddress {{
        ~SEQ(V, 1, 2) 198.51.{net}.{host}/32 dev eth{n % 4} label eth{n % 4}:${{V}}
        203.0.113.{host}/24 dev eth{n % 4}
    }}
    notify_master "/etc/keepalived/notify.sh master VI_{n}"
    notify_backup "/etc/keepalived/notify.sh backup VI_{n}"
    notify_fault "/etc/keepalived/notify.sh fault VI_{n}"
}}
"""


def virtual_server(n: int) -> str:
    third = n // 250
    fourth = n % 250 + 1
    reals = "".join(
        f"""\
    real_server 192.0.2.{r + 10} {8000 + n} {{
        weight {r}
        TCP_CHECK {{
            connect_timeout 3
            retry 3
            delay_before_retry 2
        }}
    }}
"""
        for r in range(1, REAL_SERVERS + 1)
    )
    return f"""\
virtual_server 198.51.{200 + third}.{fourth} {8000 + n} {{
    delay_loop 6
    lb_algo wrr
    lb_kind NAT
    persistence_timeout 50
    protocol TCP
    quorum 2
{reals}}}
"""


def generate(directory: Path) -> Path:
    main = directory / "keepalived.conf"
    parts = directory / "conf.d"
    parts.mkdir()
    header = """\
global_defs {
    router_id bench
    vrrp_garp_master_delay 2
    enable_script_security
}
vrrp_script chk_service {
    script "/usr/local/bin/check_service"
    interval 2
    weight -20
}
include conf.d/*.conf
"""
    main.write_text(header)
    per_file = INSTANCES // INCLUDE_FILES
    for i in range(INCLUDE_FILES):
        body = "".join(instance(n) for n in range(i * per_file, (i + 1) * per_file))
        (parts / f"vrrp-{i:02d}.conf").write_text(body)
    (parts / "lvs.conf").write_text("".join(virtual_server(n) for n in range(VIRTUAL_SERVERS)))
    return main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    with tempfile.TemporaryDirectory() as tmp:
        path = generate(Path(tmp))
        physical = sum(len(p.read_text().splitlines()) for p in Path(tmp).rglob("*.conf"))
        timings = []
        loaded = None
        for _ in range(args.runs):
            start = time.perf_counter()
            loaded = load(str(path), config_id="bench")
            timings.append(time.perf_counter() - start)
        assert loaded is not None
        config = loaded.config
        errors = [d.render() for d in loaded.diagnostics.errors()]
        if errors:
            print("unexpected errors:", *errors[:5], sep="\n  ")
            return 1
        real_servers = sum(len(vs.real_servers) for vs in config.virtual_servers)
        print(f"files: {len(loaded.files)}, physical lines: {physical}")
        print(f"vrrp_instances: {len(config.vrrp_instances)}, virtual_servers: {len(config.virtual_servers)}, "
              f"real_servers: {real_servers}")
        print(f"parse + build, one core, best of {args.runs}: {min(timings):.3f} s "
              f"(median {statistics.median(timings):.3f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
