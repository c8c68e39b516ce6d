"""vrrp_sync_group on a fake clock: members that start, fail and change state together.

keepalived 2.2.7's rules (vrrp_sync.c, vrrp_scheduler.c, vrrp_track.c, vrrp.c
vrrp_complete_init): a group starts MASTER only if every member is an address
owner wanting MASTER; a member goes MASTER only when every other member wants
MASTER (or the group is MASTER); one MASTER brings all, one BACKUP takes all;
one member's fault puts every member in FAULT until no member has a fault.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import Any

import pytest
from hypothesis import event as note_event
from hypothesis import given, settings
from hypothesis import strategies as st

from services.vrrp.actions import Action, GroupTransition, Log, LowerPriorityAdvert, Resumed, SendAdvert, Transition
from services.vrrp.core import VirtualRouter
from services.vrrp.states import State
from services.vrrp.sync import SyncGroup
from tests.vrrp_sim import Lan, adverts, only, rx, transitions
from tests.vrrp_sim import settings as router_settings

B, M, F, INIT, S = State.BACKUP, State.MASTER, State.FAULT, State.INIT, State.STOP
HOST_A = IPv4Address("192.0.2.1")
HOST_B = IPv4Address("192.0.2.2")


def member(
    name: str, vrid: int, priority: int = 100, state: State = B, address: IPv4Address = HOST_A, **changes: Any
) -> VirtualRouter:
    return VirtualRouter(
        router_settings(name, vrid=vrid, priority=priority, initial_state=state, primary_address=address, **changes)
    )


def pair(priority_1: int = 100, priority_2: int = 100) -> tuple[VirtualRouter, VirtualRouter, SyncGroup]:
    a = member("VI_1", 51, priority_1)
    b = member("VI_2", 52, priority_2)
    return a, b, SyncGroup("G", [a, b])


def states(group: SyncGroup) -> list[State]:
    return [r.state for r in group.members]


def group_moves(actions: Sequence[Action]) -> list[tuple[State, State]]:
    return [(t.old, t.new) for t in only(GroupTransition, actions)]


def sent(actions: Sequence[Action]) -> list[tuple[str, int]]:
    return [(a.instance, a.priority) for a in only(SendAdvert, actions)]


def down_interval(priority: int) -> float:
    return 3 + (256 - priority) / 256


def fire(router: VirtualRouter) -> list[Action]:
    """Fire `router`'s timer at its deadline."""
    deadline = router.next_deadline()
    assert deadline is not None
    return router.timer_fired(deadline)


def master_pair() -> tuple[VirtualRouter, VirtualRouter, SyncGroup]:
    a, b, group = pair()
    group.startup(0.0)
    fire(a)
    fire(b)
    assert states(group) == [M, M] and group.state is M
    return a, b, group


# ---------------------------------------------------------------------- startup


def test_a_group_of_owners_wanting_master_starts_master() -> None:
    a = member("VI_1", 51, 255, M)
    b = member("VI_2", 52, 255, M)
    group = SyncGroup("G", [a, b])
    actions = group.startup(0.0)
    assert transitions(actions) == [("VI_1", INIT, M), ("VI_2", INIT, M)]
    assert sent(actions) == [("VI_1", 255), ("VI_2", 255)]
    assert group_moves(actions) == [(INIT, M)]
    assert group.state is M


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ((255, M), (255, B)),  # an owner that does not want MASTER
        ((255, M), (100, B)),
        ((255, M), (100, M)),  # wanting MASTER is not enough without being the owner
        ((100, M), (100, M)),
        ((100, B), (100, B)),
    ],
)
def test_a_group_starts_backup_unless_every_member_is_an_owner_wanting_master(
    first: tuple[int, State], second: tuple[int, State]
) -> None:
    a = member("VI_1", 51, *first)
    b = member("VI_2", 52, *second)
    group = SyncGroup("G", [a, b])
    # The group holds back every would-be MASTER before startup (keepalived vrrp_complete_init).
    assert (a.wantstate, b.wantstate) == (B, B)
    actions = group.startup(0.0)
    assert transitions(actions) == [("VI_1", INIT, B), ("VI_2", INIT, B)]
    assert adverts(actions) == []
    assert group_moves(actions) == [(INIT, B)]
    # Both wait a whole master down interval, as any BACKUP does.
    assert a.next_deadline() == pytest.approx(down_interval(first[0]))
    assert b.next_deadline() == pytest.approx(down_interval(second[0]))


