"""global_defs, linkbeat_interfaces, interface_up_down_delays, track_group, garp_group and bfd_instance."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from conf.diagnostics import Severity
from conf.dump import to_json_document, to_text
from conf.load import Loaded, load
from conf.model.global_blocks import InterfaceDelay, LinkbeatInterface
from conf.model.global_defs import GlobalDefs
from conf.model.global_values import (
    DynamicInterfaces,
    GarpExtraIf,
    LvsSyncDaemon,
    LvsTimeouts,
    NotifyFifo,
    RxBufsPolicy,
    SmtpServer,
)
from conf.model.trackers import Weight
from tests.conftest import WriteConf

UINT_MAX = 2**32 - 1

INSTANCE = """
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority 100
    virtual_ipaddress {
        192.0.2.100/24
    }
}
"""


def load_text(write_conf: WriteConf, text: str, name: str = "keepalived.conf") -> Loaded:
    return load(str(write_conf(text, name)), config_id="node")


def global_defs(write_conf: WriteConf, *body: str) -> tuple[GlobalDefs, Loaded]:
    """global_defs with `body` lines, one per line, starting at line 2."""
    loaded = load_text(write_conf, "global_defs {\n" + "\n".join(body) + "\n}\n")
    return loaded.config.global_defs, loaded


def messages(loaded: Loaded, severity: Severity | None = None) -> list[tuple[int, str]]:
    return sorted(
        (d.loc.line, d.message)
        for d in loaded.diagnostics
        if severity is None or (d.severity >= Severity.ERROR if severity == Severity.ERROR else d.severity == severity)
    )


def errors(loaded: Loaded) -> list[tuple[int, str]]:
    return messages(loaded, Severity.ERROR)


def warnings(loaded: Loaded) -> list[tuple[int, str]]:
    return messages(loaded, Severity.WARNING)


def assert_round_trip(write_conf: WriteConf, loaded: Loaded) -> None:
    again = load_text(write_conf, to_text(loaded.config), "dumped.conf")
    assert to_json_document(again.config) == to_json_document(loaded.config)
    assert not errors(again), errors(again)


# ---------------------------------------------------------------------------------------------
# Defaults


def test_defaults_when_global_defs_is_absent(write_conf: WriteConf) -> None:
    loaded = load_text(write_conf, "")
    gd = loaded.config.global_defs
    assert not loaded.diagnostics.items
    assert gd.router_id is None
    assert gd.smtp_server is None and gd.smtp_connect_timeout == 30
    assert gd.smtp_alert is None and gd.smtp_alert_vrrp is None and gd.smtp_alert_checker is None
    assert gd.notification_email == ()
    assert gd.startup_script is None and gd.startup_script_timeout is None
    assert gd.script_user is None and gd.enable_script_security is False
    assert gd.max_auto_priority == 0 and gd.min_auto_priority_delay == 1_000_000
    assert (gd.vrrp_priority, gd.checker_priority, gd.bfd_priority) == (0, 0, 0)
    assert gd.vrrp_rt_priority is None and gd.vrrp_cpu_affinity is None
    assert (gd.vrrp_rlimit_rttime, gd.checker_rlimit_rttime, gd.bfd_rlimit_rttime) == (10000, 10000, 10000)
    assert gd.vrrp_mcast_group4 == ipaddress.IPv4Address("224.0.0.18")
    assert gd.vrrp_mcast_group6 == ipaddress.IPv6Address("ff02::12")
    assert gd.vrrp_garp_master_delay == 5 and gd.vrrp_garp_master_repeat == 5
    assert gd.vrrp_garp_master_refresh == 0 and gd.vrrp_garp_master_refresh_repeat == 1
    assert gd.vrrp_garp_lower_prio_delay == 5 and gd.vrrp_garp_lower_prio_repeat == 5
    assert gd.vrrp_down_timer_adverts == 3
    assert gd.vrrp_garp_interval is None and gd.vrrp_gna_interval is None and gd.vrrp_startup_delay is None
    assert gd.vrrp_version == 2 and gd.vrrp_strict is False
    assert gd.vmac_prefix == "vrrp" and gd.vmac_addr_prefix == "vrrp"
    assert gd.default_interface == "eth0" and gd.dynamic_interfaces is None
    assert gd.vrrp_rx_bufs_multiplier == 3 and gd.vrrp_rx_bufs_policy is None
    assert gd.nftables is None and gd.nftables_priority == -1
    assert gd.nftables_ipvs is None and gd.nftables_ipvs_priority == -1 and gd.nftables_ipvs_start_fwmark == 1000
    assert gd.dbus_service_name == "org.keepalived.Vrrp1"
    assert gd.umask == 0o022
    assert gd.reload_file is None and gd.include_check is None
    assert gd.process_names is False and gd.vrrp_process_name is None


def test_an_empty_global_defs_equals_an_absent_one(write_conf: WriteConf) -> None:
    absent = load_text(write_conf, "").config.global_defs
    empty, loaded = global_defs(write_conf)
    assert empty == absent
    assert not loaded.diagnostics.items


def test_the_default_model_matches_a_built_one() -> None:
    """Config's default GlobalDefs() (used when nothing is built) has keepalived's defaults too."""
    built = GlobalDefs()
    assert built.vrrp_garp_lower_prio_delay == 5 and built.vmac_addr_prefix == "vrrp"


# ---------------------------------------------------------------------------------------------
# Ranges: each boundary in and out; out of range is an error at its line and keeps the default

RANGES: list[tuple[str, str, str, str, str, Any]] = [
    # keyword, lowest good, highest good, just below, just above, default
    ("vrrp_garp_master_delay", "0", "4294", "-1", "4295", 5),
    ("vrrp_garp_lower_prio_delay", "0", "4294", "-1", "4295", 5),
    ("vrrp_garp_lower_prio_repeat", "0", "2147483647", "-1", "2147483648", 5),
    ("vrrp_down_timer_adverts", "1", "100", "0", "101", 3),
    ("vrrp_version", "2", "3", "1", "4", 2),
    ("smtp_connect_timeout", "1", "4294", "-1", "4295", 30),
    ("min_auto_priority_delay", "1", "10000000", "0", "10000001", 1_000_000),
    ("max_auto_priority", "-1", "99", "-2", "100", 0),
    ("vrrp_rx_bufs_multiplier", "1", str(UINT_MAX), "0", str(UINT_MAX + 1), 3),
    ("nftables_priority", str(-(2**31)), str(2**31 - 1), str(-(2**31) - 1), str(2**31), -1),
    ("nftables_ipvs_start_fwmark", "1", str(UINT_MAX), "0", str(UINT_MAX + 1), 1000),
    ("vrrp_netlink_cmd_rcv_bufs", "0", str(UINT_MAX), "-1", str(UINT_MAX + 1), 0),
    ("random_seed", "0", str(UINT_MAX), "-1", str(UINT_MAX + 1), None),
    ("startup_script_timeout", "1", "1000", "0", "1001", None),
    ("vrrp_garp_interval", "0.000001", "4294.967295", "0", "4294.967296", None),
    ("vrrp_gna_interval", "0.000001", "4294.967295", "0", "4294.967296", None),
    ("vrrp_startup_delay", "0.001", "4294.967295", "0.0009", "4294.967296", None),
]


@pytest.mark.parametrize(("keyword", "low", "high", "below", "above", "default"), RANGES)
def test_range_boundaries(
    write_conf: WriteConf, keyword: str, low: str, high: str, below: str, above: str, default: Any
) -> None:
    gd, loaded = global_defs(write_conf, f"{keyword} {low}")
    assert not errors(loaded)
    assert getattr(gd, keyword) == (float(low) if "." in low else int(low))
    gd, loaded = global_defs(write_conf, f"{keyword} {high}")
    assert not errors(loaded)
    assert getattr(gd, keyword) == (float(high) if "." in high else int(high))
    for bad in (below, above):
        gd, loaded = global_defs(write_conf, f"{keyword} {bad}")
        [(line, message)] = errors(loaded)
        assert line == 2 and keyword in message and bad in message
        assert getattr(gd, keyword) == default


def test_numbers_must_be_whole(write_conf: WriteConf) -> None:
    """keepalived -t rejects `5.5` and `10abc` for whole numbers (a normal run takes 10abc as 10)."""
    gd, loaded = global_defs(write_conf, "vrrp_garp_master_delay 5.5", "vrrp_version 10abc")
    assert [line for line, _ in errors(loaded)] == [2, 3]
    assert gd.vrrp_garp_master_delay == 5 and gd.vrrp_version == 2


def test_decimal_timers(write_conf: WriteConf) -> None:
    gd, loaded = global_defs(write_conf, "vrrp_garp_interval .5", "vrrp_gna_interval 1.5x")
    assert gd.vrrp_garp_interval == 0.5
    assert gd.vrrp_gna_interval is None  # keepalived 2.2.7 takes `1.5x` as 15 microseconds
    assert [line for line, _ in errors(loaded)] == [3]
    gd, loaded = global_defs(write_conf, "vrrp_garp_interval 0.0000015")
    [(line, message)] = errors(loaded)
    assert line == 2 and "too many decimal places" in message
    assert gd.vrrp_garp_interval == 0.000002  # rounded and used


def test_very_large_intervals_are_only_noted(write_conf: WriteConf) -> None:
    gd, loaded = global_defs(write_conf, "vrrp_garp_interval 1", "vrrp_startup_delay 60")
    assert not errors(loaded)
    assert [line for line, _ in warnings(loaded)] == [2, 3]
    assert gd.vrrp_startup_delay == 60


def test_zero_repeat_becomes_one_with_an_error(write_conf: WriteConf) -> None:
    gd, loaded = global_defs(
        write_conf, "vrrp_garp_master_repeat 0", "vrrp_garp_master_refresh_repeat 0", "smtp_connect_timeout 0"
    )
    assert [line for line, _ in errors(loaded)] == [2, 3, 4]
    assert (gd.vrrp_garp_master_repeat, gd.vrrp_garp_master_refresh_repeat, gd.smtp_connect_timeout) == (1, 1, 1)
    gd, _ = global_defs(write_conf, f"vrrp_garp_master_repeat {UINT_MAX}")
    assert gd.vrrp_garp_master_repeat == UINT_MAX


def test_some_bad_values_reset_instead_of_keeping(write_conf: WriteConf) -> None:
    gd, loaded = global_defs(
        write_conf,
        "vrrp_priority -5",
        "vrrp_priority -21",
        "vrrp_garp_master_refresh 60",
        "vrrp_garp_master_refresh x",
        "checker_rlimit_rttime 0",
    )
    assert [line for line, _ in errors(loaded)] == [3, 5, 6]
    assert gd.vrrp_priority == 0
    assert gd.vrrp_garp_master_refresh == 0
    assert gd.checker_rlimit_rttime == 0


def test_rlimit_of_one_becomes_two(write_conf: WriteConf) -> None:
    gd, loaded = global_defs(write_conf, "bfd_rlimit_rttime 1", f"vrrp_rlimit_rttime {UINT_MAX}")
    assert not errors(loaded)
    assert gd.bfd_rlimit_rttime == 2 and gd.vrrp_rlimit_rttime == UINT_MAX


def test_realtime_priority_is_clamped(write_conf: WriteConf) -> None:
    gd, loaded = global_defs(write_conf, "vrrp_rt_priority 0", "checker_rt_priority 100", "bfd_rt_priority x")
    assert [line for line, _ in errors(loaded)] == [2, 3, 4]
    assert (gd.vrrp_rt_priority, gd.checker_rt_priority, gd.bfd_rt_priority) == (1, 99, None)
    gd, loaded = global_defs(write_conf, "vrrp_rt_priority 1", "bfd_rt_priority 99")
    assert not errors(loaded) and (gd.vrrp_rt_priority, gd.bfd_rt_priority) == (1, 99)


def test_cpu_affinity(write_conf: WriteConf) -> None:
    gd, loaded = global_defs(write_conf, "vrrp_cpu_affinity 1 0 1", "checker_cpu_affinity 0 x")
    assert gd.vrrp_cpu_affinity == (0, 1)
    [(line, _)] = errors(loaded)
    assert line == 3 and gd.checker_cpu_affinity is None  # one bad CPU clears the set


def test_max_auto_priority_alone_means_the_highest(write_conf: WriteConf) -> None:
    gd, loaded = global_defs(write_conf, "max_auto_priority")
    assert gd.max_auto_priority == 99 and not loaded.diagnostics.items


# ---------------------------------------------------------------------------------------------
# Flags and booleans


@pytest.mark.parametrize(
    ("line", "expected", "error"),
    [
        ("vrrp_strict", True, False),
        ("vrrp_strict on", True, False),
        ("vrrp_strict yes", True, False),
        ("vrrp_strict true", True, False),
        # keepalived 2.2.7 ignores the word and turns strict mode on; `no` is meant to say no.
        ("vrrp_strict no", False, False),
        ("vrrp_strict off", False, False),
        ("vrrp_strict false", False, False),
        ("vrrp_strict maybe", False, True),
    ],
)
def test_flag_with_and_without_bool(write_conf: WriteConf, line: str, expected: bool, error: bool) -> None:
    gd, loaded = global_defs(write_conf, line)
    assert gd.vrrp_strict is expected
    assert bool(errors(loaded)) is error


@pytest.mark.parametrize(
    "keyword",
    [
        "process_names",
        "no_email_faults",
        "enable_script_security",
        "fifo_write_vrrp_states_on_reload",
        "vrrp_no_swap",
        "checker_no_swap",
        "bfd_no_swap",
        "vrrp_check_unicast_src",
        "vrrp_skip_check_adv_addr",
        "log_unknown_vrids",
        "disable_local_igmp",
        "nftables_ifindex",
        "nftables_counters",
        "lvs_flush",
        "enable_traps",
        "enable_snmp_vrrp",
        "enable_snmp_checker",
        "enable_snmp_rfc",
        "enable_snmp_rfcv2",
        "enable_snmp_rfcv3",
        "enable_dbus",
        "reload_repeat",
    ],
)
def test_plain_flags(write_conf: WriteConf, keyword: str) -> None:
    assert getattr(global_defs(write_conf)[0], keyword) is False
    assert getattr(global_defs(write_conf, keyword)[0], keyword) is True
    assert getattr(global_defs(write_conf, keyword, f"{keyword} off")[0], keyword) is False


@pytest.mark.parametrize(
    ("keyword", "default"),
    [
        ("smtp_alert", None),
        ("smtp_alert_vrrp", None),
        ("smtp_alert_checker", None),
        ("checker_log_all_failures", False),
        ("no_checker_emails", False),
        ("rs_init_notifies", False),
        ("vrrp_notify_priority_changes", False),
        ("vrrp_lower_prio_no_advert", False),
        ("vrrp_higher_prio_send_advert", False),
        ("vrrp_min_garp", False),
        ("data_use_instance", False),
        ("vrrp_netlink_cmd_rcv_bufs_force", False),
        ("lvs_netlink_monitor_rcv_bufs_force", False),
        ("process_monitor_rcv_bufs_force", False),
    ],
)
def test_bool_keywords(write_conf: WriteConf, keyword: str, default: bool | None) -> None:
    assert getattr(global_defs(write_conf)[0], keyword) is default
    assert getattr(global_defs(write_conf, keyword)[0], keyword) is True
    assert getattr(global_defs(write_conf, f"{keyword} off")[0], keyword) is False
    assert getattr(global_defs(write_conf, f"{keyword} yes")[0], keyword) is True
    gd, loaded = global_defs(write_conf, f"{keyword} on", f"{keyword} sometimes")
    [(line, message)] = errors(loaded)
    assert line == 3 and "sometimes" in message
    assert getattr(gd, keyword) is True  # the bad one is ignored


# ---------------------------------------------------------------------------------------------
# Aliases and deprecated keywords


@pytest.mark.parametrize(
    ("alias", "value", "field", "expected"),
    [
        ("lvs_process_name", "chk", "checker_process_name", "chk"),
        ("vrrp_rlimit_rtime", "5000", "vrrp_rlimit_rttime", 5000),
        ("checker_rlimit_rtime", "5000", "checker_rlimit_rttime", 5000),
        ("bfd_rlimit_rtime", "5000", "bfd_rlimit_rttime", 5000),
        ("enable_snmp_keepalived", "", "enable_snmp_vrrp", True),
        ("lvs_flush_onstop", "", "lvs_flush_on_stop", "full"),
    ],
)
def test_deprecated_aliases_work_with_a_note(
    write_conf: WriteConf, alias: str, value: str, field: str, expected: Any
) -> None:
    gd, loaded = global_defs(write_conf, f"{alias} {value}")
    assert getattr(gd, field) == expected
    assert not errors(loaded)
    [(line, message)] = warnings(loaded)
    assert line == 2 and "deprecated" in message


def test_vrrp_vmac_garp_intvl_is_an_error_but_used(write_conf: WriteConf) -> None:
    gd, loaded = global_defs(write_conf, "vrrp_vmac_garp_intvl 60")
    assert gd.vrrp_garp_extra_if == GarpExtraIf(60, False)
    [(line, message)] = errors(loaded)
    assert line == 2 and "vrrp_garp_extra_if" in message


def test_garp_extra_if(write_conf: WriteConf) -> None:
    assert global_defs(write_conf, "vrrp_garp_extra_if 86400 all")[0].vrrp_garp_extra_if == GarpExtraIf(86400, True)
    for bad in ("0", "86401", "all"):
        gd, loaded = global_defs(write_conf, f"vrrp_garp_extra_if {bad}")
        assert gd.vrrp_garp_extra_if is None and [line for line, _ in errors(loaded)] == [2]


# ---------------------------------------------------------------------------------------------
# Computed defaults


def test_lower_prio_garp_inherits_the_master_values(write_conf: WriteConf) -> None:
    gd, _ = global_defs(write_conf, "vrrp_garp_master_delay 7", "vrrp_garp_master_repeat 3")
    assert (gd.vrrp_garp_lower_prio_delay, gd.vrrp_garp_lower_prio_repeat) == (7, 3)
    gd, _ = global_defs(write_conf, "vrrp_garp_master_delay 7", "vrrp_garp_lower_prio_delay 2")
    assert gd.vrrp_garp_lower_prio_delay == 2


def test_vrrp_min_garp(write_conf: WriteConf) -> None:
    gd, _ = global_defs(write_conf, "vrrp_min_garp")
    assert (gd.vrrp_garp_master_repeat, gd.vrrp_garp_master_delay, gd.vrrp_garp_lower_prio_delay) == (1, 0, 0)
    assert gd.vrrp_garp_master_refresh == 0 and gd.vrrp_garp_master_refresh_repeat == 1
    gd, _ = global_defs(write_conf, "vrrp_min_garp", "vrrp_garp_master_repeat 3")
    assert gd.vrrp_garp_master_repeat == 3  # a value given explicitly is kept
    gd, _ = global_defs(write_conf, "vrrp_min_garp false")
    assert gd.vrrp_garp_master_repeat == 5


def test_process_names_sets_the_child_names(write_conf: WriteConf) -> None:
    gd, _ = global_defs(write_conf, "process_names", "bfd_process_name mybfd")
    assert (gd.vrrp_process_name, gd.checker_process_name, gd.bfd_process_name) == (
        "keepalived_vrrp",
        "keepalived_lvs",
        "mybfd",
    )
    assert gd.process_name is None


def test_process_name_is_truncated(write_conf: WriteConf) -> None:
    gd, loaded = global_defs(write_conf, "process_name 0123456789abcdef", "vrrp_process_name 0123456789abcde")
    assert gd.process_name == "0123456789abcde" and gd.vrrp_process_name == "0123456789abcde"
    [(line, message)] = errors(loaded)
    assert line == 2 and "truncating" in message


def test_snmp_rfc_enables_both(write_conf: WriteConf) -> None:
    gd, _ = global_defs(write_conf, "enable_snmp_rfc")
    assert gd.enable_snmp_rfcv2 and gd.enable_snmp_rfcv3
    gd, _ = global_defs(write_conf, "enable_snmp_rfcv3")
    assert not gd.enable_snmp_rfcv2 and gd.enable_snmp_rfcv3


def test_script_timeouts_default_once_a_script_is_set(write_conf: WriteConf) -> None:
    gd, _ = global_defs(write_conf, "startup_script /bin/true", 'shutdown_script "/bin/echo bye" root')
    assert gd.startup_script is not None and gd.startup_script.argv == ("/bin/true",)
    assert gd.shutdown_script is not None and gd.shutdown_script.argv == ("/bin/echo", "bye")
    assert gd.shutdown_script.user == "root"
    assert (gd.startup_script_timeout, gd.shutdown_script_timeout) == (10, 10)
    gd, _ = global_defs(write_conf, "startup_script /bin/true", "startup_script_timeout 1000")
    assert gd.startup_script_timeout == 1000


def test_a_second_startup_script_is_an_error(write_conf: WriteConf) -> None:
    gd, loaded = global_defs(write_conf, "startup_script /bin/true", "startup_script /bin/false")
    assert gd.startup_script is not None and gd.startup_script.argv == ("/bin/true",)
    assert [line for line, _ in errors(loaded)] == [3]


def test_vmac_prefixes(write_conf: WriteConf) -> None:
    gd, _ = global_defs(write_conf, "vmac_prefix vm")
    assert (gd.vmac_prefix, gd.vmac_addr_prefix) == ("vm", "vm")
    gd, loaded = global_defs(write_conf, "vmac_prefix vm", "vmac_addr_prefix va", "vmac_prefix other")
    assert (gd.vmac_prefix, gd.vmac_addr_prefix) == ("vm", "va")
    assert [line for line, _ in errors(loaded)] == [4]


@pytest.mark.parametrize(
    ("root", "expected"),
    [
        ("", "/run/keepalived.reload"),
        ("use_pid_dir\n", "/run/keepalived/keepalived.reload"),
        ("instance blue\n", "/run/keepalived/keepalived_blue.reload"),
    ],
)
def test_reload_file_default(write_conf: WriteConf, root: str, expected: str) -> None:
    loaded = load_text(write_conf, root + "global_defs {\n reload_file\n}\n")
    assert loaded.config.global_defs.reload_file == expected
    gd, _ = global_defs(write_conf, "reload_file /tmp/r")
    assert gd.reload_file == "/tmp/r"


# ---------------------------------------------------------------------------------------------
# Keyword-specific values


def test_smtp_server(write_conf: WriteConf) -> None:
    assert global_defs(write_conf, "smtp_server 192.0.2.25")[0].smtp_server == SmtpServer("192.0.2.25", 25)
    assert global_defs(write_conf, "smtp_server 2001:db8::25 587")[0].smtp_server == SmtpServer("2001:db8::25", 587)
    assert global_defs(write_conf, "smtp_server mail.example.com")[0].smtp_server == SmtpServer("mail.example.com")
    for bad in ("smtp_server 192.0.2.25 0", "smtp_server 192.0.2.25 65536", "smtp_server bad/host"):
        gd, loaded = global_defs(write_conf, bad)
        assert gd.smtp_server is None and [line for line, _ in errors(loaded)] == [2]


def test_notification_email(write_conf: WriteConf) -> None:
    gd, loaded = global_defs(write_conf, "notification_email {", "a@example.com b@example.com", "c@example.com", "}")
    assert gd.notification_email == ("a@example.com", "b@example.com", "c@example.com")
    assert not loaded.diagnostics.items
    gd, loaded = global_defs(write_conf, "notification_email {", "}")
    assert gd.notification_email == ()
    [(line, message)] = errors(loaded)
    assert line == 2 and "empty" in message


def test_mcast_groups(write_conf: WriteConf) -> None:
    gd, loaded = global_defs(write_conf, "vrrp_mcast_group4 224.0.0.19/24", "vrrp_mcast_group6 ff02::13")
    assert gd.vrrp_mcast_group4 == ipaddress.IPv4Address("224.0.0.19")
    assert gd.vrrp_mcast_group6 == ipaddress.IPv6Address("ff02::13")
    assert not loaded.diagnostics.items
    for bad in (
        "vrrp_mcast_group4 192.0.2.1",
        "vrrp_mcast_group4 ff02::12",
        "vrrp_mcast_group4 x",
        "vrrp_mcast_group6 2001:db8::1",
        "vrrp_mcast_group6 224.0.0.18",
    ):
        gd, loaded = global_defs(write_conf, bad)
        assert [line for line, _ in errors(loaded)] == [2], bad
        assert gd.vrrp_mcast_group4 == ipaddress.IPv4Address("224.0.0.18")
        assert gd.vrrp_mcast_group6 == ipaddress.IPv6Address("ff02::12")
    # Not link-local: an error in keepalived too, but the group is used.
    gd, loaded = global_defs(write_conf, "vrrp_mcast_group6 ff05::12")
    assert gd.vrrp_mcast_group6 == ipaddress.IPv6Address("ff05::12")
    assert [line for line, _ in errors(loaded)] == [2]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0077", 0o077), ("0", 0), ("0x12", 0o022), ("IWGRP|IWOTH", 0o022), ("IRUSR | IWUSR|IXUSR", 0o700)],
)
def test_umask(write_conf: WriteConf, text: str, expected: int) -> None:
    gd, loaded = global_defs(write_conf, f"umask {text}")
    assert gd.umask == expected and not errors(loaded)


@pytest.mark.parametrize("text", ["01000", "IWGRP IWOTH", "IWGRP|", "IWGRP|IFOO", "077 1", "-1", "08"])
def test_bad_umask_keeps_the_default(write_conf: WriteConf, text: str) -> None:
    gd, loaded = global_defs(write_conf, f"umask {text}")
    assert gd.umask == 0o022 and [line for line, _ in errors(loaded)] == [2]


def test_rx_bufs_policy(write_conf: WriteConf) -> None:
    assert global_defs(write_conf, "vrrp_rx_bufs_policy mtu")[0].vrrp_rx_bufs_policy == RxBufsPolicy(mtu=True)
    assert global_defs(write_conf, "vrrp_rx_bufs_policy 4096")[0].vrrp_rx_bufs_policy == RxBufsPolicy(size=4096)
    gd, loaded = global_defs(write_conf, "vrrp_rx_bufs_policy MTU ADVERT")
    assert gd.vrrp_rx_bufs_policy == RxBufsPolicy(mtu=True) and [line for line, _ in errors(loaded)] == [2]
    gd, loaded = global_defs(write_conf, "vrrp_rx_bufs_policy MTU 1000")
    assert gd.vrrp_rx_bufs_policy == RxBufsPolicy(size=1000) and [line for line, _ in errors(loaded)] == [2]
    gd, loaded = global_defs(write_conf, "vrrp_rx_bufs_policy bogus")
    assert gd.vrrp_rx_bufs_policy is None and errors(loaded)
    gd, loaded = global_defs(write_conf, "vrrp_rx_bufs_multiplier 4 5")
    assert gd.vrrp_rx_bufs_multiplier == 3 and [line for line, _ in errors(loaded)] == [2]


def test_dynamic_interfaces(write_conf: WriteConf) -> None:
    assert global_defs(write_conf, "dynamic_interfaces")[0].dynamic_interfaces == DynamicInterfaces()
    gd, _ = global_defs(write_conf, "dynamic_interfaces allow_if_changes")
    assert gd.dynamic_interfaces == DynamicInterfaces(allow_if_changes=True)
    gd, loaded = global_defs(write_conf, "dynamic_interfaces sometimes")
    assert gd.dynamic_interfaces == DynamicInterfaces()  # still on, as in keepalived
    assert [line for line, _ in errors(loaded)] == [2]


def test_notify_fifos(write_conf: WriteConf) -> None:
    gd, loaded = global_defs(
        write_conf,
        "notify_fifo /run/f root root",
        "notify_fifo_script /bin/true",
        "vrrp_notify_fifo /run/f",
        "lvs_notify_fifo /run/l",
        "lvs_notify_fifo /run/other",
    )
    assert gd.notify_fifo == NotifyFifo("/run/f", "root", "root")
    assert gd.notify_fifo_script is not None
    assert gd.vrrp_notify_fifo is None  # the same FIFO as the global one
    assert gd.lvs_notify_fifo == NotifyFifo("/run/l")
    assert [line for line, _ in errors(loaded)] == [6]
    assert [line for line, _ in warnings(loaded)] == [4]


def test_nftables(write_conf: WriteConf) -> None:
    gd, loaded = global_defs(write_conf, "nftables", "nftables_ipvs")
    assert (gd.nftables, gd.nftables_ipvs) == ("keepalived", "keepalived_ipvs") and not loaded.diagnostics.items
    gd, loaded = global_defs(write_conf, "nftables mine", "nftables other")
    assert gd.nftables == "mine" and [line for line, _ in errors(loaded)] == [3]
    gd, loaded = global_defs(write_conf, "nftables " + "x" * 256)
    assert gd.nftables is None and errors(loaded)
    gd, loaded = global_defs(write_conf, "vrrp_iptables INPUT OUTPUT")
    assert gd.nftables == "keepalived" and [line for line, _ in errors(loaded)] == [2]


def test_lvs_settings(write_conf: WriteConf) -> None:
    gd, loaded = global_defs(
        write_conf,
        "lvs_timeouts tcp 900 udp 2678400",
        "lvs_sync_daemon eth0 inst VI_1 id 5 maxlen 1400 port 8848 ttl 2 group 224.0.0.81",
        "lvs_flush_on_stop",
    )
    assert not loaded.diagnostics.items
    assert gd.lvs_timeouts == LvsTimeouts(tcp=900, udp=2678400)
    assert gd.lvs_sync_daemon == LvsSyncDaemon("eth0", "VI_1", 5, 1400, 8848, 2, ipaddress.IPv4Address("224.0.0.81"))
    assert gd.lvs_flush_on_stop == "full"
    gd, loaded = global_defs(write_conf, "lvs_timeouts tcp 2678401 udp 5 bogus", "lvs_timeouts tcp")
    assert gd.lvs_timeouts == LvsTimeouts(udp=5)
    assert [line for line, _ in errors(loaded)] == [2, 2, 3]
    gd, loaded = global_defs(write_conf, "lvs_sync_daemon eth0 VI_1 7")
    assert gd.lvs_sync_daemon == LvsSyncDaemon("eth0", "VI_1", 7)
    assert [line for line, _ in errors(loaded)] == [2]  # "please use keyword id"
    gd, loaded = global_defs(write_conf, "lvs_sync_daemon eth0 group 192.0.2.1 ttl 0", "lvs_sync_daemon eth1")
    assert gd.lvs_sync_daemon == LvsSyncDaemon("eth0")
    assert [line for line, _ in errors(loaded)] == [2, 2, 3]
    gd, loaded = global_defs(write_conf, "lvs_flush_on_stop ALL")
    assert gd.lvs_flush_on_stop is None and errors(loaded)


def test_include_check_words_are_validated(write_conf: WriteConf) -> None:
    gd, loaded = global_defs(write_conf, "include_check read +match -brace_match")
    assert gd.include_check == ("read", "+match", "-brace_match") and not loaded.diagnostics.items
    gd, loaded = global_defs(write_conf, "include_check")
    assert gd.include_check == ()
    gd, loaded = global_defs(write_conf, "include_check match wildcard_match +bogus")
    assert gd.include_check == ("match",)
    assert [line for line, _ in errors(loaded)] == [2, 2]


def test_other_strings(write_conf: WriteConf) -> None:
    gd, loaded = global_defs(
        write_conf,
        "router_id node-1",
        "script_user nobody nogroup",
        "snmp_socket udp:localhost:705",
        "config_save_dir /var/lib/ka/",
        "reload_check_config",
        "reload_time_file /run/t",
        "dbus_service_name org.example.Vrrp",
        "tmp_config_directory /tmp",
    )
    assert not loaded.diagnostics.items
    assert gd.router_id == "node-1" and gd.script_user == ("nobody", "nogroup")
    assert gd.snmp_socket == "udp:localhost:705" and gd.config_save_dir == "/var/lib/ka"
    assert gd.reload_check_config == "/dev/null" and gd.reload_time_file == "/run/t"
    assert gd.dbus_service_name == "org.example.Vrrp" and gd.tmp_config_directory == "/tmp"
    gd, loaded = global_defs(write_conf, "snmp_socket a b", "reload_time_file a b", "router_id")
    assert gd.snmp_socket is None and gd.reload_time_file is None and gd.router_id is None
    assert [line for line, _ in errors(loaded)] == [2, 3, 4]


def test_env_refs_of_global_defs(write_conf: WriteConf) -> None:
    gd, _ = global_defs(
        write_conf,
        "script_user ka kagroup",
        "notify_fifo /run/f fifo_user",
        "startup_script /bin/true boot",
        "disable_local_igmp",
        "lvs_sync_daemon eth3",
    )
    refs = {(ref.kind, ref.name) for ref in gd.env_refs()}
    assert refs == {
        ("user", "ka"),
        ("group", "kagroup"),
        ("user", "fifo_user"),
        ("user", "boot"),
        ("file", "/proc/sys/net/ipv4/igmp_link_local_mcast_reports"),
        ("interface", "eth3"),
    }


def test_root_level_keyword_is_unknown_inside_global_defs(write_conf: WriteConf) -> None:
    _, loaded = global_defs(write_conf, "net_namespace blue")
    assert [line for line, _ in messages(loaded)] == [2]


# ---------------------------------------------------------------------------------------------
# linkbeat_interfaces and interface_up_down_delays


def test_linkbeat_interfaces(write_conf: WriteConf) -> None:
    loaded = load_text(
        write_conf,
        "linkbeat_interfaces {\n eth0\n eth1 ETHTOOL\n eth2 ethtool\n eth3 MII x\n"
        " averyveryverylongname\n eth1 IOCTL\n}\n",
    )
    assert loaded.config.linkbeat_interfaces == (
        LinkbeatInterface("eth0"),
        LinkbeatInterface("eth2"),
        LinkbeatInterface("eth3"),
        LinkbeatInterface("eth1", "IOCTL"),
    )
    assert [line for line, _ in errors(loaded)] == [4, 5, 6]
    fatal = [d for d in loaded.diagnostics if d.severity == Severity.FATAL]
    assert [d.loc.line for d in fatal] == [6]


def test_interface_up_down_delays(write_conf: WriteConf) -> None:
    loaded = load_text(
        write_conf,
        "interface_up_down_delays {\n eth0 1.5 2\n eth1 3\n eth2 255.000001\n eth3\n eth4 0 255 9\n eth5 x 1\n}\n",
    )
    assert loaded.config.interface_up_down_delays == (
        InterfaceDelay("eth0", 1.5, 2.0),
        InterfaceDelay("eth1", 3.0, 3.0),  # up_delay defaults to the down delay, as documented
        InterfaceDelay("eth4", 0.0, 255.0),
    )
    assert [line for line, _ in errors(loaded)] == [4, 7]
    assert [line for line, _ in warnings(loaded)] == [5, 6]


# ---------------------------------------------------------------------------------------------
# track_group


def test_track_group(write_conf: WriteConf) -> None:
    loaded = load_text(
        write_conf,
        "track_group TG {\n group {\n VI_1 NOPE\n }\n}\n"
        "track_group TG {\n group { VI_1 }\n}\n"
        "track_group {\n group { VI_1 }\n}\n"
        "track_group A B {\n group { VI_1 }\n}\n"
        "track_group EMPTY {\n group {\n }\n}\n" + INSTANCE,
    )
    [group] = loaded.config.track_groups
    assert group.name == "TG" and [ref.name for ref in group.group] == ["VI_1"]
    assert [line for line, _ in errors(loaded)] == [6, 9, 12, 16]
    assert (3, "vrrp instance NOPE specified in track group TG doesn't exist - ignoring") in warnings(loaded)
    assert any(line == 15 and "EMPTY" in message for line, message in warnings(loaded))


def test_static_items_need_an_existing_track_group(write_conf: WriteConf) -> None:
    loaded = load_text(
        write_conf,
        "track_group TG {\n group { VI_1 }\n}\n"
        "static_ipaddress {\n 192.0.2.1/24 dev eth0 track_group TG\n 192.0.2.2/24 dev eth0 track_group XX\n}\n"
        "static_routes {\n 192.0.2.0/24 dev eth0 track_group XX\n}\n"
        "static_rules {\n from 192.0.2.0/24 table 5 preference 5 iif eth0 track_group XX\n}\n" + INSTANCE,
    )
    config = loaded.config
    assert [a.track_group for a in config.static_ipaddress] == ["TG", None]
    assert config.static_routes[0].track_group is None and config.static_rules[0].track_group is None
    assert [line for line, _ in errors(loaded)] == [6, 9, 12]


def test_static_address_gets_the_default_interface(write_conf: WriteConf) -> None:
    loaded = load_text(write_conf, "global_defs {\n default_interface eth7\n}\nstatic_ipaddress {\n 192.0.2.1/24\n}\n")
    [address] = loaded.config.static_ipaddress
    assert address.dev == "eth7"
    assert [(ref.kind, ref.name) for ref in address.env_refs()] == [("interface", "eth7")]


# ---------------------------------------------------------------------------------------------
# garp_group


def test_garp_group(write_conf: WriteConf) -> None:
    loaded = load_text(
        write_conf,
        "garp_group {\n garp_interval 0.002\n interface eth0\n interface eth1\n}\n"
        "garp_group {\n gna_interval 0\n interfaces {\n eth2 eth0\n eth3\n }\n}\n"
        "garp_group {\n interface eth4\n}\n"
        "garp_group {\n garp_interval 2147.483648\n gna_interval 2147.483647\n}\n",
    )
    first, second, third = loaded.config.garp_groups
    assert first.garp_interval == 0.002 and first.gna_interval is None
    assert first.interface == ("eth0", "eth1")
    assert second.gna_interval == 0.0 and second.interfaces == ("eth2", "eth3")
    assert third.garp_interval is None and third.gna_interval == 2147.483647
    assert [line for line, _ in errors(loaded)] == [8, 13, 17]
    assert any("eth0" in message for line, message in errors(loaded) if line == 8)
    assert {(ref.kind, ref.name) for ref in first.env_refs()} == {("interface", "eth0"), ("interface", "eth1")}


# ---------------------------------------------------------------------------------------------
# bfd_instance


def test_bfd_defaults(write_conf: WriteConf) -> None:
    loaded = load_text(
        write_conf, "bfd_instance B4 {\n neighbor_ip 192.0.2.1\n}\nbfd_instance B6 {\n neighbour_ip 2001:db8::1\n}\n"
    )
    b4, b6 = loaded.config.bfd_instances
    assert not loaded.diagnostics.items
    assert b4.neighbor_ip == ipaddress.IPv4Address("192.0.2.1") and b4.source_ip is None
    assert (b4.min_rx, b4.min_tx, b4.idle_tx, b4.multiplier) == (10.0, 10.0, 1000.0, 5)
    assert (b4.ttl, b6.ttl) == (255, 64)
    assert b4.max_hops == 0 and b4.weight == Weight(0) and not b4.passive
    assert b4.vrrp and b4.checker


def test_bfd_settings_and_ranges(write_conf: WriteConf) -> None:
    loaded = load_text(
        write_conf,
        "bfd_instance B {\n neighbor_ip 192.0.2.1/24\n source_ip 192.0.2.10\n min_rx 1\n min_tx 4294967\n"
        " idle_tx 1000.5\n multiplier 255\n passive\n hoplimit 1\n max_hops -1\n weight -253 reverse\n"
        " checker\n}\n"
        "bfd_instance C {\n neighbor_ip 192.0.2.2\n min_rx 0.999\n min_tx 4294968\n idle_tx 999\n"
        " multiplier 0\n ttl 256\n max_hops 256\n weight 254\n min_rx 1.0005\n}\n",
    )
    b, c = loaded.config.bfd_instances
    assert b.neighbor_ip == ipaddress.IPv4Address("192.0.2.1")
    assert (b.min_rx, b.min_tx, b.idle_tx, b.multiplier, b.ttl, b.max_hops) == (1.0, 4294967.0, 1000.5, 255, 1, -1)
    assert b.passive and b.weight == Weight(-253, True) and b.checker and not b.vrrp
    assert (c.min_tx, c.idle_tx, c.multiplier, c.ttl, c.max_hops, c.weight) == (10.0, 1000.0, 5, 255, 0, Weight(0))
    assert c.min_rx == 1.001  # too many decimal places: rounded and used, with an error
    assert [line for line, _ in errors(loaded)] == list(range(16, 24))
    assert any(line == 5 and "max sensible" in message for line, message in warnings(loaded))


def test_bfd_instances_that_are_dropped(write_conf: WriteConf) -> None:
    loaded = load_text(
        write_conf,
        "bfd_instance {\n neighbor_ip 192.0.2.1\n}\n"
        f"bfd_instance {'x' * 32} {{\n neighbor_ip 192.0.2.1\n}}\n"
        "bfd_instance NO_NEIGHBOUR {\n min_rx 5\n}\n"
        "bfd_instance BAD {\n neighbor_ip 192.0.2.x\n}\n"
        "bfd_instance MIXED {\n neighbor_ip 192.0.2.1\n source_ip 2001:db8::1\n}\n"
        "bfd_instance OK {\n neighbor_ip 192.0.2.1\n source_ip 192.0.2.9\n}\n"
        "bfd_instance OK {\n neighbor_ip 192.0.2.2\n}\n"
        "bfd_instance SAME {\n neighbor_ip 192.0.2.1\n}\n"
        "bfd_instance MAXHOPS {\n neighbor_ip 192.0.2.3\n ttl 5\n max_hops 6\n}\n",
    )
    names = [(b.name, b.max_hops) for b in loaded.config.bfd_instances]
    assert names == [("OK", 0), ("MAXHOPS", 5)]
    assert sorted({line for line, _ in errors(loaded)}) == [1, 4, 7, 11, 15, 21, 24, 30]


# ---------------------------------------------------------------------------------------------
# Round trip


FULL = (
    """
