"""`make lab`, as a newcomer runs it: the guide's story on two nodes and a client, each step with
the VIP where it should be and the client reaching it again, and nothing left afterwards."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

from tests.conftest import needs_root
from tests.lab import ip

pytestmark = needs_root

ROOT = Path(__file__).resolve().parents[2]


def lab_namespaces(output: str) -> list[str]:
    bridge = output.split("bridge namespace ", 1)[1].split(";", 1)[0] if "bridge namespace " in output else ""
    tag = bridge.removesuffix("br")
    return [ns for ns in ip("netns", "list").stdout.split() if tag and ns.startswith(tag)]


def make_lab(args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", "-s", "lab", f"ARGS={args}"],
        capture_output=True, text=True, timeout=timeout, cwd=ROOT, check=False,
    )  # fmt: skip


def test_make_lab_walks_through_the_story_and_leaves_nothing(tmp_path: Path) -> None:
    before = set(ip("netns", "list").stdout.split())
    result = make_lab(f"--workdir {tmp_path / 'lab'}", timeout=300)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "VIP 192.0.2.100/24 on: a; the client reaches node a" in out
    steps = re.findall(r"VIP now on: (\w+); the client reaches node (\w+); longest interruption ([\d.]+) s", out)
    assert [(holder, reached) for holder, reached, _ in steps] == [("b", "b"), ("a", "a"), ("b", "b"), ("a", "a")]
    gaps = [float(gap) for _, _, gap in steps]
    # The check failing costs the check interval and b's master down interval (3 x 1 s + skew);
    # a stopped master hands over with priority 0, in b's skew time.
    assert 0.5 < gaps[0] < 8.0 and gaps[2] < 3.0, gaps
    # Both nodes' live events were shown, and a's notify script got keepalived's arguments.
    assert "[a event] vrrp/VI_1: BACKUP -> MASTER" in out and "[b event] vrrp/VI_1: BACKUP -> MASTER" in out
    assert "INSTANCE VI_1 MASTER 102" in out and "INSTANCE VI_1 STOP" in out
    assert set(ip("netns", "list").stdout.split()) <= before, "the lab left namespaces behind"


def test_make_lab_interactive_prints_the_commands_to_try(tmp_path: Path) -> None:
    before = set(ip("netns", "list").stdout.split())
    result = make_lab(f"--interactive --seconds 1 --workdir {tmp_path / 'lab'}", timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    for command in ("hakeeper status --runtime-dir", "hakeeper events --follow --runtime-dir", "restart vrrp"):
        assert command in result.stdout
    assert set(ip("netns", "list").stdout.split()) <= before, "the lab left namespaces behind"


def test_ctrl_c_removes_the_lab(tmp_path: Path) -> None:
    before = set(ip("netns", "list").stdout.split())
    # As a terminal's Ctrl-C does: SIGINT to make and to the lab, its foreground process group.
    lab = subprocess.Popen(
        ["make", "--no-print-directory", "-s", "lab", f"ARGS=--interactive --workdir {tmp_path / 'lab'}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT, start_new_session=True,
    )  # fmt: skip
    assert lab.stdout is not None
    seen: list[str] = []
    for line in lab.stdout:
        seen.append(line)
        if line.startswith("Ctrl-C stops"):
            break
    assert lab_namespaces("".join(seen)), "the lab did not come up: " + "".join(seen)
    os.killpg(lab.pid, signal.SIGINT)
    lab.communicate(timeout=120)
    deadline = time.monotonic() + 60
    while set(ip("netns", "list").stdout.split()) - before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert set(ip("netns", "list").stdout.split()) <= before, "Ctrl-C left namespaces behind"
