"""`hakeeper status` and `hakeeper events`: the node's bus, for people and for scripts."""

from __future__ import annotations

import datetime
import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from bus.endpoints import TcpEndpoint
from bus.messages import Event, Value
from bus.subscriber import Subscriber
from bus.subscriber_core import EventDelivered, Missed, Start, SubscriberCore

STATUS_SCHEMA_VERSION = 1
ALIVE_WITHIN = 3.5  # seconds since a service was last heard from (it pings every second)
SERVICES = ("vrrp", "healthcheck", "ipvs", "netconfig", "notifier")


class NoHub(Exception):
    """Nothing answered on the bus."""


def _connect_timeout_error(where: Path | TcpEndpoint) -> NoHub:
    place = where if isinstance(where, Path) else where.request
    return NoHub(f"no answer from the node's bus at {place} (is hakeeper running there?)")


# --------------------------------------------------------------------- status


def fetch_status(where: Path | TcpEndpoint, timeout: float = 5.0, **options: Any) -> dict[str, Value]:
    with Subscriber(where, want_events=False, **options) as subscriber:
        deadline = time.monotonic() + timeout
        while not subscriber.core.caught_up:
            if time.monotonic() >= deadline:
                raise _connect_timeout_error(where)
            subscriber.poll(0.2)
        return status_document(subscriber.core, where)


def status_document(core: SubscriberCore, where: Path | TcpEndpoint) -> dict[str, Value]:
    """The documented JSON of `hakeeper status --json` (docs/bus.md)."""
    state = core.state
    instances: dict[str, dict[str, Value]] = {}
    trackers: dict[str, Value] = {}
    counters: dict[str, Value] = {"bus": dict(core.counters)}
    others: dict[str, Value] = {}
    static: dict[str, Value] = {}
    lifecycle: dict[str, Value] = {}
    for key, value in sorted(state.items()):
        parts = key.split("/")
        if parts[0] == "vrrp" and len(parts) == 2:
            instances.setdefault(parts[1], {}).update(value if isinstance(value, dict) else {"value": value})
        elif parts[0] == "net" and len(parts) == 3 and parts[1] == "static":
            static[parts[2]] = value
        elif parts[0] == "net" and len(parts) == 3:
            instances.setdefault(parts[1], {})[parts[2]] = value
        elif parts[0] == "service" and len(parts) == 2 and isinstance(value, Mapping):
            lifecycle[parts[1]] = value.get("state")
        elif parts[0] == "track" and len(parts) >= 3:
            trackers["/".join(parts[1:])] = value
        elif parts[0] == "counters" and len(parts) == 2:
            counters[parts[1]] = value
        else:
            others[key] = value
    services: dict[str, Value] = {}
    for name in sorted(set(SERVICES) | set(core.publishers)):
        info = core.publishers.get(name)
        if isinstance(info, Mapping):
            last_seen = float(info.get("last_seen", 0.0))
            services[name] = {
                "alive": last_seen <= ALIVE_WITHIN and lifecycle.get(name) != "stopped",
                "pid": info.get("pid"),
                "epoch": info.get("epoch"),
                "synced": info.get("synced"),
                "last_seen": last_seen,
                "state": lifecycle.get(name),
            }
        else:
            services[name] = {
                "alive": False, "pid": None, "epoch": None, "synced": False, "last_seen": None, "state": None,
            }  # fmt: skip
    return {
        "schema_version": STATUS_SCHEMA_VERSION,
        "bus": {
            "endpoint": str(where) if isinstance(where, Path) else where.request,
            "hub_epoch": core.state_epoch,
            "state_seq": core.state_seq,
        },
        "services": services,
        "instances": instances,
        "static": static,
        "trackers": trackers,
        "counters": counters,
        "other": others,
    }


