"""The two problems the deployment guide's troubleshooting section starts with, said plainly (pure).

A VRID clash: another VRRP router on the link uses one of our VRIDs for a cluster
of its own. Its adverts reach our instance and are dropped (or, for VRRPv3, kept
with a log line) for a reason only a foreign router gives: another password or
authentication type, another advert interval, another VRRP version, another
list of virtual addresses. Each such sender is reported as a `vrid_conflict`
event naming it, at once and then at most once a minute while it lasts.

VRRP blocked by a firewall: the kernel refusing to send an advert (EPERM or
EACCES, what an nftables or iptables output rule dropping protocol 112 gives)
is reported as `send_blocked` when it starts and `send_unblocked` when it ends.
A router whose adverts never leave looks dead to the others, which then take
over: the dual master the guide describes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CONFLICT_REASONS = frozenset({"auth_password", "auth_type", "interval", "version", "vip_mismatch"})
CONFLICT_REPEAT = 60.0  # seconds between reports of one ongoing clash
BLOCKED_ERRORS = frozenset({"EPERM", "EACCES"})

WHY = {
    "auth_password": "another authentication password",
    "auth_type": "another authentication type",
    "interval": "another advert interval",
    "version": "another VRRP version",
    "vip_mismatch": "other virtual addresses",
}


@dataclass
class Troubles:
    _reported: dict[tuple[str, str, str], float] = field(default_factory=dict)
    _blocked: set[str] = field(default_factory=set)

    def conflict(self, instance: str, source: str, reason: str, now: float) -> bool:
        """An advert from `source` was refused (or noted) for `reason`: report it now?"""
        if reason not in CONFLICT_REASONS:
            return False
        key = (instance, source, reason)
        last = self._reported.get(key)
        if last is not None and now - last < CONFLICT_REPEAT:
            return False
        self._reported[key] = now
        return True

    def sent(self, instance: str, errors: tuple[str, ...]) -> str | None:
        """After sending an advert: "blocked" or "unblocked" when that changed, else None."""
        blocked = bool(BLOCKED_ERRORS.intersection(errors))
        if blocked and instance not in self._blocked:
            self._blocked.add(instance)
            return "blocked"
        if not blocked and not errors and instance in self._blocked:
            self._blocked.discard(instance)
            return "unblocked"
        return None


def conflict_message(instance: str, vrid: int, interface: str | None, source: str, reason: str) -> str:
    where = f" on {interface}" if interface else ""
    return (
        f"({instance}) VRID clash: {source} also sends VRRP adverts for VRID {vrid}{where}, with "
        f"{WHY.get(reason, reason)}: another cluster uses this virtual_router_id; give one of the two another"
    )


def blocked_message(instance: str, error: str) -> str:
    return (
        f"({instance}) VRRP adverts cannot be sent: the kernel refuses them ({error}), which a firewall rule "
        "dropping VRRP (IP protocol 112) on output does; the other routers will take this one for dead"
    )


def unblocked_message(instance: str) -> str:
    return f"({instance}) VRRP adverts are being sent again"
