"""Two plans of one portfolio compared (SPEC §3): what a reforecast changed and why it matters.

A planner who re-plans (a reforecast against the plan it replaces, a scenario against
its base) needs the changes, not two plans side by side:

- the headline: objective, total cost, value delivered, trials run and on time, before
  and after;
- per trial whose run, option, start or lateness changed: before and after, the start
  shift in months, the cost and value change, and the new plan's explanation for the
  trial when it has one (why it is now late or left out);
- FTE moved per role and month: named-staff FTE and flex FTE before and after, where
  either changed;
- people reassigned: per person whose FTE-months on any trial changed, the trials they
  left, joined and the FTE-months per trial before and after;
- cost and value per year: spend per calendar year (the plan's budget report) and
  value delivered per year, a trial's value counting in the year of its last month
  (its readout, when the value is realised);
- churn (:class:`~models.contract.plan.Churn`, from a month such as the freeze when one
  is given): trials changed, people reassigned, blocks kept, FTE-months kept and moved.

Two plans of different portfolios are not compared: :func:`diff_plans` raises
:class:`OtherPortfolio` with the one line that says so.

Differences under 1e-6 (the plans' own FTE tolerance) are not changes.
"""

from __future__ import annotations

from collections import defaultdict

from pydantic import BaseModel, Field

from models.contract.churn import churn
from models.contract.identity import plans_mismatch
from models.contract.plan import Churn, Plan, TrialPlan
from models.contract.problem import month_index

_TOL = 1e-6


class Headline(BaseModel):
    """One headline figure before and after."""

    name: str
    before: float | None
    after: float | None


class TrialChange(BaseModel):
    trial: str
    run_before: bool
    run_after: bool
    option_before: str | None = None
    option_after: str | None = None
    start_before: str | None = None
    start_after: str | None = None
    start_shift_months: int | None = Field(None, description="Months the start moved (positive: later); null unless it runs in both")
    months_late_before: int = 0
    months_late_after: int = 0
    cost_change: float = 0.0
    value_change: float = 0.0
    reason: str | None = Field(None, description="The new plan's explanation for this trial, if it gives one")


class FteMove(BaseModel):
    role: str
    month: str
    assigned_before: float
    assigned_after: float
    flex_before: float
    flex_after: float


class Reassignment(BaseModel):
    staff: str
    left: list[str] = Field(default_factory=list, description="Trials they worked on before and no longer do")
    joined: list[str] = Field(default_factory=list, description="Trials they work on now and did not before")
    before: dict[str, float] = Field(default_factory=dict, description="FTE-months per trial before")
    after: dict[str, float] = Field(default_factory=dict, description="FTE-months per trial after")


class YearChange(BaseModel):
    year: str
    cost_before: float
    cost_after: float
    value_before: float
    value_after: float
    budget: float | None = Field(None, description="The year's budget in the new plan")


class OtherPortfolio(ValueError):
    """Two plans of different portfolios: the message says so in one line."""


class PlanDiff(BaseModel):
    """What changed from the old plan to the new one (only what changed is listed)."""

    headline: list[Headline]
    churn: Churn
    trials: list[TrialChange]
    fte_moved: list[FteMove]
    people: list[Reassignment]
    years: list[YearChange]


def _differs(a: float, b: float) -> bool:
    return abs(a - b) > _TOL


def _trial_change(trial: str, old: TrialPlan | None, new: TrialPlan | None, reasons: dict[str, str]) -> TrialChange | None:
    """The trial's change, or None if it runs the same way in both (a trial missing from a plan does not run there)."""
    before = old or TrialPlan(id=trial, run=False)
    after = new or TrialPlan(id=trial, run=False)
    same = (
        before.run == after.run
        and before.option == after.option
        and before.start == after.start
        and before.months_late == after.months_late
    )
    if same:
        return None
    shift = month_index(after.start, before.start) if before.run and after.run and before.start and after.start else None
    return TrialChange(
        trial=trial,
        run_before=before.run,
        run_after=after.run,
        option_before=before.option,
        option_after=after.option,
        start_before=before.start,
        start_after=after.start,
        start_shift_months=shift,
        months_late_before=before.months_late,
        months_late_after=after.months_late,
        cost_change=after.cost - before.cost,
        value_change=after.value - before.value,
        reason=reasons.get(trial),
    )


