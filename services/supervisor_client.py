"""Talking to a node's supervisord over its unix socket (XML-RPC), as supervisorctl does."""

from __future__ import annotations

import http.client
import xmlrpc.client
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from supervisor.xmlrpc import SupervisorTransport

GROUP = "hakeeper"
SOCKET_NAME = "supervisor.sock"
# Stop order: vrrp first (its priority-0 adverts hand the VIPs over at once), then netconfig
# (which releases what it installed), then the rest; the bus last, so that the others'
# final events still reach subscribers.
SERVICES = ("vrrp", "healthcheck", "ipvs", "netconfig", "notifier", "bus")
STOP_ORDER = ("vrrp", "netconfig", "healthcheck", "ipvs", "notifier", "bus")


class SupervisorError(Exception):
    """supervisord is not reachable, or refused; the message says which."""


@dataclass(frozen=True)
class ProgramStatus:
    name: str
    state: str  # RUNNING, STOPPED, STARTING, BACKOFF, EXITED, FATAL, ...
    pid: int
    description: str


class Supervisor:
    def __init__(self, runtime_dir: Path) -> None:
        self.socket = runtime_dir / SOCKET_NAME

    def _call(self, method: str, *args: Any) -> Any:
        # A connection per call: a failed one (supervisord not up yet) cannot be reused.
        transport = SupervisorTransport(None, None, f"unix://{self.socket}")
        target: Any = xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)
        for part in method.split("."):
            target = getattr(target, part)
        try:
            return target(*args)
        except xmlrpc.client.Fault as fault:
            raise SupervisorError(f"supervisord refused {method}: {fault.faultString}") from None
        except (OSError, http.client.HTTPException) as exc:
            detail = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            raise SupervisorError(f"no supervisord at {self.socket} ({detail})") from None
        finally:
            transport.close()

    def alive(self) -> bool:
        try:
            return cast(str, self._call("supervisor.getState")["statename"]) == "RUNNING"
        except SupervisorError:
            return False

    def status(self) -> list[ProgramStatus]:
        infos = cast(list[dict[str, Any]], self._call("supervisor.getAllProcessInfo"))
        by_name = {
            info["name"]: ProgramStatus(info["name"], info["statename"], info["pid"], info["description"])
            for info in infos
            if info["group"] == GROUP
        }
        return [by_name[name] for name in SERVICES if name in by_name]

    def start(self, name: str) -> None:
        self._call("supervisor.startProcess", f"{GROUP}:{name}", True)

    def stop(self, name: str) -> None:
        self._call("supervisor.stopProcess", f"{GROUP}:{name}", True)

    def signal(self, name: str, signame: str) -> None:
        self._call("supervisor.signalProcess", f"{GROUP}:{name}", signame)

    def shutdown(self) -> None:
        self._call("supervisor.shutdown")
