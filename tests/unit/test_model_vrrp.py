"""vrrp_instance and vrrp_sync_group: defaults, ranges, completion rules and cross-references."""

from __future__ import annotations

from conf.diagnostics import Severity
from conf.dump import to_json_document, to_text
from conf.load import Loaded, load
from conf.model.vrrp import VrrpInstance
from tests.conftest import WriteConf

BASE = """\
vrrp_instance VI_1 {{
    interface eth0
    virtual_router_id 51
{body}
    virtual_ipaddress {{
        192.0.2.100/24
    }}
}}
"""


def instance(write_conf: WriteConf, body: str = "", head: str = "") -> tuple[VrrpInstance | None, Loaded]:
    loaded = load(str(write_conf(head + BASE.format(body=body))), config_id="node")
    instances = loaded.config.vrrp_instances
    return (instances[0] if instances else None), loaded


def messages(loaded: Loaded, severity: Severity | None = None) -> list[tuple[int, str]]:
    return [(d.loc.line, d.message) for d in loaded.diagnostics if severity is None or d.severity == severity]


def test_defaults(write_conf: WriteConf) -> None:
    vi, loaded = instance(write_conf)
    assert vi is not None
    assert messages(loaded) == []
    assert (vi.state, vi.priority, vi.advert_int, vi.version) == ("BACKUP", 100, 1.0, 2)
    assert (vi.nopreempt, vi.preempt_delay, vi.accept, vi.strict_mode) == (False, 0.0, True, False)
    assert (vi.garp_master_delay, vi.garp_master_repeat, vi.garp_lower_prio_delay) == (5, 5, 5)
    assert vi.down_timer_adverts == 3
    assert vi.smtp_alert is False and vi.notify_priority_changes is False


def test_out_of_range_priority_keeps_the_default_with_an_error(write_conf: WriteConf) -> None:
    vi, loaded = instance(write_conf, "    priority 300")
    assert vi is not None and vi.priority == 100
    [(line, text)] = messages(loaded, Severity.ERROR)
    assert line == 4 and "300" in text and "using default 100" in text
    assert loaded.diagnostics.exit_code() == 5


def test_priority_boundaries(write_conf: WriteConf) -> None:
    for value, ok in (("1", True), ("255", True), ("0", False), ("256", False), ("abc", False)):
        vi, loaded = instance(write_conf, f"    priority {value}")
        assert vi is not None
        assert (vi.priority == int(value)) if ok else (vi.priority == 100), value
        assert bool(messages(loaded, Severity.ERROR)) != ok, value


def test_state_master_without_priority_is_the_address_owner(write_conf: WriteConf) -> None:
    vi, _ = instance(write_conf, "    state MASTER")
    assert vi is not None and (vi.state, vi.priority) == ("MASTER", 255)


def test_priority_255_without_state_starts_as_master(write_conf: WriteConf) -> None:
    vi, _ = instance(write_conf, "    priority 255")
    assert vi is not None and vi.state == "MASTER"


def test_missing_vrid_removes_the_instance(write_conf: WriteConf) -> None:
    path = write_conf("vrrp_instance VI_9 {\n interface eth0\n virtual_ipaddress { 192.0.2.1 }\n}\n")
    loaded = load(str(path), config_id="node")
    assert loaded.config.vrrp_instances == ()
    assert any(d.loc.line == 1 and "virtual router id must be set" in d.message for d in loaded.diagnostics)


def test_ipv6_vips_mean_version_3(write_conf: WriteConf) -> None:
    path = write_conf(
        "vrrp_instance V6 {\n interface eth0\n virtual_router_id 9\n"
        " virtual_ipaddress {\n  fe80::1\n  2001:db8::10/64\n }\n}\n"
    )
    [vi] = load(str(path), config_id="node").config.vrrp_instances
    assert vi.version == 3 and vi.family == 6


def test_mixed_families_drop_the_odd_address(write_conf: WriteConf) -> None:
    path = write_conf(
        "vrrp_instance V {\n interface eth0\n virtual_router_id 9\n"
        " virtual_ipaddress {\n  192.0.2.1\n  2001:db8::1\n }\n}\n"
    )
    loaded = load(str(path), config_id="node")
    [vi] = loaded.config.vrrp_instances
    assert [str(a.address.ip) for a in vi.virtual_ipaddress] == ["192.0.2.1"]
    assert any(d.loc.line == 6 and d.severity == Severity.ERROR for d in loaded.diagnostics)


