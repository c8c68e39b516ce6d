"""services.notifier.fifos and .cursor on real files: a FIFO created and removed, lines kept in
order when the pipe is full, and a cursor that survives a restart or is ignored when unreadable."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from services.notifier.core import Known
from services.notifier.cursor import Cursor, load_cursor, reset_cursor, save_cursor
from services.notifier.fifos import Fifos
from services.notifier.setup import Fifo


def fifo(path: Path, *, vrrp: bool = True, lvs: bool = False) -> Fifo:
    return Fifo("vrrp_notify_fifo", str(path), None, None, None, vrrp, lvs)


def read_all(fd: int) -> bytes:
    data = b""
    while True:
        try:
            chunk = os.read(fd, 1 << 16)
        except BlockingIOError:
            return data
        data += chunk


def test_a_missing_fifo_is_created_and_removed_an_existing_one_is_kept(tmp_path: Path) -> None:
    created, existing = tmp_path / "new.fifo", tmp_path / "old.fifo"
    os.mkfifo(existing)
    fifos = Fifos((fifo(created), fifo(existing)))
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_ISFIFO(created.stat().st_mode)
    assert stat.S_IMODE(created.stat().st_mode) == 0o644 & ~umask
    fifos.close()
    assert not created.exists() and existing.exists()


def test_lines_a_full_pipe_cannot_take_wait_and_go_out_in_order(tmp_path: Path) -> None:
    path = tmp_path / "vrrp.fifo"
    fifos = Fifos((fifo(path), fifo(tmp_path / "lvs.fifo", vrrp=False, lvs=True)))
    reader = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    lines = [f'INSTANCE "VI_{n}" MASTER 100\n' for n in range(5000)]  # more than a pipe holds
    for line in lines:
        fifos.write_vrrp(line)
    assert fifos.backlog > 0 and fifos.next_deadline(0.0) is not None
    received = b""
    while fifos.backlog:
        received += read_all(reader)
        fifos.flush()
    received += read_all(reader)
    assert received.decode() == "".join(lines)
    fifos.write_lvs("RS [192.0.2.1]:tcp:80 [192.0.2.100]:tcp:80 UP\n")
    assert read_all(reader) == b""  # not a line for the vrrp FIFO
    os.close(reader)
    fifos.close()


def test_a_saved_cursor_is_read_back_and_an_unreadable_one_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "notifier.cursor"
    assert load_cursor(path) is None
    cursor = Cursor(7, 42, {"INSTANCE VI_1": Known("MASTER", 100)}, {"INSTANCE VI_1": "MASTER"})
    save_cursor(path, cursor)
    assert load_cursor(path) == cursor
    path.write_text('{"epoch": "x"')
    assert load_cursor(path) is None


def test_a_node_start_points_the_cursor_at_the_new_bus_start_or_removes_it(tmp_path: Path) -> None:
    path = tmp_path / "notifier.cursor"
    save_cursor(path, Cursor(7, 42))
    reset_cursor(path, from_start=True)
    assert load_cursor(path) == Cursor(0, 0)  # epoch 0: whichever hub runs, from its first event
    reset_cursor(path, from_start=False)
    assert not path.exists()
