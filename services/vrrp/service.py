"""The vrrp service: the routers of services.vrrp.core on real sockets, reporting on the bus.

The core decides; this module carries its actions out. Adverts go out through
`services.vrrp.wire`; what arrives goes through `services.vrrp.acceptance`
(counted per drop reason) before it reaches a router. Interface state comes
from netlink (`services.vrrp.links`); the other trackers' results come from the
bus (`track/<kind>/<name>`). Each instance's state is published as
`vrrp/<instance>`, which netconfig follows to install or remove its VIPs, and
each transition is posted as an event on the same topic.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import os
import signal
import time
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Mapping
from types import FrameType
from typing import Any

from bus.subscriber_core import Effect, StateChanged
from conf.model.config import Config
from services.base import Service, Watch
from services.netconfig.desired import assign_vmac_names
from services.service_options import ServiceOptions
from services.vrrp.acceptance import Arrival, Note, receive, unknown_vrid
from services.vrrp.actions import (
    Action,
    AnnounceSource,
    GroupTransition,
    Log,
    LowerPriorityAdvert,
    PriorityChanged,
    Resumed,
    SendAdvert,
    Transition,
)
from services.vrrp.codec import BadAdvert, ChecksumMode, unwrap_ipv4
from services.vrrp.core import VirtualRouter
from services.vrrp.handover import (
    HANDOVER_KEY,
    Previous,
    handed_over_at,
    handover_value,
    may_resume,
    previous_instances,
)
from services.vrrp.instance import Instance, make_instance
from services.vrrp.links import LinkMonitor
from services.vrrp.received import Received
from services.vrrp.reload import FRESH, KEEP, RECONFIGURE, RESUME, reload_plan
from services.vrrp.states import State
from services.vrrp.sync import SyncGroup
from services.vrrp.trackers import Kind, TrackerStatus
from services.vrrp.trouble import (
    BLOCKED_ERRORS,
    Troubles,
    blocked_message,
    conflict_message,
    unblocked_message,
)
from services.vrrp.wire import EndpointSpec, Incoming, Wire, WireEvent, peer_for

SNAPSHOT_WAIT = 2.0  # at start, for the bus snapshot that says what a predecessor left
COUNTERS_EVERY = 1.0  # seconds between publications of counters/vrrp
NO_ADDRESS = "no_address"
TRACK_KINDS = {"script": Kind.SCRIPT, "file": Kind.FILE, "process": Kind.PROCESS, "bfd": Kind.BFD}
OK_WORDS = frozenset({"OK", "UP", "SUCCEEDED", "GOOD"})
FAILED_WORDS = frozenset({"FAILED", "DOWN", "BAD", "KO"})

Unit = VirtualRouter | SyncGroup


def instance_key(name: str) -> str:
    return f"vrrp/{name}"


def group_key(name: str) -> str:
    return f"vrrp_group/{name}"


def tracker_report(key: str, value: Any) -> tuple[Kind, str, bool | int] | None:
    """(kind, name, value) of a `track/<kind>/<name>` bus entry; None if it is not one we understand.

    `status` (OK/FAILED, or a bool) gives a bool; a track_file's integer `value` gives that integer.
    """
    parts = key.split("/", 2)
    if len(parts) != 3 or parts[0] != "track" or parts[1] not in TRACK_KINDS or not isinstance(value, dict):
        return None
    kind = TRACK_KINDS[parts[1]]
    number = value.get("value")
    if kind is Kind.FILE and isinstance(number, int) and not isinstance(number, bool):
        return kind, parts[2], number
    status = value.get("status")
    if isinstance(status, bool):
        return kind, parts[2], status
    if isinstance(status, str):
        word = status.upper()
        if word in OK_WORDS:
            return kind, parts[2], True
        if word in FAILED_WORDS:
            return kind, parts[2], False
    return None


class VrrpService(Service):
    name = "vrrp"
    syslog_ident = "Keepalived_vrrp"
    wants_state = True

    def __init__(self, options: ServiceOptions, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(options, clock)
        self.wire: Wire | None = None
        self.links: LinkMonitor | None = None
        self.instances: dict[str, Instance] = {}
        self.groups: dict[str, SyncGroup] = {}
        self.group_of: dict[str, str] = {}
        self.counters: Counter[str] = Counter()
        self.tracks: dict[tuple[Kind, str], bool | int] = {}
        self.handing_over = False
        self._running: Config | None = None
        self._heap: list[tuple[float, int, str]] = []
        self._planned: dict[str, float] = {}  # each router's earliest entry on the heap
        self._seq = itertools.count()
        self._scheduled: float | None = None  # when the advert being sent was due
        self._counters_due = 0.0
        self._counters_dirty = True
        self._published: dict[str, dict[str, Any]] = {}
        # Instances whose MASTER's repeats the kernel holds (services.vrrp.repeat_filter), with the advert.
        self._holding: dict[str, Received] = {}
        self.troubles = Troubles()
        # Instances whose published value may have changed without an action (an advert naming the
        # MASTER, a tracker, a source address): published with the counters.
        self._maybe_changed: set[str] = set()

    # ------------------------------------------------------------ hooks

    def start(self, config: Config) -> None:
        signal.signal(signal.SIGUSR2, self._on_handover_signal)
        previous, handover = self._take_snapshot()
        self.links = LinkMonitor()
        self.wire = Wire(clock=self.clock)
        fresh = self._build(config, {})
        now = self.clock()
        self._follow_links(now, every=True)
        self._take_tracks(every=True)
        actions: list[Action] = []
        for unit in self._units(fresh):
            actions += self._start_unit(unit, previous, handover, now)
        self._execute(actions, now)
        self._reschedule(self.instances)
        self._publish_all()
        resumed = [n for n, i in self.instances.items() if n in previous and i.router.started]
        if handover is not None:
            self.log.info("Took over from the previous vrrp process (%d instance(s) known)", len(resumed))

    def reload(self, config: Config) -> None:
        """keepalived's reload: unchanged instances carry on untouched, changed ones take the new
        settings in their current state, removed ones stop (a MASTER sends priority 0)."""
        assert self._running is not None and self.wire is not None
        now = self.clock()
        old_fp = {n: _fingerprint(i) for n, i in self.instances.items()}
        new_fp, new_ids = self._fingerprints(config)
        old_ids = {n: i.router.settings.identity for n, i in self.instances.items()}
        plan = reload_plan(old_fp, new_fp, old_ids, new_ids, _groups(self._running, old_fp), _groups(config, new_fp))
        previous: dict[str, Previous] = {}
        actions: list[Action] = []
        removed = [n for n in self.instances if n not in plan]
        for name, instance in self.instances.items():
            step = plan.get(name)
            router = instance.router
            if step == RESUME:
                previous[name] = Previous(
                    router.state, router.master_address, router.settings.vrid, instance.config.interface
                )
            elif step is None or step == FRESH:
                stopping = router.shutdown(now)
                if step is None:
                    stopping = [_as_removed(a) for a in stopping]
                actions += stopping
        self._execute(actions, now)
        for name in removed:
            self._unpublish(instance_key(name))
        old_groups = set(self.groups)
        kept = {n: self.instances[n] for n, step in plan.items() if step in (KEEP, RECONFIGURE)}
        fresh = self._build(config, kept)
        actions = []
        for name, step in plan.items():
            if step == RECONFIGURE:
                actions += self._reconfigure(name, config, now)
        for unit in self._units(fresh):
            actions += self._start_unit(unit, previous, now if previous else None, now, reason="reload")
        self._follow_links(now, every=True)
        self._take_tracks(every=True)
        self._execute(actions, now)
        self._reschedule(self.instances)
        self._publish_all()
        for name in old_groups - set(self.groups):
            self._unpublish(group_key(name))
        counts = Counter(plan.values())
        self.log.info(
            "Reloaded: %d instance(s) unchanged, %d reconfigured, %d restarted, %d new, %d removed",
            counts[KEEP],
            counts[RECONFIGURE],
            counts[RESUME],
            counts[FRESH],
            len(removed),
        )

    def stop(self) -> None:
        now = self.clock()
        try:
            if self.handing_over:
                self._hand_over(now)
                return
            release = not self.options.dont_release_vrrp
            actions: list[Action] = []
            for unit in self._units(self.instances):
                actions += unit.shutdown(now, release=release)
            if release:
                self._execute(actions, now)
            else:
                # The VIPs stay where they are, so the bus keeps saying who holds them.
                self._execute([a for a in actions if not isinstance(a, Transition | GroupTransition)], now)
                self.log.info("Leaving the VRRP instances' addresses in place (--dont-release-vrrp)")
            self._publish_counters(now, force=True, instances=False)
        finally:
            if self.wire is not None:
                self.wire.close()
            if self.links is not None:
                self.links.close()

    def watches(self) -> list[Watch]:
        found: list[Watch] = []
        if self.links is not None:
            found.append(Watch(self.links.fileno(), self._on_links))
        if self.wire is not None:
            found += [Watch(fd, _reader(self, fd)) for fd in self.wire.fds()]
        return found

    def next_deadline(self) -> float | None:
        due = self._due()
        return self._counters_due if due is None else min(due, self._counters_due)

    def before_wait(self) -> None:
        if self.wire is not None:
            self.wire.apply_filters()

    def on_deadline(self, now: float) -> None:
        if self._holding and (due := self._due()) is not None and due <= now:
            # A held repeat may have restarted the timer that seems to have run out.
            self._take_repeats()
        while (due := self._due()) is not None and due <= now:
            _, _, name = heapq.heappop(self._heap)
            del self._planned[name]
            instance = self.instances[name]
            self._scheduled = due
            actions = instance.router.timer_fired(now)
            self._execute(actions, now)
            self._scheduled = None
            self._reschedule(self._touched(name, actions))
        self._publish_counters(now)

    def on_bus(self, effects: list[Effect]) -> None:
        if any(isinstance(e, StateChanged) and e.key.startswith("track/") for e in effects):
            self._take_tracks()

    # ------------------------------------------------------------ setting up

    def _take_snapshot(self) -> tuple[dict[str, Previous], float | None]:
        """What a predecessor left on the bus, read before our own publisher replaces it."""
        assert self.view is not None
        deadline = self.clock() + SNAPSHOT_WAIT
        while not self.view.core.caught_up and self.clock() < deadline:
            self.view.poll(min(0.1, max(0.0, deadline - self.clock())))
        if not self.view.core.caught_up:
            self.log.info("No bus snapshot: every instance starts afresh")
            return {}, None
        state = self.view.core.state
        return previous_instances(state), handed_over_at(state)

    def _specs(self, config: Config) -> dict[str, EndpointSpec]:
        vmac_names = self._vmac_names(config)
        return {
            i.name: EndpointSpec.from_instance(i, config.global_defs, ifname=vmac_names.get(i.name))
            for i in config.vrrp_instances
        }

    def _build(self, config: Config, kept: Mapping[str, Instance]) -> dict[str, Instance]:
        """Instances for `config`, reusing `kept`; returns the new ones (not started yet)."""
        assert self.wire is not None
        specs = self._specs(config)
        self._holding.clear()  # configure lets go of every held repeat
        self._wire_events(self.wire.configure(specs.values()))
        instances: dict[str, Instance] = {}
        fresh: dict[str, Instance] = {}
        for instance_config in config.vrrp_instances:
            name = instance_config.name
            if name in kept:
                instances[name] = kept[name]
                kept[name].spec = specs[name]
                continue
            instances[name] = fresh[name] = make_instance(instance_config, config, specs[name], self.wire.source(name))
        self.instances = instances
        self.group_of = _group_membership(config)
        groups: dict[str, SyncGroup] = {}
        for group in config.vrrp_sync_groups:
            names = [ref.name for ref in group.group if ref.name in instances]
            if not names:
                continue
            existing = self.groups.get(group.name)
            if existing is not None and set(existing.member_names()) == set(names) and not set(names) & set(fresh):
                groups[group.name] = existing
            else:
                groups[group.name] = SyncGroup(group.name, [instances[n].router for n in names])
        self.groups = groups
        self._running = config
        return fresh

    def _reconfigure(self, name: str, config: Config, now: float) -> list[Action]:
        assert self.wire is not None
        instance = self.instances[name]
        instance_config = next(i for i in config.vrrp_instances if i.name == name)
        template = make_instance(instance_config, config, instance.spec, self.wire.source(name))
        instance.config = instance_config
        instance.expectation = template.expectation
        instance.trackers = template.trackers
        instance.forget_messages()
        return instance.router.reconfigure(template.router.settings, now)

    def _fingerprints(self, config: Config) -> tuple[dict[str, Hashable], dict[str, Hashable]]:
        """Everything each instance of `config` would run with, and its identity."""
        fingerprints: dict[str, Hashable] = {}
        identities: dict[str, Hashable] = {}
        specs = self._specs(config)
        for instance_config in config.vrrp_instances:
            name = instance_config.name
            source = self.wire.source(name) if self.wire is not None and name in self.instances else None
            template = make_instance(instance_config, config, specs[name], source)
            fingerprints[name] = _fingerprint(template)
            identities[name] = template.router.settings.identity
        return fingerprints, identities

    def _vmac_names(self, config: Config) -> dict[str, str]:
        if not any(i.use_vmac is not None for i in config.vrrp_instances):
            return {}
        # Only VMAC configurations need what pyroute2 reads of the links (kinds, modes, parents).
        from pyroute2 import IPRoute  # noqa: PLC0415

        from services.netconfig.service import link_facts  # noqa: PLC0415

        with IPRoute() as ipr:
            return dict(assign_vmac_names(config, link_facts(ipr)).names)

    def _units(self, instances: Mapping[str, Instance]) -> list[Unit]:
        """The sync groups and lone routers among `instances`, each once."""
        units: list[Unit] = []
        seen: set[str] = set()
        for name, instance in instances.items():
            group = self.group_of.get(name)
            if group is not None and group in self.groups:
                if group not in seen:
                    seen.add(group)
                    units.append(self.groups[group])
            else:
                units.append(instance.router)
        return units

    def _start_unit(
        self,
        unit: Unit,
        previous: Mapping[str, Previous],
        handover: float | None,
        now: float,
        *,
        reason: str = "restarted",
    ) -> list[Action]:
        names = _unit_names(unit)
        resumable: dict[str, Previous] = {}
        for name in names:
            instance = self.instances[name]
            found = previous.get(name)
            if may_resume(
                found,
                vrid=instance.router.settings.vrid,
                interface=instance.config.interface,
                handover=handover,
                now=now,
                down_interval=instance.router.master_down_interval(),
            ):
                assert found is not None
                resumable[name] = found
        if isinstance(unit, SyncGroup):
            if len(resumable) == len(names):
                states = {n: p.state for n, p in resumable.items()}
                masters = {n: p.master for n, p in resumable.items()}
                return unit.resume(states, now, masters, reason=reason)
            return unit.startup(now)
        if unit.name in resumable:
            found = resumable[unit.name]
            return unit.resume(found.state, now, found.master, reason=reason)
        return unit.startup(now)

    # ------------------------------------------------------------ trackers and links

    def _follow_links(self, now: float, *, every: bool = False) -> None:
        """Interface trackers and source addresses from the link table; `every` re-sends each verdict."""
        assert self.links is not None and self.wire is not None
        table = self.links.table
        actions: list[Action] = []
        for name, instance in self.instances.items():
            changed = every
            for tracker in instance.trackers.trackers:
                if tracker.kind is Kind.INTERFACE:
                    changed |= (
                        instance.trackers.set(Kind.INTERFACE, tracker.name, table.is_up(tracker.name)) is not None
                    )
            source = self.wire.source(name)
            if instance.config.source_ip is None:
                instance.router.primary_address_changed(source)
            missing = source is None and instance.spec.ifname is not None
            reason = f"no IP address on interface {instance.spec.ifname}"
            changed |= instance.trackers.set_condition(NO_ADDRESS, missing, reason) is not None
            if changed:
                actions += self._verdict(instance, instance.trackers.status(), now)
        # Link changes are rare: each instance's source address and trackers are published again.
        self._maybe_changed.update(self.instances)
        self._execute(actions, now)

    def _take_tracks(self, *, every: bool = False) -> None:
        """The trackers' results on the bus; `every` re-applies all of them (to new TrackerSets)."""
        assert self.view is not None
        now = self.clock()
        reports: dict[tuple[Kind, str], bool | int] = {}
        for key, value in self.view.core.state.items():
            found = tracker_report(key, value)
            if found is not None:
                reports[(found[0], found[1])] = found[2]
        news = {k: v for k, v in reports.items() if every or self.tracks.get(k) != v}
        self.tracks.update(reports)
        if not news:
            return
        actions: list[Action] = []
        for instance in self.instances.values():
            changed = False
            for (kind, name), value in news.items():
                changed |= instance.trackers.set(kind, name, value) is not None
            if changed:
                actions += self._verdict(instance, instance.trackers.status(), now)
                self._maybe_changed.add(instance.name)
        self._execute(actions, now)
        self._reschedule(self.instances)

    def _verdict(self, instance: Instance, status: TrackerStatus, now: float) -> list[Action]:
        return instance.router.trackers_changed(
            status.priority, status.fault, now, status.reason, pending=status.pending
        )

    def _on_links(self) -> None:
        assert self.links is not None and self.wire is not None
        self.links.refresh()
        self._wire_events(self.wire.refresh())
        self._follow_links(self.clock())
        self._reschedule(self.instances)

    def _wire_events(self, events: list[WireEvent]) -> None:
        for event in events:
            if event.kind == "source" and event.instance is not None:
                self.log.info("(%s) advertising from %s", event.instance, event.detail.removeprefix("source address "))

    # ------------------------------------------------------------ receiving

    def receive(self, fd: int) -> None:
        assert self.wire is not None
        if self._holding:
            # In order: what the kernel held arrived before what is read now.
            self._take_repeats()
        for incoming in self.wire.receive(fd):
            self._receive_one(incoming)

    def _take_repeats(self) -> None:
        assert self.wire is not None
        now = self.clock()
        heard, count, overflowed = self.wire.take_repeats(now, time.time_ns())
        if count:
            self.counters["adverts_received"] += count
            self._counters_dirty = True
        for name, at in heard.items():
            advert = self._holding.get(name)
            instance = self.instances.get(name)
            if advert is not None and instance is not None:
                instance.router.repeat_heard(advert, at)
        if overflowed:
            # Some repeats were lost: count every held MASTER as heard now rather than risk a
            # false takeover, and read their adverts whole again until they settle.
            self.log.info("Repeated adverts overflowed the kernel's queue; reading every advert again")
            for name, advert in self._holding.items():
                instance = self.instances.get(name)
                if instance is not None:
                    instance.router.repeat_heard(advert, now)
            self._forget_repeats(list(self._holding))

    def _hold_repeats(self, instance: Instance, incoming: Incoming, received: Received) -> None:
        """After an advert that changed nothing: may the kernel hold its repeats?"""
        assert self.wire is not None
        name = instance.name
        cached = instance.last_accepted
        steady = cached is not None and cached[1] is received and instance.router.repeat_changes_nothing(received)
        if steady and self.wire.hold_repeats(name, incoming):
            self._holding[name] = received
            return
        self._forget_repeats((name,))

    def _forget_repeats(self, names: Iterable[str]) -> None:
        assert self.wire is not None
        for name in names:
            if self._holding.pop(name, None) is not None:
                self.wire.hold_repeats(name, None)

    def _receive_one(self, incoming: Incoming) -> None:
        assert self.wire is not None
        self.counters["adverts_received"] += 1
        self._counters_dirty = True
        names = self.wire.candidates(incoming)
        shared = len(names) > 1
        if shared:
            names = tuple(n for n in names if peer_for(incoming.src, self.instances[n].spec.peers) is not None)
        if not names:
            self.counters["drop_unknown_vrid"] += 1
            if self._running is not None and self._running.global_defs.log_unknown_vrids:
                where = incoming.key.ifname or "any"
                bad = unknown_vrid(incoming.vrid or 0, where, incoming.src if shared else None)
                self.log.info("%s", bad.log_line())
            return
        instance = self.instances[names[0]]
        router = instance.router
        check = instance.expectation.checks_addresses(
            src=incoming.src, master=router.master_address, backup=router.state is State.BACKUP
        )
        received = self._accept(instance, incoming, check)
        if received is None:
            return
        now = self.clock()
        actions = router.advert_received(received, now)
        self._maybe_changed.add(instance.name)
        if actions:
            self._execute(actions, now)
            self._reschedule(self._touched(instance.name, actions))
        else:
            self._hold_repeats(instance, incoming, received)
            self._reschedule((instance.name,))

    def _accept(self, instance: Instance, incoming: Incoming, check: bool) -> Received | None:
        """The advert as the router sees it if the instance accepts it; None (counted, logged) if dropped."""
        header = incoming.ip_header
        # Everything acceptance reads, except the IPv4 identification and header checksum, which
        # change with every datagram (the kernel has verified the checksum).
        key = (incoming.payload, header[:4], header[6:10], incoming.src, incoming.dst, incoming.ttl, check)
        cached = instance.last_accepted
        if cached is not None and cached[0] == key:
            return cached[1]
        try:
            if incoming.family == 4:
                arrival = Arrival.from_ipv4(unwrap_ipv4(header + incoming.payload))
            else:
                arrival = Arrival(incoming.payload, incoming.src, incoming.dst, incoming.ttl)
            accepted = receive(arrival, instance.expectation, check_addresses=check, ah_sequence=instance.ah_sequence)
        except BadAdvert as bad:
            self.counters[f"drop_{bad.reason}"] += 1
            if not bad.quiet:
                self.log.info("%s", bad.log_line(instance.name))
            self._clash(instance, incoming.src, bad.reason)
            return None
        for note in accepted.notes:
            self._note(instance, note)
            self._clash(instance, incoming.src, note.kind)
        if accepted.ah_sequence is not None:
            instance.ah_sequence = accepted.ah_sequence
        received = Received.from_advert(accepted.advert, incoming.src)
        if accepted.ah_sequence is None and not accepted.notes:
            instance.last_accepted = (key, received)
        return received

    def _clash(self, instance: Instance, source: object, reason: str) -> None:
        """An advert only another cluster's router would send: say so, naming it (services.vrrp.trouble)."""
        assert self.bus is not None
        if not self.troubles.conflict(instance.name, str(source), reason, self.clock()):
            return
        vrid = instance.router.settings.vrid
        self.log.warning("%s", conflict_message(instance.name, vrid, instance.config.interface, str(source), reason))
        self.bus.post(
            instance_key(instance.name),
            {"event": "vrid_conflict", "source": str(source), "virtual_router_id": vrid, "reason": reason},
        )

    def _note(self, instance: Instance, note: Note) -> None:
        self.counters[note.kind] += 1
        self.log.info("%s", note.log_line(instance.name))
        if note.kind == "old_checksum":
            instance.expectation = dataclasses.replace(instance.expectation, checksum=ChecksumMode.OLD)
            instance.forget_messages()

    # ------------------------------------------------------------ carrying out actions

    def _execute(self, actions: list[Action], now: float) -> None:
        if not actions:
            return
        assert self.bus is not None
        if self._holding:
            self._forget_repeats(self._acting(actions))
        changed: set[str] = set()
        for action in actions:
            if isinstance(action, SendAdvert):
                self._send(action, now)
            elif isinstance(action, Log):
                self.log.info("%s", action.message)
            elif isinstance(action, Transition):
                self._transition(action)
                changed.add(action.instance)
            elif isinstance(action, Resumed):
                changed.add(action.instance)
            elif isinstance(action, PriorityChanged):
                changed.add(action.instance)
                self.bus.post(
                    instance_key(action.instance),
                    {"event": "priority", "priority": action.new, "previous_priority": action.old},
                )
            elif isinstance(action, GroupTransition):
                self.bus.set(group_key(action.group), {"state": str(action.new)})
                self.bus.post(group_key(action.group), _transition_data(action.new, action.old, action.reason))
            elif isinstance(action, LowerPriorityAdvert):
                self.counters["lower_priority_adverts"] += 1
                data: dict[str, Any] = {"event": "master_rx_lower_pri", "source": str(action.source)}
                data.update(priority=action.priority, announce=list(action.announce))
                self.bus.post(instance_key(action.instance), data)
            elif isinstance(action, AnnounceSource):
                data = {"event": "announce_source", "address": str(action.address)}
                self.bus.post(instance_key(action.instance), data)
        for name in changed:
            self._publish_instance(name)
        self._counters_dirty = True

    def _acting(self, actions: list[Action]) -> set[str]:
        """The instances these actions are about (a sync group's: all its members)."""
        names: set[str] = set()
        for action in actions:
            if isinstance(action, GroupTransition):
                group = self.groups.get(action.group)
                if group is not None:
                    names.update(group.member_names())
            else:
                names.add(action.instance)
        return names

    def _transition(self, action: Transition) -> None:
        assert self.bus is not None
        self.counters["transitions"] += 1
        self.counters[f"transitions_to_{str(action.new).lower()}"] += 1
        # The state first: netconfig acts on it, and the event's readers may look it up.
        self._publish_instance(action.instance)
        data = _transition_data(action.new, action.old, action.reason)
        instance = self.instances.get(action.instance)
        data["priority"] = instance.router.priority if instance is not None else None
        if action.removed:
            data["removed"] = True
        self.bus.post(instance_key(action.instance), data)

    def _send(self, action: SendAdvert, now: float) -> None:
        assert self.wire is not None
        instance = self.instances.get(action.instance)
        if instance is None:
            return
        scheduled = self._scheduled if self._scheduled is not None else now
        result = self.wire.send(action.instance, instance.builder(action.priority, action.interval), scheduled)
        self.counters["adverts_sent"] += 1
        if action.priority == 0:
            self.counters["adverts_sent_priority_0"] += 1
        if result.errors:
            self.counters["send_errors"] += len(result.errors)
        change = self.troubles.sent(action.instance, result.errors)
        if change is not None:
            assert self.bus is not None
            error = next((e for e in result.errors if e in BLOCKED_ERRORS), "")
            if change == "blocked":
                self.log.warning("%s", blocked_message(action.instance, error))
            else:
                self.log.info("%s", unblocked_message(action.instance))
            self.bus.post(instance_key(action.instance), {"event": f"send_{change}", "error": error or None})

    def _publish_instance(self, name: str) -> None:
        assert self.bus is not None
        instance = self.instances.get(name)
        if instance is None:
            return
        value = instance.bus_value()
        if self._published.get(name) != value:
            self._published[name] = value
            self.bus.set(instance_key(name), value)

    def _publish_all(self) -> None:
        """Every instance as it is now (those no action has published yet, INIT ones say)."""
        for name in self.instances:
            self._publish_instance(name)

    def _unpublish(self, key: str) -> None:
        assert self.bus is not None
        self.bus.delete(key)
        self._published.pop(key.partition("/")[2], None)

    def _publish_counters(self, now: float, *, force: bool = False, instances: bool = True) -> None:
        if not force and now < self._counters_due:
            return
        self._counters_due = now + COUNTERS_EVERY
        if self.bus is None or not (self._counters_dirty or force):
            return
        self._counters_dirty = False
        counters: dict[str, Any] = dict(self.counters)
        if self.wire is not None:
            for name, count in self.wire.counters.items():
                counters[f"wire_{name}"] = count
            summary = self.wire.jitter.summary()
            if summary is not None:
                counters["send_lateness_p50_us"] = round(summary.p50 * 1e6)
                counters["send_lateness_p99_us"] = round(summary.p99 * 1e6)
                counters["send_lateness_max_us"] = round(summary.max * 1e6)
        self.bus.set("counters/vrrp", dict(sorted(counters.items())))
        if not instances:
            return
        # The published values carry who the master is, which adverts update without a transition.
        heard, self._maybe_changed = self._maybe_changed, set()
        for name in heard:
            self._publish_instance(name)

    # ------------------------------------------------------------ scheduling

    def _touched(self, name: str, actions: list[Action]) -> Iterable[str]:
        group = self.group_of.get(name)
        if group is not None and group in self.groups:
            return self.groups[group].member_names()
        return {name} | {a.instance for a in actions if not isinstance(a, GroupTransition)}

    def _reschedule(self, names: Iterable[str]) -> None:
        """Make sure each router's deadline is on the heap. A deadline that moved later (a BACKUP
        hearing its MASTER, every interval) needs nothing: `_due` finds the stale entry and moves it."""
        for name in names:
            instance = self.instances.get(name)
            deadline = instance.router.next_deadline() if instance is not None else None
            planned = self._planned.get(name)
            if deadline is not None and (planned is None or deadline < planned):
                heapq.heappush(self._heap, (deadline, next(self._seq), name))
                self._planned[name] = deadline

    def _due(self) -> float | None:
        """The earliest deadline of any router, the heap's stale entries put right on the way."""
        while self._heap:
            at, _, name = self._heap[0]
            instance = self.instances.get(name)
            deadline = instance.router.next_deadline() if instance is not None else None
            if deadline == at and self._planned.get(name) == at:
                return at
            heapq.heappop(self._heap)
            if self._planned.get(name) == at:
                del self._planned[name]
                if deadline is not None:
                    heapq.heappush(self._heap, (deadline, next(self._seq), name))
                    self._planned[name] = deadline
        return None

    # ------------------------------------------------------------ restart without failover

    def _on_handover_signal(self, signum: int, frame: FrameType | None) -> None:
        self.handing_over = True

    def _hand_over(self, now: float) -> None:
        """Stop for a successor: a last advert from every MASTER, and the time, for it to resume from."""
        assert self.bus is not None
        for instance in self.instances.values():
            router = instance.router
            if router.state is State.MASTER:
                self._send(SendAdvert(instance.name, router.priority, router.settings.advert_int), now)
        self.bus.set(HANDOVER_KEY, handover_value(self.clock(), os.getpid()))
        self._publish_counters(now, force=True, instances=False)
        self.log.info("Stopping for a restart: the next vrrp process takes the instances over in their state")