def test_advert_interval_rules_per_version(write_conf: WriteConf) -> None:
    vi, loaded = instance(write_conf, "    advert_int 1.4")
    assert vi is not None and vi.advert_int == 1.0
    assert any("must be an integer" in t for _, t in messages(loaded))
    vi, loaded = instance(write_conf, "    version 3\n    advert_int 0.234")
    assert vi is not None and vi.advert_int == 0.23
    vi, loaded = instance(write_conf, "    version 3\n    advert_int 50")
    assert vi is not None and vi.advert_int == 40.95


def test_nopreempt_with_state_master_is_cleared_with_a_warning(write_conf: WriteConf) -> None:
    vi, loaded = instance(write_conf, "    state MASTER\n    priority 150\n    nopreempt\n    preempt_delay 10")
    assert vi is not None and not vi.nopreempt and vi.preempt_delay == 0
    warnings = messages(loaded, Severity.WARNING)
    assert [line for line, _ in warnings] == [6, 7]
    assert "state BACKUP" in warnings[0][1]
    assert loaded.diagnostics.exit_code() == 0


def test_preempt_undoes_nopreempt(write_conf: WriteConf) -> None:
    vi, _ = instance(write_conf, "    nopreempt\n    preempt")
    assert vi is not None and not vi.nopreempt


def test_long_auth_pass_is_truncated_on_the_wire_with_a_warning(write_conf: WriteConf) -> None:
    vi, loaded = instance(
        write_conf, "    authentication {\n        auth_type PASS\n        auth_pass 123456789abc\n    }"
    )
    assert vi is not None and vi.authentication is not None
    assert vi.authentication.wire_password == b"12345678"
    [(line, text)] = messages(loaded, Severity.WARNING)
    assert line == 6 and "'12345678'" in text


def test_short_auth_pass_is_zero_padded(write_conf: WriteConf) -> None:
    vi, _ = instance(write_conf, "    authentication {\n        auth_type PASS\n        auth_pass xxx\n    }")
    assert vi is not None and vi.authentication is not None
    assert vi.authentication.wire_password == b"xxx\0\0\0\0\0"


def test_authentication_is_dropped_for_version_3(write_conf: WriteConf) -> None:
    vi, loaded = instance(
        write_conf, "    version 3\n    authentication {\n        auth_type PASS\n        auth_pass x\n    }"
    )
    assert vi is not None and vi.authentication is None
    assert any("version 3 does not support authentication" in t for _, t in messages(loaded, Severity.ERROR))


def test_strict_mode_forces_rfc_behaviour(write_conf: WriteConf) -> None:
    vi, loaded = instance(write_conf, "    strict_mode\n    state MASTER\n    priority 200")
    assert vi is not None
    assert vi.state == "BACKUP"  # MASTER must be the address owner in strict mode
    assert vi.accept is False and vi.lower_prio_no_advert is True and vi.garp_lower_prio_repeat == 0
    assert any("must match being address owner" in t for _, t in messages(loaded, Severity.ERROR))


def test_globals_are_inherited(write_conf: WriteConf) -> None:
    head = "global_defs {\n    vrrp_garp_master_delay 10\n    vrrp_version 3\n    vrrp_strict\n}\n"
    vi, _ = instance(write_conf, "", head=head)
    assert vi is not None
    assert (vi.garp_master_delay, vi.version, vi.strict_mode) == (10, 3, True)


def test_unicast_peers_and_ttl(write_conf: WriteConf) -> None:
    vi, loaded = instance(
        write_conf,
        "    unicast_src_ip 192.0.2.10\n    unicast_peer {\n        192.0.2.11 min_ttl 250\n"
        "        192.0.2.12\n        not-an-ip\n    }",
    )
    assert vi is not None and vi.unicast
    assert [(str(p.address), p.min_ttl, p.max_ttl) for p in vi.unicast_peer] == [
        ("192.0.2.11", 250, 255),
        ("192.0.2.12", 0, 255),
    ]
    assert [line for line, _ in messages(loaded, Severity.ERROR)] == [8]


def test_unicast_keyword_without_peers_warns(write_conf: WriteConf) -> None:
    vi, loaded = instance(write_conf, "    unicast_src_ip 192.0.2.10")
    assert vi is not None and not vi.unicast
    assert any("without any unicast peers" in t for _, t in messages(loaded, Severity.WARNING))


def test_notify_scripts_first_one_stands(write_conf: WriteConf) -> None:
    vi, loaded = instance(
        write_conf,
        '    notify_master "/etc/keepalived/notify.sh master" root\n    notify_master /bin/other',
    )
    assert vi is not None and vi.notify_master is not None
    assert vi.notify_master.argv == ("/etc/keepalived/notify.sh", "master")
    assert vi.notify_master.user == "root"
    assert [line for line, _ in messages(loaded, Severity.ERROR)] == [5]


