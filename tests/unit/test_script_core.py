"""services.healthcheck.script_core: vrrp_script timing and rise/fall on a fake clock."""

from __future__ import annotations

import signal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.healthcheck.script_core import (
    Action,
    Log,
    Result,
    ScriptsCore,
    ScriptSpec,
    SignalGroup,
    Spawn,
)
from services.script_runs import Exited, Signalled


def spec(**changes: object) -> ScriptSpec:
    base: dict[str, object] = {"name": "chk", "argv": ("/bin/true",), "interval": 1.0, "timeout": 1.0}
    base.update(changes)
    return ScriptSpec(**base)  # type: ignore[arg-type]


def only(kind: type, actions: list[Action]) -> list[object]:
    return [a for a in actions if isinstance(a, kind)]


def logs(actions: list[Action]) -> list[str]:
    return [a.message for a in actions if isinstance(a, Log)]


def run_once(core: ScriptsCore, now: float, ending: Exited | Signalled) -> list[Action]:
    """Launch whatever is due at `now` and end that run with `ending` right away."""
    spawned = [a for a in core.tick(now) if isinstance(a, Spawn)]
    assert len(spawned) == 1, spawned
    return core.ended(spawned[0].script, spawned[0].run, ending, now + 0.01)


def test_the_first_run_is_at_start_then_every_interval_from_the_launch() -> None:
    core = ScriptsCore([spec(interval=2.0, timeout=1.5)])
    (first,) = only(Spawn, core.start(10.0))
    assert core.next_deadline() == 11.5  # its timeout comes before the next launch
    core.ended("chk", first.run, Exited(0), 10.2)  # type: ignore[attr-defined]
    assert core.tick(11.9) == []
    assert only(Spawn, core.tick(12.0))


def test_the_first_result_decides_at_once_whatever_rise_and_fall() -> None:
    for ending, ok, line in (
        (Exited(0), True, "VRRP_Script(chk) succeeded"),
        (Exited(1), False, "VRRP_Script(chk) failed (exited with status 1)"),
    ):
        core = ScriptsCore([spec(rise=3, fall=2)])
        (run,) = only(Spawn, core.start(0.0))
        actions = core.ended("chk", run.run, ending, 0.1)  # type: ignore[attr-defined]
        assert only(Result, actions) == [Result("chk", ok, line.split(") ", 1)[1])]
        assert line in logs(actions)


def test_rise_and_fall_as_keepalived_counts_them() -> None:
    # keepalived 2.2.7 with rise 3 / fall 2 and exit statuses 0,0,1,1,0,0,0,1,0,1,1,2:
    # succeeded at run 1, failed at run 4, succeeded at run 7, failed at run 11.
    core = ScriptsCore([spec(rise=3, fall=2)])
    core.start(0.0)
    core.ended("chk", 1, Exited(0), 0.1)
    flips: list[tuple[int, bool]] = [(1, True)]
    for index, status in enumerate([0, 1, 1, 0, 0, 0, 1, 0, 1, 1, 2], start=2):
        actions = run_once(core, float(index - 1), Exited(status))
        flips += [(index, r.ok) for r in only(Result, actions)]  # type: ignore[attr-defined]
    assert flips == [(1, True), (4, False), (7, True), (11, False)]


def test_a_changed_exit_status_is_logged_even_while_failed() -> None:
    core = ScriptsCore([spec()])
    core.start(0.0)
    assert "Script `chk` now returning 1" in logs(core.ended("chk", 1, Exited(1), 0.1))
    assert "Script `chk` now returning 2" in logs(run_once(core, 1.0, Exited(2)))
    assert logs(run_once(core, 2.0, Exited(2))) == []


def test_a_run_past_its_timeout_gets_term_then_kill_and_is_timed_out() -> None:
    core = ScriptsCore([spec(interval=5.0, timeout=1.0)])
    (run,) = only(Spawn, core.start(0.0))
    assert core.tick(0.99) == []
    assert core.tick(1.0) == [SignalGroup("chk", 1, signal.SIGTERM)]
    assert core.tick(2.99) == []
    assert core.tick(3.0) == [SignalGroup("chk", 1, signal.SIGKILL)]
    assert core.tick(13.0)[0] == SignalGroup("chk", 1, signal.SIGKILL, again=True)
    actions = core.ended("chk", 1, Signalled(signal.SIGKILL), 13.1)
    assert only(Result, actions) == [Result("chk", False, "timed_out")]
    assert "VRRP_Script(chk) timed_out" in logs(actions)
    del run


def test_a_script_that_traps_term_is_judged_by_its_exit_status() -> None:
    core = ScriptsCore([spec(interval=5.0, timeout=1.0)])
    core.start(0.0)
    core.tick(1.0)  # SIGTERM
    actions = core.ended("chk", 1, Exited(0), 1.2)
    assert only(Result, actions) == [Result("chk", True, "succeeded")]


