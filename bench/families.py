"""Family survey: the engine on every shape of portfolio planners bring (issue 16).

The engine is tuned on one generated portfolio (``data/pace-reference.json``); a change
that helps it can hurt a shape that portfolio never shows. This survey solves seeded
members of each *family* of problems below with the engine, puts every plan through
the independent checker and compares it with the proven optimum of the monolithic
model (:mod:`models.formulation.monolithic`), so a family that loses plans, breaks rules or gives
away objective is seen by name and seed.

    python bench/families.py [--families a,b] [--seeds 5] [--time-limit 20] [--optimum-limit 600] [--without-portfolio-core]

Families
--------

Every member starts from the *base portfolio of its seed*: ``generate(staff, trials,
months, seed)`` with 11-24 staff, 3-6 trials and 12, 18 or 24 months drawn from the
seed alone, so seed ``s`` of every family (except where a family sets its own size)
edits the same portfolio and a failure can be traced to the edit by comparing with
``value`` seed ``s``. The edits draw from ``random.Random("<family>:<seed>")``. Each
member is parsed back through :func:`models.contract.validation.parse_problem`, so it is valid
in both layers; it need not be feasible (an infeasible member checks that the engine
says so, and the monolithic model tells which).

``value``
    The base portfolio as generated: the default objective, the control group.
``cost``, ``makespan``
    The base portfolio under these objectives. Optional trials are not run under
    either, so only the mandatory trials matter (the optional ones stay in the input:
    the engine must leave them out); under ``cost`` mandatory trials must be on time.
``weighted_completion``
    Value-weighted finish months; optional trials may run (a trial left out counts as
    finishing one month after the horizon), so the objective trades finishing early
    against running at all.
``secondary_roles``
    85 % of people hold one or two secondary roles (any other role, at random): the
    rosters' role choices multiply, which the base (10 % with one typical secondary
    role) barely exercises.
``small_multiskilled``
    A team of 4-10 people over 4-6 roles (CRA and CTM always) where 80 % hold two or
    three roles and 60 % may work on one trial at a time (the rest two); one mandatory
    trial, the others optional; no skill or region restrictions (a small team of
    generalists); flex 0.5 FTE per role. Demand is scaled so that any one trial, with
    any option, alone fits the team plus flex in every month (Gale's supply-demand
    condition over every set of roles), so it is the *overlap* of trials that binds.
    A pool this small with people at their limit of one trial broke the engine's
    rosters before.
``tight_budget``
    Yearly budgets cut to the mandatory plan's estimated spend plus 30-60 % of what the
    optional trials would add (standard options from their earliest starts, staff at
    the role's mean rate; never below 1.3x the mandatory estimate, never above the
    generated budget): only part of the optional trials fit, and budget relief decides
    (on seeds 0-4 the optimum runs fewer or other optional trials than ``value``'s and
    is worth 24-60 % less, but for seed 2, whose budget does not bind).
``no_flex``
    The flex list is empty: every FTE must come from named people, so skills, regions,
    leave and limits of concurrent trials bind exactly. The generator calibrated demand
    counting on half the flex, so all demand is scaled down in steps of 5 % (FTE rounded
    down to 0.05) until the named pool alone covers the mandatory trials
    (:func:`models.tools.generate.coverage_violations` without flex; 4-5 steps on seeds 0-4),
    as the generator itself does when no other repair helps. Limits of concurrent
    trials, which that check ignores, may still make a member infeasible.
``priced_shortfall``
    ``objective.weights.shortfall`` set to 0.3-0.8x (even seeds) or 1.2-2.5x (odd seeds)
    the median full-time monthly rate of the pool: leaving demand uncovered is the
    cheapest way to staff it on even seeds, and is worth it only where flex or scarce
    people cost more on odd seeds (the optima on seeds 0-4 leave 179, 0.3, 69, 7.8 and
    12 FTE-months uncovered).
``tardiness``
    Deadlines 0-3 months *before* the end of the shortest option run from the earliest
    start (for an ongoing trial: its end), tardiness penalties 0.1-0.5 % of the value
    per month: lateness is often unavoidable and sometimes the cheaper choice, the trade
    the base (deadlines with slack, steep penalties) never tempts (every optimum on
    seeds 0-4 has trials 1-3 months late).
``tight_services``
    Service capacities cut to 35-60 % of the generated ones, never below the mandatory
    trials' peak use (standard options from their earliest starts): options and starts
    are chosen around services rather than staff.
``predecessors``
    A 36-month horizon and one chain of trials: it starts at the trial that can end
    first; going through the others by earliest start, each optional trial without a
    predecessor waits (lag 0-3 months) for the chain's last trial when at least 8 months
    are left after it, its stages shortened in proportion to at most 12 months (and the
    horizon), as the generator fits a phase III after its phase II readout. Chains of
    two to four trials back to back, so every readout binds the next start.
``open_windows``
    A 30-month horizon and no earliest or latest start on optional trials: every start
    that fits is open, so the start domains (and the models) are the widest.
``pins``
    A re-plan of the base portfolio: its monolithic optimum (solved here, single thread,
    to optimality, so the member is deterministic) is the ``previous_plan``, frozen until
    month 1: the first month is history (the base's optimal plans start most trials in
    months 0-1, so a later freeze would fix nearly everything). Among the trials that
    had not started by then (those that ran first), where there are such: an optional
    one that no trial waits for is pinned not to run, one is pinned to another option
    than before, and one must run with its option and a start one month later than
    before. One or two assignments of the other trials that run past the freeze are
    copied from the previous plan, from the freeze on, as assignment pins. So the plan
    must change, and the frozen months must not. A member is fixed for a given version
    of the monolithic model: a change to it may pick another of the optimal plans, which
    changes the member (and so its cached optimum's hash: it is recomputed).
``scarce_roles``
    ``generate`` with the base's staff and months and three times its trials
    (:data:`SCARCE_TRIALS_FACTOR`: 9-18), so that few specialists gate many trials.
    PSPLIB-style specialists: one role (even seeds) or two (odd seeds), drawn from those
    no full-service option, skill or region touches (BIOS, PROG, MW, DM, REG, PV), are
    held by 1-2 full-time people each (the base's first ones, without leave or limits
    of concurrent trials below 2; nobody else holds the role, even as a secondary one)
    with no flex on even seeds and 0.25 FTE on odd ones. Every option that used the role
    needs it at a constant 0.5 or 1.0 FTE (drawn per trial) in every stage but its first
    and last, and none in those (a specialist phase, as a PSPLIB job uses a resource at
    one rate); the mandatory trials' rates are cut so that together they fit the
    specialists. Options are shortened in proportion to at most two thirds of the horizon
    (as ``predecessors`` shortens them) and optional trials lose their latest start, so
    the trials' specialist phases can be moved apart, and the base's value objective
    and budgets stay: which optional trials run, when, and whether a full-service
    option buys its way past the specialists is the choice.
``psplib_portfolio``
    PSPLIB's scarce-resource classes as a portfolio: a ProGen-like instance of 30 jobs
    (:func:`models.tools.psplib.generate_sm`, resource strength 0.2, resource factor 0.5,
    0.75 or 1.0 and network complexity 1.5, 1.8 or 2.1 drawn per seed: the classes where
    HiGHS did not finish j30's root node) mapped as ``pace import-psplib`` maps it (four
    roles of named full-time people, predecessors), each trial worth 1-10 million. Even
    seeds: the value objective, every trial optional, the horizon three quarters of the
    quick schedule's makespan, so which trials run is the choice; odd seeds: weighted
    completion, every trial mandatory. The monolithic model proves none of them (in 60 s,
    seed 0's plan is worth half the engine's and seed 1 gets none), so it gets at most
    60 s here (:data:`OPTIMUM_LIMIT_CAP`) and its plan is a floor, not an optimum: the
    family is judged by the engine's plans against each other (with and without the
    portfolio core) and by its reported gaps.
``size_5x``
    ``generate`` at five times the base's staff and trials: the size where the
    decomposition earns its keep; no monolithic optimum is expected within the limit.

Optima and the report
---------------------

Every family but ``size_5x`` and ``psplib_portfolio`` is small enough for the monolithic
model (one thread, no gap) to prove its optimum: on seeds 0-4 the 70 small members took 70 s in all, each
under 4 s but ``secondary_roles`` seed 0 (46 s), on the 2-core machine of
``families-optima.json``; the five ``size_5x`` members ended unproven at 600 s each.
Optima are cached in ``bench/results/families-optima.json`` under ``family:seed``
with a hash of the problem's JSON, so a changed generator or family recomputes them;
they are computed only when missing, one at a time, ``--optimum-limit`` seconds each
(an unproven one is kept as such, never used as the optimum, and tried again under a
longer limit; a crash is tried again every time).

Per member (``bench/results/families.csv``, see :func:`instance_row`): the engine's
status, objective, bound and reported gap, wall time around :func:`models.pipeline.solve`
and its overrun past the limit, the checker's violations, the optimum, the true gap
``|plan - optimum| / max(1, |optimum|)`` (proven optima only), how far the plan is
behind the monolithic plan even where that is unproven, and a failed plan's message
and explanations. Per family (the printed table): members, plans checker-clean,
plans missing where a plan exists, plans compared with a proven optimum, true gap
median and worst, worst shortfall against the monolithic plan, reported gap median
and worst, the share the engine calls ``optimal`` within 1 %, wall time median and
worst, worst overrun. Then every member failing a criterion (:func:`failures`) by
family and seed, which reproduces it: ``family_problem(family, seed)``.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import itertools
import json
import math
import multiprocessing
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal, TypedDict

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import describe  # noqa: E402
from models.contract.check import FAILED_STATUSES, check_plan  # noqa: E402
from models.contract.check_explanations import check_explanations  # noqa: E402
from models.tools.generate import ROLE_COST, ROLES, coverage_violations, generate  # noqa: E402
from models.tools.psplib import generate_sm, parse_sm  # noqa: E402
from models.formulation.instance import compile_instance  # noqa: E402
from models.formulation.monolithic import solve_monolithic  # noqa: E402
from models.heuristics import cp_portfolio  # noqa: E402
from models.pipeline import solve  # noqa: E402
from models.contract.plan import Plan  # noqa: E402
from models.contract.problem import AssignmentPin, ExecutionOption, Flex, Predecessor, Problem, Staff, Trial, TrialPin  # noqa: E402
from models.contract.validation import parse_problem  # noqa: E402
from models.solver.settings import EngineSettings  # noqa: E402

RESULTS = ROOT / "bench" / "results"
#: A survey criterion: a plan's true or reported gap above this counts as a miss (the default MIP gap).
GAP_CRITERION = 0.01
#: A solve returning later than this past its time limit counts as an overrun (SPEC §4: "about a second").
OVERRUN_CRITERION = 1.0
#: Months a trial chained in family ``predecessors`` is shortened to: at most the second, and
#: it is chained only if at least the first are left in the horizon after its predecessor.
CHAINED_MONTHS = (8, 12)
#: Factor on demand per step of family ``no_flex`` until the named pool covers the mandatory trials.
NO_FLEX_STEP = 0.95
#: Seconds the monolithic solve that makes a ``pins`` member's previous plan may take.
PINS_PREVIOUS_LIMIT = 120.0
#: Month index up to which (exclusive) a ``pins`` member keeps its previous plan.
PINS_FROZEN = 1
#: Roles family ``scarce_roles`` makes scarce: none is regional, needs a skill or is kept
#: by a full-service option in the generator, so only the specialists themselves gate them.
SCARCE_ROLES = ("BIOS", "PROG", "MW", "DM", "REG", "PV")
#: Trials of a ``scarce_roles`` member, as a multiple of its seed's base portfolio's.
SCARCE_TRIALS_FACTOR = 3
#: PSPLIB's scarce-resource classes (j30 classes 5, 9, 13, 21, 25, 29, 41, 45, where HiGHS
#: did not finish the time-indexed root): resource strength 0.2 with a resource factor of
#: 0.5-1.0, at each of the three network complexities. Family ``psplib_portfolio`` draws
#: its member's parameters from these.
PSPLIB_STRENGTH = 0.2
PSPLIB_FACTORS = (0.5, 0.75, 1.0)
PSPLIB_COMPLEXITIES = (1.5, 1.8, 2.1)
#: Jobs of a ``psplib_portfolio`` member (j30's size).
PSPLIB_JOBS = 30
#: A ``psplib_portfolio`` trial's value, in millions, drawn uniformly between these.
PSPLIB_VALUE_MILLIONS = (1, 10)
#: The horizon of a value-objective ``psplib_portfolio`` member, as a share of the quick
#: schedule's makespan, so that not every trial fits and which run is the choice.
PSPLIB_VALUE_HORIZON = 0.75
#: Seconds the monolithic model gets per member of a family it cannot prove, whatever
#: ``--optimum-limit`` says: its plan is then a floor to compare with, not an optimum,
#: and a longer run would only spend the survey's time (see ``psplib_portfolio``).
OPTIMUM_LIMIT_CAP = {"psplib_portfolio": 60.0}
#: Longest option in family ``scarce_roles``, as a share of the horizon.
SCARCE_LENGTH_SHARE = 2 / 3
#: Characters of a failed plan's message and explanations kept in the CSV.
MESSAGE_CHARS = 300


# --------------------------------------------------------------------------- families


def base_size(seed: int) -> tuple[int, int, int]:
    """Staff, trials and months of the seed's base portfolio (drawn from the seed alone)."""
    rng = random.Random(seed)
    return rng.randint(11, 24), rng.randint(3, 6), rng.choice([12, 18, 24])


