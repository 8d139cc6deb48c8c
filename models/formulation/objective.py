"""A staffed schedule's objective by the documented formula (SPEC §3), without assembling a plan.

Shedding, insertion and budget relief compare many candidate plans per solve; building the
whole §3 plan for each (role-months, service-months, assignments) costs over 100 ms on
the reference, while the objective needs only the schedule and the roster's blocks and
flex. :func:`models.formulation.assemble.build_plan` reports the same terms, so a compared candidate
and the plan finally returned are scored alike.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from models.formulation.instance import Instance
from models.formulation.portfolio import completion_weights
from models.formulation.staffing import StaffingResult


@dataclass(frozen=True)
class ObjectiveTerms:
    """What the objective is made of: value delivered, spend per year, penalties, finish months."""

    value_delivered: float
    spend: dict[str, float]
    tardiness: float
    shortfall: float
    people_on_trials: int
    ends: dict[str, int]

    def money(self, inst: Instance) -> float:
        """Spend plus the priced penalties (tardiness, shortfall, people per trial)."""
        weights = inst.problem.objective.weights
        return (
            sum(self.spend.values())
            + self.tardiness
            + (weights.shortfall or 0.0) * self.shortfall
            + weights.fragmentation * self.people_on_trials
        )

    def objective(self, inst: Instance) -> float:
        """The objective in its own sense (value is maximised, the others minimised)."""
        obj = inst.problem.objective
        money = self.money(inst)
        if obj.kind == "value":
            return self.value_delivered - money
        if obj.kind == "cost":
            return money
        if obj.kind == "makespan":
            return max(self.ends.values(), default=0) + obj.penalty_scale * money
        w = completion_weights(inst)
        return sum(w[t] * self.ends.get(t, inst.months + 1) for t in inst.trials) + obj.penalty_scale * money


def year_spend(inst: Instance, schedule: dict[str, tuple[str, int]], staffing: StaffingResult) -> dict[str, float]:
    """Spend per calendar year of a staffed schedule: staff pro rata, flex, services, fixed costs."""
    spend: dict[str, float] = defaultdict(float)
    for b in staffing.blocks:
        for mo in range(b.first, b.last + 1):
            spend[inst.year_of[mo]] += inst.rate(b.staff) * b.fte
    for (_, r, mo), v in staffing.flex.items():
        spend[inst.year_of[mo]] += inst.flex_rate[r] * v
    for y, v in inst.external_spend(schedule).items():
        spend[y] += v
    return spend


def objective_terms(inst: Instance, schedule: dict[str, tuple[str, int]], staffing: StaffingResult) -> ObjectiveTerms:
    obj = inst.problem.objective
    value = 0.0
    tardiness = 0.0
    for t, (o, s) in schedule.items():
        trial = inst.trials[t]
        value += inst.discounted_value(t, s)
        tardiness += obj.weights.tardiness * trial.tardiness_penalty * inst.late(t, o, s)
    return ObjectiveTerms(
        value_delivered=value,
        spend=dict(year_spend(inst, schedule, staffing)),
        tardiness=tardiness,
        shortfall=sum(staffing.shortfall.values()),
        people_on_trials=len({(b.staff, b.trial) for b in staffing.blocks}),
        ends={t: s + inst.profiles[(t, o)].duration for t, (o, s) in schedule.items()},
    )


def plan_objective(inst: Instance, schedule: dict[str, tuple[str, int]], staffing: StaffingResult) -> float:
    """The objective :func:`models.formulation.assemble.build_plan` would report for this staffed schedule."""
    return objective_terms(inst, schedule, staffing).objective(inst)
