"""A stop ends round 0 while its model is still being built or primed (issue 20: a cancel ends
a running solve within about a second, on a 5x portfolio too).

At 5x the reference, building round 0's Pyomo model took 3 s and Kelley's LP loop after it
6 s, and neither looked at the stop flag. Now the build asks the flag before each constraint
family and abandons the model once it is true; the LP loop asks it between LPs and between
the months it prices, and its LPs are interrupted like every other HiGHS run. Each test
drives the stop deterministically: the flag turns true at a chosen step, the test waits
until the solve's own monitor has seen it, and what is asserted is the work done after it
(families built, LPs run, months priced), never how long it took. Every plan a test
produces goes through the independent checker.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

import pytest

from models.contract.check import check_plan
from models.contract.plan import Plan
from models.contract.problem import Problem
from models.formulation import portfolio
from models.formulation.instance import compile_instance
from models.formulation.labour_cuts import LabourPricing
from models.formulation.portfolio import CutPortfolioModel, PortfolioModel, Reserve, solve_portfolio
from models.pipeline import solve
from models.pipeline.clock import FIRST_PLAN_GRACE
from models.solver.highs import PersistentHighs, Watch
from models.solver.progress import Monitor, StopFlag, never
from tests.conftest import ROOT
from tests.test_cancel import GIVE_UP_SECONDS, _problem, _settings

#: Every step of the build that :meth:`PortfolioModel._build` takes, in either model.
FAMILIES = (
    "_staffing_variables",
    "_one_option_per_trial",
    "_staffing_constraints",
    "_group_capacity",
    "_role_coverage",
    "_coverable",
    "_eligible_capacity",
    "_concurrency_slots",
    "_service_capacity",
    "_predecessors",
    "_yearly_labour",
    "_budget",
    "_objective",
)
#: The step at which a test asks the stop: the build's first constraint family.
FIRST_FAMILY = "_one_option_per_trial"


class StopAtFirstFamily:
    """A stop flag that turns true when a watched build reaches its first constraint family.

    ``watch`` wraps the build steps of ``kind``: each call is recorded with its model. The
    first constraint family of a model built with a stop flag (round 0's, not the exact LP
    bound's) asks the stop, waits until that model's flag (the solve's monitor) reports it,
    then ``linger`` seconds more, and runs. The build must then end before its next family."""

    def __init__(self, linger: float = 0.0) -> None:
        self.asked = False
        self.linger = linger
        self.stopped_model: PortfolioModel | None = None
        self.built: list[tuple[PortfolioModel, str]] = []

    def flag(self) -> bool:
        return self.asked

    def watch(self, monkeypatch: pytest.MonkeyPatch, kind: type[PortfolioModel]) -> None:
        for name in FAMILIES:
            if hasattr(kind, name):
                monkeypatch.setattr(kind, name, self._recorded(getattr(kind, name)))

    def _recorded(self, real: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(real)
        def step(model: PortfolioModel) -> None:
            self.built.append((model, real.__name__))
            if real.__name__ == FIRST_FAMILY and model.stop is not never and not self.asked:
                self.asked, self.stopped_model = True, model
                give_up = time.monotonic() + GIVE_UP_SECONDS
                while not model.stop() and time.monotonic() < give_up:
                    time.sleep(0.01)
                time.sleep(self.linger)
            real(model)

        return step

    def steps_of_stopped_model(self) -> list[str]:
        return [name for model, name in self.built if model is self.stopped_model]


def _assert_checked(problem: Problem, plan: Plan) -> None:
    violations = check_plan(problem, plan)
    assert violations == [], "\n".join(f"{v.rule}: {v.message}" for v in violations)


def _highs_runs_after(stop: StopAtFirstFamily, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The stages of the HiGHS runs of the portfolio stage started once the stop was asked."""
    runs: list[str] = []
    real = portfolio.solve

    def counted(*args: Any, **kwargs: Any) -> Any:
        if stop.asked:
            runs.append("portfolio")
        return real(*args, **kwargs)

    monkeypatch.setattr(portfolio, "solve", counted)
    return runs


@pytest.mark.parametrize("cost_tiers, kind", [(None, CutPortfolioModel), (3, PortfolioModel)])
def test_stop_during_portfolio_build_ends_solve_without_finishing_the_build(cost_tiers, kind, monkeypatch):
    # Staffed last, the constructive plan is the fallback that gets a grace after a stop:
    # lingering past the grace makes "no plan in hand" certain rather than a race.
    problem, stop = _problem(), StopAtFirstFamily(linger=FIRST_PLAN_GRACE + 0.1)
    stop.watch(monkeypatch, kind)
    runs = _highs_runs_after(stop, monkeypatch)
    plan = solve(problem, _settings(problem, cost_tiers=cost_tiers, staff_heuristic_beside_below=0), stop=stop.flag)
    assert type(stop.stopped_model) is kind
    assert stop.steps_of_stopped_model() == ["_staffing_variables", FIRST_FAMILY], "no family after the stop was built"
    assert runs == [], "HiGHS never got the abandoned model"
    stages = [s.stage for s in plan.stages]
    assert "portfolio[0]" in stages and not any(s.startswith(("staffing", "shed[", "portfolio[1]")) for s in stages), stages
    assert plan.status == "no_solution"
    assert plan.message == "stopped on request before any fully staffed plan was found"
    _assert_checked(problem, plan)


def test_stop_during_portfolio_build_keeps_the_plan_in_hand(monkeypatch):
    # Reproducible mode staffs the constructive plan before round 0: a plan is in hand at the stop.
    problem, stop = _problem(), StopAtFirstFamily()
    problem.settings.reproducible = True
    stop.watch(monkeypatch, CutPortfolioModel)
    plan = solve(problem, stop=stop.flag)
    assert stop.steps_of_stopped_model() == ["_staffing_variables", FIRST_FAMILY]
    assert plan.status == "feasible"
    assert plan.message.startswith("stopped on request: best plan found so far")
    assert "chosen: heuristic" in [s.stage for s in plan.stages]
    _assert_checked(problem, plan)


@pytest.mark.parametrize("cost_tiers", [None, 3])
def test_a_stopped_build_gives_round_0_no_solution_and_proves_nothing(cost_tiers, monkeypatch):
    problem = _problem()
    settings = _settings(problem, cost_tiers=cost_tiers)
    kind = CutPortfolioModel if cost_tiers is None else PortfolioModel
    stop = StopAtFirstFamily()
    stop.watch(monkeypatch, kind)
    watch = Watch(Monitor(flag=stop.flag, interval=0.0), "portfolio[0]")
    result = solve_portfolio(compile_instance(problem), settings, 30, Reserve(), watch)
    assert stop.steps_of_stopped_model() == ["_staffing_variables", FIRST_FAMILY]
    assert not result.outcome.has_solution and not result.outcome.infeasible and not result.outcome.proven_optimal
    assert result.model is None and result.solver is None and result.bound is None and result.schedule == {}
    assert result.outcome.build_seconds > 0


def test_a_stop_between_lps_ends_kelleys_loop_before_it_prices_the_lp():
    problem = _problem()
    settings = _settings(problem)
    model = CutPortfolioModel(compile_instance(problem), settings, Reserve())
    priced: list[int] = []
    real_refine = model.refine

    def refine(x: Any, stop: StopFlag = never) -> dict[int, float]:
        priced.append(1)
        return real_refine(x, stop)

    model.refine = refine  # type: ignore[method-assign]
    solver = PersistentHighs()
    lps = model.prime(settings, solver, time.perf_counter() + 60)
    assert len(lps) > 1 and len(priced) >= 1, "without a stop the loop prices and solves again"
    model = CutPortfolioModel(compile_instance(problem), settings, Reserve())
    priced.clear()
    model.refine = refine  # type: ignore[method-assign]
    solved: list[int] = []
    watch = Watch(Monitor(flag=lambda: bool(solved), interval=0.0), "portfolio[0]")
    real_solve = portfolio.solve

    def counted(*args: Any, **kwargs: Any) -> Any:
        outcome = real_solve(*args, **kwargs)
        solved.append(1)
        return outcome

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(portfolio, "solve", counted)
        lps = model.prime(settings, PersistentHighs(), time.perf_counter() + 60, watch)
    assert len(lps) == 1 and solved == [1]
    assert priced == [], "the LP a stop followed was not priced"


def test_month_pricing_stops_between_months():
    problem = _problem()
    model = CutPortfolioModel(compile_instance(problem), _settings(problem), Reserve())
    pricing: LabourPricing = model.pricing
    demand = model.demand([0.0] * len(model.keys))
    assert len(pricing.price(demand)) == len(pricing.months) > 3
    asked: list[int] = []

    def after_three() -> bool:
        asked.append(1)
        return len(asked) > 3

    assert list(pricing.price(demand, after_three)) == list(pricing.months)[:3]


def test_a_stop_flag_never_raised_changes_no_plan():
    """The stop checks only read the flag: a solve whose flag stays false gives the plan a solve
    without one gives (reproducible mode: the same work, so the same plan)."""
    problem = Problem.model_validate_json((ROOT / "data" / "example-small.json").read_text())
    problem.settings.reproducible = True
    plain = solve(problem)
    watched = solve(problem, stop=lambda: False)
    for plan in (plain, watched):
        _assert_checked(problem, plan)
    assert watched.status == plain.status and watched.objective == plain.objective and watched.best_bound == plain.best_bound
    assert watched.trials == plain.trials and watched.assignments == plain.assignments
