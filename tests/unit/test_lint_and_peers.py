"""Single-file lint and the cross-node simulation of check-config."""

from __future__ import annotations

from pathlib import Path

import pytest

from conf.check import check_files
from conf.diagnostics import Severity
from conf.environment import Machine
from tests.conftest import WriteConf

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "guide"


class NoMachineChecks(Machine):
    """A machine with every interface, user and script the tests name: only the file is judged."""

    def interfaces(self) -> frozenset[str]:
        return frozenset({"eth0", "eth1", "eth2"})

    def user_exists(self, name: str) -> bool:
        return True

    def script_file(self, command: str) -> None:
        return None


def warnings_of(report_lines: list[str]) -> list[str]:
    return [line for line in report_lines if ": warning: " in line]


def instance(name: str, vrid: int, vip: str, extra: str = "", interface: str = "eth0") -> str:
    return (
        f"vrrp_instance {name} {{\n    interface {interface}\n    virtual_router_id {vrid}\n{extra}"
        f"    virtual_ipaddress {{\n        {vip}\n    }}\n}}\n"
    )


def test_duplicate_vrid_on_one_interface(write_conf: WriteConf) -> None:
    path = write_conf(instance("A", 7, "192.0.2.1") + instance("B", 7, "192.0.2.2"))
    lines = check_files(str(path), machine=NoMachineChecks()).lines()
    assert any(":10: warning:" in line and "virtual_router_id 7 is also used by A" in line for line in lines)


def test_same_vrid_on_other_interfaces_or_non_overlapping_unicast_is_fine(write_conf: WriteConf) -> None:
    unicast = "    unicast_src_ip 192.0.2.9\n    unicast_peer {{\n        {peer}\n    }}\n"
    path = write_conf(
        instance("A", 7, "192.0.2.1")
        + instance("B", 7, "192.0.2.2", interface="eth1")
        + instance("C", 8, "192.0.2.3", unicast.format(peer="192.0.2.20"))
        + instance("D", 8, "192.0.2.4", unicast.format(peer="192.0.2.21"))
    )
    assert not any("also used by" in line for line in check_files(str(path), machine=NoMachineChecks()).lines())


def test_same_vip_in_two_instances(write_conf: WriteConf) -> None:
    path = write_conf(instance("A", 7, "192.0.2.1/24") + instance("B", 8, "192.0.2.1/32"))
    lines = check_files(str(path), machine=NoMachineChecks()).lines()
    assert any(":12: warning:" in line and "VIP 192.0.2.1 is also in A" in line for line in lines)


def test_owner_with_trackers(write_conf: WriteConf) -> None:
    script = 'vrrp_script chk {\n    script "/bin/true"\n}\n'
    path = write_conf(
        script + instance("A", 7, "192.0.2.1", "    priority 255\n    track_script {\n        chk\n    }\n")
    )
    lines = check_files(str(path), machine=NoMachineChecks()).lines()
    assert any(":9: warning:" in line and "priority 255" in line for line in lines)


def test_weight_zero_script_goes_to_fault(write_conf: WriteConf) -> None:
    script = 'vrrp_script chk {\n    script "/bin/true"\n}\n'
    path = write_conf(script + instance("A", 7, "192.0.2.1", "    track_script {\n        chk\n    }\n"))
    lines = check_files(str(path), machine=NoMachineChecks()).lines()
    assert any(":8: warning:" in line and "weight 0" in line and "FAULT" in line for line in lines)


def test_guide_configs_are_clean_apart_from_this_machine() -> None:
    for name in ("master.conf", "backup.conf"):
        report = check_files(str(FIXTURES / name), machine=NoMachineChecks())
        assert report.exit_code == 0, report.lines()


def test_guide_configs_cannot_fail_over_when_check_nginx_fails() -> None:
    """The guide's own pair: +2 on both sides and nopreempt on the backup keep the VIP on A."""
    report = check_files(str(FIXTURES / "master.conf"), [str(FIXTURES / "backup.conf")], machine=NoMachineChecks())
    [finding] = [line for line in report.lines() if "failing on master" in line]
    assert finding.startswith(f"{FIXTURES / 'master.conf'}:22: warning:")
    assert "check_nginx failing on master leaves master at 100 (100 +0) vs backup at 101 (99 +2)" in finding
    assert "nopreempt" in finding
    assert report.exit_code == 0


