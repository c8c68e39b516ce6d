"""The vrrp service's pure parts: restart hand-over, reload plans, tracker reports, advert bytes, bus values.

Instances are made as the service makes them (`make_instance` from a parsed
configuration); nothing here opens a socket or needs root.
"""

from __future__ import annotations

import dataclasses
import logging
import textwrap
from collections.abc import Hashable, Mapping
from ipaddress import IPv4Address, IPv6Address, ip_address
from pathlib import Path
from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conf.load import Loaded, load
from services.service_options import ServiceOptions
from services.vrrp.actions import Log
from services.vrrp.codec import (
    AH_LENGTH,
    AH_PROTOCOL,
    AUTH_AH,
    AUTH_PASS,
    MCAST_GROUP4,
    MCAST_GROUP6,
    VRRP_PROTOCOL,
    Advert,
    BadAdvert,
    ChecksumMode,
    build,
    parse,
    unwrap_ipv4,
    verify_ah,
)
from services.vrrp.handover import (
    HANDOVER_KEY,
    Previous,
    handed_over_at,
    handover_value,
    may_resume,
    previous_instances,
)
from services.vrrp.instance import Instance, make_instance
from services.vrrp.received import Received
from services.vrrp.reload import FRESH, KEEP, RECONFIGURE, RESUME, reload_plan
from services.vrrp.service import VrrpService, _fingerprint, _groups, tracker_report
from services.vrrp.settings import IPAddress
from services.vrrp.states import State
from services.vrrp.trackers import Kind
from services.vrrp.wire import EndpointSpec, Incoming, Outgoing, SocketKey, Wire

HOST4 = IPv4Address("192.0.2.1")
HOST6 = IPv6Address("fe80::1")
PEER4 = IPv4Address("192.0.2.2")

INSTANCES = """\
vrrp_instance V2 {
    interface eth0
    virtual_router_id 51
    priority 150
    advert_int 2
    authentication {
        auth_type PASS
        auth_pass secret
    }
    virtual_ipaddress {
        192.0.2.100/24
        192.0.2.101/24
    }
}
vrrp_instance V3 {
    interface eth0
    version 3
    virtual_router_id 52
    advert_int 0.5
    virtual_ipaddress {
        192.0.2.110/24
    }
}
vrrp_instance V6 {
    interface eth0
    version 3
    virtual_router_id 53
    virtual_ipaddress {
        fe80::53/64
        2001:db8::53/64
    }
}
vrrp_instance AH {
    interface eth0
    virtual_router_id 54
    authentication {
        auth_type AH
        auth_pass k3y
    }
    virtual_ipaddress {
        192.0.2.120/24
    }
}
vrrp_instance AHU {
    interface eth0
    virtual_router_id 55
    unicast_src_ip 192.0.2.1
    unicast_peer {
        192.0.2.2
    }
    authentication {
        auth_type AH
        auth_pass unik3y
    }
    virtual_ipaddress {
        192.0.2.130/24
    }
}
vrrp_instance OLDSUM {
    interface eth0
    version 3
    virtual_router_id 56
    unicast_src_ip 192.0.2.1
    unicast_peer {
        192.0.2.2
    }
    old_unicast_checksum
    virtual_ipaddress {
        192.0.2.140/24
    }
}
vrrp_instance OWNER {
    interface eth0
    state MASTER
    priority 255
    virtual_router_id 57
    virtual_ipaddress {
        192.0.2.150/24
        192.0.2.151/24 dev eth1
    }
    virtual_ipaddress_excluded {
        198.51.100.7/32
    }
    virtual_routes {
        203.0.113.0/24 via 192.0.2.254 dev eth0
    }
    virtual_rules {
        from 192.0.2.150 table 100 preference 100
    }
}
"""


def load_text(directory: Path, text: str, name: str = "keepalived.conf") -> Loaded:
    path = directory / name
    path.write_text(textwrap.dedent(text))
    loaded = load(str(path), config_id="node")
    assert loaded.diagnostics.errors() == [], loaded.diagnostics.errors()
    return loaded


def instances_of(loaded: Loaded, primary: Mapping[str, IPAddress | None] | None = None) -> dict[str, Instance]:
    """Every instance as the service makes it; the primary address is HOST4 / HOST6 unless given."""
    config = loaded.config
    made: dict[str, Instance] = {}
    for item in config.vrrp_instances:
        default = HOST4 if item.family == 4 else HOST6
        address = primary.get(item.name, default) if primary is not None else default
        made[item.name] = make_instance(item, config, EndpointSpec.from_instance(item, config.global_defs), address)
    return made


@pytest.fixture
def instances(tmp_path: Path) -> dict[str, Instance]:
    return instances_of(load_text(tmp_path, INSTANCES))


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Instance]:
    """For Hypothesis tests, which cannot take function-scoped fixtures; they only read these."""
    return instances_of(load_text(tmp_path_factory.mktemp("conf"), INSTANCES))


