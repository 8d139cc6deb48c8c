"""PSPLIB j30 as a yardstick for the scheduling core: known optimal makespans are reached."""

from __future__ import annotations

import pytest

from models.psplib import known_optimum, load_sm
from tests.conftest import solve_checked

#: Ten j30 instances from different parameter classes (j30<class>_<instance>).
INSTANCES = ["j301_1", "j3010_1", "j3011_1", "j3012_1", "j3014_1", "j3015_1", "j3016_1", "j3018_1", "j3019_1", "j3020_1"]


@pytest.mark.parametrize("name", INSTANCES)
def test_psplib_instance_is_solved_to_its_known_optimal_makespan(name: str, psplib_dir):
    problem = load_sm(psplib_dir / "j30" / f"{name}.sm")
    problem.settings.time_limit = 120
    plan = solve_checked(problem)
    assert plan.status == "optimal"
    assert plan.kpis.makespan_months == known_optimum(name)
    assert plan.best_bound is not None and plan.best_bound > known_optimum(name) - 1
