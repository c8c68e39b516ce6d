"""Which processes a vrrp_track_process counts, and when its quorum holds (pure).

keepalived 2.2.7 (core/track_process.c): without `full_command` the process
name (comm, at most 15 characters: a longer name never matches) must equal
`process`; with it, argv[0] must, and the parameters after it are compared
as NUL-separated bytes: `exact` all of them, `partial` the configured ones
first (more allowed), `initial` likewise but the last configured one may be a
prefix of the process's. The tracker is OK while quorum <= count <= quorum_max.
"""

from __future__ import annotations

from dataclasses import dataclass

from conf.model.config import Config
from services.tracked import tracked_names

COMM_LEN = 15


@dataclass(frozen=True)
class ProcessSpec:
    name: str
    process: str
    params: bytes | None = None  # the configured parameters, each followed by NUL
    param_match: str = "exact"  # exact | partial | initial
    full_command: bool = False
    quorum: int = 1
    quorum_max: int = 65535
    fork_delay: float = 0.0
    terminate_delay: float = 0.0

    def ok(self, count: int) -> bool:
        return self.quorum <= count <= self.quorum_max


def tracked_processes(config: Config) -> list[ProcessSpec]:
    tracked = tracked_names(config, "track_process")
    specs: list[ProcessSpec] = []
    for p in config.track_processes:
        if p.name not in tracked or not p.process:
            continue
        params = b"".join(word.encode() + b"\0" for word in p.process[1:]) or None
        specs.append(
            ProcessSpec(
                name=p.name,
                process=p.process[0],
                params=params,
                param_match=p.param_match or "exact",
                full_command=p.full_command,
                quorum=p.quorum,
                quorum_max=p.quorum_max,
                fork_delay=p.fork_delay,
                terminate_delay=p.terminate_delay,
            )
        )
    return specs


def matches(spec: ProcessSpec, comm: str, cmdline: bytes) -> bool:
    """Whether a process with this comm and /proc/PID/cmdline counts for `spec`."""
    if not spec.full_command:
        return comm == spec.process
    argv0, _, params = cmdline.partition(b"\0")
    if argv0.decode(errors="surrogateescape") != spec.process:
        return False
    return _params_match(spec, params)


def _params_match(spec: ProcessSpec, params: bytes) -> bool:
    wanted = spec.params
    if spec.param_match == "exact":
        return params == (wanted or b"")
    if wanted is None:
        return True
    if len(params) < len(wanted):
        return False
    if spec.param_match == "partial":
        return params.startswith(wanted)
    # initial: the last configured parameter may be a prefix of the process's (its NUL is not compared)
    return len(wanted) == 1 or params.startswith(wanted[:-1])
