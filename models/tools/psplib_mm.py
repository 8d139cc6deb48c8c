"""PSPLIB multi-mode RCPSP instances (``.mm`` files) as PACE problems.

The multi-mode sets (Kolisch & Sprecher 1997: j10 .. j30 ``.mm``; MMLIB uses the same
format) give each job several modes, each with its own duration and requests, plus
nonrenewable resources: a stock consumed once per job over the whole project. That is a
portfolio's execution options and contracted service volumes:

- one mandatory trial per job, id ``J<job number>``, with one option per mode
  (``m1``, ``m2``, ...) of one stage lasting the mode's duration in months, demanding its
  request of each renewable resource ``R1`` .. ``Rk`` in every month; a mode requesting
  more of a renewable resource than exists can never run and is left out;
- each renewable resource is a role of ``availability`` named people of FTE 1.0 at no
  cost, as in the single-mode mapping (:mod:`models.tools.psplib`); no flex, no budget;
- each nonrenewable resource ``N1`` .. ``Nm`` is a service with a contract volume equal
  to its availability (no monthly capacity needed: an option states its consumption as
  ``service_totals``, units in no particular month);
- precedence arcs as predecessors with lag 0; jobs whose every mode lasts 0 (the dummy
  source and sink) are contracted as in the single-mode mapping;
- the horizon starts in ``2000-01`` and is ``HORIZON_ROOM`` times the makespan of a
  quick feasible schedule: each job in the mode that uses the least of the nonrenewable
  stock (relative to each availability), scheduled by the serial scheme. Where those modes overrun a stock (no
  quick mode choice fits), the horizon is the serial schedule of each job's shortest
  mode, and the engine decides whether any choice fits (it proves it infeasible if none
  does, naming the resource);
- objective ``makespan``.

Doubly constrained resources and a job mixing zero-length and positive-length modes are
rejected with a :class:`~models.tools.psplib.PsplibError`.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from pathlib import Path

from models.contract.problem import ExecutionOption, Predecessor, Problem, Service, Stage, Trial
from models.tools.psplib import (
    MAX_MONTHS,
    PsplibError,
    _contracted_predecessors,
    _Job,
    _number,
    _section,
    format_psplib,
    scheduling_problem,
    serial_schedule,
)


#: Horizon as a multiple of the quick schedule's makespan: room for the engine's own first
#: schedules, which place trials one by one and choose modes greedily (on generated 20-job
#: instances they ran past the quick schedule's length and found no plan at all).
HORIZON_ROOM = 1.5


@dataclass
class _Mode:
    number: int
    duration: int
    renewable: list[int]
    nonrenewable: list[int]


@dataclass
class _MultiJob:
    number: int
    modes: list[_Mode] = field(default_factory=list)
    successors: list[int] = field(default_factory=list)


def parse_mm(text: str, name: str = "psplib-mm") -> Problem:
    """The PACE problem of a PSPLIB multi-mode ``.mm`` instance given as text."""
    renewable = _number(text, r"-\s*renewable\s*:\s*(\d+)", "renewable resources")
    nonrenewable = _number(text, r"-\s*nonrenewable\s*:\s*(\d+)", "nonrenewable resources")
    if _number(text, r"-\s*doubly constrained\s*:\s*(\d+)", "doubly constrained resources") > 0:
        raise PsplibError("doubly constrained resources are not supported")
    jobs = _jobs(text, renewable, nonrenewable)
    capacities, stocks = _availabilities(text, renewable, nonrenewable)
    roles = [f"R{k + 1}" for k in range(renewable)]
    services = [f"N{k + 1}" for k in range(nonrenewable)]

    for job in jobs.values():
        lengths = {m.duration > 0 for m in job.modes}
        if len(lengths) > 1:
            raise PsplibError(f"job {job.number} mixes modes of zero and positive duration")
        usable = [m for m in job.modes if all(q <= cap for q, cap in zip(m.renewable, capacities))]
        if not usable:
            raise PsplibError(f"every mode of job {job.number} requests more of a renewable resource than exists")
        job.modes = usable
    single = {n: _Job(n, duration=j.modes[0].duration, successors=j.successors) for n, j in jobs.items()}
    predecessors = _contracted_predecessors(single)
    real = {n: j for n, j in jobs.items() if j.modes[0].duration > 0}

    quick = _quick_makespan(real, capacities, stocks, predecessors)
    if quick > MAX_MONTHS:
        raise PsplibError(f"the quickest schedule found takes {quick} months; PACE plans at most {MAX_MONTHS} months")
    months = min(MAX_MONTHS, math.ceil(HORIZON_ROOM * quick))
    trials = [
        Trial(
            id=f"J{job.number}",
            name=f"job {job.number}",
            mandatory=True,
            predecessors=[Predecessor(trial=f"J{p}", lag=0) for p in predecessors[job.number]],
            options=[
                ExecutionOption(
                    id=f"m{mode.number}",
                    stages=[Stage(name="work", months=mode.duration, demand={r: float(q) for r, q in zip(roles, mode.renewable) if q > 0})],
                    service_totals={s: float(q) for s, q in zip(services, mode.nonrenewable) if q > 0},
                )
                for mode in job.modes
            ],
        )
        for job in real.values()
    ]
    volumes = [Service(id=s, unit="unit", capacity=0.0, contract_volume=float(stock)) for s, stock in zip(services, stocks)]
    return scheduling_problem(name, months, roles, capacities, trials, volumes)


def load_mm(path: str | Path) -> Problem:
    """The PACE problem of a ``.mm`` file, named after the file (``j102_2``)."""
    path = Path(path)
    return parse_mm(path.read_text(encoding="utf-8", errors="replace"), name=path.stem)


def _quick_makespan(
    real: dict[int, _MultiJob], capacities: list[int], stocks: list[int], predecessors: dict[int, list[int]]
) -> int:
    """A feasible schedule's makespan: each job in its mode using the least stock, else its shortest mode."""

    def thrift(mode: _Mode) -> tuple[float, int]:
        return (sum(q / stock for q, stock in zip(mode.nonrenewable, stocks) if stock > 0), mode.duration)

    thrifty = {n: min(j.modes, key=thrift) for n, j in real.items()}
    fits = all(sum(m.nonrenewable[k] for m in thrifty.values()) <= stock for k, stock in enumerate(stocks))
    chosen = thrifty if fits else {n: min(j.modes, key=lambda m: m.duration) for n, j in real.items()}
    starts = serial_schedule(
        {n: m.duration for n, m in chosen.items()},
        {n: m.renewable for n, m in chosen.items()},
        capacities,
        predecessors,
    )
    return max((starts[n] + chosen[n].duration for n in chosen), default=1)


