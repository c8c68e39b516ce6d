"""VirtualRouter on a fake clock: timers, elections and transitions, one router at a time."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.vrrp.actions import (
    AnnounceSource,
    Log,
    LowerPriorityAdvert,
    PriorityChanged,
    Resumed,
    SendAdvert,
    Transition,
)
from services.vrrp.core import VirtualRouter
from services.vrrp.states import ALLOWED, IllegalTransition, State, check_transition
from tests.vrrp_sim import adverts, only, rx, settings, transitions

B, M, F, INIT, S = State.BACKUP, State.MASTER, State.FAULT, State.INIT, State.STOP


def backup(now: float = 0.0, **changes: object) -> VirtualRouter:
    vr = VirtualRouter(settings(**changes))
    assert transitions(vr.startup(now)) == [("VI_1", INIT, B)]
    return vr


def master(now: float = 0.0, **changes: object) -> VirtualRouter:
    vr = backup(now, **changes)
    deadline = vr.next_deadline()
    assert deadline is not None
    vr.timer_fired(deadline)
    assert vr.state is M
    return vr


# ---------------------------------------------------------------------- timers


def test_backup_waits_the_master_down_interval_then_takes_over() -> None:
    vr = VirtualRouter(settings())
    actions = vr.startup(0.0)
    assert transitions(actions) == [("VI_1", INIT, B)]
    assert adverts(actions) == []
    assert vr.next_deadline() == pytest.approx(3 + 156 / 256)  # 3.609375: RFC 3768's skew
    assert vr.timer_fired(3.6) == []  # not yet due
    actions = vr.timer_fired(3.609375)
    assert adverts(actions) == [100]
    assert transitions(actions) == [("VI_1", B, M)]
    # The advert goes out before the transition, so the old MASTER drops the VIPs first.
    assert [type(a) for a in actions if not isinstance(a, Log)] == [SendAdvert, Transition]
    assert vr.next_deadline() == pytest.approx(4.609375)


def test_master_advertises_every_interval() -> None:
    vr = master(advert_int=2.0)
    sent_at = vr.next_deadline()
    assert sent_at is not None
    actions = vr.timer_fired(sent_at)
    assert adverts(actions) == [100]
    assert transitions(actions) == []
    assert vr.next_deadline() == pytest.approx(sent_at + 2.0)


def test_vrrp3_skew_scales_with_the_interval_learnt_from_the_master() -> None:
    vr = backup(version=3, advert_int=1.0, priority=100)
    assert vr.next_deadline() == pytest.approx(3 + 156 / 256)
    vr.advert_received(rx("192.0.2.2", 200, interval=0.5), 1.0)
    assert vr.master_adver_int == 0.5
    assert vr.next_deadline() == pytest.approx(1.0 + 3 * 0.5 + 156 * 0.5 / 256)


def test_vrrp2_ignores_the_interval_in_adverts() -> None:
    vr = backup(version=2)
    vr.advert_received(rx("192.0.2.2", 200, interval=5.0), 1.0)
    assert vr.master_adver_int == 1.0
    assert vr.next_deadline() == pytest.approx(1.0 + 3 + 156 / 256)


def test_down_timer_adverts_sets_the_multiple() -> None:
    vr = backup(down_timer_adverts=5, advert_int=2.0)
    assert vr.next_deadline() == pytest.approx(10 + 156 / 256)


def test_becoming_master_goes_back_to_the_configured_interval() -> None:
    vr = backup(version=3, advert_int=1.0)
    vr.advert_received(rx("192.0.2.2", 200, interval=4.0), 0.0)
    deadline = vr.next_deadline()
    assert deadline == pytest.approx(12 + 156 * 4 / 256)
    vr.timer_fired(deadline)
    assert vr.state is M
    assert vr.master_adver_int == 1.0
    assert vr.next_deadline() == pytest.approx(deadline + 1.0)


@given(st.integers(1, 254), st.sampled_from([0.01, 0.5, 1.0, 3.0, 40.95]), st.sampled_from([2, 3]))
def test_master_down_interval_is_three_intervals_plus_skew(priority: int, interval: float, version: int) -> None:
    if version == 2:
        interval = max(1.0, round(interval))
    vr = backup(priority=priority, advert_int=interval, version=version)
    skew = (256 - priority) / 256 * (interval if version == 3 else 1.0)
    assert vr.skew_time() == pytest.approx(skew)
    assert vr.next_deadline() == pytest.approx(3 * interval + skew)


# ---------------------------------------------------------------------- startup


def test_address_owner_becomes_master_at_once() -> None:
    vr = VirtualRouter(settings(priority=255, initial_state=M))
    actions = vr.startup(0.0)
    assert adverts(actions) == [255]
    assert transitions(actions) == [("VI_1", INIT, M)]
    assert vr.next_deadline() == pytest.approx(1.0)


def test_state_master_below_255_starts_as_backup_like_keepalived() -> None:
    # keepalived 2.2.7 vrrp_init_state: only the address owner skips BACKUP (RFC 5798 6.4.1 agrees).
    vr = VirtualRouter(settings(priority=150, initial_state=M))
    actions = vr.startup(0.0)
    assert transitions(actions) == [("VI_1", INIT, B)]
    assert adverts(actions) == []
    assert vr.next_deadline() == pytest.approx(3 + 106 / 256)


def test_startup_in_fault_when_a_tracker_failed_before() -> None:
    vr = VirtualRouter(settings())
    assert vr.trackers_changed(100, True, 0.0, "track_interface eth0 down") == []
    actions = vr.startup(0.0)
    assert transitions(actions) == [("VI_1", INIT, F)]
    assert only(Transition, actions)[0].reason == "track_interface eth0 down"
    assert vr.next_deadline() is None


def test_pending_trackers_hold_the_router_in_init() -> None:
    vr = VirtualRouter(settings())
    vr.trackers_changed(100, False, 0.0, "", pending=True)
    assert vr.startup(0.0) == []
    assert vr.state is INIT
    assert vr.next_deadline() is None
    assert vr.advert_received(rx("192.0.2.2", 200), 0.5) == []
    actions = vr.trackers_changed(100, False, 2.0, "track_script chk succeeded")
    assert transitions(actions) == [("VI_1", INIT, B)]
    assert vr.next_deadline() == pytest.approx(2.0 + 3 + 156 / 256)


def test_pending_owner_goes_master_when_its_scripts_report() -> None:
    vr = VirtualRouter(settings(priority=255, initial_state=M))
    vr.trackers_changed(255, False, 0.0, "", pending=True)
    assert vr.startup(0.0) == []
    actions = vr.trackers_changed(255, False, 1.0, "track_script chk succeeded")
    assert transitions(actions) == [("VI_1", INIT, M)]
    assert adverts(actions) == [255]


def test_pending_tracker_that_fails_gives_fault() -> None:
    vr = VirtualRouter(settings())
    vr.trackers_changed(100, False, 0.0, "", pending=True)
    vr.startup(0.0)
    actions = vr.trackers_changed(100, True, 1.0, "track_script chk failed")
    assert transitions(actions) == [("VI_1", INIT, F)]


def test_startup_delay_postpones_the_backup_timer() -> None:
    vr = VirtualRouter(settings(startup_delay=5.0))
    assert transitions(vr.startup(0.0)) == [("VI_1", INIT, B)]
    assert vr.next_deadline() == pytest.approx(5 + 3 + 156 / 256)
    # An advert heard during the delay restarts the timer from the end of the delay.
    vr.advert_received(rx("192.0.2.2", 200), 1.0)
    assert vr.next_deadline() == pytest.approx(5 + 3 + 156 / 256)
    vr.advert_received(rx("192.0.2.2", 200), 6.0)
    assert vr.next_deadline() == pytest.approx(6 + 3 + 156 / 256)


def test_startup_delay_holds_the_owner_in_init() -> None:
    vr = VirtualRouter(settings(priority=255, initial_state=M, startup_delay=2.5))
    assert vr.startup(0.0) == []
    assert vr.state is INIT
    assert vr.next_deadline() == pytest.approx(2.5)
    actions = vr.timer_fired(2.5)
    assert transitions(actions) == [("VI_1", INIT, M)]
    assert adverts(actions) == [255]


def test_startup_twice_is_a_bug() -> None:
    vr = backup()
    with pytest.raises(RuntimeError, match="already started"):
        vr.startup(1.0)


# ---------------------------------------------------------------------- BACKUP receiving


def test_backup_accepts_a_higher_or_equal_priority_master() -> None:
    vr = backup()
    for now, priority in ((1.0, 200), (2.0, 100)):
        assert vr.advert_received(rx("192.0.2.2", priority), now) == []
        assert vr.next_deadline() == pytest.approx(now + 3 + 156 / 256)
        assert vr.master_address == IPv4Address("192.0.2.2")
        assert vr.master_priority == priority


def test_backup_discards_a_lower_priority_master_and_preempts() -> None:
    vr = backup(priority=150)
    deadline = vr.next_deadline()
    actions = vr.advert_received(rx("192.0.2.2", 100), 1.0)
    assert [a.message for a in only(Log, actions)] == [
        "(VI_1) received lower priority (100) advert from 192.0.2.2 - discarding"
    ]
    assert vr.next_deadline() == deadline
    assert vr.state is B
    assert deadline is not None
    assert transitions(vr.timer_fired(deadline)) == [("VI_1", B, M)]


def test_nopreempt_backup_accepts_a_lower_priority_master() -> None:
    vr = backup(priority=150, nopreempt=True)
    vr.advert_received(rx("192.0.2.2", 100), 1.0)
    assert vr.next_deadline() == pytest.approx(1.0 + 3 + 106 / 256)


def test_backup_hearing_priority_0_waits_only_its_skew() -> None:
    vr = backup()
    vr.advert_received(rx("192.0.2.2", 200), 1.0)
    vr.advert_received(rx("192.0.2.2", 0), 1.5)
    assert vr.next_deadline() == pytest.approx(1.5 + 156 / 256)


def test_preempt_delay_holds_off_preemption() -> None:
    # keepalived: lower priority adverts are accepted until preempt_delay has passed since the first.
    vr = backup(priority=150, preempt_delay=2.0)
    vr.advert_received(rx("192.0.2.2", 100), 1.0)
    assert vr.next_deadline() == pytest.approx(1.0 + 3 + 106 / 256)
    vr.advert_received(rx("192.0.2.2", 100), 2.0)
    assert vr.next_deadline() == pytest.approx(2.0 + 3 + 106 / 256)
    vr.advert_received(rx("192.0.2.2", 100), 3.0)  # the delay has just expired (not > now)
    assert vr.next_deadline() == pytest.approx(2.0 + 3 + 106 / 256)
    deadline = vr.next_deadline()
    assert deadline is not None
    vr.advert_received(rx("192.0.2.2", 100), 4.0)
    assert transitions(vr.timer_fired(deadline)) == [("VI_1", B, M)]


def test_preempt_delay_restarts_after_a_higher_master() -> None:
    vr = backup(priority=150, preempt_delay=2.0)
    vr.advert_received(rx("192.0.2.2", 100), 1.0)
    vr.advert_received(rx("192.0.2.3", 200), 2.0)  # stops the delay
    vr.advert_received(rx("192.0.2.2", 100), 3.5)  # starts it again: accepted
    assert vr.next_deadline() == pytest.approx(3.5 + 3 + 106 / 256)
    vr.advert_received(rx("192.0.2.2", 100), 5.0)
    assert vr.next_deadline() == pytest.approx(5.0 + 3 + 106 / 256)


# ---------------------------------------------------------------------- MASTER receiving


def test_master_yields_to_a_higher_priority() -> None:
    vr = master(version=3)
    actions = vr.advert_received(rx("192.0.2.2", 200, interval=2.0), 10.0)
    assert transitions(actions) == [("VI_1", M, B)]
    assert adverts(actions) == []
    assert vr.master_adver_int == 2.0
    assert vr.next_deadline() == pytest.approx(10.0 + 3 * 2 + 156 * 2 / 256)
    assert "(VI_1) Master received advert from 192.0.2.2 with higher priority 200, ours 100" in [
        a.message for a in only(Log, actions)
    ]


def test_master_yields_to_an_equal_priority_from_a_higher_address() -> None:
    vr = master(primary_address=IPv4Address("192.0.2.5"))
    actions = vr.advert_received(rx("192.0.2.9", 100), 10.0)
    assert transitions(actions) == [("VI_1", M, B)]


def test_master_beats_an_equal_priority_from_a_lower_address() -> None:
    vr = master(primary_address=IPv4Address("192.0.2.5"))
    actions = vr.advert_received(rx("192.0.2.4", 100), 10.0)
    assert transitions(actions) == []
    assert adverts(actions) == [100]
    assert only(LowerPriorityAdvert, actions) == [
        LowerPriorityAdvert("VI_1", IPv4Address("192.0.2.4"), 100, ("VI_1",))
    ]


def test_ipv6_addresses_compare_as_numbers() -> None:
    vr = master(family=6, version=3, primary_address=IPv6Address("fe80::9"))
    assert transitions(vr.advert_received(rx("fe80::10", 100), 10.0)) == [("VI_1", M, B)]


def test_master_answers_a_lower_priority_at_once() -> None:
    vr = master()
    actions = vr.advert_received(rx("192.0.2.2", 50), 10.0)
    assert adverts(actions) == [100]
    assert vr.next_deadline() == pytest.approx(11.0)
    assert [a.message for a in only(Log, actions)] == [
        "(VI_1) Received advert from 192.0.2.2 with lower priority 50, ours 100, forcing new election"
    ]
    assert len(only(LowerPriorityAdvert, actions)) == 1


def test_lower_prio_no_advert_keeps_quiet_but_still_announces() -> None:
    vr = master(lower_prio_no_advert=True)
    deadline = vr.next_deadline()
    actions = vr.advert_received(rx("192.0.2.2", 50), 10.0)
    assert adverts(actions) == []
    assert vr.next_deadline() == deadline
    assert len(only(LowerPriorityAdvert, actions)) == 1


def test_master_answers_priority_0_with_an_advert() -> None:
    vr = master()
    actions = vr.advert_received(rx("192.0.2.2", 0), 10.0)
    assert adverts(actions) == [100]
    assert transitions(actions) == []
    assert vr.next_deadline() == pytest.approx(11.0)


def test_higher_prio_send_advert_sends_before_yielding() -> None:
    vr = master(higher_prio_send_advert=True)
    actions = vr.advert_received(rx("192.0.2.2", 200), 10.0)
    kinds = [type(a) for a in actions if isinstance(a, SendAdvert | Transition)]
    assert kinds == [SendAdvert, Transition]
    assert adverts(actions) == [100]


def test_two_owners_both_step_down_and_the_higher_address_wins() -> None:
    low = VirtualRouter(settings(priority=255, initial_state=M, primary_address=IPv4Address("192.0.2.1")))
    low.startup(0.0)
    actions = low.advert_received(rx("192.0.2.2", 255), 1.0)
    assert any("CONFIGURATION ERROR" in a.message for a in only(Log, actions))
    assert only(PriorityChanged, actions) == [PriorityChanged("VI_1", 255, 254)]
    assert transitions(actions) == [("VI_1", M, B)]
    assert low.priority == 254
    # Its trackers cannot lift it back to 255.
    low.trackers_changed(255, False, 2.0, "")
    assert low.priority == 254


def test_equal_priority_from_our_own_address_is_reported() -> None:
    vr = master()
    actions = vr.advert_received(rx("192.0.2.1", 100), 1.0)
    assert transitions(actions) == []
    assert any("WARNING - equal priority" in a.message for a in only(Log, actions))


def test_adverts_are_ignored_in_fault_and_init() -> None:
    vr = VirtualRouter(settings())
    assert vr.advert_received(rx("192.0.2.2", 200), 0.0) == []
    vr.trackers_changed(100, True, 0.0, "down")
    vr.startup(0.0)
    assert vr.advert_received(rx("192.0.2.2", 200), 1.0) == []
    assert vr.state is F


# ---------------------------------------------------------------------- trackers


def test_priority_change_moves_a_backups_timer_by_the_skew() -> None:
    vr = backup()
    actions = vr.trackers_changed(200, False, 1.0, "track_script chk succeeded")
    assert only(PriorityChanged, actions) == [PriorityChanged("VI_1", 100, 200)]
    assert "(VI_1) Changing effective priority from 100 to 200" in [a.message for a in only(Log, actions)]
    assert vr.next_deadline() == pytest.approx(3 + 56 / 256)


def test_master_advertises_a_new_priority_at_its_next_advert() -> None:
    vr = master()
    deadline = vr.next_deadline()
    assert adverts(vr.trackers_changed(90, False, 5.1, "track_script chk failed")) == []
    assert vr.next_deadline() == deadline
    assert deadline is not None
    assert adverts(vr.timer_fired(deadline)) == [90]


def test_master_fault_sends_priority_0_and_stops_its_timers() -> None:
    vr = master()
    actions = vr.trackers_changed(100, True, 5.0, "track_interface eth1 down")
    assert adverts(actions) == [0]
    assert transitions(actions) == [("VI_1", M, F)]
    assert only(Transition, actions)[0].reason == "track_interface eth1 down"
    assert vr.next_deadline() is None
    assert vr.timer_fired(100.0) == []


def test_backup_fault_and_recovery() -> None:
    vr = backup()
    actions = vr.trackers_changed(100, True, 1.0, "track_script chk failed")
    assert transitions(actions) == [("VI_1", B, F)]
    assert adverts(actions) == []
    actions = vr.trackers_changed(100, False, 2.0, "track_script chk succeeded")
    assert transitions(actions) == [("VI_1", F, B)]
    assert only(Transition, actions)[0].reason == "track_script chk succeeded"
    assert vr.next_deadline() == pytest.approx(2.0 + 3 + 156 / 256)


def test_owner_recovering_from_fault_comes_back_through_backup() -> None:
    # keepalived try_up_instance: down_instance left wantstate FAULT, so the owner waits as BACKUP.
    vr = VirtualRouter(settings(priority=255, initial_state=M))
    vr.startup(0.0)
    vr.trackers_changed(255, True, 1.0, "down")
    actions = vr.trackers_changed(255, False, 2.0, "up")
    assert transitions(actions) == [("VI_1", F, B)]
    assert vr.next_deadline() == pytest.approx(2.0 + 3 + 1 / 256)


def test_unicast_router_leaving_fault_announces_its_address() -> None:
    vr = backup(unicast=True)
    vr.trackers_changed(100, True, 1.0, "down")
    actions = vr.trackers_changed(100, False, 2.0, "up")
    assert only(AnnounceSource, actions) == [AnnounceSource("VI_1", IPv4Address("192.0.2.1"))]


def test_priority_out_of_range_is_refused() -> None:
    vr = backup()
    with pytest.raises(ValueError, match="out of range"):
        vr.trackers_changed(0, False, 1.0, "")


# ---------------------------------------------------------------------- shutdown


def test_master_shutdown_sends_priority_0() -> None:
    vr = master()
    actions = vr.shutdown(9.0)
    assert adverts(actions) == [0]
    assert transitions(actions) == [("VI_1", M, S)]
    assert vr.next_deadline() is None
    assert vr.shutdown(10.0) == []
    assert vr.timer_fired(20.0) == []
    assert vr.trackers_changed(50, True, 21.0, "x") != []  # the priority is recorded, nothing moves
    assert vr.state is S


def test_shutdown_without_release_keeps_quiet() -> None:
    vr = master()
    actions = vr.shutdown(9.0, release=False)
    assert adverts(actions) == []
    assert transitions(actions) == [("VI_1", M, S)]


def test_backup_shutdown() -> None:
    vr = backup()
    actions = vr.shutdown(1.0)
    assert adverts(actions) == []
    assert transitions(actions) == [("VI_1", B, S)]


# ---------------------------------------------------------------------- resume and reload


def test_resume_as_master_advertises_at_once_without_a_transition() -> None:
    vr = VirtualRouter(settings())
    actions = vr.resume(M, 50.0)
    assert transitions(actions) == []
    assert only(Resumed, actions) == [Resumed("VI_1", M)]
    assert adverts(actions) == [100]
    assert vr.state is M
    assert vr.next_deadline() == pytest.approx(51.0)


def test_resume_as_backup_restarts_the_down_timer() -> None:
    vr = VirtualRouter(settings(startup_delay=10.0))
    actions = vr.resume(B, 50.0, master=IPv4Address("192.0.2.2"))
    assert transitions(actions) == []
    assert adverts(actions) == []
    assert vr.master_address == IPv4Address("192.0.2.2")
    # No vrrp_startup_delay on a resume.
    assert vr.next_deadline() == pytest.approx(50 + 3 + 156 / 256)


def test_resume_as_master_with_a_failed_tracker_gives_up() -> None:
    vr = VirtualRouter(settings())
    vr.trackers_changed(100, True, 50.0, "track_interface eth0 down")
    actions = vr.resume(M, 50.0)
    assert only(Resumed, actions) == [Resumed("VI_1", M)]
    assert adverts(actions) == [0]
    assert transitions(actions) == [("VI_1", M, F)]


def test_resume_from_fault_comes_up_if_the_trackers_are_well() -> None:
    vr = VirtualRouter(settings())
    actions = vr.resume(F, 50.0)
    assert transitions(actions) == [("VI_1", F, B)]


def test_resume_from_fault_stays_quiet_while_still_failed() -> None:
    vr = VirtualRouter(settings())
    vr.trackers_changed(100, True, 50.0, "down")
    actions = vr.resume(F, 50.0)
    assert transitions(actions) == []
    assert vr.state is F


def test_resume_from_nothing_is_a_startup() -> None:
    vr = VirtualRouter(settings())
    assert transitions(vr.resume(INIT, 50.0)) == [("VI_1", INIT, B)]


def test_reconfigure_keeps_a_master_and_advertises_now() -> None:
    vr = master()
    actions = vr.reconfigure(settings(priority=120, advert_int=2.0), 10.0)
    assert transitions(actions) == []
    assert only(PriorityChanged, actions) == [PriorityChanged("VI_1", 100, 120)]
    assert vr.state is M
    assert vr.next_deadline() == pytest.approx(10.0)
    assert adverts(vr.timer_fired(10.0)) == [120]
    assert vr.next_deadline() == pytest.approx(12.0)


def test_reconfigure_restarts_a_backups_timer() -> None:
    vr = backup()
    vr.advert_received(rx("192.0.2.2", 200), 1.0)
    vr.reconfigure(settings(priority=50), 2.0)
    assert vr.state is B
    assert vr.master_address is None
    assert vr.next_deadline() == pytest.approx(2.0 + 3 + 206 / 256)


# ---------------------------------------------------------------------- the transition table


@given(st.sampled_from(list(State)), st.sampled_from(list(State)))
def test_the_transition_table_raises_on_illegal_moves(old: State, new: State) -> None:
    if new in ALLOWED[old]:
        check_transition("VI_1", old, new)
    else:
        with pytest.raises(IllegalTransition):
            check_transition("VI_1", old, new)


def test_no_state_moves_to_itself_and_stop_is_final() -> None:
    assert all(state not in ALLOWED[state] for state in State)
    assert ALLOWED[S] == frozenset()
