"""When to send gratuitous ARPs and unsolicited Neighbour Advertisements, without sockets or clocks.

keepalived 2.2.7's rules, which this follows:

- becoming MASTER sends `repeat` rounds over the instance's addresses at once
  and, if `delay` > 0, the same again `delay` seconds later
  (vrrp.c vrrp_state_become_master, vrrp_state_master_tx);
- while MASTER, `refresh` > 0 sends `refresh_repeat` rounds every `refresh`
  seconds, counted from becoming MASTER and then from each refresh;
- a MASTER that receives a lower-priority advert sends `lower_prio_repeat`
  rounds at once and again `lower_prio_delay` seconds later (vrrp.c
  vrrp_state_master_rx), one delayed round per advert received;
- a round is one announcement per address, in the order given;
- on one interface (or `garp_group` of interfaces) consecutive ARPs are at
  least the ARP interval apart and consecutive NAs the NA interval apart,
  whichever instance sends them; the two kinds do not delay each other
  (vrrp_arp.c, vrrp_ndisc.c, vrrp_scheduler.c vrrp_arp_thread);
- leaving MASTER drops everything still scheduled (vrrp.c
  vrrp_remove_delayed_arp; the delayed threads find the VIPs unset);
- a delayed or refresh round covers the addresses the instance has when it
  fires (vrrp_send_link_update walks the VIP list as it is then).

keepalived has no counterpart to `targets_changed`: there, an instance whose
VIP is deleted goes BACKUP and announces everything again when it wins the
election back. Here netconfig restores the address instead, so it announces
the restored and the added addresses as a new MASTER would (`repeat` rounds
now and again after `delay`), and nothing more of the others.

Unlike keepalived, every announcement of every round goes out. keepalived
keeps a single pending flag per address (vrrp_arp.c queue_garp), so with an
interval set an address has at most one announcement waiting and a burst puts
at most two per address on the wire, whatever the repeat count says. And
keepalived looks at the refresh timer only when it sends an advert
(vrrp_state_master_tx), so its refreshes come up to one advert interval late;
here they come on time.

Every method takes `now` in monotonic seconds. The events only change the
per-instance schedules; `due(now)` turns what has come due into `Send`s, and
the caller sleeps until `next_deadline()`.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from heapq import heappop, heappush
from ipaddress import IPv4Address, IPv6Address

IPAddress = IPv4Address | IPv6Address


class Kind(StrEnum):
    ARP = "arp"
    NA = "na"


@dataclass(frozen=True)
class Announcement:
    """One virtual address to announce.

    `src_mac` None means the sending interface's own MAC, which for a VMAC
    interface is the VMAC. `base_interface` is the interface a VMAC sits on:
    keepalived spaces announcements and reads the forwarding flag there.
    """

    interface: str
    address: IPAddress
    src_mac: bytes | None = None
    base_interface: str | None = None

    @property
    def kind(self) -> Kind:
        return Kind.ARP if self.address.version == 4 else Kind.NA

    @property
    def physical_interface(self) -> str:
        return self.base_interface or self.interface


@dataclass(frozen=True)
class AnnounceSettings:
    """An instance's garp_* settings, with keepalived's defaults (times in seconds)."""

    repeat: int = 5
    delay: float = 5.0
    refresh: float = 0.0
    refresh_repeat: int = 1
    lower_prio_repeat: int = 5
    lower_prio_delay: float = 5.0


@dataclass(frozen=True)
class Spacing:
    """Minimum seconds between ARPs and between NAs on an interface (vrrp_garp_interval, vrrp_gna_interval).

    Interfaces listed together in one garp_group share its timers: give them
    the same `group`.
    """

    arp: float = 0.0
    na: float = 0.0
    group: str | None = None

    def interval(self, kind: Kind) -> float:
        return self.arp if kind is Kind.ARP else self.na


@dataclass(frozen=True)
class Send:
    instance: str
    interface: str
    kind: Kind
    address: IPAddress
    src_mac: bytes | None
    base_interface: str


@dataclass(frozen=True)
class _Lane:
    """Announcements that must be spaced from each other: one kind on one interface or group."""

    name: str
    kind: Kind
    interval: float


@dataclass(frozen=True)
class _Entry:
    seq: int
    ready: float
    send: Send


@dataclass(frozen=True, order=True)
class _Burst:
    """`repeat` rounds at `when`, over `only` or else over whatever the instance announces by then."""

    when: float
    seq: int
    repeat: int = field(compare=False)
    only: tuple[Announcement, ...] | None = field(default=None, compare=False)


@dataclass
class _Schedule:
    instance: str
    announcements: tuple[Announcement, ...]
    settings: AnnounceSettings
    bursts: list[_Burst] = field(default_factory=list)
    next_refresh: float | None = None
    queues: dict[_Lane, deque[_Entry]] = field(default_factory=dict)


class AnnounceScheduler:
    def __init__(self, spacing: Mapping[str, Spacing] | None = None, default_spacing: Spacing | None = None) -> None:
        self._spacing = dict(spacing or {})
        self._default_spacing = default_spacing or Spacing()
        self._schedules: dict[str, _Schedule] = {}
        self._lane_free: dict[_Lane, float] = {}
        # One sequence across instances, so a shared interface serves them first come, first served.
        self._seq = itertools.count()

    def became_master(
        self,
        instance: str,
        announcements: Sequence[Announcement],
        settings: AnnounceSettings,
        now: float,
        *,
        announced_already: bool = False,
    ) -> None:
        """Start announcing; replaces whatever was scheduled for `instance`.

        `announced_already`: the instance was MASTER before this scheduler existed (a restarted
        netconfig adopting its VIPs), so the becoming-MASTER bursts went out then; refreshes,
        repairs and lower-priority bursts still follow.
        """
        schedule = _Schedule(instance, tuple(announcements), settings)
        if not announced_already:
            self._master_bursts(schedule, now)
        if settings.refresh > 0 and announcements:
            schedule.next_refresh = now + settings.refresh
        self._schedules[instance] = schedule

    def targets_changed(
        self,
        instance: str,
        announcements: Sequence[Announcement],
        now: float,
        *,
        reinstalled: Collection[Announcement] = (),
    ) -> None:
        """`instance` now announces `announcements`; ignored unless it is MASTER.

        Added addresses, and those in `reinstalled` (restored after someone
        deleted them), get the bursts of a new MASTER. Queued announcements of
        addresses no longer listed are dropped; later rounds (delayed,
        refresh, lower priority) cover the new list.
        """
        schedule = self._schedules.get(instance)
        if schedule is None:
            return
        before = set(schedule.announcements)
        schedule.announcements = tuple(announcements)
        kept = {_send(instance, announcement) for announcement in schedule.announcements}
        for queue in schedule.queues.values():
            remaining = [entry for entry in queue if entry.send in kept]
            queue.clear()
            queue.extend(remaining)
        _drop_empty_queues(schedule)
        fresh = tuple(
            announcement
            for announcement in dict.fromkeys(schedule.announcements)
            if announcement not in before or announcement in reinstalled
        )
        self._master_bursts(schedule, now, fresh)
        if not schedule.announcements:
            schedule.next_refresh = None
        elif schedule.settings.refresh > 0 and schedule.next_refresh is None:
            schedule.next_refresh = now + schedule.settings.refresh

    def set_spacing(self, spacing: Mapping[str, Spacing], default_spacing: Spacing | None = None) -> None:
        """New pacing (a reload) for what is queued from now on; what is already queued keeps its old pacing."""
        self._spacing = dict(spacing)
        self._default_spacing = default_spacing or Spacing()

    def lower_priority_seen(self, instance: str, now: float) -> None:
        """A lower-priority advert reached `instance` while MASTER; ignored otherwise."""
        schedule = self._schedules.get(instance)
        if schedule is None or schedule.settings.lower_prio_repeat <= 0:
            return
        self._add_burst(schedule, now, schedule.settings.lower_prio_repeat)
        if schedule.settings.lower_prio_delay > 0:
            self._add_burst(schedule, now + schedule.settings.lower_prio_delay, schedule.settings.lower_prio_repeat)

    def left_master(self, instance: str, now: float) -> None:
        """BACKUP, FAULT or STOP: nothing more for `instance`; spacing already earned by sent frames stays."""
        self._schedules.pop(instance, None)

    def is_master(self, instance: str) -> bool:
        return instance in self._schedules

    def due(self, now: float) -> list[Send]:
        """What to send now, in the order it was scheduled."""
        for schedule in self._schedules.values():
            self._fire(schedule, now)
        taken = [entry for lane in self._busy_lanes() for entry in self._take(lane, now)]
        for schedule in self._schedules.values():
            _drop_empty_queues(schedule)
        taken.sort(key=lambda entry: entry.seq)
        return [entry.send for entry in taken]

    def next_deadline(self) -> float | None:
        """When `due` next has something to return (possibly already past); None when nothing is scheduled."""
        deadlines = [deadline for schedule in self._schedules.values() for deadline in _timer_deadlines(schedule)]
        deadlines.extend(self._lane_deadline(lane) for lane in self._busy_lanes())
        return min(deadlines, default=None)

    def pending(self, instance: str) -> int:
        """How many announcements of `instance` wait for their interface's spacing."""
        schedule = self._schedules.get(instance)
        return 0 if schedule is None else sum(len(queue) for queue in schedule.queues.values())

    def _fire(self, schedule: _Schedule, now: float) -> None:
        while schedule.bursts and schedule.bursts[0].when <= now:
            burst = heappop(schedule.bursts)
            self._enqueue(schedule, burst.when, burst.repeat, burst.only)
        if schedule.next_refresh is not None and schedule.next_refresh <= now:
            self._enqueue(schedule, schedule.next_refresh, schedule.settings.refresh_repeat)
            # Counted from when it went out, as keepalived's timer_add_now does, so a late loop never bunches refreshes.
            schedule.next_refresh = now + schedule.settings.refresh

    def _master_bursts(self, schedule: _Schedule, now: float, only: tuple[Announcement, ...] | None = None) -> None:
        self._add_burst(schedule, now, schedule.settings.repeat, only)
        if schedule.settings.delay > 0:
            self._add_burst(schedule, now + schedule.settings.delay, schedule.settings.repeat, only)

    def _add_burst(
        self, schedule: _Schedule, when: float, repeat: int, only: tuple[Announcement, ...] | None = None
    ) -> None:
        if repeat > 0 and (schedule.announcements if only is None else only):
            heappush(schedule.bursts, _Burst(when, next(self._seq), repeat, only))

    def _enqueue(
        self, schedule: _Schedule, ready: float, repeat: int, only: tuple[Announcement, ...] | None = None
    ) -> None:
        # A burst for a few addresses sends only those the instance still announces when it fires.
        current = schedule.announcements if only is None else [a for a in only if a in schedule.announcements]
        for _ in range(repeat):
            for announcement in current:
                entry = _Entry(next(self._seq), ready, _send(schedule.instance, announcement))
                schedule.queues.setdefault(self._lane(announcement), deque()).append(entry)

    def _lane(self, announcement: Announcement) -> _Lane:
        interface = announcement.physical_interface
        spacing = self._spacing.get(interface, self._default_spacing)
        return _Lane(spacing.group or interface, announcement.kind, spacing.interval(announcement.kind))

    def _busy_lanes(self) -> set[_Lane]:
        return {lane for schedule in self._schedules.values() for lane, queue in schedule.queues.items() if queue}

    def _queues(self, lane: _Lane) -> list[deque[_Entry]]:
        return [queue for schedule in self._schedules.values() if (queue := schedule.queues.get(lane))]

    def _take(self, lane: _Lane, now: float) -> list[_Entry]:
        queues = self._queues(lane)
        if lane.interval <= 0:
            taken = [entry for queue in queues for entry in queue]
            for queue in queues:
                queue.clear()
            return taken
        if self._lane_free.get(lane, -math.inf) > now:
            return []
        self._lane_free[lane] = now + lane.interval
        return [min(queues, key=lambda queue: queue[0].seq).popleft()]

    def _lane_deadline(self, lane: _Lane) -> float:
        earliest_ready = min(queue[0].ready for queue in self._queues(lane))
        return max(self._lane_free.get(lane, -math.inf), earliest_ready)


def _send(instance: str, announcement: Announcement) -> Send:
    return Send(
        instance=instance,
        interface=announcement.interface,
        kind=announcement.kind,
        address=announcement.address,
        src_mac=announcement.src_mac,
        base_interface=announcement.physical_interface,
    )


def _timer_deadlines(schedule: _Schedule) -> Iterator[float]:
    if schedule.bursts:
        yield schedule.bursts[0].when
    if schedule.next_refresh is not None:
        yield schedule.next_refresh


def _drop_empty_queues(schedule: _Schedule) -> None:
    for lane in [lane for lane, queue in schedule.queues.items() if not queue]:
        del schedule.queues[lane]
