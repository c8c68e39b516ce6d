"""What a reload does to each instance, decided from the old and the new configuration alone.

As keepalived's reload (vrrp_daemon.c reload_vrrp_thread, vrrp.c vrrp_exist,
restore_vrrp_state), with one improvement: an instance whose configuration did
not change at all is not touched, so its timers run on and nothing flaps.

- KEEP: nothing changed; the router carries on as if there had been no reload.
- RECONFIGURE: the same router (VRID, family, interface, multicast group or
  unicast source) with other settings; it keeps its state (core.reconfigure).
- RESUME: the same router, but a new object because its sync group changed;
  it takes up its current state as a new router.
- FRESH: a new instance, or one whose identity changed: it starts from INIT.

An instance missing from the plan was removed: it stops, sending priority 0
if it was MASTER.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Final

KEEP: Final = "keep"
RECONFIGURE: Final = "reconfigure"
RESUME: Final = "resume"
FRESH: Final = "fresh"


def reload_plan(
    old_fingerprints: Mapping[str, Hashable],
    new_fingerprints: Mapping[str, Hashable],
    old_identities: Mapping[str, Hashable],
    new_identities: Mapping[str, Hashable],
    old_groups: Mapping[str, Hashable],
    new_groups: Mapping[str, Hashable],
) -> dict[str, str]:
    """instance -> KEEP/RECONFIGURE/RESUME/FRESH for every instance of the new configuration.

    A fingerprint is everything an instance runs with; an identity what makes
    it the same router; a group entry the whole sync group block it belongs to
    (with its members' fingerprints), absent for an instance in no group.
    """
    plan: dict[str, str] = {}
    for name, fingerprint in new_fingerprints.items():
        if name not in old_fingerprints or old_identities.get(name) != new_identities.get(name):
            plan[name] = FRESH
        elif old_groups.get(name) != new_groups.get(name):
            plan[name] = RESUME
        elif old_fingerprints[name] == fingerprint:
            plan[name] = KEEP
        elif name in new_groups:
            plan[name] = RESUME  # members of a group move together: the group is made anew
        else:
            plan[name] = RECONFIGURE
    return plan