def _jobs(text: str, renewable: int, nonrenewable: int) -> dict[int, _MultiJob]:
    jobs: dict[int, _MultiJob] = {}
    announced: dict[int, int] = {}
    for row in _section(text, "PRECEDENCE RELATIONS:"):
        number, modes, count = row[0], row[1], row[2]
        if len(row) != 3 + count:
            raise PsplibError(f"job {number} announces {count} successors but lists {len(row) - 3}")
        jobs[number] = _MultiJob(number, successors=row[3:])
        announced[number] = modes
    width = 2 + renewable + nonrenewable  # mode, duration, requests
    current: int | None = None
    for row in _section(text, "REQUESTS/DURATIONS:"):
        if len(row) == width + 1:
            current, row = row[0], row[1:]
        elif len(row) != width or current is None:
            raise PsplibError(f"REQUESTS/DURATIONS: a line of {len(row)} numbers, expected {width} or {width + 1}")
        if current not in jobs:
            raise PsplibError(f"job {current} has modes but no precedence line")
        mode, duration, requests = row[0], row[1], row[2:]
        jobs[current].modes.append(_Mode(mode, duration, requests[:renewable], requests[renewable:]))
    for number, job in jobs.items():
        if len(job.modes) != announced[number]:
            raise PsplibError(f"job {number} announces {announced[number]} modes but lists {len(job.modes)}")
    unknown = {s for job in jobs.values() for s in job.successors} - set(jobs)
    if unknown:
        raise PsplibError(f"successors {sorted(unknown)} are not jobs")
    return jobs