def outgoing(src: IPAddress, dst: IPAddress, *, ident: int = 1, protocol: int = VRRP_PROTOCOL) -> Outgoing:
    return Outgoing(src, dst, 255, ident, protocol)


# ====================================================================== handover


def published(state: str = "MASTER", **changes: Any) -> dict[str, Any]:
    """A `vrrp/<instance>` value as the predecessor published it (the fields handover reads, and others)."""
    value: dict[str, Any] = {
        "state": state,
        "base_priority": 100,
        "effective_priority": 100,
        "interface": "eth0",
        "virtual_router_id": 51,
        "master_ip": None,
        "desired": {},
    }
    value.update(changes)
    return value


def test_previous_instances_reads_each_published_instance() -> None:
    snapshot = {
        "vrrp/VI_1": published("MASTER"),
        "vrrp/VI_2": published("BACKUP", master_ip="192.0.2.9", virtual_router_id=52),
        "vrrp/VI_6": published("FAULT", master_ip="fe80::9", virtual_router_id=53, interface="eth1"),
        "vrrp/VI_S": published("STOP"),
    }
    assert previous_instances(snapshot) == {
        "VI_1": Previous(State.MASTER, None, 51, "eth0"),
        "VI_2": Previous(State.BACKUP, IPv4Address("192.0.2.9"), 52, "eth0"),
        "VI_6": Previous(State.FAULT, IPv6Address("fe80::9"), 53, "eth1"),
        "VI_S": Previous(State.STOP, None, 51, "eth0"),
    }


def test_previous_instances_skips_other_keys_and_values_that_are_not_instances() -> None:
    snapshot: dict[str, Any] = {
        "vrrp_group/G": {"state": "MASTER"},  # a sync group, not an instance
        HANDOVER_KEY: {"at": 1.0, "pid": 7},
        "vrrp/VI_1/extra": published(),  # not `vrrp/<instance>`
        "net/VI_1/vips": {"desired": [], "installed": []},
        "counters/vrrp": {"adverts_sent": 3},
        "vrrp/NOT_A_MAP": "MASTER",
        "vrrp/NO_STATE": {"interface": "eth0", "virtual_router_id": 51},
        "vrrp/BAD_STATE": published("PRIMARY"),
        "vrrp/LOWER_CASE": published("master"),
    }
    assert previous_instances(snapshot) == {}


def test_previous_instances_keeps_an_instance_with_malformed_details_without_them() -> None:
    snapshot = {
        "vrrp/VI_1": published("BACKUP", master_ip="not an address", virtual_router_id="51", interface=7),
        "vrrp/VI_2": published("BACKUP", master_ip=3232235777),  # an integer is not an address string
    }
    found = previous_instances(snapshot)
    assert found["VI_1"] == Previous(State.BACKUP, None, None, None)
    assert found["VI_2"].master is None and found["VI_2"].vrid == 51


def test_handed_over_at_reads_the_time_the_predecessor_left() -> None:
    assert handed_over_at({HANDOVER_KEY: handover_value(1234.5, 42)}) == 1234.5
    assert handed_over_at({HANDOVER_KEY: {"at": 17, "pid": 42}}) == 17.0
    assert isinstance(handed_over_at({HANDOVER_KEY: {"at": 17}}), float)


@pytest.mark.parametrize(
    "state",
    [
        {},
        {HANDOVER_KEY: None},
        {HANDOVER_KEY: 1234.5},
        {HANDOVER_KEY: {"pid": 42}},
        {HANDOVER_KEY: {"at": "1234.5"}},
        {HANDOVER_KEY: {"at": True}},
        {HANDOVER_KEY: {"at": None}},
        {"handover/netconfig": {"at": 1.0}},
    ],
)
def test_handed_over_at_is_none_without_a_well_formed_handover(state: dict[str, Any]) -> None:
    assert handed_over_at(state) is None


PREVIOUS = Previous(State.MASTER, None, 51, "eth0")


def resumes(previous: Previous | None = PREVIOUS, **changes: Any) -> bool:
    arguments: dict[str, Any] = {"vrid": 51, "interface": "eth0", "handover": 100.0, "now": 101.0, "down_interval": 3.5}
    arguments.update(changes)
    return may_resume(previous, **arguments)


def test_may_resume_a_recent_handover_of_the_same_router() -> None:
    assert resumes()
    assert resumes(now=100.0)  # at once
    assert resumes(now=103.49)
    for state in (State.MASTER, State.BACKUP, State.FAULT):
        assert resumes(dataclasses.replace(PREVIOUS, state=state))


def test_may_not_resume_a_handover_older_than_the_master_down_interval() -> None:
    assert not resumes(now=103.5)  # a backup may have timed out by now
    assert not resumes(now=200.0)
    assert not resumes(now=99.0)  # a handover from the future is not trusted


