"""Adopting and stopping the services a dead supervisord left behind, in the node's stop order."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from services.orphans import children, service_name
from tests.conftest import wait_for

ROOT = Path(__file__).resolve().parents[2]

# A service that notes its SIGTERM in the file argv[3] and exits; argv[3].ready says its handler is set.
SERVICE = """
import signal, sys, time
def stop(signum, frame):
    with open(sys.argv[3], "a") as log:
        log.write(sys.argv[2] + "\\n")
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
with open(sys.argv[3] + ".ready", "a") as ready:
    ready.write(sys.argv[2] + "\\n")
while True:
    time.sleep(1)
"""
# A "supervisord" that starts the services named in argv[3:] and dies at once, orphaning them.
PARENT = """
import subprocess, sys
for name in sys.argv[3:]:
    subprocess.Popen([sys.executable, "-c", sys.argv[1], "service", name, sys.argv[2]])
"""
# The subreaper, in a child process so that pytest itself is not changed.
SUBREAPER = """
import os, subprocess, sys, time
from services.orphans import become_subreaper, children, stop_orphans
assert become_subreaper()
subprocess.run([sys.executable, "-c", sys.argv[1], sys.argv[2], sys.argv[3], "bus", "vrrp", "netconfig"], check=True)
def ready():
    try:
        return len(open(sys.argv[3] + ".ready").read().split())
    except FileNotFoundError:
        return 0
deadline = time.monotonic() + 10
while (len(children(os.getpid())) < 3 or ready() < 3) and time.monotonic() < deadline:
    time.sleep(0.02)
print(stop_orphans(["vrrp", "netconfig", "bus"], 5.0))
"""


def test_service_name_comes_from_the_command_line() -> None:
    assert service_name(["python", "-m", "services.cli", "service", "vrrp", "--runtime-dir", "x"]) == "vrrp"
    assert service_name(["supervisord", "-n"]) is None


def test_orphans_are_adopted_and_stopped_in_order(tmp_path: Path) -> None:
    log = tmp_path / "stops"
    result = subprocess.run(
        [sys.executable, "-c", SUBREAPER, PARENT, SERVICE, str(log)],
        capture_output=True, text=True, timeout=60, cwd=ROOT, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "3"
    assert log.read_text().split() == ["vrrp", "netconfig", "bus"]


def test_children_lists_live_children_only() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        wait_for(lambda: child.pid in children(os.getpid()))
        assert any("time.sleep(30)" in word for word in children(os.getpid())[child.pid])
    finally:
        child.kill()
        child.wait()
    assert child.pid not in children(os.getpid())
