"""The sample-data generator: deterministic, realistic, sized as asked, and always feasible.

The feasibility helper here is written apart from the generator (it uses only the
problem types): it builds the plan "every mandatory trial at its earliest start with its
standard option" and checks it against staff + flex per role and month, service
capacity, budget, windows, deadlines and predecessors.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from models.tools.generate import (
    INDICATIONS,
    ROLE_COST,
    ROLES,
    STAGE_MONTHS,
    VALUE,
    coverage_violations,
    generate,
)
from models.contract.problem import Problem, Trial, month_index
from models.contract.validation import parse_problem

REFERENCE = Path(__file__).resolve().parent.parent / "data" / "pace-reference.json"


@pytest.fixture(scope="module")
def reference() -> Problem:
    return generate(500, 30, 36, seed=7)


@pytest.fixture(scope="module")
def large() -> Problem:
    return generate(5000, 300, 36, seed=11)


# --------------------------------------------------------------------------- helper


def _available(problem: Problem) -> dict[str, list[float]]:
    """FTE of named staff per primary role and month (window and leave respected)."""
    capacity = {role: [0.0] * problem.horizon.months for role in problem.roles}
    for person in problem.staff:
        leave = set(person.leave)
        for m in range(problem.horizon.months):
            month = problem.month(m)
            if person.available_from and month < person.available_from:
                continue
            if person.available_to and month > person.available_to:
                continue
            if month not in leave:
                capacity[person.role][m] += person.fte
    return capacity


def _standard(trial: Trial):
    return next(o for o in trial.options if o.id == "standard")


def _portfolio_demand(problem: Problem, trials: list[Trial]) -> dict[str, list[float]]:
    """FTE per role and month of ``trials`` run with their standard option from their earliest start."""
    demand = {role: [0.0] * problem.horizon.months for role in problem.roles}
    for trial in trials:
        month = problem.index(trial.earliest_start)
        for stage in _standard(trial).stages:
            for m in range(month, month + stage.months):
                for role, fte in stage.demand.items():
                    demand[role][m] += fte
            month += stage.months
    return demand


def mandatory_plan_violations(problem: Problem) -> list[str]:
    """Why "all mandatory trials at their earliest start, standard option" is not a plan.

    Staff per role and month is counted in primary roles only; staff cost is the role's
    FTE-weighted mean cost inside the pool's FTE and the flex rate beyond it."""
    months = problem.horizon.months
    mandatory = [t for t in problem.trials if t.mandatory]
    found: list[str] = []
    ends: dict[str, int] = {}
    for trial in mandatory:
        start = problem.index(trial.earliest_start)
        end = start + _standard(trial).duration - 1
        ends[trial.id] = end
        if end >= months:
            found.append(f"{trial.id} ends after the horizon")
        if trial.latest_start and start > problem.index(trial.latest_start):
            found.append(f"{trial.id} starts after its latest start")
        if trial.deadline and end > problem.index(trial.deadline):
            found.append(f"{trial.id} misses its deadline")
    for trial in mandatory:
        for before in trial.predecessors:
            if before.trial not in ends:
                found.append(f"{trial.id} waits for optional {before.trial}")
            elif problem.index(trial.earliest_start) < ends[before.trial] + 1 + before.lag:
                found.append(f"{trial.id} starts before {before.trial} ends + lag")

    capacity = _available(problem)
    demand = _portfolio_demand(problem, mandatory)
    flex = {f.role: f for f in problem.flex}
    for role in problem.roles:
        limit = flex[role].max_fte if role in flex else 0.0
        for m in range(months):
            if demand[role][m] > capacity[role][m] + limit + 1e-9:
                found.append(f"{role} {problem.month(m)}: {demand[role][m]:.2f} > {capacity[role][m]:.2f} + {limit}")

    use = {s.id: [0.0] * months for s in problem.services}
    fixed = [0.0] * months
    for trial in mandatory:
        option = _standard(trial)
        month = problem.index(trial.earliest_start)
        for m in range(month, month + option.duration):
            fixed[m] += option.fixed_cost / option.duration
        for stage in option.stages:
            for m in range(month, month + stage.months):
                for service, units in stage.services.items():
                    use[service][m] += units
            month += stage.months
    for service in problem.services:
        for m in range(months):
            cap = service.capacity[m] if isinstance(service.capacity, list) else service.capacity
            if use[service.id][m] > cap + 1e-9:
                found.append(f"service {service.id} {problem.month(m)}: {use[service.id][m]:.1f} > {cap}")

    cost_sum: dict[str, float] = defaultdict(float)
    fte_sum: dict[str, float] = defaultdict(float)
    for person in problem.staff:
        cost_sum[person.role] += person.monthly_cost
        fte_sum[person.role] += person.fte
    unit_cost = {s.id: s.unit_cost for s in problem.services}
    spend: dict[str, float] = defaultdict(float)
    for m in range(months):
        amount = fixed[m] + sum(use[s][m] * unit_cost[s] for s in use)
        for role in problem.roles:
            inside = min(demand[role][m], capacity[role][m])
            amount += inside * cost_sum[role] / fte_sum[role]
            amount += (demand[role][m] - inside) * (flex[role].monthly_rate if role in flex else 0.0)
        spend[problem.month(m)[:4]] += amount
    for year, amount in spend.items():
        cap = problem.budget.per_year.get(year)
        if cap is not None and amount > cap:
            found.append(f"budget {year}: {amount:,.0f} > {cap:,.0f}")
    if problem.budget.total is not None and sum(spend.values()) > problem.budget.total:
        found.append("total budget exceeded")
    return found


