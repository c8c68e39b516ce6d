"""TrackerSet: an instance's tracked objects turned into (effective priority, fault).

The arithmetic is conf.tracking's (keepalived vrrp_track.c). This module keeps
each tracker's last reported state and says, after every report, what the
router should advertise and whether it must be in FAULT; the service hands that
to `VirtualRouter.trackers_changed`.

What an instance tracks, as keepalived 2.2.7 sets it up (vrrp.c
vrrp_complete_instance, sync_group_tracking_init):

- its track_interface / track_script / track_file / track_process / track_bfd
  lines (conf has already dropped the weights a sync group or an address owner
  forbids), each weight and `reverse` taken from the line or else from the
  tracked object;
- its own interface, unweighted, unless dont_track_primary (a track_interface
  line naming it is ignored);
- the interfaces its VIPs, eVIPs, virtual routes (`dev`) and virtual rules
  (`iif`, `oif`) use, unweighted, unless marked no_track;
- the trackers of its vrrp_sync_group, with the group's weights (zeroed when a
  member is an address owner); an object tracked both ways keeps the
  instance's line if that is unweighted, else takes the group's.

A tracker has no state until it first reports. One that can put the instance in
FAULT (unweighted, or a track_file) and has not reported makes the status
`pending`: the router waits in INIT, as keepalived holds an instance until its
unweighted scripts have run once. A weighted tracker that has not reported
counts for nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum

from conf.model.bfd import BfdInstance
from conf.model.common import TrackRef
from conf.model.config import Config
from conf.model.trackers import TrackFile, TrackProcess, VrrpScript
from conf.model.vrrp import PRIORITY_OWNER, SyncGroup, VrrpInstance
from conf.tracking import Contribution, effective_priority, track_file_contribution, tracker_contribution


class Kind(StrEnum):
    INTERFACE = "track_interface"
    SCRIPT = "track_script"
    FILE = "track_file"
    PROCESS = "track_process"
    BFD = "track_bfd"


_OK_WORDS = {
    Kind.INTERFACE: ("up", "down"),
    Kind.SCRIPT: ("succeeded", "failed"),
    Kind.PROCESS: ("quorum gained", "quorum lost"),
    Kind.BFD: ("up", "down"),
}


@dataclass(frozen=True)
class Tracker:
    """One tracked object as seen by one instance. `initial` is its state before any
    report (a script with init_fail starts failed); None means unknown."""

    kind: Kind
    name: str
    weight: int = 0
    reverse: bool = False
    initial: bool | int | None = None

    def contribution(self, value: bool | int) -> Contribution:
        if self.kind is Kind.FILE:
            return track_file_contribution(int(value), self.weight, self.reverse)
        return tracker_contribution(self.weight, self.reverse, bool(value))

    @property
    def can_fault(self) -> bool:
        return self.weight == 0 or self.kind is Kind.FILE

    def describe(self, value: bool | int) -> str:
        if self.kind is Kind.FILE:
            return f"{self.kind} {self.name} value {int(value)}"
        ok_word, failed_word = _OK_WORDS[self.kind]
        return f"{self.kind} {self.name} {ok_word if value else failed_word}"


@dataclass(frozen=True)
class TrackerStatus:
    priority: int
    fault: bool
    pending: bool
    reason: str  # why: the tracker holding the instance in FAULT, else the last change


class TrackerSet:
    def __init__(self, instance: str, base_priority: int, trackers: Iterable[Tracker]) -> None:
        self.instance = instance
        self.base_priority = base_priority
        self._trackers: dict[tuple[Kind, str], Tracker] = {}
        for tracker in trackers:
            self._trackers[(tracker.kind, tracker.name)] = tracker
        self._values: dict[tuple[Kind, str], bool | int | None] = {
            key: tracker.initial for key, tracker in self._trackers.items()
        }
        self._conditions: dict[str, str] = {}  # name -> reason, for faults from outside the trackers
        self._last_change = ""

    @property
    def trackers(self) -> tuple[Tracker, ...]:
        return tuple(self._trackers.values())

    def tracks(self, kind: Kind, name: str) -> bool:
        return (kind, name) in self._trackers

    def set(self, kind: Kind, name: str, value: bool | int) -> TrackerStatus | None:
        """Record a report (a bool, or a track_file's value); the new status if it changed
        anything the router sees, None if not (or if this instance does not track it)."""
        key = (kind, name)
        tracker = self._trackers.get(key)
        if tracker is None or self._values[key] == value:
            return None
        before = self.status()
        self._values[key] = value
        self._last_change = tracker.describe(value)
        return self._changed(before)

    def set_condition(self, name: str, failed: bool, reason: str) -> TrackerStatus | None:
        """A fault from outside the tracked objects: no address on the interface, a
        virtual route the kernel removed, a configuration the instance cannot run with."""
        if (name in self._conditions) == failed:
            return None
        before = self.status()
        if failed:
            self._conditions[name] = reason
        else:
            del self._conditions[name]
        self._last_change = reason
        return self._changed(before)

    def status(self) -> TrackerStatus:
        deltas: list[int] = []
        fault_reason = next(iter(self._conditions.values()), None)
        pending = False
        for key, tracker in self._trackers.items():
            value = self._values[key]
            if value is None:
                pending = pending or tracker.can_fault
                continue
            contribution = tracker.contribution(value)
            deltas.append(contribution.delta)
            if contribution.fault and fault_reason is None:
                fault_reason = tracker.describe(value)
        priority = effective_priority(self.base_priority, deltas)
        if fault_reason is not None:
            return TrackerStatus(priority, True, pending, fault_reason)
        return TrackerStatus(priority, False, pending, self._last_change)

    def _changed(self, before: TrackerStatus) -> TrackerStatus | None:
        after = self.status()
        if (after.priority, after.fault, after.pending) == (before.priority, before.fault, before.pending):
            return None
        return after

    @classmethod
    def for_instance(cls, instance: VrrpInstance, config: Config) -> TrackerSet:
        """Everything `instance` (completed, in `config`) tracks, as keepalived sets it up."""
        group = next((g for g in config.vrrp_sync_groups if any(r.name == instance.name for r in g.group)), None)
        objects = _Objects.of(config)
        own = instance.interface
        trackers: dict[tuple[Kind, str], Tracker] = {}

        def add(tracker: Tracker, *, from_group: bool = False) -> None:
            key = (tracker.kind, tracker.name)
            existing = trackers.get(key)
            # keepalived keeps a repeated tracker's first weight, except that an unweighted
            # use (a VIP's dev, say) makes it unweighted; a group's trackers override.
            if existing is not None and (existing.weight == 0 or not (from_group or tracker.weight == 0)):
                return
            trackers[key] = tracker

        if own is not None and not instance.dont_track_primary:
            add(Tracker(Kind.INTERFACE, own))
        for ref in instance.track_interface:
            if ref.name != own:
                add(Tracker(Kind.INTERFACE, ref.name, ref.weight or 0, bool(ref.reverse)))
        for dev in _used_interfaces(instance):
            if dev != own or not instance.dont_track_primary:
                add(Tracker(Kind.INTERFACE, dev))
        for tracker in _object_trackers(instance, objects):
            add(tracker)

        if group is not None:
            members = {ref.name for ref in group.group}
            owner_member = any(i.priority == PRIORITY_OWNER for i in config.vrrp_instances if i.name in members)
            for tracker in _group_trackers(group, objects):
                # keepalived clears the weights of a group with an address owner among its members.
                add(replace(tracker, weight=0) if owner_member else tracker, from_group=True)
        return cls(instance.name, instance.priority, trackers.values())


@dataclass(frozen=True)
class _Objects:
    """The tracked objects a configuration defines, by name."""

    scripts: Mapping[str, VrrpScript]
    files: Mapping[str, TrackFile]
    processes: Mapping[str, TrackProcess]
    bfds: Mapping[str, BfdInstance]

    @classmethod
    def of(cls, config: Config) -> _Objects:
        return cls(
            {s.name: s for s in config.vrrp_scripts},
            {f.name: f for f in config.track_files},
            {p.name: p for p in config.track_processes},
            {b.name: b for b in config.bfd_instances},
        )


def _used_interfaces(instance: VrrpInstance) -> Iterable[str]:
    for vip in (*instance.virtual_ipaddress, *instance.virtual_ipaddress_excluded):
        if vip.dev is not None and not vip.no_track:
            yield vip.dev
    for route in instance.virtual_routes:
        if route.dev is not None and not route.no_track:
            yield route.dev
    for rule in instance.virtual_rules:
        if not rule.no_track:
            yield from (dev for dev in (rule.iif, rule.oif) if dev is not None)


def _weighted(ref: TrackRef, default_weight: int, default_reverse: bool) -> tuple[int, bool]:
    weight = ref.weight if ref.weight is not None else default_weight
    reverse = ref.reverse if ref.reverse is not None else default_reverse
    return weight, reverse


def _object_trackers(block: VrrpInstance | SyncGroup, objects: _Objects) -> Iterable[Tracker]:
    for ref in block.track_script:
        script = objects.scripts.get(ref.name)
        if script is not None:
            weight, reverse = _weighted(ref, script.weight.value, script.weight.reverse)
            yield Tracker(Kind.SCRIPT, ref.name, weight, reverse, False if script.init_fail else None)
    for ref in block.track_file:
        track_file = objects.files.get(ref.name)
        if track_file is not None:
            weight, reverse = _weighted(ref, track_file.weight.value, track_file.weight.reverse)
            yield Tracker(Kind.FILE, ref.name, weight, reverse)
    for ref in block.track_process:
        process = objects.processes.get(ref.name)
        if process is not None:
            weight, reverse = _weighted(ref, process.weight.value, process.weight.reverse)
            yield Tracker(Kind.PROCESS, ref.name, weight, reverse)
    for ref in block.track_bfd:
        bfd = objects.bfds.get(ref.name)
        if bfd is not None:
            weight, reverse = _weighted(ref, bfd.weight.value, bfd.weight.reverse)
            yield Tracker(Kind.BFD, ref.name, weight, reverse)


def _group_trackers(group: SyncGroup, objects: _Objects) -> Iterable[Tracker]:
    for ref in group.track_interface:
        yield Tracker(Kind.INTERFACE, ref.name, ref.weight or 0, bool(ref.reverse))
    yield from _object_trackers(group, objects)