def render_status(document: Mapping[str, Any], out: TextIO) -> None:
    bus = document["bus"]
    out.write(f"bus {bus['endpoint']}  epoch {bus['hub_epoch']}  state seq {bus['state_seq']}\n")
    out.write("\nservices\n")
    for name, info in document["services"].items():
        if info["alive"]:
            seen = f"pid {info['pid']}, heard {info['last_seen']:.1f}s ago{'' if info['synced'] else ', syncing'}"
            out.write(f"  {name:<12} alive   {seen}\n")
        else:
            quiet = "stopped" if info.get("state") == "stopped" else "silent" if info["pid"] else "absent"
            out.write(f"  {name:<12} {quiet}\n")
    out.write("\ninstances\n")
    if not document["instances"]:
        out.write("  (none published)\n")
    for name, info in document["instances"].items():
        vips = info.get("vips") if isinstance(info.get("vips"), dict) else {}
        out.write(
            f"  {name:<12} {info.get('state', '?'):<7} priority {info.get('base_priority', '?')}"
            f" (effective {info.get('effective_priority', '?')})"
            f"  vips desired {_addresses(vips.get('desired'))} installed {_addresses(vips.get('installed'))}\n"
        )
    if document.get("static"):
        out.write("\nstatic\n")
        for kind, info in document["static"].items():
            entries = info if isinstance(info, dict) else {}
            out.write(
                f"  {kind:<12} desired {_addresses(entries.get('desired'))}"
                f" installed {_addresses(entries.get('installed'))}\n"
            )
    if document["trackers"]:
        out.write("\ntrackers\n")
        for name, info in document["trackers"].items():
            shown = info.get("status", info) if isinstance(info, dict) else info
            out.write(f"  {name:<28} {shown}\n")
    out.write("\ncounters\n")
    for owner, values in document["counters"].items():
        if isinstance(values, dict) and values:
            shown = ", ".join(f"{k}={v}" for k, v in sorted(values.items()))
            out.write(f"  {owner:<12} {shown}\n")


def _addresses(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value) or "-"
    return "-"


# --------------------------------------------------------------------- events


def event_json(event: Event) -> dict[str, Value]:
    return {
        "kind": "event",
        "seq": event.seq,
        "hub_epoch": event.hub_epoch,
        "time": event.time,
        "publisher": event.publisher,
        "topic": event.topic,
        "data": event.data,
    }


def event_text(event: Event) -> str:
    stamp = datetime.datetime.fromtimestamp(event.time, datetime.UTC).isoformat(timespec="milliseconds")
    fields = " ".join(f"{k}={_text_value(v)}" for k, v in event.data.items())
    return f"{event.seq} {stamp.replace('+00:00', 'Z')} {event.publisher} {event.topic}{' ' + fields if fields else ''}"


def _text_value(value: Any) -> str:
    if isinstance(value, str) and value and not any(c.isspace() for c in value):
        return value
    return json.dumps(value, separators=(",", ":"))


def missed_json(missed: Missed) -> dict[str, Value]:
    return {
        "kind": "missed",
        "count": missed.count,
        "epoch_changed": missed.epoch_changed,
        "hub_epoch": missed.hub_epoch,
    }


def missed_text(missed: Missed) -> str:
    why = "the bus restarted" if missed.epoch_changed else "the history no longer reaches back that far"
    return f"-- {missed.count} event(s) missed: {why}"


def stream_events(
    where: Path | TcpEndpoint,
    out: TextIO,
    *,
    as_json: bool,
    follow: bool,
    since: int | None,
    topic: str,
    timeout: float = 5.0,
    **options: Any,
) -> int:
    start: tuple[int, int] | Start = (0, since) if since is not None else (Start.NOW if follow else Start.HISTORY)
    with Subscriber(where, want_state=False, since=start, prefix=topic, **options) as subscriber:
        deadline = time.monotonic() + timeout
        while True:
            for effect in subscriber.poll(0.5):
                if isinstance(effect, EventDelivered):
                    line = json.dumps(event_json(effect.event)) if as_json else event_text(effect.event)
                elif isinstance(effect, Missed):
                    line = json.dumps(missed_json(effect)) if as_json else missed_text(effect)
                else:
                    continue
                out.write(line + "\n")
                out.flush()
            if not follow and subscriber.core.caught_up:
                return 0
            if not subscriber.core.caught_up and not follow and time.monotonic() >= deadline:
                raise _connect_timeout_error(where)
