"""The constructive heuristic: a valid plan on its own, HiGHS's warm start, and a floor the solve never drops below."""

from __future__ import annotations

import math
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.contract.check import check_plan
from models.tools.generate import generate
from models.solver.highs import Watch
from models.solver.highs import solve as highs_solve
from models.heuristics.constructive import constructive_schedule
from models.heuristics.insertion import insert_trials
from models.formulation.instance import compile_instance
from models.formulation.objective import plan_objective
from models.pipeline import solve
from models.formulation.assemble import build_plan
from models.contract.plan import Plan
from models.contract.problem import Problem
from models.contract.validation import parse_problem
from models.formulation.portfolio import PortfolioModel, Reserve, solve_portfolio
from models.solver.progress import Monitor
from models.solver.settings import EngineSettings
from models.heuristics.sgs import tighten_for_makespan
from models.heuristics.shed import budget_roster, shed
from tests.conftest import ROOT, base_problem


def heuristic_plan(problem: Problem) -> Plan | None:
    """What the pipeline's constructive step alone would return."""
    inst = compile_instance(problem)
    tighten_for_makespan(inst)
    schedule = constructive_schedule(inst)
    if schedule is None:
        return None
    kept = shed(inst, schedule, budget_roster(inst, schedule))
    if kept is None:
        return None
    sense = -1.0 if problem.objective.kind == "value" else 1.0
    kept = insert_trials(inst, kept, lambda solved: sense * plan_objective(inst, solved.schedule, solved.staffing), math.inf)
    plan = build_plan(inst, kept.schedule, kept.staffing, [])
    plan.status = "feasible"
    return plan


def _assert_clean(problem: Problem, plan: Plan) -> None:
    violations = check_plan(problem, plan)
    assert violations == [], "\n".join(f"{v.rule}: {v.message}" for v in violations)


def _not_worse(problem: Problem, plan: Plan, floor: Plan) -> bool:
    assert plan.objective is not None and floor.objective is not None
    slack = 1e-9 * max(1.0, abs(floor.objective))
    if problem.objective.kind == "value":
        return plan.objective >= floor.objective - slack
    return plan.objective <= floor.objective + slack


def test_heuristic_places_worthwhile_optional_trials_after_the_mandatory_ones():
    problem = parse_problem(
        base_problem(
            trials=[
                {"id": "T1", "mandatory": True, "options": [{"id": "std", "stages": [{"months": 3, "demand": {"CRA": 1.0}}]}]},
                {"id": "T2", "value": 500_000, "options": [{"id": "std", "stages": [{"months": 3, "demand": {"CRA": 1.0}}]}]},
                {"id": "T3", "value": 1_000, "options": [{"id": "std", "stages": [{"months": 3, "demand": {"CRA": 1.0}}]}]},
            ]
        )
    )
    plan = heuristic_plan(problem)
    assert plan is not None
    _assert_clean(problem, plan)
    assert {t.id for t in plan.trials if t.run} == {"T1", "T2"}, "T3 is worth less than it costs"


def test_heuristic_plan_of_the_reference_portfolio_is_valid():
    problem = parse_problem((ROOT / "data" / "pace-reference.json").read_text())
    plan = heuristic_plan(problem)
    assert plan is not None
    _assert_clean(problem, plan)
    assert plan.kpis.trials_run >= sum(t.mandatory for t in problem.trials)


#: Round 0's best schedule on the reference (stage-1 value 2.2567e9), which HiGHS needs
#: 20-35 s to find on its own: a schedule it cannot have found seconds into a run.
ROUND0_SCHEDULE = {
    "T01": ("standard", "2028-03"), "T02": ("standard", "2027-01"), "T05": ("standard", "2027-01"), "T08": ("standard", "2027-01"),
    "T10": ("standard", "2027-06"), "T12": ("standard", "2027-04"), "T13": ("standard", "2027-01"), "T14": ("standard", "2027-07"),
    "T16": ("standard", "2027-09"), "T17": ("dct-hybrid", "2027-09"), "T18": ("standard", "2027-03"), "T19": ("standard", "2027-10"),
    "T20": ("standard", "2028-05"), "T21": ("dct-hybrid", "2027-03"), "T22": ("dct-hybrid", "2027-05"), "T23": ("standard", "2027-01"),
    "T24": ("standard", "2027-01"), "T25": ("standard", "2028-06"), "T27": ("standard", "2027-01"), "T28": ("standard", "2027-10"),
    "T30": ("standard", "2027-06"),
}


def test_a_schedule_ready_while_highs_runs_is_handed_to_it_as_a_solution():
    """The constructive plan is staffed beside round 0; once a schedule is ready, HiGHS
    takes it at the next point it asks for a user solution. Here a known good schedule is
    ready from HiGHS's second request on and the run is stopped right after: HiGHS
    returns that schedule at its stage-1 value, far above anything it finds in seconds."""
    problem = parse_problem((ROOT / "data" / "pace-reference.json").read_text())
    inst = compile_instance(problem)
    settings = EngineSettings.from_problem(problem.settings)
    schedule = {t: (o, problem.index(month)) for t, (o, month) in ROUND0_SCHEDULE.items()}
    fixed = PortfolioModel(inst, settings, Reserve())
    values = fixed.start_values(schedule)
    assert values, "every start of the schedule is in the model"
    for var, value in values:
        var.fix(value)
    priced = highs_solve(fixed.m, settings, 30.0, 0.0)
    assert priced.has_solution
    stage1_value = fixed.in_objective_sense(priced.objective)

    asked: list[int] = []

    def late() -> tuple[dict[str, tuple[str, int]], float] | None:
        asked.append(1)
        return (schedule, stage1_value) if len(asked) > 1 else None

    watch = Watch(Monitor(None, lambda: len(asked) > 1, time.perf_counter(), interval=0.0), "portfolio[0]")
    result = solve_portfolio(inst, settings, 30.0, Reserve(), watch, None, late=late)
    assert len(asked) == 2 and watch.late_start is None, "asked until ready, then handed over once"
    assert result.outcome.has_solution and not result.outcome.proven_optimal
    assert result.schedule == schedule
    assert fixed.in_objective_sense(result.outcome.objective) == pytest.approx(stage1_value, rel=1e-9)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 100_000),
    kind=st.sampled_from(["value", "cost", "makespan", "weighted_completion"]),
    budget_share=st.sampled_from([None, 0.5, 0.8]),
)
def test_solve_never_returns_a_plan_worse_than_the_heuristic(seed: int, kind: str, budget_share: float | None):
    problem = generate(staff=30, trials=6, months=18, seed=seed)
    problem.objective.kind = kind  # type: ignore[assignment]
    problem.settings.time_limit = 20
    if budget_share is None:
        problem.budget.per_year = {}
    else:
        problem.budget.per_year = {y: cap * budget_share for y, cap in problem.budget.per_year.items()}
    plan = solve(problem)
    _assert_clean(problem, plan)
    floor = heuristic_plan(problem)
    if floor is not None:
        _assert_clean(problem, floor)
        assert plan.objective is not None
        assert _not_worse(problem, plan, floor)
