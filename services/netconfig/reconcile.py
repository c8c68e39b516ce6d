"""Making the kernel match the desired state, without touching it: the sans-IO core of netconfig.

The caller says what is wanted and what the configuration owns (desired.py, as `Item`s),
and what the kernel has (`observe`, per kind, for the entries asked about). `plan` answers
with the changes to make, in a safe order: removals first, later kinds before earlier ones
(rules, routes, addresses, then VMACs), then additions the other way round, so that a VMAC
exists before the addresses on it and an address before the routes that use it. The
caller makes each change and reports how it went (`applied`), which yields the events to
post; `reports` gives what to publish for each owner and kind; `next_deadline` says when
a failed change is due again.

What netconfig installed is remembered, and what an earlier run reported installed can be
given back (`restore`), so that after a restart:

- an entry wanted and already in the kernel is adopted, never removed and added again;
- an entry installed earlier and no longer wanted (nor even configured) is removed;
- an entry nobody configured nor installed is never touched, whatever it is.

Drift is an entry netconfig installed, still wants, and the kernel no longer has: it is
added again and a `drift` event says so. An entry marked not tracked (`no_track`) is not
put back: as in keepalived, it stays away until it stops being wanted and is wanted again.

Failures are retried after 0.5 s, then twice as long each time up to 30 s; a caller that
learns something that may cure a failure (an interface appeared) asks for the failures
of that reason to be retried at once.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

Ref = tuple[str, Hashable]  # (kind, key): one kernel object

RETRY_FIRST = 0.5
RETRY_MAX = 30.0


class Codec(Protocol):
    """The pure part of a kind (services.netconfig.kinds.Kind): identity and text of its entries."""

    name: str

    def key(self, entry: Any) -> Hashable: ...

    def text(self, entry: Any) -> str: ...


@dataclass(frozen=True)
class Item:
    """One entry of one kind, as an owner (`VI_1`, `static`) wants or owns it."""

    kind: str
    owner: str
    key: Hashable
    text: str
    entry: Any = field(compare=False)
    tracked: bool = True  # False: when it disappears, say so but do not put it back

    @property
    def ref(self) -> Ref:
        return (self.kind, self.key)


def make_items(codecs: Mapping[str, Codec], entries: Mapping[str, Mapping[str, Sequence[Any]]]) -> dict[Ref, Item]:
    """kind -> owner -> entries as Items keyed by kernel identity; the first owner of an object keeps it.

    Kinds without a codec are left out.
    """
    items: dict[Ref, Item] = {}
    for kind, owners in entries.items():
        codec = codecs.get(kind)
        if codec is None:
            continue
        for owner, owned in owners.items():
            for entry in owned:
                item = Item(
                    kind, owner, codec.key(entry), codec.text(entry), entry, not getattr(entry, "no_track", False)
                )
                items.setdefault(item.ref, item)
    return items


# ---------------------------------------------------------------------------------------------
# What the core asks for


@dataclass(frozen=True)
class Add:
    item: Item
    repair: bool = False  # putting back an entry that disappeared


@dataclass(frozen=True)
class Remove:
    item: Item


@dataclass(frozen=True)
class Post:
    """An event about one entry: action is added, removed, drift, error or retry_ok."""

    owner: str
    kind: str
    action: str
    text: str
    error: str | None = None
    repair: bool | None = None  # for drift: whether it is being put back


@dataclass(frozen=True)
class Publish:
    """The status of one owner's entries of one kind; value None: nothing to report any more."""

    owner: str
    kind: str
    value: dict[str, Any] | None


Action = Add | Remove | Post | Publish
Change = Add | Remove


@dataclass(frozen=True)
class Fault:
    """Why the kernel refused a change: `reason` is the errno name (ENODEV, EEXIST, ...)."""

    reason: str
    message: str


@dataclass
class Failure:
    item: Item
    operation: str  # "add" or "remove"
    fault: Fault
    attempts: int
    retry_at: float


def backoff(attempts: int, first: float = RETRY_FIRST, most: float = RETRY_MAX) -> float:
    return float(min(most, first * 2 ** max(0, attempts - 1)))