def _availabilities(text: str, renewable: int, nonrenewable: int) -> tuple[list[int], list[int]]:
    rows = _section(text, "RESOURCEAVAILABILITIES:")
    if len(rows) != 1 or len(rows[0]) < renewable + nonrenewable:
        raise PsplibError("RESOURCEAVAILABILITIES: expected one row of availabilities")
    return rows[0][:renewable], rows[0][renewable : renewable + nonrenewable]



def generate_mm(
    jobs: int,
    seed: int,
    modes: int = 3,
    renewable: int = 2,
    nonrenewable: int = 2,
    resource_strength: float = 0.5,
    stock_tightness: float = 0.5,
    name: str | None = None,
) -> str:
    """A multi-mode instance in PSPLIB's ``.mm`` layout, drawn from ``random.Random(seed)``.

    Shaped like the j10-j30 multi-mode sets: ``jobs`` non-dummy jobs between a dummy source
    and sink, 1-3 successors each; every job has ``modes`` modes, durations 1-10 in
    ascending order, each mode requesting one renewable and one nonrenewable resource with
    amounts that fall as the duration grows (the time-resource trade-off the modes
    express). A renewable capacity is the largest least request plus ``resource_strength``
    of the way to the largest request; a nonrenewable stock is the least total use plus
    ``stock_tightness`` of the way to the largest total use. A negative ``stock_tightness``
    puts the first stock one unit below the least total use: no mode choice fits, the
    instance is infeasible.
    """
    rng = random.Random(seed)
    n = jobs
    last = n + 2
    successors: dict[int, list[int]] = {j: [] for j in range(1, last + 1)}
    has_pred = set()
    for j in range(2, n + 2):
        later = list(range(j + 1, n + 2))
        for s in sorted(rng.sample(later, min(len(later), rng.randint(1, 3)))):
            successors[j].append(s)
            has_pred.add(s)
    for j in range(2, n + 2):
        if j not in has_pred:
            successors[1].append(j)
        if not successors[j]:
            successors[j].append(last)
    table: dict[int, list[tuple[int, list[int], list[int]]]] = {1: [(0, [0] * renewable, [0] * nonrenewable)], last: [(0, [0] * renewable, [0] * nonrenewable)]}
    for j in range(2, n + 2):
        durations = sorted(rng.randint(1, 10) for _ in range(modes))
        r_res, n_res = rng.randrange(renewable), rng.randrange(nonrenewable)
        r_amounts = sorted((rng.randint(1, 10) for _ in range(modes)), reverse=True)
        n_amounts = sorted((rng.randint(1, 10) for _ in range(modes)), reverse=True)
        rows = []
        for d, ra, na in zip(durations, r_amounts, n_amounts):
            rows.append((d, [ra if k == r_res else 0 for k in range(renewable)], [na if k == n_res else 0 for k in range(nonrenewable)]))
        table[j] = rows
    real = [table[j] for j in range(2, n + 2)]
    capacity = []
    for k in range(renewable):
        least = max(min(m[1][k] for m in rows) for rows in real)
        most = max(m[1][k] for rows in real for m in rows)
        capacity.append(max(1, least + round(resource_strength * (most - least))))
    stock = []
    for k in range(nonrenewable):
        least = sum(min(m[2][k] for m in rows) for rows in real)
        most = sum(max(m[2][k] for m in rows) for rows in real)
        stock.append(least + round(max(0.0, stock_tightness) * (most - least)))
    if stock_tightness < 0:
        stock[0] = max(0, sum(min(m[2][0] for m in rows) for rows in real) - 1)
    horizon = sum(max(d for d, _, _ in rows) for rows in table.values())
    modes = {j: [(d, [*ren, *non]) for d, ren, non in rows] for j, rows in table.items()}
    return format_psplib(name or f"mm{n}_{seed}", seed, n, successors, modes, capacity, stock, horizon)
