"""A vrrp service restarted on purpose takes up its predecessor's roles instead of starting over.

`hakeeper ctl restart vrrp` tells the running service (SIGUSR2) that a
successor follows. It then stops without sending priority 0, sends a last
advert from every MASTER, and leaves on the bus, under `handover/vrrp`, the
monotonic time it did so. Its `vrrp/<instance>` keys stay on the bus until the
successor's first state replaces them. The successor reads both before it
publishes anything and resumes each instance in its previous state if the
handover is recent enough that no backup can have timed out meanwhile: within
one master down interval. Anything older, or a predecessor that crashed, is a
plain start, as keepalived's is.

The monotonic clock is the machine's, the same in every process, so the two
processes can compare times.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.vrrp.settings import IPAddress
from services.vrrp.states import State

HANDOVER_KEY = "handover/vrrp"
INSTANCE_PREFIX = "vrrp/"


@dataclass(frozen=True)
class Previous:
    """What the predecessor published of one instance."""

    state: State
    master: IPAddress | None
    vrid: int | None
    interface: str | None


def previous_instances(state: Mapping[str, Any]) -> dict[str, Previous]:
    """instance -> Previous, from the `vrrp/<instance>` keys of a bus snapshot (malformed ones skipped)."""
    found: dict[str, Previous] = {}
    for key, value in state.items():
        if not key.startswith(INSTANCE_PREFIX) or key.count("/") != 1 or not isinstance(value, dict):
            continue
        try:
            previous_state = State(str(value.get("state")))
        except ValueError:
            continue
        master_text = value.get("master_ip")
        master: IPAddress | None = None
        if isinstance(master_text, str):
            try:
                master = ipaddress.ip_address(master_text)
            except ValueError:
                master = None
        vrid = value.get("virtual_router_id")
        interface = value.get("interface")
        found[key[len(INSTANCE_PREFIX) :]] = Previous(
            previous_state,
            master,
            vrid if isinstance(vrid, int) else None,
            interface if isinstance(interface, str) else None,
        )
    return found


def handed_over_at(state: Mapping[str, Any]) -> float | None:
    """When the predecessor stopped for a restart (monotonic seconds), None if it did not."""
    value = state.get(HANDOVER_KEY)
    if isinstance(value, dict) and isinstance(value.get("at"), (int, float)) and not isinstance(value["at"], bool):
        return float(value["at"])
    return None


def handover_value(at: float, pid: int) -> dict[str, Any]:
    return {"at": at, "pid": pid}


def may_resume(
    previous: Previous | None,
    *,
    vrid: int,
    interface: str | None,
    handover: float | None,
    now: float,
    down_interval: float,
) -> bool:
    """Whether an instance takes up `previous` rather than starting afresh."""
    if previous is None or handover is None:
        return False
    if previous.state not in (State.MASTER, State.BACKUP, State.FAULT):
        return False
    if previous.vrid != vrid or previous.interface != interface:
        return False
    return 0.0 <= now - handover < down_interval
