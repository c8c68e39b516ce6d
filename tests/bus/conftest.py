"""A bus hub running in a thread, for tests of the bus and its users."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bus.hub import Hub


@pytest.fixture
def rundir(tmp_path: Path) -> Path:
    return tmp_path / "run"


@pytest.fixture
def hub(rundir: Path) -> Iterator[Hub]:
    hub = Hub(rundir, heartbeat_interval=0.1, history_size=50_000)
    hub.bind()
    stop = threading.Event()
    thread = threading.Thread(target=hub.run, args=(stop,), daemon=True)
    thread.start()
    yield hub
    stop.set()
    thread.join(5)
    hub.close()