def test_may_not_resume_another_router() -> None:
    assert not resumes(vrid=52)
    assert not resumes(interface="eth1")
    assert not resumes(interface=None)
    assert not resumes(dataclasses.replace(PREVIOUS, vrid=None))
    assert not resumes(dataclasses.replace(PREVIOUS, interface=None))


def test_may_not_resume_without_a_handover_or_a_predecessor() -> None:
    assert not resumes(handover=None)  # the predecessor crashed: a plain start
    assert not resumes(None)


@pytest.mark.parametrize("state", [State.INIT, State.STOP])
def test_may_not_resume_a_router_that_was_not_running(state: State) -> None:
    assert not resumes(dataclasses.replace(PREVIOUS, state=state))


@given(
    first=st.floats(min_value=0.0, max_value=10.0, allow_nan=False),
    second=st.floats(min_value=0.0, max_value=10.0, allow_nan=False),
    down=st.floats(min_value=0.01, max_value=10.0, allow_nan=False),
)
def test_a_handover_that_may_be_resumed_may_be_resumed_earlier_too(first: float, second: float, down: float) -> None:
    early, late = sorted((first, second))
    if resumes(handover=0.0, now=late, down_interval=down):
        assert resumes(handover=0.0, now=early, down_interval=down)
    if late >= down:
        assert not resumes(handover=0.0, now=late, down_interval=down)


def test_what_an_instance_publishes_is_what_its_successor_reads(instances: dict[str, Instance]) -> None:
    instance = instances["V2"]
    router = instance.router
    router.startup(0.0)
    router.advert_received(Received(PEER4, 200, 2.0), 1.0)
    snapshot = {"vrrp/V2": instance.bus_value(), HANDOVER_KEY: handover_value(50.0, 1)}
    previous = previous_instances(snapshot)
    assert previous == {"V2": Previous(State.BACKUP, PEER4, 51, "eth0")}
    successor = instances_of_one(instance)
    down = successor.router.master_down_interval()
    assert down == pytest.approx(3 * 2.0 + (256 - 150) / 256)
    at = handed_over_at(snapshot)
    common: dict[str, Any] = {"vrid": 51, "interface": "eth0", "handover": at, "down_interval": down}
    assert may_resume(previous["V2"], now=50.0 + down - 0.01, **common)
    assert not may_resume(previous["V2"], now=50.0 + down, **common)


def instances_of_one(instance: Instance) -> Instance:
    """A second Instance of the same configuration, as a successor process makes it."""
    return Instance(
        config=instance.config,
        router=type(instance.router)(instance.router.settings),
        expectation=instance.expectation,
        trackers=instance.trackers,
        spec=instance.spec,
    )


# ====================================================================== reload plans


def plan(
    old: Mapping[str, tuple[Hashable, Hashable, Hashable | None]],
    new: Mapping[str, tuple[Hashable, Hashable, Hashable | None]],
) -> dict[str, str]:
    """reload_plan from name -> (fingerprint, identity, group or None) on each side."""
    return reload_plan(
        {n: v[0] for n, v in old.items()},
        {n: v[0] for n, v in new.items()},
        {n: v[1] for n, v in old.items()},
        {n: v[1] for n, v in new.items()},
        {n: v[2] for n, v in old.items() if v[2] is not None},
        {n: v[2] for n, v in new.items() if v[2] is not None},
    )


def test_reload_plan_steps() -> None:
    old = {
        "same": ("f", "id", None),
        "tuned": ("f", "id", None),
        "moved": ("f", "id", None),
        "regrouped": ("f", "id", "G1"),
        "grouped": ("f", "id", None),
        "member": ("f", "id", "G"),
        "gone": ("f", "id", None),
    }
    new = {
        "same": ("f", "id", None),
        "tuned": ("f2", "id", None),
        "moved": ("f", "id2", None),
        "regrouped": ("f", "id", "G2"),
        "grouped": ("f", "id", "G"),
        "member": ("f2", "id", "G"),
        "added": ("f", "id", None),
    }
    assert plan(old, new) == {
        "same": KEEP,
        "tuned": RECONFIGURE,
        "moved": FRESH,  # its identity changed: another router
        "regrouped": RESUME,  # its sync group changed
        "grouped": RESUME,  # put into a group
        "member": RESUME,  # a group member's settings changed: the group is made anew
        "added": FRESH,
    }


def test_reload_plan_identity_beats_group_and_fingerprint_changes() -> None:
    assert plan({"a": ("f", "id", "G")}, {"a": ("f2", "id2", "H")}) == {"a": FRESH}
    assert plan({"a": ("f", "id", "G")}, {"a": ("f", "id", None)}) == {"a": RESUME}  # left its group


