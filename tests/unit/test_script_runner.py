"""services.script_runner: real script runs, their ends, and timeouts that kill the whole group."""

from __future__ import annotations

import contextlib
import os
import pwd
import select
import shutil
import signal
import tempfile
import time
from pathlib import Path

import pytest

from services.healthcheck.script_core import ScriptSpec
from services.script_runner import Runner
from services.script_runs import Exited, Signalled
from tests.conftest import wait_for


def spec(*argv: str) -> ScriptSpec:
    return ScriptSpec("chk", argv, interval=1.0, timeout=1.0)


def ended(runner: Runner, timeout: float = 10.0) -> tuple[str, int, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        readable, _, _ = select.select(runner.fds(), [], [], 0.1)
        for fd in readable:
            found = runner.reap(fd)
            if found is not None:
                return found
    raise AssertionError("no run ended")


def test_exit_status_and_signal_are_reported() -> None:
    runner = Runner()
    assert runner.spawn(spec("/bin/sh", "-c", "exit 3"), 1) is None
    assert ended(runner) == ("chk", 1, Exited(3))
    assert runner.spawn(spec("/bin/sh", "-c", "kill -USR1 $$"), 2) is None
    assert ended(runner) == ("chk", 2, Signalled(signal.SIGUSR1))
    assert runner.fds() == []


def test_a_run_gets_no_shell_and_a_quiet_environment(tmp_path: Path) -> None:
    out = tmp_path / "out"
    runner = Runner()
    # The arguments arrive as given, unexpanded: no shell between.
    script = f'printf "%s|%s|%s" "$1" "$(pwd)" "$(umask)" > {out}'
    assert runner.spawn(spec("/bin/sh", "-c", script, "sh", "$HOME *"), 1) is None
    assert ended(runner)[2] == Exited(0)
    assert out.read_text() == "$HOME *|/|0177"


def test_a_command_that_cannot_start_is_reported_with_keepalived_words() -> None:
    reason = Runner().spawn(spec("/nonexistent/check"), 1)
    assert reason == "Error exec-ing command '/nonexistent/check', error 2: No such file or directory"


def test_a_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    runner = Runner()
    # The script ignores SIGTERM and keeps going; the child it started does not ignore it.
    script = f"sleep 300 & echo $! > {pids}; trap '' TERM; while :; do sleep 0.05; done"
    assert runner.spawn(spec("/bin/sh", "-c", script), 1) is None
    wait_for(lambda: pids.exists() and pids.read_text().strip() != "")
    child = int(pids.read_text())
    runner.signal_group("chk", 1, signal.SIGTERM)  # the shell ignores it; its sleep does not
    wait_for(lambda: not _alive(child))
    runner.signal_group("chk", 1, signal.SIGKILL)
    assert ended(runner) == ("chk", 1, Signalled(signal.SIGKILL))


def test_stop_all_leaves_nothing(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    runner = Runner()
    script = f"trap '' TERM; sleep 300 & echo $! > {pids}; wait"
    assert runner.spawn(spec("/bin/sh", "-c", script), 1) is None
    wait_for(lambda: pids.exists() and pids.read_text().strip() != "")
    child = int(pids.read_text())
    runner.stop_all(grace=0.2)
    wait_for(lambda: not _alive(child))
    assert runner.fds() == []


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
    finally:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)


def test_a_run_takes_its_user_and_only_its_group() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to change users")
    nobody = pwd.getpwnam("nobody")
    shared = Path(tempfile.mkdtemp(prefix="hk-runner-"))  # under /tmp: reachable by nobody
    shared.chmod(0o777)
    out = shared / "id"
    runner = Runner()
    as_nobody = ScriptSpec("chk", ("/bin/sh", "-c", f"id -u > {out}; id -G >> {out}"), 1.0, 1.0,
                           uid=nobody.pw_uid, gid=nobody.pw_gid)  # fmt: skip
    assert runner.spawn(as_nobody, 1) is None
    assert ended(runner)[2] == Exited(0)
    try:
        assert out.read_text().split() == [str(nobody.pw_uid), str(nobody.pw_gid)]
    finally:
        shutil.rmtree(shared)