def _base(seed: int, months: int | None = None) -> Problem:
    staff, trials, base_months = base_size(seed)
    return generate(staff=staff, trials=trials, months=months or base_months, seed=seed)


def _earliest(problem: Problem, trial: Trial) -> int:
    """The trial's earliest start as a month index (the horizon start when it has none)."""
    return problem.index(trial.earliest_start) if trial.earliest_start else 0


def _shortest(trial: Trial) -> int:
    """Months of the trial's shortest option."""
    return min(o.duration for o in trial.options)


def _value(seed: int, rng: random.Random) -> Problem:
    return _base(seed)


def _objective(kind: Literal["cost", "makespan", "weighted_completion"]) -> Callable[[int, random.Random], Problem]:
    def build(seed: int, rng: random.Random) -> Problem:
        problem = _base(seed)
        problem.objective.kind = kind
        return problem

    return build


def _secondary_roles(seed: int, rng: random.Random) -> Problem:
    problem = _base(seed)
    for person in problem.staff:
        if rng.random() < 0.85:
            others = [r for r in problem.roles if r != person.role]
            person.secondary_roles = sorted(rng.sample(others, rng.choice([1, 2])))
    return problem


def _small_multiskilled(seed: int, rng: random.Random) -> Problem:
    problem = _base(seed)
    roles = ["CRA", "CTM"] + rng.sample([r for r in ROLES if r not in ("CRA", "CTM")], rng.randint(2, 4))
    roles = [r for r in ROLES if r in roles]
    size = rng.randint(4, 10)
    team = []
    for i in range(size):
        role = roles[i] if i < len(roles) else rng.choice(roles)
        fte = rng.choice([1.0, 1.0, 1.0, 0.8])
        low, high = ROLE_COST[role]
        person = Staff(
            id=f"P{i + 1:02d}",
            role=role,
            fte=fte,
            monthly_cost=round(rng.uniform(low, high) * fte, -1),
            leave=list(problem.staff[i % len(problem.staff)].leave),
            max_concurrent_trials=1 if rng.random() < 0.6 else 2,
        )
        if rng.random() < 0.8:
            person.secondary_roles = sorted(rng.sample([r for r in roles if r != role], rng.choice([1, 2])))
        team.append(person)
    # The first people take every role as primary while there are as many people as roles;
    # a role left without anyone is added, round robin, to the team's secondary roles.
    uncovered = [r for r in roles if not any(r in (p.role, *p.secondary_roles) for p in team)]
    for k, role in enumerate(uncovered):
        team[k % size].secondary_roles = sorted({*team[k % size].secondary_roles, role})
    problem.roles, problem.staff = roles, team
    problem.regional_roles = []
    problem.flex = [Flex(role=f.role, monthly_rate=f.monthly_rate, max_fte=0.5) for f in problem.flex if f.role in roles]
    mandatory = [t for t in problem.trials if t.mandatory]
    for trial in mandatory[1:]:
        trial.mandatory = False
    for trial in problem.trials:
        trial.required_skills = {}
        for option in trial.options:
            for stage in option.stages:
                stage.demand = {r: v for r, v in stage.demand.items() if r in roles}
    _scale_demand(problem, min(1.0, solo_fit_factor(problem)))
    return problem


