"""Several VirtualRouters on a simulated LAN that loses and delays adverts.

The properties are RFC 5798's: once the network is clean and the priorities
stay put, one MASTER remains, and it has the highest priority among the routers
that are up. Equal priorities are broken by the primary address only when the
routers are MASTER at once (6.4.3); a BACKUP accepts an advert of its own
priority (6.4.2), so among equals the first to become MASTER may stay.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from ipaddress import IPv4Address

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.vrrp.core import VirtualRouter
from services.vrrp.states import State
from tests.vrrp_sim import Lan
from tests.vrrp_sim import settings as router_settings


def make_lan(priorities: list[int], *, seed: int = 0, **changes: object) -> Lan:
    routers = [
        VirtualRouter(
            router_settings(
                f"R{i}",
                priority=priority,
                initial_state=State.MASTER if priority == 255 else State.BACKUP,
                primary_address=IPv4Address(f"192.0.2.{i + 1}"),
                **changes,
            )
        )
        for i, priority in enumerate(priorities)
    ]
    return Lan(routers, seed=seed)


def down_interval(priority: int, interval: float = 1.0, version: int = 2) -> float:
    return 3 * interval + (256 - priority) / 256 * (interval if version == 3 else 1.0)


# ---------------------------------------------------------------------- scenarios


def test_the_highest_priority_becomes_master_and_stays() -> None:
    lan = make_lan([100, 200, 150])
    lan.start()
    lan.run_until(down_interval(200) + 0.001)
    assert lan.masters() == [1]
    lan.run_until(60.0, watch=lambda lan: _assert_one_master(lan, 1))
    assert all(len(node.history) == 1 for i, node in enumerate(lan.nodes) if i != 1)


def test_a_backup_takes_over_a_stopped_master_after_its_skew_time() -> None:
    lan = make_lan([200, 100, 150])
    lan.start()
    lan.run_until(10.0)
    assert lan.masters() == [0]
    lan.stop(0)
    lan.run_until(10.0 + (256 - 150) / 256 + 0.001)
    assert lan.masters() == [2]


def test_a_backup_takes_over_a_crashed_master_within_the_master_down_interval() -> None:
    lan = make_lan([200, 100, 150])
    lan.start()
    lan.run_until(10.0)
    lan.crash(0)
    # The last advert went out at 9.6..., so the timer runs out less than one interval later.
    lan.run_until(10.0 + down_interval(150))
    assert lan.masters() == [2]
    assert lan.nodes[1].router.state is State.BACKUP


def test_a_higher_priority_router_preempts_when_it_starts() -> None:
    lan = make_lan([100, 200])
    lan.start(0)
    lan.run_until(10.0)
    assert lan.masters() == [0]
    lan.start(1)
    lan.run_until(10.0 + down_interval(200) + 0.001)
    assert lan.masters() == [1]


def test_nopreempt_keeps_the_running_master() -> None:
    lan = make_lan([100, 200], nopreempt=True)
    lan.start(0)
    lan.run_until(10.0)
    lan.start(1)
    lan.run_until(60.0)
    assert lan.masters() == [0]


def test_preempt_delay_postpones_the_takeover() -> None:
    lan = make_lan([100, 200], preempt_delay=5.0)
    lan.start(0)
    lan.run_until(10.0)
    lan.start(1)
    # Adverts are accepted for 5 s after the first lower one, then ignored until the timer runs out.
    lan.run_until(10.0 + 5.0 + down_interval(200) - 1.0)
    assert lan.masters() == [0]
    lan.run_until(10.0 + 5.0 + down_interval(200) + 1.0)
    assert lan.masters() == [1]


def test_equal_priorities_masters_at_once_keep_the_higher_address() -> None:
    lan = make_lan([100, 100, 100], seed=3)
    lan.max_delay = 0.05  # they time out together and all become MASTER before hearing each other
    lan.start()
    lan.run_until(down_interval(100) + 0.2)
    assert lan.masters() == [2]
    assert all(node.history[1][2] is State.MASTER for node in lan.nodes)


def test_an_address_owner_takes_over_at_once() -> None:
    lan = make_lan([200, 255])
    lan.start(0)
    lan.run_until(10.0)
    lan.start(1)
    lan.run_until(10.001)
    assert lan.masters() == [1]


def test_a_master_whose_priority_drops_is_preempted() -> None:
    lan = make_lan([200, 150])
    lan.start()
    lan.run_until(10.0)
    lan.set_priority(0, 100)
    lan.run_until(10.0 + 1.0 + down_interval(150) + 0.001)
    assert lan.masters() == [1]


def test_a_faulted_master_hands_over_after_the_skew_time() -> None:
    lan = make_lan([200, 150])
    lan.start()
    lan.run_until(10.0)
    lan.set_priority(0, 200, fault=True)
    lan.run_until(10.0 + (256 - 150) / 256 + 0.001)
    assert lan.masters() == [1]


def test_vrrp3_backup_follows_a_faster_master() -> None:
    lan = make_lan([200, 100], version=3, advert_int=0.1)
    lan.start()
    lan.run_until(down_interval(200, 0.1, 3) + 0.001)
    assert lan.masters() == [0]
    lan.crash(0)
    crashed = lan.now
    lan.run_until(crashed + down_interval(100, 0.1, 3))
    assert lan.masters() == [1]


# ---------------------------------------------------------------------- random networks


@dataclass(frozen=True)
class Change:
    at: float
    router: int
    priority: int
    fault: bool


@st.composite
def networks(draw: st.DrawFn) -> tuple[Lan, list[float], list[Change], float, float]:
    n = draw(st.integers(2, 5))
    version = draw(st.sampled_from([2, 3]))
    interval = 1.0 if version == 2 else draw(st.sampled_from([0.1, 0.5, 1.0]))
    priorities = draw(st.lists(st.integers(1, 254), min_size=n, max_size=n))
    if draw(st.booleans()):
        priorities[draw(st.integers(0, n - 1))] = 255
    lan = make_lan(
        priorities,
        seed=draw(st.integers(0, 2**32 - 1)),
        version=version,
        advert_int=interval,
        lower_prio_no_advert=draw(st.booleans()),
        higher_prio_send_advert=draw(st.booleans()),
    )
    chaos = draw(st.floats(0.0, 20.0)) * interval
    lan.loss = draw(st.sampled_from([0.0, 0.1, 0.5, 0.9, 1.0]))
    lan.max_delay = draw(st.floats(0.0, 0.3)) * interval
    starts = [draw(st.floats(0.0, chaos)) for _ in range(n)]
    changes = draw(
        st.lists(
            st.builds(
                Change,
                st.floats(0.0, chaos),
                st.integers(0, n - 1),
                st.integers(1, 254),
                st.booleans(),
            ),
            max_size=6,
        )
    )
    settled_delay = draw(st.floats(0.0, 0.2)) * interval
    return lan, starts, changes, chaos, settled_delay


def _assert_one_master(lan: Lan, expected: int) -> None:
    assert lan.masters() == [expected], f"at {lan.now}: masters {lan.masters()}"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks())
def test_after_the_last_change_one_master_has_the_highest_priority(
    network: tuple[Lan, list[float], list[Change], float, float],
) -> None:
    lan, starts, changes, chaos, settled_delay = network
    events: list[tuple[float, int, str, int | Change]] = [(at, i, "start", i) for i, at in enumerate(starts)]
    events += [(c.at, len(starts) + k, "change", c) for k, c in enumerate(changes)]
    for at, _, kind, what in sorted(events, key=lambda e: e[:2]):
        lan.run_until(at)
        if kind == "start":
            assert isinstance(what, int)
            lan.start(what)
        else:
            assert isinstance(what, Change)
            router = lan.nodes[what.router].router
            if router.settings.priority != 255:
                lan.set_priority(what.router, what.priority, what.fault)
            elif what.fault:
                lan.set_priority(what.router, 255, True)
    lan.run_until(chaos)
    # From now on: no loss, short delays, no more changes.
    lan.loss = 0.0
    lan.max_delay = settled_delay
    interval = lan.nodes[0].router.settings.advert_int
    up = [i for i, node in enumerate(lan.nodes) if not node.router.fault]
    lowest = min((lan.nodes[i].router.priority for i in up), default=255)
    worst = lan.nodes[0].router.settings.down_timer_adverts * interval + (256 - lowest) / 256 * (
        interval if lan.nodes[0].router.settings.version == 3 else 1.0
    )
    settled = chaos + worst + interval + 3 * settled_delay + 0.01
    lan.run_until(settled)
    if not up:
        assert lan.masters() == []
        return
    best = max(lan.nodes[i].router.priority for i in up)
    masters = lan.masters()
    assert len(masters) == 1, f"masters {masters} at {lan.now}"
    assert lan.nodes[masters[0]].router.priority == best
    assert not lan.nodes[masters[0]].router.fault
    # And it stays that way: never two masters, never none, in a stable period.
    lan.run_until(settled + 20 * interval, watch=lambda lan: _assert_one_master(lan, masters[0]))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(1, 254), min_size=2, max_size=6, unique=True), st.integers(0, 2**32 - 1))
def test_a_clean_start_elects_the_highest_priority_within_one_master_down_interval(
    priorities: list[int], seed: int
) -> None:
    lan = make_lan(priorities, seed=seed)
    ordered = sorted(priorities)
    # Below the smallest difference of skew times, so each advert arrives before the next timeout.
    lan.max_delay = 0.9 * min(b - a for a, b in itertools.pairwise(ordered)) / 256
    lan.start()
    best = priorities.index(max(priorities))
    lan.run_until(down_interval(max(priorities)) + 0.1)
    assert lan.masters() == [best]
    # No router but the best ever became MASTER: the skew orders the timeouts.
    assert all(node.history == [(0.0, State.INIT, State.BACKUP)] for i, node in enumerate(lan.nodes) if i != best)


@pytest.mark.parametrize("loss", [0.3, 0.7])
def test_two_masters_during_loss_resolve_once_it_stops(loss: float) -> None:
    lan = make_lan([200, 150, 100], seed=7)
    lan.loss = loss
    lan.start()
    lan.run_until(60.0)
    lan.loss = 0.0
    lan.run_until(60.0 + down_interval(100) + 1.01)
    assert lan.masters() == [0]