NAMES = ("a", "b", "c", "d", "e")
entries = st.dictionaries(
    st.sampled_from(NAMES),
    st.tuples(st.integers(0, 2), st.integers(0, 1), st.none() | st.integers(0, 1)),
)


@given(entries)
def test_identical_inputs_keep_every_instance(side: dict[str, tuple[int, int, int | None]]) -> None:
    assert plan(side, dict(side)) == dict.fromkeys(side, KEEP)


@given(entries, entries)
def test_reload_plan_covers_the_new_instances_only(
    old: dict[str, tuple[int, int, int | None]], new: dict[str, tuple[int, int, int | None]]
) -> None:
    assert set(plan(old, new)) == set(new)  # removed instances are not in the plan: they stop


@given(entries, entries)
def test_a_changed_fingerprint_is_never_kept(
    old: dict[str, tuple[int, int, int | None]], new: dict[str, tuple[int, int, int | None]]
) -> None:
    steps = plan(old, new)
    for name in new:
        if name in old and old[name][0] != new[name][0]:
            assert steps[name] != KEEP


@given(entries, entries)
def test_fresh_exactly_when_new_or_another_router(
    old: dict[str, tuple[int, int, int | None]], new: dict[str, tuple[int, int, int | None]]
) -> None:
    steps = plan(old, new)
    for name in new:
        another = name not in old or old[name][1] != new[name][1]
        assert (steps[name] == FRESH) == another


@given(entries, entries)
def test_keep_exactly_when_nothing_changed(
    old: dict[str, tuple[int, int, int | None]], new: dict[str, tuple[int, int, int | None]]
) -> None:
    steps = plan(old, new)
    for name, entry in new.items():
        assert (steps[name] == KEEP) == (old.get(name) == entry)


# The same, on fingerprints the service computes from real configurations.

RELOAD_BASE = """\
vrrp_sync_group G {
    group {
        A
        B
    }
}
vrrp_instance A {
    interface eth0
    virtual_router_id 61
    priority 100
    virtual_ipaddress {
        192.0.2.61/24
    }
}
vrrp_instance B {
    interface eth0
    virtual_router_id 62
    virtual_ipaddress {
        192.0.2.62/24
    }
}
vrrp_instance C {
    interface eth0
    virtual_router_id 63
    priority 120
    virtual_ipaddress {
        192.0.2.63/24
    }
}
vrrp_instance U {
    interface eth0
    virtual_router_id 64
    unicast_src_ip 192.0.2.1
    unicast_peer {
        192.0.2.2
    }
    virtual_ipaddress {
        192.0.2.64/24
    }
}
"""


def service_plan(tmp_path: Path, old_text: str, new_text: str) -> dict[str, str]:
    """The plan VrrpService.reload computes, from the same fingerprints, identities and groups."""
    old, new = load_text(tmp_path, old_text, "old.conf"), load_text(tmp_path, new_text, "new.conf")
    old_instances, new_instances = instances_of(old), instances_of(new)
    old_fp = {n: _fingerprint(i) for n, i in old_instances.items()}
    new_fp = {n: _fingerprint(i) for n, i in new_instances.items()}
    old_ids = {n: i.router.settings.identity for n, i in old_instances.items()}
    new_ids = {n: i.router.settings.identity for n, i in new_instances.items()}
    return reload_plan(old_fp, new_fp, old_ids, new_ids, _groups(old.config, old_fp), _groups(new.config, new_fp))


def test_an_unchanged_configuration_keeps_everything(tmp_path: Path) -> None:
    assert service_plan(tmp_path, RELOAD_BASE, RELOAD_BASE) == dict.fromkeys("ABCU", KEEP)


def test_moving_an_instance_in_the_file_changes_nothing(tmp_path: Path) -> None:
    blocks = RELOAD_BASE.split("vrrp_instance ")
    reordered = "# reordered\n\n" + blocks[0] + "vrrp_instance " + "vrrp_instance ".join(reversed(blocks[1:]))
    assert service_plan(tmp_path, RELOAD_BASE, reordered) == dict.fromkeys("ABCU", KEEP)


def test_a_new_priority_reconfigures_a_lone_instance(tmp_path: Path) -> None:
    new = RELOAD_BASE.replace("priority 120", "priority 130")
    assert service_plan(tmp_path, RELOAD_BASE, new) == {"A": KEEP, "B": KEEP, "C": RECONFIGURE, "U": KEEP}


def test_a_new_vip_reconfigures_a_lone_instance(tmp_path: Path) -> None:
    new = RELOAD_BASE.replace("192.0.2.63/24\n", "192.0.2.63/24\n        192.0.2.163/24\n")
    assert service_plan(tmp_path, RELOAD_BASE, new)["C"] == RECONFIGURE


