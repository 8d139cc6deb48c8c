"""Magnitudes: every number validation admits solves, and one just past a limit is refused.

HiGHS crashed the whole process (segmentation fault, no message) on a staff cost of
1e14 a month, and gave erratic results on other large numbers, so validation refuses
numbers outside documented limits (:mod:`models.contract.validation`, "Magnitudes"). For each
limited field, a small problem with the field at its limit (and engaged: the staff,
flex, service, option or penalty is actually used) is solved in a subprocess, so that a
crash fails the test instead of killing pytest, and the plan must pass the independent
checker; the same problem with the field just past the limit (the next float) is
refused with an error at the field's path that names the limit.
"""

from __future__ import annotations

import copy
import json
import math
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from models.contract.problem import ProblemInvalid
from models.contract.validation import parse_problem
from models.solver.settings import EngineSettings
from models.contract.validation import (
    MAX_AMOUNT,
    MAX_BUDGET,
    MAX_CAPACITY,
    MAX_DEMAND,
    MAX_FLEX_FTE,
    MAX_FRAGMENTATION,
    MAX_PENALTY_SCALE,
    MAX_RATE,
    MAX_SHORTFALL,
    MAX_TARDINESS_WEIGHT,
    MAX_UNITS,
    MIN_FTE,
    _num,
)

ROOT = Path(__file__).resolve().parent.parent
TIME_LIMIT = 10.0

CHILD = r"""
import json, sys
from models.contract.check import check_plan
from models.pipeline import solve
from models.contract.validation import parse_problem

problem = parse_problem(sys.stdin.read())
plan = solve(problem)
violations = check_plan(problem, plan)
print("RESULT " + json.dumps({
    "status": plan.status,
    "message": plan.message,
    "objective": plan.objective,
    "violations": [f"{v.rule}: {v.message}" for v in violations],
}), flush=True)
"""


def above(x: float) -> float:
    return math.nextafter(x, math.inf)


def below(x: float) -> float:
    return math.nextafter(x, -math.inf)


def base() -> dict[str, Any]:
    """12 months, CRA and DM, three people, flex for both roles, a lab, a mandatory trial
    (two options) and two optional ones, a budget: every magnitude has a place to act."""
    return {
        "name": "magnitudes",
        "horizon": {"start": "2027-01", "months": 12},
        "roles": ["CRA", "DM"],
        "staff": [
            {"id": "ana", "role": "CRA", "monthly_cost": 10000},
            {"id": "ben", "role": "CRA", "secondary_roles": ["DM"], "fte": 0.5, "monthly_cost": 6000},
            {"id": "cy", "role": "DM", "monthly_cost": 9000},
        ],
        "services": [{"id": "lab", "capacity": 100, "unit_cost": 50}],
        "flex": [
            {"role": "CRA", "monthly_rate": 15000, "max_fte": 1},
            {"role": "DM", "monthly_rate": 14000, "max_fte": 1},
        ],
        "trials": [
            {"id": "T1", "value": 5e6, "mandatory": True, "deadline": "2027-06", "tardiness_penalty": 1e5,
             "options": [
                 {"id": "std", "stages": [
                     {"months": 2, "demand": {"CRA": 1.0}},
                     {"months": 3, "demand": {"CRA": 1.5, "DM": 0.5}, "services": {"lab": 20}}]},
                 {"id": "fso", "fixed_cost": 4e5, "stages": [{"months": 6, "demand": {"DM": 0.2}}]}]},
            {"id": "T2", "value": 3e6, "earliest_start": "2027-02", "predecessors": [{"trial": "T1"}],
             "options": [{"id": "std", "stages": [
                 {"months": 4, "demand": {"CRA": 1.0, "DM": 0.5}, "services": {"lab": 30}}]}]},
            {"id": "T3", "value": 2e6,
             "options": [{"id": "std", "stages": [{"months": 3, "demand": {"DM": 0.5}, "services": {"lab": 10}}]}]},
        ],
        "budget": {"total": 5e6, "per_year": {"2027": 5e6}},
        "objective": {"kind": "value"},
        "settings": {"time_limit": TIME_LIMIT},
    }


