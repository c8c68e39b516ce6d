"""Bus resume: how long a subscriber takes to catch up from a cursor 5,000 events behind.

A subscriber takes its cursor from the hub (`hakeeper service bus`, its own
process); then one publisher posts 5,000 events of 6 fields and closes. A new
subscriber is then constructed from that cursor again and again in this
process, and each time the clock runs from its construction until the 5,000th
event is delivered; they must come in order, none missed. Only the runtime
directory's IPC sockets are used.

    .venv/bin/python bench/bus_resume.py [--events 5000] [--runs 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bus_latency import exit_on_sigterm, running_hub
from bus.publisher import Publisher
from bus.subscriber import Subscriber
from bus.subscriber_core import EventDelivered, Missed, Start


def current_cursor(runtime_dir: Path) -> tuple[int, int]:
    with Subscriber(runtime_dir, want_state=False, since=Start.NOW) as subscriber:
        deadline = time.monotonic() + 10
        while subscriber.core.cursor is None or not subscriber.core.caught_up:
            if time.monotonic() > deadline:
                raise RuntimeError("the hub did not answer")
            subscriber.poll(0.1)
        return subscriber.core.cursor


def post_events(runtime_dir: Path, count: int) -> bool:
    publisher = Publisher("vrrp", runtime_dir)
    try:
        for n in range(count):
            instance = f"VI_{n % 500}"
            data = {
                "instance": instance,
                "state": "MASTER",
                "previous": "BACKUP",
                "priority": 100 + n % 50,
                "reason": "higher priority advert",
                "n": n,
            }
            publisher.post(f"vrrp/{instance}", data)
            if n % 100 == 0:
                publisher.process()  # take the acks, or every post walks a growing outbox
        return publisher.flush(30)
    finally:
        publisher.close()


def time_resume(runtime_dir: Path, cursor: tuple[int, int], count: int) -> float:
    """Seconds from constructing a subscriber at `cursor` to the last event delivered; raises if any is wrong."""
    expected = cursor[1] + 1
    start = time.perf_counter()
    with Subscriber(runtime_dir, want_state=False, since=cursor) as subscriber:
        while expected <= cursor[1] + count:
            if time.perf_counter() - start > 10:
                raise RuntimeError(f"only {expected - cursor[1] - 1} of {count} events within 10 s")
            for effect in subscriber.poll(1.0):
                if isinstance(effect, Missed):
                    raise RuntimeError(f"{effect.count} events reported missed")
                if isinstance(effect, EventDelivered):
                    if effect.event.seq != expected:
                        raise RuntimeError(f"event {effect.event.seq} delivered where {expected} was due")
                    expected += 1
        return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5_000, help="events behind the cursor (default 5000)")
    parser.add_argument("--runs", type=int, default=20, help="subscribers timed (default 20)")
    args = parser.parse_args()
    exit_on_sigterm()
    with tempfile.TemporaryDirectory() as tmp, running_hub(Path(tmp) / "run", history=max(10_000, args.events)):
        runtime_dir = Path(tmp) / "run"
        try:
            cursor = current_cursor(runtime_dir)
            if not post_events(runtime_dir, args.events):
                raise RuntimeError("the hub did not take the events")
            timings = [time_resume(runtime_dir, cursor, args.events) for _ in range(args.runs)]
        except RuntimeError as error:
            print(f"BROKEN RUN: {error}")
            return 1
    best, median = min(timings), statistics.median(timings)
    print(f"bus resume, {args.events} events of 6 fields behind the cursor, {args.runs} new subscribers")
    print(f"  {'best':<8} {best * 1000:>9.1f} ms  ({args.events / best:,.0f} events/s)")
    print(f"  {'median':<8} {median * 1000:>9.1f} ms  ({args.events / median:,.0f} events/s)")
    print(f"  {'worst':<8} {max(timings) * 1000:>9.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
