"""Figures a planner reads mean what they say: stated precision, and descriptions that match
what plans give (models.contract.precision, models.contract.plan)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from models.contract.plan import Plan, RoleMonth
from models.contract.precision import MONEY_DECIMALS, QUANTITY_DECIMALS
from models.contract.validation import parse_problem
from tests.conftest import base_problem, solve_checked

ROOT = Path(__file__).resolve().parent.parent
MONEY = {"staff", "flex", "services", "external", "cost", "value", "spend", "budget", "total", "total_budget",
         "total_cost", "value_delivered", "objective", "best_bound", "budget_total", "extra_budget",
         "objective_gain", "objective_gain_bound"}
KEPT = {"seconds", "build_seconds", "solver_seconds", "solve_seconds", "scale"}


def _floats(value: Any, path: str = "") -> list[tuple[str, float]]:
    if isinstance(value, dict):
        return [f for k, v in value.items() for f in _floats(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [f for i, v in enumerate(value) for f in _floats(v, f"{path}[{i}]")]
    return [(path, value)] if isinstance(value, float) else []


def _decimals(path: str) -> int | None:
    name = path.rsplit(".", 1)[-1]
    if name in KEPT or path.startswith(".stages") or path.startswith(".assignments") or path.startswith(".changes"):
        return None
    return MONEY_DECIMALS if name in MONEY or path.startswith(".relaxations") and "budget_per_year" in path else QUANTITY_DECIMALS


def test_every_figure_of_a_plan_is_written_at_its_stated_precision() -> None:
    problem = parse_problem(json.loads((ROOT / "data" / "example-small.json").read_text()))
    plan = solve_checked(problem)
    figures = _floats(json.loads(plan.model_dump_json()))
    assert len(figures) > 100
    for path, value in figures:
        digits = _decimals(path)
        if digits is not None:
            assert round(value, digits) == value, f"{path} = {value!r} is not at {digits} decimals"


def test_a_role_with_people_to_spare_still_has_a_positive_marginal_value_as_documented() -> None:
    # Two CRAs for a trial needing one: CRA has slack, yet one more free FTE would replace the
    # CRA in use (10,000 a month), so its marginal value is 10,000, not 0.
    plan: Plan = solve_checked(base_problem())
    busy = [rm for rm in plan.role_months if rm.demand > 0]
    assert busy and all(rm.spare > 0 for rm in busy)
    assert all(rm.marginal_value == 10_000 for rm in busy)
    description = RoleMonth.model_fields["marginal_value"].description or ""
    assert "people to spare still has a positive value" in description
    assert "0 where the role has slack" not in description


def test_a_plan_proven_optimal_well_inside_its_limit_does_not_blame_the_time_limit(psplib_dir: Path) -> None:
    from models.tools.psplib import load_sm

    problem = load_sm(psplib_dir / "j30" / "j301_1.sm")
    plan = solve_checked(problem)
    assert plan.status == "optimal"
    assert "time limit" not in plan.message
