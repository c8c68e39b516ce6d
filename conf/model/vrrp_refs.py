"""Cross-references of the VRRP blocks, and keepalived's sync group rules.

Names that must resolve (vrrp_script, track_file, vrrp_track_process,
bfd_instance, sync group members) are checked at the referencing line, as in
keepalived/vrrp/vrrp_track.c and vrrp_sync.c (2.2.7).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from conf.model.common import NameRef, TrackRef
from conf.model.vrrp import PRIORITY_OWNER, SyncGroup, VrrpInstance
from conf.schema import Cx

if TYPE_CHECKING:
    from conf.model.config import Config


def validate_vrrp(config: Config, cx: Cx) -> Config:
    """Names that must resolve (scripts, files, processes, BFD, sync members) and sync group rules."""
    scripts = {s.name: s for s in config.vrrp_scripts}
    track_files = {f.name: f for f in config.track_files}
    files = set(track_files)
    processes = {p.name for p in config.track_processes}
    bfds = {b.name for b in config.bfd_instances}
    known = {
        "track_script": ("track script", scripts.keys()),
        "track_file": ("track file", files),
        "track_process": ("track process", processes),
        "track_bfd": ("track bfd", bfds),
    }

    instances = _unique_names(config.vrrp_instances, "vrrp instance", cx)
    groups = _unique_names(config.vrrp_sync_groups, "vrrp sync group", cx)
    membership: dict[str, str] = {}
    new_groups: list[SyncGroup] = []
    for declared in groups.values():
        members = _sync_members(declared, instances, membership, cx)
        group = _resolve_refs(declared, declared.name, known, cx)
        if not members:
            cx.error(group.loc, f"Sync group {group.name}, no matching virtual router found in group - removing")
            continue
        if len(members) == 1:
            cx.warning(
                group.loc,
                f"sync group {group.name} has only one member ({members[0]}): a sync group keeps "
                "several instances together, so this one does nothing but zero its trackers' weights",
            )
        owners = {instances[m].priority == PRIORITY_OWNER for m in members}
        if len(owners) > 1:
            cx.error(
                group.loc,
                f"Sync group {group.name} has some member(s) as address owner and some not as "
                "address owner. This won't work.",
            )
        new_groups.append(group.replace(group=tuple(members_refs(group, members))))

    by_group = {g.name: g for g in new_groups}
    resolved: list[VrrpInstance] = []
    for declared_instance in instances.values():
        sync = by_group.get(membership.get(declared_instance.name, ""))
        instance = _resolve_refs(declared_instance, declared_instance.name, known, cx)
        instance = _apply_tracking_rules(instance, sync, scripts, track_files, cx)
        if instance.notify_priority_changes is None:
            inherited = sync.notify_priority_changes if sync is not None else None
            if inherited is None:
                inherited = bool(config.global_defs.vrrp_notify_priority_changes)
            instance = instance.replace(notify_priority_changes=inherited)
        resolved.append(instance)
    return config.replace(vrrp_instances=tuple(resolved), vrrp_sync_groups=tuple(new_groups))


def members_refs(group: SyncGroup, members: list[str]) -> Iterator[NameRef]:
    wanted = set(members)
    for ref in group.group:
        if ref.name in wanted:
            wanted.discard(ref.name)
            yield ref


def _unique_names(blocks: tuple[Any, ...], kind: str, cx: Cx) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for item in blocks:
        if item.name in seen:
            cx.error(item.loc, f"{kind} {item.name} already defined (at line {seen[item.name].loc.line}) - ignoring")
            continue
        seen[item.name] = item
    return seen


def _sync_members(
    group: SyncGroup, instances: dict[str, VrrpInstance], membership: dict[str, str], cx: Cx
) -> list[str]:
    if not group.group:
        cx.error(group.loc, f"Warning - sync group {group.name} has empty group block")
    members: list[str] = []
    for ref in group.group:
        if ref.name not in instances:
            cx.error(
                ref.loc, f"Virtual router {ref.name} specified in sync group {group.name} doesn't exist - ignoring"
            )
            continue
        if ref.name in membership:
            cx.error(
                ref.loc, f"Virtual router {ref.name} cannot exist in more than one sync group; ignoring {group.name}"
            )
            continue
        if ref.name in members:
            continue
        membership[ref.name] = group.name
        members.append(ref.name)
    return members


def _resolve_refs(block_: Any, owner: str, known: dict[str, tuple[str, Any]], cx: Cx) -> Any:
    """Drop references to undefined trackers (an error at the referencing line) and duplicates."""
    changes: dict[str, tuple[TrackRef, ...]] = {}
    for field_name, (label, names) in known.items():
        refs: tuple[TrackRef, ...] = getattr(block_, field_name)
        kept: list[TrackRef] = []
        for ref in refs:
            if ref.name not in names:
                cx.error(ref.loc, f"({owner}) {label} {ref.name} not found, ignoring...")
                continue
            if any(k.name == ref.name for k in kept):
                cx.error(ref.loc, f"({owner}) duplicate {field_name} {ref.name} - ignoring")
                continue
            kept.append(ref)
        if len(kept) != len(refs):
            changes[field_name] = tuple(kept)
    refs_if: tuple[TrackRef, ...] = block_.track_interface
    unique_if: list[TrackRef] = []
    for ref in refs_if:
        if any(k.name == ref.name for k in unique_if):
            cx.error(ref.loc, f"({owner}) duplicate track_interface {ref.name} - ignoring")
            continue
        unique_if.append(ref)
    if len(unique_if) != len(refs_if):
        changes["track_interface"] = tuple(unique_if)
    return block_.replace(**changes)


def _apply_tracking_rules(
    instance: VrrpInstance,
    sync: SyncGroup | None,
    scripts: dict[str, Any],
    track_files: dict[str, Any],
    cx: Cx,
) -> VrrpInstance:
    """Members of a sync group (without sync_group_tracking_weight or its deprecated synonym
    global_tracking) and address owners
    cannot have weighted trackers: keepalived zeroes or drops them, with an error."""
    unweighted_sync = sync is not None and not (sync.sync_group_tracking_weight or sync.global_tracking)
    owner = instance.priority == PRIORITY_OWNER
    if not (unweighted_sync or owner):
        return instance
    reason = "SYNC group" if unweighted_sync else "address owner"
    where = f"({instance.name})"
    changes: dict[str, tuple[TrackRef, ...]] = {}

    interfaces: list[TrackRef] = []
    for ref in instance.track_interface:
        if ref.weight:
            cx.error(
                ref.loc,
                f"{where} ignoring {ref.name} tracked interface {'weight ' if unweighted_sync else ''}due to {reason}",
            )
            if unweighted_sync:
                interfaces.append(TrackRef(ref.name, 0, ref.reverse, loc=ref.loc))
            continue
        interfaces.append(ref)
    changes["track_interface"] = tuple(interfaces)

    kept_scripts: list[TrackRef] = []
    for ref in instance.track_script:
        weight = ref.weight if ref.weight is not None else scripts[ref.name].weight.value
        if weight:
            cx.error(ref.loc, f"{where} ignoring tracked script {ref.name} with weights due to {reason}")
            continue
        kept_scripts.append(ref)
    changes["track_script"] = tuple(kept_scripts)

    files: list[TrackRef] = []
    for ref in instance.track_file:
        weight = ref.weight if ref.weight is not None else track_files[ref.name].weight.value
        if weight == 1:  # the default weight: keepalived makes the file unweighted
            cx.error(ref.loc, f"{where} ignoring weight from tracked file {ref.name} due to {reason}. specify weight 0")
            files.append(TrackRef(ref.name, 0, ref.reverse, loc=ref.loc))
        elif weight:
            cx.error(ref.loc, f"{where} ignoring tracked file {ref.name} with weight {weight} due to {reason}")
        else:
            files.append(ref)
    changes["track_file"] = tuple(files)

    bfds: list[TrackRef] = []
    for ref in instance.track_bfd:
        if ref.weight:
            cx.error(ref.loc, f"{where} ignoring tracked bfd {ref.name} with weight {ref.weight} due to {reason}")
            continue
        bfds.append(ref)
    changes["track_bfd"] = tuple(bfds)
    return instance.replace(**changes)
