"""Generated problems: the decomposition against the monolithic model, and property tests.

Every plan goes through the independent checker.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.contract.check import check_plan
from models.tools.generate import generate
from models.formulation.instance import compile_instance
from models.formulation.monolithic import solve_monolithic
from models.solver.settings import EngineSettings
from tests.conftest import solve_checked

MONOLITHIC_GAP = 1e-5


@pytest.mark.parametrize("seed", range(8))
def test_decomposition_is_bracketed_by_the_monolithic_optimum(seed: int):
    """decomposition objective <= monolithic optimum <= decomposition bound (value is maximised),
    and the decomposition loses little against the monolithic optimum."""
    problem = generate(staff=16, trials=4, months=12, seed=seed)
    problem.settings.time_limit = 60
    plan = solve_checked(problem)
    mono = solve_monolithic(compile_instance(problem), EngineSettings(time_limit=120, mip_gap=MONOLITHIC_GAP))
    assert check_plan(problem, mono) == []
    assert mono.status == "optimal"
    slack = MONOLITHIC_GAP * abs(mono.objective) + 1e-6
    assert plan.objective <= mono.objective + slack
    assert mono.objective <= plan.best_bound + slack
    assert plan.objective >= mono.objective - 0.02 * abs(mono.objective)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 100_000),
    staff=st.integers(11, 40),
    trials=st.integers(1, 6),
    months=st.integers(12, 24),
    kind=st.sampled_from(["value", "cost", "makespan", "weighted_completion"]),
)
def test_every_generated_problem_gets_a_plan_the_checker_accepts(seed, staff, trials, months, kind):
    problem = generate(staff=staff, trials=trials, months=months, seed=seed)
    problem.objective.kind = kind
    problem.settings.time_limit = 20
    plan = solve_checked(problem)
    assert plan.status in ("optimal", "feasible", "infeasible", "no_solution")
    if plan.status in ("optimal", "feasible"):
        mandatory = {t.id for t in problem.trials if t.mandatory}
        assert mandatory <= {t.id for t in plan.trials if t.run}


@pytest.mark.parametrize("seed", range(3))
def test_candidate_bound_never_undercounts_the_staffing_models_candidates(seed: int):
    from models.heuristics.constructive import constructive_schedule
    from models.formulation.staffing import StaffingModel, candidate_bound

    inst = compile_instance(generate(staff=60, trials=6, months=18, seed=seed))
    schedule = constructive_schedule(inst)
    assert schedule
    pairs = len(StaffingModel(inst, schedule).pairs)
    assert 0 < pairs <= candidate_bound(inst, schedule)
