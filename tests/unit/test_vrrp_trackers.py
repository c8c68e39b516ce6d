"""Tracker arithmetic and TrackerSet: effective priority, FAULT and pending, as keepalived 2.2.7 computes them.

The rules (keepalived/vrrp/vrrp_track.c, trackers/track_file.c, vrrp.c
vrrp_complete_instance and sync_group_tracking_init): a tracker with a positive
weight adds it while OK, one with a negative weight adds it while failed,
`reverse` flips the sign, weight 0 turns a failure into FAULT; a track_file adds
value × weight (clamped to 253, FAULT at -254 or below); the sum is clamped to
[1, 254] and an address owner's 255 never moves.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conf.load import Loaded, load
from conf.model.config import Config
from conf.model.vrrp import VrrpInstance
from conf.tracking import (
    Contribution,
    best_case_delta,
    effective_priority,
    track_file_contribution,
    tracker_contribution,
)
from services.vrrp.trackers import Kind, Tracker, TrackerSet, TrackerStatus
from tests.conftest import WriteConf

SCRIPT, FILE, PROCESS, INTERFACE, BFD = Kind.SCRIPT, Kind.FILE, Kind.PROCESS, Kind.INTERFACE, Kind.BFD


def priority(trackers: TrackerSet) -> int:
    return trackers.status().priority


def changed(status: TrackerStatus | None) -> TrackerStatus:
    assert status is not None, "the report should have changed what the router sees"
    return status


# ---------------------------------------------------------------------- conf.tracking: one tracker


@pytest.mark.parametrize(
    ("weight", "reverse", "ok", "expected"),
    [
        # weight > 0: +weight while OK, nothing when failed
        (10, False, True, Contribution(10, False)),
        (10, False, False, Contribution(0, False)),
        # weight < 0: nothing while OK, weight when failed
        (-10, False, True, Contribution(0, False)),
        (-10, False, False, Contribution(-10, False)),
        # reverse flips the sign of the adjustment (keepalived's weight_multiplier -1)
        (10, True, True, Contribution(-10, False)),
        (10, True, False, Contribution(0, False)),
        (-10, True, True, Contribution(0, False)),
        (-10, True, False, Contribution(10, False)),
        # weight 0: a failure is FAULT; reversed, success is
        (0, False, True, Contribution(0, False)),
        (0, False, False, Contribution(0, True)),
        (0, True, True, Contribution(0, True)),
        (0, True, False, Contribution(0, False)),
    ],
)
def test_tracker_contribution_follows_keepalived(weight: int, reverse: bool, ok: bool, expected: Contribution) -> None:
    assert tracker_contribution(weight, reverse, ok) == expected


@pytest.mark.parametrize(
    ("value", "weight", "reverse", "expected"),
    [
        (3, 2, False, Contribution(6, False)),  # value × weight
        (-3, 2, False, Contribution(-6, False)),
        (3, -2, False, Contribution(-6, False)),
        (3, 2, True, Contribution(-6, False)),  # reverse flips it
        (0, 5, False, Contribution(0, False)),
        (200, 2, False, Contribution(253, False)),  # clamped to 253
        (-126, 2, False, Contribution(-252, False)),  # -252: still only a reduction
        (-127, 2, False, Contribution(0, True)),  # -254: FAULT
        (-1000, 1, False, Contribution(0, True)),
        (127, 2, True, Contribution(0, True)),  # reversed: -254
        # weight 0: a non-zero value is FAULT; reversed, zero is
        (0, 0, False, Contribution(0, False)),
        (1, 0, False, Contribution(0, True)),
        (-7, 0, False, Contribution(0, True)),
        (0, 0, True, Contribution(0, True)),
        (9, 0, True, Contribution(0, False)),
    ],
)
def test_track_file_contribution_is_value_times_weight(
    value: int, weight: int, reverse: bool, expected: Contribution
) -> None:
    assert track_file_contribution(value, weight, reverse) == expected


@pytest.mark.parametrize(
    ("base", "deltas", "expected"),
    [
        (100, [10, -20, 5], 95),
        (100, [], 100),
        (250, [10], 254),  # never above 254 ...
        (254, [253], 254),
        (10, [-50], 1),  # ... nor below 1
        (1, [-253], 1),
        (255, [-100], 255),  # an address owner never moves
        (255, [50], 255),
        (255, [], 255),
    ],
)
def test_effective_priority_clamps_to_1_254_and_owners_stay_255(base: int, deltas: list[int], expected: int) -> None:
    assert effective_priority(base, deltas) == expected


def test_best_case_delta_is_the_healthy_state() -> None:
    assert [best_case_delta(w, r) for w, r in ((10, False), (10, True), (-10, False), (-10, True), (0, True))] == [
        10,
        -10,
        0,
        0,
        0,
    ]


# ---------------------------------------------------------------------- TrackerSet


def test_positive_weights_count_while_ok_and_negative_ones_when_failed() -> None:
    trackers = TrackerSet(
        "VI_1",
        100,
        [Tracker(SCRIPT, "up", 10), Tracker(PROCESS, "down", -20), Tracker(INTERFACE, "eth1", 5)],
    )
    assert priority(trackers) == 100  # nothing reported: the weighted trackers count for nothing
    assert changed(trackers.set(SCRIPT, "up", True)).priority == 110
    assert trackers.set(PROCESS, "down", True) is None  # OK with a negative weight: +0, as before
    assert priority(trackers) == 110
    assert changed(trackers.set(INTERFACE, "eth1", True)).priority == 115
    assert changed(trackers.set(PROCESS, "down", False)).priority == 95
    assert changed(trackers.set(SCRIPT, "up", False)).priority == 85
    assert changed(trackers.set(INTERFACE, "eth1", False)).priority == 80
    status = changed(trackers.set(PROCESS, "down", True))
    assert (status.priority, status.fault, status.pending) == (100, False, False)
    assert status.reason == "track_process down quorum gained"


def test_reverse_flips_the_adjustment() -> None:
    trackers = TrackerSet("VI_1", 100, [Tracker(SCRIPT, "a", 10, reverse=True), Tracker(BFD, "b", -30, reverse=True)])
    assert changed(trackers.set(SCRIPT, "a", True)).priority == 90  # OK, reversed: -10
    assert trackers.set(BFD, "b", True) is None  # OK with a negative weight: nothing either way
    assert changed(trackers.set(BFD, "b", False)).priority == 120  # failed, reversed: +30
    assert changed(trackers.set(SCRIPT, "a", False)).priority == 130


def test_an_unweighted_failure_is_fault_and_its_recovery_clears_it() -> None:
    trackers = TrackerSet("VI_1", 100, [Tracker(SCRIPT, "chk", 0), Tracker(INTERFACE, "eth0")])
    assert trackers.set(INTERFACE, "eth0", True) is None  # still pending: chk has not reported
    assert trackers.status().pending
    status = changed(trackers.set(SCRIPT, "chk", False))
    assert (status.fault, status.pending, status.priority) == (True, False, 100)
    assert status.reason == "track_script chk failed"
    status = changed(trackers.set(SCRIPT, "chk", True))
    assert (status.fault, status.pending) == (False, False)
    status = changed(trackers.set(INTERFACE, "eth0", False))
    assert status.fault and status.reason == "track_interface eth0 down"


def test_an_unweighted_reversed_tracker_faults_on_success() -> None:
    trackers = TrackerSet("VI_1", 100, [Tracker(SCRIPT, "maint", 0, reverse=True)])
    assert changed(trackers.set(SCRIPT, "maint", False)).fault is False
    status = changed(trackers.set(SCRIPT, "maint", True))
    assert status.fault and status.reason == "track_script maint succeeded"


def test_a_track_file_adds_its_value_times_its_weight() -> None:
    trackers = TrackerSet("VI_1", 100, [Tracker(FILE, "tf", 2)])
    assert trackers.status().pending  # a track_file can fault: it holds the router until it is read
    status = changed(trackers.set(FILE, "tf", 0))
    assert (status.priority, status.fault, status.pending) == (100, False, False)
    assert changed(trackers.set(FILE, "tf", 7)).priority == 114
    assert changed(trackers.set(FILE, "tf", -20)).priority == 60
    assert changed(trackers.set(FILE, "tf", 100)).priority == 254  # +200 clamped by the priority range
    status = changed(trackers.set(FILE, "tf", -127))  # -254: FAULT
    assert status.fault and status.reason == "track_file tf value -127"
    status = changed(trackers.set(FILE, "tf", -126))
    assert (status.fault, status.priority) == (False, 1)


def test_an_unweighted_track_file_faults_on_any_non_zero_value() -> None:
    trackers = TrackerSet("VI_1", 100, [Tracker(FILE, "tf", 0), Tracker(FILE, "rev", 0, reverse=True)])
    assert trackers.set(FILE, "tf", 0) is None  # still pending: "rev" is unread
    assert trackers.status().pending
    status = changed(trackers.set(FILE, "rev", 1))
    assert (status.fault, status.pending, status.priority) == (False, False, 100)
    assert changed(trackers.set(FILE, "tf", 3)).fault
    assert changed(trackers.set(FILE, "tf", 0)).fault is False
    assert changed(trackers.set(FILE, "rev", 0)).fault  # reversed: zero is the failure


def test_the_result_is_clamped_to_1_254() -> None:
    high = TrackerSet("VI_1", 250, [Tracker(SCRIPT, "a", 100), Tracker(SCRIPT, "b", 100)])
    assert changed(high.set(SCRIPT, "a", True)).priority == 254
    assert high.set(SCRIPT, "b", True) is None  # 450 is still 254: nothing the router sees
    low = TrackerSet("VI_1", 5, [Tracker(PROCESS, "p", -100)])
    assert changed(low.set(PROCESS, "p", False)).priority == 1


def test_an_address_owner_keeps_255_but_can_still_fault() -> None:
    trackers = TrackerSet("VI_1", 255, [Tracker(SCRIPT, "w", -50), Tracker(FILE, "tf", 3), Tracker(INTERFACE, "eth0")])
    assert trackers.set(SCRIPT, "w", False) is None  # the weight would take 50: an owner does not move
    assert priority(trackers) == 255
    assert trackers.set(INTERFACE, "eth0", True) is None  # still pending: tf is unread
    status = changed(trackers.set(FILE, "tf", 10))
    assert (status.priority, status.fault, status.pending) == (255, False, False)
    status = changed(trackers.set(INTERFACE, "eth0", False))
    assert (status.priority, status.fault) == (255, True)


def test_unreported_trackers_unweighted_pending_weighted_nothing() -> None:
    trackers = TrackerSet(
        "VI_1",
        100,
        [Tracker(SCRIPT, "unweighted"), Tracker(SCRIPT, "weighted", -40), Tracker(PROCESS, "up", 15)],
    )
    status = trackers.status()
    assert (status.priority, status.fault, status.pending) == (100, False, True)
    # Weighted reports move the priority but the router still waits for the unweighted one.
    status = changed(trackers.set(SCRIPT, "weighted", False))
    assert (status.priority, status.pending) == (60, True)
    status = changed(trackers.set(SCRIPT, "unweighted", True))
    assert (status.priority, status.fault, status.pending) == (60, False, False)
    # The process never reported: its +15 is not there.
    assert priority(trackers) == 60


def test_a_weighted_tracker_alone_is_never_pending() -> None:
    trackers = TrackerSet("VI_1", 100, [Tracker(SCRIPT, "w", 10), Tracker(BFD, "b", -10)])
    assert trackers.status() == TrackerStatus(100, False, False, "")


def test_init_fail_script_starts_failed() -> None:
    unweighted = TrackerSet("VI_1", 100, [Tracker(SCRIPT, "chk", 0, initial=False)])
    status = unweighted.status()
    assert (status.fault, status.pending) == (True, False)
    assert status.reason == "track_script chk failed"
    weighted = TrackerSet("VI_1", 100, [Tracker(SCRIPT, "chk", -30, initial=False)])
    assert weighted.status() == TrackerStatus(70, False, False, "")
    assert weighted.set(SCRIPT, "chk", False) is None  # the same value again
    assert changed(weighted.set(SCRIPT, "chk", True)).priority == 100


def test_set_returns_none_when_nothing_the_router_sees_changed() -> None:
    trackers = TrackerSet(
        "VI_1", 100, [Tracker(SCRIPT, "a"), Tracker(SCRIPT, "b"), Tracker(SCRIPT, "w", 5), Tracker(SCRIPT, "neg", -5)]
    )
    assert trackers.set(SCRIPT, "unknown", False) is None  # not tracked
    assert trackers.set(FILE, "a", 1) is None  # the same name, another kind: not tracked
    assert not trackers.tracks(FILE, "a") and trackers.tracks(SCRIPT, "a")
    assert changed(trackers.set(SCRIPT, "a", False)).fault  # still pending on "b"
    assert trackers.set(SCRIPT, "a", False) is None  # the same value
    assert changed(trackers.set(SCRIPT, "b", False)).pending is False
    assert trackers.set(SCRIPT, "b", True) is None  # "a" still holds the FAULT
    assert trackers.set(SCRIPT, "neg", True) is None  # OK with a negative weight: +0, as unreported
    assert changed(trackers.set(SCRIPT, "w", True)).priority == 105
    status = changed(trackers.set(SCRIPT, "a", True))
    assert (status.fault, status.priority, status.reason) == (False, 105, "track_script a succeeded")
    # A repeated report is no change: the last change stays the reason.
    assert trackers.set(SCRIPT, "w", True) is None
    assert trackers.status().reason == "track_script a succeeded"


def test_set_condition_faults_until_cleared() -> None:
    trackers = TrackerSet("VI_1", 100, [Tracker(INTERFACE, "eth0")])
    changed(trackers.set(INTERFACE, "eth0", True))
    status = changed(trackers.set_condition("address", True, "no IPv4 address on eth0"))
    assert (status.fault, status.reason) == (True, "no IPv4 address on eth0")
    assert trackers.set_condition("address", True, "no IPv4 address on eth0") is None
    # A tracker failing under a condition changes nothing the router sees, and the
    # condition stays the reason given.
    assert trackers.set(INTERFACE, "eth0", False) is None
    assert trackers.status().reason == "no IPv4 address on eth0"
    # Clearing the condition leaves the tracker's FAULT: still nothing new.
    assert trackers.set_condition("address", False, "address back") is None
    assert trackers.status().reason == "track_interface eth0 down"
    status = changed(trackers.set(INTERFACE, "eth0", True))
    assert status.fault is False
    assert trackers.set_condition("never set", False, "x") is None


def test_two_conditions_both_have_to_clear() -> None:
    trackers = TrackerSet("VI_1", 100, [])
    changed(trackers.set_condition("a", True, "route gone"))
    assert trackers.set_condition("b", True, "bad config") is None
    assert trackers.set_condition("a", False, "route back") is None
    assert trackers.status().reason == "bad config"
    assert changed(trackers.set_condition("b", False, "config fixed")).fault is False


# ---------------------------------------------------------------------- properties


@dataclass(frozen=True)
class Case:
    tracker: Tracker
    report: bool | int | None  # None: never reported


trackers_st = st.one_of(
    st.builds(
        Tracker,
        st.sampled_from([SCRIPT, PROCESS, INTERFACE, BFD]),
        st.text("abcdef", min_size=1, max_size=3),
        st.just(0) | st.integers(-253, 253),
        st.booleans(),
    ),
    st.builds(
        Tracker,
        st.just(FILE),
        st.text("abcdef", min_size=1, max_size=3),
        st.just(0) | st.integers(-3, 3),
        st.booleans(),
    ),
)


@st.composite
def cases(draw: st.DrawFn) -> list[Case]:
    drawn = draw(st.lists(trackers_st, max_size=8, unique_by=lambda t: (t.kind, t.name)))
    result = []
    for tracker in drawn:
        if tracker.kind is FILE:
            report: bool | int | None = draw(st.none() | st.integers(-300, 300))
        else:
            report = draw(st.none() | st.booleans())
        result.append(Case(tracker, report))
    return result


def keepalived_total(base: int, drawn: list[Case]) -> tuple[int, bool, bool]:
    """keepalived's total_priority, FAULT and 'still in init', from its formulas (weight_multiplier form)."""
    total = base
    fault = False
    pending = False
    for case in drawn:
        t, value = case.tracker, case.report
        multiplier = -1 if t.reverse else 1
        if value is None:
            pending = pending or t.weight == 0 or t.kind is FILE
            continue
        if t.kind is FILE:
            if t.weight == 0:
                fault = fault or (bool(value) == (multiplier == 1))
                continue
            status = max(-254, min(253, int(value) * t.weight * multiplier))
            if status == -254:
                fault = True
            else:
                total += status
        elif t.weight == 0:
            fault = fault or (bool(value) != (multiplier == 1))
        elif (value and t.weight > 0) or (not value and t.weight < 0):
            total += t.weight * multiplier
    return total, fault, pending


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 255), cases())
def test_status_matches_keepalived_and_stays_in_range(base: int, drawn: list[Case]) -> None:
    trackers = TrackerSet("VI_1", base, [c.tracker for c in drawn])
    for case in drawn:
        if case.report is not None:
            trackers.set(case.tracker.kind, case.tracker.name, case.report)
    status = trackers.status()
    total, fault, pending = keepalived_total(base, drawn)
    if base == 255:
        assert status.priority == 255
    else:
        assert 1 <= status.priority <= 254
        assert status.priority == min(254, max(1, total))
    assert (status.fault, status.pending) == (fault, pending)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 254),
    st.lists(st.tuples(st.sampled_from([SCRIPT, PROCESS, INTERFACE, BFD, FILE]), st.integers(-253, -1)), max_size=8),
    st.integers(1, 300),
)
def test_failed_negative_weights_never_raise_the_priority(
    base: int, weights: list[tuple[Kind, int]], file_value: int
) -> None:
    trackers = TrackerSet("VI_1", base, [Tracker(kind, f"t{i}", weight) for i, (kind, weight) in enumerate(weights)])
    expected = base
    for i, (kind, weight) in enumerate(weights):
        # A failed script/process/interface/BFD; a track_file reporting a positive value.
        trackers.set(kind, f"t{i}", file_value if kind is FILE else False)
        expected += max(-254, file_value * weight) if kind is FILE else weight
        status = trackers.status()
        assert 1 <= status.priority <= base
        if not status.fault:
            assert status.priority == max(1, expected)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(-253, 253), st.booleans()), min_size=1, max_size=5),
    st.lists(st.tuples(st.integers(0, 4), st.booleans()), max_size=30),
    st.integers(1, 254),
)
def test_report_by_report_like_keepalived_incremental_total(
    weights: list[tuple[int, bool]], reports: list[tuple[int, bool]], base: int
) -> None:
    """keepalived keeps a running total_priority (process_script_update_priority): a first report
    adds the weight only if the state it reports calls for it; later ones add or take abs(weight)."""
    trackers = TrackerSet("VI_1", base, [Tracker(SCRIPT, f"s{i}", w, r) for i, (w, r) in enumerate(weights)])
    total = base
    last: dict[int, bool] = {}
    for index, ok in reports:
        if index >= len(weights):
            continue
        weight, reverse = weights[index]
        multiplier = -1 if reverse else 1
        before = trackers.status()
        result = trackers.set(SCRIPT, f"s{index}", ok)
        if weight and last.get(index) != ok:
            if index not in last:
                if (ok and weight > 0) or (not ok and weight < 0):
                    total += weight * multiplier
            else:
                total += abs(weight) * multiplier * (1 if ok else -1)
        last[index] = ok
        status = trackers.status()
        assert status.priority == min(254, max(1, total))
        if (status.priority, status.fault, status.pending) == (before.priority, before.fault, before.pending):
            assert result is None
        else:
            assert result == status


