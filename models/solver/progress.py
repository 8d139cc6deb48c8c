"""What a running solve tells its caller, and how the caller asks it to stop.

A solve can take minutes; a planner waiting on the CLI or a job poller wants to see
the incumbent and the bound close in, and to stop early and keep the best plan so far.
The engine reports through a :data:`ProgressSink` and polls a :data:`StopFlag`; both
are plain callables so the CLI, a worker process and a test can each supply their own.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Progress:
    """One observation of a running solve.

    ``incumbent`` and ``bound`` are in the units and sense of the problem's objective
    (the same units as ``Plan.objective``/``Plan.best_bound``); during the portfolio
    stage they are that stage's estimate, since staffing is not yet priced exactly.
    ``gap`` is relative, as in the plan (``None`` until both numbers exist).
    """

    elapsed: float
    stage: str
    incumbent: float | None
    bound: float | None
    gap: float | None

    @property
    def activity(self) -> str:
        """The stage in a planner's words (see :func:`activity`)."""
        return activity(self.stage)


#: Plain words for each stage a solve reports, by the stage's name before any ``[round]``.
ACTIVITIES = {
    "portfolio": "choosing trials, options and start months",
    "staffing": "assigning people to trials",
    "shed": "dropping what staffing could not cover and assigning people again",
    "heuristic": "building a first plan quickly",
    "serial": "building a plan that runs trials one after another",
    "exact": "proving the plan with the exact model",
    "schedule-core": "searching start months for the shortest schedule",
    "done": "done: plan checked and ready",
}


def activity(stage: str) -> str:
    """What a stage does, in a planner's words ("choosing trials, options and start months
    (repair round 2)" for ``portfolio[2]``: chosen again, holding back what staffing could
    not deliver); the stage's own name where it has none."""
    name, _, rest = stage.partition("[")
    words = ACTIVITIES.get(name, stage)
    round_ = rest.rstrip("]")
    if round_.isdigit() and int(round_) > 0:
        words += f" (repair round {round_})"
    return words


#: Receives progress; called from the solving thread, at most a few times per second.
ProgressSink = Callable[[Progress], None]

#: Returns True once the caller wants the solve to stop and return its best plan so far.
StopFlag = Callable[[], bool]


def relative_gap(incumbent: float | None, bound: float | None) -> float | None:
    """|incumbent − bound| / max(1, |incumbent|): the relative gap every plan reports."""
    if incumbent is None or bound is None:
        return None
    return abs(incumbent - bound) / max(1.0, abs(incumbent))


@dataclass
class Monitor:
    """The engine's side of progress and stop: throttles reports, latches a stop request.

    Reports are sent at most every ``interval`` seconds unless forced (a new incumbent),
    and only when a number changed; the stop flag is polled at most every ``interval``
    seconds, since a caller's flag may be a database query.
    """

    sink: ProgressSink | None = None
    flag: StopFlag | None = None
    began: float = field(default_factory=time.perf_counter)
    interval: float = 0.5
    _last_report: float = -1e9
    _last_poll: float = -1e9
    _last_numbers: tuple[str, float | None, float | None] | None = None
    _stop: bool = False

    def stopped(self) -> bool:
        """True once the caller asked to stop (and from then on)."""
        if self._stop or self.flag is None:
            return self._stop
        now = time.perf_counter()
        if now - self._last_poll >= self.interval:
            self._last_poll = now
            self._stop = bool(self.flag())
        return self._stop

    def report(self, stage: str, incumbent: float | None, bound: float | None, force: bool = False) -> None:
        """Send one observation if it is news and not too soon after the last one."""
        if self.sink is None or (incumbent is None and bound is None):
            return
        now = time.perf_counter()
        numbers = (stage, incumbent, bound)
        if numbers == self._last_numbers or (not force and now - self._last_report < self.interval):
            return
        self._last_report, self._last_numbers = now, numbers
        self.sink(Progress(now - self.began, stage, incumbent, bound, relative_gap(incumbent, bound)))
