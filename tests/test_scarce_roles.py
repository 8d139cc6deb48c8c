"""The portfolio core (CP-SAT where a role is scarce): a hand-made portfolio gated by one
specialist whose optimum is derived by hand, the rule that decides when the core runs,
and the survey families that measure it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.families import PSPLIB_JOBS, SCARCE_ROLES, family_problem
from models.contract.problem import Problem
from models.contract.validation import parse_problem
from models.formulation.instance import compile_instance
from models.heuristics import cp_portfolio
from models.heuristics.cp_portfolio import STAGE, scarce_roles, serves, solve_portfolio_core
from models.heuristics.sgs import certain_capacity
from models.solver.settings import EngineSettings
from tests.conftest import base_problem, solve_checked, trial_plan

ROOT = Path(__file__).resolve().parent.parent
#: Bea's monthly cost: the only specialist, full time, on a running trial every month.
BEA = 20_000


def _specialist_trial(tid: str, value: int) -> dict[str, Any]:
    return {
        "id": tid,
        "value": value,
        "mandatory": False,
        "options": [{"id": "std", "stages": [{"months": 6, "demand": {"BIOS": 1.0}}]}],
    }


def _one_specialist(people: int = 1, budget: int = 300_000) -> dict[str, Any]:
    """Three optional trials (values 10, 8 and 6 million, no discount) that each need the
    only biostatistician full time for 6 months, in a 12-month horizon that fits two of
    them back to back, and a 2027 budget (by default with room for her whole year)."""
    staff = [{"id": f"bea{k}" if k else "bea", "role": "BIOS", "monthly_cost": BEA} for k in range(people)]
    return base_problem(
        roles=["BIOS"],
        staff=staff,
        trials=[_specialist_trial("A", 10_000_000), _specialist_trial("B", 8_000_000), _specialist_trial("C", 6_000_000)],
        objective={"kind": "value", "discount_rate": 0, "weights": {"fragmentation": 0}},
        budget={"per_year": {"2027": budget}},
        settings={"time_limit": 20},
    )


@pytest.mark.parametrize("core", [False, True], ids=["without-portfolio-core", "engine"])
def test_one_specialist_runs_the_two_most_valuable_trials_back_to_back(core: bool, monkeypatch: pytest.MonkeyPatch):
    """Only two of the three trials fit her year, so the best plan runs A and B one after
    the other (either order: no discount) and leaves C out: 18,000,000 of value less her
    12 months at 20,000 = 17,760,000; with the portfolio core on as well."""
    monkeypatch.setattr(cp_portfolio, "IN_ENGINE", core)
    plan = solve_checked(_one_specialist())
    assert plan.status == "optimal"
    assert plan.objective == pytest.approx(17_760_000)
    assert not trial_plan(plan, "C").run
    starts = sorted((trial_plan(plan, t).start, trial_plan(plan, t).end) for t in "AB")
    assert starts == [("2027-01", "2027-06"), ("2027-07", "2027-12")]
    assert any(s.stage.startswith(STAGE) for s in plan.stages) == core
    if core:
        # The core's relaxation bound (exact here) joins round 0's: the gap is closed.
        assert plan.best_bound == pytest.approx(17_760_000, rel=1e-6)


def test_the_core_schedule_keeps_within_the_specialists_certain_capacity_and_its_bound_holds():
    inst = compile_instance(parse_problem(_one_specialist()))
    primal = solve_portfolio_core(inst, EngineSettings(time_limit=10), 5.0, 5.0)
    assert primal.status == "optimal" and primal.schedule is not None
    assert set(primal.schedule) == {"A", "B"}
    capacity, _ = certain_capacity(inst)
    used = [0.0] * inst.months
    for t, (o, s) in primal.schedule.items():
        for k, month in enumerate(inst.profiles[(t, o)].demand):
            used[s + k] += month.get("BIOS", 0.0)
    assert all(u <= c + 1e-9 for u, c in zip(used, capacity["BIOS"]))
    relaxation = solve_portfolio_core(inst, EngineSettings(time_limit=10), 5.0, 5.0, relaxed=True)
    # Labour is priced at the cheapest person who may serve, which here is exact.
    assert relaxation.bound is not None
    assert 17_760_000 <= relaxation.bound <= 17_760_000 * (1 + 1e-6)


def test_a_budget_that_pays_for_half_her_year_leaves_room_for_one_trial_only():
    """150,000 in 2027 pays for 7.5 of her months: one 6-month trial, the most valuable (A)."""
    plan = solve_checked(_one_specialist(budget=150_000))
    assert plan.status == "optimal"
    assert plan.objective == pytest.approx(10_000_000 - 6 * BEA)
    assert [t.id for t in plan.trials if t.run] == ["A"]


def test_a_role_is_scarce_only_where_the_trials_overflow_it_and_each_takes_a_large_share():
    assert scarce_roles(compile_instance(parse_problem(_one_specialist()))) == ["BIOS"]
    # Four specialists hold all three trials at once: nothing to schedule around.
    roomy = compile_instance(parse_problem(_one_specialist(people=4)))
    assert scarce_roles(roomy) == [] and not serves(roomy)


def test_the_core_does_not_run_on_the_reference_portfolio():
    """Every trial's peak is a few per cent of the reference's 500 people's capacity."""
    reference = parse_problem((ROOT / "data" / "pace-reference.json").read_text())
    assert not serves(compile_instance(reference))


