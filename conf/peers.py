"""Cross-node simulation: can the VIPs actually move between these nodes?

Instances on different nodes belong together when they share virtual_router_id,
interface and address family. For the node that would be MASTER, each tracker
is failed in turn (the others healthy, every other node healthy) and the VRRP
election is replayed: a backup takes over only with a strictly higher priority,
and only if it may preempt (RFC 5798 6.4.2). When the VIP cannot move, the
warning shows the arithmetic.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from conf.diagnostics import Diagnostics, Loc
from conf.model.common import TrackRef
from conf.model.config import Config
from conf.model.vrrp import SyncGroup, VrrpInstance
from conf.tracking import effective_priority, tracker_contribution


@dataclass(frozen=True)
class Node:
    label: str  # how messages name the node: the file name without its extension
    config: Config


@dataclass(frozen=True)
class Tracker:
    kind: str  # track_script, track_file, ...
    name: str
    weight: int
    reverse: bool
    loc: Loc


@dataclass(frozen=True)
class Member:
    """One node's instance of a shared virtual router, with what moves its priority."""

    node: Node
    instance: VrrpInstance
    trackers: tuple[Tracker, ...]

    @property
    def label(self) -> str:
        return self.node.label

    def priority(self, failed: Tracker | None = None) -> tuple[int, bool]:
        """(effective priority, in FAULT) with `failed` down and every other tracker healthy."""
        deltas: list[int] = []
        fault = False
        for tracker in self.trackers:
            if tracker is failed and tracker.kind == "track_file" and tracker.weight:
                deltas.append(-abs(tracker.weight))  # a file reporting one unit of failure
                continue
            contribution = tracker_contribution(tracker.weight, tracker.reverse, ok=tracker is not failed)
            deltas.append(contribution.delta)
            fault = fault or contribution.fault
        return effective_priority(self.instance.priority, deltas), fault

    def breakdown(self, failed: Tracker | None = None) -> str:
        value, _ = self.priority(failed)
        delta = value - self.instance.priority
        return f"{value} ({self.instance.priority} {delta:+d})"


def node_label(path: str, taken: Iterable[str]) -> str:
    """The file name without directory and extension (`a.conf@backup` -> `a@backup`), unless taken."""
    name, at, ident = os.path.basename(path).partition("@")
    stem = (os.path.splitext(name)[0] or name) + at + ident
    return path if stem in set(taken) else stem


def simulate(nodes: list[Node], diags: Diagnostics) -> None:
    groups = _shared_routers(nodes, diags)
    for members in groups:
        _compare_settings(members, diags)
        _simulate_failures(members, diags)


def _key(instance: VrrpInstance) -> tuple[object, ...]:
    return (instance.virtual_router_id, instance.interface, instance.family)


def _shared_routers(nodes: list[Node], diags: Diagnostics) -> list[list[Member]]:
    by_key: dict[tuple[object, ...], list[Member]] = {}
    for node in nodes:
        for instance in node.config.vrrp_instances:
            by_key.setdefault(_key(instance), []).append(
                Member(node, instance, tuple(_trackers(node.config, instance)))
            )
    shared: list[list[Member]] = []
    for key, members in by_key.items():
        labels = {m.label for m in members}
        if len(labels) > 1:
            shared.append(members)
            continue
        member = members[0]
        others = [n.label for n in nodes if n.label != member.label]
        diags.warning(
            member.instance.where("virtual_router_id"),
            f"({member.instance.name}) no instance with virtual_router_id {key[0]} on {key[1] or 'its interface'} "
            f"in {', '.join(others)}: nothing can take its VIPs over",
        )
    return shared


def _trackers(config: Config, instance: VrrpInstance) -> Iterator[Tracker]:
    scripts = {s.name: s for s in config.vrrp_scripts}
    files = {f.name: f for f in config.track_files}
    processes = {p.name: p for p in config.track_processes}
    bfds = {b.name: b for b in config.bfd_instances}
    owners: list[VrrpInstance | SyncGroup] = [instance]
    for group in config.vrrp_sync_groups:
        if any(ref.name == instance.name for ref in group.group):
            owners.append(group)
    for owner in owners:
        yield from _tracker_list("track_script", owner.track_script, scripts)
        yield from _tracker_list("track_file", owner.track_file, files)
        yield from _tracker_list("track_process", owner.track_process, processes)
        yield from _tracker_list("track_bfd", owner.track_bfd, bfds)
        for ref in owner.track_interface:
            yield Tracker("track_interface", ref.name, ref.weight or 0, bool(ref.reverse), ref.loc)


