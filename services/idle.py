"""A service that is not built yet: it runs, joins the bus and answers signals, and does nothing else."""

from __future__ import annotations

from services.base import Service
from services.service_options import ServiceOptions


def idle_service(name: str, ident: str) -> type[Service]:
    return type(f"Idle_{name}", (Service,), {"name": name, "syslog_ident": ident})


def make(name: str, ident: str, options: ServiceOptions) -> Service:
    return idle_service(name, ident)(options)
