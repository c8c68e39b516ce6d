"""One `hakeeper run` per runtime directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from services.pidfile import PidFile, PidFileBusy, read_pid


def test_the_pid_file_names_this_process_and_goes_away(tmp_path: Path) -> None:
    path = tmp_path / "hakeeper.pid"
    with PidFile(path):
        assert read_pid(path) == os.getpid()
    assert not path.exists()


def test_a_live_holder_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "hakeeper.pid"
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        path.write_text(f"{holder.pid}\n")
        with pytest.raises(PidFileBusy) as busy, PidFile(path):
            pass
        assert busy.value.pid == holder.pid
        assert path.read_text() == f"{holder.pid}\n"  # not ours to remove
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.parametrize("content", ["999999999\n", "garbage", ""])
def test_a_stale_or_broken_file_is_replaced(tmp_path: Path, content: str) -> None:
    path = tmp_path / "hakeeper.pid"
    path.write_text(content)
    with PidFile(path):
        assert read_pid(path) == os.getpid()
