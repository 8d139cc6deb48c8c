"""The constructive heuristic: a valid plan on its own, HiGHS's warm start, and a floor the solve never drops below."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.check import check_plan
from models.generate import generate
from models.greedy import greedy_staffing
from models.heuristic import constructive_schedule
from models.instance import compile_instance
from models.pipeline import build_plan, solve
from models.plan import Plan
from models.problem import Problem, parse_problem
from models.progress import Progress
from models.sgs import tighten_for_makespan
from models.shed import shed
from tests.conftest import ROOT, base_problem


def heuristic_plan(problem: Problem) -> Plan | None:
    """What the pipeline's constructive step alone would return."""
    inst = compile_instance(problem)
    tighten_for_makespan(inst)
    schedule = constructive_schedule(inst)
    if schedule is None:
        return None
    kept = shed(inst, schedule, greedy_staffing(inst, schedule))
    if kept is None:
        return None
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


def test_portfolio_stage_starts_from_the_heuristic_schedule():
    """The first incumbent HiGHS reports is the warm start: the stage-1 model prices it at least
    as well as the real plan (stage 1 is a relaxation), so it can be no worse than the heuristic."""
    problem = parse_problem((ROOT / "data" / "pace-reference.json").read_text())
    floor = heuristic_plan(problem)
    assert floor is not None and floor.objective is not None
    _assert_clean(problem, floor)
    seen: list[Progress] = []
    stop_after_first = lambda: any(p.incumbent is not None and p.stage == "portfolio[0]" for p in seen)  # noqa: E731
    plan = solve(problem, progress=seen.append, stop=stop_after_first)
    first = next(p for p in seen if p.stage == "portfolio[0]" and p.incumbent is not None)
    assert first.incumbent is not None
    assert first.incumbent >= floor.objective * (1 - 1e-9)
    _assert_clean(problem, plan)
    assert _not_worse(problem, plan, floor)


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
