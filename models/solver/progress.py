"""What a running solve tells its caller, and how the caller asks it to stop.

A solve can take minutes; a planner waiting on the CLI or a job poller wants to see
the incumbent and the bound close in, and to stop early and keep the best plan so far.
The engine reports through a :data:`ProgressSink` and polls a :data:`StopFlag`; both
are plain callables so the CLI, a worker process and a test can each supply their own.
HiGHS and CP-SAT poll the flag through the :class:`Monitor`; the heuristic stages work
against a :class:`Cutoff`, their deadline that comes at once when a stop is asked.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial


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


@dataclass(frozen=True)
class Cutoff:
    """The moment a heuristic stage must end by, which comes at once when a stop is asked.

    The heuristics (rosters, shedding, insertion, the serial plan) plan their work against
    a deadline: a step starts only if one as long as the last fits before it. A planner's
    cancel must end them within a fraction of a second too, so each takes a ``Cutoff``
    and asks it, the same way everywhere: :meth:`passed` and :meth:`fits` before a step
    (a stop makes the deadline "now"), :meth:`stopped` inside a step that the deadline
    alone does not cut short (a greedy roster started before the deadline is finished, so
    the time limit's plans stay what they were). A step cut short by a stop is never used:
    the stage returns what it held before it. ``stop`` is polled on every call, so it must
    be cheap (a :meth:`Monitor.stopped`, which throttles the caller's flag, or an event's
    ``is_set``)."""

    moment: float = math.inf
    stop: StopFlag | None = None

    def stopped(self) -> bool:
        """True once a stop was asked."""
        return self.stop is not None and self.stop()

    def passed(self) -> bool:
        """True once the moment has come or a stop was asked."""
        return time.perf_counter() >= self.moment or self.stopped()

    def fits(self, seconds: float) -> bool:
        """Whether a step of ``seconds`` would end before the moment (never once a stop was asked)."""
        return time.perf_counter() + seconds < self.moment and not self.stopped()

    def sooner(self, moment: float) -> "Cutoff":
        """The same stop with the earlier of the two moments."""
        return Cutoff(min(self.moment, moment), self.stop)


class StopRequested(Exception):
    """A step too long to finish after a stop (building a large model) abandoned part-way.

    What the step had built is discarded; the caller that started it turns this into the
    outcome a stop gives everywhere else (the plans in hand are kept), so the exception
    never leaves the engine."""


def never() -> bool:
    """A stop flag for callers that hold none: no stop is ever asked."""
    return False


#: A cutoff that never comes: for callers that hold neither a deadline nor a stop flag.
NEVER = Cutoff()

#: What a heuristic stage works against: a ``time.perf_counter`` moment, or a :class:`Cutoff` that a stop also ends.
Deadline = float | Cutoff


def cutoff(deadline: Deadline) -> Cutoff:
    """A deadline as a :class:`Cutoff` (a bare moment never stops early)."""
    return deadline if isinstance(deadline, Cutoff) else Cutoff(deadline)


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
    #: When the stop request was first seen (a ``time.perf_counter`` moment; None before).
    stop_seen: float | None = None

    def stopped(self) -> bool:
        """True once the caller asked to stop (and from then on)."""
        if self._stop or self.flag is None:
            return self._stop
        now = time.perf_counter()
        if now - self._last_poll >= self.interval:
            self._last_poll = now
            self._stop = bool(self.flag())
            if self._stop:
                self.stop_seen = now
        return self._stop

    def stopped_for(self, seconds: float) -> bool:
        """True once the stop request was seen at least ``seconds`` ago (:meth:`stopped` for 0)."""
        return self.stopped() and self.stop_seen is not None and time.perf_counter() - self.stop_seen >= seconds

    def cutoff(self, moment: float = math.inf, grace: float = 0.0) -> Cutoff:
        """A :class:`Cutoff` at ``moment`` that this monitor's stop request also ends, ``grace``
        seconds after it was seen: a fallback that would give a solve its first plan gets a
        short grace (see ``models.pipeline.clock.FIRST_PLAN_GRACE``), every other stage none.
        (A stage on another thread gets its own, see :class:`models.pipeline.construct.HeuristicBeside`.)"""
        return Cutoff(moment, partial(self.stopped_for, grace) if grace > 0 else self.stopped)

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