def test_a_changed_group_member_restarts_the_whole_group_in_its_state(tmp_path: Path) -> None:
    new = RELOAD_BASE.replace("priority 100", "priority 110")
    assert service_plan(tmp_path, RELOAD_BASE, new) == {"A": RESUME, "B": RESUME, "C": KEEP, "U": KEEP}


def test_joining_a_group_resumes_every_member(tmp_path: Path) -> None:
    new = RELOAD_BASE.replace("        B\n", "        B\n        C\n")
    assert service_plan(tmp_path, RELOAD_BASE, new) == {"A": RESUME, "B": RESUME, "C": RESUME, "U": KEEP}


@pytest.mark.parametrize(
    ("old", "new", "instance"),
    [
        ("virtual_router_id 63", "virtual_router_id 73", "C"),  # another VRID
        ("unicast_src_ip 192.0.2.1", "unicast_src_ip 192.0.2.3", "U"),  # another unicast source
    ],
)
def test_another_router_starts_fresh(tmp_path: Path, old: str, new: str, instance: str) -> None:
    steps = service_plan(tmp_path, RELOAD_BASE, RELOAD_BASE.replace(old, new))
    assert steps[instance] == FRESH
    assert [n for n, step in steps.items() if step != KEEP] == [instance]


def test_another_interface_is_another_router(tmp_path: Path) -> None:
    new = RELOAD_BASE.replace(
        "    interface eth0\n    virtual_router_id 63", "    interface eth1\n    virtual_router_id 63"
    )
    assert service_plan(tmp_path, RELOAD_BASE, new)["C"] == FRESH


def test_removed_instances_are_absent_and_new_ones_fresh(tmp_path: Path) -> None:
    start, _, rest = RELOAD_BASE.partition("vrrp_instance C {")
    _, _, after = rest.partition("}\n}\n")
    removed = start + after
    added = RELOAD_BASE.replace("vrrp_instance C", "vrrp_instance D")
    assert service_plan(tmp_path, RELOAD_BASE, removed) == {"A": KEEP, "B": KEEP, "U": KEEP}
    assert service_plan(tmp_path, RELOAD_BASE, added) == {"A": KEEP, "B": KEEP, "D": FRESH, "U": KEEP}


def test_the_interface_address_does_not_change_a_fingerprint_unless_configured(tmp_path: Path) -> None:
    loaded = load_text(tmp_path, RELOAD_BASE)
    before = instances_of(loaded)
    after = instances_of(loaded, {"C": IPv4Address("192.0.2.77"), "U": IPv4Address("192.0.2.77")})
    assert _fingerprint(before["C"]) == _fingerprint(after["C"])  # the kernel's address: followed at run time
    assert after["U"].router.settings.primary_address == HOST4  # unicast_src_ip wins over the kernel's address


# ====================================================================== tracker reports


@pytest.mark.parametrize(
    ("kind_word", "kind"),
    [("script", Kind.SCRIPT), ("file", Kind.FILE), ("process", Kind.PROCESS), ("bfd", Kind.BFD)],
)
@pytest.mark.parametrize(
    ("status", "up"),
    [
        ("OK", True),
        ("UP", True),
        ("SUCCEEDED", True),
        ("GOOD", True),
        ("ok", True),
        ("Up", True),
        ("FAILED", False),
        ("DOWN", False),
        ("BAD", False),
        ("KO", False),
        ("failed", False),
        (True, True),
        (False, False),
    ],
)
def test_tracker_report_of_every_kind_and_status(kind_word: str, kind: Kind, status: str | bool, up: bool) -> None:
    report = tracker_report(f"track/{kind_word}/chk", {"status": status, "weight": 2})
    assert report == (kind, "chk", up)
    assert report is not None and type(report[2]) is bool


@pytest.mark.parametrize("value", [0, 7, -3, 254])
def test_a_track_file_reports_its_integer(value: int) -> None:
    report = tracker_report("track/file/weightfile", {"status": "OK", "value": value})
    assert report == (Kind.FILE, "weightfile", value)
    assert report is not None and type(report[2]) is int


def test_only_a_track_file_reports_an_integer() -> None:
    assert tracker_report("track/script/chk", {"status": "FAILED", "value": 5}) == (Kind.SCRIPT, "chk", False)
    assert tracker_report("track/script/chk", {"value": 5}) is None
    # A boolean is not a track_file value: the status decides.
    assert tracker_report("track/file/f", {"status": "DOWN", "value": True}) == (Kind.FILE, "f", False)
    assert tracker_report("track/file/f", {"value": 2.5}) is None


