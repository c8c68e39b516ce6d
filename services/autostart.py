"""Which optional services a configuration gives work to.

keepalived starts its checker process only when there are virtual servers to
check (running_checker). hakeeper does the same for ipvs, and for healthcheck,
which also runs the tracked vrrp_scripts and follows the tracked files and
processes (keepalived does those in its VRRP process, so here they run with
`--vrrp` too), and for the notifier: it starts only when something is to be notified
(a notify script, a notify FIFO, or e-mail with an SMTP server). A reload that
brings such work starts them; one that takes it away leaves them running idle.
"""

from __future__ import annotations

from dataclasses import dataclass

from conf.model.config import Config
from services.tracked import tracked_names

INSTANCE_SCRIPTS = (
    "notify",
    "notify_master",
    "notify_backup",
    "notify_fault",
    "notify_stop",
    "notify_deleted",
    "notify_master_rx_lower_pri",
)
GROUP_SCRIPTS = ("notify", "notify_master", "notify_backup", "notify_fault", "notify_stop")
FIFOS = ("notify_fifo", "vrrp_notify_fifo", "lvs_notify_fifo")


@dataclass(frozen=True)
class Autostart:
    checkers: bool  # virtual servers: healthcheck checks them, ipvs installs them
    trackers: bool  # tracked vrrp_scripts: healthcheck runs them
    notifier: bool


def autostart(config: Config) -> Autostart:
    return Autostart(
        checkers=bool(config.virtual_servers), trackers=has_tracked_scripts(config), notifier=notifier_has_work(config)
    )


def has_tracked_scripts(config: Config) -> bool:
    """A vrrp_script, track_file or track_process some instance or sync group tracks (healthcheck follows them)."""
    return bool(
        tracked_names(config, "track_script") & {s.name for s in config.vrrp_scripts}
        or tracked_names(config, "track_file") & {f.name for f in config.track_files}
        or tracked_names(config, "track_process") & {p.name for p in config.track_processes}
    )


def notifier_has_work(config: Config) -> bool:
    g = config.global_defs
    if any(getattr(g, name) is not None for name in FIFOS):
        return True
    if g.smtp_server is not None and g.notification_email:
        return True
    for instance in config.vrrp_instances:
        if any(getattr(instance, name) not in (None, False) for name in INSTANCE_SCRIPTS):
            return True
    for group in config.vrrp_sync_groups:
        if any(getattr(group, name) is not None for name in GROUP_SCRIPTS):
            return True
    for server in config.virtual_servers:
        if server.quorum_up is not None or server.quorum_down is not None:
            return True
        if any(real.notify_up is not None or real.notify_down is not None for real in server.real_servers):
            return True
    return False
