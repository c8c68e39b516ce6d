"""The notifier's record, under the runtime directory, of the last event it acted on.

A JSON file replaced atomically: the hub epoch and the event's sequence number,
and what was last notified of each instance and sync group (its state and
priority, and the state last e-mailed), so that a restarted notifier resumes
after that event, and after lost events notifies only what changed.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.notifier.core import Known

log = logging.getLogger("Keepalived_vrrp")

FILE_NAME = "notifier.cursor"


@dataclass
class Cursor:
    epoch: int
    seq: int
    known: dict[str, Known] = field(default_factory=dict)
    mailed: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "seq": self.seq,
            "known": {unit: [k.state, k.priority] for unit, k in sorted(self.known.items())},
            "mailed": dict(sorted(self.mailed.items())),
        }


def cursor_path(runtime_dir: Path) -> Path:
    return runtime_dir / FILE_NAME


def load_cursor(path: Path) -> Cursor | None:
    """The saved cursor; None if there is none, or (logged) if it cannot be read."""
    try:
        data = json.loads(path.read_text())
        known = {str(u): Known(str(v[0]), int(v[1])) for u, v in data.get("known", {}).items()}
        mailed = {str(u): str(s) for u, s in data.get("mailed", {}).items()}
        return Cursor(int(data["epoch"]), int(data["seq"]), known, mailed)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        log.info("Ignoring the notifier's cursor %s: %s", path, exc)
        return None


def reset_cursor(path: Path, *, from_start: bool) -> None:
    """At a node's start: a notifier that starts with it acts on the new bus's whole history (hub
    epoch 0 is "whichever hub runs"); one a reload starts later finds no cursor and begins at that
    moment, as keepalived runs no notify script for what happened before a reload."""
    if from_start:
        save_cursor(path, Cursor(0, 0))
    else:
        path.unlink(missing_ok=True)


def save_cursor(path: Path, cursor: Cursor) -> None:
    temporary = path.with_name(path.name + ".new")
    temporary.write_text(json.dumps(cursor.to_json(), separators=(",", ":")) + "\n")
    os.replace(temporary, path)
