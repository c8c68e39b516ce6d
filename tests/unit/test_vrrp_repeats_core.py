"""VirtualRouter.repeat_changes_nothing and repeat_heard: when a repeat may skip the state machine.

The service lets the kernel hold a MASTER's repeated adverts only while the
router says a repeat would change nothing but the master down timer; then
`repeat_heard` must leave the router exactly as `advert_received` would.
"""

from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.vrrp.core import VirtualRouter
from services.vrrp.received import Received
from services.vrrp.states import State
from tests.vrrp_sim import rx
from tests.vrrp_sim import settings as router_settings


def backup(**changes: object) -> VirtualRouter:
    vr = VirtualRouter(router_settings(**changes))
    vr.startup(0.0)
    assert vr.state is State.BACKUP
    return vr


def snapshot(vr: VirtualRouter) -> tuple[object, ...]:
    return (vr.state, vr.wantstate, vr.next_deadline(), vr.master_address, vr.master_priority, vr.master_adver_int)


def test_a_steady_master_advert_may_be_held() -> None:
    vr = backup()
    advert = rx("192.0.2.2", 200)
    assert not vr.repeat_changes_nothing(advert)  # not heard yet: the first one tells the router who is MASTER
    assert vr.advert_received(advert, 1.0) == []
    assert vr.repeat_changes_nothing(advert)
    vr.repeat_heard(advert, 2.0)
    assert vr.next_deadline() == pytest.approx(2.0 + vr.master_down_interval())


@pytest.mark.parametrize(
    ("changes", "advert", "why"),
    [
        ({}, rx("192.0.2.2", 0), "priority 0 shortens the timer to the skew time"),
        ({"priority": 150}, rx("192.0.2.2", 100), "a lower priority is discarded, and preempted"),
        ({"priority": 150, "preempt_delay": 2.0}, rx("192.0.2.2", 100), "the preempt delay runs out"),
    ],
)
def test_adverts_whose_repeats_matter_are_not_held(changes: dict[str, object], advert: Received, why: str) -> None:
    vr = backup(**changes)
    vr.advert_received(advert, 1.0)
    assert not vr.repeat_changes_nothing(advert), why


def test_nopreempt_without_delay_holds_a_lower_priority_master() -> None:
    vr = backup(priority=150, nopreempt=True)
    advert = rx("192.0.2.2", 100)
    vr.advert_received(advert, 1.0)
    assert vr.repeat_changes_nothing(advert)


def test_another_sender_priority_or_interval_is_not_the_held_advert() -> None:
    vr = backup(version=3)
    vr.advert_received(rx("192.0.2.2", 200), 1.0)
    assert vr.repeat_changes_nothing(rx("192.0.2.2", 200))
    assert not vr.repeat_changes_nothing(rx("192.0.2.3", 200))
    assert not vr.repeat_changes_nothing(rx("192.0.2.2", 201))
    assert not vr.repeat_changes_nothing(rx("192.0.2.2", 200, interval=2.0))  # VRRPv3 would learn it


def test_a_repeat_from_before_the_last_advert_restarts_nothing() -> None:
    vr = backup()
    steady = rx("192.0.2.2", 200)
    vr.advert_received(steady, 1.0)
    vr.advert_received(rx("192.0.2.2", 0), 2.0)  # priority 0: take over after the skew time
    deadline = vr.next_deadline()
    vr.repeat_heard(steady, 1.9)  # held before the priority 0 arrived, read after it
    assert vr.next_deadline() == deadline


def test_a_repeat_never_moves_the_timer_earlier() -> None:
    vr = backup()
    advert = rx("192.0.2.2", 200)
    vr.advert_received(advert, 1.0)
    vr.repeat_heard(advert, 5.0)
    later = vr.next_deadline()
    vr.repeat_heard(advert, 3.0)
    assert vr.next_deadline() == later


def test_no_repeat_counts_once_the_router_is_master() -> None:
    vr = backup()
    advert = rx("192.0.2.2", 200)
    vr.advert_received(advert, 1.0)
    deadline = vr.next_deadline()
    assert deadline is not None
    vr.timer_fired(deadline)
    assert vr.state is State.MASTER
    before = vr.next_deadline()
    vr.repeat_heard(advert, deadline + 0.5)
    assert vr.next_deadline() == before


sources = st.sampled_from(["192.0.2.2", "192.0.2.3", "192.0.2.200"])
adverts = st.builds(rx, sources, st.sampled_from([0, 1, 50, 100, 150, 200, 254]), st.sampled_from([0.5, 1.0, 2.0]))


@settings(max_examples=300, deadline=None)
@given(
    priority=st.sampled_from([1, 100, 150, 254]),
    version=st.sampled_from([2, 3]),
    nopreempt=st.booleans(),
    preempt_delay=st.sampled_from([0.0, 1.5]),
    script=st.lists(st.tuples(adverts, st.floats(0.01, 2.0)), min_size=1, max_size=12),
)
def test_a_held_repeat_does_exactly_what_receiving_it_would(
    priority: int, version: int, nopreempt: bool, preempt_delay: float, script: list[tuple[Received, float]]
) -> None:
    """Whenever the router says an advert may be held, hearing it again through `repeat_heard`
    leaves the router as `advert_received` would, and `advert_received` asks for nothing."""
    vr = backup(priority=priority, version=version, nopreempt=nopreempt, preempt_delay=preempt_delay)
    now = 0.0
    for advert, gap in script:
        now += gap
        deadline = vr.next_deadline()
        if deadline is not None and deadline <= now:
            vr.timer_fired(deadline)
        vr.advert_received(advert, now)
        if not vr.repeat_changes_nothing(advert):
            continue
        for later in (now + 0.1, now + 1.0):
            received, held = copy.deepcopy(vr), copy.deepcopy(vr)
            assert received.advert_received(advert, later) == []
            held.repeat_heard(advert, later)
            assert snapshot(held) == snapshot(received)