def test_the_name_is_everything_after_the_kind() -> None:
    assert tracker_report("track/script/a/b", {"status": "OK"}) == (Kind.SCRIPT, "a/b", True)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("track/interface/eth0", {"status": "UP"}),  # interfaces come from netlink, not the bus
        ("track/script", {"status": "OK"}),
        ("track/unknown/chk", {"status": "OK"}),
        ("vrrp/chk", {"status": "OK"}),
        ("tracks/script/chk", {"status": "OK"}),
        ("track/script/chk", "OK"),
        ("track/script/chk", None),
        ("track/script/chk", {}),
        ("track/script/chk", {"status": "MAYBE"}),
        ("track/script/chk", {"status": ""}),
        ("track/script/chk", {"status": 1}),
        ("track/script/chk", {"status": None}),
        ("track/script/chk", {"state": "OK"}),
    ],
)
def test_malformed_reports_are_ignored(key: str, value: Any) -> None:
    assert tracker_report(key, value) is None


bus_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


@given(key=st.text(max_size=30), value=bus_values)
def test_tracker_report_never_fails_and_only_reads_track_keys(key: str, value: Any) -> None:
    report = tracker_report(key, value)
    if report is not None:
        kind, name, result = report
        assert key == f"track/{_KIND_WORDS[kind]}/{name}"
        assert isinstance(result, bool) or kind is Kind.FILE


_KIND_WORDS = {Kind.SCRIPT: "script", Kind.FILE: "file", Kind.PROCESS: "process", Kind.BFD: "bfd"}


# ====================================================================== advert bytes


def test_v2_pass_advert_is_codec_build(instances: dict[str, Instance]) -> None:
    instance = instances["V2"]
    make = instance.builder(150, 2.0)
    message = make(outgoing(HOST4, MCAST_GROUP4))
    vips = (IPv4Address("192.0.2.100"), IPv4Address("192.0.2.101"))
    assert message == build(Advert(2, 51, 150, 2.0, vips, AUTH_PASS, b"secret"), HOST4, MCAST_GROUP4)
    decoded = parse(message, family=4, src=HOST4, dst=MCAST_GROUP4)
    assert (decoded.vrid, decoded.priority, decoded.interval, decoded.addresses) == (51, 150, 2.0, vips)
    assert decoded.auth_data == b"secret\0\0"
    # priority 0, as a stopping MASTER sends it
    stop = instance.builder(0, 2.0)(outgoing(HOST4, MCAST_GROUP4))
    assert stop == build(Advert(2, 51, 0, 2.0, vips, AUTH_PASS, b"secret"), HOST4, MCAST_GROUP4)


def test_v3_ipv4_advert_is_codec_build(instances: dict[str, Instance]) -> None:
    message = instances["V3"].builder(100, 0.5)(outgoing(HOST4, MCAST_GROUP4))
    assert message == build(Advert(3, 52, 100, 0.5, (IPv4Address("192.0.2.110"),)), HOST4, MCAST_GROUP4)
    assert parse(message, family=4, src=HOST4, dst=MCAST_GROUP4).centiseconds == 50


def test_v3_ipv6_advert_is_codec_build(instances: dict[str, Instance]) -> None:
    message = instances["V6"].builder(100, 1.0)(outgoing(HOST6, MCAST_GROUP6, ident=0))
    vips = (IPv6Address("fe80::53"), IPv6Address("2001:db8::53"))
    assert message == build(Advert(3, 53, 100, 1.0, vips), HOST6, MCAST_GROUP6)
    assert parse(message, family=6, src=HOST6, dst=MCAST_GROUP6).addresses == vips


def test_old_unicast_checksum_puts_the_group_in_the_pseudo_header(instances: dict[str, Instance]) -> None:
    message = instances["OLDSUM"].builder(100, 1.0)(outgoing(HOST4, PEER4))
    advert = Advert(3, 56, 100, 1.0, (IPv4Address("192.0.2.140"),))
    assert message == build(advert, HOST4, PEER4, old_checksum_group=MCAST_GROUP4)
    assert message != build(advert, HOST4, PEER4)


def test_cached_messages_follow_an_expectation_change_once_forgotten(instances: dict[str, Instance]) -> None:
    """The service switches an instance to keepalived's old checksum when a peer uses it."""
    instance = instances["V3"]
    standard = instance.builder(100, 0.5)(outgoing(HOST4, PEER4))
    instance.expectation = dataclasses.replace(instance.expectation, checksum=ChecksumMode.OLD)
    instance.forget_messages()
    old = instance.builder(100, 0.5)(outgoing(HOST4, PEER4))
    advert = Advert(3, 52, 100, 0.5, (IPv4Address("192.0.2.110"),))
    assert standard == build(advert, HOST4, PEER4)
    assert old == build(advert, HOST4, PEER4, old_checksum_group=MCAST_GROUP4)