Edit = Callable[[dict[str, Any], float], None]


def _stage(p: dict[str, Any], trial: int, option: int, stage: int) -> dict[str, Any]:
    return p["trials"][trial]["options"][option]["stages"][stage]


def staff_cost(p: dict[str, Any], rate: float) -> None:
    """Every person at ``rate`` per full-time month; no flex, no budget: the staff must work."""
    for s in p["staff"]:
        s["monthly_cost"] = rate * s.get("fte", 1.0)
    p["flex"] = []
    p["budget"] = {}


def small_fte(p: dict[str, Any], fte: float) -> None:
    """A person of ``fte`` whom T1's CRA demand needs exactly (no flex)."""
    p["staff"].append({"id": "dot", "role": "CRA", "fte": fte, "monthly_cost": 10})
    p["flex"] = [f for f in p["flex"] if f["role"] != "CRA"]
    _stage(p, 0, 0, 1)["demand"]["CRA"] = 1.5 + fte
    p["trials"][0]["options"].pop(1)


def flex_rate(p: dict[str, Any], rate: float) -> None:
    """CRA flex at ``rate`` that T1 needs (ben is gone, the FSO option too)."""
    p["staff"] = [s for s in p["staff"] if s["id"] != "ben"]
    p["flex"][0]["monthly_rate"] = rate
    p["trials"][0]["options"].pop(1)
    p["budget"] = {}


def flex_max(p: dict[str, Any], fte: float) -> None:
    p["flex"][0]["max_fte"] = fte
    _stage(p, 0, 0, 1)["demand"]["CRA"] = min(MAX_DEMAND, 1.5 + fte)
    p["trials"][0]["options"].pop(1)
    p["budget"] = {}


def unit_cost(p: dict[str, Any], cost: float) -> None:
    p["services"][0]["unit_cost"] = cost
    p["trials"][0]["options"].pop(1)
    p["budget"] = {}


def capacity(p: dict[str, Any], units: float) -> None:
    p["services"][0]["capacity"] = units


def capacity_series(p: dict[str, Any], units: float) -> None:
    p["services"][0]["capacity"] = [100.0] * 11 + [units]


def units(p: dict[str, Any], amount: float) -> None:
    """T1 uses ``amount`` lab units a month (capacity to match)."""
    _stage(p, 0, 0, 1)["services"]["lab"] = amount
    p["services"][0]["capacity"] = MAX_CAPACITY
    p["trials"][0]["options"].pop(1)
    p["budget"] = {}


def demand(p: dict[str, Any], fte: float) -> None:
    """T1 needs ``fte`` CRA a month, flex covers what the pool cannot."""
    _stage(p, 0, 0, 1)["demand"]["CRA"] = fte
    p["flex"][0]["max_fte"] = MAX_DEMAND
    p["trials"][0]["options"].pop(1)
    p["budget"] = {}


def fixed_cost(p: dict[str, Any], cost: float) -> None:
    for o in p["trials"][0]["options"]:
        o["fixed_cost"] = cost
    p["budget"] = {"total": MAX_BUDGET}


def value(p: dict[str, Any], amount: float) -> None:
    p["trials"][1]["value"] = amount


def tardiness_penalty(p: dict[str, Any], amount: float) -> None:
    """T1 cannot meet its deadline: it is late at ``amount`` a month."""
    p["trials"][0]["deadline"] = "2027-02"
    p["trials"][0]["tardiness_penalty"] = amount
    p["budget"] = {}


def budget_total(p: dict[str, Any], amount: float) -> None:
    p["budget"] = {"total": amount}


def budget_year(p: dict[str, Any], amount: float) -> None:
    p["budget"] = {"per_year": {"2027": amount}}


def shortfall(p: dict[str, Any], price: float) -> None:
    """No flex, no DM but ben, who T1's CRA needs at the same time: DM goes uncovered at ``price``."""
    p["flex"] = []
    p["staff"] = [s for s in p["staff"] if s["id"] != "cy"]
    p["trials"][0]["options"].pop(1)
    p["objective"]["weights"] = {"shortfall": price}
    p["budget"] = {}


