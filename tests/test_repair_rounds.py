"""What the repair and improvement rounds rely on: a schedule already staffed can be
skipped and restored, a re-solve after a stopped run is not stopped by it, and the bound
search is told to stop once the plan is within the gap of its bound."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pyomo.environ as pyo
import pytest

from models.tools.generate import generate
from models.solver.highs import PersistentHighs, Watch, solve
from models.formulation.instance import compile_instance
from models.contract.check import check_plan
from models.pipeline.bound import finish_bound_search
from models.pipeline import solve as pipeline_solve
from models.formulation.portfolio import Reserve, schedule_keys, solve_portfolio
from models.solver.progress import Monitor
from models.solver.settings import EngineSettings


@pytest.mark.parametrize("labour_cuts", [True, False])
def test_a_tried_schedule_is_skipped_and_an_empty_reserve_restores_it(labour_cuts: bool):
    inst = compile_instance(generate(staff=30, trials=8, months=18, seed=3))
    settings = EngineSettings(mip_gap=0.0, labour_cuts=labour_cuts)
    first = solve_portfolio(inst, settings, 60, Reserve())
    assert first.outcome.proven_optimal and first.schedule
    tried = Reserve(tried=[schedule_keys(first.schedule)])
    assert not tried.relaxes(), "skipping a schedule cuts off a plan: no longer a relaxation"
    other = solve_portfolio(inst, settings, 60, tried, previous=first)
    assert other.outcome.has_solution
    assert other.schedule != first.schedule
    assert other.outcome.objective >= first.outcome.objective - 1e-6
    again = solve_portfolio(inst, settings, 60, Reserve(), previous=other)
    assert again.outcome.objective == pytest.approx(first.outcome.objective, rel=1e-9, abs=1e-6)


def _knapsack(n: int = 40) -> pyo.ConcreteModel:
    """A multi-row knapsack HiGHS does not settle at once without presolve."""
    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(n), domain=pyo.Binary)
    value = [((7 * i) % 23) + 10 for i in range(n)]
    m.obj = pyo.Objective(expr=-sum(value[i] * m.x[i] for i in range(n)))
    m.rows = pyo.ConstraintList()
    for k in range(4):
        m.rows.add(sum((((k + 3) * i * i) % 31 + 5) * m.x[i] for i in range(n)) <= 150 + 20 * k)
    return m


def test_a_re_solve_after_a_stopped_run_runs_to_its_optimum():
    model = _knapsack()
    opt = PersistentHighs()
    settings = EngineSettings()
    monitor = Monitor()
    stopped = solve(model, settings, 60, 0.0, Watch(monitor, "first", enough=lambda: True), solver=opt, presolve=False)
    assert not stopped.proven_optimal, "the first run should have been stopped by its watch"
    again = solve(model, settings, 60, 0.0, Watch(monitor, "second"), solver=opt, presolve=False)
    assert again.proven_optimal


class _Search:
    """The bound search as finish_bound_search sees it, holding no thread."""

    def __init__(self) -> None:
        self.began = 0.0
        self.until = 0.0
        self.target = math.inf
        self.nodes = 0
        self.time_limited = False

    def wait(self, until: float, stopped: object) -> None:
        return None

    def finish(self) -> tuple[float | None, float]:
        return None, 0.0


@pytest.mark.parametrize(("kind", "sign"), [("value", 1.0), ("cost", -1.0)])
def test_bound_search_is_told_to_stop_once_its_bound_is_within_the_gap_of_the_plan(kind: str, sign: float):
    """Value is maximised: an upper bound at most (1 + gap) x the plan is enough. Cost is
    minimised: a lower bound at least (1 - gap) x the plan. The search minimises, scaled."""
    scale = 1e-4
    model = SimpleNamespace(
        inst=SimpleNamespace(problem=SimpleNamespace(objective=SimpleNamespace(kind=kind))),
        in_solver_sense=lambda v: None if v is None else (-v if kind == "value" else v) * scale,
        in_objective_sense=lambda v: None if v is None else (-v if kind == "value" else v) / scale,
    )
    search = _Search()
    settings = EngineSettings(mip_gap=0.01)
    objective, loose = 1_000_000.0, 1_000_000.0 * (1 + sign * 0.05)
    finish_bound_search(search, SimpleNamespace(model=model), objective, loose, settings, Monitor(), [])  # type: ignore[arg-type]
    enough = model.in_solver_sense(objective * (1 + sign * 0.01))
    assert search.target == pytest.approx(enough)
    # A bound just within the gap reaches the target (the search's dual bound rises to it); one just outside does not.
    assert model.in_solver_sense(objective * (1 + sign * 0.009)) >= search.target
    assert model.in_solver_sense(objective * (1 + sign * 0.011)) < search.target


class _UserSolutionEvent:
    """What HiGHS hands the user-solution callback: its incumbent, and where a solution goes."""

    def __init__(self, incumbent: float):
        self.data_out = SimpleNamespace(mip_primal_bound=incumbent)
        self.data_in = SimpleNamespace(user_interrupt=False, given=[], setSolution=self._set, repairSolution=lambda: None)

    def _set(self, cols: object, values: object) -> None:
        self.data_in.given.append((list(cols), list(values)))  # type: ignore[arg-type]


@pytest.mark.parametrize(("incumbent", "handed"), [(math.inf, True), (-5.0, True), (-20.0, False), (-10.0, False)])
def test_a_late_start_is_handed_over_only_if_highs_has_nothing_as_good(incumbent: float, handed: bool):
    """The late plan's objective is -10 in solver sense (minimised): HiGHS with no incumbent
    or a worse one (-5) gets it; with -10 or better it keeps searching undisturbed."""
    model = _knapsack(3)
    opt = PersistentHighs()
    solve(model, EngineSettings(), 10, 0.0, solver=opt)
    watch = Watch(Monitor(), "late", late_start=lambda: ([(model.x[0], 1.0)], -10.0))
    opt._watch = watch
    event = _UserSolutionEvent(incumbent)
    opt._on_user_solution(event)  # type: ignore[arg-type]
    assert bool(event.data_in.given) == handed
    assert watch.late_start is None, "offered once either way"


def test_a_cutoff_nothing_beats_proves_only_the_cutoff():
    """HiGHS may call a solution above an unreachable cutoff optimal, with its own value as
    the dual bound; what the run proves is that nothing lies below the cutoff."""
    model = _knapsack()
    plain = solve(model, EngineSettings(), 60, 0.0)
    assert plain.proven_optimal and plain.objective is not None
    cutoff = plain.objective - 5.0
    found = solve(model, EngineSettings(), 60, 0.0, cutoff=cutoff)
    assert not found.has_solution and found.objective is None
    assert found.infeasible, "nothing beats the cutoff, and the run says so"
    assert found.bound is not None and found.bound <= cutoff
    assert found.bound <= plain.objective, "a bound never above the optimum"
    looser = solve(model, EngineSettings(), 60, 0.0, cutoff=plain.objective + 5.0)
    assert looser.has_solution and looser.proven_optimal
    assert looser.objective == pytest.approx(plain.objective)


def test_the_constructive_plan_is_not_staffed_last_once_the_plan_is_proven_within_the_gap():
    """Above ``staff_heuristic_beside_below`` the constructive plan is staffed after the
    rounds, as a fallback; a plan already proven within the gap needs none (at 10x that
    roster took the 57 s left of a 120 s limit)."""
    problem = generate(staff=30, trials=8, months=18, seed=3)
    settings = EngineSettings(time_limit=60, staff_heuristic_beside_below=0)
    plan = pipeline_solve(problem, settings)
    assert check_plan(problem, plan) == []
    assert plan.gap is not None and plan.gap <= settings.mip_gap + 1e-9
    assert not any(s.stage == "heuristic-staffing" for s in plan.stages)