# ---------------------------------------------------------------------- for_instance, from parsed configurations

OBJECTS = """\
vrrp_script chk_up {
    script "/bin/true"
    weight 10
}
vrrp_script chk_down {
    script "/bin/true"
    weight -20 reverse
}
vrrp_script chk_plain {
    script "/bin/true"
}
vrrp_script chk_init_fail {
    script "/bin/true"
    init_fail
}
track_file tf {
    file "/run/tf"
    weight 3
}
track_file tf0 {
    file "/run/tf0"
    weight 0
}
track_file tf1 {
    file "/run/tf1"
}
vrrp_track_process proc {
    process nginx
    weight -7
}
"""


def loaded(write_conf: WriteConf, text: str) -> Loaded:
    path: Path = write_conf(OBJECTS + text)
    return load(str(path), config_id="node")


def instance_of(config: Config, name: str) -> VrrpInstance:
    return next(i for i in config.vrrp_instances if i.name == name)


def tracked(config: Config, name: str) -> dict[tuple[Kind, str], tuple[int, bool, bool | int | None]]:
    trackers = TrackerSet.for_instance(instance_of(config, name), config)
    return {(t.kind, t.name): (t.weight, t.reverse, t.initial) for t in trackers.trackers}


def healthy(tracker: Tracker) -> bool | int:
    """A report that neither faults nor lowers the tracker's instance (reversed unweighted trackers fail)."""
    if tracker.kind is FILE:
        return 1 if tracker.weight == 0 and tracker.reverse else 0
    return not (tracker.weight == 0 and tracker.reverse)


