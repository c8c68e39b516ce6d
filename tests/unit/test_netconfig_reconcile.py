"""The reconcile core of netconfig, against a simulated kernel."""

from __future__ import annotations

import struct
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.netconfig.reconcile import (
    Action,
    Add,
    Fault,
    Item,
    Post,
    Publish,
    Reconciler,
    Ref,
    Remove,
    backoff,
    make_items,
)
from services.netconfig.service import parse_state_key, state_key, vrrp_running, vrrp_states
from services.netconfig.watch import message_types

KINDS = ("vmac", "address", "route", "rule")


@dataclass(frozen=True)
class Entry:
    """A stand-in for a kind's entry: `name` is its kernel identity, `options` the rest of its line."""

    name: str
    options: str = ""
    no_track: bool = False


class Codec:
    def __init__(self, name: str) -> None:
        self.name = name

    def key(self, entry: Entry) -> Hashable:
        return entry.name

    def text(self, entry: Entry) -> str:
        return f"{entry.name} {entry.options}".strip()


CODECS = {kind: Codec(kind) for kind in KINDS}


def items(spec: Mapping[str, Mapping[str, Iterable[str | Entry]]]) -> dict[Ref, Item]:
    """kind -> owner -> names (or Entries) as Items."""
    return make_items(
        CODECS,
        {
            k: {o: tuple(e if isinstance(e, Entry) else Entry(e) for e in es) for o, es in v.items()}
            for k, v in spec.items()
        },
    )


@dataclass
class Kernel:
    """Holds refs; refuses the changes it is told to refuse."""

    objects: set[Ref] = field(default_factory=set)
    refuse: set[Ref] = field(default_factory=set)
    reason: str = "ENODEV"

    def show(self, core: Reconciler, desired: Mapping[Ref, Item], universe: Mapping[Ref, Item]) -> None:
        for kind in KINDS:
            asked = {item.key for item in core.interest(kind, desired, universe)}
            core.observe(kind, {key for k, key in self.objects if k == kind and key in asked})

    def run(self, core: Reconciler, actions: list[Action], now: float) -> list[Action]:
        """Make the changes; every action the core asked for and the events it answered with."""
        out: list[Action] = list(actions)
        for action in actions:
            if not isinstance(action, (Add, Remove)):
                continue
            ref = action.item.ref
            fault = Fault(self.reason, "refused") if ref in self.refuse else None
            if fault is None:
                if isinstance(action, Add):
                    self.objects.add(ref)
                else:
                    self.objects.discard(ref)
            out += core.applied(action, fault, now)
        return out


def step(
    core: Reconciler,
    kernel: Kernel,
    desired: Mapping[Ref, Item],
    universe: Mapping[Ref, Item],
    now: float,
    **kw: Any,
) -> list[Action]:
    kernel.show(core, desired, universe)
    return kernel.run(core, core.plan(desired, universe, now, **kw), now)


def changes(actions: Iterable[Action]) -> list[tuple[str, str, Hashable]]:
    return [
        ("add" if isinstance(a, Add) else "remove", a.item.kind, a.item.key)
        for a in actions
        if isinstance(a, (Add, Remove))
    ]


def posts(actions: Iterable[Action]) -> list[tuple[str, str, str]]:
    return [(p.owner, p.action, p.text) for p in actions if isinstance(p, Post)]


# ---------------------------------------------------------------------------------------------


def test_adds_in_install_order_and_removes_in_reverse() -> None:
    core = Reconciler(KINDS)
    want = items(
        {"rule": {"VI_1": ["r1"]}, "route": {"VI_1": ["rt1"]}, "address": {"VI_1": ["a1"]}, "vmac": {"VI_1": ["v"]}}
    )
    kernel = Kernel()
    done = step(core, kernel, want, want, 0.0)
    assert changes(done) == [
        ("add", "vmac", "v"),
        ("add", "address", "a1"),
        ("add", "route", "rt1"),
        ("add", "rule", "r1"),
    ]
    assert posts(done)[0] == ("VI_1", "added", "v")
    gone = step(core, kernel, {}, want, 1.0)
    assert changes(gone) == [
        ("remove", "rule", "r1"),
        ("remove", "route", "rt1"),
        ("remove", "address", "a1"),
        ("remove", "vmac", "v"),
    ]
    assert kernel.objects == set()


def test_foreign_entries_are_never_touched_and_owned_ones_are_removed() -> None:
    core = Reconciler(KINDS)
    universe = items({"address": {"VI_1": ["vip", "stale"]}})
    desired = items({"address": {"VI_1": ["vip"]}})
    kernel = Kernel({("address", "stale"), ("address", "theirs")})
    done = step(core, kernel, desired, universe, 0.0)
    assert sorted(changes(done)) == [("add", "address", "vip"), ("remove", "address", "stale")]
    assert kernel.objects == {("address", "vip"), ("address", "theirs")}