# ---------------------------------------------------------------------------------------------
# The core


class Reconciler:
    def __init__(self, kind_order: Sequence[str], *, retry_first: float = RETRY_FIRST, retry_max: float = RETRY_MAX):
        self.kind_order = tuple(kind_order)
        self.retry_first = retry_first
        self.retry_max = retry_max
        self.installed: dict[Ref, Item] = {}
        self.failures: dict[Ref, Failure] = {}
        self.lost: set[Ref] = set()  # untracked entries that disappeared while wanted
        self.previous: dict[Ref, Item] = {}  # reported installed by an earlier run, not yet checked
        self._present: dict[str, set[Hashable]] = {}
        self._published: dict[tuple[str, str], dict[str, Any]] = {}

    # ------------------------------------------------------------ inputs

    def restore(self, items: Iterable[Item]) -> None:
        """What an earlier run reported installed; each is adopted if the kernel still has it."""
        for item in items:
            if item.ref not in self.installed:
                self.previous.setdefault(item.ref, item)

    def interest(self, kind: str, desired: Mapping[Ref, Item], universe: Mapping[Ref, Item]) -> list[Item]:
        """The entries of `kind` whose presence in the kernel matters: ask the kernel about these."""
        seen: dict[Ref, Item] = {}
        for source in (desired, universe, self.installed, self.previous):
            for ref, item in source.items():
                if item.kind == kind:
                    seen.setdefault(ref, item)
        return list(seen.values())

    def observe(self, kind: str, keys: Collection[Hashable]) -> None:
        """The keys of `kind` the kernel has now, among those of `interest(kind, ...)`."""
        self._present[kind] = set(keys)

    def is_present(self, ref: Ref) -> bool | None:
        """Whether the kernel has it, as last observed; None if the kind was never observed."""
        present = self._present.get(ref[0])
        return None if present is None else ref[1] in present

    # -------------------------------------------------------------- plan

    def plan(
        self,
        desired: Mapping[Ref, Item],
        universe: Mapping[Ref, Item],
        now: float,
        *,
        may_remove: bool = True,
        hold: Collection[Ref] = (),
        retry_reasons: Collection[str] = (),
    ) -> list[Action]:
        """The changes that make the kernel match `desired`.

        `may_remove` False holds every removal (until it is known what an earlier run
        installed and which instances are MASTER). The entries of `hold` are neither
        added nor removed. Failures whose reason is in `retry_reasons` are retried now.
        """
        self._check_previous()
        posts: list[Action] = []
        removals: list[Remove] = []
        additions: list[Add] = []
        refs = dict.fromkeys([*desired, *universe, *self.installed, *self.failures])
        for ref in refs:
            present = self.is_present(ref)
            if present is None:
                continue
            if ref in hold:
                continue
            want = desired.get(ref)
            item = want or self.installed.get(ref) or universe.get(ref) or self.failures[ref].item
            failure = self.failures.get(ref)
            if failure is not None and (want is not None) != (failure.operation == "add"):
                # Failed doing what is no longer asked for.
                del self.failures[ref]
                failure = None
            due = failure is None or failure.retry_at <= now or failure.fault.reason in retry_reasons
            if want is None:
                self.lost.discard(ref)
                if not present:
                    self.installed.pop(ref, None)
                    self.failures.pop(ref, None)
                elif may_remove and due and (ref in universe or ref in self.installed):
                    removals.append(Remove(item))
                continue
            if present:
                self._keep(ref, want, removals, additions, may_remove=may_remove and due)
                continue
            if ref in self.lost:
                continue
            gone = self.installed.pop(ref, None)
            if gone is not None:
                posts.append(Post(want.owner, want.kind, "drift", gone.text, repair=want.tracked))
                if want.tracked:
                    additions.append(Add(want, repair=True))
                else:
                    self.lost.add(ref)
            elif due:
                additions.append(Add(want))
        self._postpone_untouched(now)
        order = {kind: n for n, kind in enumerate(self.kind_order)}
        removals.sort(key=lambda change: -order.get(change.item.kind, len(order)))
        additions.sort(key=lambda change: order.get(change.item.kind, len(order)))
        return [*posts, *removals, *additions]

    def _keep(self, ref: Ref, want: Item, removals: list[Remove], additions: list[Add], *, may_remove: bool) -> None:
        """Wanted and there: adopt it, or replace it if what this process installed there differs."""
        self.lost.discard(ref)
        mine = self.installed.get(ref)
        if mine is not None and mine.text != want.text:
            if may_remove:
                removals.append(Remove(mine))
                additions.append(Add(want))
            return
        self.installed[ref] = want
        self.failures.pop(ref, None)

    def _check_previous(self) -> None:
        for ref, item in list(self.previous.items()):
            present = self.is_present(ref)
            if present is None:
                continue
            del self.previous[ref]
            if present:
                self.installed.setdefault(ref, item)

    def _postpone_untouched(self, now: float) -> None:
        """A failure left due (held, say) waits another round rather than spin the loop."""
        for failure in self.failures.values():
            if failure.retry_at <= now:
                failure.retry_at = now + backoff(failure.attempts, self.retry_first, self.retry_max)

    # ----------------------------------------------------------- results

    def applied(self, change: Change, fault: Fault | None, now: float) -> list[Post]:
        """How a change went; the events to post about it."""
        item = change.item
        adding = isinstance(change, Add)
        ref = item.ref
        if fault is None:
            present = self._present.setdefault(item.kind, set())
            if adding:
                present.add(item.key)
                self.installed[ref] = item
            else:
                present.discard(item.key)
                self.installed.pop(ref, None)
            earlier = self.failures.pop(ref, None)
            action = "retry_ok" if earlier is not None else "added" if adding else "removed"
            return [Post(item.owner, item.kind, action, item.text)]
        earlier = self.failures.get(ref)
        operation = "add" if adding else "remove"
        attempts = earlier.attempts + 1 if earlier is not None and earlier.operation == operation else 1
        self.failures[ref] = Failure(
            item, operation, fault, attempts, now + backoff(attempts, self.retry_first, self.retry_max)
        )
        if earlier is not None and earlier.operation == operation and earlier.fault.reason == fault.reason:
            return []
        return [Post(item.owner, item.kind, "error", item.text, f"{fault.reason}: {fault.message}")]

    def next_deadline(self) -> float | None:
        return min((f.retry_at for f in self.failures.values()), default=None)

    # ----------------------------------------------------------- reports

    def status(
        self, desired: Mapping[Ref, Item], universe: Mapping[Ref, Item], always: Iterable[tuple[str, str]] = ()
    ) -> dict[tuple[str, str], dict[str, Any]]:
        """(owner, kind) -> {"desired": [text...], "installed": [text...], "errors": {text: "REASON: message"}}."""
        out: dict[tuple[str, str], dict[str, Any]] = {
            pair: {"desired": [], "installed": [], "errors": {}} for pair in always
        }

        def slot(item: Item) -> dict[str, Any]:
            return out.setdefault((item.owner, item.kind), {"desired": [], "installed": [], "errors": {}})

        for item in universe.values():
            slot(item)
        for item in desired.values():
            slot(item)["desired"].append(item.text)
        ordered = [ref for ref in desired if ref in self.installed]
        ordered += sorted((ref for ref in self.installed if ref not in desired), key=lambda r: self.installed[r].text)
        for ref in ordered:
            slot(self.installed[ref])["installed"].append(self.installed[ref].text)
        for failure in self.failures.values():
            slot(failure.item)["errors"][failure.item.text] = f"{failure.fault.reason}: {failure.fault.message}"
        return out

    def reports(
        self, desired: Mapping[Ref, Item], universe: Mapping[Ref, Item], always: Iterable[tuple[str, str]] = ()
    ) -> list[Action]:
        """What changed in the status since the last call."""
        current = self.status(desired, universe, always)
        changes: list[Action] = []
        for pair, value in current.items():
            if self._published.get(pair) != value:
                changes.append(Publish(pair[0], pair[1], value))
        for pair in self._published.keys() - current.keys():
            changes.append(Publish(pair[0], pair[1], None))
        self._published = current
        return changes
