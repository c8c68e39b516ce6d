"""AnnounceScheduler on a fake clock: exact schedules of gratuitous ARPs and NAs."""

from __future__ import annotations

import itertools
from ipaddress import IPv4Address, IPv6Address, ip_address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.netconfig.announce_core import (
    Announcement,
    AnnounceScheduler,
    AnnounceSettings,
    Kind,
    Send,
    Spacing,
)

V4 = Announcement("eth0", IPv4Address("192.0.2.10"))
V4B = Announcement("eth0", IPv4Address("192.0.2.11"))
V6 = Announcement("eth0", IPv6Address("2001:db8::10"))
NO_DELAY = AnnounceSettings(delay=0.0)

Event = tuple[float, str, str]


def run(scheduler: AnnounceScheduler, until: float, limit: int = 10_000) -> list[Event]:
    """(time, instance, address) of every send, driving the scheduler from deadline to deadline."""
    timeline: list[Event] = []
    for _ in range(limit):
        deadline = scheduler.next_deadline()
        if deadline is None or deadline > until:
            return timeline
        timeline.extend((deadline, send.instance, str(send.address)) for send in scheduler.due(deadline))
    raise AssertionError("the scheduler kept waking without progress")


def times(timeline: list[Event]) -> list[float]:
    return [when for when, _, _ in timeline]


def test_nothing_scheduled_means_no_deadline() -> None:
    scheduler = AnnounceScheduler()
    assert scheduler.next_deadline() is None
    assert scheduler.due(123.0) == []


def test_defaults_five_at_once_and_five_more_after_five_seconds() -> None:
    scheduler = AnnounceScheduler()
    scheduler.became_master("VI_1", [V4, V6], AnnounceSettings(), now=100.0)
    assert scheduler.next_deadline() == 100.0

    first = scheduler.due(100.0)
    assert [str(send.address) for send in first] == ["192.0.2.10", "2001:db8::10"] * 5
    assert [send.kind for send in first] == [Kind.ARP, Kind.NA] * 5
    assert scheduler.next_deadline() == 105.0
    assert scheduler.due(104.999) == []

    second = scheduler.due(105.0)
    assert second == first
    assert scheduler.next_deadline() is None
    assert scheduler.due(1000.0) == []


def test_send_names_interface_kind_address_and_source_mac() -> None:
    vmac = Announcement("vrrp.51", IPv4Address("192.0.2.20"), src_mac=bytes.fromhex("00005e000133"),
                        base_interface="eth0")
    scheduler = AnnounceScheduler()
    scheduler.became_master("VI_1", [vmac, V6], AnnounceSettings(repeat=1, delay=0), now=0.0)
    assert scheduler.due(0.0) == [
        Send("VI_1", "vrrp.51", Kind.ARP, IPv4Address("192.0.2.20"), bytes.fromhex("00005e000133"), "eth0"),
        Send("VI_1", "eth0", Kind.NA, IPv6Address("2001:db8::10"), None, "eth0"),
    ]


def test_no_second_burst_without_delay_and_no_sends_without_repeat() -> None:
    scheduler = AnnounceScheduler()
    scheduler.became_master("VI_1", [V4], AnnounceSettings(repeat=1, delay=0), now=0.0)
    assert len(scheduler.due(0.0)) == 1
    assert scheduler.next_deadline() is None

    scheduler.became_master("VI_2", [V4], AnnounceSettings(repeat=0, delay=5), now=0.0)
    assert run(scheduler, until=100.0) == []


def test_refresh_every_period_while_master() -> None:
    scheduler = AnnounceScheduler()
    scheduler.became_master("VI_1", [V4], AnnounceSettings(delay=0, refresh=30, refresh_repeat=2), now=10.0)
    assert times(run(scheduler, until=100.0)) == [10.0] * 5 + [40.0] * 2 + [70.0] * 2 + [100.0] * 2
    assert scheduler.next_deadline() == 130.0


def test_late_refresh_counts_the_next_period_from_when_it_went_out() -> None:
    scheduler = AnnounceScheduler()
    scheduler.became_master("VI_1", [V4], AnnounceSettings(repeat=1, delay=0, refresh=30), now=0.0)
    scheduler.due(0.0)
    assert len(scheduler.due(47.0)) == 1
    assert scheduler.next_deadline() == 77.0


def test_refresh_and_delayed_burst_together() -> None:
    scheduler = AnnounceScheduler()
    scheduler.became_master("VI_1", [V4], AnnounceSettings(repeat=2, delay=5, refresh=4), now=0.0)
    assert times(run(scheduler, until=9.0)) == [0.0, 0.0, 4.0, 5.0, 5.0, 8.0]