def test_a_faulted_member_starts_the_whole_group_in_fault() -> None:
    _a, b, group = pair()
    b.trackers_changed(100, True, 0.0, "track_script chk failed")
    actions = group.startup(0.0)
    assert transitions(actions) == [("VI_1", INIT, F), ("VI_2", INIT, F)]
    assert group_moves(actions) == [(INIT, F)]
    assert only(GroupTransition, actions)[0].reason == "VI_2: track_script chk failed"
    assert group.next_deadline() is None


def test_a_pending_member_holds_the_group_in_init_until_it_reports() -> None:
    a = member("VI_1", 51, 255, M)
    b = member("VI_2", 52, 255, M)
    group = SyncGroup("G", [a, b])
    b.trackers_changed(255, False, 0.0, "", pending=True)
    assert group.startup(0.0) == []
    assert states(group) == [INIT, INIT] and group.state is INIT
    assert a.started and b.started
    assert group.next_deadline() is None
    actions = b.trackers_changed(255, False, 2.0, "track_script chk succeeded")
    # Owners wanting MASTER: the whole group goes MASTER once the last tracker reported.
    assert transitions(actions) == [("VI_2", INIT, M), ("VI_1", INIT, M)]
    assert group_moves(actions) == [(INIT, M)]


# ---------------------------------------------------------------------- going MASTER together


def test_a_member_timing_out_waits_until_every_member_wants_master() -> None:
    a, b, group = pair(100, 50)
    group.startup(0.0)
    assert group.next_deadline() == a.next_deadline() == pytest.approx(down_interval(100))
    t1 = down_interval(100)
    actions = a.timer_fired(t1)
    assert transitions(actions) == [] and adverts(actions) == []
    assert (a.state, a.wantstate, group.state) == (B, M, B)
    # It restarted its master down timer, to give the others the time to want MASTER too.
    assert a.next_deadline() == pytest.approx(t1 + down_interval(100))
    assert group.next_deadline() == b.next_deadline() == pytest.approx(down_interval(50))
    actions = fire(b)
    assert transitions(actions) == [("VI_2", B, M), ("VI_1", B, M)]
    assert sent(actions) == [("VI_2", 50), ("VI_1", 100)]
    assert group_moves(actions) == [(B, M)]
    assert only(GroupTransition, actions)[0].reason == "master down timer expired"


def test_a_member_hearing_its_master_keeps_the_group_backup() -> None:
    a, b, group = pair(100, 100)
    group.startup(0.0)
    now = 0.0
    for _ in range(60):  # a MASTER for VRID 52 elsewhere, advertising every second
        now += 1.0
        b.advert_received(rx("192.0.2.9", 200), now)
        for router in (a, b):
            deadline = router.next_deadline()
            if deadline is not None and deadline <= now:
                assert transitions(router.timer_fired(now)) == []
    assert (a.state, a.wantstate, b.state, b.wantstate) == (B, M, B, B)
    # The other MASTER goes silent: b times out and brings a along.
    actions = fire(b)
    assert transitions(actions) == [("VI_2", B, M), ("VI_1", B, M)]
    assert group.state is M


def test_a_member_hearing_a_higher_priority_stops_wanting_master() -> None:
    a, b, group = pair(100, 50)
    group.startup(0.0)
    a.timer_fired(down_interval(100))
    assert a.wantstate is M
    a.advert_received(rx("192.0.2.9", 150), 3.7)
    assert a.wantstate is B
    # b now times out first, but a does not want MASTER any more: b is held back in turn.
    assert transitions(b.timer_fired(down_interval(50))) == []
    assert (b.state, b.wantstate, group.state) == (B, M, B)


def test_a_lower_priority_advert_does_not_stop_a_member_wanting_master() -> None:
    a, b, group = pair(100, 50)
    group.startup(0.0)
    a.timer_fired(down_interval(100))
    a.advert_received(rx("192.0.2.9", 20), 3.7)
    assert a.wantstate is M
    assert transitions(fire(b)) == [("VI_2", B, M), ("VI_1", B, M)]


# ---------------------------------------------------------------------- going BACKUP together