def test_nothing_is_removed_until_removal_is_allowed() -> None:
    core = Reconciler(KINDS)
    universe = items({"address": {"VI_1": ["stale"], "static": ["s"]}})
    desired = items({"address": {"static": ["s"]}})
    kernel = Kernel({("address", "stale")})
    assert changes(step(core, kernel, desired, universe, 0.0, may_remove=False)) == [("add", "address", "s")]
    assert changes(step(core, kernel, desired, universe, 1.0)) == [("remove", "address", "stale")]


def test_drift_is_repaired_and_reported() -> None:
    core = Reconciler(KINDS)
    want = items({"address": {"VI_1": ["vip"]}})
    kernel = Kernel()
    step(core, kernel, want, want, 0.0)
    kernel.objects.clear()  # deleted by hand
    done = step(core, kernel, want, want, 1.0)
    assert posts(done) == [("VI_1", "drift", "vip"), ("VI_1", "added", "vip")]
    drift = next(a for a in done if isinstance(a, Post) and a.action == "drift")
    assert drift.repair is True
    assert [a.repair for a in done if isinstance(a, Add)] == [True]
    assert kernel.objects == {("address", "vip")}
    # Present and installed: nothing more to do.
    assert step(core, kernel, want, want, 2.0) == []


def test_an_untracked_entry_is_reported_gone_but_not_put_back_until_wanted_again() -> None:
    core = Reconciler(KINDS)
    want = items({"address": {"VI_1": [Entry("vip", no_track=True)]}})
    kernel = Kernel()
    step(core, kernel, want, want, 0.0)
    kernel.objects.clear()
    done = step(core, kernel, want, want, 1.0)
    assert changes(done) == []
    assert [(p.action, p.repair) for p in done if isinstance(p, Post)] == [("drift", False)]
    assert step(core, kernel, want, want, 2.0) == []
    step(core, kernel, {}, want, 3.0)  # leaves MASTER ...
    assert changes(step(core, kernel, want, want, 4.0)) == [("add", "address", "vip")]  # ... and comes back


def test_failures_back_off_and_an_interface_appearing_retries_at_once() -> None:
    core = Reconciler(KINDS)
    want = items({"address": {"VI_1": ["vip"]}})
    kernel = Kernel(refuse={("address", "vip")})
    done = step(core, kernel, want, want, 0.0)
    [error] = [p for p in done if isinstance(p, Post)]
    assert (error.action, error.error) == ("error", "ENODEV: refused")
    assert core.next_deadline() == 0.5
    assert step(core, kernel, want, want, 0.4) == []  # not due yet
    # The same failure again is counted, not posted again; the wait doubles.
    assert posts(step(core, kernel, want, want, 0.5)) == []
    assert core.next_deadline() == 1.5
    now = 1.5
    for _ in range(10):
        step(core, kernel, want, want, now)
        deadline = core.next_deadline()
        assert deadline is not None
        now = deadline
    assert core.next_deadline() == pytest.approx(now)
    assert backoff(1) == 0.5 and backoff(2) == 1.0 and backoff(7) == 30.0 and backoff(99) == 30.0
    # The interface appears: retried before the deadline, and the recovery is reported.
    kernel.refuse.clear()
    done = step(core, kernel, want, want, now - 10, retry_reasons={"ENODEV"})
    assert posts(done) == [("VI_1", "retry_ok", "vip")]
    assert core.failures == {} and core.next_deadline() is None
    assert core.status(want, want)[("VI_1", "address")] == {"desired": ["vip"], "installed": ["vip"], "errors": {}}


def test_a_failure_for_something_no_longer_wanted_is_dropped() -> None:
    core = Reconciler(KINDS)
    want = items({"address": {"VI_1": ["vip"]}})
    kernel = Kernel(refuse={("address", "vip")})
    step(core, kernel, want, want, 0.0)
    assert core.status(want, want)[("VI_1", "address")]["errors"] == {"vip": "ENODEV: refused"}
    step(core, kernel, {}, want, 0.1)
    assert core.failures == {} and core.next_deadline() is None


def test_held_entries_are_neither_added_nor_removed() -> None:
    core = Reconciler(KINDS)
    universe = items({"address": {"VI_1": ["there", "absent"]}})
    kernel = Kernel({("address", "there")})
    hold = set(universe)
    assert step(core, kernel, {}, universe, 0.0, hold=hold) == []
    assert kernel.objects == {("address", "there")}