def test_lower_priority_advert_sends_a_burst_and_another_after_the_delay() -> None:
    scheduler = AnnounceScheduler()
    scheduler.became_master("VI_1", [V4, V6], AnnounceSettings(delay=0, lower_prio_repeat=2, lower_prio_delay=3),
                            now=0.0)
    scheduler.due(0.0)
    scheduler.lower_priority_seen("VI_1", now=10.0)
    assert scheduler.next_deadline() == 10.0
    assert [str(send.address) for send in scheduler.due(10.0)] == ["192.0.2.10", "2001:db8::10"] * 2
    assert scheduler.next_deadline() == 13.0
    assert len(scheduler.due(13.0)) == 4
    assert scheduler.next_deadline() is None


def test_each_lower_priority_advert_gets_its_own_delayed_burst() -> None:
    scheduler = AnnounceScheduler()
    scheduler.became_master("VI_1", [V4], AnnounceSettings(delay=0, lower_prio_repeat=1, lower_prio_delay=5),
                            now=0.0)
    scheduler.due(0.0)
    scheduler.lower_priority_seen("VI_1", now=1.0)
    scheduler.lower_priority_seen("VI_1", now=2.0)
    assert times(run(scheduler, until=100.0)) == [1.0, 2.0, 6.0, 7.0]


def test_lower_priority_advert_ignored_unless_master_or_configured() -> None:
    scheduler = AnnounceScheduler()
    scheduler.lower_priority_seen("VI_1", now=1.0)
    assert scheduler.next_deadline() is None

    scheduler.became_master("VI_1", [V4], AnnounceSettings(delay=0, lower_prio_repeat=0, lower_prio_delay=5),
                            now=0.0)
    scheduler.due(0.0)
    scheduler.lower_priority_seen("VI_1", now=1.0)
    assert scheduler.next_deadline() is None


def test_spacing_on_one_interface() -> None:
    scheduler = AnnounceScheduler(default_spacing=Spacing(arp=0.25, na=0.5))
    scheduler.became_master("VI_1", [V4, V6], AnnounceSettings(repeat=3, delay=0), now=0.0)
    timeline = run(scheduler, until=100.0)
    arp = [when for when, _, address in timeline if address == "192.0.2.10"]
    na = [when for when, _, address in timeline if address == "2001:db8::10"]
    # ARPs and NAs have separate timers: neither kind waits for the other.
    assert arp == [0.0, 0.25, 0.5]
    assert na == [0.0, 0.5, 1.0]


def test_spacing_is_shared_by_instances_on_the_same_interface_first_come_first_served() -> None:
    scheduler = AnnounceScheduler(spacing={"eth0": Spacing(arp=0.5)})
    scheduler.became_master("VI_1", [V4], AnnounceSettings(repeat=2, delay=0), now=0.0)
    scheduler.became_master("VI_2", [V4B], AnnounceSettings(repeat=2, delay=0), now=0.0)
    other = Announcement("eth1", IPv4Address("192.0.2.30"))
    scheduler.became_master("VI_3", [other], AnnounceSettings(repeat=2, delay=0), now=0.0)

    assert run(scheduler, until=100.0) == [
        (0.0, "VI_1", "192.0.2.10"),
        (0.0, "VI_3", "192.0.2.30"),
        (0.0, "VI_3", "192.0.2.30"),
        (0.5, "VI_1", "192.0.2.10"),
        (1.0, "VI_2", "192.0.2.11"),
        (1.5, "VI_2", "192.0.2.11"),
    ]


def test_spacing_of_an_instance_that_arrives_while_another_is_queued() -> None:
    scheduler = AnnounceScheduler(default_spacing=Spacing(arp=1.0))
    scheduler.became_master("VI_1", [V4], AnnounceSettings(repeat=3, delay=0), now=0.0)
    assert len(scheduler.due(0.0)) == 1
    scheduler.became_master("VI_2", [V4B], AnnounceSettings(repeat=1, delay=0), now=0.5)
    assert scheduler.next_deadline() == 0.5
    assert scheduler.due(0.5) == []
    assert scheduler.next_deadline() == 1.0
    assert run(scheduler, until=100.0) == [(1.0, "VI_1", "192.0.2.10"), (2.0, "VI_1", "192.0.2.10"),
                                          (3.0, "VI_2", "192.0.2.11")]