def errors(result: Loaded) -> list[str]:
    return [d.message for d in result.diagnostics]


STANDALONE = """\
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority 120
    track_script {
        chk_up
        chk_down
        chk_plain
        chk_init_fail
    }
    track_file {
        tf
        tf0
    }
    track_process {
        proc weight 9 reverse
    }
    track_interface {
        eth1 weight 6 reverse
        eth5
    }
    virtual_ipaddress {
        192.0.2.100/24 dev eth2
        192.0.2.101/24 dev eth4 no_track
        192.0.2.102/24
    }
    virtual_ipaddress_excluded {
        198.51.100.1/24 dev eth6
    }
    virtual_routes {
        203.0.113.0/24 via 192.0.2.254 dev eth7
        203.0.114.0/24 via 192.0.2.254 dev eth8 no_track
    }
}
"""


def test_for_instance_collects_what_a_standalone_instance_tracks(write_conf: WriteConf) -> None:
    result = loaded(write_conf, STANDALONE)
    assert tracked(result.config, "VI_1") == {
        (INTERFACE, "eth0"): (0, False, None),  # its own interface, unweighted
        (INTERFACE, "eth1"): (6, True, None),
        (INTERFACE, "eth5"): (0, False, None),
        (INTERFACE, "eth2"): (0, False, None),  # a VIP's dev
        (INTERFACE, "eth6"): (0, False, None),  # an eVIP's dev
        (INTERFACE, "eth7"): (0, False, None),  # a virtual route's dev
        (SCRIPT, "chk_up"): (10, False, None),  # the script's own weight
        (SCRIPT, "chk_down"): (-20, True, None),  # ... and its reverse
        (SCRIPT, "chk_plain"): (0, False, None),
        (SCRIPT, "chk_init_fail"): (0, False, False),  # init_fail: starts failed
        (FILE, "tf"): (3, False, None),
        (FILE, "tf0"): (0, False, None),
        (PROCESS, "proc"): (9, True, None),  # the line's weight and reverse win over the object's
    }
    trackers = TrackerSet.for_instance(instance_of(result.config, "VI_1"), result.config)
    assert trackers.base_priority == 120 and trackers.instance == "VI_1"


