"""How much of one plan another changed (:class:`~models.contract.plan.Churn`): the figures a
re-plan reports about itself and ``pace diff`` puts in its headline, computed in one place
so that both say the same."""

from __future__ import annotations

from collections import defaultdict

from models.contract.plan import Churn, Plan, TrialPlan
from models.contract.problem import is_month, month_index

#: FTE differences up to this are not changes (the plans' own FTE tolerance).
FTE_TOL = 1e-6

Cell = tuple[str, str, str, int]


def _cells(plan: Plan, origin: str, since: int | None) -> tuple[dict[Cell, float], list[list[Cell]]]:
    """FTE per (person, trial, role, month index from ``origin``) from ``since`` on, and each
    block's cells from ``since`` (blocks with none left out)."""
    cells: dict[Cell, float] = defaultdict(float)
    blocks: list[list[Cell]] = []
    for a in plan.assignments:
        if not (is_month(a.start) and is_month(a.end)):
            continue
        first, last = month_index(a.start, origin), month_index(a.end, origin)
        if since is not None:
            first = max(first, since)
        own = [(a.staff, a.trial, a.role, m) for m in range(first, last + 1)]
        for cell in own:
            cells[cell] += a.fte
        if own:
            blocks.append(own)
    return cells, blocks


def _trial_changed(old: TrialPlan | None, new: TrialPlan | None) -> bool:
    """Run, option or start differ; a trial the earlier plan does not list is new, not changed."""
    if old is None:
        return False
    was, now = old.run, new is not None and new.run
    if was != now:
        return True
    return was and now and new is not None and (old.option, old.start) != (new.option, new.start)


def churn(old: Plan, new: Plan, since: str | None = None) -> Churn:
    """What ``new`` changed of ``old`` from the month ``since`` on (the whole horizon when None)."""
    months = [a.start for p in (old, new) for a in p.assignments if is_month(a.start)]
    origin = min([*months, *([since] if since else [])], default="2000-01")
    start = None if since is None else month_index(since, origin)
    before, old_blocks = _cells(old, origin, start)
    after, _ = _cells(new, origin, start)
    old_trials = {t.id: t for t in old.trials}
    new_trials = {t.id: t for t in new.trials}
    changed = [t for t in dict.fromkeys([*old_trials, *new_trials]) if _trial_changed(old_trials.get(t), new_trials.get(t))]
    people: set[str] = set()
    kept = moved = 0.0
    for cell in set(before) | set(after):
        was, now = before.get(cell, 0.0), after.get(cell, 0.0)
        kept += min(was, now)
        if abs(was - now) > FTE_TOL:
            moved += abs(was - now)
            people.add(cell[0])
    return Churn(
        since=since,
        trials_changed=len(changed),
        trials=changed,
        people_reassigned=len(people),
        people_with_work=len({c[0] for c in before} | {c[0] for c in after}),
        blocks_previous=len(old_blocks),
        blocks_kept=sum(1 for cells in old_blocks if all(abs(before[c] - after.get(c, 0.0)) <= FTE_TOL for c in cells)),
        fte_months_previous=round(sum(before.values()), 6),
        fte_months_kept=round(kept, 6),
        fte_months_moved=round(moved, 6),
    )

