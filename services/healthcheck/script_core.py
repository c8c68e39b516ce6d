"""vrrp_script scheduling and rise/fall, as keepalived 2.2.7 does them (pure: explicit `now`, no processes).

The adapter (services.healthcheck.runner) starts the runs this core asks for,
signals their process groups when it says so, and reports how each ended.

keepalived's rules (vrrp_scheduler.c vrrp_script_thread, vrrp_script_child_thread):
- a script first runs at start, then every `interval` from the previous launch;
- `result` counts 0..rise+fall-1 and the script is OK while `result >= rise`;
  it starts at rise-1, so the first result decides at once either way;
  afterwards an OK script fails after `fall` failures in a row, and a failed one
  recovers after `rise` successes in a row;
- only exit status 0 is a success; a run still going at `timeout` (the interval
  when unset) gets SIGTERM to its process group, SIGKILL 2 s later, then SIGKILL
  every 10 s; dying of those signals is `timed_out`.

One deliberate difference (docs/compatibility.md): a script never overlaps with
itself. keepalived 2.2.7 logs "Track script X is already running, expect idle -
skipping run" and starts another copy anyway; here the run is skipped, as the
message says and as keepalived 2.0 did.
"""

from __future__ import annotations

import heapq
import itertools
import signal
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

KILL_AFTER = 2.0  # seconds from SIGTERM to the first SIGKILL
KILL_AGAIN = 10.0  # seconds between further SIGKILLs of a group that will not die


@dataclass(frozen=True)
class ScriptSpec:
    name: str
    argv: tuple[str, ...]
    interval: float
    timeout: float  # seconds a run may take (keepalived: the interval when unset)
    rise: int = 1
    fall: int = 1
    uid: int | None = None  # None: as this process
    gid: int | None = None


# ---------------------------------------------------------------- what happened to a run


@dataclass(frozen=True)
class Exited:
    status: int


@dataclass(frozen=True)
class Signalled:
    signal: int


Ending = Exited | Signalled


# ---------------------------------------------------------------- what the adapter must do


@dataclass(frozen=True)
class Spawn:
    script: str
    run: int  # the id the adapter reports the run's end with


@dataclass(frozen=True)
class SignalGroup:
    script: str
    run: int
    signal: int
    again: bool = False  # a SIGKILL that did not take: the adapter logs it with the pid


@dataclass(frozen=True)
class Result:
    """The script's state changed (or was decided for the first time): publish it."""

    script: str
    ok: bool
    reason: str  # "succeeded", "failed (exited with status 1)", "timed_out", ...


@dataclass(frozen=True)
class Log:
    message: str


Action = Spawn | SignalGroup | Result | Log


class Phase(Enum):
    RUNNING = "running"
    TERMINATING = "terminating"  # SIGTERM sent
    KILLING = "killing"  # SIGKILL sent


@dataclass
class _Run:
    id: int
    phase: Phase = Phase.RUNNING
    next_step: float = 0.0  # when the timeout handling acts next


@dataclass
class ScriptState:
    spec: ScriptSpec
    result: int = 0
    decided: bool = False  # a first result came
    last_status: int = 0  # the last normal exit status (keepalived's "now returning" line)
    run: _Run | None = None
    next_launch: float = 0.0
    runs: int = 0

    @property
    def ok(self) -> bool:
        return self.result >= self.spec.rise


class ScriptsCore:
    def __init__(self, specs: Iterable[ScriptSpec]) -> None:
        self.scripts = {spec.name: ScriptState(spec, result=spec.rise - 1) for spec in specs}
        self._heap: list[tuple[float, int, str]] = []
        self._seq = itertools.count()
        self._run_ids = itertools.count(1)

    def start(self, now: float) -> list[Action]:
        for name, state in self.scripts.items():
            state.next_launch = now
            self._push(now, name)
        return self.tick(now)

    def next_deadline(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def tick(self, now: float) -> list[Action]:
        actions: list[Action] = []
        while self._heap and self._heap[0][0] <= now:
            _, _, name = heapq.heappop(self._heap)
            state = self.scripts.get(name)
            if state is None:
                continue
            run = state.run
            if run is not None and run.next_step <= now:
                actions += self._time_out(state, run, now)
            if state.next_launch <= now:
                actions += self._launch(state, now)
        return actions

    def ended(self, name: str, run_id: int, ending: Ending, now: float) -> list[Action]:
        """A run ended (reaped by the adapter)."""
        state = self.scripts.get(name)
        if state is None or state.run is None or state.run.id != run_id:
            return []
        run, state.run = state.run, None
        actions: list[Action] = []
        if isinstance(ending, Exited):
            if ending.status != state.last_status:
                actions.append(Log(f"Script `{name}` now returning {ending.status}"))
                state.last_status = ending.status
            success = ending.status == 0
            reason = "succeeded" if success else f"failed (exited with status {ending.status})"
        else:
            timed_out = (run.phase is Phase.TERMINATING and ending.signal == signal.SIGTERM) or (
                run.phase is Phase.KILLING and ending.signal in (signal.SIGTERM, signal.SIGKILL)
            )
            success = False
            reason = "timed_out" if timed_out else f"failed (due to signal {ending.signal})"
        actions += self._count(state, success, reason)
        return actions

    # ------------------------------------------------------------ internals

    def _count(self, state: ScriptState, success: bool, reason: str) -> list[Action]:
        """keepalived's update of `result`; a Result when the state flips, or on the first result."""
        rise, fall = state.spec.rise, state.spec.fall
        first = not state.decided
        state.decided = True
        was_ok = state.ok
        if success:
            if state.result < rise - 1:
                state.result += 1
            else:
                state.result = rise + fall - 1
        elif state.result > rise:
            state.result -= 1
        else:
            state.result = 0
        if state.ok == was_ok and not first:
            return []
        name = state.spec.name
        return [Log(f"VRRP_Script({name}) {reason}"), Result(name, state.ok, reason)]

    def _launch(self, state: ScriptState, now: float) -> list[Action]:
        spec = state.spec
        state.next_launch = now + spec.interval
        self._push(state.next_launch, spec.name)
        if state.run is not None:
            doing = "already running" if state.run.phase is Phase.RUNNING else "being timed out"
            return [Log(f"Track script {spec.name} is {doing}, expect idle - skipping run")]
        run = _Run(next(self._run_ids), next_step=now + spec.timeout)
        state.run = run
        state.runs += 1
        self._push(run.next_step, spec.name)
        return [Spawn(spec.name, run.id)]

    def _time_out(self, state: ScriptState, run: _Run, now: float) -> list[Action]:
        name = state.spec.name
        actions: list[Action] = []
        if run.phase is Phase.RUNNING:
            run.phase, run.next_step = Phase.TERMINATING, now + KILL_AFTER
            actions.append(SignalGroup(name, run.id, signal.SIGTERM))
        else:
            again = run.phase is Phase.KILLING
            run.phase = Phase.KILLING
            run.next_step = now + (KILL_AGAIN if again else KILL_AFTER)
            actions.append(SignalGroup(name, run.id, signal.SIGKILL, again=again))
        self._push(run.next_step, name)
        return actions

    def _push(self, at: float, name: str) -> None:
        heapq.heappush(self._heap, (at, next(self._seq), name))