def test_an_instance_tracker_set_from_config_computes_keepalived_priority(write_conf: WriteConf) -> None:
    result = loaded(write_conf, STANDALONE)
    trackers = TrackerSet.for_instance(instance_of(result.config, "VI_1"), result.config)
    # init_fail holds it in FAULT; eth0, eth2, eth5, eth6, eth7, chk_plain, tf and tf0 have not reported.
    status = trackers.status()
    assert (status.fault, status.pending, status.priority) == (True, True, 120)
    for interface in ("eth0", "eth2", "eth5", "eth6", "eth7"):
        trackers.set(INTERFACE, interface, True)
    trackers.set(SCRIPT, "chk_plain", True)
    trackers.set(FILE, "tf0", 0)
    trackers.set(FILE, "tf", 4)  # +12
    assert trackers.status().pending is False
    status = changed(trackers.set(SCRIPT, "chk_init_fail", True))
    assert (status.fault, status.priority) == (False, 132)
    trackers.set(SCRIPT, "chk_up", True)  # +10
    trackers.set(SCRIPT, "chk_down", False)  # -20 reversed: +20
    trackers.set(PROCESS, "proc", True)  # +9 reversed: -9
    trackers.set(INTERFACE, "eth1", True)  # +6 reversed: -6
    assert priority(trackers) == 120 + 12 + 10 + 20 - 9 - 6
    status = changed(trackers.set(INTERFACE, "eth2", False))  # a VIP's interface down: FAULT
    assert status.fault and status.reason == "track_interface eth2 down"