@pytest.mark.parametrize("seed", range(3))
def test_scarce_roles_members_are_gated_by_their_few_specialists(seed: int):
    problem = family_problem("scarce_roles", seed)
    assert_scarce_roles_shape(problem, seed)
    assert serves(compile_instance(problem))


def assert_scarce_roles_shape(problem: Problem, seed: int) -> None:
    """Family ``scarce_roles``: one specialist role on even seeds, two on odd ones, each held
    by one or two full-time people without leave and by nobody else, with no flex (even
    seeds) or 0.25 FTE (odd); optional trials need them at 0.5 or 1.0 FTE and have no latest
    start; the mandatory trials' peaks together fit the specialists."""
    flex = {f.role: f.max_fte for f in problem.flex}
    scarce = [r for r in SCARCE_ROLES if flex.get(r, 0.0) == (0.0 if seed % 2 == 0 else 0.25)]
    assert len(scarce) == (1 if seed % 2 == 0 else 2)
    for role in scarce:
        people = [p for p in problem.staff if p.role == role]
        assert 1 <= len(people) <= 2
        assert all(p.fte == 1.0 and not p.leave for p in people)
        assert not any(role in p.secondary_roles for p in problem.staff)
        optional = {v for t in problem.trials if not t.mandatory for o in t.options for st in o.stages if (v := st.demand.get(role, 0.0))}
        assert optional <= {0.5, 1.0}
        mandatory = sum(max((st.demand.get(role, 0.0) for o in t.options for st in o.stages), default=0.0) for t in problem.trials if t.mandatory)
        assert mandatory <= len(people) + flex.get(role, 0.0) + 1e-9
    assert all(t.latest_start is None for t in problem.trials if not t.mandatory)


def assert_psplib_portfolio_shape(problem: Problem, seed: int) -> None:
    """Family ``psplib_portfolio``: 30 one-option trials worth 1-10 million over four roles
    of named full-time people; optional under the value objective with a horizon cut to
    three quarters (even seeds), mandatory under weighted completion (odd seeds)."""
    assert len(problem.trials) == PSPLIB_JOBS and problem.roles == ["R1", "R2", "R3", "R4"]
    assert all(p.fte == 1.0 for p in problem.staff)
    assert all(len(t.options) == 1 and 1e6 <= t.value <= 1e7 for t in problem.trials)
    value = seed % 2 == 0
    assert problem.objective.kind == ("value" if value else "weighted_completion")
    assert all(t.mandatory != value for t in problem.trials)
    assert problem.horizon.months >= max(t.options[0].duration for t in problem.trials)
    if value:  # not every trial fits: the serial sum of their durations is far longer
        assert problem.horizon.months < sum(t.options[0].duration for t in problem.trials)


@pytest.mark.parametrize("seed", range(2))
def test_psplib_portfolio_members_are_scarce_in_every_role(seed: int):
    """At PSPLIB's lowest resource strength each job takes a large share of every role it uses."""
    problem = family_problem("psplib_portfolio", seed)
    assert_psplib_portfolio_shape(problem, seed)
    inst = compile_instance(problem)
    assert scarce_roles(inst) == ["R1", "R2", "R3", "R4"] and serves(inst)


def test_a_psplib_shaped_portfolio_runs_the_portfolio_core_and_gets_a_plan():
    """The core searches before HiGHS starts; whichever stage finds the plan returned (the
    core's schedule staffed, the serial plan, HiGHS), it keeps every rule."""
    problem = family_problem("psplib_portfolio", 3)
    problem.settings.time_limit = 6
    plan = solve_checked(problem)
    assert plan.status in ("optimal", "feasible")
    assert "portfolio-core[0]" in {s.stage for s in plan.stages}
