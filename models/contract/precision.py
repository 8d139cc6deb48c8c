"""The precision every figure of a plan is written at, so that a planner never reads float noise.

A solver's sums carry noise (``5.949999999999999`` FTE, ``2.66e-15`` uncovered, a cost of
``1250.0000000001``); a plan states its figures at a fixed precision instead:

- money (costs, spend, budgets, value, the objective and bound of ``value`` and ``cost``,
  marginal values, relaxations' money) to the cent: ``MONEY_DECIMALS``;
- FTE, FTE-months and service units in reports to ``QUANTITY_DECIMALS`` (a millionth of an
  FTE); an assignment's own FTE keeps :data:`models.contract.plan.FTE_DECIMALS`, so a plan
  read back as a previous plan or pin sums exactly as it was made;
- shares (utilisation, gap) and the objective and bound of ``makespan`` and
  ``weighted_completion`` (months, plus costs scaled by ``penalty_scale``) to
  ``QUANTITY_DECIMALS``.

The checker compares money to the cent and everything else to ``1e-3`` absolute or
``1e-6`` relative, so a figure rounded here never reads as a mismatch.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel

from models.contract.plan import Plan
from models.contract.problem import Problem

MONEY_DECIMALS = 2
QUANTITY_DECIMALS = 6

#: Fields that hold money, by the model they live in (the rest of a model's floats are quantities).
_MONEY = {
    "TrialCost": {"staff", "flex", "services", "external"},
    "TrialPlan": {"cost", "value"},
    "RoleMonth": {"marginal_value"},
    "YearSpend": {"spend", "budget", "extra_budget", "objective_gain", "objective_gain_bound"},
    "BudgetReport": {"total", "total_budget"},
    "Relaxation": {"budget_total"},
    "Kpis": {"total_cost", "value_delivered"},
}
#: Mappings whose values are money (a relaxation's extra budget per year, its flex rates).
_MONEY_MAPS = {"budget_per_year", "flex_rate"}
#: Fields left as they are: an assignment's FTE (its own precision), timings, a relaxation's scale.
_AS_IS = {"Assignment", "StageTiming", "PlanChanges"}
#: Money per unit (money / money or money / FTE), written to the cent's share.
_PER_UNIT = {("YearSpend", "marginal_value")}


def round_figures(plan: Plan, money_objective: bool) -> Plan:
    """Every figure of ``plan`` at its stated precision (in place; the plan is returned).
    ``money_objective``: the objective is money (kinds ``value`` and ``cost``)."""
    digits = MONEY_DECIMALS if money_objective else QUANTITY_DECIMALS
    plan.objective = _round(plan.objective, digits)
    plan.best_bound = _round(plan.best_bound, digits)
    if plan.gap is not None and plan.objective is not None and plan.best_bound is not None:
        plan.gap = abs(plan.objective - plan.best_bound) / max(1.0, abs(plan.objective))
    plan.gap = _round(plan.gap, QUANTITY_DECIMALS)
    for item in _children(plan):
        _round_model(item)
    return plan


def money_objective(problem: Problem) -> bool:
    """Whether the problem's objective is money (kinds ``value`` and ``cost``)."""
    return problem.objective.kind in ("value", "cost")


def objective_figure(problem: Problem, value: float | None) -> float | None:
    """An objective value (or a difference of two) at the precision the plan states its objective."""
    return _round(value, MONEY_DECIMALS if money_objective(problem) else QUANTITY_DECIMALS)


def _children(model: BaseModel) -> Iterable[BaseModel]:
    for name in type(model).model_fields:
        value = getattr(model, name)
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, BaseModel):
                yield item
                yield from _children(item)


def _round_model(model: BaseModel) -> None:
    kind = type(model).__name__
    if kind in _AS_IS:
        return
    money = _MONEY.get(kind, set())
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, float):
            per_unit = (kind, name) in _PER_UNIT
            setattr(model, name, _round(value, QUANTITY_DECIMALS if per_unit or name not in money else MONEY_DECIMALS))
        elif isinstance(value, dict) and value and all(isinstance(v, float) for v in value.values()):
            digits = MONEY_DECIMALS if name in _MONEY_MAPS else QUANTITY_DECIMALS
            setattr(model, name, {k: _round(v, digits) for k, v in value.items()})


def _round(value: float | None, digits: int) -> float | None:
    """``value`` to ``digits`` decimals, with ``-0.0`` written ``0.0``."""
    if value is None:
        return None
    return round(value, digits) + 0.0