DONT_TRACK_PRIMARY = """\
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    dont_track_primary
    track_interface {
        eth0 weight 5
        eth1
    }
    virtual_ipaddress {
        192.0.2.100/24 dev eth0
        192.0.2.101/24 dev eth2
        192.0.2.102/24
    }
}
"""


def test_dont_track_primary_leaves_out_the_own_interface_everywhere(write_conf: WriteConf) -> None:
    result = loaded(write_conf, DONT_TRACK_PRIMARY)
    assert tracked(result.config, "VI_1") == {
        (INTERFACE, "eth1"): (0, False, None),
        (INTERFACE, "eth2"): (0, False, None),
    }
    # Without it, the own interface is tracked unweighted, and a track_interface line naming it is ignored.
    result = loaded(write_conf, DONT_TRACK_PRIMARY.replace("    dont_track_primary\n", ""))
    assert tracked(result.config, "VI_1") == {
        (INTERFACE, "eth0"): (0, False, None),
        (INTERFACE, "eth1"): (0, False, None),
        (INTERFACE, "eth2"): (0, False, None),
    }


def test_a_vip_on_a_weighted_tracked_interface_makes_it_unweighted(write_conf: WriteConf) -> None:
    result = loaded(
        write_conf,
        """\
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    track_interface {
        eth1 weight -30
    }
    virtual_ipaddress {
        192.0.2.100/24 dev eth1
    }
}
""",
    )
    assert tracked(result.config, "VI_1")[(INTERFACE, "eth1")] == (0, False, None)


