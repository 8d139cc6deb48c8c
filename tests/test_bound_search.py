"""Round 0's model searched on for a tighter bound on a second thread."""

from __future__ import annotations

import math
import time
from types import SimpleNamespace

import pytest

from models.solver.bound_search import BoundSearch
from models.tools.generate import generate
from models.formulation.instance import compile_instance
from models.contract.check import check_plan
from models.formulation.monolithic import solve_monolithic
from models.pipeline.bound import finish_bound_search, named_refinement, proven_within_gap, start_bound_search
from models.formulation.portfolio import PortfolioModel, Reserve, solve_portfolio
from models.solver.progress import Monitor
from models.solver.settings import EngineSettings
from tests.conftest import solve_checked


def _round0(gap: float, seed: int = 3):
    problem = generate(staff=40, trials=8, months=24, seed=seed)
    inst = compile_instance(problem)
    return solve_portfolio(inst, EngineSettings(mip_gap=gap), 60, Reserve())


def test_search_tightens_round_zeros_bound_to_the_models_optimum():
    loose = _round0(0.2)
    exact = _round0(0.0)
    assert loose.solver is not None and loose.model is not None and exact.outcome.proven_optimal
    search = BoundSearch(loose.solver._solver_model, EngineSettings(), 60)
    search.wait(search.until, lambda: False)
    found, seconds = search.finish()
    assert seconds > 0 and found is not None
    optimum = exact.model.in_objective_sense(exact.outcome.objective)
    bound = loose.model.in_objective_sense(found)
    # Value is maximised: the bound never falls below the optimum, and the search gets to it.
    assert bound == pytest.approx(optimum, rel=1e-6)
    assert bound <= loose.bound + 1e-6


def test_search_stops_when_asked():
    loose = _round0(0.2)
    assert loose.solver is not None
    search = BoundSearch(loose.solver._solver_model, EngineSettings(), 600)
    began = time.perf_counter()
    search.finish()
    assert time.perf_counter() - began < 30


def test_plan_bound_from_the_search_still_bounds_the_plan():
    problem = generate(staff=40, trials=8, months=24, seed=5)
    problem.settings.time_limit = 30
    plan = solve_checked(problem)
    assert plan.best_bound is not None and plan.objective <= plan.best_bound + 1e-6


def test_a_wait_for_the_search_ends_when_the_caller_asks_to_stop():
    # A portfolio whose search runs about a second on its own, asked to stop after 0.2 s.
    inst = compile_instance(generate(staff=100, trials=15, months=36, seed=1))
    loose = solve_portfolio(inst, EngineSettings(mip_gap=0.2), 60, Reserve())
    assert loose.solver is not None
    search = BoundSearch(loose.solver._solver_model, EngineSettings(), 600)
    began = time.perf_counter()
    search.wait(search.until, lambda: time.perf_counter() - began > 0.2)
    waited = time.perf_counter() - began
    # The wait came back because of the stop, not because the search was done.
    assert search.running and waited < 5
    search.finish()


class _SlowSearch:
    """Stands in for a search that would run for ten minutes; records how long it is waited for."""

    def __init__(self) -> None:
        self.began = time.perf_counter()
        self.until = self.began + 600
        self.target = math.inf
        self.nodes = 0
        self.time_limited = False
        self.waited_until: float | None = None

    def wait(self, until: float, stopped) -> None:  # type: ignore[no-untyped-def]
        self.waited_until = until

    def finish(self) -> tuple[float | None, float]:
        return None, 0.0


def test_a_plan_not_proven_within_the_gap_waits_for_the_search_until_its_end():
    """The planner's limit is there to prove the plan (SPEC §4): the search has until its
    own end (the deadline) unless it reaches the target first."""
    inst = compile_instance(generate(staff=30, trials=6, months=18, seed=1))
    first = SimpleNamespace(model=PortfolioModel(inst, EngineSettings(), Reserve()))
    search = _SlowSearch()
    timings: list = []
    bound = finish_bound_search(search, first, 100.0, 200.0, EngineSettings(), Monitor(), timings)  # type: ignore[arg-type]
    assert bound == 200.0
    assert search.waited_until == search.until
    assert [t.stage for t in timings] == ["bound-search", "bound-wait"]


def test_a_plan_proven_within_the_gap_does_not_wait_for_the_search():
    inst = compile_instance(generate(staff=30, trials=6, months=18, seed=1))
    first = SimpleNamespace(model=PortfolioModel(inst, EngineSettings(), Reserve()))
    search = _SlowSearch()
    bound = finish_bound_search(search, first, 100.0, 100.5, EngineSettings(), Monitor(), [])  # type: ignore[arg-type]
    assert bound == 100.5
    assert search.waited_until is None


@pytest.mark.parametrize("seed", range(3))
def test_named_cuts_tighten_the_curves_optimum_but_never_below_the_true_optimum(seed: int):
    """Round 0 priced over capacity groups and solved to optimality; the search's named cuts
    (eligible people at their own rates) give a tighter bound that still bounds the
    monolithic optimum (value is maximised)."""
    problem = generate(staff=12, trials=4, months=12, seed=seed)
    inst = compile_instance(problem)
    settings = EngineSettings(mip_gap=0.0, named_pricing_below=0)
    curve = solve_portfolio(inst, settings, 60, Reserve())
    assert curve.outcome.proven_optimal and curve.model is not None and curve.bound is not None
    search = start_bound_search(curve, settings, time.perf_counter() + 30)
    assert search is not None
    search.wait(search.until, lambda: False)
    found, _ = search.finish()
    assert search.proven >= 1 and found is not None
    named = curve.model.in_objective_sense(found)
    mono = solve_monolithic(inst, EngineSettings(time_limit=60, mip_gap=1e-6))
    assert mono.status == "optimal" and check_plan(problem, mono) == []
    assert mono.objective <= named + 1e-6 * abs(mono.objective)
    assert named < curve.bound - 1e-6 * abs(curve.bound)


def test_round_zero_priced_by_name_gets_no_named_refinement():
    problem = generate(staff=12, trials=4, months=12, seed=0)
    result = solve_portfolio(compile_instance(problem), EngineSettings(mip_gap=0.0), 60, Reserve())
    assert result.model is not None and result.model.named
    assert named_refinement(result, EngineSettings()) is None


def _stand_ins(objective: float, search_bound: float | None):
    """The three things the repair loop's early stop reads: the best plan, round 0's model (value is maximised, solver sense is its negative) and the search."""
    from types import SimpleNamespace

    model = SimpleNamespace(inst=SimpleNamespace(problem=SimpleNamespace(objective=SimpleNamespace(kind="value"))), in_objective_sense=lambda v: None if v is None else -v)
    return SimpleNamespace(objective=objective), SimpleNamespace(model=model), SimpleNamespace(bound=search_bound)


@pytest.mark.parametrize(
    ("objective", "round0_bound", "search_bound", "stops"),
    [
        (99.5, 102.0, -100.0, True),  # the search proved 100: the plan is within 1 %
        (99.5, 102.0, None, False),  # nothing proven beyond round 0's 102: 2.5 % away
        (98.0, 102.0, -100.0, False),  # 2 % from the search's bound
        (99.5, 100.2, None, True),  # round 0's own bound suffices
    ],
)
def test_repair_rounds_stop_once_the_plan_is_proven_within_the_gap(objective, round0_bound, search_bound, stops):
    best, first, search = _stand_ins(objective, search_bound)
    assert proven_within_gap(best, round0_bound, search, first, EngineSettings(mip_gap=0.01)) is stops