def test_one_master_going_backup_takes_every_member_to_backup() -> None:
    a, b, group = master_pair()
    actions = a.advert_received(rx("192.0.2.9", 200), 10.0)
    assert transitions(actions) == [("VI_1", M, B), ("VI_2", M, B)]
    assert adverts(actions) == []  # MASTER -> BACKUP is quiet: no priority 0
    assert group_moves(actions) == [(M, B)]
    assert "higher priority advert from 192.0.2.9" in only(GroupTransition, actions)[0].reason
    # Both run a master down timer again.
    assert a.next_deadline() == pytest.approx(10.0 + down_interval(100))
    assert b.next_deadline() == pytest.approx(10.0 + down_interval(100))
    assert group.next_deadline() == pytest.approx(10.0 + down_interval(100))


def test_an_equal_priority_from_a_higher_address_also_takes_the_group_to_backup() -> None:
    _a, b, group = master_pair()
    actions = b.advert_received(rx("192.0.2.200", 100), 10.0)
    assert transitions(actions) == [("VI_2", M, B), ("VI_1", M, B)]
    assert group.state is B


def test_a_lower_priority_advert_keeps_the_group_master_and_announces_every_member() -> None:
    a, _b, group = master_pair()
    actions = a.advert_received(rx("192.0.2.9", 50), 10.0)
    assert transitions(actions) == [] and group.state is M
    assert sent(actions) == [("VI_1", 100)]
    [lower] = only(LowerPriorityAdvert, actions)
    assert lower.announce == ("VI_1", "VI_2")


# ---------------------------------------------------------------------- FAULT together


def test_one_member_fault_puts_every_member_in_fault_and_masters_send_priority_0() -> None:
    a, b, group = master_pair()
    actions = a.trackers_changed(100, True, 10.0, "track_script chk failed")
    assert transitions(actions) == [("VI_1", M, F), ("VI_2", M, F)]
    assert sent(actions) == [("VI_1", 0), ("VI_2", 0)]
    assert group_moves(actions) == [(M, F)]
    assert only(GroupTransition, actions)[0].reason == "VI_1: track_script chk failed"
    assert (a.fault, b.fault) == (True, False)  # b is in FAULT for its group, not for itself
    assert group.next_deadline() is None
    # FAULT ignores adverts and runs no timers.
    assert b.advert_received(rx("192.0.2.9", 200), 11.0) == []
    assert b.timer_fired(100.0) == []


def test_a_backup_member_fault_faults_the_group_quietly() -> None:
    _a, b, group = pair()
    group.startup(0.0)
    actions = b.trackers_changed(100, True, 1.0, "track_interface eth1 down")
    assert transitions(actions) == [("VI_2", B, F), ("VI_1", B, F)]
    assert adverts(actions) == []
    assert group_moves(actions) == [(B, F)]


def test_the_group_comes_up_only_when_no_member_has_a_fault() -> None:
    a, b, group = master_pair()
    a.trackers_changed(100, True, 10.0, "chk a failed")
    assert group_moves(b.trackers_changed(100, True, 11.0, "chk b failed")) == []  # already FAULT
    actions = a.trackers_changed(100, False, 12.0, "chk a succeeded")
    assert transitions(actions) == [] and group_moves(actions) == []
    assert states(group) == [F, F] and group.state is F
    actions = b.trackers_changed(100, False, 13.0, "chk b succeeded")
    assert transitions(actions) == [("VI_2", F, B), ("VI_1", F, B)]
    assert group_moves(actions) == [(F, B)]
    # Back as BACKUP with a full master down timer; MASTER again once both time out.
    assert group.next_deadline() == pytest.approx(13.0 + down_interval(100))
    fire(a)
    actions = fire(b)
    assert transitions(actions) == [("VI_2", B, M), ("VI_1", B, M)]


def test_a_member_in_fault_only_for_its_group_cannot_bring_it_up() -> None:
    a, b, group = master_pair()
    a.trackers_changed(100, True, 10.0, "chk a failed")
    # b's own trackers report a new priority (and no fault): the group stays down for a.
    actions = b.trackers_changed(90, False, 11.0, "chk b weight")
    assert transitions(actions) == []
    assert states(group) == [F, F] and group.state is F
    assert b.priority == 90


def test_an_owner_group_recovering_from_fault_comes_back_through_backup() -> None:
    a = member("VI_1", 51, 255, M)
    b = member("VI_2", 52, 255, M)
    group = SyncGroup("G", [a, b])
    group.startup(0.0)
    a.trackers_changed(255, True, 5.0, "eth0 down")
    actions = a.trackers_changed(255, False, 6.0, "eth0 up")
    assert transitions(actions) == [("VI_1", F, B), ("VI_2", F, B)]
    assert group.state is B