global_defs {
    process_names
    process_name kad
    router_id node1
    notification_email_from root@example.com
    smtp_server 192.0.2.25 2525
    smtp_helo_name node1.example.com
    smtp_connect_timeout 10
    notification_email {
        a@example.com b@example.com
    }
    smtp_alert
    smtp_alert_vrrp off
    checker_log_all_failures
    no_email_faults
    startup_script "/bin/echo start" root
    shutdown_script /bin/true
    script_user root
    enable_script_security
    notify_fifo /run/ka.fifo root
    notify_fifo_script /bin/true
    vrrp_notify_fifo /run/vrrp.fifo
    max_auto_priority 10
    vrrp_priority -5
    vrrp_no_swap
    vrrp_rt_priority 50
    checker_cpu_affinity 0 1
    bfd_rlimit_rttime 1
    vrrp_mcast_group4 224.0.0.19
    vrrp_min_garp
    vrrp_garp_master_refresh 60
    vrrp_garp_interval 0.001
    vrrp_gna_interval 0.0015
    vrrp_garp_extra_if all 120
    vrrp_lower_prio_no_advert
    vrrp_version 3
    vrrp_strict
    vrrp_startup_delay 5.5
    vmac_prefix vm
    default_interface eth0
    dynamic_interfaces allow_if_changes
    vrrp_rx_bufs_policy 65536
    nftables kad
    nftables_priority -5
    nftables_ipvs
    lvs_timeouts tcp 900 tcpfin 120
    lvs_sync_daemon eth0 inst VI_1 id 5 group 224.0.0.81
    lvs_flush_on_stop
    snmp_socket tcp:localhost:705
    enable_snmp_rfc
    umask IRUSR|IWUSR|IXUSR|IWGRP
    random_seed 42
    reload_file
    include_check read +match
    config_save_dir /var/lib/ka
    data_use_instance
}
use_pid_dir
linkbeat_interfaces {
    eth0 MII
    eth1
}
interface_up_down_delays {
    eth0 0.5
}
track_group TG {
    group {
        VI_1
    }
}
static_ipaddress {
    192.0.2.1/24 brd + track_group TG
    2001:db8::1/64 dev eth0
}
static_routes {
    192.0.2.0/24 via 198.51.100.1 dev eth0 track_group TG
}
static_rules {
    from 192.0.2.0/24 table 100 preference 10 iif eth0 track_group TG
}
garp_group {
    garp_interval 0.25
    interfaces {
        eth0 eth1
    }
}
bfd_instance B1 {
    neighbor_ip 192.0.2.1
    min_rx 5.5
    weight 10 reverse
    vrrp
}
"""
    + INSTANCE
)


def test_round_trip_through_the_text_dump(write_conf: WriteConf) -> None:
    loaded = load_text(write_conf, FULL)
    assert not errors(loaded)
    assert loaded.config.global_defs.umask == 0o720
    assert_round_trip(write_conf, loaded)


def test_round_trip_of_the_defaults(write_conf: WriteConf) -> None:
    loaded = load_text(write_conf, "")
    assert_round_trip(write_conf, loaded)
    assert "vrrp_garp_lower_prio_delay 5" in to_text(loaded.config)


def test_hakeeper_bus_keywords(write_conf: WriteConf) -> None:
    loaded = load(
        str(write_conf("global_defs {\n    hakeeper_bus_tcp 127.0.0.1 7000\n    hakeeper_bus_history 500\n}\n")),
        config_id="n",
    )
    defs = loaded.config.global_defs
    assert defs.hakeeper_bus_tcp is not None
    assert (defs.hakeeper_bus_tcp.host, defs.hakeeper_bus_tcp.port, defs.hakeeper_bus_history) == (
        "127.0.0.1",
        7000,
        500,
    )
    assert not loaded.diagnostics.items
    exposed = load(str(write_conf("global_defs {\n    hakeeper_bus_tcp 192.0.2.10 7000\n}\n", "b.conf")), config_id="n")
    assert exposed.config.global_defs.hakeeper_bus_tcp is None
    [error] = exposed.diagnostics.errors()
    assert error.loc.line == 2 and "CURVE" in error.message
    keyed = load(
        str(
            write_conf(
                "global_defs {\n    hakeeper_bus_tcp 192.0.2.10 7000\n"
                "    hakeeper_bus_curve_key /etc/hk/hub.key_secret\n}\n",
                "c.conf",
            )
        ),
        config_id="n",
    )
    assert keyed.config.global_defs.hakeeper_bus_tcp is not None and not keyed.diagnostics.errors()


def test_hakeeper_bus_tcp_address_defaults_to_loopback(write_conf: WriteConf) -> None:
    loaded = load(str(write_conf("global_defs {\n    hakeeper_bus_tcp 7000\n}\n")), config_id="n")
    tcp = loaded.config.global_defs.hakeeper_bus_tcp
    assert tcp is not None and (tcp.host, tcp.port, tcp.loopback) == ("127.0.0.1", 7000, True)
