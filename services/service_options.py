"""How a service is started and where it reports: options, exit codes, pid files, logging.

Kept apart from services.base so that `hakeeper run`, which only starts and
signals the services, does not load the bus and the configuration's model.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from dataclasses import dataclass
from pathlib import Path

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 4  # keepalived's "cannot run" code: supervisord will not keep restarting it (exitcodes)

SYSLOG_SOCKET = "/dev/log"
FACILITIES = {
    "daemon": logging.handlers.SysLogHandler.LOG_DAEMON,
    **{f"local{n}": getattr(logging.handlers.SysLogHandler, f"LOG_LOCAL{n}") for n in range(8)},
}


@dataclass(frozen=True)
class ServiceOptions:
    """How `hakeeper run` (through supervisord's environment) or a command line starts a service."""

    runtime_dir: Path
    config_file: str
    config_id: str | None = None
    dont_release_vrrp: bool = False
    dont_release_ipvs: bool = False
    log_facility: str = "daemon"
    syslog: bool = True

    @classmethod
    def from_environment(cls, runtime_dir: Path, config_file: str | None, config_id: str | None) -> ServiceOptions:
        env = os.environ
        flags = set(env.get("HAKEEPER_FLAGS", "").split(","))
        return cls(
            runtime_dir=runtime_dir,
            config_file=config_file or env.get("HAKEEPER_CONFIG", "/etc/keepalived/keepalived.conf"),
            config_id=config_id or env.get("HAKEEPER_CONFIG_ID") or None,
            dont_release_vrrp="dont-release-vrrp" in flags,
            dont_release_ipvs="dont-release-ipvs" in flags,
            log_facility=env.get("HAKEEPER_LOG_FACILITY", "daemon"),
            syslog=env.get("HAKEEPER_SYSLOG", "1") != "0",
        )


def service_pid_path(runtime_dir: Path, name: str) -> Path:
    """`RUNTIME_DIR/vrrp.pid`, as keepalived's vrrp.pid and checkers.pid: who to signal at once."""
    return runtime_dir / f"{name}.pid"


def write_service_pid(runtime_dir: Path, name: str) -> None:
    path = service_pid_path(runtime_dir, name)
    temporary = path.with_suffix(".pid.new")
    temporary.write_text(f"{os.getpid()}\n")
    temporary.replace(path)


def remove_service_pid(runtime_dir: Path, name: str) -> None:
    path = service_pid_path(runtime_dir, name)
    try:
        if int(path.read_text().strip()) == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass  # gone already, or a successor's


def setup_logging(ident: str, options: ServiceOptions) -> None:
    """stderr (supervisord keeps it in the runtime directory, or passes it to the console) and syslog."""
    root = logging.getLogger()
    root.handlers.clear()
    root.setLevel(logging.INFO)
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(
        logging.Formatter(f"%(asctime)s {ident}[%(process)d]: %(message)s", datefmt="%a %b %d %H:%M:%S %Y")
    )
    root.addHandler(console)
    if options.syslog and Path(SYSLOG_SOCKET).exists():
        try:
            handler = logging.handlers.SysLogHandler(
                SYSLOG_SOCKET, facility=FACILITIES.get(options.log_facility, FACILITIES["daemon"])
            )
        except OSError:
            return  # no syslog daemon listening: stderr alone
        handler.setFormatter(logging.Formatter(f"{ident}[%(process)d]: %(message)s"))
        root.addHandler(handler)
