"""The bus over real ZeroMQ sockets: hub, publishers and subscribers in one process or several."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import zmq

from bus.endpoints import Endpoints
from bus.hub import Hub
from bus.messages import Hello, encode
from bus.publisher import Publisher
from bus.subscriber import Subscriber
from bus.subscriber_core import Effect, EventDelivered, Missed, Start, StateChanged, StateReset
from tests.conftest import wait_for

ROOT = Path(__file__).resolve().parents[2]


class Collector:
    """Runs a subscriber and records what it delivers."""

    def __init__(self, subscriber: Subscriber) -> None:
        self.subscriber = subscriber
        self.events: list[tuple[int, int]] = []  # (hub epoch, seq)
        self.payloads: list[object] = []
        self.missed: list[Missed] = []
        self.resets = 0
        self.changes: list[StateChanged] = []

    def pump(self, timeout: float = 0.05) -> list[Effect]:
        effects = self.subscriber.poll(timeout)
        for effect in effects:
            if isinstance(effect, EventDelivered):
                self.events.append((effect.event.hub_epoch, effect.event.seq))
                self.payloads.append(effect.event.data.get("n"))
            elif isinstance(effect, Missed):
                self.missed.append(effect)
            elif isinstance(effect, StateReset):
                self.resets += 1
            elif isinstance(effect, StateChanged):
                self.changes.append(effect)
        return effects


def publisher(rundir: Path, name: str = "vrrp") -> Publisher:
    return Publisher(name, rundir, ping_interval=0.1, hub_timeout=0.5)


def test_runtime_directory_and_sockets_are_private(hub: Hub, rundir: Path) -> None:
    assert rundir.stat().st_mode & 0o777 == 0o700
    for path in Endpoints.socket_paths(rundir):
        assert path.is_socket() and path.stat().st_mode & 0o777 == 0o600


def test_late_joiner_sees_snapshot_and_updates_without_gap_or_duplicate(hub: Hub, rundir: Path) -> None:
    pub = publisher(rundir)
    for n in range(300):
        pub.set(f"vrrp/VI_{n % 50}", {"n": n})
        pub.post("vrrp/VI_1", {"n": n})
    assert pub.flush(10)
    late = Collector(Subscriber(rundir, since=Start.HISTORY))
    try:
        for n in range(300, 600):  # keep publishing while the late joiner syncs
            pub.set(f"vrrp/VI_{n % 50}", {"n": n})
            pub.post("vrrp/VI_1", {"n": n})
            pub.process()
            late.pump(0)
        assert pub.flush(10)
        wait_for(lambda: len(late.events) >= 600, step=late.pump)
        assert late.payloads == list(range(600))
        assert [seq for _, seq in late.events] == list(range(1, 601))
        assert late.subscriber.core.state == pub.core.state
        assert late.missed == []
    finally:
        late.subscriber.close()
        pub.close()


def test_publisher_restart_replaces_its_keys(hub: Hub, rundir: Path) -> None:
    first = publisher(rundir)
    first.set("vrrp/VI_1", {"state": "MASTER"})
    first.set("vrrp/VI_2", {"state": "BACKUP"})
    assert first.flush(5)
    watcher = Collector(Subscriber(rundir, want_events=False))
    try:
        wait_for(lambda: watcher.resets > 0, step=watcher.pump)
        assert set(watcher.subscriber.core.state) == {"vrrp/VI_1", "vrrp/VI_2"}
        first.close()
        second = publisher(rundir)  # the same service, restarted: a new epoch
        second.set("vrrp/VI_1", {"state": "BACKUP"})
        assert second.flush(5)
        wait_for(lambda: watcher.subscriber.core.state == {"vrrp/VI_1": {"state": "BACKUP"}}, step=watcher.pump)
        assert any(c.key == "vrrp/VI_2" and c.deleted for c in watcher.changes)
        assert hub.core.publishers["vrrp"].epoch == second.epoch
        assert hub.core.counters.get("publisher_restarts") == 1
        second.close()
    finally:
        watcher.subscriber.close()


def test_subscriber_restart_resumes_exactly_the_missed_events(hub: Hub, rundir: Path) -> None:
    pub = publisher(rundir)
    first = Collector(Subscriber(rundir, want_state=False, since=Start.HISTORY))
    for n in range(50):
        pub.post("vrrp/VI_1", {"n": n})
    assert pub.flush(5)
    wait_for(lambda: len(first.events) == 50, step=first.pump)
    cursor = first.subscriber.core.cursor
    first.subscriber.close()
    assert cursor is not None and cursor[1] == 50
    for n in range(50, 120):
        pub.post("vrrp/VI_1", {"n": n})
    assert pub.flush(5)
    second = Collector(Subscriber(rundir, want_state=False, since=cursor))
    try:
        wait_for(lambda: len(second.events) >= 70, step=second.pump)
        for _ in range(5):
            second.pump(0.05)
        assert second.payloads == list(range(50, 120))
        assert second.missed == []
    finally:
        second.subscriber.close()
        pub.close()


def test_resume_beyond_the_history_is_told_explicitly(rundir: Path) -> None:
    small = Hub(rundir, heartbeat_interval=0.1, history_size=100)
    small.bind()
    stop = threading.Event()
    thread = threading.Thread(target=small.run, args=(stop,), daemon=True)
    thread.start()
    pub = publisher(rundir)
    try:
        for n in range(400):
            pub.post("vrrp/VI_1", {"n": n})
        assert pub.flush(5)
        behind = Collector(Subscriber(rundir, want_state=False, since=(small.core.epoch, 10)))
        wait_for(lambda: len(behind.events) >= 100, step=behind.pump)
        assert [(m.count, m.epoch_changed) for m in behind.missed] == [(290, False)]
        assert behind.payloads == list(range(300, 400))
        behind.subscriber.close()
    finally:
        pub.close()
        stop.set()
        thread.join(5)
        small.close()


def test_stalled_subscriber_never_blocks_the_publisher_and_is_resynced(rundir: Path) -> None:
    # Tiny high-water marks: the hub batches what it has ready, so few frames carry many events.
    hub = Hub(rundir, heartbeat_interval=0.1, history_size=100_000, publish_hwm=5)
    hub.bind()
    stop = threading.Event()
    thread = threading.Thread(target=hub.run, args=(stop,), daemon=True)
    thread.start()
    pub = publisher(rundir)
    stalled = Collector(Subscriber(rundir, since=Start.HISTORY, receive_hwm=5))
    try:
        stalled.pump(0.2)  # started; from now on it reads nothing
        started = time.monotonic()
        for n in range(30_000):
            pub.post("vrrp/VI_1", {"n": n})
            if n % 1000 == 0:
                pub.set("vrrp/VI_1", {"n": n})
                pub.process()
        assert pub.flush(30)
        assert time.monotonic() - started < 20  # never held up by the stalled reader
        wait_for(lambda: len(stalled.events) >= 30_000, timeout=60, step=stalled.pump)
        assert stalled.payloads == list(range(30_000))
        assert stalled.subscriber.core.resyncs > 2  # it did lose messages at its high-water mark, and caught up
        assert stalled.subscriber.core.state == pub.core.state
    finally:
        stalled.subscriber.close()
        pub.close()
        stop.set()
        thread.join(5)
        hub.close()


def test_garbage_and_oversized_frames_are_counted_and_dropped(hub: Hub, rundir: Path) -> None:
    context = zmq.Context()
    attacker = context.socket(zmq.DEALER)
    attacker.linger = 0
    requester = context.socket(zmq.DEALER)
    requester.linger = 0
    endpoints = Endpoints.in_dir(rundir)
    attacker.connect(endpoints.ingest)
    requester.connect(endpoints.request)
    try:
        attacker.send(b"\xc1 not msgpack")
        attacker.send(b"\x93\x01\x02\x03")  # msgpack, but a list
        attacker.send_multipart([b"two", b"frames"])
        attacker.send(encode(Hello("x", 1, 1)).replace(b"\xa1v\x01", b"\xa1v\x63"))  # another schema version
        attacker.send(b"\x81\xa1v\x01")  # a map without a type
        attacker.send(b"\0" * (17 * 1024 * 1024))  # beyond the ingest limit
        requester.send(b"\xff" * 10)
        requester.send(b"\0" * (100 * 1024))
        counters = hub.core.counters
        wait_for(lambda: sum(counters.values.values()) >= 8)
        assert counters.get("drop_undecodable") == 3
        assert counters.get("drop_bad_frames") == 1
        assert counters.get("drop_schema_version") == 1
        assert counters.get("drop_unknown_type") == 1
        assert counters.get("drop_oversized") == 2
        # ... and the hub still works
        pub = publisher(rundir)
        pub.set("vrrp/VI_1", {"ok": True})
        assert pub.flush(5)
        assert hub.core.state["vrrp/VI_1"].value == {"ok": True}
        pub.close()
    finally:
        attacker.close()
        requester.close()
        context.term()


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_no_descriptor_leak_across_a_thousand_connections(hub: Hub, rundir: Path) -> None:
    pub = publisher(rundir)
    pub.set("k", 1)
    assert pub.flush(5)
    before = _open_fds()
    for cycle in range(1000):
        subscriber = Subscriber(rundir, want_events=cycle % 2 == 0)
        subscriber.poll(0)
        subscriber.close()
        if cycle % 100 == 0:
            other = Publisher(f"p{cycle}", rundir)
            other.close()
    assert _open_fds() - before <= 2
    pub.close()


def test_hub_restart_is_detected_and_everyone_resyncs(rundir: Path) -> None:
    def start_hub() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "service", "bus", "--runtime-dir", str(rundir)],
            cwd=ROOT,
        )
        wait_for((rundir / "bus-req.sock").exists)
        return proc

    hub_proc = start_hub()
    pub = publisher(rundir)
    watcher = Collector(Subscriber(rundir, since=Start.HISTORY, silence_timeout=1.0))
    try:
        pub.set("vrrp/VI_1", {"state": "MASTER"})
        pub.post("vrrp/VI_1", {"n": 0})
        assert pub.flush(5)
        wait_for(lambda: len(watcher.events) == 1 and watcher.subscriber.core.state, step=watcher.pump)
        first_epoch = watcher.events[0][0]

        hub_proc.send_signal(signal.SIGTERM)
        assert hub_proc.wait(10) == 0
        pub.post("vrrp/VI_1", {"n": 1})  # while the hub is down: kept until it is back
        hub_proc = start_hub()

        def settled() -> bool:
            pub.process()
            watcher.pump(0.05)
            return len(watcher.events) == 2 and bool(watcher.subscriber.core.state)

        wait_for(settled, timeout=15)
        assert watcher.payloads == [0, 1]
        second_epoch = watcher.events[1][0]
        assert second_epoch != first_epoch
        assert [m.epoch_changed for m in watcher.missed] == [True]
        assert watcher.subscriber.core.state == {"vrrp/VI_1": {"state": "MASTER"}}
    finally:
        watcher.subscriber.close()
        pub.close()
        hub_proc.send_signal(signal.SIGTERM)
        hub_proc.wait(10)
    assert not any(rundir.iterdir()), "the hub leaves no socket behind"


def test_garbage_reaching_subscribers_and_publishers_is_counted_and_dropped(rundir: Path) -> None:
    """A peer that is not a hub (real sockets bound where the hub would be) cannot break the clients."""
    rundir.mkdir(mode=0o700)
    endpoints = Endpoints.in_dir(rundir)
    context = zmq.Context()
    fake_pub = context.socket(zmq.PUB)
    fake_req = context.socket(zmq.ROUTER)
    fake_ingest = context.socket(zmq.ROUTER)
    for socket, url in ((fake_pub, endpoints.publish), (fake_req, endpoints.request), (fake_ingest, endpoints.ingest)):
        socket.linger = 0
        socket.bind(url)
    subscriber = Subscriber(rundir, since=Start.HISTORY)
    pub = publisher(rundir)
    try:
        subscriber.poll(0.1)
        [identity, _] = fake_req.recv_multipart()  # its first request
        fake_req.send_multipart([identity, b"\xc1junk"])
        [ingest_id, _] = fake_ingest.recv_multipart()  # the publisher's hello
        fake_ingest.send_multipart([ingest_id, b"\x92\x01\x02"])

        def garbage_counted() -> bool:
            fake_pub.send_multipart([b"E", b"not msgpack \xc1"])
            fake_pub.send_multipart([b"H"])
            subscriber.poll(0.05)
            pub.process()
            return (
                subscriber.counters.get("drop_undecodable") >= 2
                and subscriber.counters.get("drop_bad_frames") >= 1
                and pub.core.counters.get("drop_undecodable") == 1
            )

        wait_for(garbage_counted)
    finally:
        subscriber.close()
        pub.close()
        for socket in (fake_pub, fake_req, fake_ingest):
            socket.close()
        context.term()


def test_a_hub_woken_through_its_wake_fd_sleeps_until_its_deadlines(tmp_path: Path) -> None:
    """With a wake descriptor the hub waits for traffic or its next deadline (a heartbeat a
    second), not in tenths of a second; writing to the descriptor is what ends its wait."""
    hub = Hub(tmp_path / "run", heartbeat_interval=60.0)
    hub.bind()
    turns: list[float] = []
    run_once = hub.run_once

    def counted(poller: zmq.Poller, max_wait: float) -> dict[object, int]:
        turns.append(time.monotonic())
        return run_once(poller, max_wait)

    hub.run_once = counted  # type: ignore[method-assign]
    wake_read, wake_write = os.pipe2(os.O_NONBLOCK)
    stop = threading.Event()
    thread = threading.Thread(target=hub.run, args=(stop, wake_read))
    thread.start()
    try:
        sub = Subscriber(tmp_path / "run", want_state=True, want_events=False)
        wait_for(lambda: bool(sub.poll(0.05)) or sub.core.caught_up)
        sub.close()
        # A quiet half second: no traffic and no deadline, so no turn (a 0.1 s tick would take five).
        before = len(turns)
        quiet_until = time.monotonic() + 0.5
        wait_for(lambda: time.monotonic() >= quiet_until)
        assert len(turns) - before <= 1, turns[before:]
        stop.set()
        os.write(wake_write, b"\0")
        thread.join(5.0)
        assert not thread.is_alive()
    finally:
        stop.set()
        os.write(wake_write, b"\0")
        thread.join(5.0)
        hub.close()
        os.close(wake_read)
        os.close(wake_write)
