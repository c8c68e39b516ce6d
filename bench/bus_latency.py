"""Bus latency: publisher → hub → subscriber at a steady event rate, each in its own process.

The hub runs as `hakeeper service bus`, the publisher in a child process, the
subscriber in this one; all three use the IPC sockets of one runtime directory
under a temporary directory. Each event carries the sender's CLOCK_MONOTONIC
(system-wide on Linux); the subscriber reads the same clock when `poll()` hands
the event over. Exits non-zero if any event was lost.

    .venv/bin/python bench/bus_latency.py [--rate 10000] [--seconds 5]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bus.endpoints import Endpoints
from bus.publisher import Publisher
from bus.subscriber import Subscriber
from bus.subscriber_core import EventDelivered, Missed, Start

ROOT = Path(__file__).resolve().parent.parent
TOPIC = "vrrp/VI_7"


def now() -> float:
    return time.clock_gettime(time.CLOCK_MONOTONIC)


def exit_on_sigterm() -> None:
    """Make SIGTERM unwind like Ctrl-C, so that the `finally` blocks stop what was started."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def running_hub(
    runtime_dir: Path, history: int = 10_000, profile: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """`hakeeper service bus` as supervisord runs it; stopped on the way out, whatever happens.

    With `profile`, the hub runs under cProfile, which writes the file when the hub exits on SIGTERM.
    """
    log_path = runtime_dir.parent / "hub.log"
    python = [sys.executable, "-m", "cProfile", "-o", str(profile.resolve())] if profile else [sys.executable]
    command = [*python, "-m", "services.cli", "service", "bus", "--runtime-dir", str(runtime_dir)]
    with log_path.open("wb") as log:
        hub = subprocess.Popen([*command, "--bus-history", str(history)], cwd=ROOT, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 10
        while not all(path.is_socket() for path in Endpoints.socket_paths(runtime_dir)):
            if hub.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the hub did not start:\n{log_path.read_text()}")
            time.sleep(0.01)
        yield hub
    finally:
        stop_process(hub)


def cpu_seconds(pid: int) -> float:
    """User and system time of a process, all its threads, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_publisher(runtime_dir: Path, rate: float, count: int) -> int:
    """The child process: post `count` events on a fixed schedule, then report as one JSON line."""
    publisher = Publisher("vrrp", runtime_dir)
    try:
        if not publisher.flush(10):  # welcomed: from here on every post goes straight out
            return 1
        cpu, start = time.process_time(), now()
        worst_lag = 0.0
        sent = start
        for n in range(count):
            # Deadlines from the start, so that a late send does not shift all the ones after it.
            ahead = start + n / rate - now()
            if ahead > 0:
                time.sleep(ahead)
            else:
                worst_lag = max(worst_lag, -ahead)
            sent = now()
            data = {"instance": "VI_7", "state": "MASTER", "previous": "BACKUP", "priority": 102, "n": n, "sent": sent}
            publisher.post(TOPIC, data)
            publisher.process()  # take the acks, or the outbox grows and every post walks it
        flushed = publisher.flush(10)
        report = {
            "cpu": time.process_time() - cpu,
            "rate": (count - 1) / (sent - start) if count > 1 else 0.0,
            "worst_lag": worst_lag,
            "flushed": flushed,
        }
        print(json.dumps(report), flush=True)
        return 0 if flushed else 1
    finally:
        publisher.close()


def receive(subscriber: Subscriber, count: int, publisher: subprocess.Popen[bytes]) -> tuple[list[float], int, int]:
    """Latencies in seconds, distinct events received, events reported missed."""
    latencies: list[float] = []
    seen: set[int] = set()
    missed = 0
    last_heard = now()
    while len(seen) < count:
        effects = subscriber.poll(0.1)
        arrived = now()
        for effect in effects:
            if isinstance(effect, EventDelivered):
                latencies.append(arrived - effect.event.data["sent"])
                seen.add(effect.event.data["n"])
            elif isinstance(effect, Missed):
                missed += effect.count
        if effects:
            last_heard = arrived
        elif arrived - last_heard > (2 if publisher.poll() is not None else 10):
            break  # nothing more is coming: the publisher is done, or something is stuck
    return latencies, len(seen), missed


def percentile(ordered: list[float], fraction: float) -> float:
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=10_000, help="events per second (default 10000)")
    parser.add_argument("--seconds", type=float, default=5, help="how long to send (default 5)")
    parser.add_argument("--profile-hub", type=Path, metavar="FILE", help="run the hub under cProfile, stats to FILE")
    parser.add_argument(
        "--realtime",
        type=int,
        metavar="PRIO",
        help="run the hub, publisher and subscriber with SCHED_FIFO at PRIO (as keepalived's *_rt_priority does)",
    )
    parser.add_argument("--publisher", type=Path, help=argparse.SUPPRESS)  # the child process's role
    args = parser.parse_args()
    exit_on_sigterm()
    if args.realtime and args.publisher is None:
        # Set before the hub and the publisher start, so that they inherit it.
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(args.realtime))
    count = int(args.rate * args.seconds)
    if args.publisher is not None:
        return run_publisher(args.publisher, args.rate, count)

    with tempfile.TemporaryDirectory() as tmp, running_hub(Path(tmp) / "run", profile=args.profile_hub) as hub:
        runtime_dir = Path(tmp) / "run"
        subscriber = Subscriber(runtime_dir, want_state=False, since=Start.NOW)
        try:
            deadline = time.monotonic() + 10
            while not subscriber.core.caught_up:
                if time.monotonic() > deadline:
                    print("BROKEN RUN: the subscriber did not get going")
                    return 1
                subscriber.poll(0.1)
            hub_cpu, own_cpu, started = cpu_seconds(hub.pid), time.process_time(), now()
            child = [sys.executable, __file__, "--publisher", str(runtime_dir), *sys.argv[1:]]
            publisher = subprocess.Popen(child, cwd=ROOT, stdout=subprocess.PIPE)
            try:
                latencies, received, missed = receive(subscriber, count, publisher)
                hub_cpu, own_cpu = cpu_seconds(hub.pid) - hub_cpu, time.process_time() - own_cpu
                wall = now() - started
                output, _ = publisher.communicate(timeout=30)
            finally:
                stop_process(publisher)
        finally:
            subscriber.close()
        hub_alive = hub.poll() is None

    if publisher.returncode != 0 or not output.strip():
        print(f"the publisher failed (exit {publisher.returncode})")
        return 1
    sender = json.loads(output)
    ordered = sorted(latencies)
    lost = count - received
    rows = [
        ("events sent", f"{count}"),
        ("events received", f"{received}"),
        ("lost", f"{lost}"),
        ("reported missed", f"{missed}"),
        ("send rate achieved", f"{sender['rate']:,.0f} /s"),
        ("sender worst lag", f"{sender['worst_lag'] * 1000:.2f} ms"),
        *[
            (f"cpu {name}", f"{seconds:.1f} s, {seconds / wall:.0%} of a core")
            for name, seconds in (("hub", hub_cpu), ("publisher", sender["cpu"]), ("subscriber", own_cpu))
        ],
    ]
    if ordered:
        rows += [
            (f"latency p{label}", f"{percentile(ordered, fraction) * 1000:.3f} ms")
            for label, fraction in (("50", 0.50), ("90", 0.90), ("99", 0.99))
        ]
        rows.append(("latency max", f"{ordered[-1] * 1000:.3f} ms"))
        rows.append(("latency mean", f"{statistics.fmean(ordered) * 1000:.3f} ms"))
    print(f"bus latency, {args.rate:,.0f} events/s for {args.seconds:g} s, hub and publisher in their own processes")
    for name, value in rows:
        print(f"  {name:<20} {value:>24}")
    if ordered:
        p99 = percentile(ordered, 0.99) * 1000
        print(f"  goal p99 < 2 ms: {'met' if p99 < 2 else 'NOT met'}")
    broken = lost != 0 or missed != 0 or not hub_alive
    if broken:
        print("BROKEN RUN: events were lost or reported missed, or the hub died")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
