"""vrrp_sync_group: member routers that change state together.

keepalived 2.2.7's rules (vrrp_sync.c, vrrp_scheduler.c VRRP_TSM and
try_up_instance, vrrp_track.c down_instance, vrrp.c vrrp_complete_init):

- a member goes MASTER only when every other member wants MASTER too (each has
  timed out waiting for a MASTER), or the group is MASTER already; until then it
  stays BACKUP, wanting MASTER, and restarts its master down timer;
- one member becoming MASTER brings all the others to MASTER; one MASTER going
  BACKUP takes all the others to BACKUP;
- one member failing puts every member in FAULT (a MASTER sends priority 0); the
  group comes up again only when no member has a fault of its own;
- a group starts MASTER only if every member is an address owner starting as
  MASTER; otherwise every member starts wanting BACKUP.

Trackers declared on the group are tracked by every member (TrackerSet does
that) with the group's own weights; sync_group_tracking_weight (or the
deprecated global_tracking, its synonym in keepalived) lets members keep the
weights of their own trackers too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from services.vrrp.actions import Action, GroupTransition, IPAddress, Log
from services.vrrp.core import VirtualRouter
from services.vrrp.states import State


class SyncGroup:
    def __init__(self, name: str, routers: Sequence[VirtualRouter]) -> None:
        if not routers:
            raise ValueError(f"sync group {name} has no members")
        self.name = name
        self._members = tuple(routers)
        self._state = State.INIT
        self._settling = False
        for router in self._members:
            router.join(self)
        wants_master = [r.wantstate is State.MASTER and r.settings.owner for r in self._members]
        if any(r.wantstate is State.MASTER for r in self._members) and not all(wants_master):
            for router in self._members:
                if not router.started:
                    router.hold_back()

    @property
    def state(self) -> State:
        return self._state

    @property
    def members(self) -> tuple[VirtualRouter, ...]:
        return self._members

    def member_names(self) -> tuple[str, ...]:
        return tuple(r.name for r in self._members)

    def next_deadline(self) -> float | None:
        deadlines = [d for d in (r.next_deadline() for r in self._members) if d is not None]
        return min(deadlines, default=None)

    # ------------------------------------------------------------------ the service's calls

    def startup(self, now: float) -> list[Action]:
        """Start every member (vrrp_init_state for a group)."""
        faulted = [r for r in self._members if r.fault]
        actions: list[Action] = []
        if faulted:
            new = State.FAULT
            reason = f"{faulted[0].name}: {faulted[0].fault_reason}"
        elif any(r.pending for r in self._members):
            for router in self._members:
                router.hold_in_init(now)
            return actions
        elif all(r.wantstate is State.MASTER and r.settings.owner for r in self._members):
            new = State.MASTER
            reason = "startup"
        else:
            new = State.BACKUP
            reason = "startup"
        actions += self._set_state(new, reason)
        member_reason = reason if new is not State.FAULT else f"sync group {self.name}: {reason}"
        for router in self._members:
            actions += router.group_start(now, new, member_reason)
        return actions

    def resume(
        self,
        previous: Mapping[str, State],
        now: float,
        masters: Mapping[str, IPAddress | None] | None = None,
        *,
        reason: str = "resumed",
    ) -> list[Action]:
        """Take up the states a previous run left (a member missing from `previous`
        starts afresh). As in keepalived's reload, the group is MASTER again only if
        every member was; otherwise a member that was MASTER goes BACKUP."""
        masters = masters or {}
        all_master = all(previous.get(r.name) is State.MASTER for r in self._members)
        actions: list[Action] = []
        self._settling = True
        try:
            for router in self._members:
                state = previous.get(router.name, State.INIT)
                if state in (State.MASTER, State.BACKUP, State.FAULT):
                    actions += router.group_resume(state, now, masters.get(router.name), reason, advertise=all_master)
                else:
                    actions += router.group_start(now, State.BACKUP, reason)
        finally:
            self._settling = False
        actions += self._settle(now, reason, keep_master=all_master)
        return actions

    def shutdown(self, now: float, *, release: bool = True) -> list[Action]:
        actions: list[Action] = []
        for router in self._members:
            actions += router.shutdown(now, release=release)
        actions += self._set_state(State.STOP, "shutdown")
        return actions

    # ------------------------------------------------------------------ the members' calls

    def may_become_master(self, router: VirtualRouter) -> bool:
        """vrrp_sync_can_goto_master(): prefer BACKUP, to avoid thrashing."""
        if self._state is State.MASTER:
            return True
        return all(r.wantstate is State.MASTER for r in self._live() if r is not router)

    def after_event(self, router: VirtualRouter, old: State, now: float, reason: str) -> list[Action]:
        """keepalived's VRRP_TSM: what a member's own move does to the others."""
        if self._settling:
            return []
        if router.state is State.MASTER:
            return self._sync_master(router, now, reason)
        if old is State.MASTER and router.state is State.BACKUP:
            return self._sync_backup(router, now, reason)
        return []

    def member_fault(self, router: VirtualRouter, now: float, reason: str) -> list[Action]:
        if self._settling:
            return []
        return self._sync_fault(router, now, reason)

    def member_ready(self, router: VirtualRouter, now: float, reason: str) -> list[Action]:
        """A member's trackers are all well: the group comes up once every member's are."""
        if self._settling or any(r.fault or r.pending for r in self._live()):
            return []
        actions = router.bring_up(now, reason)
        if router.state is State.MASTER:
            actions += self._sync_master(router, now, reason)
        else:
            actions += self._sync_backup(router, now, reason)
        return actions

    # ------------------------------------------------------------------ moving everyone

    def _live(self) -> list[VirtualRouter]:
        return [r for r in self._members if r.started and r.state is not State.STOP]

    def _set_state(self, new: State, reason: str) -> list[Action]:
        old = self._state
        if new is old:
            return []
        self._state = new
        return [GroupTransition(self.name, old, new, reason)]

    def _log(self, text: str) -> Log:
        return Log(self.name, f"VRRP_Group({self.name}) {text}")

    def _member_reason(self, router: VirtualRouter, reason: str) -> str:
        return f"sync group {self.name}: {router.name} {reason}"

    def _sync_master(self, router: VirtualRouter, now: float, reason: str) -> list[Action]:
        if self._state is State.MASTER or not self.may_become_master(router):
            return []
        actions: list[Action] = [self._log("Syncing instances to MASTER state")]
        for other in self._live():
            if other is not router and other.state is not State.MASTER:
                actions += other.sync_to(State.MASTER, now, self._member_reason(router, reason))
        actions += self._set_state(State.MASTER, reason)
        return actions

    def _sync_backup(self, router: VirtualRouter, now: float, reason: str) -> list[Action]:
        if self._state is State.BACKUP:
            return []
        actions: list[Action] = [self._log("Syncing instances to BACKUP state")]
        for other in self._live():
            if other is not router and other.state is not State.BACKUP:
                actions += other.sync_to(State.BACKUP, now, self._member_reason(router, reason))
        actions += self._set_state(State.BACKUP, reason)
        return actions

    def _sync_fault(self, router: VirtualRouter, now: float, reason: str) -> list[Action]:
        if self._state is State.FAULT:
            return []
        actions: list[Action] = [self._log("Syncing instances to FAULT state")]
        for other in self._live():
            if other is not router and other.state is not State.FAULT:
                actions += other.sync_to(State.FAULT, now, self._member_reason(router, reason))
        actions += self._set_state(State.FAULT, f"{router.name}: {reason}")
        return actions

    def _settle(self, now: float, reason: str, *, keep_master: bool) -> list[Action]:
        """After a resume: bring the members to one state, as the group rules want."""
        live = self._live()
        faulted = [r for r in live if r.fault]
        if faulted:
            self._state = State.INIT
            return self._sync_fault(faulted[0], now, faulted[0].fault_reason)
        if keep_master and all(r.state is State.MASTER for r in live):
            self._state = State.MASTER
            return []
        actions: list[Action] = []
        if any(r.pending for r in live) and any(r.state in (State.FAULT, State.INIT) for r in live):
            # The group waits in FAULT for the trackers still to report, as it would at startup.
            for router in live:
                if router.state is not State.FAULT:
                    actions += router.sync_to(State.FAULT, now, f"sync group {self.name}: {reason}")
            self._state = State.FAULT
            return actions
        moved = False
        for router in live:
            if router.state is not State.BACKUP:
                actions += router.sync_to(State.BACKUP, now, f"sync group {self.name}: {reason}")
                moved = True
        if moved:
            actions += self._set_state(State.BACKUP, reason)
        else:
            self._state = State.BACKUP
        return actions
