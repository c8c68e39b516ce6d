"""`make lab`: two nodes come up, one holds the VIP, and everything is gone afterwards."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import needs_root
from tests.lab import ip

pytestmark = needs_root

ROOT = Path(__file__).resolve().parents[2]


def test_the_lab_comes_up_with_a_master_and_leaves_nothing(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tests.lab_main", "--seconds", "1", "--workdir", str(tmp_path / "lab")],
        capture_output=True, text=True, timeout=120, cwd=ROOT, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "VIP 192.0.2.100/24 on a." in result.stdout
    assert "status --runtime-dir" in result.stdout and "restart vrrp" in result.stdout
    bridge = result.stdout.split("bridge namespace ", 1)[1].split(";", 1)[0]
    tag = bridge.removesuffix("br")
    assert tag and not [ns for ns in ip("netns", "list").stdout.split() if ns.startswith(tag)]
