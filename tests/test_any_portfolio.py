"""Any small portfolio (issue 16): every plan passes the checker, and none is missing.

Hypothesis draws small, varied problems directly as JSON-like dicts (small multi-skilled
pools included: secondary roles, part-time FTE, one trial at a time, free people,
leave and availability windows, skills, regions, flex, services, budgets, priced
shortfall, predecessors, windows and deadlines, all four objectives). For each problem
that validation accepts:

(a) a plan the engine calls ``optimal`` or ``feasible`` passes the independent checker;
(b) when the independent constructive check (:mod:`tests.constructive`, which places the
    trials that must run one at a time) finds a valid plan, the engine finds one too;
(c) the engine never raises, nor returns status ``error``.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st

from models.contract.check import check_plan
from models.pipeline import solve
from models.contract.problem import ProblemInvalid, month_at
from models.contract.validation import parse_problem
from tests.constructive import constructive_plan

ROLES = ["CRA", "CTM", "DM", "BIOS"]
SKILLS = ["AD", "PSO"]
REGIONS = ["EU", "NA"]
SERVICES = ["sites", "lab"]
TIME_LIMIT = 2.0


def _sometimes(draw, strategy, chance: int = 2):
    """``strategy``'s value about once in ``chance`` draws, else None (shrinks to None)."""
    return draw(strategy) if draw(st.integers(0, chance - 1)) == chance - 1 else None


@st.composite
def staff_members(draw, roles: list[str], index: int, months: int, start: str) -> dict[str, Any]:
    role = draw(st.sampled_from(roles))
    others = [r for r in roles if r != role]
    person: dict[str, Any] = {
        "id": f"s{index}",
        "role": role,
        "secondary_roles": draw(st.lists(st.sampled_from(others), unique=True)) if others else [],
        "fte": draw(st.sampled_from([1.0, 0.5, 0.6, 0.8])),
        "monthly_cost": draw(st.sampled_from([0.0, 8000.0, 4000.0, 12000.0])),
        "max_concurrent_trials": draw(st.integers(1, 3)),
        "region": draw(st.sampled_from(REGIONS)),
        "skills": draw(st.lists(st.sampled_from(SKILLS), unique=True)),
    }
    first = _sometimes(draw, st.integers(0, months - 1), 4)
    if first is not None:
        person["available_from"] = month_at(start, first)
    last = _sometimes(draw, st.integers(first or 0, months - 1), 4)
    if last is not None:
        person["available_to"] = month_at(start, last)
    person["leave"] = [month_at(start, m) for m in draw(st.lists(st.integers(0, months - 1), unique=True,
                                                                 max_size=3))]
    return person


@st.composite
def options(draw, roles: list[str], services: list[str], index: int) -> dict[str, Any]:
    stages = []
    for _ in range(draw(st.integers(1, 3))):
        demand_roles = draw(st.lists(st.sampled_from(roles), unique=True, min_size=1))
        stage: dict[str, Any] = {
            "months": draw(st.integers(1, 3)),
            "demand": {r: draw(st.sampled_from([0.5, 1.0, 0.2, 1.5, 0.3])) for r in demand_roles},
        }
        if services:
            stage["services"] = {s: draw(st.sampled_from([1.0, 2.0, 3.0]))
                                 for s in draw(st.lists(st.sampled_from(services), unique=True))}
        stages.append(stage)
    return {"id": f"o{index}", "stages": stages, "fixed_cost": draw(st.sampled_from([0.0, 30000.0]))}


@st.composite
def trials(draw, roles: list[str], services: list[str], index: int, months: int, start: str) -> dict[str, Any]:
    opts = [draw(options(roles, services, k)) for k in range(draw(st.integers(1, 2)))]
    longest = max(sum(stage["months"] for stage in o["stages"]) for o in opts)
    trial: dict[str, Any] = {
        "id": f"T{index}",
        "mandatory": draw(st.booleans()),
        "value": draw(st.sampled_from([1_000_000.0, 0.0, 100_000.0])),
        "tardiness_penalty": draw(st.sampled_from([0.0, 50_000.0])),
        "options": opts,
    }
    if index and draw(st.integers(0, 2)) == 0:
        preds = draw(st.lists(st.integers(0, index - 1), unique=True, min_size=1, max_size=2))
        trial["predecessors"] = [{"trial": f"T{p}", "lag": draw(st.integers(0, 2))} for p in preds]
    earliest = _sometimes(draw, st.integers(0, max(0, months - longest)), 3)
    if earliest is not None:
        trial["earliest_start"] = month_at(start, earliest)
    latest = _sometimes(draw, st.integers(earliest or 0, months - 1), 3)
    if latest is not None:
        trial["latest_start"] = month_at(start, latest)
    deadline = _sometimes(draw, st.integers(0, months + 2), 3)
    if deadline is not None:
        trial["deadline"] = month_at(start, deadline)
    if draw(st.integers(0, 3)) == 0:
        trial["required_skills"] = {draw(st.sampled_from(roles)): draw(st.lists(st.sampled_from(SKILLS),
                                                                                unique=True, min_size=1))}
    if draw(st.integers(0, 2)) == 0:
        trial["regions"] = draw(st.lists(st.sampled_from(REGIONS), unique=True, min_size=1))
    return trial