def pair(write_conf: WriteConf, a_extra: str, b_extra: str, weight: int) -> list[str]:
    script = f'vrrp_script chk {{\n    script "/bin/true"\n    weight {weight}\n}}\n'
    track = "    track_script {\n        chk\n    }\n"
    a = write_conf(script + instance("VI_1", 15, "192.0.2.50", a_extra + track), "A.conf")
    b = write_conf(script + instance("VI_1", 15, "192.0.2.50", b_extra + track), "B.conf")
    return check_files(str(a), [str(b)], machine=NoMachineChecks()).lines()


@pytest.mark.parametrize(
    ("a_prio", "b_prio", "weight", "stuck", "phrase"),
    [
        (100, 99, 2, False, ""),  # 100 vs 101: B takes over
        (100, 90, 2, True, "need |weight| above 10"),  # 100 vs 92: cannot move
        (100, 98, 2, True, "equal priority"),  # 100 vs 100: no preemption on a tie
        (100, 90, -20, False, ""),  # 80 vs 90: B takes over
        (100, 90, -5, True, "need |weight| above 10"),  # 95 vs 90
    ],
)
def test_failover_arithmetic(
    write_conf: WriteConf, a_prio: int, b_prio: int, weight: int, stuck: bool, phrase: str
) -> None:
    lines = pair(write_conf, f"    priority {a_prio}\n", f"    priority {b_prio}\n", weight)
    found = [line for line in lines if "failing on A" in line]
    assert bool(found) == stuck, lines
    if stuck:
        assert phrase in found[0]


def test_peer_mismatches_are_reported(write_conf: WriteConf) -> None:
    a = write_conf(instance("VI_1", 15, "192.0.2.50", "    advert_int 1\n"), "A.conf")
    b = write_conf(
        instance(
            "VI_1",
            15,
            "192.0.2.51",
            "    advert_int 2\n    authentication {\n        auth_type PASS\n        auth_pass secret\n    }\n",
        ),
        "B.conf",
    )
    lines = warnings_of(check_files(str(a), [str(b)], machine=NoMachineChecks()).lines())
    assert any("advert_int 1 and 2" in line for line in lines)
    assert any("different authentication" in line for line in lines)
    assert any("different VIP lists" in line and "192.0.2.50" in line and "192.0.2.51" in line for line in lines)


def test_instance_without_a_peer(write_conf: WriteConf) -> None:
    a = write_conf(instance("VI_1", 15, "192.0.2.50") + instance("VI_2", 16, "192.0.2.60"), "A.conf")
    b = write_conf(instance("VI_1", 15, "192.0.2.50"), "B.conf")
    lines = check_files(str(a), [str(b)], machine=NoMachineChecks()).lines()
    assert any("(VI_2) no instance with virtual_router_id 16" in line for line in lines)


def test_fault_weight_zero_moves_the_vip(write_conf: WriteConf) -> None:
    lines = pair(write_conf, "    priority 200\n", "    priority 100\n", 0)
    assert not any("failing on A" in line for line in lines)


def test_exit_codes(write_conf: WriteConf, tmp_path: Path) -> None:
    assert check_files(str(tmp_path / "missing.conf")).exit_code == 4
    bad = write_conf(instance("A", 7, "192.0.2.1", "    priority 999\n"))
    assert check_files(str(bad), machine=NoMachineChecks()).exit_code == 5
    assert Severity.ERROR <= Severity.FATAL


def test_one_file_for_both_nodes_with_config_ids(write_conf: WriteConf) -> None:
    """keepalived's conditional configuration: the same file is both nodes, told apart by @id lines."""
    script = 'vrrp_script chk {\n    script "/bin/true"\n    weight 2\n}\n'
    body = "@main    priority 100\n@backup  priority 90\n    track_script {\n        chk\n    }\n"
    path = write_conf(script + instance("VI_1", 15, "192.0.2.50", body))
    lines = check_files(str(path), [f"{path}@backup"], config_id="main", machine=NoMachineChecks()).lines()
    [finding] = [line for line in lines if "failing on" in line]
    assert "leaves keepalived at 100 (100 +0) vs keepalived@backup at 92 (90 +2)" in finding