def test_changed_options_replace_what_this_process_installed() -> None:
    core = Reconciler(KINDS)
    old = items({"address": {"VI_1": [Entry("vip", "label a")]}})
    new = items({"address": {"VI_1": [Entry("vip", "label b")]}})
    kernel = Kernel()
    step(core, kernel, old, old, 0.0)
    done = step(core, kernel, new, new, 1.0)
    assert changes(done) == [("remove", "address", "vip"), ("add", "address", "vip")]
    assert [a.item.text for a in done if isinstance(a, (Add, Remove))] == ["vip label a", "vip label b"]
    assert core.installed[("address", "vip")].text == "vip label b"


def test_restart_adopts_what_the_previous_run_installed() -> None:
    before = Reconciler(KINDS)
    want = items({"address": {"VI_1": ["vip"], "static": ["s"]}, "vmac": {"VI_1": ["v"]}})
    kernel = Kernel({("address", "theirs")})
    step(before, kernel, want, want, 0.0)
    report = list(before.installed.values())
    # An entry the previous run installed and the new configuration no longer has goes.
    report.append(Item("address", "VI_9", "old", "old", Entry("old")))
    kernel.objects.add(("address", "old"))
    after = Reconciler(KINDS)
    after.restore(report)
    done = step(after, kernel, want, want, 100.0)
    assert changes(done) == [("remove", "address", "old")]
    assert kernel.objects == {("address", "vip"), ("address", "s"), ("vmac", "v"), ("address", "theirs")}
    # Reported installed but gone meanwhile: simply added, not called drift.
    kernel.objects.discard(("address", "vip"))
    again = Reconciler(KINDS)
    again.restore(report)
    assert posts(step(again, kernel, want, want, 200.0)) == [("VI_1", "added", "vip")]


def test_reports_are_published_when_they_change() -> None:
    core = Reconciler(KINDS)
    want = items({"address": {"VI_1": ["vip"]}})
    kernel = Kernel()
    always = [("VI_1", "address"), ("VI_2", "address")]
    first = core.reports(want, want, always)
    assert first == [
        Publish("VI_1", "address", {"desired": ["vip"], "installed": [], "errors": {}}),
        Publish("VI_2", "address", {"desired": [], "installed": [], "errors": {}}),
    ]
    assert core.reports(want, want, always) == []
    step(core, kernel, want, want, 0.0)
    assert core.reports(want, want, always) == [
        Publish("VI_1", "address", {"desired": ["vip"], "installed": ["vip"], "errors": {}})
    ]
    assert core.reports({}, {}, [("VI_1", "address")]) == [
        Publish("VI_1", "address", {"desired": [], "installed": ["vip"], "errors": {}}),
        Publish("VI_2", "address", None),
    ]


def test_the_first_owner_of_an_object_keeps_it() -> None:
    found = items({"address": {"static": ["x"], "VI_1": ["x", "y"]}})
    assert {ref: item.owner for ref, item in found.items()} == {("address", "x"): "static", ("address", "y"): "VI_1"}
    assert make_items({"address": CODECS["address"]}, {"route": {"VI_1": (Entry("r"),)}}) == {}


# ---------------------------------------------------------------------------------------------
# Properties

NAMES = [f"e{n}" for n in range(8)]
REFS: list[Ref] = [(kind, name) for kind in KINDS[:3] for name in NAMES]


@st.composite
def worlds(draw: st.DrawFn) -> tuple[dict[Ref, Item], dict[Ref, Item], set[Ref]]:
    """(desired, universe, foreign): what is wanted, what is owned, what belongs to someone else."""
    universe_refs = draw(st.sets(st.sampled_from(REFS), max_size=12))
    desired_refs = (
        draw(st.sets(st.sampled_from(sorted(universe_refs)), max_size=len(universe_refs))) if universe_refs else set()
    )
    foreign = draw(st.sets(st.sampled_from([r for r in REFS if r not in universe_refs]), max_size=6))
    owners = ["VI_1", "VI_2", "static"]

    def item(ref: Ref) -> Item:
        owner = owners[hash(ref[1]) % 3]
        return Item(ref[0], owner, ref[1], str(ref[1]), Entry(str(ref[1])))

    universe = {ref: item(ref) for ref in sorted(universe_refs)}
    desired = {ref: universe[ref] for ref in sorted(desired_refs)}
    return desired, universe, foreign