def test_a_vmac_is_spaced_with_its_base_interface() -> None:
    vmac = Announcement("vrrp.51", IPv4Address("192.0.2.20"), base_interface="eth0")
    scheduler = AnnounceScheduler(spacing={"eth0": Spacing(arp=1.0)})
    scheduler.became_master("VI_1", [V4, vmac], AnnounceSettings(repeat=1, delay=0), now=0.0)
    assert times(run(scheduler, until=100.0)) == [0.0, 1.0]


def test_a_garp_group_shares_one_timer_across_its_interfaces() -> None:
    group = Spacing(arp=1.0, group="uplinks")
    scheduler = AnnounceScheduler(spacing={"eth0": group, "eth1": group})
    on_eth1 = Announcement("eth1", IPv4Address("192.0.2.30"))
    scheduler.became_master("VI_1", [V4, on_eth1], AnnounceSettings(repeat=1, delay=0), now=0.0)
    assert times(run(scheduler, until=100.0)) == [0.0, 1.0]


def test_late_wakeup_still_spaces_from_the_actual_send() -> None:
    scheduler = AnnounceScheduler(default_spacing=Spacing(arp=1.0))
    scheduler.became_master("VI_1", [V4], AnnounceSettings(repeat=3, delay=0), now=0.0)
    scheduler.due(0.0)
    # A stalled loop must not turn the backlog into a burst: one per interval, from when it resumed.
    assert len(scheduler.due(7.0)) == 1
    assert scheduler.next_deadline() == 8.0


def test_leaving_master_cancels_queued_and_delayed_sends() -> None:
    scheduler = AnnounceScheduler(default_spacing=Spacing(arp=1.0))
    scheduler.became_master("VI_1", [V4], AnnounceSettings(repeat=3, delay=5, refresh=60), now=0.0)
    scheduler.due(0.0)
    assert scheduler.pending("VI_1") == 2
    scheduler.left_master("VI_1", now=0.5)
    assert not scheduler.is_master("VI_1")
    assert scheduler.pending("VI_1") == 0
    assert scheduler.next_deadline() is None
    assert run(scheduler, until=1000.0) == []


def test_leaving_master_leaves_other_instances_alone_and_keeps_earned_spacing() -> None:
    scheduler = AnnounceScheduler(default_spacing=Spacing(arp=1.0))
    scheduler.became_master("VI_1", [V4], AnnounceSettings(repeat=2, delay=0), now=0.0)
    scheduler.became_master("VI_2", [V4B], AnnounceSettings(repeat=1, delay=0), now=0.0)
    scheduler.due(0.0)
    scheduler.left_master("VI_1", now=0.2)
    # VI_1's frame at 0.0 went out, so VI_2 still waits for the interval.
    assert run(scheduler, until=100.0) == [(1.0, "VI_2", "192.0.2.11")]


def test_becoming_master_again_starts_afresh() -> None:
    scheduler = AnnounceScheduler()
    scheduler.became_master("VI_1", [V4], AnnounceSettings(repeat=1, delay=5), now=0.0)
    scheduler.due(0.0)
    scheduler.left_master("VI_1", now=1.0)
    scheduler.became_master("VI_1", [V6], AnnounceSettings(repeat=1, delay=5), now=2.0)
    assert run(scheduler, until=100.0) == [(2.0, "VI_1", "2001:db8::10"), (7.0, "VI_1", "2001:db8::10")]


def test_instance_without_addresses_schedules_nothing() -> None:
    scheduler = AnnounceScheduler()
    scheduler.became_master("VI_1", [], AnnounceSettings(refresh=10), now=0.0)
    assert scheduler.is_master("VI_1")
    assert scheduler.next_deadline() is None


@pytest.mark.parametrize("late", [0.0, 0.3])
def test_next_deadline_is_the_earliest_of_bursts_refreshes_and_spacing(late: float) -> None:
    scheduler = AnnounceScheduler(spacing={"eth1": Spacing(arp=2.0)})
    scheduler.became_master("VI_1", [V4], AnnounceSettings(repeat=1, delay=5, refresh=3), now=0.0)
    scheduler.became_master("VI_2", [Announcement("eth1", IPv4Address("192.0.2.30"))],
                            AnnounceSettings(repeat=2, delay=0), now=0.0)
    scheduler.due(late)
    assert scheduler.next_deadline() == pytest.approx(late + 2.0)
    scheduler.due(late + 2.0)
    assert scheduler.next_deadline() == 3.0


ADDRESSES = st.sampled_from(["192.0.2.1", "192.0.2.2", "2001:db8::1", "2001:db8::2"])
INTERFACES = st.sampled_from(["eth0", "eth1"])


