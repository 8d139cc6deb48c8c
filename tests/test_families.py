"""The family survey (bench/families.py): every family gives a valid, reproducible problem
of its shape, and the survey's row arithmetic holds on one tiny member.

Fast tests only: the few solves here are tiny and short, and nothing asserts on wall
time. Every plan a test produces goes through the independent checker.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable

import pytest

from bench.families import (
    FAMILIES,
    OptimaCache,
    Optimum,
    failures,
    family_problem,
    instance_row,
    problem_hash,
    solo_fit_factor,
    solve_optimum,
    summarise,
    true_gap,
)
from models.contract.check import check_plan
from models.tools.generate import coverage_violations
from models.pipeline import solve
from models.contract.plan import Explanation, Plan
from models.contract.problem import Problem, Trial
from models.contract.validation import parse_problem
from tests.test_scarce_roles import assert_psplib_portfolio_shape, assert_scarce_roles_shape

ASKED_FOR = {
    "value", "cost", "makespan", "weighted_completion", "secondary_roles", "small_multiskilled", "tight_budget",
    "no_flex", "priced_shortfall", "tardiness", "tight_services", "predecessors", "open_windows", "pins", "size_5x",
}
SEEDS = (0, 1)


def _base(seed: int) -> Problem:
    return family_problem("value", seed)


def _earliest(problem: Problem, trial: Trial) -> int:
    return problem.index(trial.earliest_start) if trial.earliest_start else 0


def _secondary(problem: Problem, seed: int) -> None:
    assert sum(1 <= len(p.secondary_roles) <= 2 for p in problem.staff) >= 0.6 * len(problem.staff)


def _small_multiskilled(problem: Problem, seed: int) -> None:
    assert 4 <= len(problem.staff) <= 10
    assert sum(len({p.role, *p.secondary_roles}) >= 2 for p in problem.staff) > len(problem.staff) / 2
    assert any(p.max_concurrent_trials == 1 for p in problem.staff)
    assert sum(t.mandatory for t in problem.trials) <= 1
    assert solo_fit_factor(problem) >= 1.0  # any one trial alone fits the team plus flex


def _tight_budget(problem: Problem, seed: int) -> None:
    generated = _base(seed).budget.per_year
    assert all(problem.budget.per_year[y] <= cap for y, cap in generated.items())
    assert any(problem.budget.per_year[y] < cap for y, cap in generated.items())


def _no_flex(problem: Problem, seed: int) -> None:
    assert problem.flex == []
    assert coverage_violations(problem, flex_share=0.0) == []


def _priced_shortfall(problem: Problem, seed: int) -> None:
    rate = statistics.median(p.monthly_cost / p.fte for p in problem.staff)
    price = problem.objective.weights.shortfall
    assert price is not None
    assert (price < rate) if seed % 2 == 0 else (price > rate)


def _tardiness(problem: Problem, seed: int) -> None:
    for trial in problem.trials:
        shortest = min(o.duration for o in trial.options)
        assert problem.index(str(trial.deadline)) <= _earliest(problem, trial) + shortest - 1


def _tight_services(problem: Problem, seed: int) -> None:
    generated = {s.id: s.capacity for s in _base(seed).services}
    assert any(s.capacity != generated[s.id] for s in problem.services)
    for s in problem.services:
        mine = s.capacity if isinstance(s.capacity, list) else [s.capacity]
        theirs = generated[s.id] if isinstance(generated[s.id], list) else [generated[s.id]]
        assert all(a <= b for a, b in zip(mine, theirs))  # type: ignore[arg-type]


def _predecessors(problem: Problem, seed: int) -> None:
    assert any(t.predecessors for t in problem.trials)


def _open_windows(problem: Problem, seed: int) -> None:
    optional = [t for t in problem.trials if not t.mandatory]
    assert optional and all(t.earliest_start is None and t.latest_start is None for t in optional)


def _pins(problem: Problem, seed: int) -> None:
    assert problem.pins.frozen_until is not None and problem.pins.previous_plan is not None
    assert problem.pins.trials and problem.pins.assignments


def _size_5x(problem: Problem, seed: int) -> None:
    base = _base(seed)
    assert (len(problem.staff), len(problem.trials)) == (5 * len(base.staff), 5 * len(base.trials))


SHAPE: dict[str, Callable[[Problem, int], None]] = {
    "cost": lambda p, s: _kind(p, "cost"),
    "makespan": lambda p, s: _kind(p, "makespan"),
    "weighted_completion": lambda p, s: _kind(p, "weighted_completion"),
    "secondary_roles": _secondary,
    "small_multiskilled": _small_multiskilled,
    "tight_budget": _tight_budget,
    "no_flex": _no_flex,
    "priced_shortfall": _priced_shortfall,
    "tardiness": _tardiness,
    "tight_services": _tight_services,
    "predecessors": _predecessors,
    "open_windows": _open_windows,
    "pins": _pins,
    "size_5x": _size_5x,
    "scarce_roles": assert_scarce_roles_shape,
    "psplib_portfolio": assert_psplib_portfolio_shape,
}


def _kind(problem: Problem, kind: str) -> None:
    assert problem.objective.kind == kind


def test_every_family_the_issue_asks_for_is_surveyed():
    assert ASKED_FOR <= set(FAMILIES)
    assert set(SHAPE) | {"value"} == set(FAMILIES)


def test_an_unknown_family_is_refused():
    with pytest.raises(ValueError, match="unknown family"):
        family_problem("no_such_family", 0)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_member_is_valid_reproducible_and_of_its_shape(family: str, seed: int):
    problem = family_problem(family, seed)
    assert parse_problem(problem.model_dump_json()) == problem  # both validation layers accept it
    assert family_problem(family, seed).model_dump_json() == problem.model_dump_json()
    if family in SHAPE:
        SHAPE[family](problem, seed)


def test_the_true_gap_is_relative_to_the_optimum_and_never_divides_by_less_than_one():
    assert true_gap(99.0, 100.0) == pytest.approx(0.01)
    assert true_gap(101.0, 100.0) == pytest.approx(0.01)
    assert true_gap(0.5, 0.0) == pytest.approx(0.5)


def test_a_cached_crash_is_solved_again_but_an_unproven_plan_only_under_a_longer_limit(tmp_path):
    problem = family_problem("value", 1)
    cache = OptimaCache(tmp_path / "optima.json")
    unproven = Optimum(problem_hash(problem), "feasible", 1.0, 2.0, 60.0, 60.0, "")
    cache.put("value", 1, unproven)
    assert cache.get("value", 1, problem, 60) == unproven
    assert cache.get("value", 1, problem, 600) is None
    cache.put("value", 1, Optimum(problem_hash(problem), "error", None, None, 0.0, 60.0, "", "BrokenProcessPool"))
    assert cache.get("value", 1, problem, 60) is None


def test_a_tiny_member_gives_a_row_against_its_proven_optimum(tmp_path):
    problem = family_problem("value", 1)
    optimum = solve_optimum(problem, limit=60)
    assert optimum.proven, optimum

    cache = OptimaCache(tmp_path / "optima.json")
    cache.put("value", 1, optimum)
    reread = OptimaCache(tmp_path / "optima.json")
    assert reread.get("value", 1, problem, 60) == optimum
    assert reread.get("value", 1, family_problem("tardiness", 1), 60) is None  # another problem: another hash

    timed = problem.model_copy(deep=True)
    timed.settings.time_limit = 2
    plan = solve(timed)
    violations = check_plan(problem, plan)
    assert violations == [], "\n".join(f"{v.rule}: {v.message}" for v in violations)
    assert plan.objective is not None and plan.status in ("optimal", "feasible")

    row = instance_row("value", 1, problem, plan, 1.5, 2.0, [v.rule for v in violations], optimum)
    assert optimum.objective is not None
    assert row["true_gap"] == pytest.approx(abs(plan.objective - optimum.objective) / max(1.0, abs(optimum.objective)))
    assert row["behind_known"] == pytest.approx(row["true_gap"])  # the engine's plan cannot beat a proven optimum
    assert row["missing"] is False and row["violations"] == 0 and row["overrun"] == 0
    assert row["bound_ok"] is True  # the engine's bound may not exclude the optimum
    assert row["beats_optimum"] is False
    summary = summarise([row])
    assert (summary["count"], summary["clean"], summary["missing"], summary["optima"]) == (1, 1, 0, 1)
    assert summary["true_worst"] == row["true_gap"]


def test_a_failed_plan_where_the_optimum_has_one_is_missing_and_keeps_its_explanation():
    problem = family_problem("value", 1)
    optimum = Optimum(problem_hash(problem), "optimal", 1e8, 1e8, 0.1, 60, "")
    plan = Plan(status="infeasible", message="no plan", explanations=[Explanation(trial="T01", reason="budget of 2027")])
    row = instance_row("value", 1, problem, plan, 25.0, 20.0, [], optimum)
    assert row["missing"] is True and row["true_gap"] is None and row["behind_known"] is None and row["overrun"] == 5.0
    assert row["message"] == "no plan | T01: budget of 2027"
    assert failures(row) == ["missing plan (infeasible; the monolithic model found one)", "overrun 5.0 s"]
    infeasible = Optimum(problem_hash(problem), "infeasible", None, None, 0.1, 60, "")
    assert instance_row("value", 1, problem, plan, 1.0, 20.0, [], infeasible)["missing"] is False