def group_config(flag: str = "", vi2_priority: int = 100) -> str:
    return f"""\
vrrp_sync_group G {{
    group {{
        VI_1
        VI_2
    }}
    track_script {{
        chk_up weight 5
        chk_plain
        chk_down
    }}
    track_interface {{
        eth3 weight -4
        eth1 weight 8
    }}
    track_file {{
        tf
    }}
    track_process {{
        proc
    }}
{flag}
}}
vrrp_instance VI_1 {{
    interface eth0
    virtual_router_id 51
    track_script {{
        chk_up
        chk_down weight 0
    }}
    track_interface {{
        eth1 weight 6
        eth5 weight 2
    }}
    track_file {{
        tf
        tf1
    }}
    track_process {{
        proc weight -3
    }}
    virtual_ipaddress {{
        192.0.2.100/24
    }}
}}
vrrp_instance VI_2 {{
    interface eth9
    virtual_router_id 52
    priority {vi2_priority}
    virtual_ipaddress {{
        192.0.2.200/24
    }}
}}
"""


GROUP_TRACKERS = {
    (SCRIPT, "chk_up"): (5, False, None),
    (SCRIPT, "chk_plain"): (0, False, None),
    (SCRIPT, "chk_down"): (-20, True, None),
    (INTERFACE, "eth3"): (-4, False, None),
    (INTERFACE, "eth1"): (8, False, None),
    (FILE, "tf"): (3, False, None),
    (PROCESS, "proc"): (-7, False, None),
}