def tardiness_weight(p: dict[str, Any], weight: float) -> None:
    p["trials"][0]["deadline"] = "2027-02"
    p["objective"]["weights"] = {"tardiness": weight}
    p["budget"] = {}


def fragmentation(p: dict[str, Any], price: float) -> None:
    """No flex: T1 needs named people, each costing ``price`` for being on it."""
    p["flex"] = []
    p["objective"]["weights"] = {"fragmentation": price}
    p["budget"] = {}


def penalty_scale_makespan(p: dict[str, Any], scale: float) -> None:
    p["objective"] = {"kind": "makespan", "penalty_scale": scale}


def penalty_scale_completion(p: dict[str, Any], scale: float) -> None:
    p["objective"] = {"kind": "weighted_completion", "penalty_scale": scale}


def discount_rate(p: dict[str, Any], rate: float) -> None:
    p["objective"]["discount_rate"] = rate


def pinned_fte(p: dict[str, Any], fte: float) -> None:
    p["pins"] = {"assignments": [{"staff": "ana", "trial": "T1", "role": "CRA", "start": "2027-01",
                                  "end": "2027-02", "fte": fte}],
                 "trials": [{"trial": "T1", "option": "std", "start": "2027-01"}]}


S1 = "trials[0].options[0].stages[1]"
# (id, edit, value at the limit, value just past it, path of the error, phrase of the message)
CASES: list[tuple[str, Edit, float, float, str, str]] = [
    ("staff_monthly_cost", staff_cost, MAX_RATE, above(MAX_RATE), "staff[0].monthly_cost",
     f"above the supported maximum {_num(MAX_RATE)}"),
    ("staff_fte_smallest", small_fte, MIN_FTE, below(MIN_FTE), "staff[3].fte", f"smallest supported fte {_num(MIN_FTE)}"),
    ("flex_monthly_rate", flex_rate, MAX_RATE, above(MAX_RATE), "flex[0].monthly_rate",
     f"above the supported maximum {_num(MAX_RATE)}"),
    ("flex_max_fte", flex_max, MAX_FLEX_FTE, above(MAX_FLEX_FTE), "flex[0].max_fte",
     f"above the supported maximum {_num(MAX_FLEX_FTE)}"),
    ("flex_max_fte_smallest", flex_max, MIN_FTE, below(MIN_FTE), "flex[0].max_fte",
     f"smallest supported positive amount {_num(MIN_FTE)}"),
    ("service_unit_cost", unit_cost, MAX_RATE, above(MAX_RATE), "services[0].unit_cost",
     f"above the supported maximum {_num(MAX_RATE)}"),
    ("service_capacity", capacity, MAX_CAPACITY, above(MAX_CAPACITY), "services[0].capacity",
     f"above the supported maximum {_num(MAX_CAPACITY)}"),
    ("service_capacity_series", capacity_series, MAX_CAPACITY, above(MAX_CAPACITY), "services[0].capacity[11]",
     f"above the supported maximum {_num(MAX_CAPACITY)}"),
    ("stage_service_units", units, MAX_UNITS, above(MAX_UNITS), f"{S1}.services.lab",
     f"above the supported maximum {_num(MAX_UNITS)}"),
    ("stage_demand", demand, MAX_DEMAND, above(MAX_DEMAND), f"{S1}.demand.CRA",
     f"above the supported maximum {_num(MAX_DEMAND)}"),
    ("stage_demand_smallest", demand, MIN_FTE, below(MIN_FTE), f"{S1}.demand.CRA",
     f"smallest supported positive amount {_num(MIN_FTE)}"),
    ("option_fixed_cost", fixed_cost, MAX_AMOUNT, above(MAX_AMOUNT), "trials[0].options[0].fixed_cost",
     f"above the supported maximum {_num(MAX_AMOUNT)}"),
    ("trial_value", value, MAX_AMOUNT, above(MAX_AMOUNT), "trials[1].value", f"above the supported maximum {_num(MAX_AMOUNT)}"),
    ("trial_tardiness_penalty", tardiness_penalty, MAX_AMOUNT, above(MAX_AMOUNT), "trials[0].tardiness_penalty",
     f"above the supported maximum {_num(MAX_AMOUNT)}"),
    ("budget_total", budget_total, MAX_BUDGET, above(MAX_BUDGET), "budget.total",
     f"above the supported maximum {_num(MAX_BUDGET)}"),
    ("budget_per_year", budget_year, MAX_BUDGET, above(MAX_BUDGET), "budget.per_year.2027",
     f"above the supported maximum {_num(MAX_BUDGET)}"),
    ("weight_shortfall", shortfall, MAX_SHORTFALL, above(MAX_SHORTFALL), "objective.weights.shortfall",
     f"above the supported maximum {_num(MAX_SHORTFALL)}"),
    ("weight_tardiness", tardiness_weight, MAX_TARDINESS_WEIGHT, above(MAX_TARDINESS_WEIGHT),
     "objective.weights.tardiness", f"above the supported maximum {_num(MAX_TARDINESS_WEIGHT)}"),
    ("weight_fragmentation", fragmentation, MAX_FRAGMENTATION, above(MAX_FRAGMENTATION),
     "objective.weights.fragmentation", f"above the supported maximum {_num(MAX_FRAGMENTATION)}"),
    ("penalty_scale_makespan", penalty_scale_makespan, MAX_PENALTY_SCALE, above(MAX_PENALTY_SCALE),
     "objective.penalty_scale", f"above the supported maximum {_num(MAX_PENALTY_SCALE)}"),
    ("penalty_scale_weighted_completion", penalty_scale_completion, MAX_PENALTY_SCALE, above(MAX_PENALTY_SCALE),
     "objective.penalty_scale", f"above the supported maximum {_num(MAX_PENALTY_SCALE)}"),
    ("discount_rate", discount_rate, below(1.0), 1.0, "objective.discount_rate", "less than 1"),
    ("pinned_assignment_fte_smallest", pinned_fte, MIN_FTE, below(MIN_FTE), "pins.assignments[0].fte",
     f"smallest supported positive amount {_num(MIN_FTE)}"),
]


