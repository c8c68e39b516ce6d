"""global_defs: every keyword, with keepalived 2.2.7's defaults (keepalived/core/global_parser.c
and global_data.c). Where 2.2.7 has an obvious bug the intended behaviour is used instead;
docs/compatibility.md lists each case.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self

from conf.diagnostics import Loc
from conf.model.common import EnvRef
from conf.schema import (
    Block,
    Cx,
    Inherit,
    Scope,
    kw,
    lines,
)
from conf.values import (
    AtLeastOne,
    Bool,
    Decimal,
    Flag,
    Int,
    IPAddress,
    Script,
    ScriptValue,
    Str,
    UserGroup,
    Words,
    format_units,
)

if TYPE_CHECKING:
    pass
from conf.model.global_values import (
    INT_MAX,
    NFT_TABLE_MAXNAMELEN,
    TIMER_MAX_SECONDS,
    UINT_MAX,
    BusTcp,
    BusTcpValue,
    CpuAffinity,
    DirName,
    DynamicInterfaces,
    DynamicInterfacesValue,
    ExactlyOne,
    GarpExtraIf,
    GarpExtraIfValue,
    IncludeCheck,
    IptablesValue,
    LvsFlushOnStop,
    LvsSyncDaemon,
    LvsSyncDaemonValue,
    LvsTimeouts,
    LvsTimeoutsValue,
    MaxAutoPriority,
    McastGroup,
    NotifyFifo,
    NotifyFifoValue,
    OptionalWord,
    ProcessName,
    QuietlyOptional,
    RealtimePriority,
    ResetOnError,
    RtLimit,
    RxBufsPolicy,
    RxBufsPolicyValue,
    SmtpServer,
    SmtpServerValue,
    SnmpSocket,
    Umask,
    _format_word,
    _words_line,
)

# ---------------------------------------------------------------------------------------------
# global_defs


def _if_min_garp(when_min: int, otherwise: int) -> Inherit:
    return lambda scope: when_min if scope["vrrp_min_garp"] else otherwise


def _process_name_default(name: str) -> Inherit:
    return lambda scope: name if scope["process_names"] else None


@dataclass(frozen=True, kw_only=True)
class GlobalDefs(Block):
    """Everything inside `global_defs { }`.

    None means "not set": keepalived then computes the value at run time from the
    machine (router_id from the host name, notification_email_from from the user
    running keepalived), or leaves the feature off.
    """

    block_keyword = "global_defs"

    # Process names and identity
    process_names: bool = kw(Flag(), default=False)
    process_name: str | None = kw(ProcessName())
    vrrp_process_name: str | None = kw(ProcessName(), inherit=_process_name_default("keepalived_vrrp"))
    checker_process_name: str | None = kw(
        ProcessName(),
        names=("checker_process_name", "lvs_process_name"),
        deprecated={"lvs_process_name": "use 'checker_process_name'"},
        inherit=_process_name_default("keepalived_lvs"),
    )
    bfd_process_name: str | None = kw(ProcessName(), inherit=_process_name_default("keepalived_bfd"))
    router_id: str | None = kw(Str())

    # E-mail notification
    notification_email_from: str | None = kw(Str())
    smtp_server: SmtpServer | None = kw(SmtpServerValue())
    smtp_helo_name: str | None = kw(QuietlyOptional())
    smtp_connect_timeout: int = kw(AtLeastOne(TIMER_MAX_SECONDS), default=30)
    notification_email: tuple[str, ...] = lines(_words_line, line_format=_format_word)
    smtp_alert: bool | None = kw(Bool())
    smtp_alert_vrrp: bool | None = kw(Bool())
    smtp_alert_checker: bool | None = kw(Bool())
    checker_log_all_failures: bool = kw(Bool(), default=False)
    no_email_faults: bool = kw(Flag(), default=False)
    no_checker_emails: bool = kw(Bool(), default=False)
    rs_init_notifies: bool = kw(Bool(), default=False)

    # Startup and shutdown scripts, script security, notify FIFOs
    startup_script: Script | None = kw(ScriptValue(), once=True)
    # None: no script, or keepalived's 10 seconds once one is set.
    startup_script_timeout: int | None = kw(
        Int(1, 1000), inherit=lambda s: 10 if s["startup_script"] is not None else None
    )
    shutdown_script: Script | None = kw(ScriptValue(), once=True)
    shutdown_script_timeout: int | None = kw(
        Int(1, 1000), inherit=lambda s: 10 if s["shutdown_script"] is not None else None
    )
    script_user: tuple[str, str | None] | None = kw(UserGroup())
    enable_script_security: bool = kw(Flag(), default=False)
    notify_fifo: NotifyFifo | None = kw(NotifyFifoValue(), once=True)
    notify_fifo_script: Script | None = kw(ScriptValue(), once=True)
    vrrp_notify_fifo: NotifyFifo | None = kw(NotifyFifoValue(), once=True)
    vrrp_notify_fifo_script: Script | None = kw(ScriptValue(), once=True)
    lvs_notify_fifo: NotifyFifo | None = kw(NotifyFifoValue(), once=True)
    lvs_notify_fifo_script: Script | None = kw(ScriptValue(), once=True)
    fifo_write_vrrp_states_on_reload: bool = kw(Flag(), default=False)
    vrrp_notify_priority_changes: bool = kw(Bool(), default=False)

    # Process scheduling
    max_auto_priority: int = kw(MaxAutoPriority(), default=0)
    min_auto_priority_delay: int = kw(Int(1, 10_000_000), default=1_000_000)  # microseconds
    vrrp_priority: int = kw(ResetOnError(-20, 19, 0, "invalid vrrp process priority {}"), default=0)
    checker_priority: int = kw(ResetOnError(-20, 19, 0, "invalid checker process priority {}"), default=0)
    bfd_priority: int = kw(ResetOnError(-20, 19, 0, "invalid bfd process priority {}"), default=0)
    vrrp_no_swap: bool = kw(Flag(), default=False)
    checker_no_swap: bool = kw(Flag(), default=False)
    bfd_no_swap: bool = kw(Flag(), default=False)
    # None: no real-time scheduling.
    vrrp_rt_priority: int | None = kw(RealtimePriority("vrrp"))
    checker_rt_priority: int | None = kw(RealtimePriority("checker"))
    bfd_rt_priority: int | None = kw(RealtimePriority("bfd"))
    # None: every CPU.
    vrrp_cpu_affinity: tuple[int, ...] | None = kw(CpuAffinity("vrrp"))
    checker_cpu_affinity: tuple[int, ...] | None = kw(CpuAffinity("checker"))
    bfd_cpu_affinity: tuple[int, ...] | None = kw(CpuAffinity("bfd"))
    vrrp_rlimit_rttime: int = kw(
        RtLimit(1, UINT_MAX, 0, "invalid vrrp real-time limit - {}"),
        names=("vrrp_rlimit_rttime", "vrrp_rlimit_rtime"),
        deprecated={"vrrp_rlimit_rtime": "use 'vrrp_rlimit_rttime'"},
        default=10000,
    )
    checker_rlimit_rttime: int = kw(
        RtLimit(1, UINT_MAX, 0, "invalid checker real-time limit - {}"),
        names=("checker_rlimit_rttime", "checker_rlimit_rtime"),
        deprecated={"checker_rlimit_rtime": "use 'checker_rlimit_rttime'"},
        default=10000,
    )
    bfd_rlimit_rttime: int = kw(
        RtLimit(1, UINT_MAX, 0, "invalid bfd real-time limit - {}"),
        names=("bfd_rlimit_rttime", "bfd_rlimit_rtime"),
        deprecated={"bfd_rlimit_rtime": "use 'bfd_rlimit_rttime'"},
        default=10000,
    )

    # VRRP
    vrrp_mcast_group4: IPAddress = kw(McastGroup(4), default=ipaddress.IPv4Address("224.0.0.18"))
    vrrp_mcast_group6: IPAddress = kw(McastGroup(6), default=ipaddress.IPv6Address("ff02::12"))
    vrrp_min_garp: bool = kw(Bool(), default=False)
    vrrp_garp_master_delay: int = kw(Int(0, TIMER_MAX_SECONDS), default=5, inherit=_if_min_garp(0, 5))
    vrrp_garp_master_repeat: int = kw(AtLeastOne(UINT_MAX), default=5, inherit=_if_min_garp(1, 5))
    vrrp_garp_master_refresh: int = kw(ResetOnError(0, UINT_MAX, 0, "invalid vrrp_garp_master_refresh '{}'"), default=0)
    # keepalived 2.2.7's vrrp_min_garp also sets this to 0, a value it refuses from the file and
    # which would silence the refresh adverts; the man page only speaks of the first burst.
    vrrp_garp_master_refresh_repeat: int = kw(AtLeastOne(UINT_MAX), default=1)
    vrrp_garp_lower_prio_delay: int = kw(
        Int(0, TIMER_MAX_SECONDS), default=5, inherit=lambda s: s["vrrp_garp_master_delay"]
    )
    # Capped so that the value can be written back: keepalived reads this keyword up to INT_MAX only.
    vrrp_garp_lower_prio_repeat: int = kw(
        Int(0, INT_MAX), default=5, inherit=lambda s: min(s["vrrp_garp_master_repeat"], INT_MAX)
    )
    vrrp_down_timer_adverts: int = kw(Int(1, 100), default=3)
    # None: no pacing (keepalived's 0, which cannot be written).
    vrrp_garp_interval: float | None = kw(Decimal(0.000001, UINT_MAX / 1e6))
    vrrp_gna_interval: float | None = kw(Decimal(0.000001, UINT_MAX / 1e6))
    vrrp_garp_extra_if: GarpExtraIf | None = kw(
        GarpExtraIfValue(), names=("vrrp_garp_extra_if", "vrrp_vmac_garp_intvl")
    )
    vrrp_lower_prio_no_advert: bool = kw(Bool(), default=False)
    vrrp_higher_prio_send_advert: bool = kw(Bool(), default=False)
    vrrp_version: int = kw(Int(2, 3), default=2)
    vrrp_check_unicast_src: bool = kw(Flag(), default=False)
    vrrp_skip_check_adv_addr: bool = kw(Flag(), default=False)
    vrrp_strict: bool = kw(Flag(), default=False)
    vrrp_startup_delay: float | None = kw(Decimal(0.001, UINT_MAX / 1e6))
    log_unknown_vrids: bool = kw(Flag(), default=False)
    vmac_prefix: str = kw(Str(), default="vrrp", once=True)
    vmac_addr_prefix: str = kw(Str(), default="vrrp", once=True, inherit=lambda s: s["vmac_prefix"])
    default_interface: str = kw(Str(), default="eth0")
    dynamic_interfaces: DynamicInterfaces | None = kw(DynamicInterfacesValue())
    disable_local_igmp: bool = kw(Flag(), default=False)
    vrrp_rx_bufs_policy: RxBufsPolicy | None = kw(RxBufsPolicyValue())
    vrrp_rx_bufs_multiplier: int = kw(
        ExactlyOne(Int(1, UINT_MAX), "vrrp_rx_bufs_multiplier takes exactly one value"), default=3
    )
    vrrp_netlink_cmd_rcv_bufs: int = kw(Int(0, UINT_MAX), default=0)  # 0: the kernel's default
    vrrp_netlink_cmd_rcv_bufs_force: bool = kw(Bool(), default=False)
    vrrp_netlink_monitor_rcv_bufs: int = kw(Int(0, UINT_MAX), default=0)
    vrrp_netlink_monitor_rcv_bufs_force: bool = kw(Bool(), default=False)
    process_monitor_rcv_bufs: int = kw(Int(0, UINT_MAX), default=0)
    process_monitor_rcv_bufs_force: bool = kw(Bool(), default=False)

    # Firewall
    nftables: str | None = kw(
        OptionalWord("keepalived", NFT_TABLE_MAXNAMELEN), once=True, also={"vrrp_iptables": IptablesValue()}
    )
    # ipset names for iptables; kept for configurations that name them (the firewall here is nftables).
    vrrp_ipsets: tuple[str, ...] | None = kw(Words(min_args=0))
    nftables_priority: int = kw(Int(-(2**31), INT_MAX), default=-1)
    nftables_ifindex: bool = kw(Flag(), default=False)
    nftables_counters: bool = kw(Flag(), default=False)
    nftables_ipvs: str | None = kw(OptionalWord("keepalived_ipvs", NFT_TABLE_MAXNAMELEN), once=True)
    nftables_ipvs_priority: int = kw(Int(-(2**31), INT_MAX), default=-1)
    nftables_ipvs_start_fwmark: int = kw(Int(1, UINT_MAX), default=1000)

    # LVS
    lvs_timeouts: LvsTimeouts | None = kw(LvsTimeoutsValue())
    lvs_sync_daemon: LvsSyncDaemon | None = kw(LvsSyncDaemonValue(), once=True)
    lvs_flush: bool = kw(Flag(), default=False)
    lvs_flush_on_stop: str | None = kw(
        LvsFlushOnStop(),
        names=("lvs_flush_on_stop", "lvs_flush_onstop"),
        deprecated={"lvs_flush_onstop": "use 'lvs_flush_on_stop'"},
    )
    lvs_netlink_cmd_rcv_bufs: int = kw(Int(0, UINT_MAX), default=0)
    lvs_netlink_cmd_rcv_bufs_force: bool = kw(Bool(), default=False)
    lvs_netlink_monitor_rcv_bufs: int = kw(Int(0, UINT_MAX), default=0)
    lvs_netlink_monitor_rcv_bufs_force: bool = kw(Bool(), default=False)

    # SNMP and D-Bus
    snmp_socket: str | None = kw(SnmpSocket(), once=True)
    enable_traps: bool = kw(Flag(), default=False)
    enable_snmp_vrrp: bool = kw(
        Flag(),
        default=False,
        names=("enable_snmp_vrrp", "enable_snmp_keepalived"),
        deprecated={"enable_snmp_keepalived": "use 'enable_snmp_vrrp'"},
    )
    enable_snmp_checker: bool = kw(Flag(), default=False)
    enable_snmp_rfc: bool = kw(Flag(), default=False)
    enable_snmp_rfcv2: bool = kw(Flag(), default=False, inherit=lambda s: s["enable_snmp_rfc"])
    enable_snmp_rfcv3: bool = kw(Flag(), default=False, inherit=lambda s: s["enable_snmp_rfc"])
    enable_dbus: bool = kw(Flag(), default=False)
    dbus_service_name: str = kw(Str(), default="org.keepalived.Vrrp1")

    # Configuration handling, reloads, misc
    umask: int = kw(Umask(), default=0o022)
    random_seed: int | None = kw(Int(0, UINT_MAX))
    reload_check_config: str | None = kw(OptionalWord("/dev/null"))
    reload_time_file: str | None = kw(ExactlyOne(Str(), "reload_time_file invalid"))
    reload_repeat: bool = kw(Flag(), default=False)
    # "" until the whole file is read: the default name depends on `instance` and `net_namespace`.
    reload_file: str | None = kw(OptionalWord(""))
    include_check: tuple[str, ...] | None = kw(IncludeCheck())
    config_save_dir: str | None = kw(DirName())
    tmp_config_directory: str | None = kw(Str(), once=True)
    data_use_instance: bool = kw(Bool(), default=False)

    # hakeeper's own keywords (keepalived rejects them as unknown): the node bus, and how long a
    # notify script may run before it is killed (keepalived never kills one).
    hakeeper_notify_timeout: int = kw(Int(1, 3600), default=30)
    hakeeper_bus_tcp: BusTcp | None = kw(BusTcpValue())
    hakeeper_bus_curve_key: str | None = kw(Str())
    hakeeper_bus_curve_clients: str | None = kw(Str())
    hakeeper_bus_history: int = kw(Int(100, 10_000_000), default=10_000)

    def complete(self, cx: Cx, scope: Scope) -> Self | None:
        changes: dict[str, Any] = {}
        if (
            self.hakeeper_bus_tcp is not None
            and self.hakeeper_bus_curve_key is None
            and not self.hakeeper_bus_tcp.loopback
        ):
            cx.error(
                self.where("hakeeper_bus_tcp"),
                f"the bus can only listen on {self.hakeeper_bus_tcp.host} "
                "(not loopback) with CURVE keys: set hakeeper_bus_curve_key; TCP endpoint disabled",
            )
            changes["hakeeper_bus_tcp"] = None
        for name, limit in (("vrrp_garp_interval", 1), ("vrrp_gna_interval", 1), ("vrrp_startup_delay", 60)):
            value = getattr(self, name)
            if value is not None and value >= limit:
                shown = format_units(round(value * 1e6), 6)
                cx.warning(self.where(name), f"the {name} is very large - {shown} seconds")
        if "notification_email" in self.locs and not self.notification_email:
            cx.error(self.where("notification_email"), "empty notification_email block")
        changes.update(self._fifo_conflicts(cx))
        return self.replace(**changes)

    def _fifo_conflicts(self, cx: Cx) -> dict[str, Any]:
        """keepalived ignores a VRRP or LVS FIFO that is also the global one (log-only messages)."""
        changes: dict[str, Any] = {}
        shared = self.notify_fifo.path if self.notify_fifo else None
        for prefix in ("vrrp", "lvs"):
            fifo: NotifyFifo | None = getattr(self, f"{prefix}_notify_fifo")
            if shared is not None and fifo is not None and fifo.path == shared:
                cx.warning(
                    self.where(f"{prefix}_notify_fifo"),
                    f"notify FIFO {shared} has been specified for global and {prefix} FIFO - ignoring {prefix} FIFO",
                )
                changes[f"{prefix}_notify_fifo"] = None
                changes[f"{prefix}_notify_fifo_script"] = None
        vrrp_fifo = changes.get("vrrp_notify_fifo", self.vrrp_notify_fifo)
        lvs_fifo = changes.get("lvs_notify_fifo", self.lvs_notify_fifo)
        if (
            vrrp_fifo is not None
            and lvs_fifo is not None
            and vrrp_fifo.path == lvs_fifo.path
            and self.vrrp_notify_fifo_script is not None
            and self.lvs_notify_fifo_script is not None
        ):
            cx.warning(
                self.where("lvs_notify_fifo_script"),
                "LVS notify FIFO and vrrp FIFO are the same both with scripts - ignoring LVS FIFO script",
            )
            changes["lvs_notify_fifo_script"] = None
        return changes

    def env_refs(self) -> Iterator[EnvRef]:
        if self.script_user is not None:
            user, group = self.script_user
            yield EnvRef("user", user, self.where("script_user"), "script_user")
            if group:
                yield EnvRef("group", group, self.where("script_user"), "script_user")
        for name in (
            "startup_script",
            "shutdown_script",
            "notify_fifo_script",
            "vrrp_notify_fifo_script",
            "lvs_notify_fifo_script",
        ):
            script: Script | None = getattr(self, name)
            if script is not None:
                yield from _owner_refs(script.user, script.group, self.where(name), name)
        for name in ("notify_fifo", "vrrp_notify_fifo", "lvs_notify_fifo"):
            fifo: NotifyFifo | None = getattr(self, name)
            if fifo is not None:
                yield from _owner_refs(fifo.user, fifo.group, self.where(name), name)
        if self.disable_local_igmp:
            yield EnvRef(
                "file",
                "/proc/sys/net/ipv4/igmp_link_local_mcast_reports",
                self.where("disable_local_igmp"),
                "disable_local_igmp needs this kernel setting",
            )
        if self.lvs_sync_daemon is not None:
            yield EnvRef("interface", self.lvs_sync_daemon.interface, self.where("lvs_sync_daemon"), "lvs_sync_daemon")


def _owner_refs(user: str | None, group: str | None, loc: Loc, what: str) -> Iterator[EnvRef]:
    if user:
        yield EnvRef("user", user, loc, what)
    if group:
        yield EnvRef("group", group, loc, what)