def _reader(service: VrrpService, fd: int) -> Callable[[], None]:
    return lambda: service.receive(fd)


def _unit_names(unit: Unit) -> tuple[str, ...]:
    return unit.member_names() if isinstance(unit, SyncGroup) else (unit.name,)


def _group_membership(config: Config) -> dict[str, str]:
    return {ref.name: group.name for group in config.vrrp_sync_groups for ref in group.group}


def _groups(config: Config, fingerprints: Mapping[str, Hashable]) -> dict[str, Hashable]:
    """instance -> its sync group block and its fellow members' fingerprints."""
    found: dict[str, Hashable] = {}
    for group in config.vrrp_sync_groups:
        members = tuple((ref.name, fingerprints.get(ref.name)) for ref in group.group)
        for ref in group.group:
            found[ref.name] = (group, members)
    return found


def _fingerprint(instance: Instance) -> Hashable:
    """Everything an instance runs with; the interface's address only where the configuration sets it."""
    settings = instance.router.settings
    if instance.config.source_ip is None:
        settings = dataclasses.replace(settings, primary_address=None)
    return (instance.config, settings, instance.expectation, instance.spec, instance.trackers.trackers)


def _as_removed(action: Action) -> Action:
    if isinstance(action, Transition) and action.new is State.STOP:
        return dataclasses.replace(action, removed=True)
    return action


def _transition_data(new: State, old: State, reason: str) -> dict[str, Any]:
    return {"event": "transition", "state": str(new), "previous": str(old), "reason": reason}
