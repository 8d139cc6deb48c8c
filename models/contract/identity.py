"""Which portfolio a plan belongs to (SPEC §3): a fingerprint of the problem, and the one-line
verdict when a plan is checked against, or compared with, a plan of another portfolio.

The fingerprint is a SHA-256 of the problem's canonical JSON without ``pins`` and
``settings``: those say how a portfolio is asked about (a freeze, a previous plan, a time
limit), not what it is. Two problems with one fingerprint describe the same world, so a
re-plan whose problem has its previous plan's fingerprint has had no event since.

Whether two things belong to *one portfolio* cannot rest on the fingerprint alone: a
monthly reforecast changes the portfolio (a leaver, a new trial), and its plan must still
be compared with the plan it replaces. So "another portfolio" means that the ids do not
match: fewer than half of one side's trial and people-with-work ids, counted together, are
known to the other. A renamed portfolio whose ids match is the same one; two problems both called
``portfolio`` with different trials are not.
"""

from __future__ import annotations

import hashlib
import json

from models.contract.plan import Plan, PortfolioRef
from models.contract.problem import Problem

#: Below this share of known trials (or of known people with work) a plan is another portfolio's.
SAME_PORTFOLIO_SHARE = 0.5


def fingerprint(problem: Problem) -> str:
    """SHA-256 (hex) of the problem's canonical JSON without ``pins`` and ``settings``."""
    data = problem.model_dump(mode="json", exclude={"pins", "settings"})
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def portfolio_ref(problem: Problem) -> PortfolioRef:
    """What a plan of ``problem`` records about the portfolio it was made for."""
    return PortfolioRef(name=problem.name, fingerprint=fingerprint(problem), trials=len(problem.trials), staff=len(problem.staff))


def _named(plan: Plan, fallback: str) -> str:
    return f"'{plan.portfolio.name}'" if plan.portfolio is not None else fallback


def portfolio_mismatch(problem: Problem, plan: Plan) -> str | None:
    """One line saying that ``plan`` was made for another portfolio than ``problem`` (None
    when it is this portfolio's, in this version or another)."""
    if plan.portfolio is not None and plan.portfolio.fingerprint == fingerprint(problem):
        return None
    trials = {t.id for t in plan.trials}
    people = {a.staff for a in plan.assignments}
    known_trials = len(trials & {t.id for t in problem.trials})
    known_people = len(people & {s.id for s in problem.staff})
    if known_trials + known_people >= SAME_PORTFOLIO_SHARE * (len(trials) + len(people)):
        return None
    return (
        f"the plan is for another portfolio ({_named(plan, 'unnamed')}): only {known_trials} of its {len(trials)} trials "
        f"and {known_people} of its {len(people)} people with work are in '{problem.name}'"
    )


def version_note(problem: Problem, plan: Plan) -> str | None:
    """One line saying that ``plan`` was made for another version of this portfolio (its
    inputs changed since), None when it was made for exactly this problem or cannot tell."""
    if plan.portfolio is None or plan.portfolio.fingerprint == fingerprint(problem):
        return None
    return (
        f"the plan was made for another version of this portfolio ({_named(plan, 'unnamed')}, fingerprint "
        f"{plan.portfolio.fingerprint[:12]}; this problem's is {fingerprint(problem)[:12]}): what changed since may show as violations"
    )


def plans_mismatch(old: Plan, new: Plan) -> str | None:
    """One line saying that two plans belong to different portfolios (None when they are of one)."""
    if old.portfolio is not None and new.portfolio is not None and old.portfolio.fingerprint == new.portfolio.fingerprint:
        return None
    old_trials, new_trials = {t.id for t in old.trials}, {t.id for t in new.trials}
    old_people, new_people = {a.staff for a in old.assignments}, {a.staff for a in new.assignments}
    smaller_trials = old_trials if len(old_trials) <= len(new_trials) else new_trials
    smaller_people = old_people if len(old_people) <= len(new_people) else new_people
    shared = len(old_trials & new_trials) + len(old_people & new_people)
    if shared >= SAME_PORTFOLIO_SHARE * (len(smaller_trials) + len(smaller_people)):
        return None
    return (
        f"the two plans are of different portfolios ({_named(old, 'unnamed')} and {_named(new, 'unnamed')}): they share "
        f"{len(old_trials & new_trials)} of {len(smaller_trials)} trials and {len(old_people & new_people)} of "
        f"{len(smaller_people)} people with work"
    )
