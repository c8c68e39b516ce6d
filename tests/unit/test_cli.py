"""The hakeeper command: check-config and dump-config as users run them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conf.jsondoc import render
from services.cli import main
from tests.conftest import WriteConf

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "tests" / "fixtures" / "guide"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_check_config_prints_file_line_severity(capsys: pytest.CaptureFixture[str], write_conf: WriteConf) -> None:
    path = write_conf("vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 51\n    prority 100\n"
                      "    priority 300\n    virtual_ipaddress { 192.0.2.1 }\n}\n")
    code, out, err = run(capsys, "check-config", "-f", str(path))
    assert code == 5 and out == ""
    assert f"{path}:4: warning: unknown keyword 'prority' in vrrp_instance; did you mean 'priority'?" in err
    assert f"{path}:5: error: priority: number '300' outside range [1, 255]; using default 100" in err


def test_check_config_missing_file_cannot_run(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "check-config", "-f", str(tmp_path / "nope.conf"))
    assert code == 4
    assert f"{tmp_path / 'nope.conf'}: error: cannot open configuration file" in err


def test_dump_config_json_is_the_documented_shape(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "dump-config", "--json", "-f", str(GUIDE / "master.conf"))
    assert code == 0
    document = json.loads(out)
    assert document["schema_version"] == 1
    assert document["global_defs"]["router_id"] == "proxy-keepalived"
    [script] = document["vrrp_scripts"]
    assert (script["name"], script["interval"], script["weight"]) == ("check_nginx", 3, {"value": 2, "reverse": False})
    assert script["script"]["argv"] == ["/etc/keepalived/scripts/check_nginx.sh"]
    [vi] = document["vrrp_instances"]
    assert (vi["name"], vi["state"], vi["interface"], vi["virtual_router_id"]) == ("VI_1", "BACKUP", "eth2", 15)
    assert (vi["priority"], vi["advert_int"], vi["nopreempt"], vi["version"]) == (100, 1, True, 2)
    assert vi["authentication"] == {"auth_type": "PASS", "auth_pass": "xxx"}
    assert [a["address"] for a in vi["virtual_ipaddress"]] == ["180.101.115.139/32", "218.98.38.29/32"]
    assert vi["track_script"] == [{"name": "check_nginx", "weight": None, "reverse": None}]
    assert vi["notify_master"]["argv"] == ["/etc/keepalived/keepalived_notify.sh", "master"]
    assert vi["garp_master_delay"] == 5 and vi["garp_master_repeat"] == 5


def test_dump_config_text_reads_back(capsys: pytest.CaptureFixture[str], write_conf: WriteConf) -> None:
    code, out, _ = run(capsys, "dump-config", "-f", str(GUIDE / "backup.conf"))
    assert code == 0 and "priority 99" in out and "nopreempt" in out
    again = write_conf(out, "dumped.conf")
    _, first, _ = run(capsys, "dump-config", "--json", "-f", str(GUIDE / "backup.conf"))
    _, second, _ = run(capsys, "dump-config", "--json", "-f", str(again))
    assert json.loads(first) == json.loads(second)


def test_garbage_never_shows_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "garbage.conf"
    path.write_bytes(b"\xff\xfe\x00vrrp_instance {{{ \x1b[31m\n\"unterminated\n$X=$X$X\nvalue $X\n}}}}\n")
    for command in ("check-config", "dump-config"):
        proc = subprocess.run(
            [sys.executable, "-m", "services.cli", command, "-f", str(path)],
            capture_output=True, text=True, check=False, cwd=ROOT,
        )
        assert "Traceback" not in proc.stderr
        assert proc.returncode in (0, 4, 5, 6)
        assert all(line.startswith(str(path)) for line in proc.stderr.splitlines())
        assert "\x1b" not in proc.stderr  # control characters from the file are escaped


def test_json_reference_is_up_to_date() -> None:
    assert (ROOT / "docs" / "config-json.md").read_text() == render(), "regenerate: python -m conf.jsondoc"