# --------------------------------------------------------------------------- determinism and sizes


def test_same_seed_same_json() -> None:
    assert generate(300, 18, 24, seed=3).model_dump_json() == generate(300, 18, 24, seed=3).model_dump_json()


def test_different_seeds_differ() -> None:
    assert generate(300, 18, 24, seed=3).model_dump_json() != generate(300, 18, 24, seed=4).model_dump_json()


@pytest.mark.parametrize(("staff", "trials", "months", "start"), [(200, 12, 24, "2026-07"), (11, 1, 12, "2030-01"), (800, 45, 60, "2027-01")])
def test_sizes_honoured(staff: int, trials: int, months: int, start: str) -> None:
    problem = generate(staff, trials, months, seed=1, start=start)
    assert len(problem.staff) == staff
    assert len(problem.trials) == trials
    assert problem.horizon.months == months and problem.horizon.start == start
    assert set(problem.budget.per_year) == {problem.month(m)[:4] for m in range(months)}
    assert mandatory_plan_violations(problem) == []


@pytest.mark.parametrize(("staff", "trials", "months"), [(10, 5, 36), (500, 0, 36), (500, 30, 11)])
def test_too_small_is_refused(staff: int, trials: int, months: int) -> None:
    with pytest.raises(ValueError):
        generate(staff, trials, months)


def test_reference_file_is_the_generator_output(reference: Problem) -> None:
    """``pace generate --staff 500 --trials 30 --months 36 --seed 7`` rebuilds data/pace-reference.json."""
    assert json.loads(REFERENCE.read_text()) == json.loads(reference.model_dump_json(indent=1))


def test_accepted_by_validation(reference: Problem, large: Problem) -> None:
    for problem in (reference, large, generate(60, 6, 18, seed=5)):
        assert parse_problem(problem.model_dump()) == problem


# --------------------------------------------------------------------------- feasibility


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_mandatory_plan_fits_reference_size(seed: int) -> None:
    problem = generate(500, 30, 36, seed=seed)
    assert mandatory_plan_violations(problem) == []
    assert coverage_violations(problem) == []


def test_mandatory_plan_fits_ten_times(large: Problem) -> None:
    assert mandatory_plan_violations(large) == []
    assert coverage_violations(large) == []


def test_coverage_check_sees_a_missing_skill(reference: Problem) -> None:
    """The skill/region-aware check fails when nobody may serve a mandatory trial's CRA demand."""
    broken = reference.model_copy(deep=True)
    trial = next(t for t in broken.trials if t.mandatory)
    trial.required_skills["CRA"] = ["no_such_skill"]
    for flex in broken.flex:
        flex.max_fte = 0.0
    assert any(v.startswith("CRA ") for v in coverage_violations(broken))
    assert mandatory_plan_violations(broken) == []  # the aggregate view cannot see it


def test_max_flow_reroutes() -> None:
    """Serving demand 0 from the flexible supply first must be undone to serve demand 1."""
    from models.tools.generate import _bipartite_max_flow

    assert _bipartite_max_flow([([0, 1], 1.0), ([0], 1.0)], [1.0, 1.0]) == pytest.approx(2.0)
    assert _bipartite_max_flow([([0, 1], 1.5), ([0], 2.0)], [2.5, 1.0]) == pytest.approx(3.5)
    assert _bipartite_max_flow([([0], 3.0)], [1.0, 1.0]) == pytest.approx(1.0)


@pytest.mark.parametrize("problem_fixture", ["reference", "large"])
def test_portfolio_loads_the_pool(problem_fixture: str, request: pytest.FixtureRequest) -> None:
    """Running every trial would need 80-90 % of the pool over the horizon, each role 65-100 %,
    with months above 100 %: optional trials compete for the pool."""
    problem: Problem = request.getfixturevalue(problem_fixture)
    capacity = _available(problem)
    demand = _portfolio_demand(problem, problem.trials)
    total = sum(sum(v) for v in demand.values()) / sum(sum(v) for v in capacity.values())
    assert 0.75 <= total <= 0.92
    for role in problem.roles:
        assert 0.65 <= sum(demand[role]) / sum(capacity[role]) <= 1.0, role
        assert max(d / c for d, c in zip(demand[role], capacity[role]) if c) > 1.0, role


def test_ten_times_keeps_trial_size(reference: Problem, large: Problem) -> None:
    def mean_phase_three_cra(problem: Problem) -> float:
        peaks = [max(s.demand.get("CRA", 0) for s in _standard(t).stages) for t in problem.trials if t.phase == "III"]
        return sum(peaks) / len(peaks)

    assert mean_phase_three_cra(large) == pytest.approx(mean_phase_three_cra(reference), rel=0.25)