def test_a_signal_of_its_own_is_a_failure_not_a_timeout() -> None:
    core = ScriptsCore([spec()])
    core.start(0.0)
    actions = core.ended("chk", 1, Signalled(signal.SIGUSR1), 0.1)
    assert "VRRP_Script(chk) failed (due to signal 10)" in logs(actions)


def test_a_script_never_overlaps_with_itself() -> None:
    core = ScriptsCore([spec(interval=1.0, timeout=3.0)])
    (run,) = only(Spawn, core.start(0.0))
    actions = core.tick(1.0)
    assert only(Spawn, actions) == []
    assert logs(actions) == ["Track script chk is already running, expect idle - skipping run"]
    core.tick(3.0)  # timeout: SIGTERM
    assert logs(core.tick(3.0 + 1e-9) + core.tick(4.0)) == [
        "Track script chk is being timed out, expect idle - skipping run"
    ]
    del run


def test_the_end_of_an_unknown_or_old_run_changes_nothing() -> None:
    core = ScriptsCore([spec()])
    core.start(0.0)
    assert core.ended("chk", 99, Exited(0), 0.1) == []
    assert core.ended("other", 1, Exited(0), 0.1) == []


@given(
    rise=st.integers(1, 5),
    fall=st.integers(1, 5),
    results=st.lists(st.booleans(), min_size=1, max_size=40),
)
def test_flips_need_rise_successes_or_fall_failures_in_a_row(rise: int, fall: int, results: list[bool]) -> None:
    """Against a direct reading of the rules: after the first result, an OK script fails after
    `fall` failures in a row and a failed one recovers after `rise` successes in a row."""
    core = ScriptsCore([spec(rise=rise, fall=fall)])
    core.start(0.0)
    ok: bool | None = None
    streak = 0
    for index, success in enumerate(results):
        ending = Exited(0 if success else 1)
        actions = core.ended("chk", 1, ending, 0.01) if index == 0 else run_once(core, float(index), ending)
        flipped = [r.ok for r in only(Result, actions)]  # type: ignore[attr-defined]
        if ok is None:
            ok, streak = success, 0
            assert flipped == [success]
            continue
        streak = streak + 1 if success != ok else 0
        if streak >= (rise if not ok else fall):
            ok, streak = not ok, 0
            assert flipped == [ok]
        else:
            assert flipped == []


@pytest.mark.parametrize("timeout", [0.5, 1.0])
def test_every_script_is_scheduled_independently(timeout: float) -> None:
    core = ScriptsCore([spec(name="a", interval=1.0, timeout=timeout), spec(name="b", interval=3.0, timeout=timeout)])
    launched = [a.script for a in only(Spawn, core.start(0.0))]  # type: ignore[attr-defined]
    assert sorted(launched) == ["a", "b"]
    core.ended("a", 1, Exited(0), 0.1)
    core.ended("b", 2, Exited(0), 0.1)
    assert [a.script for a in only(Spawn, core.tick(1.0))] == ["a"]  # type: ignore[attr-defined]


def test_init_fail_starts_failed_and_needs_rise_successes() -> None:
    core = ScriptsCore([spec(rise=2, init_fail=True)])
    actions = core.start(0.0)
    assert only(Result, actions) == [Result("chk", False, "init_fail")]
    assert only(Result, core.ended("chk", 1, Exited(0), 0.1)) == []  # one success of two
    assert only(Result, run_once(core, 1.0, Exited(0))) == [Result("chk", True, "succeeded")]


def test_a_late_launch_does_not_push_the_later_ones() -> None:
    core = ScriptsCore([spec(interval=1.0, timeout=0.5)])
    core.start(0.0)
    core.ended("chk", 1, Exited(0), 0.1)
    assert only(Spawn, core.tick(1.3))  # 0.3 s late
    core.launched("chk", 2, 1.31)
    core.ended("chk", 2, Exited(0), 1.4)
    assert core.scripts["chk"].next_launch == 2.0
    assert core.lateness == [pytest.approx(0.31)]
    core.tick(5.2)  # late by more than an interval: the missed runs are not made up
    assert core.scripts["chk"].next_launch == 6.0


def test_scripts_started_together_are_spread_over_their_interval_afterwards() -> None:
    core = ScriptsCore([spec(name="a", timeout=0.5), spec(name="b", timeout=0.5)])
    first = only(Spawn, core.start(0.0))
    assert [s.due for s in first] == [0.0, 0.0]  # type: ignore[attr-defined]
    core.launched("a", 1, 0.0)
    core.launched("b", 2, 0.4)  # started 0.4 s later (a burst of spawns)
    assert (core.scripts["a"].next_launch, core.scripts["b"].next_launch) == (1.0, 1.5)
    assert core.next_deadline() == 0.5  # a's timeout
    core.ended("a", 1, Exited(0), 0.1)
    core.ended("b", 2, Exited(0), 0.5)
    assert [s.script for s in only(Spawn, core.tick(1.0))] == ["a"]  # type: ignore[attr-defined]
    assert core.lateness == []  # first runs are "at once", not due