def test_a_sync_group_without_tracking_weight_drops_its_members_weights_but_keeps_its_own(
    write_conf: WriteConf,
) -> None:
    result = loaded(write_conf, group_config())
    messages = errors(result)
    assert "(VI_1) ignoring tracked script chk_up with weights due to SYNC group" in messages
    assert "(VI_1) ignoring eth1 tracked interface weight due to SYNC group" in messages
    assert "(VI_1) ignoring tracked file tf with weight 3 due to SYNC group" in messages
    assert "(VI_1) ignoring weight from tracked file tf1 due to SYNC group. specify weight 0" in messages
    assert tracked(result.config, "VI_1") == {
        (INTERFACE, "eth0"): (0, False, None),
        (INTERFACE, "eth1"): (0, False, None),  # zeroed on the instance: the unweighted line wins over the group's
        (INTERFACE, "eth5"): (0, False, None),  # zeroed
        # unweighted on the instance (its reverse is the script's): kept so
        (SCRIPT, "chk_down"): (0, True, None),
        (FILE, "tf"): (3, False, None),  # dropped from the instance (weight 3), tracked from the group
        (FILE, "tf1"): (0, False, None),  # the default weight 1 made unweighted
        # keepalived does not zero a member's track_process weight; weighted on both, the group's weight wins
        (PROCESS, "proc"): (-7, False, None),
        # from the group (sync_group_tracking_init keeps the group's weights)
        (SCRIPT, "chk_up"): (5, False, None),
        (SCRIPT, "chk_plain"): (0, False, None),
        (INTERFACE, "eth3"): (-4, False, None),
    }
    assert tracked(result.config, "VI_2") == {(INTERFACE, "eth9"): (0, False, None), **GROUP_TRACKERS}