def solo_fit_factor(problem: Problem) -> float:
    """The largest factor on all demand under which every trial, with any option and alone,
    fits the named people available each month plus flex: by Gale's theorem, for every set
    S of roles the demand of S must not exceed the FTE of the people holding a role in S
    plus the flex of S (people serve any role they hold; no skills or regions here)."""
    months = problem.horizon.months
    flex = {f.role: f.max_fte for f in problem.flex}
    supply: dict[frozenset[str], list[float]] = {}
    for n in range(1, len(problem.roles) + 1):
        for subset in itertools.combinations(problem.roles, n):
            roles = frozenset(subset)
            per_month = [sum(flex.get(r, 0.0) for r in roles)] * months
            for person in problem.staff:
                if roles & {person.role, *person.secondary_roles}:
                    per_month = [s + person.fte * (problem.month(m) not in person.leave) for m, s in enumerate(per_month)]
            supply[roles] = per_month
    factor = math.inf
    for trial in problem.trials:
        for option in trial.options:
            for stage in option.stages:
                for roles, per_month in supply.items():
                    need = sum(stage.demand.get(r, 0.0) for r in roles)
                    if need > 0:
                        factor = min(factor, min(per_month) / need)
    return factor


def _tight_budget(seed: int, rng: random.Random) -> Problem:
    problem = _base(seed)
    everything = _yearly_spend(problem, problem.trials)
    mandatory = _yearly_spend(problem, [t for t in problem.trials if t.mandatory])
    share = rng.uniform(0.30, 0.60)
    for year, cap in problem.budget.per_year.items():
        must = mandatory.get(year, 0.0)
        wanted = max(1.3 * must, must + share * (everything.get(year, 0.0) - must))
        problem.budget.per_year[year] = min(cap, math.ceil(wanted / 1e4) * 1e4)
    return problem