def _fte_months(plan: Plan) -> dict[str, dict[str, float]]:
    """FTE-months per person and trial: each block's FTE times its months."""
    out: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for a in plan.assignments:
        out[a.staff][a.trial] += a.fte * (month_index(a.end, a.start) + 1)
    return out


def _value_per_year(plan: Plan) -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)
    for t in plan.trials:
        if t.run and t.end:
            out[t.end[:4]] += t.value
    return out


def diff_plans(old: Plan, new: Plan, since: str | None = None) -> PlanDiff:
    """The changes from ``old`` to ``new`` (two plans of one portfolio), churn counted from
    the month ``since`` on (the whole horizon when None); :class:`OtherPortfolio` if the two
    plans are of different portfolios."""
    if (other := plans_mismatch(old, new)) is not None:
        raise OtherPortfolio(other)
    headline = [
        Headline(name="objective", before=old.objective, after=new.objective),
        Headline(name="total cost", before=old.kpis.total_cost, after=new.kpis.total_cost),
        Headline(name="value delivered", before=old.kpis.value_delivered, after=new.kpis.value_delivered),
        Headline(name="trials run", before=old.kpis.trials_run, after=new.kpis.trials_run),
        Headline(name="trials on time", before=old.kpis.trials_on_time, after=new.kpis.trials_on_time),
        Headline(name="flex FTE-months", before=old.kpis.flex_fte_months, after=new.kpis.flex_fte_months),
    ]
    reasons: dict[str, str] = {}
    for e in new.explanations:
        if e.trial is not None:
            reasons[e.trial] = e.reason if e.trial not in reasons else f"{reasons[e.trial]}; {e.reason}"
    old_trials = {t.id: t for t in old.trials}
    new_trials = {t.id: t for t in new.trials}
    order = list(dict.fromkeys([*old_trials, *new_trials]))
    trials = [c for tid in order if (c := _trial_change(tid, old_trials.get(tid), new_trials.get(tid), reasons)) is not None]

    old_rm = {(r.role, r.month): r for r in old.role_months}
    new_rm = {(r.role, r.month): r for r in new.role_months}
    moves = []
    for key in sorted(set(old_rm) | set(new_rm), key=lambda k: (k[1], k[0])):
        a, b = old_rm.get(key), new_rm.get(key)
        move = FteMove(
            role=key[0],
            month=key[1],
            assigned_before=a.assigned if a else 0.0,
            assigned_after=b.assigned if b else 0.0,
            flex_before=a.flex if a else 0.0,
            flex_after=b.flex if b else 0.0,
        )
        if _differs(move.assigned_before, move.assigned_after) or _differs(move.flex_before, move.flex_after):
            moves.append(move)

    before, after = _fte_months(old), _fte_months(new)
    people = []
    for staff in sorted(set(before) | set(after)):
        was, now = dict(before.get(staff, {})), dict(after.get(staff, {}))
        if all(not _differs(was.get(t, 0.0), now.get(t, 0.0)) for t in set(was) | set(now)):
            continue
        people.append(
            Reassignment(
                staff=staff,
                left=sorted(set(was) - set(now)),
                joined=sorted(set(now) - set(was)),
                before={t: round(v, 6) for t, v in sorted(was.items())},
                after={t: round(v, 6) for t, v in sorted(now.items())},
            )
        )

    old_spend = {y.year: y.spend for y in old.budget.per_year}
    new_spend = {y.year: y for y in new.budget.per_year}
    old_value, new_value = _value_per_year(old), _value_per_year(new)
    years = [
        YearChange(
            year=year,
            cost_before=old_spend.get(year, 0.0),
            cost_after=new_spend[year].spend if year in new_spend else 0.0,
            value_before=old_value.get(year, 0.0),
            value_after=new_value.get(year, 0.0),
            budget=new_spend[year].budget if year in new_spend else None,
        )
        for year in sorted(set(old_spend) | set(new_spend) | set(old_value) | set(new_value))
    ]
    return PlanDiff(headline=headline, churn=churn(old, new, since), trials=trials, fte_moved=moves, people=people, years=years)


