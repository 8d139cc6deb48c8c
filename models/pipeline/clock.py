"""Every timing rule of a solve, in one place with its reason.

The planner's time limit is a budget the stages share and a promise: the plan is back
within about a second of it. A solve's :class:`Clock` holds the two moments every stage
works against: the *deadline*, by which each stage has ended, leaving room to build and
check the plan; and the *last call*, a little past the limit, until which a fallback may
still run when it would give the first plan of all. The rest are the shares and margins
the stages use, each with the measurement that set it.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass

from models.contract.plan import StageTiming
from models.contract.problem import Problem
from models.formulation.instance import Instance
from models.heuristics.sgs import applies as sgs_applies
from models.solver.highs import SolveOutcome
from models.solver.settings import EngineSettings

#: Building and checking the plan at the end, per staff-month of the problem (1.1 s and
#: 1.7 s at 10x the reference, 180,000 staff-months; 0.15 s and 0.14 s at its size).
ASSEMBLY_SECONDS_PER_STAFF_MONTH = 2e-5
#: Most of the time limit kept for that.
MAX_ASSEMBLY_SHARE = 0.25
#: How long past the time limit a fallback may still run when it would give the first plan of all.
LAST_CALL_SECONDS = 0.5
#: How long after a stop request a fallback that would give the solve its first plan may go
#: on (a stop ends every other stage at once): on a small portfolio the constructive plan is
#: staffed in milliseconds, and a planner who stops at once still gets a plan; on the
#: reference one greedy roster takes longer than this, so a stop there returns no plan
#: rather than wait for it (a cancel ends a solve within about a second, issue 20).
FIRST_PLAN_GRACE = 0.25
#: Least time left under the limit for a HiGHS run (a portfolio round, the staffing MIP) to start.
MIN_SOLVER_SECONDS = 0.5
#: Share of the time left that the schedule core (CP-SAT, :mod:`models.heuristics.cp_schedule`)
#: may take before the portfolio stage on a pure scheduling problem. On PSPLIB j30 it
#: proves most optima within a second and returns; where it does not, HiGHS's
#: time-indexed model has not finished its root node either (the scarce-resource classes),
#: so the half it gives up costs the portfolio stage little.
SCHEDULE_CORE_SHARE = 0.5
#: Share of the time left kept for the roster after a pure scheduling problem's only round.
PURE_STAFFING_SHARE = 0.1
#: Most of the time left that the staffing MIP may take: it competes with rosters already
#: in hand, and a repair round after it may matter more (on a 5x portfolio it took 18 s of 20).
STAFFING_MIP_SHARE = 0.3
#: A repair round's soft limit, as a multiple of round 0's HiGHS time: from one seed a round
#: had its plan at 2 s and was done, from another it branched 13 s for a worse one.
SETTLE_FACTOR = 1.5
#: Least time left in the bound search for a round that only looks for a better plan.
MIN_IMPROVE_SECONDS = 3.0
#: Least time a bound search must have before the deadline to start.
MIN_BOUND_SEARCH_SECONDS = 2.0
#: How many rosters' time (as long as the longest so far) must be left for the late roster
#: of the constructive plan to start on a portfolio too large to staff it beside round 0:
#: with one roster's room, at 10x it started at 97 s of 120 and the plan came back at 116 s,
#: 119.5 s wall with start-up, parsing and writing.
LATE_ROSTER_MARGIN = 1.5
#: Share of the time left that an infeasible problem's diagnosis (which rules bind, the least
#: changes that fix it) may take; the rest solves the problem again with each change applied,
#: to say whether it is enough.
DIAGNOSIS_SHARE = 0.5
#: The exact model starts only with this many times the portfolio stage's longest model
#: build left (and ``MIN_SOLVER_SECONDS`` more): it holds every start and precedence row of
#: stage 1 plus the named columns, and its build is not interruptible (on a generated
#: 20-job multi-mode instance it started with 1.2 s left and took 3 s: 13.6 s on a 10 s limit).
EXACT_BUILD_FACTOR = 2.0
#: Least time a step of the diagnosis must have to start (below it a HiGHS run finds nothing).
MIN_STEP_SECONDS = 0.05
#: How long past its deadline a sub-solve handed to an executor is waited for: HiGHS's time
#: limit leaves out building the model and handing the answer back. Never past the time
#: limit itself.
OVERRUN_SECONDS = 1.0
#: Each run estimating what more budget buys (:mod:`models.pipeline.budget`) may take at
#: most this many times round 0's own time: it starts from a schedule round 0 took that
#: long to find and needs no proof, only the better schedules within reach (uncapped, the
#: runs shared all the time left under the limit).
BUDGET_RUN_FACTOR = 1.0
#: Least time a check of a change (a solve of the changed problem) must have to start.
MIN_VERIFY_SECONDS = 1.0
#: Scales a change is checked at, in turn, until one gives a plan: the portfolio stage's
#: least change prices staffing optimistically (on a budget-cut reference it found the
#: least extra budget, with which no staffed plan came; with 10 % more one did).
CHECK_FACTORS = (1.0, 1.1, 1.5)
#: Least time left under the limit for the marginal-value LP to run (it re-solves a model
#: already loaded in HiGHS, with every start fixed: well under a second on the reference).
MARGINAL_SECONDS = 1.0
#: Share of the time left a re-plan's fewest-changes run of stage 1 may take (then a roster of its
#: schedule): it hands round 0's model to a HiGHS of its own, so it costs a hand-over as well as
#: the search, and the plan in hand already meets the tolerance; a quarter leaves the bound
#: search and the plan's last stages most of what is left.
FEWEST_CHANGES_SHARE = 0.25
#: Share of the time left the last insertion pass may take (each attempt one roster): like the
#: fewest-changes run it works beside the bound search on the other core, and a quarter leaves
#: the bound search, the plan's check and its marginal values the rest.
INSERTION_SHARE = 0.25
#: Share of the time left consolidation may take (bench: 0.3 s on the reference): it only
#: rearranges a roster in hand, so it never needs more than what insertion leaves.
CONSOLIDATION_SHARE = 0.25
#: In reproducible mode, the share of the time limit whose work (see ``EngineSettings.work_limit``)
#: each HiGHS run of the bound search, of the exact model and of the staffing MIP may do.
REPRODUCIBLE_BOUND_SHARE = 0.3


@dataclass(frozen=True)
class Clock:
    """The moments a solve works against (``time.perf_counter`` values)."""

    began: float
    deadline: float
    last_call: float

    @classmethod
    def start(cls, problem: Problem, time_limit: float, started: float | None = None) -> "Clock":
        """The clock of a solve whose limit counts from ``started`` (or now)."""
        began = time.perf_counter() if started is None else min(started, time.perf_counter())
        return cls(began, began + time_limit - assembly_reserve(problem, time_limit), began + time_limit + LAST_CALL_SECONDS)

    def left(self) -> float:
        """Seconds to the deadline (negative once past it)."""
        return self.deadline - time.perf_counter()

    def fallback_by(self, have_plan: bool) -> float:
        """Until when a stage may run: the deadline, or the last call while no plan is in hand."""
        return self.deadline if have_plan else self.last_call


def assembly_reserve(problem: Problem, time_limit: float) -> float:
    """Seconds kept after the last stage to build the plan and check it: about
    ``ASSEMBLY_SECONDS_PER_STAFF_MONTH`` per staff-month (2.8 s at 10x the reference,
    measured), at most ``MAX_ASSEMBLY_SHARE`` of the limit."""
    estimate = ASSEMBLY_SECONDS_PER_STAFF_MONTH * len(problem.staff) * problem.horizon.months
    return min(MAX_ASSEMBLY_SHARE * time_limit, estimate)


def round_limits(inst: Instance, settings: EngineSettings, remaining: float, round_: int) -> tuple[float, float | None]:
    """A portfolio round's time limit out of the ``remaining`` seconds, and for round 0 the
    soft limit past which it stops once within ``EngineSettings.extend_gap`` (else None).

    A pure scheduling problem (no budgets, skills, regions, pins or limits of concurrent
    trials that can bind) leaves staffing nothing to break, so the portfolio stage may use
    nearly all the time: all but ``PURE_STAFFING_SHARE`` of it, for the roster.
    """
    if sgs_applies(inst):
        return max(0.0, remaining * (1 - PURE_STAFFING_SHARE)), None
    limit = remaining * settings.portfolio_share
    if round_ == 0 and settings.portfolio_share < settings.portfolio_share_max:
        return max(0.0, remaining * settings.portfolio_share_max), limit
    return max(0.0, limit), None


def roster_seconds(timings: list[StageTiming]) -> float:
    """How long a greedy roster of this portfolio took so far (the longest; 0 before any)."""
    return max((t.seconds for t in timings if t.stage.startswith("staffing-greedy")), default=0.0)


def staffing_seconds(timings: list[StageTiming]) -> float:
    """How long staffing one round's schedule took so far (all its rosters; the longest round)."""
    rounds: dict[str, float] = defaultdict(float)
    for t in timings:
        if t.stage.startswith("staffing-"):
            rounds[t.stage[t.stage.find("[") :]] += t.seconds
    return max(rounds.values(), default=0.0)


def late_roster_fits(timings: list[StageTiming], remaining: float) -> bool:
    """Whether ``LATE_ROSTER_MARGIN`` rosters, each as long as the longest so far, fit in ``remaining`` seconds."""
    return LATE_ROSTER_MARGIN * roster_seconds(timings) < remaining


def timing(stage: str, outcome: SolveOutcome) -> StageTiming:
    """A HiGHS run as the plan reports it: its seconds (build included), status, size and work."""
    o = outcome
    status = "optimal" if o.proven_optimal else ("feasible" if o.has_solution else ("infeasible" if o.infeasible else "no_solution"))
    return StageTiming(
        stage=stage,
        seconds=o.build_seconds + o.seconds,
        build_seconds=o.build_seconds,
        solver_seconds=o.solver_seconds,
        status=status,
        variables=o.variables,
        constraints=o.constraints,
        nodes=o.nodes,
    )