def solve_in_subprocess(problem: dict[str, Any]) -> dict[str, Any]:
    """Solve and check in a fresh Python process: a crash in native code fails the test."""
    time_limit = problem.get("settings", {}).get("time_limit", TIME_LIMIT)
    proc = subprocess.run(
        [sys.executable, "-c", CHILD],
        input=json.dumps(problem),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=time_limit * 3 + 60,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, (
        f"solve process exited with {proc.returncode} (negative: killed by signal {-proc.returncode})\n"
        f"{proc.stderr[-2000:]}"
    )
    return json.loads(lines[-1][len("RESULT "):])


def assert_solved(problem: dict[str, Any]) -> dict[str, Any]:
    parse_problem(problem)  # admitted
    result = solve_in_subprocess(problem)
    assert result["violations"] == [], result
    assert result["status"] in ("optimal", "feasible"), result
    return result


def test_case_ids_are_distinct() -> None:
    ids = [case[0] for case in CASES]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize(("edit", "limit"), [pytest.param(c[1], c[2], id=c[0]) for c in CASES])
def test_a_problem_at_the_limit_solves(edit: Edit, limit: float) -> None:
    problem = base()
    edit(problem, limit)
    assert_solved(problem)


@pytest.mark.parametrize(
    ("edit", "past", "path", "phrase"), [pytest.param(c[1], c[3], c[4], c[5], id=c[0]) for c in CASES]
)
def test_a_problem_past_the_limit_is_refused(edit: Edit, past: float, path: str, phrase: str) -> None:
    problem = base()
    edit(problem, past)
    with pytest.raises(ProblemInvalid) as caught:
        parse_problem(problem)
    at_path = [e for e in caught.value.errors if e.path == path]
    assert at_path, [(e.path, e.message) for e in caught.value.errors]
    assert any(phrase in e.message for e in at_path), [e.message for e in at_path]


def test_monthly_cost_limit_is_per_full_time_month() -> None:
    """A part-timer's monthly_cost is for their own fte: the limit scales with it."""
    problem = base()
    problem["staff"][1]["monthly_cost"] = MAX_RATE * 0.5
    parse_problem(problem)
    problem["staff"][1]["monthly_cost"] = above(MAX_RATE * 0.5)
    with pytest.raises(ProblemInvalid) as caught:
        parse_problem(problem)
    (error,) = caught.value.errors
    assert error.path == "staff[1].monthly_cost"
    assert "at fte 0.5 is 1e+08 per full-time month" in error.message and "at most 1e+08 x fte" in error.message


def test_zero_is_always_admitted() -> None:
    """Limits are on magnitude: 0 FTE of demand, 0 flex and free people stay valid."""
    problem = base()
    _stage(problem, 0, 0, 1)["demand"]["DM"] = 0.0
    problem["flex"][1]["max_fte"] = 0.0
    problem["staff"][0]["monthly_cost"] = 0.0
    problem["objective"]["weights"] = {"shortfall": 0.0, "tardiness": 0.0, "fragmentation": 0.0}
    parse_problem(problem)


def test_every_limit_at_once_on_a_realistic_portfolio() -> None:
    """data/example-small.json with every limited number at its limit at the same time
    (demands scaled so the largest is 1000 FTE, flex able to cover them): solves, checked."""
    problem = json.loads((ROOT / "data" / "example-small.json").read_text())
    problem["settings"]["time_limit"] = 20.0
    for s in problem["staff"]:
        s["monthly_cost"] = MAX_RATE * s["fte"]
    for f in problem["flex"]:
        f["monthly_rate"], f["max_fte"] = MAX_RATE, MAX_FLEX_FTE
    for s in problem["services"]:
        s["unit_cost"], s["capacity"] = MAX_RATE, MAX_CAPACITY
    for t in problem["trials"]:
        t["value"] = t["tardiness_penalty"] = MAX_AMOUNT
        for o in t["options"]:
            o["fixed_cost"] = MAX_AMOUNT
            for st in o["stages"]:
                top = max(st["demand"].values(), default=1.0)
                st["demand"] = {r: min(MAX_DEMAND, max(MIN_FTE, MAX_DEMAND * v / top)) if v else 0.0
                                for r, v in st["demand"].items()}
                st["services"] = {k: 1000.0 for k in st["services"]}
    problem["budget"] = {"total": MAX_BUDGET, "per_year": {"2027": MAX_BUDGET}}
    problem["objective"] = {
        "kind": "value",
        "discount_rate": 0.5,
        "weights": {"shortfall": MAX_SHORTFALL, "tardiness": MAX_TARDINESS_WEIGHT, "fragmentation": MAX_FRAGMENTATION},
    }
    assert_solved(problem)
    for kind in ("cost", "makespan", "weighted_completion"):
        other = copy.deepcopy(problem)
        other["objective"] |= {"kind": kind, "penalty_scale": MAX_PENALTY_SCALE}
        assert_solved(other)


def test_expensive_staff_that_crashed_highs_is_refused() -> None:
    """The reported crash: example-small without budget, every monthly_cost 1e14."""
    problem = json.loads((ROOT / "data" / "example-small.json").read_text())
    problem["budget"] = {}
    for s in problem["staff"]:
        s["monthly_cost"] = 1e14
    with pytest.raises(ProblemInvalid) as caught:
        parse_problem(problem)
    assert {e.path for e in caught.value.errors} == {f"staff[{i}].monthly_cost" for i in range(len(problem["staff"]))}


@pytest.mark.parametrize("name", ["pace-reference.json", "example-small.json"])
def test_shipped_data_is_inside_the_limits(name: str) -> None:
    parse_problem((ROOT / "data" / name).read_text())


def test_reference_keeps_its_money_scale() -> None:
    problem = parse_problem((ROOT / "data" / "pace-reference.json").read_text())
    assert EngineSettings.from_problem(problem.settings).money_scale == 1e-4