@settings(max_examples=300, deadline=None)
@given(
    worlds(),
    st.sets(st.sampled_from(REFS), max_size=8),
    st.lists(
        st.tuples(st.sets(st.sampled_from(REFS), max_size=4), st.sets(st.sampled_from(REFS), max_size=4)), max_size=8
    ),
)
def test_converges_to_desired_and_foreign_and_never_removes_foreign(
    world: tuple[dict[Ref, Item], dict[Ref, Item], set[Ref]],
    leftovers: set[Ref],
    rounds: list[tuple[set[Ref], set[Ref]]],
) -> None:
    desired, universe, foreign = world
    # The kernel starts with someone else's objects and some of ours, wanted or not.
    kernel = Kernel(objects=foreign | (leftovers & set(universe)))
    core = Reconciler(KINDS)
    now = 0.0
    foreign_left = set(foreign)
    for deleted, refused in rounds:
        # Someone deletes objects by hand (maybe someone else's), and the kernel refuses some changes.
        kernel.objects -= deleted
        foreign_left -= deleted
        kernel.refuse = refused
        done = step(core, kernel, desired, universe, now)
        assert not any(isinstance(a, Remove) and a.item.ref in foreign for a in done)
        assert not any(isinstance(a, Add) and a.item.ref not in desired for a in done)
        assert foreign_left <= kernel.objects
        now += 0.3
    # Then the kernel accepts everything: within a few retries, it holds exactly the desired and the foreign.
    kernel.refuse = set()
    for _ in range(50):
        deadline = core.next_deadline()
        now = max(now, deadline or now) + 0.001
        done = step(core, kernel, desired, universe, now)
        assert not any(isinstance(a, Remove) and a.item.ref in foreign for a in done)
        if core.next_deadline() is None:
            break
    assert kernel.objects == set(desired) | foreign_left
    assert core.failures == {} and core.next_deadline() is None
    assert step(core, kernel, desired, universe, now + 60) == []


@settings(max_examples=300, deadline=None)
@given(worlds(), st.sets(st.sampled_from(REFS), max_size=8))
def test_a_restart_whose_previous_report_matches_the_kernel_changes_nothing(
    world: tuple[dict[Ref, Item], dict[Ref, Item], set[Ref]], extra_installed: set[Ref]
) -> None:
    desired, universe, foreign = world
    kernel = Kernel(objects=set(desired) | foreign)
    core = Reconciler(KINDS)
    core.restore(desired.values())
    done = step(core, kernel, desired, universe, 0.0)
    assert changes(done) == []
    assert posts(done) == []
    assert kernel.objects == set(desired) | foreign
    assert set(core.installed) == set(desired)
    # Before the snapshot is in, removal is held: whatever is there stays.
    early = Reconciler(KINDS)
    noise = Kernel(objects=set(universe) | foreign | extra_installed)
    assert not any(isinstance(a, Remove) for a in step(early, noise, desired, universe, 0.0, may_remove=False))


# ---------------------------------------------------------------------------------------------
# What the service reads and writes around the core


def test_bus_keys_of_owners_and_kinds() -> None:
    pairs = [("VI_1", "address"), ("VI_1", "vmac"), ("VI_1", "route"), ("static", "address"), ("static", "rule")]
    assert [state_key(*pair) for pair in pairs] == [
        "net/VI_1/vips",
        "net/VI_1/vmac",
        "net/VI_1/route",
        "net/static/address",
        "net/static/rule",
    ]
    assert [parse_state_key(state_key(*pair)) for pair in pairs] == pairs
    for other in ("net/VI_1/address", "net/static/vips", "vrrp/VI_1", "net//vips", "net/VI_1/vips/x", "net/VI_1/x"):
        assert parse_state_key(other) is None


def test_vrrp_is_running_only_if_it_says_so_and_is_heard_from() -> None:
    running = {"service/vrrp": {"state": "running", "pid": 7}}
    assert vrrp_running(running, {})
    assert vrrp_running(running, {"vrrp": {"last_seen": 0.4}})
    assert not vrrp_running(running, {"vrrp": {"last_seen": 12.0}})  # crashed without a word
    assert not vrrp_running({"service/vrrp": {"state": "stopped"}}, {})
    assert not vrrp_running({}, {})
    state = {"vrrp/VI_1": {"state": "MASTER", "base_priority": 100}, "vrrp/VI_2": {"state": "BACKUP"}, "vrrp/x/y": {}}
    assert vrrp_states({**state, "vrrp/VI_3": "junk", "net/VI_1/vips": {}}) == {"VI_1": "MASTER", "VI_2": "BACKUP"}


def test_netlink_datagrams_are_split_into_message_types() -> None:
    def message(kind: int, payload: bytes) -> bytes:
        length = 16 + len(payload)
        return struct.pack("=IHHII", length, kind, 0, 0, 0) + payload + b"\0" * (-length % 4)

    datagram = message(20, b"\1\2\3") + message(25, b"") + message(16, b"x" * 9)
    assert message_types(datagram) == [20, 25, 16]
    assert message_types(b"") == [] and message_types(b"\0" * 8) == []
    assert message_types(struct.pack("=IHHII", 3, 20, 0, 0, 0)) == []  # a length shorter than the header
