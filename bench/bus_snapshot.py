"""Bus snapshot: how long a new subscriber takes to hold a node's whole state of 10,000 keys.

One publisher gives the hub (`hakeeper service bus`, its own process) 10,000
keys, each an instance state of 8 fields, and closes; the hub keeps them. Then
a subscriber is constructed again and again in this process, and each time the
clock runs from its construction until its first `StateReset`, which must hold
every key. Only the runtime directory's IPC sockets are used.

    .venv/bin/python bench/bus_snapshot.py [--keys 10000] [--runs 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import msgpack

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bus_latency import exit_on_sigterm, running_hub
from bus.messages import Value
from bus.publisher import Publisher
from bus.subscriber import Subscriber
from bus.subscriber_core import StateReset


def instance_state(n: int) -> dict[str, Value]:
    return {
        "state": "MASTER" if n % 2 else "BACKUP",
        "base_priority": 100 + n % 50,
        "effective_priority": 100 + n % 50 - (20 if n % 7 == 0 else 0),
        "interface": f"eth{n % 4}",
        "virtual_router_id": n % 255 + 1,
        "vips": [f"198.51.{100 + n // 250}.{n % 250 + 1}/32"],
        "master": f"192.0.2.{n % 250 + 1}",
        "since": 1_718_000_000.0 + n,
    }


def time_snapshot(runtime_dir: Path, keys: int) -> float:
    """Seconds from constructing a subscriber to its first StateReset; raises if the state is incomplete."""
    start = time.perf_counter()
    subscriber = Subscriber(runtime_dir, want_events=False)
    try:
        deadline = start + 10
        while time.perf_counter() < deadline:
            for effect in subscriber.poll(1.0):
                if isinstance(effect, StateReset):
                    elapsed = time.perf_counter() - start
                    if len(effect.items) != keys:
                        raise RuntimeError(f"the snapshot held {len(effect.items)} keys, not {keys}")
                    return elapsed
        raise RuntimeError("no snapshot within 10 s")
    finally:
        subscriber.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=10_000, help="keys in the node's state (default 10000)")
    parser.add_argument("--runs", type=int, default=20, help="subscribers timed (default 20)")
    args = parser.parse_args()
    exit_on_sigterm()
    state = {f"vrrp/VI_{n}": instance_state(n) for n in range(args.keys)}
    with tempfile.TemporaryDirectory() as tmp, running_hub(Path(tmp) / "run"):
        runtime_dir = Path(tmp) / "run"
        publisher = Publisher("vrrp", runtime_dir)
        try:
            for key, value in state.items():
                publisher.set(key, value)
            if not publisher.flush(30):
                print("BROKEN RUN: the hub did not take the state")
                return 1
        finally:
            publisher.close()
        try:
            timings = [time_snapshot(runtime_dir, args.keys) for _ in range(args.runs)]
        except RuntimeError as error:
            print(f"BROKEN RUN: {error}")
            return 1
    items = {key: {"value": value, "publisher": "vrrp"} for key, value in state.items()}
    size = len(msgpack.packb(items))
    print(f"bus snapshot, {args.keys} keys of 8 fields ({size / 1e6:.2f} MB encoded), {args.runs} new subscribers")
    print(f"  {'best':<8} {min(timings) * 1000:>9.1f} ms")
    print(f"  {'median':<8} {statistics.median(timings) * 1000:>9.1f} ms")
    print(f"  {'worst':<8} {max(timings) * 1000:>9.1f} ms")
    print(f"  goal median < 100 ms: {'met' if statistics.median(timings) < 0.1 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