# ---------------------------------------------------------------------- resume


def test_resume_with_every_member_master_keeps_master() -> None:
    _a, _b, group = pair()
    actions = group.resume({"VI_1": M, "VI_2": M}, 50.0)
    assert transitions(actions) == []
    assert only(Resumed, actions) == [Resumed("VI_1", M), Resumed("VI_2", M)]
    assert sent(actions) == [("VI_1", 100), ("VI_2", 100)]
    assert states(group) == [M, M] and group.state is M
    assert group.next_deadline() == pytest.approx(51.0)


@pytest.mark.parametrize(
    "previous",
    [
        {"VI_1": M, "VI_2": B},
        {"VI_1": B, "VI_2": M},
        {"VI_1": M},  # VI_2 is new: it starts afresh as BACKUP
        {"VI_1": M, "VI_2": INIT},
    ],
)
def test_resume_with_a_member_not_master_takes_the_masters_to_backup(previous: dict[str, State]) -> None:
    _a, _b, group = pair()
    actions = group.resume(previous, 50.0)
    masters = [name for name, state in previous.items() if state is M]
    assert [(name, old, new) for name, old, new in transitions(actions) if old is M] == [(n, M, B) for n in masters]
    assert adverts(actions) == []  # a MASTER about to step down does not advertise
    assert states(group) == [B, B] and group.state is B
    assert group_moves(actions) == [(INIT, B)]


def test_resume_with_a_faulted_member_faults_the_group() -> None:
    _a, b, group = pair()
    b.trackers_changed(100, True, 50.0, "eth1 down")
    actions = group.resume({"VI_1": M, "VI_2": M}, 50.0)
    assert states(group) == [F, F] and group.state is F
    assert ("VI_1", 0) in sent(actions) and ("VI_2", 0) in sent(actions)
    assert group_moves(actions) == [(INIT, F)]


# ---------------------------------------------------------------------- the group's moves and deadlines


def test_group_transitions_carry_every_move_of_the_group_and_only_those() -> None:
    a, b, group = pair(100, 50)
    moves: list[tuple[State, State]] = []
    moves += group_moves(group.startup(0.0))
    moves += group_moves(a.timer_fired(down_interval(100)))  # held back: no move
    moves += group_moves(fire(b))
    moves += group_moves(a.timer_fired(a.next_deadline() or 0.0))  # an advert: no move
    moves += group_moves(b.trackers_changed(80, False, 6.0, "weight"))  # a priority change: no move
    moves += group_moves(b.advert_received(rx("192.0.2.9", 200), 7.0))
    moves += group_moves(a.trackers_changed(100, True, 8.0, "down"))
    moves += group_moves(a.trackers_changed(100, False, 9.0, "up"))
    moves += group_moves(group.shutdown(10.0))
    assert moves == [(INIT, B), (B, M), (M, B), (B, F), (F, B), (B, S)]
    assert states(group) == [S, S]


def test_next_deadline_is_the_members_earliest() -> None:
    a, b, group = pair(200, 100)
    assert group.next_deadline() is None  # nothing started
    group.startup(0.0)
    assert a.next_deadline() == pytest.approx(down_interval(200))
    assert b.next_deadline() == pytest.approx(down_interval(100))
    assert group.next_deadline() == a.next_deadline()
    a.timer_fired(down_interval(200))  # held back: its timer moves past b's
    assert group.next_deadline() == b.next_deadline() == pytest.approx(down_interval(100))
    fire(b)
    t = down_interval(100)
    assert group.next_deadline() == pytest.approx(t + 1.0)
    a.timer_fired(t + 1.0)
    b.advert_received(rx("192.0.2.9", 50), t + 1.5)  # b answers at once: its next advert is later
    assert a.next_deadline() == pytest.approx(t + 2.0) and b.next_deadline() == pytest.approx(t + 2.5)
    assert group.next_deadline() == pytest.approx(t + 2.0)


def test_members_with_different_advert_intervals() -> None:
    a = member("VI_1", 51, 100, advert_int=3.0)
    b = member("VI_2", 52, 100, advert_int=1.0)
    group = SyncGroup("G", [a, b])
    group.startup(0.0)
    assert group.next_deadline() == b.next_deadline() == pytest.approx(down_interval(100))
    fire(b)  # held back until a times out too
    assert transitions(fire(a)) == [("VI_1", B, M), ("VI_2", B, M)]
    assert a.next_deadline() == pytest.approx(9 + 156 / 256 + 3.0)


