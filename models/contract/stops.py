"""Stopped trials as the rules read them (the problem's "Stopped trials"): one function that
the engine and the independent checker both apply, so that a stop means one thing.

A trial with ``stopped_from`` M has a fixed option and start S (the freeze keeps them
when it had started before ``frozen_until`` in the previous plan; otherwise a trial pin
gives both). In its place the rules read a trial that

- has that one option, its stages cut after ``M - S`` months (the last stage kept in
  part), its ``fixed_cost`` and ``service_totals`` scaled by the share of its months kept;
- must run, from S exactly (``earliest_start = latest_start = S``);
- delivers no value, has no deadline and no tardiness penalty;

and every trial that names it as a predecessor is pinned ``run: false`` (in place of any
pin of its option or start). Validation
refuses a stop it cannot read so (no fixed start, M not after S, M before the freeze while
the previous plan still runs the trial from M, a mandatory trial or a ``run: true`` pin
waiting for it).
"""

from __future__ import annotations

from models.contract.problem import ExecutionOption, Problem, Stage, Trial, TrialPin, is_month, month_index


def fixed_start(problem: Problem, trial: Trial) -> tuple[str, str] | None:
    """The option and start month a trial is held to: a trial pin giving both, or the freeze
    (started before ``frozen_until`` in the previous plan); None if neither holds it."""
    for pin in problem.pins.trials:
        if pin.trial == trial.id and pin.option is not None and pin.start is not None:
            return pin.option, pin.start
    pins = problem.pins
    if pins.frozen_until is None or pins.previous_plan is None:
        return None
    for entry in pins.previous_plan.trials:
        if entry.id == trial.id and entry.run and entry.option and entry.start and is_month(entry.start) and entry.start < pins.frozen_until:
            return entry.option, entry.start
    return None


def cut(option: ExecutionOption, months: int) -> ExecutionOption:
    """The option's first ``months`` months (all of it if it is no longer), costs pro rata."""
    duration = option.duration
    if months >= duration:
        return option
    stages: list[Stage] = []
    left = months
    for stage in option.stages:
        if left <= 0:
            break
        stages.append(stage if stage.months <= left else stage.model_copy(update={"months": left}))
        left -= stage.months
    share = months / duration
    return option.model_copy(
        update={
            "stages": stages,
            "fixed_cost": option.fixed_cost * share,
            "service_totals": {svc: units * share for svc, units in option.service_totals.items()},
        }
    )


def effective(problem: Problem) -> Problem:
    """The problem with every stopped trial read as the module docstring says (the problem
    itself when none is stopped; applying it twice changes nothing more)."""
    stopped: dict[str, Trial] = {}
    for trial in problem.trials:
        if trial.stopped_from is None or (held := fixed_start(problem, trial)) is None:
            continue
        option_id, start = held
        option = next((o for o in trial.options if o.id == option_id), None)
        if option is None or not is_month(start):
            continue
        months = max(1, month_index(trial.stopped_from, start))
        stopped[trial.id] = trial.model_copy(
            update={
                "options": [cut(option, months)],
                "mandatory": True,
                "value": 0.0,
                "deadline": None,
                "tardiness_penalty": 0.0,
                "earliest_start": start,
                "latest_start": start,
            }
        )
    if not stopped:
        return problem
    waiting = {t.id for t in problem.trials if any(p.trial in stopped for p in t.predecessors)}
    kept = [p for p in problem.pins.trials if p.trial not in waiting]
    pins = problem.pins.model_copy(update={"trials": [*kept, *(TrialPin(trial=t, run=False) for t in sorted(waiting))]})
    trials = [stopped.get(t.id, t) for t in problem.trials]
    return problem.model_copy(update={"trials": trials, "pins": pins})
