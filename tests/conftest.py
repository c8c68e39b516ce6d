"""Fixtures shared by every test directory."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bus.hub import Hub
from conf.diagnostics import Diagnostics
from conf.preprocess import Preprocessor
from tests.lab import Lan

WriteConf = Callable[..., Path]


@pytest.fixture
def write_conf(tmp_path: Path) -> WriteConf:
    """Write a configuration file (dedented) under tmp_path and return its path."""

    def write(text: str, name: str = "keepalived.conf") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
        return path

    return write


def expand(path: Path, config_id: str = "main") -> tuple[list[tuple[int, str]], Diagnostics]:
    """(line, text) of every logical line the preprocessor produces, and its diagnostics."""
    diags = Diagnostics()
    lines = [(line.loc.line, line.text) for line in Preprocessor(diags, config_id).read(str(path))]
    return lines, diags


def _have_root_and_netns() -> bool:
    return os.geteuid() == 0 and shutil.which("ip") is not None


needs_root = pytest.mark.skipif(not _have_root_and_netns(), reason="needs root and iproute2 for network namespaces")
needs_keepalived = pytest.mark.skipif(shutil.which("keepalived") is None, reason="needs Debian's keepalived")


@pytest.fixture
def netns() -> Iterator[str]:
    """A throw-away network namespace with only `lo` up; everything in it is killed afterwards."""
    if not _have_root_and_netns():
        pytest.skip("needs root and iproute2 for network namespaces")
    name = f"hkt-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        yield name
    finally:
        pids = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True, check=False).stdout.split()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
        subprocess.run(["ip", "netns", "delete", name], check=False)


def add_veth(ns: str, ifname: str, address: str | None = None) -> None:
    """A veth named `ifname` inside `ns` (its peer stays inside too), up, with an optional address."""
    peer = f"p{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "-n", ns, "link", "add", ifname, "type", "veth", "peer", "name", peer], check=True)
    subprocess.run(["ip", "-n", ns, "link", "set", ifname, "up"], check=True)
    subprocess.run(["ip", "-n", ns, "link", "set", peer, "up"], check=True)
    if address:
        subprocess.run(["ip", "-n", ns, "addr", "add", address, "dev", ifname], check=True)


def wait_for(condition: Callable[[], bool], timeout: float = 10.0, step: Callable[[], object] | None = None) -> None:
    """Poll `condition` (running `step` between tries) until it holds or the deadline passes."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        if step is not None:
            step()
        else:
            time.sleep(0.01)


@pytest.fixture
def lan() -> Iterator[Lan]:
    """A bridge and nodes in throw-away namespaces (see tests/lab.py), torn down even after a failure."""
    if not _have_root_and_netns():
        pytest.skip("needs root and iproute2 for network namespaces")
    # Short: unix socket paths under it must stay below 108 bytes.
    workdir = Path(tempfile.mkdtemp(prefix="hkl", dir="/tmp"))
    network = Lan(workdir)
    try:
        yield network
    finally:
        network.close()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def rundir(tmp_path: Path) -> Path:
    return tmp_path / "run"


@pytest.fixture
def hub(rundir: Path) -> Iterator[Hub]:
    """A bus hub running in a thread, for tests of the bus and its users."""
    hub = Hub(rundir, heartbeat_interval=0.1, history_size=50_000)
    hub.bind()
    stop = threading.Event()
    thread = threading.Thread(target=hub.run, args=(stop,), daemon=True)
    thread.start()
    yield hub
    stop.set()
    thread.join(5)
    hub.close()