def test_a_group_needs_members_and_a_router_joins_one_group_only() -> None:
    with pytest.raises(ValueError, match="no members"):
        SyncGroup("G", [])
    a, _, _ = pair()
    with pytest.raises(ValueError, match="already in sync group G"):
        SyncGroup("H", [a])
    with pytest.raises(RuntimeError, match="start the group"):
        a.startup(0.0)


# ---------------------------------------------------------------------- two hosts on a simulated LAN


class GroupLan(Lan):
    """The simulated LAN, without the sync groups' own log lines (named after the group, not a router)."""

    def _apply(self, actions: list[Action]) -> None:
        super()._apply([a for a in actions if not isinstance(a, Log)])


def two_hosts() -> tuple[Lan, SyncGroup, SyncGroup]:
    a1 = member("A_51", 51, 150, address=HOST_A)
    a2 = member("A_52", 52, 50, address=HOST_A)
    b1 = member("B_51", 51, 100, address=HOST_B)
    b2 = member("B_52", 52, 100, address=HOST_B)
    group_a = SyncGroup("GA", [a1, a2])
    group_b = SyncGroup("GB", [b1, b2])
    return GroupLan([a1, a2, b1, b2], groups=[group_a, group_b]), group_a, group_b


def test_two_hosts_never_split_the_masters_of_their_groups() -> None:
    """Without sync groups, host A would hold VRID 51 (150 > 100) and host B VRID 52."""
    lan, group_a, group_b = two_hosts()

    def no_split(lan: Lan) -> None:
        for group in (group_a, group_b):
            assert len({r.state for r in group.members}) == 1, [r.state for r in group.members]

    lan.start()
    lan.run_until(30.0, watch=no_split)
    assert (group_a.state, group_b.state) == (B, M)
    assert [lan.nodes[i].router.name for i in lan.masters()] == ["B_51", "B_52"]
    # B fails: A takes both VRIDs, within a master down interval of the priority 0 adverts.
    lan.set_priority(2, 100, fault=True)
    assert group_b.state is F
    lan.run_until(30.0 + down_interval(150) + 0.01, watch=no_split)
    assert (group_a.state, group_b.state) == (M, F)
    assert [lan.nodes[i].router.name for i in lan.masters()] == ["A_51", "A_52"]
    lan.run_until(60.0, watch=no_split)
    assert [lan.nodes[i].router.name for i in lan.masters()] == ["A_51", "A_52"]


# ---------------------------------------------------------------------- the property


@dataclass(frozen=True)
class Advert:
    member: int
    priority: int
    source: int  # last octet of 192.0.2.x


@dataclass(frozen=True)
class Tick:
    dt: float


@dataclass(frozen=True)
class Trackers:
    member: int
    fault: bool
    priority: int


Event = Advert | Tick | Trackers

rarely = st.sampled_from([False, False, False, True])
events_st = st.one_of(
    st.builds(Advert, st.integers(0, 2), st.integers(0, 255), st.integers(2, 254)),
    st.builds(Tick, st.floats(0.0, 10.0, allow_nan=False)),
    st.builds(Tick, st.floats(0.0, 10.0, allow_nan=False)),
    st.builds(Trackers, st.integers(0, 2), rarely, st.integers(1, 254)),
)


@dataclass(frozen=True)
class Start:
    owners: bool
    sizes: int
    wants_master: tuple[bool, ...]
    priorities: tuple[int, ...]
    resume: tuple[State | None, ...] | None  # previous states, or a plain startup
    trackers: tuple[str, ...]  # each member's trackers before the start: "ok", "fault" or "pending"


start_st = st.builds(
    Start,
    st.booleans(),
    st.integers(2, 3),
    st.tuples(st.booleans(), st.booleans(), st.booleans()),
    st.tuples(st.integers(1, 254), st.integers(1, 254), st.integers(1, 254)),
    st.none() | st.tuples(*[st.sampled_from([M, B, F, None])] * 3),
    st.sampled_from(
        [("ok", "ok", "ok")] * 6
        + [("fault", "ok", "ok"), ("ok", "fault", "fault"), ("pending", "ok", "ok"), ("ok", "pending", "fault")]
    ),
)