def _yearly_spend(problem: Problem, trials: Sequence[Trial]) -> dict[str, float]:
    """Estimated spend per calendar year of running ``trials`` with their first option from
    their earliest start: demand at the role's FTE-weighted mean rate, services, fixed cost."""
    cost: dict[str, float] = {}
    fte: dict[str, float] = {}
    for person in problem.staff:
        cost[person.role] = cost.get(person.role, 0.0) + person.monthly_cost
        fte[person.role] = fte.get(person.role, 0.0) + person.fte
    unit_cost = {s.id: s.unit_cost for s in problem.services}
    years: dict[str, float] = {}
    for trial in trials:
        option = trial.options[0]
        month = _earliest(problem, trial)
        for stage in option.stages:
            monthly = option.fixed_cost / option.duration
            monthly += sum(v * cost[r] / fte[r] for r, v in stage.demand.items())
            monthly += sum(u * unit_cost[s] for s, u in stage.services.items())
            for m in range(month, month + stage.months):
                year = problem.month(m)[:4]
                years[year] = years.get(year, 0.0) + monthly
            month += stage.months
    return years


def _no_flex(seed: int, rng: random.Random) -> Problem:
    problem = _base(seed)
    problem.flex = []
    while coverage_violations(problem, flex_share=0.0):  # ends: demand falls to nothing at worst
        _scale_demand(problem, NO_FLEX_STEP)
    return problem


def _scale_demand(problem: Problem, factor: float) -> None:
    """Every stage's FTE demand times ``factor``, rounded down to 0.05 FTE (zeros dropped)."""
    for trial in problem.trials:
        for option in trial.options:
            for stage in option.stages:
                scaled = {r: math.floor(v * factor * 20 + 1e-9) / 20 for r, v in stage.demand.items()}
                stage.demand = {r: v for r, v in scaled.items() if v > 0}


def _priced_shortfall(seed: int, rng: random.Random) -> Problem:
    problem = _base(seed)
    rate = statistics.median(p.monthly_cost / p.fte for p in problem.staff)
    factor = rng.uniform(0.3, 0.8) if seed % 2 == 0 else rng.uniform(1.2, 2.5)
    problem.objective.weights.shortfall = round(factor * rate, -1)
    return problem


def _tardiness(seed: int, rng: random.Random) -> Problem:
    problem = _base(seed)
    for trial in problem.trials:
        trial.deadline = problem.month(_earliest(problem, trial) + _shortest(trial) - 1 - rng.randint(0, 3))
        trial.tardiness_penalty = round(trial.value * rng.uniform(0.001, 0.005), -3)
    return problem


def _tight_services(seed: int, rng: random.Random) -> Problem:
    problem = _base(seed)
    months = problem.horizon.months
    for service in problem.services:
        peak = [0.0] * months
        for trial in problem.trials:
            if not trial.mandatory:
                continue
            month = _earliest(problem, trial)
            for stage in trial.options[0].stages:
                for m in range(month, month + stage.months):
                    peak[m] += stage.services.get(service.id, 0.0)
                month += stage.months
        cut = rng.uniform(0.35, 0.60)
        capacity = service.capacity if isinstance(service.capacity, list) else [service.capacity] * months
        tight = [float(max(math.ceil(cut * c), math.ceil(max(peak)))) for c in capacity]
        service.capacity = tight if isinstance(service.capacity, list) else tight[0]
    return problem


def _predecessors(seed: int, rng: random.Random) -> Problem:
    problem = _base(seed, months=36)
    months = problem.horizon.months
    order = sorted(problem.trials, key=lambda t: (_earliest(problem, t) + _shortest(t), t.id))
    tail, tail_end = order[0], _earliest(problem, order[0]) + _shortest(order[0]) - 1
    for trial in sorted(order[1:], key=lambda t: (_earliest(problem, t), t.id)):
        if trial.mandatory or trial.predecessors:
            continue
        lag = rng.randint(0, 3)
        start = max(_earliest(problem, trial), tail_end + 1 + lag)
        if months - start < CHAINED_MONTHS[0]:
            continue
        for option in trial.options:
            _shorten(option, min(CHAINED_MONTHS[1], months - start))
        trial.predecessors = [Predecessor(trial=tail.id, lag=lag)]
        tail, tail_end = trial, start + _shortest(trial) - 1
    return problem