def _signed(x: float, digits: int = 0) -> str:
    return f"{x:+,.{digits}f}"


def _trial_line(c: TrialChange) -> str:
    if c.run_before and not c.run_after:
        what = f"dropped (was {c.option_before} from {c.start_before})"
    elif c.run_after and not c.run_before:
        what = f"added: {c.option_after} from {c.start_after}"
    else:
        parts = []
        if c.option_before != c.option_after:
            parts.append(f"option {c.option_before} -> {c.option_after}")
        if c.start_before != c.start_after:
            parts.append(f"start {c.start_before} -> {c.start_after} ({_signed(c.start_shift_months or 0)} months)")
        if c.months_late_before != c.months_late_after:
            parts.append(f"months late {c.months_late_before} -> {c.months_late_after}")
        what = "; ".join(parts)
    money = f"cost {_signed(c.cost_change)}, value {_signed(c.value_change)}"
    reason = f"\n      why: {c.reason}" if c.reason else ""
    return f"  {c.trial}: {what} ({money}){reason}"


def render_diff(diff: PlanDiff) -> str:
    """The comparison as plain text for a terminal or an e-mail: headline, trials, years, FTE and people."""
    lines = ["What changed (old -> new)"]
    for h in diff.headline:
        if h.before is None or h.after is None:
            lines.append(f"  {h.name}: {h.before} -> {h.after}")
        else:
            digits = 2 if abs(h.after) < 1000 and not float(h.after).is_integer() else 0
            lines.append(f"  {h.name}: {h.before:,.{digits}f} -> {h.after:,.{digits}f} ({_signed(h.after - h.before, digits)})")
    c = diff.churn
    since = f" from {c.since}" if c.since else ""
    kept_share = c.fte_months_kept / c.fte_months_previous if c.fte_months_previous else 1.0
    lines.append(
        f"  churn{since}: {c.trials_changed} trial(s) changed, {c.people_reassigned} of {c.people_with_work} people with "
        f"work reassigned, {c.blocks_kept} of {c.blocks_previous} blocks kept, {c.fte_months_moved:,.2f} FTE-months moved; "
        f"{kept_share:.1%} of the {c.fte_months_previous:,.2f} FTE-months{since} kept"
    )
    lines.append(f"Trials whose run, option, start or lateness changed: {len(diff.trials)}")
    lines += [_trial_line(c) for c in diff.trials]
    lines.append("Cost and value per year")
    for y in diff.years:
        budget = "" if y.budget is None else f" of budget {y.budget:,.0f}"
        lines.append(
            f"  {y.year}: cost {y.cost_before:,.0f} -> {y.cost_after:,.0f}{budget} ({_signed(y.cost_after - y.cost_before)}); "
            f"value {y.value_before:,.0f} -> {y.value_after:,.0f} ({_signed(y.value_after - y.value_before)})"
        )
    lines.append(f"FTE moved: {len(diff.fte_moved)} role-months")
    by_role: dict[str, list[FteMove]] = defaultdict(list)
    for m in diff.fte_moved:
        by_role[m.role].append(m)
    for role, moves in sorted(by_role.items()):
        named = sum(m.assigned_after - m.assigned_before for m in moves)
        flex = sum(m.flex_after - m.flex_before for m in moves)
        months = f"{moves[0].month}..{moves[-1].month}" if len(moves) > 1 else moves[0].month
        lines.append(f"  {role}: named {_signed(named, 2)} FTE-months, flex {_signed(flex, 2)} FTE-months over {len(moves)} month(s) in {months}")
    lines.append(f"People reassigned: {len(diff.people)}")
    for p in diff.people:
        parts = []
        if p.left:
            parts.append("left " + ", ".join(f"{t} ({p.before[t]:.2f} FTE-months)" for t in p.left))
        if p.joined:
            parts.append("joined " + ", ".join(f"{t} ({p.after[t]:.2f} FTE-months)" for t in p.joined))
        changed = [t for t in p.before if t in p.after and _differs(p.before[t], p.after[t])]
        if changed:
            parts.append("changed " + ", ".join(f"{t} {p.before[t]:.2f} -> {p.after[t]:.2f}" for t in changed))
        lines.append(f"  {p.staff}: " + "; ".join(parts))
    return "\n".join(lines)