@settings(max_examples=60)
@given(
    sends=st.lists(
        st.tuples(st.integers(0, 255), st.sampled_from([0.5, 1.0, 2.5]), st.sampled_from(["224.0.0.18", "192.0.2.2"])),
        min_size=1,
        max_size=150,
    )
)
def test_every_message_built_equals_codec_build_whatever_the_cache_holds(
    shared: dict[str, Instance], sends: list[tuple[int, float, str]]
) -> None:
    instance = dataclasses.replace(shared["V3"], _messages={})  # the cache is this test's own
    for priority, interval, dst in sends:
        destination = ip_address(dst)
        message = instance.builder(priority, interval)(outgoing(HOST4, destination))
        expected = build(Advert(3, 52, priority, interval, (IPv4Address("192.0.2.110"),)), HOST4, destination)
        assert message == expected


def ah_datagram(instance: Instance, out: Outgoing, priority: int = 100) -> bytes:
    payload = instance.builder(priority, 1.0)(out)
    return out.ipv4_header(len(payload)) + payload


@pytest.mark.parametrize(("name", "key", "dst"), [("AH", b"k3y", MCAST_GROUP4), ("AHU", b"unik3y", PEER4)])
def test_ah_datagrams_verify_with_growing_sequence_numbers(
    instances: dict[str, Instance], name: str, key: bytes, dst: IPv4Address
) -> None:
    instance = instances[name]
    unicast = instance.spec.unicast
    assert unicast == (name == "AHU")
    wire_key = key.ljust(8, b"\0")
    sequences = []
    for ident in (1, 2, 3):
        out = outgoing(HOST4, dst, ident=ident, protocol=AH_PROTOCOL)
        datagram = unwrap_ipv4(ah_datagram(instance, out))
        assert datagram.protocol == AH_PROTOCOL and datagram.src == HOST4 and datagram.dst == dst
        ah = verify_ah(datagram, wire_key, unicast=unicast)
        assert ah.spi == int(HOST4)
        sequences.append(ah.sequence)
        advert = parse(datagram.message, family=4, src=HOST4, dst=dst)
        assert (advert.vrid, advert.priority, advert.auth_type) == (instance.expectation.vrid, 100, AUTH_AH)
    assert sequences == [1, 2, 3]
    assert instance.ah_sequence == 3


def test_an_ah_datagram_does_not_verify_with_another_key_or_altered(instances: dict[str, Instance]) -> None:
    instance = instances["AH"]
    whole = ah_datagram(instance, outgoing(HOST4, MCAST_GROUP4, ident=9, protocol=AH_PROTOCOL))
    with pytest.raises(BadAdvert) as other_key:
        verify_ah(unwrap_ipv4(whole), b"other\0\0\0", unicast=False)
    assert other_key.value.reason == "ah_icv"
    altered = bytearray(whole)
    altered[-9] ^= 1  # a VIP octet
    with pytest.raises(BadAdvert) as tampered:
        verify_ah(unwrap_ipv4(bytes(altered)), b"k3y\0\0\0\0\0", unicast=False)
    assert tampered.value.reason == "ah_icv"


def test_unicast_ah_leaves_the_ttl_out_of_the_icv(instances: dict[str, Instance]) -> None:
    routed = bytearray(ah_datagram(instances["AHU"], outgoing(HOST4, PEER4, ident=4, protocol=AH_PROTOCOL)))
    routed[8] = 62  # the TTL, after a few routers
    verify_ah(unwrap_ipv4(bytes(routed)), b"unik3y\0\0", unicast=True)


def test_an_ah_advert_does_not_carry_the_key(instances: dict[str, Instance]) -> None:
    datagram = unwrap_ipv4(ah_datagram(instances["AH"], outgoing(HOST4, MCAST_GROUP4, protocol=AH_PROTOCOL)))
    keepalived = build(Advert(2, 54, 100, 1.0, (IPv4Address("192.0.2.120"),), AUTH_AH), HOST4, MCAST_GROUP4)
    assert datagram.message[-8:] == bytes(8)
    assert datagram.message == keepalived
    assert len(datagram.header) + AH_LENGTH + len(keepalived) == datagram.total_length


# ====================================================================== the published value


def test_bus_value_of_a_backup(instances: dict[str, Instance]) -> None:
    instance = instances["V2"]
    instance.router.startup(0.0)
    assert instance.bus_value() == {
        "state": "BACKUP",
        "base_priority": 150,
        "effective_priority": 150,
        "interface": "eth0",
        "virtual_router_id": 51,
        "version": 2,
        "family": 4,
        "advert_int": 2.0,
        "source_ip": "192.0.2.1",
        "master_ip": None,
        "master_priority": None,
        "fault_reason": None,
        "pending": False,
        "desired": {},
    }
    instance.router.advert_received(Received(PEER4, 200, 2.0), 1.0)
    value = instance.bus_value()
    assert (value["master_ip"], value["master_priority"]) == ("192.0.2.2", 200)


def test_bus_value_of_an_ipv6_instance(instances: dict[str, Instance]) -> None:
    value = instances["V6"].bus_value()
    assert (value["state"], value["family"], value["version"], value["source_ip"]) == ("INIT", 6, 3, "fe80::1")


