"""Why a plan looks the way it does: what binds for each optional trial left out or late trial.

A left-out trial is tried, option by option, at its earliest allowed start against
what the plan leaves free: named capacity of each role (primary roles) plus unused flex,
service capacity, and the yearly budget (its external cost plus its demand priced at
the role's mean staff rate). What does not fit is what binds; when everything fits,
the objective did not find the trial worth its cost.
"""

from __future__ import annotations

from collections import defaultdict

from models.formulation.instance import Instance
from models.contract.plan import Explanation, RoleMonth, ServiceMonth


def explain(
    inst: Instance,
    schedule: dict[str, tuple[str, int]],
    role_months: list[RoleMonth],
    service_months: list[ServiceMonth],
    spend: dict[str, float],
) -> list[Explanation]:
    free_fte = {
        (rm.role, inst.problem.index(rm.month)): rm.capacity + inst.flex_max.get(rm.role, 0.0) - rm.assigned - rm.flex
        for rm in role_months
    }
    free_units = {(sm.service, inst.problem.index(sm.month)): sm.capacity - sm.used for sm in service_months}
    mean_rate = _mean_rates(inst)
    out: list[Explanation] = []
    for tid, trial in inst.trials.items():
        if tid in schedule:
            option, start = schedule[tid]
            late = inst.late(tid, option, start)
            if late:
                out.append(Explanation(trial=tid, reason=f"{late} month(s) late against deadline {trial.deadline}"))
            continue
        missing = [p.trial for p in trial.predecessors if p.trial not in schedule]
        if missing:
            out.append(Explanation(trial=tid, reason=f"predecessor(s) not run: {', '.join(missing)}"))
            continue
        blockers: list[list[str]] = []
        for o in trial.options:
            starts = inst.starts[(tid, o.id)]
            if starts:
                blockers.append([f"option {o.id} from {inst.month(starts[0])}:"] + _binds(inst, tid, o.id, starts[0], free_fte, free_units, spend, mean_rate))
        if not blockers:
            reason = "no feasible start within its window, the horizon and its predecessors"
        else:
            best = min(blockers, key=len)
            if len(best) > 1:
                reason = " ".join(best[:1] + ["; ".join(best[1:])])
            elif inst.problem.objective.kind != "value":
                reason = f"optional trials are not run under the {inst.problem.objective.kind} objective"
            else:
                reason = f"{best[0][:-1]} fits, but its discounted value does not cover its cost and penalties"
        out.append(Explanation(trial=tid, reason=reason))
    return out


def _binds(
    inst: Instance,
    trial: str,
    option: str,
    start: int,
    free_fte: dict[tuple[str, int], float],
    free_units: dict[tuple[str, int], float],
    spend: dict[str, float],
    mean_rate: dict[str, float],
) -> list[str]:
    prof = inst.profiles[(trial, option)]
    short: dict[str, list[int]] = defaultdict(list)
    full: dict[str, list[int]] = defaultdict(list)
    extra: dict[str, float] = defaultdict(float)
    for k in range(prof.duration):
        m = start + k
        for r, v in prof.demand[k].items():
            if v > free_fte.get((r, m), 0.0) + 1e-9:
                short[r].append(m)
            extra[inst.year_of[m]] += v * mean_rate.get(r, inst.flex_rate.get(r, 0.0))
        for svc, u in prof.services[k].items():
            if u > free_units.get((svc, m), 0.0) + 1e-9:
                full[svc].append(m)
        extra[inst.year_of[m]] += inst.month_spend(trial, option, k)
    out = [f"role {r} short in {_span(inst, ms)}" for r, ms in sorted(short.items())]
    out += [f"service {s} full in {_span(inst, ms)}" for s, ms in sorted(full.items())]
    budget = inst.problem.budget
    for year, cost in sorted(extra.items()):
        cap = budget.per_year.get(year)
        if cap is not None and spend.get(year, 0.0) + cost > cap:
            out.append(f"budget {year} exceeded by {spend.get(year, 0.0) + cost - cap:,.0f}")
    if budget.total is not None and sum(spend.values()) + sum(extra.values()) > budget.total:
        out.append(f"total budget exceeded by {sum(spend.values()) + sum(extra.values()) - budget.total:,.0f}")
    return out


def _span(inst: Instance, months: list[int]) -> str:
    return inst.month(months[0]) if len(months) == 1 else f"{inst.month(months[0])}..{inst.month(months[-1])} ({len(months)} months)"


def _mean_rates(inst: Instance) -> dict[str, float]:
    total: dict[str, float] = defaultdict(float)
    count: dict[str, int] = defaultdict(int)
    for p, s in inst.staff.items():
        total[s.role] += inst.rate(p)
        count[s.role] += 1
    return {r: total[r] / count[r] for r in total}
