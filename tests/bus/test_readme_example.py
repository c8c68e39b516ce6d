"""The subscriber example in the README works as printed."""

from __future__ import annotations

import re
import select
import subprocess
import sys
from pathlib import Path

from bus.publisher import Publisher
from tests.conftest import wait_for

ROOT = Path(__file__).resolve().parents[2]


def readme_example() -> str:
    [code] = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert len([line for line in code.splitlines() if line.strip()]) <= 10
    return code


def test_readme_subscriber_example(hub: object, rundir: Path) -> None:
    code = readme_example().replace('Path("/run/hakeeper")', f"Path({str(rundir)!r})")
    assert str(rundir) in code
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    pub = Publisher("vrrp", rundir, ping_interval=0.1)
    lines: list[str] = []

    def printed() -> bool:
        # The example starts from "now": keep posting until it has printed something.
        pub.post("vrrp/VI_1", {"state": "MASTER"})
        pub.flush(1)
        assert proc.stdout is not None and proc.poll() is None
        if select.select([proc.stdout], [], [], 0.2)[0]:
            lines.append(proc.stdout.readline().strip())
        return bool(lines)

    try:
        wait_for(printed, timeout=15)
        assert re.fullmatch(r"\d+ vrrp/VI_1 \{'state': 'MASTER'\}", lines[0])
    finally:
        proc.kill()
        proc.wait(5)
        pub.close()