def _tracker_list(kind: str, refs: tuple[TrackRef, ...], objects: Mapping[str, object]) -> Iterator[Tracker]:
    for ref in refs:
        tracked = objects.get(ref.name)
        own_weight = getattr(tracked, "weight", None)
        default_weight = getattr(own_weight, "value", own_weight if isinstance(own_weight, int) else 0)
        default_reverse = bool(getattr(own_weight, "reverse", False))
        weight = ref.weight if ref.weight is not None else int(default_weight or 0)
        reverse = ref.reverse if ref.reverse is not None else default_reverse
        yield Tracker(kind, ref.name, weight, reverse, ref.loc)


def _describe(members: list[Member]) -> str:
    return f"virtual_router_id {members[0].instance.virtual_router_id}"


def _compare_settings(members: list[Member], diags: Diagnostics) -> None:
    first = members[0]
    base = first.instance
    for other in members[1:]:
        inst = other.instance
        where = inst.where("virtual_router_id")
        prefix = f"({inst.name}) {_describe(members)}: {first.label} and {other.label}"
        if inst.advert_int != base.advert_int:
            diags.warning(
                where,
                f"{prefix} use advert_int {base.advert_int:g} and {inst.advert_int:g}: a VRRPv2 "
                "backup drops adverts with another interval, and down timers differ",
            )
        if inst.version != base.version:
            diags.warning(
                where,
                f"{prefix} run VRRP version {base.version} and {inst.version}: they ignore each "
                "other's adverts, so both become MASTER",
            )
        if _auth(base) != _auth(inst):
            diags.warning(
                where,
                f"{prefix} use different authentication ({_auth_text(base)} vs {_auth_text(inst)}): "
                "each drops the other's adverts, so both become MASTER",
            )
        mine = {a.address.ip for a in base.virtual_ipaddress}
        theirs = {a.address.ip for a in inst.virtual_ipaddress}
        if mine != theirs:
            only_first = ", ".join(sorted(map(str, mine - theirs))) or "-"
            only_other = ", ".join(sorted(map(str, theirs - mine))) or "-"
            diags.warning(
                where,
                f"{prefix} advertise different VIP lists (only on {first.label}: {only_first}; "
                f"only on {other.label}: {only_other}): keepalived logs a mismatch for every advert",
            )
        if inst.unicast != base.unicast:
            diags.warning(where, f"{prefix} disagree on unicast: one sends unicast adverts the other never hears")


def _auth(instance: VrrpInstance) -> tuple[str, bytes] | None:
    auth = instance.authentication
    if auth is None or auth.auth_type is None:
        return None
    return auth.auth_type, auth.wire_password


def _auth_text(instance: VrrpInstance) -> str:
    auth = _auth(instance)
    return "none" if auth is None else auth[0]


def _simulate_failures(members: list[Member], diags: Diagnostics) -> None:
    healthy = {id(m): m.priority()[0] for m in members}
    top = max(healthy.values())
    masters = [m for m in members if healthy[id(m)] == top]
    for master in masters:
        rivals = [m for m in members if m is not master]
        for tracker in master.trackers:
            failed_priority, fault = master.priority(tracker)
            if fault:
                continue  # FAULT stops the adverts: any backup takes over
            best = max(rivals, key=lambda m: healthy[id(m)])
            best_priority = healthy[id(best)]
            takers = [m for m in rivals if healthy[id(m)] > failed_priority and not m.instance.nopreempt]
            if takers:
                continue
            text = (
                f"({master.instance.name}) {tracker.name} failing on {master.label} leaves {master.label} at "
                f"{master.breakdown(tracker)} vs {best.label} at {best.breakdown()}"
            )
            if best_priority > failed_priority:
                reason = (
                    f", but {best.label} has nopreempt and does not take over from a live MASTER: the VIP "
                    f"stays on {master.label} while {tracker.name} fails"
                )
            elif best_priority == failed_priority:
                reason = (
                    f": equal priority does not preempt a live MASTER, so the VIP stays on {master.label}; "
                    f"make |weight| larger than {abs(master.instance.priority - best.instance.priority)} "
                    "or the priorities further apart"
                )
            else:
                need = healthy[id(master)] - best_priority
                reason = (
                    f": the VIP cannot move; {tracker.name} would need |weight| above {need} "
                    f"(it is {abs(tracker.weight)}), as |MASTER priority - BACKUP priority| < |weight| "
                    "must hold"
                )
            diags.warning(tracker.loc, text + reason)
