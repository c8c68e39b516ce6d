"""Every sample Debian's keepalived installs parses, and hakeeper reports at least what keepalived -t reports.

Both run in the same throw-away network namespace (only `lo` and a veth `eth0`),
so that interface checks see the same machine.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from conf.diagnostics import Diagnostics
from conf.preprocess import Preprocessor
from conf.tree import Stmt, build_tree
from tests.conftest import add_veth, needs_keepalived, needs_root

SAMPLES = Path("/usr/share/doc/keepalived/samples")
KEEPALIVED_LINE = re.compile(r"^\((?:[^()]*: )?Line (\d+)\) (.*)$")
HAKEEPER_LINE = re.compile(r"^(.*?):(\d+): (error|warning): (.*)$")
CONFIG_ID = "hktest"

pytestmark = [needs_root, needs_keepalived, pytest.mark.interop]


def sample_files() -> list[Path]:
    return sorted(p for p in SAMPLES.glob("keepalived.conf.*")) if SAMPLES.is_dir() else []


def block_openers(path: Path) -> dict[int, int]:
    """Closing-brace line -> opening line of each block: keepalived reports block-end problems at the '}'."""
    openers: dict[int, int] = {}

    def walk(stmts: tuple[Stmt, ...]) -> None:
        for stmt in stmts:
            if stmt.block is not None:
                if stmt.end is not None:
                    openers[stmt.end.line] = stmt.loc.line
                walk(stmt.block)

    walk(build_tree(Preprocessor(Diagnostics(), CONFIG_ID).read(str(path)), Diagnostics()))
    return openers


def run_keepalived(ns: str, path: Path) -> tuple[int, dict[int, list[str]], list[str]]:
    proc = subprocess.run(
        ["ip", "netns", "exec", ns, "keepalived", "-t", "-l", "-n", "-i", CONFIG_ID, "-f", str(path)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    by_line: dict[int, list[str]] = {}
    unlocated: list[str] = []
    for line in proc.stderr.splitlines():
        match = KEEPALIVED_LINE.match(line.strip())
        if match:
            by_line.setdefault(int(match.group(1)), []).append(match.group(2))
        elif line.strip():
            unlocated.append(line.strip())
    return proc.returncode, by_line, unlocated


def run_hakeeper(ns: str, path: Path) -> tuple[int, dict[int, list[str]]]:
    proc = subprocess.run(
        ["ip", "netns", "exec", ns, sys.executable, "-m", "services.cli", "check-config", "--strict-env",
         "--config-id", CONFIG_ID, "-f", str(path)],
        capture_output=True, text=True, timeout=60, check=False, cwd=Path(__file__).resolve().parents[2],
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    by_line: dict[int, list[str]] = {}
    for line in proc.stderr.splitlines():
        match = HAKEEPER_LINE.match(line)
        assert match, f"unexpected output line: {line!r}"
        if Path(match.group(1)).name == path.name:
            by_line.setdefault(int(match.group(2)), []).append(f"{match.group(3)}: {match.group(4)}")
    return proc.returncode, by_line


@pytest.fixture
def sample_ns(netns: str) -> str:
    add_veth(netns, "eth0", "192.0.2.10/24")
    return netns


def test_samples_are_installed() -> None:
    assert len(sample_files()) >= 20, "Debian's keepalived package should install its samples"


@pytest.mark.parametrize("path", sample_files(), ids=lambda p: p.name)
def test_sample_reports_at_least_what_keepalived_reports(sample_ns: str, path: Path) -> None:
    ka_code, ka_lines, _ = run_keepalived(sample_ns, path)
    hk_code, hk_lines = run_hakeeper(sample_ns, path)
    openers = block_openers(path)
    missing = {
        line: text for line, text in ka_lines.items() if line not in hk_lines and openers.get(line) not in hk_lines
    }
    assert not missing, f"keepalived reports lines hakeeper does not: {missing}"
    if ka_code != 0:
        assert hk_code != 0, f"keepalived -t exits {ka_code} but hakeeper exits 0; hakeeper said {hk_lines}"
    # Knowing every keyword keepalived knows: an unknown keyword here must be unknown to keepalived too.
    ours = {line for line, texts in hk_lines.items() if any("unknown keyword" in t for t in texts)}
    theirs = {line for line, texts in ka_lines.items() if any("Unknown keyword" in t for t in texts)}
    assert ours <= theirs, f"hakeeper does not know keywords keepalived knows, lines {sorted(ours - theirs)}"