def test_only_a_master_publishes_what_it_wants_installed(instances: dict[str, Instance]) -> None:
    instance = instances["OWNER"]
    assert instance.bus_value()["desired"] == {}  # INIT
    instance.router.startup(0.0)  # an address owner starts MASTER at once
    value = instance.bus_value()
    assert value["state"] == "MASTER"
    assert value["desired"] == {
        "vips": ["192.0.2.150/24", "192.0.2.151/24 dev eth1", "198.51.100.7/32"],
        "routes": ["203.0.113.0/24 via 192.0.2.254 protocol keepalived dev eth0"],
        "rules": ["from 192.0.2.150/32 table 100 preference 100 protocol keepalived"],
    }
    # A MASTER that hears a higher priority steps down, and wants nothing installed any more.
    instance.router.trackers_changed(100, False, 1.0, "test")
    instance.router.advert_received(Received(PEER4, 200, 1.0), 1.5)
    value = instance.bus_value()
    assert (value["state"], value["desired"]) == ("BACKUP", {})
    assert (value["base_priority"], value["effective_priority"]) == (255, 100)


def test_bus_value_of_a_faulted_and_of_a_pending_router(instances: dict[str, Instance]) -> None:
    faulted = instances["V3"]
    faulted.router.startup(0.0)
    faulted.router.trackers_changed(100, True, 1.0, "track_script chk failed")
    value = faulted.bus_value()
    assert (value["state"], value["fault_reason"], value["desired"]) == ("FAULT", "track_script chk failed", {})
    waiting = instances["V2"]
    waiting.router.trackers_changed(150, False, 0.0, "", pending=True)
    waiting.router.startup(0.0)
    value = waiting.bus_value()
    assert (value["state"], value["pending"], value["fault_reason"]) == ("INIT", True, None)


def test_bus_value_follows_the_interface_address(tmp_path: Path) -> None:
    instance = instances_of(load_text(tmp_path, INSTANCES), {"V3": None})["V3"]
    assert instance.bus_value()["source_ip"] is None
    instance.router.primary_address_changed(IPv4Address("192.0.2.9"))
    assert instance.bus_value()["source_ip"] == "192.0.2.9"


# ====================================================================== the service's log lines


class FakeWire:
    def candidates(self, incoming: Incoming) -> tuple[str, ...]:
        return ()


class FakeBus:
    def __init__(self) -> None:
        self.sets: list[tuple[str, Any]] = []

    def set(self, key: str, value: Any) -> None:
        self.sets.append((key, value))

    def post(self, topic: str, data: Any) -> None: ...

    def delete(self, key: str) -> None: ...


def offline_service(tmp_path: Path, globals_: str = "") -> VrrpService:
    """A VrrpService with its configuration but no sockets and no bus."""
    service = VrrpService(ServiceOptions(tmp_path, str(tmp_path / "keepalived.conf")))
    loaded = load_text(tmp_path, f"global_defs {{\n{globals_}\n}}\n" + INSTANCES)
    service._running = loaded.config
    service.wire = cast(Wire, FakeWire())
    service.bus = cast(Any, FakeBus())
    return service


def unknown_vrid_packet() -> Incoming:
    key = SocketKey(4, VRRP_PROTOCOL, "eth0", MCAST_GROUP4)
    message = build(Advert(2, 99, 100, 1.0, (IPv4Address("192.0.2.99"),)), PEER4, MCAST_GROUP4)
    return Incoming(key, message, PEER4, MCAST_GROUP4, 255, 2, 0.0)


def test_an_advert_for_no_instance_is_counted(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    service = offline_service(tmp_path)
    with caplog.at_level(logging.INFO, logger="Keepalived_vrrp"):
        service._receive_one(unknown_vrid_packet())
    assert service.counters["drop_unknown_vrid"] == 1 and service.counters["adverts_received"] == 1
    assert caplog.messages == []  # without log_unknown_vrids, keepalived says nothing


def test_an_advert_for_no_instance_is_logged_as_keepalived_logs_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    service = offline_service(tmp_path, "    log_unknown_vrids")
    with caplog.at_level(logging.INFO, logger="Keepalived_vrrp"):
        service._receive_one(unknown_vrid_packet())
    assert caplog.messages == ["Unknown VRID(99) received on interface(eth0). ignoring..."]


def test_detail_lines_are_logged_as_keepalived_logs_them_with_log_detail(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    service = offline_service(tmp_path)
    with caplog.at_level(logging.INFO, logger="Keepalived_vrrp"):
        service._execute([Log("V2", "(V2) Entering MASTER STATE"), Log("V2", "(V2) sent 0 priority", True)], 0.0)
    assert caplog.messages == ["(V2) Entering MASTER STATE", "(V2) sent 0 priority"]
