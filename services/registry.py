"""The node's programs and where each one's code lives (imported only when it runs)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from services.base import Service
    from services.service_options import ServiceOptions

# name -> (module:class, or None while the service is a placeholder; keepalived's syslog ident)
SERVICES: dict[str, tuple[str | None, str]] = {
    "vrrp": ("services.vrrp.service:VrrpService", "Keepalived_vrrp"),
    "healthcheck": ("services.healthcheck.service:HealthcheckService", "Keepalived_healthcheckers"),
    "ipvs": (None, "Keepalived_healthcheckers"),
    "netconfig": ("services.netconfig.service:NetconfigService", "Keepalived_vrrp"),
    "notifier": ("services.notifier.service:NotifierService", "Keepalived_vrrp"),
}


def service_class(name: str) -> Callable[[ServiceOptions], Service]:
    where, ident = SERVICES[name]
    if where is None:
        from services.idle import idle_service  # noqa: PLC0415 - a service loads only its own code

        return idle_service(name, ident)
    module_name, _, class_name = where.partition(":")
    return cast("Callable[[ServiceOptions], Service]", getattr(importlib.import_module(module_name), class_name))