def _shorten(option: ExecutionOption, limit: int) -> None:
    """Stage lengths cut in proportion (each at least a month) to add up to at most ``limit``,
    as the generator fits a phase III after its phase II readout."""
    if option.duration <= limit:
        return
    lengths = [max(1, stage.months * limit // option.duration) for stage in option.stages]
    while sum(lengths) > limit:
        lengths[lengths.index(max(lengths))] -= 1
    for stage, length in zip(option.stages, lengths):
        stage.months = length


def _open_windows(seed: int, rng: random.Random) -> Problem:
    problem = _base(seed, months=30)
    for trial in problem.trials:
        if not trial.mandatory:
            trial.earliest_start = trial.latest_start = None
    return problem


def _pins(seed: int, rng: random.Random) -> Problem:
    problem = _base(seed)
    previous, _ = monolithic(problem, PINS_PREVIOUS_LIMIT)
    if previous.status != "optimal":
        raise RuntimeError(f"pins seed {seed}: the previous plan's monolithic solve ended {previous.status}")
    frozen = PINS_FROZEN
    problem.pins.frozen_until = problem.month(frozen)  # months are YYYY-MM: max() of two below is the later
    # Only the decisions a re-plan reads: timings and reports would make the JSON differ per run.
    problem.pins.previous_plan = Plan(status=previous.status, trials=previous.trials, assignments=previous.assignments)
    ran = {t.id: t for t in previous.trials if t.run and t.start is not None}
    waited_for = {p.trial for t in problem.trials for p in t.predecessors}
    later = [t for t in problem.trials if t.id not in ran or problem.index(str(ran[t.id].start)) >= frozen]
    rng.shuffle(later)
    later.sort(key=lambda t: t.id not in ran)  # a pin on a trial that ran changes the plan: those first
    pins: list[TrialPin] = []
    dropped = next((t for t in later if not t.mandatory and t.id not in waited_for), None)
    if dropped is not None:
        pins.append(TrialPin(trial=dropped.id, run=False))
    switched = next((t for t in later if t is not dropped and len(t.options) > 1), None)
    if switched is not None:
        before = ran[switched.id].option if switched.id in ran else switched.options[0].id
        pins.append(TrialPin(trial=switched.id, option=next(o.id for o in switched.options if o.id != before)))
    for trial in (t for t in later if t not in (dropped, switched) and t.id in ran):
        start = problem.index(str(ran[trial.id].start)) + 1
        option = next(o for o in trial.options if o.id == ran[trial.id].option)
        latest = problem.index(trial.latest_start) if trial.latest_start else problem.horizon.months
        if start <= latest and start + option.duration <= problem.horizon.months:
            pins.append(TrialPin(trial=trial.id, run=True, option=option.id, start=problem.month(start)))
            break
    problem.pins.trials = pins
    pinned = {p.trial for p in pins}
    # Assignments still running at the freeze, on trials no pin above moves: their months from the freeze on.
    open_blocks = [a for a in previous.assignments if a.trial not in pinned and problem.index(a.end) >= frozen]
    problem.pins.assignments = [
        AssignmentPin(
            staff=a.staff, trial=a.trial, role=a.role, start=max(a.start, problem.month(frozen)), end=a.end, fte=a.fte
        )
        for a in rng.sample(open_blocks, min(len(open_blocks), rng.randint(1, 2)))
    ]
    return problem


def _scarce_roles(seed: int, rng: random.Random) -> Problem:
    staff, trials, months = base_size(seed)
    problem = generate(staff=staff, trials=SCARCE_TRIALS_FACTOR * trials, months=months, seed=seed)
    months = problem.horizon.months
    scarce = rng.sample(SCARCE_ROLES, 1 if seed % 2 == 0 else 2)
    people: dict[str, float] = {}
    for role in scarce:
        kept = [p for p in problem.staff if p.role == role][: rng.randint(1, 2)]
        for person in kept:
            person.fte, person.leave = 1.0, []
            person.available_from = person.available_to = None
            person.max_concurrent_trials = max(2, person.max_concurrent_trials)
        problem.staff = [p for p in problem.staff if p.role != role or p in kept]
        people[role] = float(len(kept))
    for person in problem.staff:
        person.secondary_roles = [r for r in person.secondary_roles if r not in scarce]
    flex = 0.0 if seed % 2 == 0 else 0.25
    problem.flex = [f for f in problem.flex if f.role not in scarce] + [
        Flex(role=f.role, monthly_rate=f.monthly_rate, max_fte=flex) for f in problem.flex if f.role in scarce and flex > 0
    ]
    mandatory = [t for t in problem.trials if t.mandatory]
    for trial in problem.trials:
        if not trial.mandatory:
            trial.latest_start = None
        for option in trial.options:
            _shorten(option, max(3, math.floor(SCARCE_LENGTH_SHARE * months)))
        for role in scarce:
            rate = rng.choice([0.5, 1.0])
            if trial.mandatory:
                rate = min(rate, math.floor(20 * (people[role] + flex) / len(mandatory)) / 20)
            for option in trial.options:
                used = any(stage.demand.get(role, 0.0) > 0 for stage in option.stages)
                for k, stage in enumerate(option.stages):
                    stage.demand.pop(role, None)
                    if used and rate > 0 and 0 < k < len(option.stages) - 1:
                        stage.demand[role] = rate
    return problem


def _psplib_portfolio(seed: int, rng: random.Random) -> Problem:
    problem = parse_sm(
        generate_sm(
            PSPLIB_JOBS,
            seed,
            network_complexity=rng.choice(PSPLIB_COMPLEXITIES),
            resource_factor=rng.choice(PSPLIB_FACTORS),
            resource_strength=PSPLIB_STRENGTH,
        )
    )
    low, high = PSPLIB_VALUE_MILLIONS
    for trial in problem.trials:
        trial.value = 1e6 * rng.uniform(low, high)
    if seed % 2 == 0:
        problem.objective.kind = "value"
        problem.horizon.months = max(1, math.floor(PSPLIB_VALUE_HORIZON * problem.horizon.months))
        for trial in problem.trials:
            trial.mandatory = False
    else:
        problem.objective.kind = "weighted_completion"
    return problem


def _size_5x(seed: int, rng: random.Random) -> Problem:
    staff, trials, months = base_size(seed)
    return generate(staff=5 * staff, trials=5 * trials, months=months, seed=seed)


_BUILDERS: dict[str, Callable[[int, random.Random], Problem]] = {
    "value": _value,
    "cost": _objective("cost"),
    "makespan": _objective("makespan"),
    "weighted_completion": _objective("weighted_completion"),
    "secondary_roles": _secondary_roles,
    "small_multiskilled": _small_multiskilled,
    "tight_budget": _tight_budget,
    "no_flex": _no_flex,
    "priced_shortfall": _priced_shortfall,
    "tardiness": _tardiness,
    "tight_services": _tight_services,
    "predecessors": _predecessors,
    "open_windows": _open_windows,
    "pins": _pins,
    "scarce_roles": _scarce_roles,
    "psplib_portfolio": _psplib_portfolio,
    "size_5x": _size_5x,
}
FAMILIES: tuple[str, ...] = tuple(_BUILDERS)


def family_problem(family: str, seed: int) -> Problem:
    """Member ``seed`` of ``family`` (see the module docstring), validated like untrusted input.

    Deterministic in its arguments. Raises ``ValueError`` for an unknown family and
    :class:`~models.contract.problem.ProblemInvalid` if an edit made the problem invalid (a bug here).
    """
    if family not in _BUILDERS:
        raise ValueError(f"unknown family {family!r}; known: {', '.join(FAMILIES)}")
    problem = _BUILDERS[family](seed, random.Random(f"{family}:{seed}"))
    problem.name = f"family {family}, seed {seed}"
    return parse_problem(problem.model_dump_json())


# --------------------------------------------------------------------------- optima


@dataclass(frozen=True)
class Optimum:
    """The monolithic model's answer for one family member, as cached.

    ``status`` is the monolithic plan's: ``optimal`` (proven, with ``mip_gap`` 0),
    ``feasible`` (a plan and a bound, unproven at ``limit``), ``infeasible`` (proven: no
    plan exists), ``no_solution`` or ``error``. ``objective`` and ``bound`` are in the
    plan's sense (value maximised, the others minimised); ``rules`` lists the rules the
    checker finds the monolithic plan breaking (``message``: the exception of an
    ``error``). An optimum whose plan breaks a rule is no
    optimum, except for ``report_mismatch``: a reported figure (a KPI) the checker
    computes otherwise changes neither the decisions nor the objective, which the checker
    holds to their own rules (``objective_mismatch``, ``bound_mismatch``).
    """

    problem_hash: str
    status: str
    objective: float | None
    bound: float | None
    seconds: float
    limit: float
    rules: str
    message: str = ""

    @property
    def valid(self) -> bool:
        """The monolithic plan breaks no rule that would change its decisions or objective."""
        return set(self.rules.split()) <= {"report_mismatch"}

    @property
    def proven(self) -> bool:
        return self.status == "optimal" and self.objective is not None and self.valid

    @property
    def plan_exists(self) -> bool:
        return self.status in ("optimal", "feasible") and self.valid


def problem_hash(problem: Problem) -> str:
    """Hash of the problem's JSON without its solver settings (they do not change the optimum):
    a changed generator or family edit invalidates a cached optimum."""
    return hashlib.sha256(problem.model_dump_json(exclude={"settings"}).encode()).hexdigest()[:16]


def monolithic(problem: Problem, limit: float) -> tuple[Plan, float]:
    """The monolithic model's plan (one thread, no gap, ``limit`` seconds) and the seconds it
    took, solved in a fresh process.

    HiGHS keeps one thread scheduler per process, sized by the first run: once the engine
    has run with its default threads, a run asking for one thread does not start at all
    (highspy 1.16; the plan comes back ``no_solution`` in a fraction of a second). A
    fresh process also keeps a crash or the memory of a large model away from the survey.
    """
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        plan_json, seconds = pool.submit(_monolithic_child, problem.model_dump_json(), limit).result()
    return Plan.model_validate_json(plan_json), seconds


def _monolithic_child(problem_json: str, limit: float) -> tuple[str, float]:
    began = time.perf_counter()
    problem = Problem.model_validate_json(problem_json)
    plan = solve_monolithic(compile_instance(problem), EngineSettings(time_limit=limit, mip_gap=0.0, threads=1))
    return plan.model_dump_json(), time.perf_counter() - began


def solve_optimum(problem: Problem, limit: float) -> Optimum:
    """The monolithic model's answer as :class:`Optimum` (``seconds``: compiling, building and solving)."""
    try:
        plan, seconds = monolithic(problem, limit)
    except Exception as exc:  # a crash is a finding to record, not a reason to lose the survey
        return Optimum(problem_hash(problem), "error", None, None, 0.0, limit, "", f"{type(exc).__name__}: {exc}"[:MESSAGE_CHARS])
    return Optimum(
        problem_hash=problem_hash(problem),
        status=plan.status,
        objective=plan.objective,
        bound=plan.best_bound,
        seconds=round(seconds, 2),
        limit=limit,
        rules=" ".join(sorted({v.rule for v in check_plan(problem, plan)})),
    )


class OptimaCache:
    """``bench/results/families-optima.json``: one entry per ``family:seed``, with the problem's
    hash; written after every new entry so an interrupted survey keeps what it paid for.
    Only the problem is hashed: after a change to the monolithic model or the checker,
    delete the file to recompute every optimum."""

    def __init__(self, path: Path) -> None:
        self.path = path
        data = json.loads(path.read_text()) if path.exists() else {}
        self.machine: str = data.get("machine", "")
        self.entries: dict[str, Optimum] = {key: Optimum(**entry) for key, entry in data.get("optima", {}).items()}

    def get(self, family: str, seed: int, problem: Problem, limit: float) -> Optimum | None:
        """The cached optimum if it is for this very problem and as good as a solve at ``limit`` would be."""
        entry = self.entries.get(f"{family}:{seed}")
        if entry is None or entry.problem_hash != problem_hash(problem):
            return None
        if entry.status == "error":
            return None  # a crash may have been passing (a file half-written as it was imported): try again
        if entry.status in ("feasible", "no_solution") and entry.limit < limit:
            return None  # unproven under a shorter limit: the longer one may prove it
        return entry

    def put(self, family: str, seed: int, optimum: Optimum) -> None:
        self.entries[f"{family}:{seed}"] = optimum
        self.machine = describe()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One line per entry: the file stays small and a changed optimum is a one-line diff.
        lines = [f" {json.dumps(key)}: {json.dumps(asdict(self.entries[key]))}" for key in sorted(self.entries, key=_entry_order)]
        body = ",\n".join(lines)
        self.path.write_text(f'{{"machine": {json.dumps(self.machine)},\n"optima": {{\n{body}\n}}}}\n')


def _entry_order(key: str) -> tuple[int, int]:
    family, seed = key.rsplit(":", 1)
    return (FAMILIES.index(family) if family in FAMILIES else len(FAMILIES), int(seed))


# --------------------------------------------------------------------------- one member


def true_gap(objective: float, optimum: float) -> float:
    """How far a plan's objective is from the proven optimum, relative as the plan's gap is."""
    return abs(objective - optimum) / max(1.0, abs(optimum))


class Row(TypedDict):
    """One member's line of ``families.csv`` (see :func:`instance_row`)."""

    family: str
    seed: int
    staff: int
    trials: int
    months: int
    status: str
    objective: float | None
    best_bound: float | None
    gap: float | None
    seconds: float
    overrun: float
    violations: int
    rules: str
    optimum_status: str
    optimum: float | None
    optimum_bound: float | None
    optimum_seconds: float | None
    true_gap: float | None
    behind_known: float | None
    missing: bool
    bound_ok: bool | None
    beats_optimum: bool | None
    message: str


def instance_row(
    family: str,
    seed: int,
    problem: Problem,
    plan: Plan,
    seconds: float,
    time_limit: float,
    rules: Sequence[str],
    optimum: Optimum | None,
) -> Row:
    """One CSV row: the engine's plan against the checker's verdict and the optimum.

    ``rules`` are the codes of the checker's violations, one per violation.
    ``true_gap`` is against a proven optimum only. ``behind_known`` is how far the plan
    falls short of the monolithic model's plan, proven or not (0 when it is as good or
    better): where no optimum is proven it is a floor on the true gap. ``bound_ok`` is
    False when the plan's bound excludes the monolithic plan (no bound may: the optimum
    is at least as good as any plan), ``beats_optimum`` when the plan claims better than
    a proven optimum (the checker or the monolithic model is then wrong); both are None
    without a monolithic plan. ``missing`` is True when the plan failed although the
    monolithic model found a plan.
    """
    maximise = problem.objective.kind == "value"
    known = optimum.objective if optimum is not None and optimum.plan_exists else None
    opt = known if optimum is not None and optimum.proven else None
    slack = 1e-6 * max(1.0, abs(known)) if known is not None else 0.0
    bound_ok = beats = behind = None
    if known is not None and plan.best_bound is not None:
        bound_ok = plan.best_bound >= known - slack if maximise else plan.best_bound <= known + slack
    if known is not None and plan.objective is not None:
        behind = max(0.0, known - plan.objective if maximise else plan.objective - known) / max(1.0, abs(known))
    if opt is not None and plan.objective is not None:
        beats = plan.objective > opt + slack if maximise else plan.objective < opt - slack
    message = ""
    if plan.status in FAILED_STATUSES:
        reasons = [f"{e.trial}: {e.reason}" if e.trial else e.reason for e in plan.explanations]
        message = " | ".join([plan.message, *reasons])[:MESSAGE_CHARS]
    return Row(
        family=family,
        seed=seed,
        staff=len(problem.staff),
        trials=len(problem.trials),
        months=problem.horizon.months,
        status=plan.status,
        objective=plan.objective,
        best_bound=plan.best_bound,
        gap=plan.gap,
        seconds=round(seconds, 2),
        overrun=round(max(0.0, seconds - time_limit), 2),
        violations=len(rules),
        rules=" ".join(sorted(set(rules))),
        optimum_status=optimum.status if optimum is not None else "",
        optimum=optimum.objective if optimum is not None else None,
        optimum_bound=optimum.bound if optimum is not None else None,
        optimum_seconds=optimum.seconds if optimum is not None else None,
        true_gap=true_gap(plan.objective, opt) if opt is not None and plan.objective is not None else None,
        behind_known=behind,
        missing=plan.status in FAILED_STATUSES and optimum is not None and optimum.plan_exists,
        bound_ok=bound_ok,
        beats_optimum=beats,
        message=message,
    )


def run_member(family: str, seed: int, time_limit: float, cache: OptimaCache, optimum_limit: float) -> Row:
    """Solve one member with the engine (timed around the call), check it, and compare it
    with the cached optimum, computing that first when missing."""
    problem = family_problem(family, seed)
    optimum_limit = min(optimum_limit, OPTIMUM_LIMIT_CAP.get(family, math.inf))
    optimum = cache.get(family, seed, problem, optimum_limit)
    if optimum is None:
        optimum = solve_optimum(problem, optimum_limit)
        cache.put(family, seed, optimum)
    timed = problem.model_copy(deep=True)
    timed.settings.time_limit = time_limit
    began = time.perf_counter()
    try:
        plan = solve(timed)
    except Exception as exc:  # an engine crash is a finding: keep it as the plan's status
        plan = Plan(status="error", message=f"{type(exc).__name__}: {exc}")
    seconds = time.perf_counter() - began
    # An explanation whose facts do not hold, or one the engine had to withdraw, counts as a
    # violation as a plan's broken rule does: planners forward them.
    rules = [v.rule for v in check_plan(problem, plan)] + [v.rule for v in check_explanations(problem, plan)]
    rules += ["explanation_withdrawn" for e in plan.explanations if e.trial is not None and not e.facts]
    return instance_row(family, seed, problem, plan, seconds, time_limit, rules, optimum)


# --------------------------------------------------------------------------- report


def summarise(rows: Sequence[Row], gap: float = GAP_CRITERION) -> dict[str, float | int | None]:
    """One family's line of the table: counts, gaps (true, behind the monolithic plan,
    reported) and wall times; ``optima`` counts the plans compared with a proven optimum,
    ``proven_share`` the plans the engine itself calls ``optimal`` within ``gap``."""
    true_gaps = [r["true_gap"] for r in rows if r["true_gap"] is not None]
    behind = [r["behind_known"] for r in rows if r["behind_known"] is not None]
    gaps = [r["gap"] for r in rows if r["gap"] is not None]
    seconds = [r["seconds"] for r in rows]
    proven = sum(1 for r in rows if r["status"] == "optimal" and r["gap"] is not None and r["gap"] <= gap + 1e-12)
    return {
        "count": len(rows),
        "clean": sum(1 for r in rows if r["violations"] == 0),
        "missing": sum(1 for r in rows if r["missing"]),
        "optima": len(true_gaps),
        "true_median": statistics.median(true_gaps) if true_gaps else None,
        "true_worst": max(true_gaps, default=None),
        "behind_worst": max(behind, default=None),
        "gap_median": statistics.median(gaps) if gaps else None,
        "gap_worst": max(gaps, default=None),
        "proven_share": proven / len(rows) if rows else None,
        "seconds_median": statistics.median(seconds) if seconds else None,
        "seconds_worst": max(seconds, default=None),
        "overrun_worst": max((r["overrun"] for r in rows), default=None),
    }


def failures(row: Row, gap: float = GAP_CRITERION, overrun: float = OVERRUN_CRITERION) -> list[str]:
    """Which survey criteria one member fails, each in words a reader can act on."""
    out = []
    if row["violations"]:
        out.append(f"violations ({row['rules']})")
    if row["missing"]:
        out.append(f"missing plan ({row['status']}; the monolithic model found one)")
    if row["true_gap"] is not None and row["true_gap"] > gap:
        out.append(f"true gap {row['true_gap']:.2%}")
    elif row["true_gap"] is None and row["behind_known"] is not None and row["behind_known"] > gap:
        out.append(f"at least {row['behind_known']:.2%} behind the monolithic model's unproven plan")
    if row["gap"] is None and row["status"] not in FAILED_STATUSES:
        out.append("no reported gap")
    elif row["gap"] is not None and row["gap"] > gap:
        out.append(f"reported gap {row['gap']:.2%}")
    if row["overrun"] > overrun:
        out.append(f"overrun {row['overrun']:.1f} s")
    if row["bound_ok"] is False:
        out.append("bound excludes the monolithic model's plan")
    if row["beats_optimum"]:
        out.append("objective better than the proven optimum")
    return out


def _pct(x: float | int | None) -> str:
    return "-" if x is None else f"{x:.2%}"


def _share(x: float | int | None) -> str:
    return "-" if x is None else f"{x:.0%}"


def _sec(x: float | int | None) -> str:
    return "-" if x is None else f"{x:.1f}"


def table(rows: Sequence[Row]) -> str:
    """The per-family table: one line per family, in the order of :data:`FAMILIES`."""
    head = (
        f"{'family':<20} {'n':>2} {'clean':>5} {'miss':>4} {'opt':>3} {'true med':>8} {'true max':>8} {'behind':>7} "
        f"{'gap med':>8} {'gap max':>8} {'<=1%':>5} {'s med':>6} {'s max':>6} {'over':>5}"
    )
    lines = [head, "-" * len(head)]
    for family in [f for f in FAMILIES if any(r["family"] == f for r in rows)]:
        s = summarise([r for r in rows if r["family"] == family])
        lines.append(
            f"{family:<20} {s['count']:>2} {s['clean']:>5} {s['missing']:>4} {s['optima']:>3} "
            f"{_pct(s['true_median']):>8} {_pct(s['true_worst']):>8} {_pct(s['behind_worst']):>7} {_pct(s['gap_median']):>8} {_pct(s['gap_worst']):>8} "
            f"{_share(s['proven_share']):>5} {_sec(s['seconds_median']):>6} {_sec(s['seconds_worst']):>6} {_sec(s['overrun_worst']):>5}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", default=",".join(FAMILIES), help="comma-separated, from: " + ", ".join(FAMILIES))
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0 .. N-1 of every family")
    parser.add_argument("--time-limit", type=float, default=20, help="the engine's limit per solve, seconds")
    parser.add_argument("--optimum-limit", type=float, default=600, help="the monolithic model's limit per missing optimum")
    parser.add_argument(
        "--without-portfolio-core",
        action="store_true",
        help="the engine without the portfolio core (models.heuristics.cp_portfolio), which it runs where a role is scarce",
    )
    parser.add_argument("--csv", type=Path, default=RESULTS / "families.csv")
    parser.add_argument("--optima", type=Path, default=RESULTS / "families-optima.json")
    args = parser.parse_args()
    families = [f.strip() for f in args.families.split(",") if f.strip()]
    unknown = sorted(set(families) - set(FAMILIES))
    if unknown:
        parser.error(f"unknown families {', '.join(unknown)}; known: {', '.join(FAMILIES)}")
    cp_portfolio.IN_ENGINE = not args.without_portfolio_core
    cache = OptimaCache(args.optima)
    rows: list[Row] = []
    for family in families:
        for seed in range(args.seeds):
            rows.append(run_member(family, seed, args.time_limit, cache, args.optimum_limit))
            row = rows[-1]
            print(
                f"{family} {seed}: {row['status']} {_sec(row['seconds'])} s, gap {_pct(row['gap'])}, "
                f"true {_pct(row['true_gap'])} (optimum {row['optimum_status']} in {_sec(row['optimum_seconds'])} s), "
                f"{row['violations']} violations",
                file=sys.stderr,
                flush=True,
            )
    args.csv.parent.mkdir(parents=True, exist_ok=True)
    with args.csv.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(table(rows))
    print(f"\ncriteria: gap <= {GAP_CRITERION:.0%} (true and reported), overrun <= {OVERRUN_CRITERION:.0f} s past {args.time_limit:g} s")
    for row in rows:
        failed = failures(row)
        if failed:
            print(f"  {row['family']} seed {row['seed']}: {'; '.join(failed)}" + (f" [{row['message']}]" if row["message"] else ""))
    used = [cache.entries[f"{r['family']}:{r['seed']}"] for r in rows]
    print(
        f"monolithic optima: {sum(1 for o in used if o.proven)} proven of {len(used)}, "
        f"{sum(o.seconds for o in used):.0f} s in all, slowest {max(o.seconds for o in used):.1f} s; "
        f"machine: {describe()}"
    )


if __name__ == "__main__":
    main()
