"""Shared test helpers: every plan a test produces goes through the independent checker."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings

from models.contract.check import check_plan
from models.pipeline import solve
from models.contract.plan import Plan
from models.contract.problem import Problem
from models.contract.validation import parse_problem

# CI explores the same examples every run, so a red build always reproduces locally with CI=true.
hypothesis_settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")

ROOT = Path(__file__).resolve().parent.parent
#: PSPLIB's j30 set (``j30/*.sm``) and its proven optima (``j30-optimum.csv``), shipped with the
#: repository so that a clone alone runs every test.
PSPLIB = ROOT / "data" / "psplib"


def solve_checked(problem: Problem | dict[str, Any]) -> Plan:
    """Solve and assert the independent checker finds nothing wrong with the plan."""
    if isinstance(problem, dict):
        problem = parse_problem(problem)
    plan = solve(problem)
    violations = check_plan(problem, plan)
    assert violations == [], "\n".join(f"{v.rule}: {v.message}" for v in violations)
    return plan


def base_problem(**overrides: Any) -> dict[str, Any]:
    """A one-role, two-person, one-trial problem that tests mutate into the case they need."""
    problem: dict[str, Any] = {
        "horizon": {"start": "2027-01", "months": 12},
        "roles": ["CRA"],
        "staff": [
            {"id": "ana", "role": "CRA", "monthly_cost": 10000},
            {"id": "ben", "role": "CRA", "monthly_cost": 12000},
        ],
        "trials": [
            {
                "id": "T1",
                "value": 1_000_000,
                "mandatory": True,
                "options": [{"id": "std", "stages": [{"months": 3, "demand": {"CRA": 1.0}}]}],
            }
        ],
        "objective": {"kind": "value", "weights": {"fragmentation": 0}},
        "settings": {"time_limit": 30},
    }
    problem.update(copy.deepcopy(overrides))
    return problem


def trial_plan(plan: Plan, trial: str):
    return next(t for t in plan.trials if t.id == trial)


@pytest.fixture
def psplib_dir() -> Path:
    if not (PSPLIB / "j30").is_dir():
        pytest.fail(f"PSPLIB's j30 set missing at {PSPLIB / 'j30'} (it is part of the repository)")
    return PSPLIB
