"""Includes, conditional lines, parameters, ~SEQ and ~LST: one golden test per feature."""

from __future__ import annotations

import os
from pathlib import Path

from conf.diagnostics import Severity
from tests.conftest import WriteConf, expand


def texts(path: Path, config_id: str = "main") -> list[str]:
    lines, _ = expand(path, config_id)
    return [text for _, text in lines]


def test_include_is_relative_to_the_including_file(write_conf: WriteConf) -> None:
    write_conf("a 1\ninclude inner/*.conf\nb 2\n", "etc/keepalived.conf")
    write_conf("from_x\n", "etc/inner/x.conf")
    write_conf("from_y\ninclude ../deeper/z.conf\n", "etc/inner/y.conf")
    write_conf("from_z\n", "etc/deeper/z.conf")
    main = write_conf("include etc/keepalived.conf\n", "top.conf")
    assert texts(main) == ["a 1", "from_x", "from_y", "from_z", "b 2"]


def test_include_reports_locations_in_the_included_file(write_conf: WriteConf, tmp_path: Path) -> None:
    write_conf("\n\nthird_line\n", "inc.conf")
    main = write_conf("include inc.conf\n")
    lines, _ = expand(main)
    assert lines == [(3, "third_line")]


def test_include_with_braces(write_conf: WriteConf) -> None:
    write_conf("one\n", "d/one.conf")
    write_conf("two\n", "d/two.conf")
    main = write_conf("include d/{two,one}.conf\n")
    assert texts(main) == ["two", "one"]


def test_include_loop_is_detected(write_conf: WriteConf) -> None:
    write_conf("in_b\ninclude a.conf\n", "b.conf")
    main = write_conf("in_a\ninclude b.conf\n", "a.conf")
    lines, diags = expand(main)
    assert [t for _, t in lines] == ["in_a", "in_b"]
    [loop] = [d for d in diags if "include loop" in d.message]
    assert loop.severity == Severity.ERROR
    assert loop.loc.file.endswith("b.conf") and loop.loc.line == 2
    assert "a.conf -> b.conf -> a.conf" in loop.message


def test_missing_include_is_a_warning_and_includea_an_error(write_conf: WriteConf) -> None:
    main = write_conf("include nothing/*.conf\nincludea missing.conf\n")
    _, diags = expand(main)
    severities = [(d.loc.line, d.severity) for d in diags]
    assert (1, Severity.WARNING) in severities
    assert (2, Severity.ERROR) in severities


def test_conditional_lines(write_conf: WriteConf) -> None:
    path = write_conf(
        """\
        @main router_id main_router
        @backup router_id backup_router
        @^main peer_of_others
        @^backup peer_not_backup
        @main
        plain
        """
    )
    assert texts(path, "main") == ["router_id main_router", "peer_not_backup", "plain"]
    assert texts(path, "backup") == ["router_id backup_router", "peer_of_others", "plain"]


def test_parameters_are_substituted_when_used(write_conf: WriteConf) -> None:
    path = write_conf(
        """\
        $ADDRESS_BASE=10.2.${ADDRESS_BASE_SUB}
        $ADDRESS_BASE_SUB=0
        ${ADDRESS_BASE}.100/32
        $ADDRESS_BASE_SUB=10
        ${ADDRESS_BASE}.100/32
        $PRIO 5
        ${UNDEFINED} stays
        """
    )
    lines = texts(path)
    assert lines[:2] == ["10.2.0.100/32", "10.2.10.100/32"]
    assert lines[2] == "$PRIO 5"
    assert lines[3] == "${UNDEFINED} stays"


def test_parameter_needs_a_separator_unless_braced(write_conf: WriteConf) -> None:
    path = write_conf("$N=7\nprio $N\nprio $Nx\nprio ${N}x\nlist ($N,$N)\n")
    assert texts(path) == ["prio 7", "prio $Nx", "prio 7x", "list (7,7)"]


def test_conditional_parameters(write_conf: WriteConf) -> None:
    path = write_conf("@main $PRIORITY=240\n@backup $PRIORITY=200\npriority $PRIORITY\n$IF_MAIN=@main\n$IF_MAIN x 1\n")
    assert texts(path, "main") == ["priority 240", "x 1"]
    assert texts(path, "backup") == ["priority 200"]


