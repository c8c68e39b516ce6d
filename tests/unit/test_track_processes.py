"""vrrp_track_process: keepalived's matching, and counting from process events or /proc."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.healthcheck.process_match import ProcessSpec, matches
from services.healthcheck.track_processes import TrackProcesses
from tests.conftest import needs_root, wait_for


def spec(**changes: object) -> ProcessSpec:
    base: dict[str, object] = {"name": "p", "process": "nginx"}
    base.update(changes)
    return ProcessSpec(**base)  # type: ignore[arg-type]


def test_the_name_is_the_15_character_comm() -> None:
    assert matches(spec(), "nginx", b"/usr/sbin/nginx\0-g\0daemon off;\0")
    assert not matches(spec(), "nginx: worker", b"")
    long_name = spec(process="mysleeper_longname_x")
    assert not matches(long_name, "mysleeper_longn", b"/tmp/mysleeper_longname_x\0")  # never, as keepalived


def test_full_command_compares_argv0_and_the_parameters() -> None:
    exact = spec(process="/usr/bin/sleep", params=b"300\x00", full_command=True)
    assert matches(exact, "sleep", b"/usr/bin/sleep\x00300\x00")
    assert not matches(exact, "sleep", b"/usr/bin/sleep\x00301\x00")
    assert not matches(exact, "sleep", b"/usr/bin/sleep\x00300\x00x\x00")
    bare = spec(process="/usr/bin/sleep", full_command=True)
    assert matches(bare, "sleep", b"/usr/bin/sleep\0") and not matches(bare, "sleep", b"/usr/bin/sleep\x00300\x00")


def test_partial_and_initial_parameters() -> None:
    partial = spec(process="/p", params=b"a\0b\0", param_match="partial", full_command=True)
    assert matches(partial, "p", b"/p\0a\0b\0c\0") and not matches(partial, "p", b"/p\0a\0bb\0")
    initial = spec(process="/p", params=b"30\0", param_match="initial", full_command=True)
    # keepalived 2.2.7 matched 300, 301, 3000 and "30 30" with `param_match initial` and 30.
    for cmdline in (b"/p\x00300\x00", b"/p\x00301\x00", b"/p\x003000\x00", b"/p\x0030\x0030\x00"):
        assert matches(initial, "p", cmdline), cmdline
    assert not matches(initial, "p", b"/p\x004\x00")


def test_quorum_bounds() -> None:
    ranged = spec(quorum=2, quorum_max=3)
    assert [ranged.ok(n) for n in range(5)] == [False, False, True, True, False]
    assert spec(quorum=0, quorum_max=0).ok(0)


@pytest.fixture
def unique_program(tmp_path: Path) -> Iterator[Path]:
    """A copy of sleep with a comm no other process has."""
    program = tmp_path / f"hkp{time.monotonic_ns() % 10**9}"
    shutil.copy("/usr/bin/sleep", program)
    yield program


def follow(tracker: TrackProcesses, until: bool, name: str = "p") -> None:
    def settled() -> bool:
        if tracker.sock is not None:
            tracker.on_events(time.monotonic())
        else:
            tracker.on_deadline(time.monotonic() + 1.0)
        return tracker.ok[name] is until

    wait_for(settled)


@needs_root
@pytest.mark.parametrize("mode", ["events", "polling"])
def test_processes_appearing_and_going_gain_and_lose_quorum(unique_program: Path, mode: str) -> None:
    tracker = TrackProcesses([spec(process=unique_program.name, quorum=2)], time.monotonic())
    if mode == "polling":
        tracker.close()
        tracker.sock = None
        tracker._next_poll = time.monotonic()
    else:
        assert tracker.sock is not None, "the proc connector is not available in this namespace"
    try:
        assert tracker.ok == {"p": False}
        first = subprocess.Popen([str(unique_program), "60"])
        second = subprocess.Popen([str(unique_program), "60"])
        follow(tracker, True)
        assert tracker.members["p"] == {first.pid, second.pid}
        first.send_signal(signal.SIGKILL)
        first.wait()
        follow(tracker, False)
        second.kill()
        second.wait()
    finally:
        tracker.close()


@needs_root
def test_terminate_delay_holds_a_loss_back_and_a_return_cancels_it(unique_program: Path) -> None:
    tracker = TrackProcesses([spec(process=unique_program.name, terminate_delay=30.0)], time.monotonic())
    assert tracker.sock is not None
    try:
        one = subprocess.Popen([str(unique_program), "60"])
        follow(tracker, True)
        one.kill()
        one.wait()
        wait_for(lambda: not tracker.on_events(time.monotonic()) and not tracker.members["p"])
        assert tracker.ok == {"p": True}  # held back for 30 s
        deadline = tracker.next_deadline()
        assert deadline is not None and deadline > time.monotonic() + 20
        two = subprocess.Popen([str(unique_program), "60"])
        wait_for(lambda: bool(tracker.on_events(time.monotonic()) or tracker.members["p"]))
        assert tracker.next_deadline() is None  # back before the delay ran out: nothing happens
        assert tracker.on_deadline(time.monotonic() + 60) == {}
        two.kill()
        two.wait()
    finally:
        tracker.close()
