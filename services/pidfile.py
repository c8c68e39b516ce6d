"""The pid file of a running node: one `hakeeper run` per runtime directory."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from types import TracebackType


class PidFileBusy(Exception):
    def __init__(self, pid: int) -> None:
        super().__init__(f"pid {pid}")
        self.pid = pid


def read_pid(path: Path) -> int | None:
    """The live process the file names, or None (no file, garbage, or a process that is gone)."""
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid


class PidFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> PidFile:
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                holder = read_pid(self.path)
                if holder is not None and holder != os.getpid():
                    raise PidFileBusy(holder) from None
                # Left by a node that died without cleaning up.
                self.path.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "w") as file:
                file.write(f"{os.getpid()}\n")
            return self
        raise PidFileBusy(read_pid(self.path) or -1)

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if read_pid(self.path) == os.getpid():
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