def test_multiline_parameters_nest(write_conf: WriteConf) -> None:
    path = write_conf(
        """\
        $RS= \\
        real_server 192.0.2.${RS_NUM} 80 { \\
            weight 1 \\
        }

        $VS= \\
        virtual_server 198.51.100.${VS_NUM} 80 { \\
            $RS_NUM=1 \\
            $RS \\
            $RS_NUM=2 \\
            $RS \\
        }

        $VS_NUM=4
        $VS
        """
    )
    assert texts(path) == [
        "virtual_server 198.51.100.4 80 {",
        "real_server 192.0.2.1 80 {",
        "weight 1",
        "}",
        "real_server 192.0.2.2 80 {",
        "weight 1",
        "}",
        "}",
    ]


def test_builtin_definitions(write_conf: WriteConf, tmp_path: Path) -> None:
    path = write_conf("id ${_INSTANCE}\ndir ${_PWD}\nhash ${_HASH} bang ${_BANG}\nr ${_RANDOM 5 5}\n", "sub/k.conf")
    assert texts(path, "node7") == [
        "id node7",
        f"dir {os.path.dirname(os.path.abspath(path))}",
        "hash # bang !",
        "r 5",
    ]


def test_sequences(write_conf: WriteConf) -> None:
    path = write_conf(
        """\
        ~SEQ(SUBNET, 0, 3) ip_address 10.0.${SUBNET}.1
        ~SEQx(S, 0x90, 0x10, 0xc0) fe80::20:${S}:1
        ~SEQ(N, 3) n$N
        ~SEQ(D, 2, 1) d$D
        ~SEQ(A, 1, 2) ~SEQ(B, 5, 6) ${A}.${B}
        """
    )
    assert texts(path) == [
        "ip_address 10.0.0.1",
        "ip_address 10.0.1.1",
        "ip_address 10.0.2.1",
        "ip_address 10.0.3.1",
        "fe80::20:90:1",
        "fe80::20:a0:1",
        "fe80::20:b0:1",
        "fe80::20:c0:1",
        "n1",
        "n2",
        "n3",
        "d2",
        "d1",
        "1.5",
        "1.6",
        "2.5",
        "2.6",
    ]


def test_sequence_of_a_multiline_definition(write_conf: WriteConf) -> None:
    path = write_conf(
        """\
        $VI= \\
        vrrp_instance VI_${ID} { \\
            virtual_router_id ${ID} \\
        }
        ~SEQ(ID, 1, 2) $VI
        """
    )
    assert texts(path) == [
        "vrrp_instance VI_1 {",
        "virtual_router_id 1",
        "}",
        "vrrp_instance VI_2 {",
        "virtual_router_id 2",
        "}",
    ]


def test_lists(write_conf: WriteConf) -> None:
    path = write_conf(
        """\
        ~LST({IP, IP1}, {10,1},{20,4}) 192.168.${IP}.${IP1}
        ~LST(IP, 1, 2) ~LST(IP1, 5,6) 192.169.${IP}.${IP1}
        ~LST({IP, IP1}, {10,1}) ~SEQ(IP2,168,2,170) 192.${IP2}.${IP}.${IP1}
        """
    )
    assert texts(path) == [
        "192.168.10.1",
        "192.168.20.4",
        "192.169.1.5",
        "192.169.1.6",
        "192.169.2.5",
        "192.169.2.6",
        "192.168.10.1",
        "192.170.10.1",
    ]


def test_bad_sequences_are_errors_at_their_line(write_conf: WriteConf) -> None:
    path = write_conf("ok\n~SEQ(X, 1, -1, 5) a\n~SEQ(X) b\n~SEQx(X, -3, 1) c\n~LST(X) d\n")
    lines, diags = expand(path)
    assert [t for _, t in lines] == ["ok"]
    assert sorted(d.loc.line for d in diags if d.severity == Severity.ERROR) == [2, 3, 4, 5]


def test_self_referencing_parameter_does_not_hang(write_conf: WriteConf) -> None:
    path = write_conf("$A=x$A\nvalue $A\nafter\n")
    lines, diags = expand(path)
    assert [t for _, t in lines] == ["after"]
    assert any(d.loc.line == 2 and "does not terminate" in d.message for d in diags)


def test_missing_main_file_is_fatal(tmp_path: Path) -> None:
    lines, diags = expand(tmp_path / "absent.conf")
    assert lines == []
    assert [d.severity for d in diags] == [Severity.FATAL]


def test_binary_garbage_becomes_diagnostics_not_exceptions(tmp_path: Path) -> None:
    path = tmp_path / "garbage.conf"
    path.write_bytes(bytes(range(256)) * 3 + b"\n\xff\xfe{{{\n\x00\n")
    _, diags = expand(path)
    assert all(d.loc.line >= 1 for d in diags)