@settings(max_examples=150, deadline=None)
@given(
    instances=st.lists(st.lists(st.tuples(INTERFACES, ADDRESSES), min_size=1, max_size=3), min_size=1, max_size=3),
    repeat=st.integers(0, 4),
    delay=st.sampled_from([0.0, 0.5, 3.0]),
    arp=st.sampled_from([0.0, 0.1, 0.75]),
    na=st.sampled_from([0.0, 0.2, 1.0]),
)
def test_every_announcement_goes_out_once_and_never_closer_than_the_interval(
    instances: list[list[tuple[str, str]]], repeat: int, delay: float, arp: float, na: float
) -> None:
    scheduler = AnnounceScheduler(default_spacing=Spacing(arp=arp, na=na))
    for index, addresses in enumerate(instances):
        announcements = [Announcement(interface, ip_address(address)) for interface, address in addresses]
        scheduler.became_master(f"VI_{index}", announcements, AnnounceSettings(repeat=repeat, delay=delay), now=0.0)

    sends: list[tuple[float, Send]] = []
    for _ in range(10_000):
        deadline = scheduler.next_deadline()
        if deadline is None:
            break
        sends.extend((deadline, send) for send in scheduler.due(deadline))

    bursts = 2 if delay > 0 else 1
    assert len(sends) == sum(len(addresses) for addresses in instances) * repeat * bursts
    for interface in ("eth0", "eth1"):
        for kind, interval in ((Kind.ARP, arp), (Kind.NA, na)):
            on_lane = [when for when, send in sends if send.interface == interface and send.kind is kind]
            gaps = [later - earlier for earlier, later in itertools.pairwise(on_lane)]
            assert all(gap >= interval - 1e-9 for gap in gaps)


def test_an_added_address_gets_the_bursts_of_a_new_master_and_later_rounds_cover_it() -> None:
    scheduler = AnnounceScheduler()
    scheduler.became_master("VI_1", [V4], AnnounceSettings(repeat=2, delay=5), now=0.0)
    scheduler.due(0.0)
    scheduler.targets_changed("VI_1", [V4, V6], now=1.0)
    assert run(scheduler, until=100.0) == [
        (1.0, "VI_1", "2001:db8::10"),
        (1.0, "VI_1", "2001:db8::10"),
        # The first transition's delayed round walks the addresses the instance has by then, as keepalived does.
        (5.0, "VI_1", "192.0.2.10"),
        (5.0, "VI_1", "2001:db8::10"),
        (5.0, "VI_1", "192.0.2.10"),
        (5.0, "VI_1", "2001:db8::10"),
        (6.0, "VI_1", "2001:db8::10"),
        (6.0, "VI_1", "2001:db8::10"),
    ]


def test_a_reinstalled_address_is_announced_again_and_only_it() -> None:
    scheduler = AnnounceScheduler()
    scheduler.became_master("VI_1", [V4, V6], AnnounceSettings(repeat=1, delay=2), now=0.0)
    run(scheduler, until=10.0)
    scheduler.targets_changed("VI_1", [V4, V6], now=20.0, reinstalled=[V6])
    assert run(scheduler, until=100.0) == [(20.0, "VI_1", "2001:db8::10"), (22.0, "VI_1", "2001:db8::10")]


def test_a_removed_address_leaves_the_queue_and_every_later_round() -> None:
    scheduler = AnnounceScheduler(default_spacing=Spacing(arp=1.0))
    scheduler.became_master("VI_1", [V4, V4B], AnnounceSettings(repeat=2, delay=10, refresh=30), now=0.0)
    assert [str(send.address) for send in scheduler.due(0.0)] == ["192.0.2.10"]
    scheduler.targets_changed("VI_1", [V4B], now=0.5)
    assert scheduler.pending("VI_1") == 2
    assert run(scheduler, until=31.0) == [
        (1.0, "VI_1", "192.0.2.11"),
        (2.0, "VI_1", "192.0.2.11"),
        (10.0, "VI_1", "192.0.2.11"),
        (11.0, "VI_1", "192.0.2.11"),
        (30.0, "VI_1", "192.0.2.11"),
    ]


def test_a_burst_for_an_address_removed_before_it_fires_sends_nothing() -> None:
    scheduler = AnnounceScheduler()
    scheduler.became_master("VI_1", [V4], AnnounceSettings(repeat=1, delay=5), now=0.0)
    scheduler.due(0.0)
    scheduler.targets_changed("VI_1", [V4, V6], now=1.0)
    scheduler.due(1.0)
    scheduler.targets_changed("VI_1", [V4], now=2.0)
    assert run(scheduler, until=100.0) == [(5.0, "VI_1", "192.0.2.10")]