def test_a_sync_group_with_tracking_weight_keeps_the_members_weights(write_conf: WriteConf) -> None:
    result = loaded(write_conf, group_config("    sync_group_tracking_weight"))
    assert not any("due to SYNC group" in m for m in errors(result))
    assert tracked(result.config, "VI_1") == {
        (INTERFACE, "eth0"): (0, False, None),
        (INTERFACE, "eth1"): (8, False, None),  # weighted on both: the group's weight
        (INTERFACE, "eth5"): (2, False, None),
        (SCRIPT, "chk_up"): (5, False, None),  # weighted on both: the group's weight
        (SCRIPT, "chk_down"): (0, True, None),  # unweighted on the instance: stays unweighted
        (FILE, "tf"): (3, False, None),
        (FILE, "tf1"): (1, False, None),
        (PROCESS, "proc"): (-7, False, None),
        (SCRIPT, "chk_plain"): (0, False, None),
        (INTERFACE, "eth3"): (-4, False, None),
    }
    assert tracked(result.config, "VI_2") == {(INTERFACE, "eth9"): (0, False, None), **GROUP_TRACKERS}


def test_global_tracking_is_a_synonym_for_sync_group_tracking_weight(write_conf: WriteConf) -> None:
    with_flag = loaded(write_conf, group_config("    sync_group_tracking_weight"))
    deprecated = loaded(write_conf, group_config("    global_tracking"))
    assert tracked(deprecated.config, "VI_1") == tracked(with_flag.config, "VI_1")


def test_a_sync_group_with_an_address_owner_loses_its_weights(write_conf: WriteConf) -> None:
    result = loaded(write_conf, group_config("    sync_group_tracking_weight", vi2_priority=255))
    vi2 = tracked(result.config, "VI_2")
    assert {key: weight for key, (weight, _, _) in vi2.items()} == {(INTERFACE, "eth9"): 0} | dict.fromkeys(
        GROUP_TRACKERS, 0
    )
    # The owner advertises 255 whatever its trackers do; the group's unweighted trackers still fault it.
    trackers = TrackerSet.for_instance(instance_of(result.config, "VI_2"), result.config)
    for tracker in trackers.trackers:
        trackers.set(tracker.kind, tracker.name, healthy(tracker))
    status = trackers.status()
    assert (status.priority, status.fault, status.pending) == (255, False, False)
    assert changed(trackers.set(SCRIPT, "chk_up", False)).fault  # weight cleared: now a FAULT
    # The other member loses the group's weights too.
    vi1 = tracked(result.config, "VI_1")
    assert vi1[(SCRIPT, "chk_up")][0] == 0 and vi1[(INTERFACE, "eth3")][0] == 0


def test_a_group_tracker_fails_every_member(write_conf: WriteConf) -> None:
    result = loaded(write_conf, group_config())
    sets = {name: TrackerSet.for_instance(instance_of(result.config, name), result.config) for name in ("VI_1", "VI_2")}
    for trackers in sets.values():
        for tracker in trackers.trackers:
            trackers.set(tracker.kind, tracker.name, healthy(tracker))
        assert trackers.status().fault is False
    # chk_up +5, chk_down OK (weight -20 only counts when failed), eth1 +8 only on VI_2 (zeroed on VI_1)
    assert (priority(sets["VI_1"]), priority(sets["VI_2"])) == (105, 113)
    for name, trackers in sets.items():
        status = changed(trackers.set(SCRIPT, "chk_plain", False))
        assert status.fault and status.reason == "track_script chk_plain failed", name


def test_a_group_tracking_a_members_own_interface(write_conf: WriteConf) -> None:
    """keepalived tracks a member's own interface unweighted, which wins over the group's weight;
    with dont_track_primary the group's weighted line applies."""
    result = loaded(
        write_conf,
        """\
vrrp_sync_group G {
    group {
        VI_1
        VI_2
    }
    track_interface {
        eth0 weight -7
    }
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    virtual_ipaddress {
        192.0.2.100/24
    }
}
vrrp_instance VI_2 {
    interface eth0
    virtual_router_id 52
    dont_track_primary
    virtual_ipaddress {
        192.0.2.200/24
    }
}
""",
    )
    assert tracked(result.config, "VI_1") == {(INTERFACE, "eth0"): (0, False, None)}
    assert tracked(result.config, "VI_2") == {(INTERFACE, "eth0"): (-7, False, None)}
    vi2 = TrackerSet.for_instance(instance_of(result.config, "VI_2"), result.config)
    status = changed(vi2.set(INTERFACE, "eth0", False))
    assert (status.priority, status.fault) == (93, False)