def test_undefined_track_script_is_an_error_at_the_referencing_line(write_conf: WriteConf) -> None:
    vi, loaded = instance(write_conf, "    track_script {\n        chk_missing\n    }")
    assert vi is not None and vi.track_script == ()
    [(line, text)] = messages(loaded, Severity.ERROR)
    assert line == 5 and "chk_missing not found" in text


def test_track_weights(write_conf: WriteConf) -> None:
    head = 'vrrp_script chk {\n    script "/bin/true"\n    weight -20\n}\n'
    vi, loaded = instance(
        write_conf,
        "    track_script {\n        chk weight 10 reverse\n    }\n    track_interface {\n"
        "        eth1 weight 254\n        eth2 weight\n    }",
        head=head,
    )
    assert vi is not None
    assert [(r.name, r.weight, r.reverse) for r in vi.track_script] == [("chk", 10, True)]
    assert [(r.name, r.weight) for r in vi.track_interface] == [("eth1", 253)]
    errors = messages(loaded, Severity.ERROR)
    assert [line for line, _ in errors] == [12, 13]


def test_sync_group_members_and_weights(write_conf: WriteConf) -> None:
    text = (
        'vrrp_script chk {\n    script "/bin/true"\n    weight 5\n}\n'
        "vrrp_sync_group G {\n    group {\n        VI_1 VI_2\n        VI_404\n    }\n}\n"
        + BASE.format(body="    track_script {\n        chk\n    }")
        + BASE.format(body="").replace("VI_1", "VI_2").replace("51", "52")
    )
    loaded = load(str(write_conf(text)), config_id="node")
    [group] = loaded.config.vrrp_sync_groups
    assert [m.name for m in group.group] == ["VI_1", "VI_2"]
    errors = messages(loaded, Severity.ERROR)
    assert (8, "Virtual router VI_404 specified in sync group G doesn't exist - ignoring") in errors
    # keepalived ignores weighted track scripts of sync group members
    assert loaded.config.vrrp_instances[0].track_script == ()
    assert any(line == 15 and "SYNC group" in t for line, t in errors)


def test_one_member_sync_group_warns(write_conf: WriteConf) -> None:
    text = "vrrp_sync_group G {\n    group {\n        VI_1\n    }\n}\n" + BASE.format(body="")
    loaded = load(str(write_conf(text)), config_id="node")
    assert len(loaded.config.vrrp_sync_groups) == 1
    assert any(line == 1 and "only one member" in t for line, t in messages(loaded, Severity.WARNING))


def test_duplicate_instance_name(write_conf: WriteConf) -> None:
    text = BASE.format(body="") + BASE.format(body="").replace("51", "52")
    loaded = load(str(write_conf(text)), config_id="node")
    assert [vi.virtual_router_id for vi in loaded.config.vrrp_instances] == [51]
    assert any(line == 9 and "already defined" in t for line, t in messages(loaded, Severity.ERROR))


def test_round_trip_through_the_text_dump(write_conf: WriteConf) -> None:
    head = "vrrp_script chk {\n    script \"/bin/check 'a b'\"\n    weight -20 reverse\n}\n"
    body = (
        "    state MASTER\n    priority 150\n    advert_int 2\n    nopreempt\n"
        "    track_script {\n        chk weight 10\n    }\n"
        '    notify "/bin/n x" root\n    use_vmac vrrp51 00:00:5e:00:02\n'
        "    unicast_peer {\n        192.0.2.2 max_ttl 200\n    }\n"
    )
    first = load(str(write_conf(head + BASE.format(body=body))), config_id="node")
    again = load(str(write_conf(to_text(first.config), "dumped.conf")), config_id="node")
    assert to_json_document(again.config) == to_json_document(first.config)


def test_undefined_track_file_and_process_are_errors_at_the_referencing_lines(write_conf: WriteConf) -> None:
    head = "track_file tf {\n    file /run/hk-tf\n}\n"
    vi, loaded = instance(
        write_conf,
        "    track_file {\n        tf weight 0\n        tf_missing\n    }\n"
        "    track_process {\n        nginx_missing\n    }",
        head=head,
    )
    assert vi is not None
    assert [r.name for r in vi.track_file] == ["tf"] and vi.track_process == ()
    errors = messages(loaded, Severity.ERROR)
    assert (9, "(VI_1) track file tf_missing not found, ignoring...") in errors
    assert (12, "(VI_1) track process nginx_missing not found, ignoring...") in errors
