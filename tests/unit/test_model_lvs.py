"""The LVS model: virtual_server_group, virtual_server, real_server, the checkers and SSL."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import pytest

from conf.build import grammar_of
from conf.diagnostics import Diagnostics, Loc, Severity
from conf.dump import to_json_document, to_text
from conf.load import Loaded, load
from conf.model import checker_http, checkers_other
from conf.model.common import EnvRef
from conf.model.lvs import RealServer, SslConfig, VirtualServer
from conf.model.lvs_group import VirtualServerGroup, VsgAddress, VsgFwmark, format_vsg_entry, parse_vsg_entry
from conf.model.lvs_values import LvsMethod
from conf.schema import ArgError, Cx
from conf.tree import Stmt
from tests.conftest import WriteConf

# A virtual server with everything keepalived would otherwise complain about.
SERVICE = "protocol TCP\n lvs_sched rr\n lvs_method NAT"


def conf(write_conf: WriteConf, text: str) -> Loaded:
    return load(str(write_conf(text)), config_id="test")


def errors(loaded: Loaded) -> list[tuple[int, str]]:
    return [(d.loc.line, d.message) for d in loaded.diagnostics if d.severity >= Severity.ERROR]


def warnings(loaded: Loaded) -> list[tuple[int, str]]:
    return [(d.loc.line, d.message) for d in loaded.diagnostics if d.severity == Severity.WARNING]


def has(found: list[tuple[int, str]], line: int, text: str) -> bool:
    return any(n == line and text in message for n, message in found)


def only_vs(loaded: Loaded) -> VirtualServer:
    (vs,) = loaded.config.virtual_servers
    return vs


def only_rs(loaded: Loaded) -> RealServer:
    (rs,) = only_vs(loaded).real_servers
    return rs


def checker_conf(write_conf: WriteConf, body: str, vs_extra: str = "", rs_extra: str = "", pre: str = "") -> Loaded:
    return conf(
        write_conf,
        f"""\
        {pre}
        virtual_server 192.0.2.1 80 {{
         {SERVICE}
         {vs_extra}
         real_server 192.0.2.11 80 {{
          {rs_extra}
          {body}
         }}
        }}
        """,
    )


def only_checker(loaded: Loaded) -> Any:
    (checker,) = only_rs(loaded).checkers
    return checker


# ------------------------------------------------------------------ defaults and inheritance


def test_minimal_virtual_server_gets_keepalived_defaults_with_its_errors(write_conf: WriteConf) -> None:
    loaded = conf(
        write_conf,
        """\
        virtual_server 192.0.2.1 80 {
          real_server 192.0.2.11 80 {
          }
        }
        """,
    )
    vs = only_vs(loaded)
    assert (vs.protocol, vs.lvs_sched, vs.lvs_method) == ("UDP", "wlc", LvsMethod("NAT"))
    assert [m for _, m in errors(loaded)] == [
        "Virtual server [192.0.2.1]:none:80: no protocol set - defaulting to UDP",
        "Virtual server [192.0.2.1]:udp:80: no scheduler set, setting default 'wlc'",
        "Virtual server [192.0.2.1]:udp:80: no forwarding method set, setting default NAT",
    ]
    assert loaded.diagnostics.exit_code() == 5
    assert (vs.delay_loop, vs.connect_timeout, vs.quorum, vs.hysteresis, vs.weight) == (60.0, 5.0, 1, 0, 1)
    assert vs.persistence_timeout is None and vs.ip_family == "inet"
    rs = only_rs(loaded)
    assert (rs.weight, rs.lvs_method, rs.smtp_alert, vs.smtp_alert) == (1, LvsMethod("NAT"), True, False)
    assert (rs.retry, rs.warmup, rs.delay_before_retry) == (None, None, None)


def test_complete_virtual_server_is_clean(write_conf: WriteConf) -> None:
    loaded = checker_conf(write_conf, "TCP_CHECK {\n}")
    assert list(loaded.diagnostics) == []


def test_virtual_server_settings_flow_to_real_servers_and_checkers(write_conf: WriteConf) -> None:
    loaded = conf(
        write_conf,
        f"""\
        virtual_server 192.0.2.1 80 {{
         {SERVICE}
         delay_loop 10
         connect_timeout 2.5
         retry 4
         delay_before_retry 7
         warmup 0
         alpha
         inhibit_on_failure on
         weight 3
         virtualhost vs.example
         real_server 192.0.2.11 80 {{
          TCP_CHECK {{
          }}
          HTTP_GET {{
           url {{
            path /
           }}
          }}
         }}
         real_server 192.0.2.12 80 {{
          weight 9
          delay_loop 20
          alpha off
          virtualhost rs.example
          MISC_CHECK {{
           misc_path /bin/true
           retry 0
           delay_loop 30
          }}
          SSL_GET {{
           virtualhost checker.example
           url {{
            path /a
           }}
           url {{
            path /b
            virtualhost url.example
           }}
          }}
         }}
        }}
        """,
    )
    assert errors(loaded) == []
    first, second = only_vs(loaded).real_servers
    assert (first.delay_loop, first.connect_timeout, first.retry, first.weight, first.alpha) == (10, 2.5, 4, 3, True)
    assert first.inhibit_on_failure and first.virtualhost == "vs.example"
    tcp, http = first.checkers
    assert (tcp.delay_loop, tcp.connect_timeout, tcp.retry, tcp.delay_before_retry, tcp.warmup) == (10, 2.5, 4, 7, 0)
    assert tcp.alpha and http.virtualhost == "vs.example" and http.url[0].virtualhost == "vs.example"
    assert (second.weight, second.delay_loop, second.alpha, second.virtualhost) == (9, 20, False, "rs.example")
    misc, ssl = second.checkers
    assert (misc.retry, misc.delay_loop, misc.warmup, misc.alpha) == (0, 30, 0, False)
    assert ssl.virtualhost == "checker.example"
    assert [u.virtualhost for u in ssl.url] == ["checker.example", "url.example"]


@pytest.mark.parametrize(
    ("checker", "retry", "delay_before_retry"),
    [
        ("TCP_CHECK {\n}", 1, 1.0),
        ("PING_CHECK {\n}", 1, 1.0),
        ("UDP_CHECK {\n}", 1, 1.0),
        ("SMTP_CHECK {\n}", 1, 1.0),
        ("MISC_CHECK {\n misc_path /bin/true\n}", 0, 1.0),
        ("HTTP_GET {\n url {\n path /\n }\n}", 1, 3.0),
        ("SSL_GET {\n url {\n path /\n }\n}", 1, 3.0),
        ("DNS_CHECK {\n delay_loop 12\n}", 3, 12.0),
    ],
)
def test_per_checker_retry_and_delay_before_retry_defaults(
    write_conf: WriteConf, checker: str, retry: int, delay_before_retry: float
) -> None:
    found = only_checker(checker_conf(write_conf, checker))
    assert (found.retry, found.delay_before_retry) == (retry, delay_before_retry)
    assert found.warmup == found.delay_loop


def test_real_server_retry_and_delay_before_retry_beat_the_checker_type_defaults(write_conf: WriteConf) -> None:
    loaded = checker_conf(
        write_conf,
        "DNS_CHECK {\n}\nMISC_CHECK {\n misc_path /bin/true\n}",
        rs_extra="retry 6\n delay_before_retry 2\n warmup 5",
    )
    dns, misc = only_rs(loaded).checkers
    assert (dns.retry, dns.delay_before_retry, dns.warmup) == (6, 2, 5)
    assert (misc.retry, misc.delay_before_retry, misc.warmup) == (6, 2, 5)


def test_smtp_alert_defaults_follow_global_defs(write_conf: WriteConf) -> None:
    plain = checker_conf(write_conf, "")
    assert (only_vs(plain).smtp_alert, only_rs(plain).smtp_alert) == (False, True)
    on = checker_conf(write_conf, "", pre="global_defs {\n smtp_alert\n}")
    assert (only_vs(on).smtp_alert, only_rs(on).smtp_alert) == (True, True)
    checker_off = checker_conf(write_conf, "", pre="global_defs {\n smtp_alert on\n smtp_alert_checker off\n}")
    assert (only_vs(checker_off).smtp_alert, only_rs(checker_off).smtp_alert) == (False, False)
    own = checker_conf(
        write_conf, "", vs_extra="smtp_alert", rs_extra="smtp_alert no", pre="global_defs {\n smtp_alert_checker off\n}"
    )
    assert (only_vs(own).smtp_alert, only_rs(own).smtp_alert) == (True, False)


def test_log_all_failures_follows_global_checker_log_all_failures(write_conf: WriteConf) -> None:
    assert only_checker(checker_conf(write_conf, "TCP_CHECK {\n}")).log_all_failures is False
    loaded = checker_conf(write_conf, "TCP_CHECK {\n}", pre="global_defs {\n checker_log_all_failures\n}")
    assert only_checker(loaded).log_all_failures is True
    assert only_checker(checker_conf(write_conf, "TCP_CHECK {\n log_all_failures\n}")).log_all_failures is True


def test_alpha_with_a_value_is_a_boolean_at_every_level(write_conf: WriteConf) -> None:
    # keepalived 2.2.7 ignores the argument at virtual_server level: `alpha no` turned alpha on.
    loaded = checker_conf(write_conf, "TCP_CHECK {\n}", vs_extra="alpha no\n omega no\n ha_suspend off")
    vs = only_vs(loaded)
    assert (vs.alpha, vs.omega, vs.ha_suspend, only_checker(loaded).alpha) == (False, False, False, False)


# ------------------------------------------------------------------ values, ranges and aliases


@pytest.mark.parametrize(
    ("statement", "field", "value"),
    [
        ("weight 1", "weight", 1),
        ("weight 2147483647", "weight", 2147483647),
        ("persistence_timeout 1", "persistence_timeout", 1),
        ("persistence_timeout 2678400", "persistence_timeout", 2678400),
        ("persistence_timeout", "persistence_timeout", 360),
        ("hysteresis 0", "hysteresis", 0),
        ("retry 1", "retry", 1),
        ("retry 4294967295", "retry", 4294967295),
        ("delay_loop 0.000001", "delay_loop", 0.000001),
        ("delay_loop .5", "delay_loop", 0.5),
        ("delay_loop 7.", "delay_loop", 7.0),
        ("connect_timeout 4294.967295", "connect_timeout", 4294.967295),
        ("delay_before_retry 0", "delay_before_retry", 0.0),
        ("warmup 0", "warmup", 0.0),
        ("lb_algo sh", "lvs_sched", "sh"),
        ("lvs_sched twos", "lvs_sched", "twos"),
        ("lb_kind DR", "lvs_method", LvsMethod("DR")),
        ("protocol sctp", "protocol", "SCTP"),
        ("persistence_engine sip", "persistence_engine", "sip"),
        ("snmp_name web", "snmp_name", "web"),
        ("virtualhost www.example.com extra", "virtualhost", "www.example.com"),
    ],
)
def test_virtual_server_values_in_range(write_conf: WriteConf, statement: str, field: str, value: Any) -> None:
    loaded = conf(
        write_conf,
        f"""\
        virtual_server 192.0.2.1 80 {{
         protocol TCP
         lvs_sched rr
         lvs_method NAT
         {statement}
         real_server 192.0.2.11 80 {{
          weight 2147483647
         }}
        }}
        """,
    )
    assert errors(loaded) == []
    assert getattr(only_vs(loaded), field) == value


@pytest.mark.parametrize(
    ("statement", "field", "default", "message"),
    [
        ("weight 0", "weight", 1, "outside range [1, 2147483647]"),
        ("weight 2147483648", "weight", 1, "outside range [1, 2147483647]"),
        ("persistence_timeout 0", "persistence_timeout", None, "outside range [1, 2678400]"),
        ("persistence_timeout 2678401", "persistence_timeout", None, "outside range [1, 2678400]"),
        ("hysteresis -1", "hysteresis", 0, "outside range [0, 4294967295]"),
        ("retry 0", "retry", None, "outside range [1, 4294967295]"),
        ("delay_loop 0", "delay_loop", 60.0, "outside range [0.000001, 18446744073709.551614]"),
        ("delay_loop 5abc", "delay_loop", 60.0, "invalid number '5abc'"),
        ("delay_loop 1e2", "delay_loop", 60.0, "invalid number '1e2'"),
        ("delay_loop -1", "delay_loop", 60.0, "negative number '-1'"),
        ("connect_timeout 4294.967296", "connect_timeout", 5.0, "outside range [0.000001, 4294.967295]"),
        ("warmup x", "warmup", None, "invalid number 'x'"),
        ("lvs_sched RR", "lvs_sched", "wlc", "invalid value 'RR'"),
        ("lvs_method FOO", "lvs_method", LvsMethod("NAT"), "unknown [FOO] routing method for virtual server"),
        ("protocol ICMP", "protocol", "UDP", "invalid value 'ICMP'"),
        ("ip_family inet5", "ip_family", "inet", "invalid value 'inet5'"),
        ("snmp_name a b", "snmp_name", None, "virtual server snmp_name missing or extra parameters"),
        ("virtualhost", "virtualhost", None, "'virtualhost' is missing its argument"),
        ("smtp_alert maybe", "smtp_alert", False, "invalid boolean 'maybe'"),
    ],
)
def test_bad_virtual_server_values_keep_the_default(
    write_conf: WriteConf, statement: str, field: str, default: Any, message: str
) -> None:
    keyword = statement.split(maxsplit=1)[0]
    service = "\n ".join(s for s in ("protocol TCP", "lvs_sched rr", "lvs_method NAT") if not s.startswith(keyword))
    loaded = conf(
        write_conf,
        f"virtual_server 192.0.2.1 80 {{\n {statement}\n {service}\n real_server 192.0.2.11 80 {{\n }}\n}}\n",
    )
    assert has(errors(loaded), 2, message), errors(loaded)
    assert getattr(only_vs(loaded), field) == default


def test_quorum_out_of_range_is_set_to_one(write_conf: WriteConf) -> None:
    loaded = checker_conf(write_conf, "weight 5", vs_extra="quorum 0")
    assert has(errors(loaded), 6, "quorum: number '0' outside range [1, 4294967295]; setting to 1")
    assert only_vs(loaded).quorum == 1


def test_timer_with_too_many_decimals_is_rounded_with_an_error(write_conf: WriteConf) -> None:
    loaded = checker_conf(write_conf, "", vs_extra="delay_loop 1.0000005\n connect_timeout 2.0000004")
    assert has(errors(loaded), 6, "has too many decimal places")
    vs = only_vs(loaded)
    assert (vs.delay_loop, vs.connect_timeout) == (1.000001, 2.0)


@pytest.mark.parametrize(
    ("statement", "field", "value"),
    [
        ("weight 0", "weight", 0),
        ("uthreshold 4294967295", "uthreshold", 4294967295),
        ("lthreshold 0", "lthreshold", 0),
        ("inhibit_on_failure", "inhibit_on_failure", True),
        ("alpha yes", "alpha", True),
        ("retry 9", "retry", 9),
        ("lvs_method TUN type gue port 6080 csum", "lvs_method", LvsMethod("TUN", "gue", 6080, "csum")),
        ("lvs_method TUN type gre remcsum", "lvs_method", LvsMethod("NAT")),
        ("lvs_method TUN type gre csum", "lvs_method", LvsMethod("TUN", "gre", 0, "csum")),
    ],
)
def test_real_server_values(write_conf: WriteConf, statement: str, field: str, value: Any) -> None:
    loaded = checker_conf(write_conf, "", rs_extra=statement)
    if "remcsum" in statement:
        assert has(errors(loaded), 8, "gre tunnels do not support remote checksum option")
        assert only_rs(loaded).lvs_method == LvsMethod("TUN")
        return
    # With its only real server at weight 0, the service's quorum of 1 is lowered (with an error).
    assert len(errors(loaded)) == (1 if statement == "weight 0" else 0)
    assert getattr(only_rs(loaded), field) == value


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("type", "Missing tunnel type for real server"),
        ("type vxlan", "Unknown tunnel type vxlan for real server"),
        ("type gue", "gue tunnels require port, otherwise cannot have port"),
        ("port 5", "gue tunnels require port, otherwise cannot have port"),
        ("type gue port", "Missing port for real server gue tunnel"),
        ("type gue port 0", "invalid gue tunnel port for real server"),
        ("csum", "ipip tunnels do not support checksum option"),
        ("bogus", "Invalid tunnel option bogus for real server"),
    ],
)
def test_bad_tunnel_options_keep_the_method_without_them(write_conf: WriteConf, options: str, message: str) -> None:
    loaded = checker_conf(write_conf, "", rs_extra=f"lvs_method TUN {options}")
    assert has(errors(loaded), 8, message), errors(loaded)
    assert only_rs(loaded).lvs_method == LvsMethod("TUN")


def test_real_server_out_of_range_weight_inherits(write_conf: WriteConf) -> None:
    loaded = checker_conf(write_conf, "", vs_extra="weight 4", rs_extra="weight 2147483648")
    assert has(errors(loaded), 8, "weight: number '2147483648' outside range [0, 2147483647]; using the inherited")
    assert only_rs(loaded).weight == 4


def test_notify_scripts_keep_the_first(write_conf: WriteConf) -> None:
    loaded = checker_conf(
        write_conf, "", rs_extra='notify_up /bin/true\n notify_up /bin/false\n notify_down "/bin/echo down" nobody'
    )
    rs = only_rs(loaded)
    assert rs.notify_up is not None and rs.notify_up.argv == ("/bin/true",)
    assert rs.notify_down is not None and rs.notify_down.argv == ("/bin/echo", "down")
    assert rs.notify_down.user == "nobody"
    assert has(errors(loaded), 9, "'notify_up' already set at line 8")


# ------------------------------------------------------------------ virtual_server headers


def test_the_three_virtual_server_forms(write_conf: WriteConf) -> None:
    loaded = conf(
        write_conf,
        """\
        virtual_server_group G {
         192.0.2.50 443
        }
        virtual_server 2001:db8::1 443 {
         protocol TCP
         lvs_sched rr
         lvs_method DR
         real_server 2001:db8::11 443 {
         }
        }
        virtual_server fwmark 7 {
         lvs_sched rr
         lvs_method DR
         real_server 192.0.2.11 {
         }
        }
        virtual_server group G {
         protocol TCP
         lvs_sched rr
         lvs_method DR
         real_server 192.0.2.11 443 {
         }
        }
        """,
    )
    assert errors(loaded) == []
    v6, mark, grouped = loaded.config.virtual_servers
    assert (v6.address, v6.port, v6.ip_family) == (ipaddress.ip_address("2001:db8::1"), 443, "inet6")
    assert (mark.fwmark, mark.address, mark.protocol, mark.ip_family) == (7, None, None, "inet")
    assert (grouped.group, grouped.address, grouped.ip_family) == ("G", None, "inet")
    assert [vs.header_text() for vs in (v6, mark, grouped)] == ["2001:db8::1 443", "fwmark 7", "group G"]


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("", "virtual_server needs 'IP [PORT]', 'fwmark N' or 'group NAME'"),
        ("group", "virtual_server group is missing its name"),
        ("fwmark", "virtual_server fwmark is missing its mark"),
        ("fwmark x", "virtual server fwmark 'x' must be in [1, 4294967295] - skipping"),
        ("fwmark 0", "virtual server fwmark '0' must be in [1, 4294967295] - skipping"),
        ("192.0.2.1 70000", "invalid virtual server IP address/port 192.0.2.1/70000 - skipping"),
        ("192.0.2.1 http", "invalid number 'http'"),
        ("foo 80", "invalid IP address 'foo'"),
        ("fe80::1%eth0 80", "invalid IP address 'fe80::1%eth0'"),
    ],
)
def test_unusable_virtual_server_header_drops_the_block(write_conf: WriteConf, header: str, message: str) -> None:
    loaded = conf(write_conf, f"virtual_server {header} {{\n {SERVICE}\n real_server 192.0.2.11 80 {{\n }}\n}}\n")
    assert has(errors(loaded), 1, message), errors(loaded)
    assert loaded.config.virtual_servers == ()
    assert not [w for w in warnings(loaded) if "unknown keyword" in w[1]]


def test_port_zero_means_no_port_and_requires_persistence(write_conf: WriteConf) -> None:
    loaded = conf(write_conf, f"virtual_server 192.0.2.1 00 {{\n {SERVICE}\n real_server 192.0.2.11 0 {{\n }}\n}}\n")
    vs = only_vs(loaded)
    assert (vs.port, vs.persistence_timeout, only_rs(loaded).port) == (0, 360, 0)
    assert has(errors(loaded), 1, "zero port only valid for persistent services - setting persistence_timeout 360")
    assert vs.header_text() == "192.0.2.1"


def test_range_or_mask_after_a_server_address_is_ignored_with_a_warning(write_conf: WriteConf) -> None:
    loaded = conf(
        write_conf,
        f"""\
        virtual_server 192.0.2.100-110 80 {{
         {SERVICE}
         real_server 192.0.2.11/24 80 {{
         }}
        }}
        """,
    )
    assert errors(loaded) == []
    assert has(warnings(loaded), 1, "'-110' after address 192.0.2.100 is ignored")
    assert has(warnings(loaded), 5, "'/24' after address 192.0.2.11 is ignored")
    assert only_rs(loaded).address == ipaddress.ip_address("192.0.2.11")


def test_unusable_real_server_header_drops_the_block(write_conf: WriteConf) -> None:
    loaded = conf(
        write_conf,
        f"""\
        virtual_server 192.0.2.1 80 {{
         {SERVICE}
         real_server 192.0.2.11 http {{
          weight 5
         }}
         real_server {{
         }}
         real_server 192.0.2.12 80 {{
         }}
        }}
        """,
    )
    assert has(errors(loaded), 5, "invalid real server ip address/port 192.0.2.11/http - skipping")
    assert has(errors(loaded), 8, "real_server needs an IP address")
    assert [rs.address for rs in only_vs(loaded).real_servers] == [ipaddress.ip_address("192.0.2.12")]


# ------------------------------------------------------------------ virtual_server_group


def entry(line: str) -> Any:
    words = tuple(line.split())
    return parse_vsg_entry(Stmt(words, Loc("k", 1), line), Cx(Diagnostics(), "x"))


@pytest.mark.parametrize(
    ("line", "start", "end", "port"),
    [
        ("192.0.2.1", "192.0.2.1", "192.0.2.1", 0),
        ("192.0.2.1 80", "192.0.2.1", "192.0.2.1", 80),
        ("192.0.2.1 0", "192.0.2.1", "192.0.2.1", 0),
        ("192.0.2.1-10 80", "192.0.2.1", "192.0.2.10", 80),
        ("192.0.2.1-255", "192.0.2.1", "192.0.2.255", 0),
        ("192.0.2.250-198.51.100.10 80", "192.0.2.250", "198.51.100.10", 80),
        ("192.0.2.5-192.0.2.5", "192.0.2.5", "192.0.2.5", 0),
        ("192.0.2.8/29 443", "192.0.2.8", "192.0.2.15", 443),
        ("192.0.2.9/32", "192.0.2.9", "192.0.2.9", 0),
        ("2001:db8::1-10 80", "2001:db8::1", "2001:db8::10", 80),
        ("2001:db8::1-ffff", "2001:db8::1", "2001:db8::ffff", 0),
        ("2001:db8::1-2001:db8::1:0", "2001:db8::1", "2001:db8::1:0", 0),
        ("2001:db8::/64", "2001:db8::", "2001:db8::ffff:ffff:ffff:ffff", 0),
    ],
)
def test_group_address_forms(line: str, start: str, end: str, port: int) -> None:
    parsed = entry(line)
    assert parsed == VsgAddress(ipaddress.ip_address(start), ipaddress.ip_address(end), port)
    assert entry(format_vsg_entry(parsed)) == parsed


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("192.0.2.10-10", "Address range end is not greater than address range start - 192.0.2.10-10"),
        ("192.0.2.10-9", "Address range end is not greater than address range start"),
        ("192.0.2.1-256", "Virtual server group range '192.0.2.1-256' end '256' too large"),
        ("2001:db8::1-10000", "end '10000' too large"),
        ("192.0.2.1-1x", "has an invalid end '1x'"),
        ("192.0.2.5-192.0.2.1", "Address range end is less than address range start - 192.0.2.5-192.0.2.1"),
        ("192.0.2.5-192.0.2", "Invalid range end 192.0.2.5-192.0.2"),
        ("192.0.2.1/24", "Address mask bits not empty - 192.0.2.1/24"),
        ("192.0.2.0/0", "Invalid netmask - 192.0.2.0/0"),
        ("192.0.2.0/33", "Invalid netmask - 192.0.2.0/33"),
        ("2001:db8::/129", "Invalid netmask"),
        ("bogus 80", "Invalid virtual server group IP address bogus"),
        ("192.0.2.1 65536", "invalid virtual server group IP address/port 192.0.2.1/65536"),
        ("fwmark x", "fwmark 'x' must be in [0, 4294967295]"),
        ("fwmark 1 ipv4", "fwmark '1' family ipv4 unknown"),
        ("fwmark", "fwmark is missing its value"),
    ],
)
def test_bad_group_entries(line: str, message: str) -> None:
    with pytest.raises(ArgError, match=None) as raised:
        entry(line)
    assert message in raised.value.message


def test_group_fwmarks() -> None:
    assert entry("fwmark 0") == VsgFwmark(0)
    assert entry("fwmark 4294967295 inet6") == VsgFwmark(4294967295, "inet6")
    assert format_vsg_entry(VsgFwmark(5, "inet")) == "fwmark 5 inet"


def test_group_block_keeps_good_entries_and_reports_bad_ones(write_conf: WriteConf) -> None:
    loaded = conf(
        write_conf,
        """\
        virtual_server_group WEB {
         192.0.2.1-3 80
         192.0.2.9-9 80
         fwmark 3 inet
         fwmark 4 bad
        }
        """,
    )
    (group,) = loaded.config.virtual_server_groups
    assert isinstance(group, VirtualServerGroup) and group.name == "WEB"
    assert [format_vsg_entry(e) for e in group.entries] == ["192.0.2.1-192.0.2.3 80", "fwmark 3 inet"]
    assert [line for line, _ in errors(loaded)] == [3, 5]
    assert has(errors(loaded), 3, "Address range end is not greater than address range start")
    assert warnings(loaded) == []


def test_groups_without_entries_or_with_mixed_families_and_bare_fwmarks_are_removed(write_conf: WriteConf) -> None:
    loaded = conf(
        write_conf,
        """\
        virtual_server_group EMPTY {
         bogus
        }
        virtual_server_group MIXED {
         192.0.2.1 80
         2001:db8::1 80
         fwmark 1
        }
        virtual_server_group OK {
         192.0.2.1 80
         2001:db8::1 80
         fwmark 1 inet
        }
        """,
    )
    assert [g.name for g in loaded.config.virtual_server_groups] == ["OK"]
    assert has(errors(loaded), 1, "virtual server group EMPTY has no entries - removing")
    assert has(errors(loaded), 4, "virtual server group MIXED cannot have IPv4, IPv6 and fwmark without family")


def test_group_needs_a_name(write_conf: WriteConf) -> None:
    loaded = conf(write_conf, "virtual_server_group {\n 192.0.2.1 80\n}\n")
    assert has(errors(loaded), 1, "virtual_server_group must have a name")
    assert loaded.config.virtual_server_groups == ()


def test_duplicate_group_names_use_the_first(write_conf: WriteConf) -> None:
    loaded = conf(
        write_conf, "virtual_server_group G {\n 192.0.2.1 80\n}\nvirtual_server_group G {\n 192.0.2.2 80\n}\n"
    )
    (group,) = loaded.config.virtual_server_groups
    assert group.entries == (VsgAddress(ipaddress.ip_address("192.0.2.1"), ipaddress.ip_address("192.0.2.1"), 80),)
    assert has(warnings(loaded), 4, "virtual_server_group G is already defined at line 1")


# ------------------------------------------------------------------ validation


def test_undefined_group_drops_the_virtual_server_with_a_warning(write_conf: WriteConf) -> None:
    loaded = conf(write_conf, f"virtual_server group NOPE {{\n {SERVICE}\n real_server 192.0.2.11 80 {{\n }}\n}}\n")
    assert loaded.config.virtual_servers == ()
    assert errors(loaded) == []  # keepalived only logs this
    assert has(warnings(loaded), 1, "Virtual server group NOPE specified but not configured")


def test_group_family_must_match_the_virtual_server(write_conf: WriteConf) -> None:
    loaded = conf(
        write_conf,
        f"""\
        virtual_server_group G6 {{
         2001:db8::1 80
        }}
        virtual_server group G6 {{
         {SERVICE}
         real_server 192.0.2.11 80 {{
         }}
        }}
        virtual_server group G6 {{
         {SERVICE}
         real_server 2001:db8::11 80 {{
         }}
        }}
        """,
    )
    (vs,) = loaded.config.virtual_servers
    assert vs.ip_family == "inet6" and vs.loc.line == 11
    assert has(warnings(loaded), 4, "G6: address family doesn't match virtual server [G6] - ignoring")


def test_mixed_group_needs_tunnelled_servers(write_conf: WriteConf) -> None:
    loaded = conf(
        write_conf,
        """\
        virtual_server_group MIX {
         192.0.2.1 80
         2001:db8::1 80
        }
        virtual_server group MIX {
         protocol TCP
         lvs_sched rr
         lvs_method TUN
         real_server 192.0.2.11 80 {
         }
        }
        virtual_server group MIX {
         protocol TCP
         lvs_sched rr
         real_server 192.0.2.11 80 {
         }
        }
        """,
    )
    (vs,) = loaded.config.virtual_servers
    assert vs.loc.line == 5 and vs.ip_family is None
    assert has(warnings(loaded), 12, "virtual server group with IPv4 & IPv6 doesn't match")


def test_group_validation_persistence_protocol_and_ports(write_conf: WriteConf) -> None:
    loaded = conf(
        write_conf,
        """\
        virtual_server_group G {
         192.0.2.1 80
         192.0.2.2
        }
        virtual_server_group F {
         fwmark 3
        }
        virtual_server group G {
         protocol TCP
         lvs_sched rr
         lvs_method DR
         real_server 192.0.2.11 81 {
         }
        }
        virtual_server group F {
         protocol TCP
         ha_suspend
         lvs_sched rr
         lvs_method DR
         real_server 192.0.2.11 81 {
         }
        }
        """,
    )
    by_address, by_mark = loaded.config.virtual_servers
    assert by_address.persistence_timeout == 360 and by_address.protocol == "TCP"
    assert has(errors(loaded), 8, "Virtual server [G]: zero port only valid for persistent services")
    assert has(errors(loaded), 12, "virtual server [G]:[192.0.2.1,80] and real server [192.0.2.11]:tcp:81 ports")
    assert by_address.real_servers[0].port == 81  # groups only get a warning
    assert (by_mark.protocol, by_mark.ha_suspend, by_mark.ip_family) == (None, False, "inet")
    assert has(errors(loaded), 16, "protocol specified for fwmark - protocol will be ignored")
    assert has(errors(loaded), 17, "cannot use ha_suspend with fwmarks - clearing ha_suspend")
    assert has(errors(loaded), 20, "fwmark virtual server [F], real server [192.0.2.11]:none:81 has port specified")


def test_fwmark_service_with_protocol_and_ported_real_server(write_conf: WriteConf) -> None:
    loaded = conf(
        write_conf,
        """\
        virtual_server fwmark 5 {
         protocol TCP
         lvs_sched rr
         lvs_method DR
         sorry_server 192.0.2.99 8080
         real_server 192.0.2.11 80 {
         }
         real_server 192.0.2.12 80 {
          lvs_method NAT
         }
        }
        """,
    )
    vs = only_vs(loaded)
    assert vs.protocol is None
    assert [rs.port for rs in vs.real_servers] == [0, 80]
    assert vs.sorry_server is not None and vs.sorry_server.port == 0
    assert has(errors(loaded), 2, "Warning: Virtual server FWM 5: protocol specified for fwmark")
    assert has(errors(loaded), 6, "real server [192.0.2.11]:none:80 has port specified - clearing")
    assert has(errors(loaded), 5, "sorry server has port specified - clearing")


def test_real_server_ports_follow_the_virtual_server(write_conf: WriteConf) -> None:
    loaded = conf(
        write_conf,
        """\
        virtual_server 192.0.2.1 80 {
         protocol TCP
         lvs_sched rr
         lvs_method DR
         sorry_server 192.0.2.99
         real_server 192.0.2.11 81 {
         }
         real_server 192.0.2.12 {
          TCP_CHECK {
          }
         }
         real_server 192.0.2.13 8080 {
          lvs_method NAT
         }
        }
        """,
    )
    vs = only_vs(loaded)
    assert [rs.port for rs in vs.real_servers] == [80, 80, 8080]
    assert vs.sorry_server is not None and vs.sorry_server.port == 80
    assert has(errors(loaded), 6, "WARNING - virtual server [192.0.2.1]:tcp:80 and real server [192.0.2.11]:tcp:81")
    # keepalived 2.2.7 checks a real server written without a port on port 0.
    assert vs.real_servers[1].checkers[0].connect_port == 80
    assert len(errors(loaded)) == 1


def test_family_mismatch_drops_real_and_sorry_servers_but_not_tunnelled_ones(write_conf: WriteConf) -> None:
    loaded = conf(
        write_conf,
        """\
        virtual_server 192.0.2.1 80 {
         protocol TCP
         lvs_sched rr
         lvs_method DR
         sorry_server 2001:db8::99 80
         real_server 2001:db8::11 80 {
         }
         real_server 2001:db8::12 80 {
          lvs_method TUN
         }
         real_server 192.0.2.13 80 {
         }
        }
        """,
    )
    vs = only_vs(loaded)
    assert [str(rs.address) for rs in vs.real_servers] == ["2001:db8::12", "192.0.2.13"]
    assert vs.sorry_server is None
    assert has(errors(loaded), 6, "Address family of virtual server and real server 2001:db8::11 don't match")
    assert has(errors(loaded), 5, "Address family of virtual server and sorry server 2001:db8::99 don't match")


def test_fwmark_family_comes_from_servers_or_ip_family(write_conf: WriteConf) -> None:
    loaded = conf(
        write_conf,
        """\
        virtual_server fwmark 1 {
         lvs_sched rr
         lvs_method TUN
         real_server 2001:db8::1 {
         }
        }
        virtual_server fwmark 2 {
         lvs_sched rr
         lvs_method TUN
         real_server 2001:db8::1 {
         }
         real_server 192.0.2.1 {
         }
        }
        virtual_server fwmark 3 {
         lvs_sched rr
         lvs_method DR
         ip_family inet6
         real_server 192.0.2.1 {
         }
         real_server 2001:db8::2 {
         }
        }
        virtual_server 192.0.2.5 80 {
         protocol TCP
         lvs_sched rr
         lvs_method DR
         ip_family inet6
         real_server 192.0.2.1 {
         }
        }
        """,
    )
    one, two, three, four = loaded.config.virtual_servers
    assert (one.ip_family, two.ip_family, three.ip_family, four.ip_family) == ("inet6", "inet", "inet6", "inet")
    assert [str(rs.address) for rs in three.real_servers] == ["2001:db8::2"]
    assert has(errors(loaded), 28, "Virtual server specified family inet6 conflicts with server family")


def test_no_real_servers(write_conf: WriteConf) -> None:
    loaded = conf(write_conf, f"virtual_server 192.0.2.1 80 {{\n {SERVICE}\n}}\n")
    assert loaded.config.virtual_servers == ()
    assert [m for _, m in errors(loaded)] == ["Virtual server [192.0.2.1]:tcp:80 has no real servers - ignoring"]


def test_duplicate_real_servers_are_removed(write_conf: WriteConf) -> None:
    loaded = conf(
        write_conf,
        f"""\
        virtual_server 192.0.2.1 80 {{
         {SERVICE}
         real_server 192.0.2.11 80 {{
         }}
         real_server 192.0.2.11 80 {{
          weight 7
         }}
        }}
        """,
    )
    assert [rs.weight for rs in only_vs(loaded).real_servers] == [1]
    assert has(errors(loaded), 7, "real server [192.0.2.11]:tcp:80 is duplicated - removing second rs")


@pytest.mark.parametrize(
    ("settings", "weights", "quorum", "hysteresis", "messages"),
    [
        ("quorum 3\n hysteresis 2", (2, 2), 3, 2, []),
        ("quorum 5\n hysteresis 9", (1, 1), 2, 1, ["reducing quorum to 2", "hysteresis 9 >= quorum 2; setting"]),
        ("hysteresis 1", (1,), 1, 0, ["hysteresis 1 >= quorum 1; setting hysteresis to 0"]),
        # keepalived wraps the hysteresis round to 4294967295 when the quorum falls to 0.
        ("hysteresis 3", (0,), 0, 0, ["reducing quorum to 0", "hysteresis 3 >= quorum 0; setting hysteresis to 0"]),
        ("", (0, 0), 0, 0, ["exceeds total weight of real servers 0, reducing quorum to 0"]),
    ],
)
def test_quorum_and_hysteresis_rules(
    write_conf: WriteConf,
    settings: str,
    weights: tuple[int, ...],
    quorum: int,
    hysteresis: int,
    messages: list[str],
) -> None:
    servers = "".join(f" real_server 192.0.2.{i + 10} 80 {{\n  weight {w}\n }}\n" for i, w in enumerate(weights))
    loaded = conf(write_conf, f"virtual_server 192.0.2.1 80 {{\n {SERVICE}\n {settings}\n{servers}}}\n")
    vs = only_vs(loaded)
    assert (vs.quorum, vs.hysteresis) == (quorum, hysteresis)
    found = [m for _, m in errors(loaded)]
    assert len(found) == len(messages)
    for message, text in zip(found, messages, strict=True):
        assert text in message


def test_one_packet_scheduling_needs_udp(write_conf: WriteConf) -> None:
    loaded = checker_conf(write_conf, "", vs_extra="ops")
    assert only_vs(loaded).ops is False
    assert has(errors(loaded), 6, "one packet scheduling requires UDP - resetting")
    udp = conf(
        write_conf,
        "virtual_server 192.0.2.1 80 {\n protocol UDP\n ops\n lvs_sched rr\n lvs_method NAT\n"
        " real_server 192.0.2.11 80 {\n }\n}\n",
    )
    assert only_vs(udp).ops is True and errors(udp) == []


def test_sorry_server_settings(write_conf: WriteConf) -> None:
    loaded = conf(
        write_conf,
        """\
        virtual_server 192.0.2.1 80 {
         protocol TCP
         lvs_sched rr
         lvs_method DR
         sorry_server_inhibit
         sorry_server 192.0.2.11 80
         sorry_server_lvs_method TUN
         real_server 192.0.2.11 80 {
          inhibit_on_failure
         }
        }
        virtual_server 192.0.2.2 80 {
         protocol TCP
         lvs_sched rr
         sorry_server_lvs_method DR
         real_server 192.0.2.12 80 {
         }
        }
        """,
    )
    first, second = loaded.config.virtual_servers
    assert first.sorry_server is not None and first.sorry_server_lvs_method == LvsMethod("TUN")
    # Used before sorry_server: keepalived ignores it; the matching real server then turns it on.
    assert first.sorry_server_inhibit is True
    assert has(errors(loaded), 5, "Ignoring sorry_server_inhibit used before or without sorry_server")
    assert has(errors(loaded), 6, "matches sorry server, but inhibit setting differs, setting on sorry server")
    assert second.sorry_server_lvs_method is None
    assert has(errors(loaded), 15, "sorry_server forwarding used without sorry_server")
    assert second.lvs_method == LvsMethod("NAT")


def test_sorry_server_takes_the_virtual_server_method(write_conf: WriteConf) -> None:
    loaded = checker_conf(write_conf, "", vs_extra="sorry_server 192.0.2.99 80")
    vs = only_vs(loaded)
    assert vs.sorry_server_lvs_method == LvsMethod("NAT") and errors(loaded) == []
    bad = checker_conf(write_conf, "", vs_extra="sorry_server 192.0.2.99 http")
    assert only_vs(bad).sorry_server is None
    assert has(errors(bad), 6, "invalid sorry server IP address 192.0.2.99 http - skipping")


@pytest.mark.parametrize(
    ("settings", "flags", "message", "severity"),
    [
        ("lvs_sched sh\n sh-port\n sh-fallback", {"sh_port": True, "sh_fallback": True}, None, None),
        ("lvs_sched mh\n mh-port\n mh-fallback", {"mh_port": True, "mh_fallback": True}, None, None),
        ("lvs_sched rr\n sh-port", {"sh_port": False}, "sh-port only applies to sh scheduler", Severity.ERROR),
        (
            "lvs_sched rr\n mh-fallback",
            {"mh_fallback": False},
            "mh-fallback only applies to mh scheduler",
            Severity.ERROR,
        ),
        ("lvs_sched sh\n mh-port", {"mh_port": False}, "mh-port has no effect with the sh scheduler", Severity.WARNING),
        ("lvs_sched rr\n hashed", {"hashed": False}, "hashed only applies to sh scheduler", Severity.ERROR),
        ("lvs_sched sh\n hashed", {"hashed": True}, None, None),
        ("lvs_sched wlc\n flag-1\n flag-2\n flag-3", {"flag_1": True, "flag_2": True, "flag_3": True}, None, None),
    ],
)
def test_scheduler_flags(
    write_conf: WriteConf, settings: str, flags: dict[str, bool], message: str | None, severity: Severity | None
) -> None:
    loaded = conf(
        write_conf,
        f"virtual_server 192.0.2.1 80 {{\n protocol TCP\n lvs_method NAT\n {settings}\n"
        " real_server 192.0.2.11 80 {\n }\n}\n",
    )
    vs = only_vs(loaded)
    for name, value in flags.items():
        assert getattr(vs, name) is value
    found = [(d.severity, d.message) for d in loaded.diagnostics]
    if message is None:
        assert found == []
    else:
        assert [(s, m) for s, m in found if message in m] == [
            (severity, message + (" - ignoring" if severity == Severity.ERROR else "; ignored"))
        ]


@pytest.mark.parametrize(
    ("header", "value", "stored", "timeout", "message"),
    [
        ("192.0.2.1 80", "255.255.255.0", "255.255.255.0", 360, None),
        ("192.0.2.1 80", "0xffffff00", "255.255.255.0", 360, None),
        ("192.0.2.1 80", "24", "0.0.0.24", 360, "which is not contiguous"),
        ("192.0.2.1 80", "255.255.255.0.1", None, None, "Invalid IPv4 persistence_granularity specified"),
        ("2001:db8::1 80", "64", "64", 360, None),
        ("2001:db8::1 80", "129", None, None, "Invalid IPv6 persistence_granularity specified - 129"),
    ],
)
def test_persistence_granularity(
    write_conf: WriteConf, header: str, value: str, stored: str | None, timeout: int | None, message: str | None
) -> None:
    server = "2001:db8::11" if ":" in header else "192.0.2.11"
    loaded = conf(
        write_conf,
        f"virtual_server {header} {{\n {SERVICE}\n persistence_granularity {value}\n"
        f" real_server {server} 80 {{\n }}\n}}\n",
    )
    vs = only_vs(loaded)
    assert (vs.persistence_granularity, vs.persistence_timeout) == (stored, timeout)
    if message:
        assert any(message in d.message and d.loc.line == 5 for d in loaded.diagnostics)
    else:
        assert list(loaded.diagnostics) == []


def test_fwmark_granularity_sets_the_family(write_conf: WriteConf) -> None:
    loaded = conf(
        write_conf,
        "virtual_server fwmark 1 {\n lvs_sched rr\n lvs_method TUN\n"
        " persistence_granularity 64\n persistence_timeout 50\n"
        " real_server 192.0.2.11 {\n }\n}\n",
    )
    vs = only_vs(loaded)
    assert (vs.ip_family, vs.persistence_granularity, vs.persistence_timeout) == ("inet6", "64", 50)


def test_persistence_engine_is_truncated(write_conf: WriteConf) -> None:
    loaded = checker_conf(write_conf, "", vs_extra="persistence_engine abcdefghijklmnopq")
    assert only_vs(loaded).persistence_engine == "abcdefghijklmno"
    assert has(errors(loaded), 6, "persistence_name too long, truncating - abcdefghijklmnopq")


# ------------------------------------------------------------------ checkers


def test_checker_kind_is_in_the_json(write_conf: WriteConf) -> None:
    loaded = checker_conf(write_conf, "TCP_CHECK {\n}\nPING_CHECK {\n}")
    document = to_json_document(loaded.config)
    kinds = [c["kind"] for c in document["virtual_servers"][0]["real_servers"][0]["checkers"]]
    assert kinds == ["TCP_CHECK", "PING_CHECK"]


def test_connection_options(write_conf: WriteConf) -> None:
    loaded = checker_conf(
        write_conf,
        """TCP_CHECK {
           connect_ip 192.0.2.50
           connect_port 8080
           bindto 192.0.2.10
           bind_port 40000
           bind_if eth0
           connect_timeout 1.5
           fwmark 7
           retry 0
           delay_before_retry 0.25
           warmup 0
           delay_loop 3
           alpha on
           log_all_failures yes
          }""",
    )
    tcp = only_checker(loaded)
    assert errors(loaded) == []
    assert (str(tcp.connect_ip), tcp.connect_port, str(tcp.bindto), tcp.bind_port) == (
        "192.0.2.50",
        8080,
        "192.0.2.10",
        40000,
    )
    assert (tcp.bind_if, tcp.connect_timeout, tcp.fwmark, tcp.retry) == ("eth0", 1.5, 7, 0)
    assert (tcp.delay_before_retry, tcp.warmup, tcp.delay_loop, tcp.alpha, tcp.log_all_failures) == (
        0.25,
        0,
        3,
        True,
        True,
    )
    assert list(tcp.env_refs()) == [EnvRef("interface", "eth0", tcp.where("bind_if"), "bind_if of TCP_CHECK")]


def test_checker_destination_defaults_to_the_real_server(write_conf: WriteConf) -> None:
    tcp = only_checker(checker_conf(write_conf, "TCP_CHECK {\n}"))
    assert (tcp.connect_ip, tcp.connect_port) == (ipaddress.ip_address("192.0.2.11"), 80)


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        ("connect_port 0", 10, "connect_port: number '0' outside range [1, 65535]"),
        ("bind_if abcdefghijklmnop", 10, "interface name abcdefghijklmnop is too long"),
        ("fwmark -1", 10, "fwmark: number '-1' outside range [0, 4294967295]"),
        ("connect_ip nowhere", 10, "invalid IP address 'nowhere'"),
        ("retry x", 10, "retry: invalid number 'x'; using the inherited default"),
        ("delay_loop 0", 10, "outside range [0.000001, 18446744073709.551614]"),
        ("bindto 2001:db8::1", 10, "bindto address 2001:db8::1 does not match address family of the real server"),
    ],
)
def test_bad_connection_options(write_conf: WriteConf, body: str, line: int, message: str) -> None:
    loaded = checker_conf(write_conf, f"TCP_CHECK {{\n{body}\n}}")
    assert has(errors(loaded), line, message), errors(loaded)
    tcp = only_checker(loaded)
    assert (tcp.connect_port, tcp.bind_if, tcp.fwmark, tcp.retry, tcp.bindto) == (80, None, 0, 1, None)


def test_later_of_connect_ip_and_bindto_is_dropped_on_family_mismatch(write_conf: WriteConf) -> None:
    loaded = checker_conf(write_conf, "TCP_CHECK {\nbindto 192.0.2.10\nconnect_ip 2001:db8::5\n}")
    tcp = only_checker(loaded)
    assert (str(tcp.bindto), str(tcp.connect_ip)) == ("192.0.2.10", "192.0.2.11")
    assert has(errors(loaded), 11, "connect_ip address 2001:db8::5 does not match address family of bindto")


def test_link_local_destination_needs_bind_if(write_conf: WriteConf) -> None:
    loaded = checker_conf(
        write_conf, "TCP_CHECK {\nconnect_ip fe80::1\n}\nTCP_CHECK {\nconnect_ip fe80::1\nbind_if eth0\n}"
    )
    (tcp,) = only_rs(loaded).checkers
    assert tcp.bind_if == "eth0"
    assert has(errors(loaded), 9, "Checker link local address fe80::1 requires a bind_if")


def test_misc_check(write_conf: WriteConf) -> None:
    loaded = checker_conf(
        write_conf,
        """MISC_CHECK {
           misc_path "/usr/local/bin/check web" --fast
           misc_timeout 4294
           misc_dynamic
           user nobody nogroup
          }
          MISC_CHECK {
           misc_timeout 4295
          }""",
    )
    misc = only_checker(loaded)
    assert misc.misc_path.argv == ("/usr/local/bin/check", "web", "--fast")
    assert (misc.misc_timeout, misc.misc_dynamic, misc.user) == (4294, True, ("nobody", "nogroup"))
    assert (misc.misc_path.user, misc.misc_path.group) == ("nobody", "nogroup")
    assert has(errors(loaded), 16, "misc_timeout: number '4295' outside range [0, 4294]")
    assert has(errors(loaded), 15, "No script path has been specified for MISC_CHECKER - skipping")
    kinds = sorted((r.kind, r.name) for r in misc.env_refs())
    assert kinds == [("group", "nogroup"), ("script", "/usr/local/bin/check"), ("user", "nobody")]
    bad = checker_conf(write_conf, "MISC_CHECK {\nmisc_path /bin/true\nconnect_port 80\n}")
    assert any("unknown keyword 'connect_port' in MISC_CHECK" in m for _, m in warnings(bad))


def test_http_get_and_urls(write_conf: WriteConf) -> None:
    loaded = checker_conf(
        write_conf,
        """HTTP_GET {
           http_protocol 1.0c
           fast_recovery
           enable_sni off
           nb_get_retry 5
           url {
            path /health
            digest 9B3A0C85A887A256D6939DA88AABD8CD
            status_code 200 301-302
            status_code 404 300-303
            virtualhost www.example.com
            regex "^ok \\\\d+"
            regex_no_match
            regex_options caseless multiline bogus
            regex_options caseless
            regex_min_offset 2
            regex_max_offset 10
            regex_stack 32768 65536
           }
           url {
            path /
           }
           url {
            digest 9b3a0c85a887a256d6939da88aabd8cd
           }
          }""",
    )
    http = only_checker(loaded)
    assert (http.kind, http.http_protocol, http.fast_recovery, http.enable_sni, http.retry) == (
        "HTTP_GET",
        "1.0C",
        True,
        False,
        5,
    )
    first, second = http.url
    assert first.digest == "9b3a0c85a887a256d6939da88aabd8cd"
    assert [(r.low, r.high) for r in first.status_code] == [(200, 200), (300, 303), (404, 404)]
    assert [(r.low, r.high) for r in second.status_code] == [(200, 299)]
    assert (first.virtualhost, first.regex, first.regex_no_match) == ("www.example.com", "^ok \\d+", True)
    assert (first.regex_options, first.regex_min_offset, first.regex_max_offset) == (("caseless", "multiline"), 2, 10)
    assert first.regex_stack == (32768, 65536)
    assert has(errors(loaded), 13, "nb_get_retry is deprecated - please use 'retry'")
    assert has(warnings(loaded), 22, "unknown regex option 'bogus' ignored")
    assert has(errors(loaded), 31, "HTTP/SSL_GET checker url has no path - ignoring")


@pytest.mark.parametrize(
    ("line", "message", "severity"),
    [
        ("digest 123", "digest '123' character length should be 32 rather than 3", Severity.ERROR),
        ("digest 9b3a0c85a887a256d6939da88aabd8cz", "Unable to interpret hex digit in", Severity.ERROR),
        ("status_code 99 600 200-100 abc 404-", "Invalid HTTP_GET status code '99'", Severity.ERROR),
        ("virtualhost", "'virtualhost' is missing its argument", Severity.ERROR),
        ("regex a b", "regex missing or too many fields", Severity.WARNING),
        ("regex_min_offset x", "invalid regex_min_offset x", Severity.WARNING),
        ("regex_max_offset 1 2", "regex_max_offset takes exactly one value", Severity.WARNING),
        ("regex_stack 10", "regex_stack requires start and max values", Severity.WARNING),
        ("regex_stack 10 5", "regex stack start cannot exceed max value", Severity.WARNING),
        ("regex_no_match", "regex parameters specified without regex", Severity.WARNING),
    ],
)
def test_bad_url_settings(write_conf: WriteConf, line: str, message: str, severity: Severity) -> None:
    loaded = checker_conf(write_conf, f"SSL_GET {{\nurl {{\npath /\n{line}\n}}\n}}")
    assert any(message in d.message and d.severity == severity for d in loaded.diagnostics), list(loaded.diagnostics)
    (url,) = only_checker(loaded).url
    assert (url.digest, url.regex, url.regex_no_match, url.regex_stack) == (None, None, False, None)


def test_regex_offsets_must_be_ordered(write_conf: WriteConf) -> None:
    loaded = checker_conf(
        write_conf, "HTTP_GET {\nurl {\npath /\nregex x\nregex_min_offset 5\nregex_max_offset 4\n}\n}"
    )
    (url,) = only_checker(loaded).url
    assert (url.regex_min_offset, url.regex_max_offset) == (0, None)
    assert has(warnings(loaded), 13, "regex min offset 5 > regex_max_offset 4 - both ignored")


def test_http_checker_without_urls_is_dropped(write_conf: WriteConf) -> None:
    loaded = checker_conf(write_conf, "HTTP_GET {\n}\nSSL_GET {\n enable_sni\n url {\n path /\n }\n}")
    (ssl,) = only_rs(loaded).checkers
    assert ssl.kind == "SSL_GET" and ssl.enable_sni is True
    assert has(errors(loaded), 9, "HTTP/SSL_GET checker has no urls specified - ignoring")


def test_nb_get_retry_only_exists_in_http_checkers(write_conf: WriteConf) -> None:
    loaded = checker_conf(write_conf, "TCP_CHECK {\nnb_get_retry 3\n}")
    assert any("unknown keyword 'nb_get_retry' in TCP_CHECK" in m for _, m in warnings(loaded))


def test_smtp_check_and_its_hosts(write_conf: WriteConf) -> None:
    loaded = checker_conf(
        write_conf,
        """SMTP_CHECK {
           helo_name "mail.example.com"
           connect_timeout 9
           host {
            connect_ip 192.0.2.51
            connect_port 2525
            retry 4
           }
           host {
            connect_ip 192.0.2.52
           }
          }
          SMTP_CHECK {
           host {
            connect_ip 192.0.2.53
           }
           host {
            connect_ip 192.0.2.54
            connect_timeout 2
           }
          }""",
    )
    top, first_host, second_host, taken, extra = only_rs(loaded).checkers
    assert all(c.kind == "SMTP_CHECK" and c.host == () for c in (top, first_host, second_host, taken, extra))
    # Connection keywords at the top: the checker connects to the real server, each host is one more checker.
    assert (str(top.connect_ip), top.connect_port, top.connect_timeout, top.retry) == ("192.0.2.11", 80, 9, 4)
    assert (str(first_host.connect_ip), first_host.connect_port, first_host.connect_timeout) == ("192.0.2.51", 2525, 9)
    assert first_host.helo_name == "mail.example.com" and first_host.retry == 4
    assert str(second_host.connect_ip) == "192.0.2.52"
    # No connection keywords at the top: the first host is the checker's own connection.
    assert (str(taken.connect_ip), taken.helo_name) == ("192.0.2.53", "smtpchecker.keepalived.org")
    assert (str(extra.connect_ip), extra.connect_timeout) == ("192.0.2.54", 2)
    assert has(warnings(loaded), 12, "'host' is deprecated")
    assert errors(loaded) == []


def test_smtp_helo_name_is_not_a_host_keyword(write_conf: WriteConf) -> None:
    loaded = checker_conf(write_conf, "SMTP_CHECK {\nhost {\nhelo_name x\n}\n}")
    assert any("unknown keyword 'helo_name' in host" in m for _, m in warnings(loaded))


def test_dns_check(write_conf: WriteConf) -> None:
    loaded = checker_conf(
        write_conf,
        """DNS_CHECK {
           type aaaa
           name a.example.com
           name b.example.com
          }
          DNS_CHECK {
           type PTR
           name .bad
          }
          DNS_CHECK {
           name example..com
          }""",
    )
    first, second, third = only_rs(loaded).checkers
    # keepalived 2.2.7 rejects any name whose second character is a dot.
    assert (first.type, first.name) == ("AAAA", "a.example.com")
    assert has(errors(loaded), 12, "'name' already set at line 11")
    assert (second.type, second.name, third.name) == ("SOA", ".", ".")
    assert has(errors(loaded), 15, "invalid value 'PTR' for type")
    assert has(errors(loaded), 16, "DNS_CHECK name '.bad' has empty label")
    assert has(errors(loaded), 19, "DNS_CHECK name 'example..com' has empty label")


def test_udp_check(write_conf: WriteConf) -> None:
    loaded = checker_conf(
        write_conf,
        """UDP_CHECK {
           payload Ab12f 3 456 546443123
           require_reply 0a xX 1
           min_reply_length 10
           max_reply_length 65535
          }
          UDP_CHECK {
           require_reply
           payload zz
           min_reply_length 300
          }
          UDP_CHECK {
           require_reply 0g
          }""",
    )
    first, second, third = only_rs(loaded).checkers
    assert first.payload == "ab120f0345065464431203"
    assert first.require_reply == "0axx01"
    assert (first.min_reply_length, first.max_reply_length) == (10, 65535)
    assert (second.payload, second.require_reply, second.max_reply_length) == (None, "", 255)
    assert has(errors(loaded), 17, "Invalid hex string for UDP_CHECK payload")
    assert has(errors(loaded), 18, "UDP_CHECK min_reply length 300 > max_reply_length 255 - will always fail")
    assert third.require_reply == ""
    assert has(errors(loaded), 21, "Invalid hex string for UDP_CHECK reply")


def test_file_check(write_conf: WriteConf) -> None:
    loaded = checker_conf(
        write_conf,
        """FILE_CHECK {
           track_file weights
          }
          FILE_CHECK {
           track_file weights
           weight -5 reverse
          }
          FILE_CHECK {
           track_file missing
          }
          FILE_CHECK {
           weight 3
          }
          FILE_CHECK {
           track_file weights
           weight 2 sideways
           dynamic
          }""",
        pre="track_file weights {\n file /run/weights\n weight 7 reverse\n}",
    )
    default, own, dynamic = only_rs(loaded).checkers
    assert (default.track_file, default.weight.value, default.weight.reverse) == ("weights", 7, True)
    assert (own.weight.value, own.weight.reverse) == (-5, True)
    assert dynamic.dynamic is True and dynamic.weight.value == 7
    assert has(errors(loaded), 20, "track_file missing not found")
    assert has(errors(loaded), 19, "FILE_CHECK has no track_file specified - ignoring")
    assert has(errors(loaded), 22, "FILE_CHECK has no track_file specified - ignoring")
    assert has(errors(loaded), 27, "unknown track file weight option sideways")
    assert has(warnings(loaded), 28, "FILE_CHECK 'dynamic' is not known to keepalived 2.2")
    assert not any("retry" in m for _, m in errors(loaded))


def test_file_check_needs_the_track_file_defined_first(write_conf: WriteConf) -> None:
    loaded = conf(
        write_conf,
        f"""\
        virtual_server 192.0.2.1 80 {{
         {SERVICE}
         real_server 192.0.2.11 80 {{
          FILE_CHECK {{
           track_file later
          }}
         }}
        }}
        track_file later {{
         file /run/later
        }}
        """,
    )
    assert only_rs(loaded).checkers == ()
    assert has(errors(loaded), 7, "track_file later not found: it is defined later, at line 11")


def test_bfd_check(write_conf: WriteConf) -> None:
    loaded = checker_conf(
        write_conf,
        """BFD_CHECK {
           name link1
           alpha
          }
          BFD_CHECK {
           name link1
          }
          BFD_CHECK {
           name nowhere
          }
          BFD_CHECK {
           name a b
          }
          BFD_CHECK {
           name abcdefghijklmnopqrstuvwxyz0123456
          }""",
        pre="bfd_instance link1 {\n neighbor_ip 192.0.2.11\n}",
        rs_extra="alpha off",
    )
    (bfd,) = only_rs(loaded).checkers
    assert (bfd.kind, bfd.name, bfd.alpha) == ("BFD_CHECK", "link1", True)
    assert has(errors(loaded), 16, "BFD_CHECK - RS already monitoring link1")
    assert has(errors(loaded), 19, "BFD_CHECK - BFD nowhere not found")
    assert has(errors(loaded), 22, "BFD_CHECK name missing or extra parameters")
    assert has(errors(loaded), 25, "BFD name abcdefghijklmnopqrstuvwxyz0123456 too long")


def test_a_quote_right_after_the_keyword(write_conf: WriteConf) -> None:
    loaded = checker_conf(
        write_conf, 'HTTP_GET {\nurl {\npath /\nregex"^ok"\n}\n}\nMISC_CHECK {\nmisc_path"/bin/true -q"\n}'
    )
    http, misc = only_rs(loaded).checkers
    assert (http.url[0].regex, misc.misc_path.argv) == ("^ok", ("/bin/true", "-q"))
    assert errors(loaded) == []


def test_checkers_only_belong_in_real_servers(write_conf: WriteConf) -> None:
    loaded = checker_conf(write_conf, "", vs_extra="TCP_CHECK {\n}")
    assert any("unknown keyword 'TCP_CHECK' in virtual_server" in m for _, m in warnings(loaded))
    rs_kind = checker_conf(write_conf, "", rs_extra="lb_kind DR")
    assert any("unknown keyword 'lb_kind' in real_server" in m for _, m in warnings(rs_kind))


# ------------------------------------------------------------------ SSL


def test_ssl_block(write_conf: WriteConf) -> None:
    loaded = conf(
        write_conf,
        "SSL {\n password secret\n ca /etc/ca.pem\n certificate /etc/c.pem\n key /etc/k.pem\n ca /etc/other.pem\n}\n",
    )
    ssl = loaded.config.ssl
    assert isinstance(ssl, SslConfig)
    assert (ssl.password, ssl.ca, ssl.certificate, ssl.key) == ("secret", "/etc/other.pem", "/etc/c.pem", "/etc/k.pem")
    assert errors(loaded) == [(6, "'ca' already set at line 3; replaced by this one")]
    assert [(r.kind, r.name) for r in ssl.env_refs()] == [
        ("file", "/etc/other.pem"),
        ("file", "/etc/c.pem"),
        ("file", "/etc/k.pem"),
    ]


# ------------------------------------------------------------------ environment references


def test_scripts_of_virtual_and_real_servers_are_environment_references(write_conf: WriteConf) -> None:
    loaded = checker_conf(
        write_conf,
        "",
        vs_extra='quorum_up /bin/up\n quorum_down "/bin/down now" root',
        rs_extra="notify_down /bin/rsdown",
    )
    vs = only_vs(loaded)
    assert [(r.kind, r.name) for r in vs.env_refs()] == [
        ("script", "/bin/up"),
        ("script", "/bin/down"),
        ("user", "root"),
    ]
    assert [(r.kind, r.name) for r in only_rs(loaded).env_refs()] == [("script", "/bin/rsdown")]


# ------------------------------------------------------------------ round trip and robustness

ROUND_TRIP = """\
global_defs {
 smtp_alert_checker on
}
track_file tf {
 file /run/tf
}
bfd_instance b1 {
 neighbor_ip 192.0.2.11
}
virtual_server_group G {
 192.0.2.1-20 80
 192.0.2.64/26 80
 2001:db8::1-ff 80
 fwmark 9 inet
}
virtual_server_group F {
 fwmark 10
}
virtual_server 192.0.2.100 443 {
 lb_algo sh
 sh-port
 lb_kind TUN type gue port 6080 csum
 protocol tcp
 persistence_granularity 255.255.0.0
 persistence_engine sip
 ha_suspend
 alpha
 omega
 quorum 2
 hysteresis 1
 quorum_up "/bin/echo up" nobody
 virtualhost www.example.com
 snmp_name web
 weight 2
 delay_loop 7.5
 connect_timeout 3
 retry 2
 delay_before_retry 1.25
 sorry_server 192.0.2.99
 sorry_server_inhibit
 sorry_server_lvs_method DR
 real_server 192.0.2.11 443 {
  weight 3
  uthreshold 100
  lthreshold 10
  notify_up /bin/true
  HTTP_GET {
   url {
    path "/a b"
    status_code 200 404-410
    regex "^x\\\\d{2}\\"y"
    regex_options caseless
   }
  }
  SMTP_CHECK {
   host {
    connect_ip 192.0.2.7
   }
   host {
    connect_ip 192.0.2.8
   }
  }
  UDP_CHECK {
   payload 0102
   require_reply 0x
  }
  DNS_CHECK {
   name example.com.
  }
  MISC_CHECK {
   misc_path "/bin/check 'a b'" c
   user nobody
  }
  FILE_CHECK {
   track_file tf
  }
  BFD_CHECK {
   name b1
  }
  PING_CHECK {
   bind_if eth0
  }
 }
 real_server 2001:db8::5 443 {
  lvs_method TUN
 }
}
virtual_server fwmark 12 {
 lvs_sched rr
 lvs_method DR
 real_server 192.0.2.30 {
  TCP_CHECK {
   connect_port 22
  }
 }
}
virtual_server group G {
 protocol UDP
 ops
 lvs_sched wrr
 lvs_method TUN
 real_server 192.0.2.40 {
 }
}
virtual_server group F {
 lvs_sched wrr
 lvs_method TUN
 real_server 2001:db8::40 {
 }
}
SSL {
 ca /etc/ca.pem
}
"""


def test_round_trip_through_the_text_dump(write_conf: WriteConf, tmp_path: Path) -> None:
    first = conf(write_conf, ROUND_TRIP)
    assert errors(first) == [], errors(first)
    text = to_text(first.config)
    again = load(str(write_conf(text, name="dumped.conf")), config_id="test")
    assert errors(again) == [], errors(again)
    assert to_json_document(again.config) == to_json_document(first.config)
    assert not any("unknown keyword" in m for _, m in warnings(again))
    vs = first.config.virtual_servers[0]
    assert len(vs.real_servers[0].checkers) == 9  # the SMTP hosts became two checkers
    assert vs.real_servers[0].checkers[0].url[0].regex == '^x\\d{2}"y'


_ODD_ARGUMENTS = ("", "0", "-1", "abc", "1.5", "4294967296", "192.0.2.1", "fe80::1", "a b c", "TUN type gue", "..")


def _keywords(cls: type[Any]) -> list[str]:
    return [k for k in grammar_of(cls).keywords if k]


@pytest.mark.parametrize(
    "cls",
    [VirtualServer, RealServer, *checkers_other.CHECKER_TYPES.values(), checker_http.Url, checkers_other.SmtpHost],
)
def test_no_argument_crashes_the_model(write_conf: WriteConf, cls: type[Any]) -> None:
    lines = "\n".join(f"{k} {a}" for k in _keywords(cls) if k[0].islower() for a in _ODD_ARGUMENTS)
    wrappers = {
        VirtualServer: "virtual_server 192.0.2.1 80 {{\n{}\n real_server 192.0.2.2 80 {{\n}}\n}}\n",
        RealServer: "virtual_server 192.0.2.1 80 {{\n real_server 192.0.2.2 80 {{\n{}\n}}\n}}\n",
        checker_http.Url: "virtual_server 192.0.2.1 80 {{\n real_server 192.0.2.2 80 {{\nHTTP_GET {{\n"
        "url {{\npath /\n{}\n}}\n}}\n}}\n}}\n",
        checkers_other.SmtpHost: "virtual_server 192.0.2.1 80 {{\n real_server 192.0.2.2 80 {{\nSMTP_CHECK {{\n"
        "host {{\n{}\n}}\n}}\n}}\n}}\n",
    }
    template = wrappers.get(
        cls,
        f"virtual_server 192.0.2.1 80 {{{{\n real_server 192.0.2.2 80 {{{{\n"
        f"{cls.block_keyword} {{{{\n{{}}\n}}}}\n}}}}\n}}}}\n",
    )
    loaded = conf(write_conf, template.format(lines))
    again = load(str(write_conf(to_text(loaded.config), name="again.conf")), config_id="test")
    assert to_json_document(again.config) == to_json_document(loaded.config)
