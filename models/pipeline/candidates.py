"""The fully staffed plans a solve has found, ranked by the objective's own sense."""

from __future__ import annotations

from models.formulation.instance import Instance
from models.formulation.objective import plan_objective
from models.heuristics.shed import Staffed
from models.solver.progress import Monitor


def minimised(inst: Instance, solved: Staffed) -> float:
    """A staffed schedule's objective in minimisation form (value is maximised, so negated)."""
    objective = plan_objective(inst, solved.schedule, solved.staffing)
    return -objective if inst.problem.objective.kind == "value" else objective


class Candidates:
    """Every fully staffed plan seen, and the best so far; each new best is reported as
    progress (with the bound once round 0 has one), so a caller sees a real plan's
    objective before and between the HiGHS runs. All are kept, best first, for the final
    check: a plan the checker rejects gives way to the next."""

    def __init__(self, inst: Instance, monitor: Monitor):
        self.inst = inst
        self.monitor = monitor
        self.bound: float | None = None
        self.maximise = inst.problem.objective.kind == "value"
        self.objective: float | None = None
        self.solved: Staffed | None = None
        self.source = ""
        self._seen: list[tuple[float, int, Staffed, str]] = []

    def ranked(self) -> list[tuple[Staffed, str]]:
        """Every plan considered, best first (the first found first among equals)."""
        return [(solved, source) for _, _, solved, source in sorted(self._seen, key=lambda c: (c[0], c[1]))]

    def score(self, solved: Staffed) -> float:
        """The plan's objective in minimisation form (value is maximised, so negated)."""
        return minimised(self.inst, solved)

    def consider(self, solved: Staffed, source: str) -> None:
        score = self.score(solved)
        self._seen.append((score, len(self._seen), solved, source))
        if self.objective is not None and score >= (-self.objective if self.maximise else self.objective):
            return
        objective = -score if self.maximise else score
        self.objective, self.solved, self.source = objective, solved, source
        self.monitor.report(source, objective, self.bound, force=True)


def tighter(kind: str, a: float | None, b: float | None) -> float | None:
    """The tighter of two bounds: the lower of two upper bounds when maximising value, else the higher."""
    if a is None or b is None:
        return b if a is None else a
    return min(a, b) if kind == "value" else max(a, b)
