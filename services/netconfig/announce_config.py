"""From the configuration to what the AnnounceScheduler needs: an instance's settings, each interface's spacing.

Pure functions of the parsed `Config`; the instance's garp_* values already
carry their inheritance from global_defs (vrrp_garp_master_*,
vrrp_garp_lower_prio_*, vrrp_min_garp, strict mode), so only the pacing is
resolved here, the way keepalived 2.2.7 resolves it (vrrp_if.c
set_default_garp_delay, vrrp_parser.c garp_group handlers):

- an interface named in a `garp_group` uses that group's intervals and only
  those: a group that sets only `garp_interval` leaves that interface's NAs
  unpaced even when `vrrp_gna_interval` is set globally;
- the interfaces of one group share its timers, so a packet on any of them
  delays the next one on all of them;
- every other interface gets its own copy of the global `vrrp_garp_interval`
  and `vrrp_gna_interval`, and does not share timers with any other.

Spacing applies to the physical interface: a VMAC is paced with the interface
it sits on (`Announcement.base_interface`).
"""

from __future__ import annotations

from conf.model.config import Config
from conf.model.global_blocks import GarpGroup
from conf.model.vrrp import VrrpInstance
from services.netconfig.announce_core import AnnounceScheduler, AnnounceSettings, Spacing


def settings_for(instance: VrrpInstance) -> AnnounceSettings:
    """The instance's burst, delay, refresh and lower-priority settings, in seconds."""
    return AnnounceSettings(
        repeat=instance.garp_master_repeat,
        delay=float(instance.garp_master_delay),
        refresh=float(instance.garp_master_refresh),
        refresh_repeat=instance.garp_master_refresh_repeat,
        lower_prio_repeat=instance.garp_lower_prio_repeat,
        lower_prio_delay=float(instance.garp_lower_prio_delay),
    )


def default_spacing(config: Config) -> Spacing:
    """The pacing of an interface that no garp_group names."""
    defs = config.global_defs
    return Spacing(arp=defs.vrrp_garp_interval or 0.0, na=defs.vrrp_gna_interval or 0.0)


def interface_spacing(config: Config) -> dict[str, Spacing]:
    """The pacing of every interface a garp_group names, keyed by interface name."""
    spacing: dict[str, Spacing] = {}
    for index, group in enumerate(config.garp_groups):
        shared = Spacing(arp=group.garp_interval or 0.0, na=group.gna_interval or 0.0, group=_group_name(index, group))
        for interface in group.all_interfaces():
            # The model already drops an interface named by a second group; keep the first all the same.
            spacing.setdefault(interface, shared)
    return spacing


def scheduler_for(config: Config) -> AnnounceScheduler:
    """A scheduler paced as `config` says."""
    return AnnounceScheduler(interface_spacing(config), default_spacing(config))


def _group_name(index: int, group: GarpGroup) -> str:
    # A name no interface can have (interface names cannot contain '/'), so a group's lane never merges with one
    # interface's own lane.
    return f"garp_group/{index}/{','.join(group.all_interfaces())}"