def test_targets_of_an_instance_that_is_not_master_are_ignored() -> None:
    scheduler = AnnounceScheduler()
    scheduler.targets_changed("VI_1", [V4], now=0.0, reinstalled=[V4])
    assert not scheduler.is_master("VI_1")
    assert scheduler.next_deadline() is None


def test_refresh_starts_with_the_first_address_and_stops_with_the_last() -> None:
    scheduler = AnnounceScheduler()
    scheduler.became_master("VI_1", [], AnnounceSettings(repeat=1, delay=0, refresh=10), now=0.0)
    scheduler.targets_changed("VI_1", [V4], now=3.0)
    assert times(run(scheduler, until=25.0)) == [3.0, 13.0, 23.0]
    scheduler.targets_changed("VI_1", [], now=25.0)
    assert scheduler.next_deadline() is None


def test_new_spacing_applies_to_what_is_queued_afterwards() -> None:
    scheduler = AnnounceScheduler(default_spacing=Spacing(arp=1.0))
    scheduler.set_spacing({"eth0": Spacing(arp=0.25)})
    scheduler.became_master("VI_1", [V4], AnnounceSettings(repeat=3, delay=0), now=0.0)
    assert times(run(scheduler, until=100.0)) == [0.0, 0.25, 0.5]


@settings(max_examples=150, deadline=None)
@given(
    changes=st.lists(
        st.tuples(
            st.floats(0.0, 8.0),
            st.lists(st.tuples(INTERFACES, ADDRESSES), max_size=3),
            st.lists(st.tuples(INTERFACES, ADDRESSES), max_size=2),
        ),
        max_size=4,
    ),
    arp=st.sampled_from([0.0, 0.1, 0.75]),
    na=st.sampled_from([0.0, 0.2, 1.0]),
)
def test_changing_targets_never_sends_an_address_no_longer_listed_nor_crowds_an_interface(
    changes: list[tuple[float, list[tuple[str, str]], list[tuple[str, str]]]], arp: float, na: float
) -> None:
    scheduler = AnnounceScheduler(default_spacing=Spacing(arp=arp, na=na))
    first = [Announcement("eth0", IPv4Address("192.0.2.1")), Announcement("eth1", IPv6Address("2001:db8::1"))]
    scheduler.became_master("VI_1", first, AnnounceSettings(repeat=3, delay=2.0, refresh=3.0), now=0.0)
    listed = set(first)
    sends: list[tuple[float, Send]] = []
    pending_changes = sorted(changes, key=lambda change: change[0])

    def drive(until: float) -> None:
        while (deadline := scheduler.next_deadline()) is not None and deadline <= until:
            for send in scheduler.due(deadline):
                assert Announcement(send.interface, send.address) in listed
                sends.append((deadline, send))

    for when, targets, reinstalled in pending_changes:
        drive(when)
        announcements = [Announcement(interface, ip_address(address)) for interface, address in targets]
        again = [Announcement(interface, ip_address(address)) for interface, address in reinstalled]
        scheduler.targets_changed("VI_1", announcements, now=when, reinstalled=again)
        listed = set(announcements)
    drive(20.0)

    for interface in ("eth0", "eth1"):
        for kind, interval in ((Kind.ARP, arp), (Kind.NA, na)):
            on_lane = [when for when, send in sends if send.interface == interface and send.kind is kind]
            assert all(later - earlier >= interval - 1e-9 for earlier, later in itertools.pairwise(on_lane))


def test_an_adopted_master_sends_no_bursts_but_keeps_refreshes_and_repairs() -> None:
    scheduler = AnnounceScheduler()
    settings = AnnounceSettings(repeat=2, delay=5, refresh=30)
    scheduler.became_master("VI_1", [V4, V6], settings, now=0.0, announced_already=True)
    assert scheduler.is_master("VI_1")
    assert run(scheduler, until=29.0) == []
    assert run(scheduler, until=31.0) == [(30.0, "VI_1", "192.0.2.10"), (30.0, "VI_1", "2001:db8::10")]
    scheduler.targets_changed("VI_1", [V4, V6], now=40.0, reinstalled=[V4])
    assert run(scheduler, until=50.0) == [(40.0, "VI_1", "192.0.2.10")] * 2 + [(45.0, "VI_1", "192.0.2.10")] * 2
