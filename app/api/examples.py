"""Example requests shown in ``/docs``, so every endpoint can be tried as is.

The problem example is ``data/example-small.json`` (20 staff, 4 trials, 12 months),
rebuilt from the generator call that made it, so the example also works from an
installed wheel that has no ``data/`` directory; ``tests/test_openapi.py`` checks that the
two are the same. The check example is a one-trial problem with a plan a planner wrote
by hand, which the checker accepts.
"""

from __future__ import annotations

import copy

from functools import lru_cache
from typing import Any

from models.tools.generate import generate

JOB_ID = "3f2b8c1e-5d4a-4b7e-9c61-0a8d2e4f6b13"


@lru_cache(maxsize=1)
def small_problem() -> dict[str, Any]:
    """``data/example-small.json``: ``pace generate --staff 20 --trials 4 --months 12 --seed 1``."""
    return generate(staff=20, trials=4, months=12, seed=1).model_dump(mode="json")


def problem_examples() -> dict[str, dict[str, Any]]:
    return {
        "small": {
            "summary": "Small portfolio: 20 staff, 4 trials, 12 months",
            "description": "data/example-small.json; solves in about a second.",
            "value": small_problem(),
        }
    }


_TINY_PROBLEM: dict[str, Any] = {
    "name": "one trial, two CRAs",
    "horizon": {"start": "2027-01", "months": 3},
    "roles": ["CRA"],
    "staff": [
        {"id": "ana", "role": "CRA", "monthly_cost": 10000},
        {"id": "ben", "role": "CRA", "monthly_cost": 12000},
    ],
    "trials": [
        {
            "id": "T1",
            "value": 1000000,
            "mandatory": True,
            "options": [{"id": "std", "stages": [{"name": "conduct", "months": 3, "demand": {"CRA": 1.0}}]}],
        }
    ],
}

_HAND_WRITTEN_PLAN: dict[str, Any] = {
    "status": "feasible",
    "message": "ana runs T1 on her own",
    "trials": [
        {
            "id": "T1",
            "run": True,
            "option": "std",
            "start": "2027-01",
            "end": "2027-03",
            "cost": 30000.0,
            "cost_split": {"staff": 30000.0},
            "coverage": {"named": 3.0},
            "value": 1000000.0,
        }
    ],
    "assignments": [{"staff": "ana", "trial": "T1", "role": "CRA", "start": "2027-01", "end": "2027-03", "fte": 1.0}],
    "role_months": [
        {
            "role": "CRA",
            "month": month,
            "capacity": 2.0,
            "capacity_primary": 2.0,
            "demand": 1.0,
            "assigned": 1.0,
            "spare": 1.0,
            "flex": 0.0,
            "shortfall": 0.0,
            "utilisation": 0.5,
        }
        for month in ("2027-01", "2027-02", "2027-03")
    ],
    "budget": {"per_year": [{"year": "2027", "spend": 30000.0}], "total": 30000.0},
    "kpis": {"total_cost": 30000.0, "value_delivered": 1000000.0, "trials_run": 1, "trials_on_time": 1, "mean_utilisation": 0.5, "makespan_months": 3},
}


def tiny_problem() -> dict[str, Any]:
    """The check example's one-trial problem (a job of it is what the reforecast example re-plans)."""
    return copy.deepcopy(_TINY_PROBLEM)


def check_examples() -> dict[str, dict[str, Any]]:
    return {
        "hand-written": {
            "summary": "A plan written by hand for a one-trial problem",
            "value": {"problem": _TINY_PROBLEM, "plan": _HAND_WRITTEN_PLAN},
        }
    }


def reforecast_examples() -> dict[str, dict[str, Any]]:
    """Changes to a job of the check example's problem (``tiny_problem``): two CRAs, one trial."""
    return {
        "leaver": {
            "summary": "A person leaves and a year's budget is cut",
            "value": {
                "frozen_until": "2027-02",
                "events": [
                    {"kind": "staff_leaves", "staff": "ben", "from": "2027-03"},
                    {"kind": "budget", "year": "2027", "amount": 100000},
                ],
            },
        }
    }
