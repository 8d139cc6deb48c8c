"""Rows handed to HiGHS by the fast path are the rows Pyomo's own interface would hand over,
and the persistent bookkeeping after them still works (fixing, removing, re-solving)."""

from __future__ import annotations

import highspy
import pyomo.environ as pyo
import pytest
from pyomo.contrib.solver.solvers.highs import Highs

from models.solver.highs import PersistentHighs, flat_row, linear, solve
from models.solver.settings import EngineSettings


def _model() -> pyo.ConcreteModel:
    """Rows of every kind: flat (with a repeated variable and constants in the body), with a
    parameter, with a fixed variable, a ranged row, and a row over one bare variable."""
    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(4), domain=pyo.NonNegativeReals, bounds=(0, 10))
    m.p = pyo.Param(mutable=True, initialize=3.0)
    m.f = pyo.Var(initialize=2.0)
    m.f.fix()
    m.flat = pyo.Constraint(expr=linear([(1.0, m.x[0]), (2.0, m.x[1]), (0.5, m.x[0])]) + 4.0 >= 5.0)
    m.summed = pyo.Constraint(expr=sum(m.x[i] for i in range(4)) <= 12.0)
    m.ranged = pyo.Constraint(expr=pyo.inequality(1.0, linear([(1.0, m.x[2]), (-1.0, m.x[3])]), 3.0))
    m.param = pyo.Constraint(expr=m.x[1] + m.x[2] >= m.p)
    m.fixed = pyo.Constraint(expr=m.x[3] + m.f <= 6.0)
    m.bare = pyo.Constraint(expr=m.x[2] <= 8.0)
    m.obj = pyo.Objective(expr=linear([(3.0, m.x[0]), (1.0, m.x[1]), (2.0, m.x[2]), (1.0, m.x[3])]))
    return m


def _rows(opt: Highs, m: pyo.ConcreteModel) -> dict[str, tuple[float, float, dict[str, float]]]:
    """Each row of the loaded HiGHS model by constraint name: bounds and coefficients by variable name."""
    lp = opt._solver_model.getLp()
    name_of_col = {opt._pyomo_var_to_solver_var_map[id(v)]: v.name for v in m.component_data_objects(pyo.Var) if id(v) in opt._pyomo_var_to_solver_var_map}
    name_of_row = {r: c.name for c, r in opt._pyomo_con_to_solver_con_map.items()}
    a = lp.a_matrix_
    coefficients: dict[int, dict[str, float]] = {r: {} for r in range(lp.num_row_)}
    rowwise = a.format_ == highspy.MatrixFormat.kRowwise
    for outer in range(lp.num_row_ if rowwise else lp.num_col_):
        for k in range(a.start_[outer], a.start_[outer + 1]):
            row, col = (outer, a.index_[k]) if rowwise else (a.index_[k], outer)
            coefficients[row][name_of_col[col]] = a.value_[k]
    return {name_of_row[r]: (lp.row_lower_[r], lp.row_upper_[r], coefficients[r]) for r in range(lp.num_row_)}


def test_flat_rows_reach_highs_as_pyomo_would_hand_them_over():
    m = _model()
    pyomo_own, fast = Highs(), PersistentHighs()
    pyomo_own.set_instance(m)
    fast.set_instance(m)
    assert _rows(fast, m) == _rows(pyomo_own, m)


def test_only_plain_linear_rows_take_the_fast_path():
    m = _model()
    row = flat_row(m.flat)
    assert row is not None
    assert [v.name for v in row.variables] == ["x[0]", "x[1]"]
    assert row.coefficients == [1.5, 2.0]
    assert (row.lower, row.upper) == (1.0, highspy.kHighsInf)
    assert flat_row(m.ranged) is not None
    assert flat_row(m.param) is None
    assert flat_row(m.fixed) is None
    assert flat_row(m.bare) is None


@pytest.mark.parametrize("change", ["fix", "deactivate", "add"])
def test_a_persistent_resolve_after_the_fast_path_sees_every_change(change: str):
    m = _model()
    opt = PersistentHighs()
    settings = EngineSettings()
    assert solve(m, settings, 10.0, 0.0, solver=opt).proven_optimal
    if change == "fix":
        m.x[0].fix(4.0)
    elif change == "deactivate":
        m.flat.deactivate()
    else:
        m.extra = pyo.Constraint(expr=linear([(1.0, m.x[1]), (1.0, m.x[3])]) >= 7.0)
    again = solve(m, settings, 10.0, 0.0, solver=opt)
    fresh = solve(m, settings, 10.0, 0.0)
    assert again.proven_optimal and fresh.proven_optimal
    assert again.objective == pytest.approx(fresh.objective)
    for row in m.component_data_objects(pyo.Constraint, active=True):
        body = pyo.value(row.body)
        assert row.lower is None or body >= pyo.value(row.lower) - 1e-7
        assert row.upper is None or body <= pyo.value(row.upper) + 1e-7
