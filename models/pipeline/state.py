"""What the stages of one solve hand on to each other."""

from __future__ import annotations

import time
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Literal

from models.contract.churn import Baseline
from models.contract.plan import Churn, Explanation, Plan, StageTiming
from models.contract.problem import Problem, Stability
from models.formulation.instance import Instance
from models.formulation.portfolio import PortfolioResult, Reserve
from models.heuristics.shed import Staffed
from models.pipeline.candidates import Candidates
from models.pipeline.clock import Clock
from models.pipeline.construct import HeuristicBeside
from models.solver.bound_search import BoundSearch
from models.solver.progress import Monitor
from models.solver.settings import EngineSettings



@dataclass
class Replan:
    """A re-plan's previous plan, what it is compared against, and the candidates built from it
    (:mod:`models.pipeline.replan`)."""

    previous: Plan
    #: The freeze, from which changes count (None: the whole horizon), and its month index.
    since: str | None
    since_index: int
    stability: Stability | None
    #: The previous plan read once for counting each candidate's changes.
    baseline: Baseline
    #: The previous plan's trials that may still start as they did (``replan.previous_schedule``).
    schedule: dict[str, tuple[str, int]]
    #: Whether the problem has the previous plan's fingerprint: no event since it was made.
    same_world: bool
    #: The previous plan kept where it still holds (None if it could not be staffed within the rules).
    kept: Staffed | None = None
    #: Each candidate's changes against the previous plan, by the id of its Staffed.
    churn: dict[int, Churn] = field(default_factory=dict)


@dataclass
class SolveState:
    """One solve as it goes: the compiled problem, the clock, the plans found, and what
    the portfolio rounds learnt and proved."""

    problem: Problem
    settings: EngineSettings
    inst: Instance
    clock: Clock
    monitor: Monitor
    timings: list[StageTiming]
    best: Candidates
    #: The constructive schedule: round 0's warm start (None if none was found).
    start: dict[str, tuple[str, int]] | None = None
    #: Where a role is scarce, the portfolio core's schedule (:mod:`models.heuristics.cp_portfolio`),
    #: as it came from CP-SAT before any roster: round 0's warm start in place of the
    #: constructive one (None where the core did not run or found nothing).
    core_start: dict[str, tuple[str, int]] | None = None
    #: Whether the constructive plan is staffed at the start (beside round 0, or first in
    #: reproducible mode) rather than last.
    staffed_early: bool = False
    beside: HeuristicBeside | None = None
    #: The LP bound priced exactly (only with ``EngineSettings.cost_tiers``).
    lp_bound: float | None = None
    reserve: Reserve = field(default_factory=Reserve)
    search: BoundSearch | None = None
    #: Round 0, whose model stays loaded: the bound search's source and the marginal values' LP.
    first: PortfolioResult | None = None
    #: The tightest bound proven so far, in the plan's units and sense.
    bound: float | None = None
    #: Why the rounds ended: all run, the time limit, or a stop request.
    ended: Literal["rounds", "time", "stop"] = "rounds"
    #: A round's plan needed no repair.
    converged: bool = False
    #: The best plan is within the gap of a proven bound.
    proven: bool = False
    #: HiGHS runs the clock ended rather than their work limit or gap (reproducible mode reports them).
    clock_ruled: list[str] = field(default_factory=list)
    #: Where an infeasible problem's diagnosis steps and change checks run side by side (None: in turn, here).
    executor: Executor | None = None
    #: A re-plan's previous plan and the candidates built from it (None: not a re-plan).
    replan: Replan | None = None

    def empty(self, status: Literal["infeasible", "no_solution"], message: str, explanations: list[Explanation] | None = None) -> Plan:
        """A plan without a schedule: why there is none, and the stages' times."""
        return Plan(
            status=status,
            message=message,
            explanations=explanations or [],
            solve_seconds=time.perf_counter() - self.clock.began,
            stages=self.timings,
        )
