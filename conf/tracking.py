"""Tracker arithmetic: how a tracked script, file, process, interface or BFD session moves a priority.

These are keepalived's rules (keepalived/vrrp/vrrp_track.c), as pure functions:

- weight > 0: while the tracker is OK, +weight; when it fails, nothing.
- weight < 0: while OK, nothing; when it fails, weight (a reduction).
- weight 0: a failure puts the instance in FAULT instead.
- `reverse` flips the sign of the adjustment; with weight 0 it makes *success* the fault.
- the sum is added to the configured priority and clamped to [1, 254]; an
  address owner (priority 255) is never changed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

PRIORITY_OWNER = 255
PRIORITY_MAX_EFFECTIVE = 254
PRIORITY_MIN_EFFECTIVE = 1
TRACK_FILE_FAULT = -254  # a track_file result at or below this means FAULT


@dataclass(frozen=True)
class Contribution:
    delta: int  # added to the priority
    fault: bool  # the instance must go to FAULT


def tracker_contribution(weight: int, reverse: bool, ok: bool) -> Contribution:
    """A script, process, interface or BFD tracker in state `ok`."""
    if weight == 0:
        return Contribution(0, fault=ok == reverse)
    sign = -1 if reverse else 1
    if weight > 0:
        return Contribution(weight * sign if ok else 0, fault=False)
    return Contribution(0 if ok else weight * sign, fault=False)


def track_file_contribution(value: int, weight: int, reverse: bool) -> Contribution:
    """A track_file whose file currently holds `value`."""
    sign = -1 if reverse else 1
    if weight == 0:
        return Contribution(0, fault=(value != 0) != reverse)
    status = value * weight * sign
    if status <= TRACK_FILE_FAULT:
        return Contribution(0, fault=True)
    return Contribution(min(status, 253), fault=False)


def effective_priority(base: int, deltas: Iterable[int]) -> int:
    """The priority advertised: base plus tracker adjustments, clamped; owners never move."""
    if base == PRIORITY_OWNER:
        return PRIORITY_OWNER
    total = base + sum(deltas)
    return max(PRIORITY_MIN_EFFECTIVE, min(PRIORITY_MAX_EFFECTIVE, total))


def best_case_delta(weight: int, reverse: bool) -> int:
    """The adjustment a tracker gives in its healthy state (OK, or failed when reversed with weight 0)."""
    return tracker_contribution(weight, reverse, ok=True).delta