@st.composite
def problems(draw) -> dict[str, Any]:
    months = draw(st.integers(6, 18))
    start = draw(st.sampled_from(["2027-01", "2027-09", "2026-12"]))
    roles = ROLES[: draw(st.integers(1, 4))]
    services = []
    for sid in SERVICES[: draw(st.integers(0, 2))]:
        if draw(st.booleans()):
            capacity: Any = draw(st.sampled_from([3.0, 0.0, 1.0, 6.0]))
        else:
            capacity = draw(st.lists(st.sampled_from([3.0, 0.0, 1.0, 6.0]), min_size=months, max_size=months))
        services.append({"id": sid, "capacity": capacity, "unit_cost": draw(st.sampled_from([0.0, 500.0]))})
    service_ids = [s["id"] for s in services]
    problem: dict[str, Any] = {
        "name": "any-portfolio",
        "horizon": {"start": start, "months": months},
        "roles": roles,
        "regional_roles": draw(st.lists(st.sampled_from(roles), unique=True)) if draw(st.booleans()) else [],
        "staff": [draw(staff_members(roles, i, months, start)) for i in range(draw(st.integers(2, 12)))],
        "services": services,
        "flex": [{"role": r, "monthly_rate": draw(st.sampled_from([15000.0, 0.0])),
                  "max_fte": draw(st.sampled_from([0.5, 1.0]))}
                 for r in draw(st.lists(st.sampled_from(roles), unique=True))],
        "trials": [draw(trials(roles, service_ids, j, months, start)) for j in range(draw(st.integers(1, 5)))],
        "objective": {
            "kind": draw(st.sampled_from(["value", "cost", "makespan", "weighted_completion"])),
            "discount_rate": draw(st.sampled_from([0.01, 0.0])),
            "weights": {"fragmentation": draw(st.sampled_from([0.0, 1000.0]))},
        },
        "settings": {"time_limit": TIME_LIMIT},
    }
    shortfall = _sometimes(draw, st.sampled_from([100_000.0, 0.0]), 3)
    if shortfall is not None:
        problem["objective"]["weights"]["shortfall"] = shortfall
    budget: dict[str, Any] = {}
    total = _sometimes(draw, st.sampled_from([1_000_000.0, 0.0, 50_000.0, 200_000.0]), 3)
    if total is not None:
        budget["total"] = total
    if draw(st.integers(0, 3)) == 0:
        budget["per_year"] = {start[:4]: draw(st.sampled_from([500_000.0, 0.0, 30_000.0]))}
    if budget:
        problem["budget"] = budget
    if draw(st.integers(0, 3)) == 0:  # a trial pin: run it, and sometimes fix its option and start
        trial = draw(st.sampled_from(problem["trials"]))
        pin: dict[str, Any] = {"trial": trial["id"], "run": True}
        if draw(st.booleans()):
            pin["option"] = draw(st.sampled_from([o["id"] for o in trial["options"]]))
        if draw(st.booleans()):
            pin["start"] = month_at(start, draw(st.integers(0, months - 1)))
        problem["pins"] = {"trials": [pin]}
    return problem


def _describe(violations) -> str:
    return "\n".join(f"{v.rule}: {v.message}" for v in violations)


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large])
@given(data=problems())
def test_any_small_portfolio_gets_a_checked_plan_whenever_one_exists(data: dict[str, Any]):
    try:
        problem = parse_problem(data)
    except ProblemInvalid:
        assume(False)
        return
    note(f"problem JSON: {json.dumps(data)}")

    built = constructive_plan(problem)
    if built is not None:  # the constructive check itself must be right
        assert check_plan(problem, built) == [], _describe(check_plan(problem, built))

    plan = solve(problem.model_copy(deep=True))  # (c) the engine never raises
    note(f"engine: status {plan.status}, message {plan.message!r}")
    assert plan.status != "error", f"(c) engine returned status error: {plan.message}"

    if plan.status in ("optimal", "feasible"):
        violations = check_plan(problem, plan)
        assert violations == [], f"(a) the engine's {plan.status} plan breaks rules:\n{_describe(violations)}"

    if built is not None:
        assert plan.status in ("optimal", "feasible"), (
            f"(b) engine says {plan.status!r} ({plan.message}) but the constructive check found a valid plan: "
            + ", ".join(f"{t.id}:{t.option}@{t.start}" for t in built.trials if t.run))