class Checker:
    """Follows the actions and checks the group after each step."""

    def __init__(self, group: SyncGroup) -> None:
        self.group = group
        self.seen = {r.name: INIT for r in group.members}
        self.group_seen = INIT

    def apply(self, actions: list[Action]) -> None:
        for index, action in enumerate(actions):
            if isinstance(action, Transition):
                assert self.seen[action.instance] is action.old, action
                self.seen[action.instance] = action.new
            elif isinstance(action, Resumed):
                self.seen[action.instance] = action.state
            elif isinstance(action, GroupTransition):
                assert self.group_seen is action.old, action
                self.group_seen = action.new
                note_event(f"group {action.old} -> {action.new}")
            elif isinstance(action, SendAdvert):
                # Adverts come from a MASTER, or from a router about to become one (the advert goes
                # first); priority 0 only from a MASTER leaving.
                following = [
                    t.new for t in actions[index + 1 :] if isinstance(t, Transition) and t.instance == action.instance
                ]
                about_to_be_master = following[:1] == [M]
                assert self.seen[action.instance] is M or (action.priority > 0 and about_to_be_master), action
        for router in self.group.members:
            assert self.seen[router.name] is router.state, router.name
        self.check()

    def check(self) -> None:
        group = self.group
        member_states = {r.state for r in group.members}
        assert member_states == {group.state}, (group.state, [(r.name, r.state) for r in group.members])
        if group.state is F:
            assert group.next_deadline() is None
        if group.state is M:
            assert all(r.wantstate is M for r in group.members)
        if group.state is B:
            assert not any(r.fault for r in group.members)


def build(start: Start, now: float) -> tuple[SyncGroup, Checker, list[Action]]:
    routers = []
    for i in range(start.sizes):
        priority = 255 if start.owners else start.priorities[i]
        state = M if start.wants_master[i] else B
        routers.append(member(f"VI_{i}", 51 + i, priority, state, address=IPv4Address(f"192.0.2.{100 + i}")))
    for router, trackers in zip(routers, start.trackers, strict=False):
        if trackers != "ok":
            failed, pending = trackers == "fault", trackers == "pending"
            router.trackers_changed(router.settings.priority, failed, now, "before start", pending=pending)
    group = SyncGroup("G", routers)
    checker = Checker(group)
    if start.resume is None:
        actions = group.startup(now)
    else:
        previous = {r.name: s for r, s in zip(routers, start.resume, strict=False) if s is not None}
        actions = group.resume(previous, now)
    if not only(GroupTransition, actions):
        # A resume that moved no member takes up the group's state silently, as it does the members'.
        checker.group_seen = group.state
    return group, checker, actions


@settings(max_examples=500, deadline=None)
@given(start_st, st.lists(events_st, min_size=5, max_size=60))
def test_every_member_is_always_in_the_groups_state(start: Start, events: list[Event]) -> None:
    """After any event, every member is in its group's state, and the actions tell each move once.

    keepalived allows a member to be out of step only inside one of its own
    event handlers (the member moves, then vrrp_sync_* moves the others); the
    state machine returns from a call only once the whole group has moved.
    """
    now = 0.0
    group, checker, actions = build(start, now)
    checker.apply(actions)
    members = group.members
    for step in events:
        if isinstance(step, Tick):
            until = now + step.dt
            for _ in range(1000):
                deadline = group.next_deadline()
                if deadline is None or deadline > until:
                    break
                now = max(now, deadline)
                for router in members:
                    due = router.next_deadline()
                    if due is not None and due <= now:
                        checker.apply(router.timer_fired(now))
            else:
                raise AssertionError("timers kept firing")
            now = until
        elif step.member < len(members):
            router = members[step.member]
            if isinstance(step, Advert):
                checker.apply(router.advert_received(rx(f"192.0.2.{step.source}", step.priority), now))
            else:
                priority = 255 if router.settings.owner else step.priority
                checker.apply(router.trackers_changed(priority, step.fault, now, "trackers"))
    # With no fault left and no adverts, the group ends MASTER (every member times out).
    for router in members:
        checker.apply(router.trackers_changed(255 if router.settings.owner else 100, False, now, "all well"))
    for _ in range(50):
        deadline = group.next_deadline()
        if deadline is None or group.state is M:
            break
        now = deadline
        for router in members:
            due = router.next_deadline()
            if due is not None and due <= now:
                checker.apply(router.timer_fired(now))
    assert group.state is M
