"""The node's runtime directory, and the error of a bus that cannot be set up.

Apart from bus.endpoints so that `hakeeper run`, which only creates the
directory, does not load ZeroMQ.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

DEFAULT_RUNTIME_DIR = "/run/hakeeper"
RUNTIME_DIR_ENV = "HAKEEPER_RUNTIME_DIR"


class EndpointError(Exception):
    """The bus cannot be set up as configured; the message says why."""


def ensure_runtime_dir(path: Path) -> Path:
    """Create the directory (mode 0700), or tighten an existing one we own to 0700."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = path.stat()
        if st.st_uid == os.geteuid() and stat.S_IMODE(st.st_mode) != 0o700:
            path.chmod(0o700)
    except OSError as exc:
        raise EndpointError(f"cannot create runtime directory {path}: {exc.strerror}") from None
    return path


def runtime_dir(explicit: str | None = None) -> Path:
    """--runtime-dir, else $HAKEEPER_RUNTIME_DIR, else /run/hakeeper."""
    return Path(explicit or os.environ.get(RUNTIME_DIR_ENV) or DEFAULT_RUNTIME_DIR)