def test_budget_makes_choices_matter(reference: Problem) -> None:
    """Each year's budget is below what running every trial would cost there."""
    rich = reference.model_copy(deep=True)
    for trial in rich.trials:
        trial.mandatory = True
    assert any(v.startswith("budget ") for v in mandatory_plan_violations(rich))


# --------------------------------------------------------------------------- realism


def test_pool_realism(reference: Problem) -> None:
    staff = reference.staff
    assert reference.roles == list(ROLES)
    assert reference.regional_roles == ["CRA", "SSU", "CTA"]
    counts = Counter(p.role for p in staff)
    assert counts.most_common(1)[0][0] == "CRA" and 0.27 <= counts["CRA"] / len(staff) <= 0.33
    assert counts["CTA"] > counts["DM"] > counts["MM"]
    for person in staff:
        low, high = ROLE_COST[person.role]
        assert low <= person.monthly_cost / person.fte <= high + 10
        assert person.fte in (1.0, 0.8, 0.6, 0.5)
        assert 1 <= len(person.skills) <= 3 and set(person.skills) <= set(INDICATIONS)
        assert 2 <= person.max_concurrent_trials <= 4
        assert len(person.secondary_roles) <= 1
        per_year = Counter(month[:4] for month in person.leave)
        assert max(per_year.values(), default=0) <= 2
    assert {p.region for p in staff} == {"EU", "NA", "APAC"}
    assert 0.6 <= sum(p.source == "cro" for p in staff) / len(staff) <= 0.8
    assert 0.7 <= sum(p.fte == 1.0 for p in staff) / len(staff) <= 0.9
    assert 0.05 <= sum(bool(p.secondary_roles) for p in staff) / len(staff) <= 0.15
    assert any(p.available_from for p in staff) and any(p.available_to for p in staff)


def test_flex_services_budget_objective(reference: Problem) -> None:
    fte = defaultdict(float)
    cost = defaultdict(float)
    for person in reference.staff:
        fte[person.role] += person.fte
        cost[person.role] += person.monthly_cost
    assert [f.role for f in reference.flex] == list(ROLES)
    for flex in reference.flex:
        assert 1.38 <= flex.monthly_rate / (cost[flex.role] / fte[flex.role]) <= 1.82
        assert 0.09 <= flex.max_fte / fte[flex.role] <= 0.16
    assert {s.kind for s in reference.services} == {"site_management", "site_network", "dct", "central_lab"}
    assert all(s.unit_cost > 0 for s in reference.services)
    assert set(reference.budget.per_year) == {"2027", "2028", "2029"}
    assert reference.objective.kind == "value"
    assert reference.settings.time_limit == 60 and reference.settings.mip_gap == 0.01


def test_trial_realism(reference: Problem) -> None:
    trials = reference.trials
    assert {t.phase for t in trials} == {"I", "II", "III", "IV"}
    assert 10 <= sum(t.mandatory for t in trials) <= 12
    by_id = {t.id: t for t in trials}
    start = reference.horizon.start
    ongoing = [t for t in trials if t.earliest_start == t.latest_start == start]
    assert ongoing and all(t.mandatory and len(t.options) == 1 for t in ongoing)
    for trial in trials:
        low, high = VALUE[trial.phase]
        assert low <= trial.value <= high
        assert trial.indication in INDICATIONS
        assert trial.required_skills == {"CRA": [trial.indication], "MM": [trial.indication]}
        assert trial.regions and trial.tardiness_penalty > 0
        assert 1 <= len(trial.options) <= 3 and trial.options[0].id == "standard"
        assert reference.index(trial.deadline) >= reference.index(trial.earliest_start) + trial.options[0].duration - 1
        if not trial.mandatory:
            assert reference.index(trial.earliest_start) >= 1
        assert [s.name for s in _standard(trial).stages][-2:] == ["treatment", "close-out"]
        if trial not in ongoing and not trial.predecessors:
            shortest = sum(lo for lo, _ in STAGE_MONTHS[trial.phase])
            longest = sum(hi for _, hi in STAGE_MONTHS[trial.phase])
            assert shortest <= _standard(trial).duration <= longest
        for option in trial.options:
            if option.id == "full-service":
                assert option.fixed_cost > 0
                assert all(set(s.demand) <= {"CTM", "MM"} for s in option.stages)
            if option.id == "dct-hybrid":
                assert option.duration < _standard(trial).duration
                assert any("dct" in s.services for s in option.stages)
        for before in trial.predecessors:
            first = by_id[before.trial]
            assert (trial.phase, first.phase, first.mandatory) == ("III", "II", True)
            assert first.indication == trial.indication and 2 <= before.lag <= 4
            readout = month_index(first.earliest_start, start) + _standard(first).duration
            assert reference.index(trial.earliest_start) == readout + before.lag
    assert any(t.predecessors for t in trials)
    assert {o.id for t in trials for o in t.options} == {"standard", "dct-hybrid", "full-service"}
