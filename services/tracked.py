"""The names a configuration's instances and sync groups track, by kind of tracker."""

from __future__ import annotations

from typing import Literal

from conf.model.config import Config

TrackField = Literal["track_script", "track_file", "track_process"]


def tracked_names(config: Config, field: TrackField) -> set[str]:
    """Names in the `field` blocks (track_script, ...) of every vrrp_instance and vrrp_sync_group."""
    names = {ref.name for instance in config.vrrp_instances for ref in getattr(instance, field)}
    names |= {ref.name for group in config.vrrp_sync_groups for ref in getattr(group, field)}
    return names
