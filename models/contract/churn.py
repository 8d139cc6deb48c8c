"""How much of one plan another changed (:class:`~models.contract.plan.Churn`): the figures a
re-plan reports about itself and ``pace diff`` puts in its headline, computed in one place
so that both say the same."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from models.contract.plan import Churn, Plan, TrialPlan
from models.contract.problem import is_month, month_index

#: FTE differences up to this are not changes (the plans' own FTE tolerance).
FTE_TOL = 1e-6
#: Months are counted from here: any fixed month will do, the cells only need one origin.
ORIGIN = "2000-01"

Cell = tuple[str, str, str, int]
#: An assignment as churn reads it: person, trial, role, first and last month index from ``ORIGIN``, FTE.
Work = tuple[str, str, str, int, int, float]


def plan_work(plan: Plan) -> Iterable[Work]:
    """A plan's assignments as :data:`Work` (entries that are not months left out)."""
    for a in plan.assignments:
        if is_month(a.start) and is_month(a.end):
            yield a.staff, a.trial, a.role, month_index(a.start, ORIGIN), month_index(a.end, ORIGIN), a.fte


def _cells(work: Iterable[Work], since: int | None) -> tuple[dict[Cell, float], list[list[Cell]]]:
    """FTE per (person, trial, role, month) from ``since`` on, and each block's cells from
    ``since`` (blocks with none left out)."""
    cells: dict[Cell, float] = defaultdict(float)
    blocks: list[list[Cell]] = []
    for staff, trial, role, first, last, fte in work:
        own = [(staff, trial, role, m) for m in range(first if since is None else max(first, since), last + 1)]
        for cell in own:
            cells[cell] += fte
        if own:
            blocks.append(own)
    return cells, blocks


def _trial_changed(old: TrialPlan | None, new: tuple[str | None, str | None] | None) -> bool:
    """Run, option or start differ; a trial the earlier plan does not list is new, not changed."""
    if old is None:
        return False
    was, now = old.run, new is not None
    if was != now:
        return True
    return was and now and new is not None and (old.option, old.start) != new


class Baseline:
    """An earlier plan read once, so that many later plans (a re-plan's candidates) are each
    compared with it at the cost of reading only themselves."""

    def __init__(self, old: Plan, since: str | None = None):
        self.since = since
        self.start = None if since is None else month_index(since, ORIGIN)
        self.trials = {t.id: t for t in old.trials}
        self.cells, self.blocks = _cells(plan_work(old), self.start)

    def churn(self, work: Iterable[Work], running: dict[str, tuple[str | None, str | None]]) -> Churn:
        """What a later plan changed: its ``work`` and its ``running`` trials (id -> option, start month)."""
        after, _ = _cells(work, self.start)
        before = self.cells
        changed = [t for t in dict.fromkeys([*self.trials, *running]) if _trial_changed(self.trials.get(t), running.get(t))]
        people: set[str] = set()
        kept = moved = 0.0
        for cell in before.keys() | after.keys():
            was, now = before.get(cell, 0.0), after.get(cell, 0.0)
            kept += min(was, now)
            if abs(was - now) > FTE_TOL:
                moved += abs(was - now)
                people.add(cell[0])
        return Churn(
            since=self.since,
            trials_changed=len(changed),
            trials=changed,
            people_reassigned=len(people),
            people_with_work=len({c[0] for c in before} | {c[0] for c in after}),
            blocks_previous=len(self.blocks),
            blocks_kept=sum(1 for cells in self.blocks if all(abs(before[c] - after.get(c, 0.0)) <= FTE_TOL for c in cells)),
            fte_months_previous=round(sum(before.values()), 6),
            fte_months_kept=round(kept, 6),
            fte_months_moved=round(moved, 6),
        )


def churn(old: Plan, new: Plan, since: str | None = None) -> Churn:
    """What ``new`` changed of ``old`` from the month ``since`` on (the whole horizon when None)."""
    running = {t.id: (t.option, t.start) for t in new.trials if t.run}
    return Baseline(old, since).churn(plan_work(new), running)
