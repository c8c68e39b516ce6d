"""A function run in a forked child that exits, for its JSON result.

Long-lived processes that only need an answer from the configuration (`hakeeper
run`, the bus hub) get it this way: the configuration's model, and everything
it imports, stays in the child and leaves with it, instead of costing each of
them several megabytes for the node's lifetime.
"""

from __future__ import annotations

import json
import os
import traceback
from collections.abc import Callable
from typing import Any

CHILD_FAILED = 70  # EX_SOFTWARE: the function raised; its traceback is the error's message


class ChildFailed(Exception):
    """The function raised in the child (a bug, not an answer); the message is its traceback."""


def run_in_child(function: Callable[[], Any]) -> Any:
    """`function()` in a forked child; its return value must survive a JSON round trip."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(read)
        os._exit(_child(write, function))
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise ChildFailed(data.decode(errors="replace").strip() or f"exit status {status}")
    return json.loads(data)


def _child(write: int, function: Callable[[], Any]) -> int:
    with os.fdopen(write, "wb") as pipe:
        try:
            pipe.write(json.dumps(function()).encode())
            pipe.flush()
            return 0
        except BaseException:
            pipe.write(traceback.format_exc().encode())
            pipe.flush()
            return CHILD_FAILED
