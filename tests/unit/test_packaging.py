"""The ordinary packaging of a daemon: `pip install .` into a clean venv gives a working
`hakeeper` with its supervisord.conf, and the systemd unit runs it on keepalived's paths."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SKIP = shutil.ignore_patterns(".venv", ".git", "*_cache", "build", "*.egg-info", "__pycache__", "bench")


def test_pip_install_from_a_clean_venv_gives_a_working_hakeeper(tmp_path: Path) -> None:
    source, venv, elsewhere = tmp_path / "src", tmp_path / "venv", tmp_path / "elsewhere"
    shutil.copytree(ROOT, source, symlinks=True, ignore=SKIP)
    elsewhere.mkdir()  # run from outside the tree, so that nothing is imported from it
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    installed = subprocess.run(
        [venv / "bin" / "pip", "install", "--quiet", str(source)], capture_output=True, text=True, check=False
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    hakeeper = venv / "bin" / "hakeeper"
    checked = subprocess.run(
        [hakeeper, "check-config", "-f", str(source / "conf" / "examples" / "lab-a.conf")],
        capture_output=True, text=True, cwd=elsewhere, check=False,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    where = subprocess.run(
        [venv / "bin" / "python", "-c", "from services.node import default_supervisord_conf as d; print(d())"],
        capture_output=True, text=True, cwd=elsewhere, check=True,
    ).stdout.strip()  # fmt: skip
    shipped = Path(where)
    assert shipped.is_relative_to(venv) and not shipped.is_symlink()
    assert shipped.read_text() == (ROOT / "supervisord.conf").read_text()


def test_the_systemd_unit_runs_hakeeper_on_keepalived_paths() -> None:
    unit = (ROOT / "conf" / "hakeeper.service").read_text()
    lines = dict(line.split("=", 1) for line in unit.splitlines() if "=" in line and not line.startswith("#"))
    assert lines["ExecStart"].split()[:2] == ["/usr/local/bin/hakeeper", "run"]
    assert "HAKEEPER_CONFIG=/etc/keepalived/keepalived.conf" in lines["Environment"]
    assert lines["ExecReload"] == "/bin/kill -HUP $MAINPID" and lines["KillMode"] == "mixed"
    assert lines["Conflicts"] == "keepalived.service"
